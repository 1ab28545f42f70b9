//! [`EventHandlerMut`]: a stage that changes its events in place for the stages after it, and
//! the adapter that runs it in the ordinary stage loop.

use crate::release::BatchEvent;
use crate::{EventError, EventHandler};
use seqflow_ring::RingBuffer;

/// Handles events on a stage's own thread with write access to them: the stages after it see
/// what it wrote (an unmarshalling or enrichment step ahead of the business logic, as Disruptor
/// handlers do in Java).
///
/// Add one with [`DisruptorBuilder::handle_events_mut_with`](crate::DisruptorBuilder::handle_events_mut_with)
/// or [`Stages::then_mut`](crate::Stages::then_mut), or a pool of them (each event to one
/// worker) with [`Stages::then_worker_pool_mut`](crate::Stages::then_worker_pool_mut) and
/// [`DisruptorBuilder::handle_events_mut_with_worker_pool`](crate::DisruptorBuilder::handle_events_mut_with_worker_pool).
/// Writing needs the slot to itself, so
/// [`start`](crate::DisruptorBuilder::start) checks that every other consumer of the ring
/// (stages, pollers, worker pools, custom processors) comes either before the stage or after it,
/// never in parallel, and that the disruptor has no lossy subscriber; otherwise it fails with
/// [`BuildError::MutatingStageNotExclusive`](crate::BuildError::MutatingStageNotExclusive).
/// A running disruptor with such a stage refuses stages, pollers and lossy subscribers added
/// at run time (they would read in parallel with it). No other builder can reach the ring:
/// [`DisruptorBuilder::from_parts`](crate::DisruptorBuilder::from_parts), the one way to build
/// over existing parts, is `unsafe` and forbids it.
///
/// Closures `FnMut(&mut E, i64, bool)` are handlers. A replayed batch
/// ([`EventError::Rewind`]) sees the events as the handler left them.
///
/// ```
/// use seqflow_pipeline::Disruptor;
/// use std::sync::{Arc, Mutex};
/// #[derive(Default)]
/// struct Order { raw: String, qty: u32 }
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let s = seen.clone();
/// let mut b = Disruptor::builder(64, Order::default).single_producer().unwrap();
/// b.handle_events_mut_with(|o: &mut Order, _, _| o.qty = o.raw.parse().unwrap_or(0))
///     .then(move |o: &Order, _, _| s.lock().unwrap().push(o.qty));
/// let (d, mut p) = b.start().unwrap();
/// for raw in ["3", "14"] {
///     p.publish(|o, _| { o.raw.clear(); o.raw.push_str(raw); }).unwrap();
/// }
/// d.shutdown().unwrap();
/// assert_eq!(*seen.lock().unwrap(), [3, 14]);
/// ```
pub trait EventHandlerMut<E: ?Sized> {
    /// Handle the event at `seq`, changing it as the later stages should see it.
    fn on_event(&mut self, event: &mut E, seq: i64, end_of_batch: bool);

    /// Handle the event at `seq`, or fail (see [`EventHandler::try_on_event`]).
    #[inline]
    fn try_on_event(
        &mut self,
        event: &mut E,
        seq: i64,
        end_of_batch: bool,
    ) -> Result<(), EventError> {
        self.on_event(event, seq, end_of_batch);
        Ok(())
    }

    /// See [`EventHandler::on_batch_start`].
    #[inline]
    fn on_batch_start(&mut self, batch_size: i64, queue_depth: i64) {
        let _ = (batch_size, queue_depth);
    }

    /// See [`EventHandler::on_timeout`].
    #[inline]
    fn on_timeout(&mut self, seq: i64) {
        let _ = seq;
    }

    /// Called once on the stage's thread before the first event.
    fn on_start(&mut self) {}

    /// Called once on the stage's thread after the last event.
    fn on_shutdown(&mut self) {}
}

impl<E: ?Sized, F> EventHandlerMut<E> for F
where
    F: FnMut(&mut E, i64, bool),
{
    #[inline]
    fn on_event(&mut self, event: &mut E, seq: i64, end_of_batch: bool) {
        self(event, seq, end_of_batch)
    }
}

