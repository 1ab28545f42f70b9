//! [`MultiProducerSequencer`]: any number of producers, claiming by CAS or under a lock.

use crate::claimer::{
    check_claim, check_size, claim_stored, full, take_pending, wait_for_capacity,
};
use crate::error::check_start_at;
use crate::{
    AvailabilityBuffer, ClaimError, Claimer, GatingTable, PublishError, SequenceRange, Sequencer,
    StartAtError,
};
use parking_lot::Mutex;
use seqflow_ring::{Capacity, CapacityError};
use seqflow_sequence::{
    Alert, Cursor, Deadline, OwnedRef, Sequence, WaitStrategy, INITIAL_SEQUENCE,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The claimer count while `start_at` runs.
const STARTING: usize = usize::MAX;

/// A CAS claimer that lost `lost` races in a row waits `2^(lost - 1)` spin hints (none before
/// the first try, at most 64) before its next CAS.
const BACKOFF_DOUBLINGS: u32 = 7;

/// Wait before the next CAS of a claim that lost `lost` races. The winner owns the cursor's line
/// now; a loser that tried again at once would take it back, and the producers would alternate,
/// every claim moving the line (and the slots and marks they write alternate between their
/// cores too). Waiting a little lets the winner claim again while the line is still its own
/// (docs/benchmarks.md, section 29). Not under loom: the hints would only multiply the models'
/// interleavings.
#[inline]
fn back_off(lost: u32) {
    if cfg!(loom) {
        return;
    }
    for _ in 0..(1u32 << lost) >> 1 {
        seqflow_sequence::sync::spin_loop();
    }
}

/// How multi-producer claims are serialised.
///
/// ```
/// assert_ne!(seqflow_sequencer::MultiProducerMode::Cas, seqflow_sequencer::MultiProducerMode::Lock);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MultiProducerMode {
    /// Compare-and-set on the cursor; lock-free.
    Cas,
    /// A `parking_lot::Mutex` around the claim (process-local: not for shared memory).
    Lock,
}

/// The sequencer for several producers.
///
/// The cursor is the highest *claimed* sequence. Producers claim a range by advancing it (CAS,
/// or a plain store under the claim lock), write their slots, then mark each slot in the
/// [`AvailabilityBuffer`]. Consumers waiting at a barrier ask the buffer for the highest
/// contiguous published sequence without reading the claim cursor. A CAS claimer expects the
/// cursor where it last saw it rather than loading it first: after its own claim that takes one
/// transfer of the contended line instead of two, and after another producer's claim a failed
/// CAS returns the cursor for the retry. Only a claim that finds the ring full loads it.
///
/// ```
/// use seqflow_sequencer::{Claimer, MultiProducerMode, MultiProducerSequencer, Sequencer};
/// use seqflow_sequence::YieldingWait;
/// let seq = MultiProducerSequencer::new(8, YieldingWait::default(), MultiProducerMode::Cas, 1).unwrap();
/// let (mut a, mut b) = (seq.claimer(), seq.claimer());
/// let ra = a.claim(2).unwrap();
/// let rb = b.claim(1).unwrap();
/// b.publish(rb).unwrap();
/// assert_eq!(seq.claimed(), 2);
/// assert_eq!(seq.published(), -1, "0 and 1 are claimed, not published");
/// a.publish(ra).unwrap();
/// assert_eq!(seq.published(), 2);
/// ```
pub struct MultiProducerSequencer<W> {
    cursor: OwnedRef<Sequence>,
    capacity: Capacity,
    available: AvailabilityBuffer,
    gating: GatingTable,
    wait: W,
    alert: Alert,
    mode: MultiProducerMode,
    /// Lock mode: serialises claims; holds the cached gating minimum.
    claim_lock: Mutex<i64>,
    /// How many claimers of this sequencer exist, or [`STARTING`] while `start_at` runs (it
    /// needs none, and none is made meanwhile). A std atomic even under loom: it guards only
    /// `start_at`, which the loom models do not run, and modelling it would multiply their
    /// interleavings past loom's limits.
    claimers: AtomicUsize,
    /// Made over a shared-memory segment (`__internal_from_parts`): other processes claim
    /// through the same cursor, so `start_at` is refused.
    shared: bool,
}

