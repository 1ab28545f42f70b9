//! [`EventFeed`]: where a stage reads its events and publishes its progress. The stage loops
//! (batch processor, pool worker) are written once against this trait: in one process the feed
//! is the heap ring and a slot of the gating table ([`HeapFeed`]); across processes
//! (`seqflow-shm`) it is a shared segment and a registration whose owner is checked for
//! liveness.

use crate::stage_wait::StageWait;
use seqflow_ring::{RingBuffer, Slot};
use seqflow_sequence::{Deadline, SequenceBarrier, WaitError, WaitStrategy};
use seqflow_sequencer::{GatingRegistration, Sequencer};
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;

/// Why a feed's wait returned no events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// The wait's timeout passed (the stage calls `on_timeout` and waits again).
    #[error("timed out")]
    Timeout,
    /// The stage must stop: shutdown or halt, or the feed is closed and the stage has handled
    /// everything published before it closed.
    #[error("stopped")]
    Stopped,
    /// Something to report before waiting again (a producer died between claim and publish).
    /// The stage logs it and counts it as a failure it continued after.
    #[error("{0}")]
    Notice(String),
    /// The stage cannot go on (a stage it follows is gone); it stops with this error.
    #[error("{0}")]
    Broken(String),
}

impl From<WaitError> for FeedError {
    #[inline]
    fn from(e: WaitError) -> Self {
        match e {
            WaitError::Timeout => FeedError::Timeout,
            WaitError::Alerted => FeedError::Stopped,
        }
    }
}

/// The events a stage reads and the sequence it publishes.
///
/// # Safety
/// The stage loops read events through [`event`](Self::event) on the strength of this contract,
/// so an implementation must uphold it:
/// - a sequence `s` returned by [`wait_for`](Self::wait_for) is published, and so is every
///   sequence from the one asked for up to `s` (and processed by every stage this one follows);
/// - while [`sequence`](Self::sequence) stays below a sequence `q <= s`, no producer can
///   overwrite the slot of `q`: this feed's sequence gates the producer (directly, or through
///   stages that follow this one);
/// - [`set_sequence`](Self::set_sequence) publishes with `Release` ordering, so that whoever
///   follows this stage sees the stage's reads of the events before it sees the new sequence.
pub unsafe trait EventFeed<E: ?Sized>: Send {
    /// Wait until `seq` is available; the highest available sequence (`>= seq`). `timeout`:
    /// `None` waits without limit.
    fn wait_for(&mut self, seq: i64, timeout: Option<Duration>) -> Result<i64, FeedError>;

    /// Whether a stage on this feed paces itself after a small batch of several events,
    /// before its next wait (see [`Pacing`](crate::Pacing)): a hint, never what the stage
    /// reads. It depends on the stage's place and wait, not on the ring's state. The default,
    /// for feeds that cannot tell, is `false` (the stage never pauses).
    #[inline]
    fn paces(&self) -> bool {
        false
    }

    /// Whether the event at `seq` is published: the look a pacing stage takes before it
    /// pauses, unless its producer streams at full speed (see
    /// [`Pacer::should_pause`](crate::Pacer::should_pause)). The default, for feeds that
    /// cannot tell, is `false`: a feed that [`paces`](Self::paces) should answer it too, or
    /// its stages pause after every small batch.
    #[inline]
    fn published(&self, _seq: i64) -> bool {
        false
    }

    /// The pacing of a stage on this feed that was given none: by default
    /// [`Pacing::DEFAULT`](crate::Pacing::DEFAULT); a feed over a ring with several producers
    /// (see [`Pacing::ring_default`](crate::Pacing::ring_default)), or over a ring shared
    /// between processes, answers [`Pacing::LONG`](crate::Pacing::LONG).
    fn default_pacing(&self) -> crate::Pacing {
        crate::Pacing::DEFAULT
    }

    /// The event at `seq`.
    ///
    /// # Safety
    /// `seq` is at most a value [`wait_for`](Self::wait_for) returned and above
    /// [`sequence`](Self::sequence), and the stage does not move its sequence to `seq` or past
    /// it while the reference lives.
    unsafe fn event(&self, seq: i64) -> &E;

    /// The ring's size in slots, if the feed reads a ring (`None`, the default, when it cannot
    /// tell). A stage that finds every slot published is behind (its producer waits for room)
    /// and does not pause (see [`Pacing`](crate::Pacing)).
    #[inline]
    fn capacity(&self) -> Option<usize> {
        None
    }

    /// How many events from `seq` on sit in consecutive slots (up to the ring's end); a stage
    /// walks such a run with [`visit_run`](Self::visit_run). The default, for feeds that do
    /// not say, is unbounded.
    #[inline]
    fn run_from(&self, _seq: i64) -> usize {
        usize::MAX
    }