/// A boxed writing handler is one too (see the `Box<dyn EventHandler<E> + Send>` impl of
/// [`EventHandler`]); every hook is forwarded.
impl<E: ?Sized> EventHandlerMut<E> for Box<dyn EventHandlerMut<E> + Send> {
    #[inline]
    fn on_event(&mut self, event: &mut E, seq: i64, end_of_batch: bool) {
        (**self).on_event(event, seq, end_of_batch)
    }

    #[inline]
    fn try_on_event(
        &mut self,
        event: &mut E,
        seq: i64,
        end_of_batch: bool,
    ) -> Result<(), EventError> {
        (**self).try_on_event(event, seq, end_of_batch)
    }

    #[inline]
    fn on_batch_start(&mut self, batch_size: i64, queue_depth: i64) {
        (**self).on_batch_start(batch_size, queue_depth)
    }

    #[inline]
    fn on_timeout(&mut self, seq: i64) {
        (**self).on_timeout(seq)
    }

    fn on_start(&mut self) {
        (**self).on_start()
    }

    fn on_shutdown(&mut self) {
        (**self).on_shutdown()
    }
}

/// Runs an [`EventHandlerMut`] as an ordinary stage: the loop hands it each event's sequence
/// ([`BatchEvent`]), and the adapter takes the slot for writing from the ring.
///
/// Only [`DisruptorBuilder`](crate::DisruptorBuilder) makes one, for a stage over `ring` (its
/// own heap ring) that its start check found exclusive. That check is what makes the write
/// sound; nothing else may construct this type.
pub(crate) struct Exclusive<H, E> {
    handler: H,
    ring: RingBuffer<E>,
}

impl<H, E> Exclusive<H, E> {
    /// The adapter for a stage of the disruptor whose ring is `ring`.
    ///
    /// # Safety
    /// The stage must run over `ring` (a process-local ring), and every other consumer of the
    /// ring must come strictly before or strictly after it in the stage graph, with no lossy
    /// reader: the builder checks this at start and refuses consumers added later.
    pub(crate) unsafe fn new(handler: H, ring: RingBuffer<E>) -> Self {
        Self { handler, ring }
    }
}

impl<E, H: EventHandlerMut<E>> EventHandler<E> for Exclusive<H, E> {
    /// Not called: the stage loop calls `on_event_releasing`, which writes through the ring.
    /// A read-only caller gets nothing done, rather than a write through a shared reference.
    fn on_event(&mut self, _event: &E, _seq: i64, _end_of_batch: bool) {}

    #[inline]
    fn on_event_releasing(&mut self, event: BatchEvent<'_, E>) -> Result<(), EventError> {
        let (seq, end_of_batch) = (event.seq(), event.end_of_batch());
        // The loop hands out `seq` only once it is published and every stage before this one
        // has finished it (and those never read it again: their sequences are past it); the
        // stages after this one wait for this stage's sequence, still below `seq`; the
        // producers wait for the last stages, which come after this one (or for this stage):
        // `start` stops the stages already running if it fails part-way (error or panic), so
        // no record is dropped under a running stage, and a stage left running by a shutdown
        // that timed out gates the producers itself, so none
        // claims the slot's next lap; `new`'s contract rules out every other reader of this
        // builder (parallel stages, pollers, lossy subscribers, later additions), and no other
        // builder reaches the ring (`from_parts` is `unsafe` and forbids it). `BatchEvent`
        // holds a pointer, not a reference, so no other reference to the slot is live while
        // the handler writes.
        // SAFETY: so this stage is the only thread touching the slot until its sequence moves.
        let slot = unsafe { self.ring.get_mut(seq) };
        self.handler.try_on_event(slot, seq, end_of_batch)
    }

    #[inline]
    fn on_batch_start(&mut self, batch_size: i64, queue_depth: i64) {
        self.handler.on_batch_start(batch_size, queue_depth);
    }

    #[inline]
    fn on_timeout(&mut self, seq: i64) {
        self.handler.on_timeout(seq);
    }

    fn on_start(&mut self) {
        self.handler.on_start();
    }

    fn on_shutdown(&mut self) {
        self.handler.on_shutdown();
    }
}