impl<W: WaitStrategy> MultiProducerSequencer<W> {
    /// A sequencer for a ring of `capacity` slots with room for `max_consumers` gating consumers.
    pub fn new(
        capacity: usize,
        wait: W,
        mode: MultiProducerMode,
        max_consumers: usize,
    ) -> Result<Arc<Self>, CapacityError> {
        let capacity = Capacity::new(capacity)?;
        let gating = GatingTable::new(max_consumers)?;
        let cursor = OwnedRef::new(Sequence::default());
        let available = AvailabilityBuffer::new(capacity);
        Ok(Self::from_parts(
            capacity, cursor, available, gating, wait, mode, false,
        ))
    }

    /// A sequencer over state owned elsewhere (a shared-memory segment): claim cursor,
    /// availability buffer, gating table. Internal to the shared-memory layer; not part of the
    /// public API.
    ///
    /// # Safety
    /// Nothing but this kind of sequencer may store into `cursor` or the buffer. In
    /// [`MultiProducerMode::Lock`] the lock is local to this object, so every producer must
    /// claim through it.
    #[doc(hidden)]
    pub unsafe fn __internal_from_parts(
        capacity: Capacity,
        cursor: OwnedRef<Sequence>,
        available: AvailabilityBuffer,
        gating: GatingTable,
        wait: W,
        mode: MultiProducerMode,
    ) -> Arc<Self> {
        Self::from_parts(capacity, cursor, available, gating, wait, mode, true)
    }

    fn from_parts(
        capacity: Capacity,
        cursor: OwnedRef<Sequence>,
        available: AvailabilityBuffer,
        gating: GatingTable,
        wait: W,
        mode: MultiProducerMode,
        shared: bool,
    ) -> Arc<Self> {
        Arc::new(Self {
            cursor,
            capacity,
            available,
            gating,
            wait,
            alert: Alert::new(),
            mode,
            claim_lock: Mutex::new(INITIAL_SEQUENCE),
            claimers: AtomicUsize::new(0),
            shared,
        })
    }

    /// A new claimer; make one per producer thread (or clone one).
    pub fn claimer(self: &Arc<Self>) -> MultiClaimer<W> {
        self.count_claimer();
        MultiClaimer {
            sequencer: Arc::clone(self),
            limit: INITIAL_SEQUENCE + self.capacity.as_i64(),
            expected: self.cursor.get(),
            pending: None,
        }
    }

    /// Number the events from `next` instead of 0 (LMAX's `claim(sequence)` on a fresh ring).
    /// Only before anything is claimed and while no claimer exists (make claimers afterwards);
    /// every registered consumer must already be at `next - 1` or later ([`StartAtError`]
    /// otherwise).
    ///
    /// ```
    /// use seqflow_sequencer::{Claimer, MultiProducerMode, MultiProducerSequencer};
    /// use seqflow_sequence::YieldingWait;
    /// let s = MultiProducerSequencer::new(8, YieldingWait::default(), MultiProducerMode::Lock, 1).unwrap();
    /// s.start_at(42).unwrap();
    /// assert_eq!(s.claimer().claim(2).unwrap().start(), 42);
    /// ```
    pub fn start_at(&self, next: i64) -> Result<(), StartAtError> {
        if self.shared {
            return Err(StartAtError::Shared);
        }
        check_start_at(&self.gating, next)?;
        let claimed = self.cursor.get();
        if claimed != INITIAL_SEQUENCE {
            return Err(StartAtError::AlreadyClaimed { claimed });
        }
        // No claimer exists, and none is made until this ends (`count_claimer` waits while
        // the count is STARTING): nothing claims or marks a slot while the buffer is prepared.
        // A second start fails here or on the cursor.
        if self
            .claimers
            .compare_exchange(0, STARTING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(StartAtError::ProducerActive);
        }
        let result = if self.cursor.get() == INITIAL_SEQUENCE {
            // Before the cursor moves: consumers look from `next` on once it does.
            self.available.prepare_start(next);
            self.cursor.set(next - 1);
            Ok(())
        } else {
            // A claimer that existed before the count was taken claimed meanwhile (it was
            // dropped since, or the count would not have been 0).
            Err(StartAtError::AlreadyClaimed {
                claimed: self.cursor.get(),
            })
        };
        self.claimers.store(0, Ordering::Release);
        result
    }

    /// Count a new claimer, waiting while a `start_at` runs (it prepares every slot, then
    /// lets claimers be made again).
    fn count_claimer(&self) {
        let mut current = self.claimers.load(Ordering::Relaxed);
        loop {
            if current == STARTING {
                seqflow_sequence::sync::yield_now();
                current = self.claimers.load(Ordering::Relaxed);
                continue;
            }
            match self.claimers.compare_exchange_weak(
                current,
                current + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => current = now,
            }
        }
    }

