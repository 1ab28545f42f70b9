//! [`EventHandler`]: what a consumer stage does with each event, and the hooks around it.

use crate::release::BatchEvent;
use crate::EventError;

/// Handles events on a stage's own thread.
///
/// Events arrive in sequence order, in batches: `end_of_batch` is true for the last event of
/// the batch (a good moment to flush). A batch is what was available when the stage looked
/// (at most its [maximum batch size](crate::Stages::max_batch_size)); the events of one claim
/// of a single-producer ring are never split across batches (a multi-producer ring marks a
/// claim's slots one by one, so a stage may see its first events before the rest). While a
/// producer publishes one event at a time right ahead of the stage, a batch may end before the
/// last available event, where an earlier poll ended, and the next one follows at once.
/// Closures `FnMut(&E, i64, bool)` are handlers.
///
/// Every hook but [`on_event`](Self::on_event) has a default, so a handler implements only what
/// it needs:
/// - [`try_on_event`](Self::try_on_event): fail with an [`EventError`] instead of panicking (the
///   stage's exception handler decides what happens), or ask for the batch to be replayed
///   ([`EventError::Rewind`], with a [`RewindPolicy`](crate::RewindPolicy));
/// - [`on_event_releasing`](Self::on_event_releasing): release slots early inside a long batch;
/// - [`on_batch_start`](Self::on_batch_start), [`on_timeout`](Self::on_timeout),
///   [`on_start`](Self::on_start), [`on_shutdown`](Self::on_shutdown).
///
/// The stage calls `on_event_releasing`, whose default calls `try_on_event`, whose default calls
/// `on_event`: a handler that overrides a later hook keeps an `on_event` only for other callers
/// (make it call the hook it overrides).
///
/// A handler built on the stage's thread (`handle_events_with_factory`) need not be `Send`.
///
/// ```
/// use seqflow_pipeline::EventHandler;
/// struct Count(u64);
/// impl EventHandler<u64> for Count {
///     fn on_event(&mut self, _event: &u64, _seq: i64, _end_of_batch: bool) { self.0 += 1; }
///     fn on_shutdown(&mut self) { println!("saw {} events", self.0); }
/// }
/// let mut c = Count(0);
/// c.on_event(&1, 0, true);
/// assert_eq!(c.0, 1);
/// ```
pub trait EventHandler<E: ?Sized> {
    /// Handle the event at `seq`.
    fn on_event(&mut self, event: &E, seq: i64, end_of_batch: bool);

    /// Handle the event at `seq`, or fail: an error goes to the stage's
    /// [`ExceptionHandler`](crate::ExceptionHandler) with the event, like a panic, and
    /// [`EventError::Rewind`] asks for the current batch to be replayed.
    #[inline]
    fn try_on_event(&mut self, event: &E, seq: i64, end_of_batch: bool) -> Result<(), EventError> {
        self.on_event(event, seq, end_of_batch);
        Ok(())
    }

    /// Handle one event of a batch, with the right to release finished slots to the producer
    /// before the batch ends (see [`BatchEvent`]). What the stage calls for every event.
    #[inline]
    fn on_event_releasing(&mut self, event: BatchEvent<'_, E>) -> Result<(), EventError> {
        let (seq, end_of_batch) = (event.seq(), event.end_of_batch());
        self.try_on_event(event.get(), seq, end_of_batch)
    }

    /// A batch of `batch_size` events is about to be handled; `queue_depth` events were available
    /// (more than the batch when the stage has a maximum batch size).
    #[inline]
    fn on_batch_start(&mut self, batch_size: i64, queue_depth: i64) {
        let _ = (batch_size, queue_depth);
    }

    /// The stage waited its timeout ([`Stages::timeout`](crate::Stages::timeout)) without a new
    /// event; `seq` is the last sequence it finished.
    #[inline]
    fn on_timeout(&mut self, seq: i64) {
        let _ = seq;
    }

    /// Called once on the stage's thread before the first event.
    fn on_start(&mut self) {}

    /// Called once on the stage's thread after the last event (after a drain or a halt).
    fn on_shutdown(&mut self) {}
}

