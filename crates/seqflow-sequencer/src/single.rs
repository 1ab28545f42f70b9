//! [`SingleProducerSequencer`]: one producer, no atomic read-modify-write anywhere.

use crate::claimer::{
    check_claim, check_size, claim_stored, full, take_pending, wait_for_capacity,
};
use crate::error::check_start_at;
use crate::{
    ClaimError, Claimer, GatingTable, PublishError, SequenceRange, Sequencer, StartAtError,
};
use seqflow_ring::{Capacity, CapacityError};
use seqflow_sequence::sync::atomic::{AtomicBool, Ordering};
use seqflow_sequence::{Alert, Cursor, Deadline, OwnedRef, Sequence, WaitStrategy};
use std::sync::Arc;
use std::time::Instant;

/// The sequencer for exactly one producer.
///
/// The cursor is the highest *published* sequence. The one [`SingleClaimer`] keeps the next
/// sequence and the cached gating minimum in plain fields: a claim is arithmetic plus, once per
/// ring's worth of claims at most, a scan of the gating table; a publish is one `Release` store
/// of the cursor (and a wake-up of blocked consumers if the wait strategy blocks).
///
/// ```
/// use seqflow_sequencer::{Claimer, SingleProducerSequencer, Sequencer, ClaimError};
/// use seqflow_sequence::BusySpinWait;
/// let seq = SingleProducerSequencer::new(4, BusySpinWait, 1).unwrap();
/// let consumer = seq.gating().register(true, || -1).unwrap();
/// let mut p = seq.claimer().unwrap();
/// assert!(seq.claimer().is_none(), "only one producer");
/// let r = p.claim(4).unwrap();
/// p.publish(r).unwrap();
/// assert_eq!(seq.published(), 3);
/// assert!(matches!(p.try_claim(1), Err(ClaimError::Full { free: 0, .. })));
/// consumer.set_sequence(0);
/// assert_eq!(p.try_claim(1).unwrap().start(), 4);
/// ```
pub struct SingleProducerSequencer<W> {
    cursor: OwnedRef<Sequence>,
    /// The end of the last claim of more than one event (or of the claims of a dropped
    /// claimer): with the cursor, what `Sequencer::claimed` / `claim_bound` report.
    claimed: Sequence,
    capacity: Capacity,
    gating: GatingTable,
    wait: W,
    alert: Alert,
    claimer_taken: AtomicBool,
    /// Made over a shared-memory segment (`__internal_from_parts`): other processes claim and
    /// publish through the same cursor, so neither `start_at` nor the public `claimer` is
    /// offered (this process's flags cannot keep them out).
    shared: bool,
}

impl<W: WaitStrategy> SingleProducerSequencer<W> {
    /// A sequencer for a ring of `capacity` slots with room for `max_consumers` gating
    /// consumers.
    pub fn new(capacity: usize, wait: W, max_consumers: usize) -> Result<Arc<Self>, CapacityError> {
        let capacity = Capacity::new(capacity)?;
        let gating = GatingTable::new(max_consumers)?;
        let cursor = OwnedRef::new(Sequence::default());
        Ok(Self::from_parts(capacity, cursor, gating, wait, false))
    }

    /// A sequencer over state owned elsewhere (a shared-memory segment): the published cursor
    /// and the gating table. Internal to the shared-memory layer; not part of the public API.
    ///
    /// # Safety
    /// Nothing but this sequencer's claimers may store into `cursor`: a store from elsewhere
    /// would make consumers read slots that are not written yet. One process at a time may
    /// produce (the claimer's uniqueness is per sequencer object).
    #[doc(hidden)]
    pub unsafe fn __internal_from_parts(
        capacity: Capacity,
        cursor: OwnedRef<Sequence>,
        gating: GatingTable,
        wait: W,
    ) -> Arc<Self> {
        Self::from_parts(capacity, cursor, gating, wait, true)
    }

    fn from_parts(
        capacity: Capacity,
        cursor: OwnedRef<Sequence>,
        gating: GatingTable,
        wait: W,
        shared: bool,
    ) -> Arc<Self> {
        let claimed = Sequence::new(cursor.get());
        Arc::new(Self {
            cursor,
            claimed,
            capacity,
            gating,
            wait,
            alert: Alert::new(),
            claimer_taken: AtomicBool::new(false),
            shared,
        })
    }

    /// The one claimer of this sequencer; `None` if it was taken already, and always for the
    /// sequencer of a shared-memory ring, whose producers attach through the ring
    /// (`ShmRing::producer`): it keeps one producer across every process, which this
    /// process's flag alone could not.
    pub fn claimer(self: &Arc<Self>) -> Option<SingleClaimer<W>> {
        if self.shared {
            return None;
        }
        self.take_claimer()
    }