    /// The highest sequence a claim may lap (a claim may end at most `capacity` past it): the
    /// slowest gating consumer's, or, with no consumer gating, the highest sequence published
    /// with everything before it. Never the claim cursor: a claim still being written (claimed,
    /// not yet published) would then be lapped by another producer, and two producers would
    /// write one slot at once. (Consumers never pass an unpublished sequence, so with one the
    /// gating minimum is below every claim in flight already.)
    fn lap_floor(&self) -> i64 {
        self.gating.minimum_or_else(|| self.published())
    }

    /// The claim mode.
    pub fn mode(&self) -> MultiProducerMode {
        self.mode
    }

    /// The availability buffer (for inspection and for shared-memory checks).
    pub fn availability(&self) -> &AvailabilityBuffer {
        &self.available
    }

    /// One attempt at a CAS claim that needs nothing but the claimer's `limit` (the cached gating
    /// minimum plus the capacity: a claim may end there at most): `Some(end)`
    /// if it claimed, `None` if the ring may be full or another producer moved the cursor first
    /// (then [`claim_cas`](Self::claim_cas) retries and waits). Small enough to be inlined into
    /// every publish; everything else stays out of line.
    #[inline(always)]
    fn try_claim_cas_fast(&self, n64: i64, limit: i64, expected: &mut i64) -> Option<i64> {
        let next = *expected + n64;
        if next > limit {
            return None;
        }
        match self.cursor.compare_exchange(*expected, next) {
            Ok(_) => {
                claim_stored();
                *expected = next;
                Some(next)
            }
            Err(now) => {
                *expected = now;
                None
            }
        }
    }

    /// A CAS claim, expecting the cursor at `current` first: retry with the cursor each failed
    /// CAS returns until one succeeds, checking the gating sequences (and waiting, if `block`)
    /// whenever the cached minimum says the ring may be full. A stale `current` (below the
    /// cursor) can only make a CAS fail, or make the check find room that the CAS then proves
    /// was not there to take.
    #[inline(never)]
    fn claim_cas(
        &self,
        n: usize,
        n64: i64,
        cached_min: &mut i64,
        mut deadline: Deadline,
        block: bool,
        mut current: i64,
    ) -> Result<i64, ClaimError> {
        let capacity = self.capacity.as_i64();
        let mut lost = 0u32;
        loop {
            back_off(lost);
            let next = current + n64;
            let wrap_point = next - capacity;
            if wrap_point > *cached_min {
                self.claim_cas_slow(n, n64, current, cached_min, &mut deadline, block)?;
                current = self.cursor.get();
                continue;
            }
            match self.cursor.compare_exchange(current, next) {
                Ok(_) => {
                    claim_stored();
                    return Ok(next);
                }
                Err(now) => {
                    current = now;
                    lost = (lost + 1).min(BACKOFF_DOUBLINGS);
                }
            }
        }
    }

    /// The slow path of a CAS claim: the cached gating minimum says the ring may be full.
    #[cold]
    #[inline(never)]
    fn claim_cas_slow(
        &self,
        n: usize,
        n64: i64,
        current: i64,
        cached_min: &mut i64,
        deadline: &mut Deadline,
        block: bool,
    ) -> Result<(), ClaimError> {
        let capacity = self.capacity.as_i64();
        let wrap_point = current + n64 - capacity;
        if self.alert.is_raised() {
            return Err(ClaimError::Halted);
        }
        let min = self.lap_floor();
        if wrap_point > min {
            if !block {
                // `current` may be a claimer's stale expectation, below the cursor: the room
                // left is counted from the cursor itself (the ring is full either way, as the
                // cursor is at or above `current`).
                let claimed = self.cursor.get().max(current);
                return Err(full(n, self.capacity.get(), claimed, min));
            }
            let cursor = &self.cursor;
            *cached_min = wait_for_capacity(
                self,
                || cursor.get() + n64 - capacity,
                || self.published(),
                n,
                deadline.begin(),
            )?;
            return Ok(());
        }
        *cached_min = min;
        Ok(())
    }