    /// The last sequence of the run of consecutive slots that starts at `seq`, but at most
    /// `limit` (`limit >= seq`): the chunk a loop walks with [`visit_run`](Self::visit_run).
    #[inline]
    fn run_end(&self, seq: i64, limit: i64) -> i64 {
        let run = i64::try_from(self.run_from(seq)).unwrap_or(i64::MAX);
        limit.min(seq.saturating_add(run - 1))
    }

    /// Hand the events `first..=last` to `visit` in order, with their sequences, stopping at
    /// the first error, which it returns (the visitor knows which event it failed on).
    ///
    /// Each event is handed over as a pointer, not a reference: a stage that mutates its events
    /// in place writes the slot while `visit` runs, which a reference argument would forbid.
    /// A feed that reads ring slots walks them by offset from the first, with the ring's
    /// addressing in locals: the loop then keeps it in registers even when `visit` writes to
    /// memory the compiler cannot tell apart from the feed (a handler's state), rather than
    /// reloading it for every event. The default calls [`event`](Self::event) for each.
    ///
    /// # Safety
    /// As [`event`](Self::event) for every sequence of `first..=last`, and `last` is at most
    /// [`run_end`](Self::run_end)`(first, ..)`.
    #[inline]
    unsafe fn visit_run<Err>(
        &self,
        first: i64,
        last: i64,
        mut visit: impl FnMut(i64, NonNull<E>) -> Result<(), Err>,
    ) -> Result<(), Err> {
        for seq in first..=last {
            // SAFETY: the caller's contract is `event`'s for each sequence of the run.
            let event = NonNull::from(unsafe { self.event(seq) });
            visit(seq, event)?;
        }
        Ok(())
    }

    /// [`RingBuffer::partial_line`] for the slot of `seq`; 0 (the default) for feeds whose
    /// events are not read from ring slots.
    #[inline]
    fn partial_line(&self, _seq: i64) -> usize {
        0
    }

    /// The stage's sequence: everything up to it is handled (relaxed: the stage's own writes).
    fn sequence(&self) -> i64;

    /// Publish the stage's progress: everything up to `seq` is handled.
    fn set_sequence(&self, seq: i64);

    /// As [`set_sequence`](Self::set_sequence), but never lowers the sequence: a pool worker's
    /// sequence may be raised by the other workers of its pool while it is idle (shared-memory
    /// pools do), and the worker's own updates must not undo that. The default is
    /// `set_sequence`, for feeds where nobody else moves the sequence.
    #[inline]
    fn raise_sequence(&self, seq: i64) {
        self.set_sequence(seq);
    }

    /// Wake producers (and stages) waiting for this stage to move.
    fn signal(&self);

    /// The stage halts: let producers that wait for room give up. In one process this stops
    /// the disruptor's producers; a shared ring only wakes them (other processes go on).
    fn halt(&self);

    /// For a pool worker: how many events it has claimed and not yet handled (0 when done).
    /// A feed whose worker may die without unwinding (another process) records it, so that
    /// what a killed worker loses is counted; the default does nothing.
    #[inline]
    fn note_unhandled(&self, _count: u64) {}
}

/// The in-process feed: the heap ring, a barrier on the producer and the stages before this
/// one, and the stage's slot in the sequencer's gating table.
pub(crate) struct HeapFeed<E: ?Sized, S: Sequencer> {
    pub barrier: SequenceBarrier<S>,
    pub ring: RingBuffer<E>,
    pub registration: Arc<GatingRegistration>,
    /// The stage's own wait strategy; `None`: the ring's (the barrier's).
    pub wait: Option<Arc<dyn StageWait>>,
}

// SAFETY: the barrier returns only sequences published by the sequencer and processed by every
// dependency; the registration is a slot of that sequencer's gating table, so the producer
// never claims `q + capacity` while the slot is below `q`; `GatingRegistration::set_sequence`
// is a `Release` store.
unsafe impl<E: ?Sized + Slot + Send + Sync, S: Sequencer> EventFeed<E> for HeapFeed<E, S> {
    #[inline]
    fn wait_for(&mut self, seq: i64, timeout: Option<Duration>) -> Result<i64, FeedError> {
        let Some(wait) = &self.wait else {
            return self.barrier.wait_for(seq, timeout).map_err(FeedError::from);
        };
        if let Some(available) = self.barrier.poll(seq) {
            return Ok(available);
        }
        let barrier = &self.barrier;
        let deadline = Deadline::within(timeout).begin();
        wait.wait(&mut || barrier.poll(seq), barrier.alert(), deadline)
            .map_err(FeedError::from)
    }

