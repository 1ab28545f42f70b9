//! [`BatchEvent`]: one event of a batch, with the right to release finished slots early.

use crate::ReleaseError;
use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// The stage's side of early release, made once per batch: how far the handler has released,
/// and how to publish a release (set the stage's sequence, wake producers).
pub(crate) struct Releaser<'a> {
    released: Cell<i64>,
    publish: &'a dyn Fn(i64),
}

impl<'a> Releaser<'a> {
    /// For a batch starting after `released` (the stage's sequence).
    #[inline]
    pub fn new(released: i64, publish: &'a dyn Fn(i64)) -> Self {
        Self {
            released: Cell::new(released),
            publish,
        }
    }

    /// How far the handler released (the stage's sequence, unless the handler moved it).
    #[inline]
    pub fn released(&self) -> i64 {
        self.released.get()
    }

    fn release(&self, seq: i64, limit: i64) -> Result<(), ReleaseError> {
        let released = self.released.get();
        if seq > limit {
            return Err(ReleaseError::NotFinished { seq, limit });
        }
        if seq < released {
            return Err(ReleaseError::Backwards { seq, released });
        }
        if seq > released {
            self.released.set(seq);
            (self.publish)(seq);
        }
        Ok(())
    }
}

/// One event of a batch, as [`EventHandler::on_event_releasing`](crate::EventHandler::on_event_releasing)
/// receives it: the event ([`get`](Self::get) or `*`), its sequence, and the right to hand
/// finished slots back to the producer before the batch ends (LMAX's sequence callback).
///
/// A long batch otherwise holds the producer back until its end. Releasing is bounded so it
/// can never free a slot still being read:
/// - [`release_previous`](Self::release_previous) / [`release_through`](Self::release_through)
///   release events whose handling has returned (up to `seq - 1`);
/// - [`release`](Self::release) also releases this event, and consumes the `BatchEvent`, so the
///   borrow checker rejects any later use of the event.
///
/// Going backwards or past the event is a typed [`ReleaseError`]. The value cannot leave the
/// call (it borrows the stage's loop) nor the stage's thread (it is not `Send`).
///
/// ```
/// use seqflow_pipeline::{BatchEvent, Disruptor, EventError, EventHandler};
/// struct Slow;
/// impl EventHandler<u64> for Slow {
///     fn on_event(&mut self, _: &u64, _: i64, _: bool) {}
///     fn on_event_releasing(&mut self, event: BatchEvent<'_, u64>) -> Result<(), EventError> {
///         let value = *event; // read it...
///         let _ = value;
///         event.release()?;   // ...then let the producer reuse its slot right away
///         Ok(())
///     }
/// }
/// let mut b = Disruptor::builder(8, || 0u64).single_producer().unwrap();
/// b.handle_events_with(Slow);
/// let (d, mut p) = b.start().unwrap();
/// p.publish(|e, _| *e = 1).unwrap();
/// d.shutdown().unwrap();
/// ```
///
/// ```compile_fail
/// # use seqflow_pipeline::{BatchEvent, EventError};
/// fn keep<'a>(event: BatchEvent<'a, u64>) -> Result<&'a u64, EventError> {
///     let value = event.get();
///     event.release()?; // the event's slot is released...
///     Ok(value)         // ...so the reference cannot be used any more
/// }
/// ```
pub struct BatchEvent<'a, E: ?Sized> {
    /// The event, readable for `'a`. Held as a pointer, not a reference, so that passing the
    /// value to a handler asserts nothing about the slot: a stage that mutates its events in
    /// place (`handle_events_mut_with`) takes the slot exclusively while this value lives.
    event: NonNull<E>,
    seq: i64,
    end_of_batch: bool,
    releaser: &'a Releaser<'a>,
    _event: PhantomData<&'a E>,
}

impl<'a, E: ?Sized> BatchEvent<'a, E> {
    /// The event at `event`, for a handler.
    ///
    /// # Safety
    /// `event` points to an initialised `E` that stays readable for `'a` by everyone but an
    /// exclusive stage's own adapter, which may write it (and never calls [`get`](Self::get)).
    #[inline]
    pub(crate) unsafe fn new(
        event: NonNull<E>,
        seq: i64,
        end_of_batch: bool,
        releaser: &'a Releaser<'a>,
    ) -> Self {
        Self {
            event,
            seq,
            end_of_batch,
            releaser,
            _event: PhantomData,
        }
    }

    /// The event (borrowed from this value: it ends when the slot is released).
    #[inline]
    pub fn get(&self) -> &E {
        // SAFETY: `new`'s contract: the event stays readable for `'a`, which this value
        // borrows; only an exclusive stage's own adapter writes the slot, and it never calls
        // `get` (see `handler_mut.rs`).
        unsafe { self.event.as_ref() }
    }

    /// The event's sequence.
    #[inline]
    pub fn seq(&self) -> i64 {
        self.seq
    }

    /// Whether this is the last event of the batch.
    #[inline]
    pub fn end_of_batch(&self) -> bool {
        self.end_of_batch
    }

    /// How far the stage has released so far (its sequence).
    pub fn released(&self) -> i64 {
        self.releaser.released()
    }

    /// Release every event before this one.
    pub fn release_previous(&mut self) -> Result<(), ReleaseError> {
        self.releaser.release(self.seq - 1, self.seq - 1)
    }

    /// Release every event up to `seq`, which must be before this one and not below what was
    /// released already.
    pub fn release_through(&mut self, seq: i64) -> Result<(), ReleaseError> {
        self.releaser.release(seq, self.seq - 1)
    }

    /// Release every event up to and including this one; the event cannot be read afterwards.
    pub fn release(self) -> Result<(), ReleaseError> {
        self.releaser.release(self.seq, self.seq)
    }
}

impl<E: ?Sized> std::ops::Deref for BatchEvent<'_, E> {
    type Target = E;

    #[inline]
    fn deref(&self) -> &E {
        self.get()
    }
}