    /// [`claimer`](Self::claimer) for the shared-memory layer, which makes sure of the one
    /// producer across processes itself. Internal; not part of the public API.
    #[doc(hidden)]
    pub fn __internal_claimer(self: &Arc<Self>) -> Option<SingleClaimer<W>> {
        self.take_claimer()
    }

    /// The one claimer, if not taken. It starts after the current cursor, so a producer that
    /// takes over a ring (in shared memory, after another one stopped) carries on where the
    /// cursor is.
    fn take_claimer(self: &Arc<Self>) -> Option<SingleClaimer<W>> {
        if self.claimer_taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        let next = self.cursor.get();
        Some(SingleClaimer {
            sequencer: Arc::clone(self),
            claimed: next,
            limit: self
                .gating
                .minimum(next)
                .saturating_add(self.capacity.as_i64()),
            pending: None,
        })
    }
}

impl<W: WaitStrategy> SingleProducerSequencer<W> {
    /// Number the events from `next` instead of 0 (LMAX's `claim(sequence)` on a fresh ring,
    /// for example to carry on a journal's numbering). Only before anything is claimed and while
    /// no claimer exists; every registered consumer must already be at `next - 1` or later
    /// ([`StartAtError`] otherwise), so nobody takes the untouched slots below `next` for
    /// published events.
    ///
    /// ```
    /// use seqflow_sequencer::{Claimer, Sequencer, SingleProducerSequencer, StartAtError};
    /// use seqflow_sequence::YieldingWait;
    /// let s = SingleProducerSequencer::new(8, YieldingWait::default(), 1).unwrap();
    /// s.start_at(100).unwrap();
    /// let mut p = s.claimer().unwrap();
    /// assert_eq!(p.claim(1).unwrap().start(), 100);
    /// drop(p);
    /// assert_eq!(s.start_at(5), Err(StartAtError::AlreadyClaimed { claimed: 100 }));
    /// ```
    pub fn start_at(&self, next: i64) -> Result<(), StartAtError> {
        if self.shared {
            return Err(StartAtError::Shared);
        }
        // Hold the claimer flag so no claimer appears meanwhile.
        if self.claimer_taken.swap(true, Ordering::AcqRel) {
            return Err(StartAtError::ProducerActive);
        }
        let result = (|| {
            let claimed = self.claimed.get();
            if claimed != seqflow_sequence::INITIAL_SEQUENCE {
                return Err(StartAtError::AlreadyClaimed { claimed });
            }
            check_start_at(&self.gating, next)?;
            self.claimed.set(next - 1);
            self.cursor.set(next - 1);
            Ok(())
        })();
        self.claimer_taken.store(false, Ordering::Release);
        result
    }
}

// SAFETY: the cursor is the highest published sequence, stored with `Release` after the slots
// up to it were written, and only this sequencer's claimer stores it (the external-memory
// constructor is `unsafe` with that contract). `publish_bound` reads it with `Acquire`, and
// `highest_published` never goes past what the caller read from it.
unsafe impl<W: WaitStrategy> Cursor for SingleProducerSequencer<W> {
    type Wait = W;

    #[inline]
    fn publish_bound(&self, _seq: i64) -> i64 {
        self.cursor.get()
    }

    /// The cursor only grows: every publish stores a later end, and `start_at` moves it once,
    /// forward from the initial sequence, before anything is claimed; a sequencer over shared
    /// memory refuses `start_at` and hands its one claimer only to the shared-memory layer,
    /// which keeps one producer across processes, each carrying on from the cursor.
    #[inline(always)]
    fn bound_is_published_cursor(&self) -> bool {
        true
    }

    #[inline]
    fn highest_published(&self, _lo: i64, available: i64) -> i64 {
        // The cursor only moves on publish, so everything up to it is published.
        available
    }

    #[inline]
    fn wait_strategy(&self) -> &W {
        &self.wait
    }
}

// SAFETY: the claimer waits until `next - capacity` is at or below the gating minimum before it
// hands out `next` (cached minimum, rescanned when it may be stale; consumers never go back),
// and a published sequence stays published: the cursor only grows.
unsafe impl<W: WaitStrategy> Sequencer for SingleProducerSequencer<W> {
    #[inline]
    fn capacity(&self) -> Capacity {
        self.capacity
    }

    #[inline]
    fn is_available(&self, seq: i64) -> bool {
        let cursor = self.cursor.get();
        seq <= cursor && seq > cursor - self.capacity.as_i64()
    }

    #[inline]
    fn gating(&self) -> &GatingTable {
        &self.gating
    }

    #[inline]
    fn alert(&self) -> &Alert {
        &self.alert
    }