impl<E: ?Sized, F> EventHandler<E> for F
where
    F: FnMut(&E, i64, bool),
{
    #[inline]
    fn on_event(&mut self, event: &E, seq: i64, end_of_batch: bool) {
        self(event, seq, end_of_batch)
    }
}

/// A handler from a closure that may fail: `FnMut(&E, i64, bool) -> Result<(), EventError>`.
///
/// ```
/// use seqflow_pipeline::{fallible, Disruptor, EventError, PanicPolicy};
/// let mut b = Disruptor::builder(8, || 0u32)
///     .panic_policy(PanicPolicy::LogAndContinue)
///     .single_producer().unwrap();
/// b.handle_events_with(fallible(|e: &u32, _, _| {
///     if *e == 13 { Err(EventError::msg("unlucky")) } else { Ok(()) }
/// }));
/// let (d, mut p) = b.start().unwrap();
/// p.publish(|e, _| *e = 13).unwrap();
/// d.shutdown().unwrap(); // logged, counted in metrics, skipped
/// ```
pub fn fallible<E: ?Sized, F>(handler: F) -> Fallible<F>
where
    F: FnMut(&E, i64, bool) -> Result<(), EventError>,
{
    Fallible(handler)
}

/// See [`fallible`].
#[derive(Debug, Clone)]
pub struct Fallible<F>(pub F);

impl<E: ?Sized, F> EventHandler<E> for Fallible<F>
where
    F: FnMut(&E, i64, bool) -> Result<(), EventError>,
{
    /// Calls the closure; an error is dropped here (stages call `try_on_event`).
    fn on_event(&mut self, event: &E, seq: i64, end_of_batch: bool) {
        let _ = (self.0)(event, seq, end_of_batch);
    }

    #[inline]
    fn try_on_event(&mut self, event: &E, seq: i64, end_of_batch: bool) -> Result<(), EventError> {
        (self.0)(event, seq, end_of_batch)
    }
}

/// A handler with per-stage state made on the stage's thread: see
/// [`DisruptorBuilder::handle_events_and_state_with`](crate::DisruptorBuilder::handle_events_and_state_with).
pub(crate) struct WithState<F, T> {
    pub handler: F,
    pub state: T,
}

impl<E: ?Sized, F, T> EventHandler<E> for WithState<F, T>
where
    F: FnMut(&mut T, &E, i64, bool),
{
    #[inline]
    fn on_event(&mut self, event: &E, seq: i64, end_of_batch: bool) {
        (self.handler)(&mut self.state, event, seq, end_of_batch)
    }
}

/// A boxed handler is a handler, so stages can be chosen at run time (a list of
/// `Box<dyn EventHandler<E> + Send>` read from a configuration, for example). Every hook is
/// forwarded, early release included.
///
/// ```
/// use seqflow_pipeline::{Disruptor, EventHandler};
/// struct Sum(u64);
/// impl EventHandler<u64> for Sum {
///     fn on_event(&mut self, e: &u64, _: i64, _: bool) { self.0 += e; }
///     fn on_shutdown(&mut self) { assert_eq!(self.0, 6); }
/// }
/// let handlers: Vec<Box<dyn EventHandler<u64> + Send>> =
///     vec![Box::new(Sum(0)), Box::new(|_: &u64, _, _| {})];
/// let mut b = Disruptor::builder(8, || 0u64).single_producer().unwrap();
/// for h in handlers {
///     b.handle_events_with(h);
/// }
/// let (d, mut p) = b.start().unwrap();
/// for v in 1..=3 { p.publish(|e, _| *e = v).unwrap(); }
/// d.shutdown().unwrap();
/// ```
impl<E: ?Sized> EventHandler<E> for Box<dyn EventHandler<E> + Send> {
    #[inline]
    fn on_event(&mut self, event: &E, seq: i64, end_of_batch: bool) {
        (**self).on_event(event, seq, end_of_batch)
    }

    #[inline]
    fn try_on_event(&mut self, event: &E, seq: i64, end_of_batch: bool) -> Result<(), EventError> {
        (**self).try_on_event(event, seq, end_of_batch)
    }

    #[inline]
    fn on_event_releasing(&mut self, event: BatchEvent<'_, E>) -> Result<(), EventError> {
        (**self).on_event_releasing(event)
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
