//! [`EventProcessor`]: a consumer with its own loop, run on a stage thread and usable as a
//! dependency of later stages.

use crate::feed::HeapFeed;
use crate::processor::StageContext;
use crate::shared::panic_message;
use crate::{ExceptionAction, HandlerFailure, Poller, StageGroup};
use seqflow_sequencer::Sequencer;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// A consumer that runs its own loop on a stage thread: LMAX's custom `EventProcessor`
/// (anything that owns a sequence). It receives a [`Poller`] over the stage's own gating slot:
/// it waits, reads and releases through it, and can move no other sequence. Later stages can
/// come after it like after any stage, following a read-only view of its sequence.
///
/// Return from `run` when the poller reports [`PollError::Alerted`](crate::PollError::Alerted)
/// (shutdown, after the drain). A processor that returns early stays registered at its last
/// sequence (the producer waits for it once the ring is full); one that panics halts the
/// disruptor.
///
/// Closures `FnOnce(Poller<E, S>)` are processors.
///
/// ```
/// use seqflow_pipeline::{Disruptor, PollError};
/// use std::sync::{Arc, atomic::{AtomicU64, Ordering::Relaxed}};
/// let seen = Arc::new(AtomicU64::new(0));
/// let s = seen.clone();
/// let mut b = Disruptor::builder(16, || 0u64).single_producer().unwrap();
/// let custom = b
///     .handle_events_with_processor(|mut poller: seqflow_pipeline::Poller<u64, _>| loop {
///         match poller.poll(|e, _, _| assert!(*e > 0)) {
///             Ok(_) => std::thread::yield_now(),
///             Err(PollError::Alerted) => return,
///             Err(e) => panic!("{e}"),
///         }
///     })
///     .group();
/// b.after(&[&custom]).handle_events_with(move |e: &u64, _, _| { s.fetch_add(*e, Relaxed); });
/// let (d, mut p) = b.start().unwrap();
/// for i in 1..=10 { p.publish(|e, _| *e = i).unwrap(); }
/// d.shutdown().unwrap();
/// assert_eq!(seen.load(Relaxed), 55);
/// ```
pub trait EventProcessor<E, S: Sequencer>: Send + 'static {
    /// Consume through `poller` until it reports shutdown.
    fn run(self, poller: Poller<E, S>);
}

impl<E, S, F> EventProcessor<E, S> for F
where
    S: Sequencer,
    F: FnOnce(Poller<E, S>) + Send + 'static,
{
    fn run(self, poller: Poller<E, S>) {
        self(poller)
    }
}

/// The stage thread of a custom processor.
pub(crate) fn run_processor<E: Send + Sync + 'static, S, P>(
    ctx: StageContext<E, HeapFeed<E, S>>,
    processor: P,
) where
    S: Sequencer,
    P: EventProcessor<E, S>,
{
    tracing::debug!(stage = &*ctx.name, "custom processor started");
    // The processor's poller ends on any stop of its stage (its removal included), not only
    // on a halt: it is a stage thread, which a drain already waited for.
    let poller = Poller::new(
        ctx.feed.barrier.clone(),
        ctx.feed.ring.clone(),
        Arc::clone(&ctx.feed.registration),
        StageGroup::default(),
        ctx.alert.clone(),
    );
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| processor.run(poller))) {
        // It stopped consuming for good: the producer would wait for it forever. Halt.
        let failure = HandlerFailure::Panicked(panic_message(&*payload));
        let seq = ctx.feed.registration.sequence_relaxed();
        ctx.record(seq, &failure, ExceptionAction::Halt);
    }
    tracing::debug!(stage = &*ctx.name, "custom processor stopped");
}