    /// The ring's default pacing ([`Pacing::ring_default`](crate::Pacing::ring_default)): longer
    /// when several producers claim.
    fn default_pacing(&self) -> crate::Pacing {
        crate::Pacing::ring_default(self.barrier.producer().multi_producer())
    }

    /// The barrier's poll of `seq`.
    #[inline]
    fn published(&self, seq: i64) -> bool {
        self.barrier.poll(seq).is_some()
    }

    /// Only a stage whose ring strategy spins first and that follows the producer alone: a
    /// stage after other stages sees them publish once per batch, not per event, and a stage
    /// that sleeps or blocks gives its core up rather than spin.
    #[inline]
    fn paces(&self) -> bool {
        self.wait.is_none()
            && self.barrier.producer().wait_strategy().spins_first()
            && self.barrier.dependents().is_empty()
    }

    #[inline]
    unsafe fn event(&self, seq: i64) -> &E {
        // SAFETY: the caller's contract (published, gated by our slot) is `RingBuffer::get`'s.
        unsafe { self.ring.get(seq) }
    }

    #[inline]
    fn capacity(&self) -> Option<usize> {
        Some(self.ring.capacity())
    }

    #[inline]
    fn run_from(&self, seq: i64) -> usize {
        self.ring.run_from(seq)
    }

    #[inline]
    fn partial_line(&self, seq: i64) -> usize {
        self.ring.partial_line(seq)
    }

    #[inline]
    unsafe fn visit_run<Err>(
        &self,
        first: i64,
        last: i64,
        visit: impl FnMut(i64, NonNull<E>) -> Result<(), Err>,
    ) -> Result<(), Err> {
        // SAFETY: the caller's contract (published, gated by our slot, inside one run) is
        // `visit_slots`'s.
        unsafe { visit_slots(&self.ring, first, last, visit) }
    }

    #[inline]
    fn sequence(&self) -> i64 {
        self.registration.sequence_relaxed()
    }

    #[inline]
    fn set_sequence(&self, seq: i64) {
        self.registration.set_sequence(seq);
    }

    #[inline]
    fn signal(&self) {
        self.barrier.producer().wait_strategy().signal_all();
    }

    fn halt(&self) {
        let producer = &**self.barrier.producer();
        producer.alert().raise();
        producer.wait_strategy().signal_all();
    }
}