    fn claim_locked(
        &self,
        n: usize,
        n64: i64,
        mut deadline: Deadline,
        block: bool,
    ) -> Result<i64, ClaimError> {
        let mut cached_min = match self.claim_lock.try_lock() {
            Some(guard) => guard,
            None => {
                // The holder may be waiting for room itself: time spent waiting for the lock
                // counts against this claim's deadline, which starts now.
                deadline.begin();
                self.claim_lock.lock()
            }
        };
        // Only lock holders move the cursor, so a relaxed read of our own writes is enough.
        let current = self.cursor.get_relaxed();
        let next = current + n64;
        let wrap_point = next - self.capacity.as_i64();
        if wrap_point > *cached_min {
            if self.alert.is_raised() {
                return Err(ClaimError::Halted);
            }
            let mut min = self.lap_floor();
            if wrap_point > min {
                if !block {
                    return Err(full(n, self.capacity.get(), current, min));
                }
                min = wait_for_capacity(
                    self,
                    || wrap_point,
                    || self.published(),
                    n,
                    deadline.resolve(),
                )?;
            }
            *cached_min = min;
        }
        self.cursor.set(next);
        claim_stored();
        Ok(next)
    }
}

// SAFETY: a slot's lap mark is stored (`Release`) only by the claimer that claimed the sequence,
// after writing it (or by a dropped claimer, whose slot keeps its previous, fully written
// event); `highest_published` loads marks with `Acquire` and stops at the first slot that does
// not hold the mark of the sequence asked for, so it never reports a sequence that was not
// published, whatever bound it is given. Marks are laps modulo 256, so for a sequence lapped a
// multiple of 256 laps ago it may answer "published" (it was, before being overwritten): the
// same as for any lapped sequence, reading its slot is only sound for a reader that gates the
// producers, which never asks about one (`AvailabilityBuffer`), or that checks its copy.
unsafe impl<W: WaitStrategy> Cursor for MultiProducerSequencer<W> {
    type Wait = W;

    #[inline]
    fn highest_published(&self, lo: i64, available: i64) -> i64 {
        self.available.highest_published(lo, available)
    }

    #[inline]
    fn publish_bound(&self, seq: i64) -> i64 {
        // Never read the claim cursor producers CAS: the availability scan stops at the first
        // unpublished slot, and no slot can hold a sequence beyond `seq + capacity - 1`.
        seq + self.capacity.as_i64() - 1
    }

    #[inline]
    fn wait_strategy(&self) -> &W {
        &self.wait
    }
}

// SAFETY: both claim paths advance the cursor only when `next - capacity` is at or below a gating
// minimum seen earlier (consumers never go back), and a lap mark stays until the slot is claimed
// again one lap later.
unsafe impl<W: WaitStrategy> Sequencer for MultiProducerSequencer<W> {
    #[inline]
    fn multi_producer(&self) -> bool {
        true
    }

    #[inline]
    fn capacity(&self) -> Capacity {
        self.capacity
    }

    #[inline]
    fn is_available(&self, seq: i64) -> bool {
        // Claimed and not lapped by a later claim (the claim cursor first): the slot then holds
        // `seq`'s lap or the one before, which its mark tells apart (marks repeat every 256 laps).
        let claimed = self.cursor.get();
        seq >= 0
            && seq <= claimed
            && seq > claimed.saturating_sub(self.capacity.as_i64())
            && self.available.is_available(seq)
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
        self.cursor.get()
    }

    /// As the default, measured against the floor claims may lap (`lap_floor`): with
    /// no consumer, claims still being written take room.
    fn remaining_capacity(&self) -> usize {
        let claimed = self.claimed();
        let used = claimed.saturating_sub(self.lap_floor()).max(0) as usize;
        self.capacity.get().saturating_sub(used)
    }

    fn published(&self) -> i64 {
        let claimed = self.cursor.get();
        // Only the last lap can be told from the buffer; everything up to the slowest gating
        // consumer was processed, so published: the scan starts after whichever is later.
        let lap_start = claimed.saturating_sub(self.capacity.as_i64() - 1).max(0);
        let from = match self.gating.minimum(i64::MAX) {
            i64::MAX => lap_start,
            processed => lap_start.max(processed.saturating_add(1)),
        };
        if from > claimed {
            return claimed;
        }
        // Producers may lap a slot while this scans (one that has not seen a consumer just
        // registering, say): a lapped slot was published, and must not make the floor look
        // lower than it was when the scan began. The scan counts a slot up to 127 laps ahead as
        // lapped; where it stops, the slot after the floor is unpublished or was lapped more
        // often than that. A claim of that sequence's next lap, seen in a cursor read made after
        // its mark was read, tells them apart: nobody claims a slot's next lap before the slot
        // is published (gating consumers handle it first; with none, `lap_floor` is this floor).
        let mut lo = from;
        loop {
            let floor = self.available.published_floor(lo, claimed);
            if floor >= claimed {
                return floor;
            }
            let next = floor + 1;
            // `next`'s next lap past `i64::MAX` was never claimed (a corrupt cursor may say so).
            match next.checked_add(self.capacity.as_i64()) {
                Some(next_lap) if self.cursor.get() >= next_lap => {}
                _ => return floor,
            }
            if next == claimed {
                return claimed;
            }
            lo = next + 1;
        }
    }
}