    #[inline]
    fn claimed(&self) -> i64 {
        // Stored for claims of more than one event (and when a claimer is dropped); the cursor
        // covers the rest: the single producer publishes each claim before its next.
        self.claimed.get().max(self.cursor.get())
    }

    #[inline]
    fn claim_bound(&self) -> i64 {
        // The one producer's pending claim starts right after the cursor (it publishes each
        // claim before the next); a one-event claim is not stored, so it is at most
        // `cursor + 1`; a longer one was stored in `claimed` before its slots were written. The
        // cursor store of its previous publish is ordered before those writes by the claim's
        // `Release` fence too, so a reader that saw a write sees that cursor here.
        self.claimed.get().max(self.cursor.get().saturating_add(1))
    }

    #[inline]
    fn published(&self) -> i64 {
        self.cursor.get()
    }

    fn private_claims(&self) -> usize {
        // A one-event claim is not stored (see `claim_bound`).
        1
    }
}

/// The producer side of a [`SingleProducerSequencer`]. `Send`, not `Clone`.
pub struct SingleClaimer<W> {
    sequencer: Arc<SingleProducerSequencer<W>>,
    /// The highest sequence claimed so far.
    claimed: i64,
    /// The highest sequence claimable without looking at the consumers again: a gating minimum
    /// seen earlier (consumers never go back) plus the capacity.
    limit: i64,
    pending: Option<SequenceRange>,
}

impl<W: WaitStrategy> SingleClaimer<W> {
    /// Wait until a claim of `n` slots would find room, or `deadline` (`Timeout`), or a halt
    /// (`Halted`); without `block`, only look (`Full`). Claims nothing. The test is the claim's
    /// own (counting every claim this claimer made, published or not), so the claim that
    /// follows finds the room. For the shared-memory claimer, which waits in slices and claims
    /// on its fast path afterwards.
    #[doc(hidden)]
    pub fn __internal_wait_for_room(
        &mut self,
        n: usize,
        deadline: Deadline,
        block: bool,
    ) -> Result<(), ClaimError> {
        let n64 = check_size(n, self.sequencer.capacity.get())?;
        if self.claimed + n64 <= self.limit {
            return Ok(());
        }
        self.wait_for_room(n64, deadline, block)
    }

    /// Take back the last claim, `range`, so that the next claim hands out its sequences
    /// again. For the shared-memory claimer, which records a claim before it learns that the
    /// ring was closed or halted and then refuses it: nothing was written into its slots, and
    /// publishing it would move the cursor past a closed ring's end.
    ///
    /// # Safety
    ///
    /// `range` is this claimer's last claim (paired or checked), unpublished, and nothing
    /// writes or will write its slots: once taken back, the next claim hands them out again.
    #[doc(hidden)]
    pub unsafe fn __internal_take_back(&mut self, range: SequenceRange) {
        debug_assert_eq!(
            range.end(),
            self.claimed,
            "only the last claim can be taken back"
        );
        self.claimed = range.start() - 1;
        if self.pending == Some(range) {
            self.pending = None;
        }
        // Its end may have been stored for the claim (a longer one by `claim_checked`, a
        // checked or held one-event one by `claim_inner` / `__internal_count_claim`): readers
        // bound the slots being written by it, and none of these are. A rare path: no test of
        // which.
        self.sequencer.claimed.set(self.claimed);
    }

    /// Claim `n64` (already checked) slots: the fast path is arithmetic and a compare with the
    /// cached gating minimum (plus the store of `claimed` for claims of more than one event);
    /// everything else is in `wait_for_room`. Always inlined, as the paired claim and publish
    /// below: they are the one-at-a-time path (see `Producer::publish`).
    #[inline(always)]
    fn claim_checked(
        &mut self,
        n64: i64,
        deadline: Deadline,
        block: bool,
    ) -> Result<SequenceRange, ClaimError> {
        let next = self.claimed + n64;
        if next > self.limit {
            if block {
                self.wait_for_room(n64, deadline.__internal_for_slow_path(), true)?;
            } else {
                self.look_for_room(n64)?;
            }
        }
        self.claimed = next;
        if n64 > 1 {
            // A one-event claim is covered by `cursor + 1` (see `claim_bound`): no store on
            // the one-at-a-time path.
            self.sequencer.claimed.set(next);
        }
        claim_stored();
        Ok(SequenceRange::ending_at(next, n64))
    }

    /// [`wait_for_room`](Self::wait_for_room) without waiting (`Full` if there is no room),
    /// whose call passes no deadline: a claim that cannot wait does not set one up.
    #[cold]
    #[inline(never)]
    fn look_for_room(&mut self, n64: i64) -> Result<(), ClaimError> {
        self.wait_for_room(n64, Deadline::NEVER, false)
    }