/// [`EventFeed::visit_run`] over the slots of `ring`: the run's addressing is copied out of the
/// ring into locals once, so the loop does not reload it around each `visit`.
///
/// # Safety
/// Every event of `first..=last` is readable as [`RingBuffer::get`] requires while the loop
/// runs (or writable by the visitor, for a stage that owns the slots exclusively).
///
/// # Panics
/// If `first..=last` is not inside one run of consecutive slots (`last - first <
/// ring.run_from(first)`), before visiting anything: events past the run are never skipped
/// silently.
#[inline]
pub unsafe fn visit_slots<E: ?Sized + Slot, Err>(
    ring: &RingBuffer<E>,
    first: i64,
    last: i64,
    mut visit: impl FnMut(i64, NonNull<E>) -> Result<(), Err>,
) -> Result<(), Err> {
    let len = usize::try_from(last - first).map_or(0, |n| n + 1);
    let run = ring.run(first, len);
    assert_eq!(
        run.len(),
        len,
        "events {first}..={last} are not one run of slots"
    );
    for offset in 0..len {
        // SAFETY: `offset < len == run.len()`.
        let event = unsafe { run.ptr(offset) };
        visit(first + offset as i64, event)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use seqflow_sequence::{
        Alert, BlockingWait, BusySpinWait, OwnedRef, Sequence, SleepingWait, YieldingWait,
    };
    use seqflow_sequencer::{Claimer, SingleClaimer, SingleProducerSequencer};

    /// A first stage's feed (or, `after_a_stage`, one after a stage at -1) over a ring of eight
    /// waiting with `wait`, optionally with a busy-spin wait of its own; and the producer.
    fn feed<W: WaitStrategy + Default>(
        after_a_stage: bool,
        own_wait: bool,
    ) -> (HeapFeed<u64, SingleProducerSequencer<W>>, SingleClaimer<W>) {
        let sequencer = SingleProducerSequencer::new(8, W::default(), 2).unwrap();
        let registration = Arc::new(sequencer.gating().register(true, || -1).unwrap());
        let upstream = OwnedRef::new(Sequence::new(-1)).map(|s| s.read_only());
        let dependents = if after_a_stage {
            vec![upstream]
        } else {
            vec![]
        };
        let claimer = sequencer.claimer().unwrap();
        let feed = HeapFeed {
            barrier: SequenceBarrier::new(sequencer, dependents, Alert::new()),
            ring: RingBuffer::new(8, || 0u64).unwrap(),
            registration,
            wait: own_wait.then(|| Arc::new(BusySpinWait) as Arc<dyn StageWait>),
        };
        (feed, claimer)
    }

    /// A stage given no pacing pauses longer on a ring with several producers (whose claims
    /// wait for the lines a polling stage takes), whatever the claim mode.
    #[test]
    fn a_multi_producer_ring_asks_for_longer_pauses() {
        use crate::Pacing;
        use seqflow_sequencer::{MultiProducerMode, MultiProducerSequencer};
        let (single, _producer) = feed::<YieldingWait>(false, false);
        assert_eq!(single.default_pacing(), Pacing::DEFAULT);
        for mode in [MultiProducerMode::Cas, MultiProducerMode::Lock] {
            let sequencer =
                MultiProducerSequencer::new(8, YieldingWait::default(), mode, 1).unwrap();
            let registration = Arc::new(sequencer.gating().register(true, || -1).unwrap());
            let multi = HeapFeed {
                barrier: SequenceBarrier::new(sequencer, vec![], Alert::new()),
                ring: RingBuffer::new(8, || 0u64).unwrap(),
                registration,
                wait: None,
            };
            assert_eq!(multi.default_pacing(), Pacing::LONG, "{mode:?}");
        }
    }

    /// Only a first stage on a ring whose strategy spins first, waiting with the ring's
    /// strategy, paces, whether events are there or not (that is the look `published`
    /// answers).
    #[test]
    fn only_a_spinning_first_stage_paces() {
        let (paced, mut producer) = feed::<BusySpinWait>(false, false);
        assert_eq!(paced.capacity(), Some(8), "a full ring counts as behind");
        assert!(paced.paces(), "nothing published yet");
        assert!(!paced.published(0));
        let range = producer.try_claim(3).unwrap();
        producer.publish(range).unwrap();
        assert!(paced.paces(), "events are there");
        assert!(paced.published(0) && paced.published(2) && !paced.published(3));
        assert!(
            feed::<YieldingWait>(false, false).0.paces(),
            "spins, then yields"
        );
        assert!(!feed::<SleepingWait>(false, false).0.paces(), "sleeps");
        assert!(!feed::<BlockingWait>(false, false).0.paces(), "blocks");
        assert!(
            !feed::<BusySpinWait>(true, false).0.paces(),
            "after a stage"
        );
        assert!(
            !feed::<BusySpinWait>(false, true).0.paces(),
            "a wait of its own"
        );
    }

    fn walk(ring: &RingBuffer<u64>, first: i64, last: i64) -> Vec<(i64, u64)> {
        let mut seen = Vec::new();
        // SAFETY: single-threaded test: nobody writes the ring while it is read.
        let walked = unsafe {
            visit_slots(ring, first, last, |seq, event| {
                seen.push((seq, *event.as_ref()));
                Ok::<(), ()>(())
            })
        };
        assert_eq!(walked, Ok(()));
        seen
    }

    #[test]
    fn a_run_is_walked_in_order_and_an_empty_one_not_at_all() {
        let ring = RingBuffer::new(8, || 0u64).unwrap();
        for s in 0..8 {
            // SAFETY: single-threaded test.
            unsafe { *ring.get_mut(s) = 10 * s as u64 };
        }
        assert_eq!(walk(&ring, 13, 15), vec![(13, 50), (14, 60), (15, 70)]);
        assert_eq!(walk(&ring, 3, 2), vec![]);
    }

    /// Events past the ring's end are not one run: refused before anything is visited, never
    /// skipped as if handled.
    #[test]
    #[should_panic(expected = "not one run")]
    fn a_walk_past_the_ring_end_panics_before_visiting() {
        let ring = RingBuffer::new(4, || 0u64).unwrap();
        walk(&ring, 2, 5);
    }

    /// A visitor's error stops the walk at the event that failed.
    #[test]
    fn an_error_stops_the_walk_at_its_event() {
        let ring = RingBuffer::new(8, || 0u64).unwrap();
        let mut visited = 0;
        // SAFETY: single-threaded test.
        let walked = unsafe {
            visit_slots(&ring, 0, 7, |seq, _| {
                visited += 1;
                if seq == 3 {
                    Err("three")
                } else {
                    Ok(())
                }
            })
        };
        assert_eq!((walked, visited), (Err("three"), 4));
    }
}