/// The producer side of a [`MultiProducerSequencer`]: one per producer thread; `Clone + Send`.
pub struct MultiClaimer<W: WaitStrategy> {
    sequencer: Arc<MultiProducerSequencer<W>>,
    /// The cached gating minimum plus the capacity: a CAS claim ending at or below it needs no
    /// look at the gating sequences (consumers only move forward). One compare on the fast path.
    limit: i64,
    /// The claim cursor as this claimer last saw it: its own last claim's end, or what a lost
    /// CAS found. The next CAS expects it instead of loading the cursor first; a stale value
    /// only makes that CAS fail (and return the cursor).
    expected: i64,
    pending: Option<SequenceRange>,
}

impl<W: WaitStrategy> MultiClaimer<W> {
    /// Claim `n64` (already checked) slots, by CAS or under the claim lock.
    #[inline(always)]
    fn claim_checked(
        &mut self,
        n64: i64,
        deadline: Deadline,
        block: bool,
    ) -> Result<SequenceRange, ClaimError> {
        let seq = &*self.sequencer;
        if seq.mode == MultiProducerMode::Cas {
            if let Some(end) = seq.try_claim_cas_fast(n64, self.limit, &mut self.expected) {
                return Ok(SequenceRange::ending_at(end, n64));
            }
        }
        self.claim_checked_slow(n64, deadline, block)
    }

    /// Every claim the inlined fast path did not make: a lost CAS race, a ring that may be
    /// full, the lock mode.
    #[inline(never)]
    fn claim_checked_slow(
        &mut self,
        n64: i64,
        deadline: Deadline,
        block: bool,
    ) -> Result<SequenceRange, ClaimError> {
        let seq = &*self.sequencer;
        let n = n64 as usize;
        let end = match seq.mode {
            MultiProducerMode::Cas => {
                let capacity = seq.capacity.as_i64();
                let mut cached_min = self.limit.saturating_sub(capacity);
                let end = seq.claim_cas(n, n64, &mut cached_min, deadline, block, self.expected);
                self.limit = cached_min.saturating_add(capacity);
                let end = end?;
                self.expected = end;
                end
            }
            MultiProducerMode::Lock => seq.claim_locked(n, n64, deadline, block)?,
        };
        Ok(SequenceRange::ending_at(end, n64))
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
        self.pending = Some(range);
        Ok(range)
    }

    /// Mark every sequence of `range` published, then wake blocked consumers.
    #[inline]
    fn publish_range(&self, range: SequenceRange) {
        let (start, end) = (range.start(), range.end());
        // One event per publish is the common case: no loop set-up for it.
        self.sequencer.available.mark(start);
        let mut seq = start;
        while seq < end {
            seq += 1;
            self.sequencer.available.mark(seq);
        }
        self.sequencer.wait.signal_all();
    }
}

impl<W: WaitStrategy> Claimer for MultiClaimer<W> {
    type Sequencer = MultiProducerSequencer<W>;

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

    #[inline]
    fn __internal_claim_paired(
        &mut self,
        n: usize,
        deadline: Deadline,
        block: bool,
    ) -> Result<SequenceRange, ClaimError> {
        let n64 = check_size(n, self.sequencer.capacity.get())?;
        self.claim_checked(n64, deadline, block)
    }

    #[inline]
    unsafe fn __internal_publish_paired(&mut self, range: SequenceRange) {
        self.publish_range(range);
    }

    fn sequencer(&self) -> &Arc<MultiProducerSequencer<W>> {
        &self.sequencer
    }
}

impl<W: WaitStrategy> Drop for MultiClaimer<W> {
    /// A claim dropped unpublished is published as it stands (the slots keep their previous
    /// contents): other producers' later sequences would otherwise never become visible and
    /// every consumer would wait forever on the hole.
    fn drop(&mut self) {
        if let Some(range) = self.pending.take() {
            self.publish_range(range);
        }
        self.sequencer.claimers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<W: WaitStrategy> Clone for MultiClaimer<W> {
    /// A new claimer on the same sequencer, with no pending claim.
    fn clone(&self) -> Self {
        self.sequencer.count_claimer();
        Self {
            sequencer: Arc::clone(&self.sequencer),
            limit: self.limit,
            expected: self.expected,
            pending: None,
        }
    }
}