    /// The cached minimum says the ring may be full: refuse on halt, rescan the consumers,
    /// wait (or fail with `Full`) until `n64` more slots are free.
    #[cold]
    #[inline(never)]
    fn wait_for_room(
        &mut self,
        n64: i64,
        deadline: Deadline,
        block: bool,
    ) -> Result<(), ClaimError> {
        let seq = &*self.sequencer;
        // A halted ring refuses claims that need a look at the consumers.
        if seq.alert.is_raised() {
            return Err(ClaimError::Halted);
        }
        let claimed = self.claimed;
        let wrap_point = claimed + n64 - seq.capacity.as_i64();
        let n = n64 as usize;
        let mut min = seq.gating.minimum(claimed);
        if wrap_point > min {
            if !block {
                return Err(full(n, seq.capacity.get(), claimed, min));
            }
            min = wait_for_capacity(seq, || wrap_point, || claimed, n, deadline.resolve())?;
        }
        self.limit = min.saturating_add(seq.capacity.as_i64());
        Ok(())
    }

    #[inline]
    fn claim_inner(
        &mut self,
        n: usize,
        deadline: Deadline,
        block: bool,
    ) -> Result<SequenceRange, ClaimError> {
        let n64 = check_claim(n, self.sequencer.capacity.get(), self.pending)?;
        let range = self.claim_checked(n64, deadline, block)?;
        if n64 == 1 {
            // The checked path is not the one-at-a-time publish's: it makes a one-event claim
            // public too, so `remaining_capacity` and `has_available_capacity` count it, as
            // LMAX's `next()` then `remainingCapacity()` expects.
            self.sequencer.claimed.set(range.end());
        }
        self.pending = Some(range);
        Ok(range)
    }

    /// Make `range` visible to consumers: one `Release` store of the cursor.
    #[inline(always)]
    fn publish_range(&self, range: SequenceRange) {
        self.sequencer.cursor.set(range.end());
        self.sequencer.wait.signal_all();
    }

    /// [`Claimer::__internal_publish_paired`] without the wait strategy's signal, for a
    /// caller that knows its strategy's `signal_all` does nothing (a wait strategy chosen at
    /// run time whose kind the caller tested once). Internal; not part of the public API.
    ///
    /// # Safety
    /// As [`Claimer::__internal_publish_paired`]'s; and the wait strategy's `signal_all` does
    /// nothing (no waiter of this ring blocks until signalled).
    #[doc(hidden)]
    #[inline(always)]
    pub unsafe fn __internal_publish_paired_unsignalled(&mut self, range: SequenceRange) {
        self.sequencer.cursor.set(range.end());
    }
}

impl<W: WaitStrategy> Claimer for SingleClaimer<W> {
    type Sequencer = SingleProducerSequencer<W>;

    #[inline]
    fn claim_until(
        &mut self,
        n: usize,
        deadline: Option<Instant>,
    ) -> Result<SequenceRange, ClaimError> {
        self.claim_inner(n, deadline.into(), true)
    }

    #[inline]
    fn try_claim(&mut self, n: usize) -> Result<SequenceRange, ClaimError> {
        self.claim_inner(n, Deadline::NEVER, false)
    }

    #[inline]
    fn publish(&mut self, range: SequenceRange) -> Result<(), PublishError> {
        take_pending(&mut self.pending, range)?;
        self.publish_range(range);
        Ok(())
    }

    fn pending(&self) -> Option<SequenceRange> {
        self.pending
    }

    #[inline(always)]
    fn __internal_claim_paired(
        &mut self,
        n: usize,
        deadline: Deadline,
        block: bool,
    ) -> Result<SequenceRange, ClaimError> {
        let n64 = check_size(n, self.sequencer.capacity.get())?;
        self.claim_checked(n64, deadline, block)
    }

    #[inline(always)]
    unsafe fn __internal_publish_paired(&mut self, range: SequenceRange) {
        self.publish_range(range);
    }

    #[inline]
    fn __internal_count_claim(&mut self, range: SequenceRange) {
        // Longer claims were stored when made (`claim_checked`).
        if range.len() == 1 {
            self.sequencer.claimed.set(range.end());
        }
    }

    fn sequencer(&self) -> &Arc<SingleProducerSequencer<W>> {
        &self.sequencer
    }
}

impl<W> Drop for SingleClaimer<W> {
    fn drop(&mut self) {
        // Make every claim public (a pending one-event claim included) before a new claimer
        // or `start_at` can look; an unpublished claim is abandoned (never exposed).
        self.sequencer.claimed.set(self.claimed);
        self.sequencer.claimer_taken.store(false, Ordering::Release);
    }
}
