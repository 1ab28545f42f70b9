//! [`AvailabilityBuffer`]: which slots multi producers have published, by lap number.

use seqflow_ring::Capacity;
use seqflow_sequence::sync::atomic::{AtomicI32, Ordering};
use seqflow_sequence::OwnedRef;

/// One `i32` per slot holding the lap (`seq >> log2(capacity)`) of the last sequence published
/// there. A sequence is published exactly when its slot holds its lap, so consumers find the
/// highest contiguous published sequence with no lock even when producers publish out of order.
///
/// Stores are `Release` (they publish the event written before) and loads `Acquire`.
///
/// Marking is internal to the sequencers: a mark tells consumers that a slot may be read, so
/// only the producer that claimed the slot and wrote it may make one.
///
/// ```compile_fail
/// use seqflow_sequencer::AvailabilityBuffer;
/// let a = AvailabilityBuffer::new(seqflow_ring::Capacity::new(4).unwrap());
/// a.mark(0); // private: safe code cannot publish a slot somebody may be writing
/// ```
#[derive(Clone)]
pub struct AvailabilityBuffer {
    laps: OwnedRef<[AtomicI32]>,
    capacity: Capacity,
}

impl AvailabilityBuffer {
    /// A heap buffer with every slot unpublished (lap -1).
    pub fn new(capacity: Capacity) -> Self {
        let laps: Box<[AtomicI32]> = (0..capacity.get()).map(|_| AtomicI32::new(-1)).collect();
        Self {
            laps: OwnedRef::from_boxed_slice(laps),
            capacity,
        }
    }

    /// A buffer over memory owned elsewhere (a shared-memory segment). Returns `None` on a
    /// length mismatch. Internal to the shared-memory layer; not part of the public API.
    ///
    /// # Safety
    /// `laps` must hold `capacity` entries, each -1 when the ring is new, and nothing but
    /// sequencers may store into them: a store from elsewhere could mark a slot published
    /// while its producer is still writing it.
    #[doc(hidden)]
    pub unsafe fn __internal_from_parts(
        laps: OwnedRef<[AtomicI32]>,
        capacity: Capacity,
    ) -> Option<Self> {
        (laps.len() == capacity.get()).then_some(Self { laps, capacity })
    }

    /// The lap word of `seq`'s slot.
    #[inline(always)]
    fn slot(&self, seq: i64) -> &AtomicI32 {
        let index = self.capacity.index_of(seq);
        debug_assert!(index < self.laps.len());
        // SAFETY: `index_of` masks with `capacity - 1`, so `index < capacity`, and `laps` holds
        // exactly `capacity` entries (`new` makes that many; `__internal_from_parts` refuses any
        // other length).
        unsafe { self.laps.get_unchecked(index) }
    }

    /// Mark `seq` published (`Release`: the slot's writes happen before any read that sees it).
    #[inline]
    pub(crate) fn mark(&self, seq: i64) {
        self.slot(seq)
            .store(self.capacity.lap_of(seq), Ordering::Release);
    }

    /// Mark `seq` published on behalf of a producer that died holding its claim. Internal to
    /// the shared-memory layer's reaper; not part of the public API.
    ///
    /// # Safety
    /// `seq` must be claimed by a producer that will never write it again (a dead process), so
    /// that consumers reading the slot race with nobody.
    #[doc(hidden)]
    pub unsafe fn __internal_mark_abandoned(&self, seq: i64) {
        self.mark(seq);
    }

    /// Prepare the buffer for a ring whose first sequence is `next`: every slot gets the lap
    /// before the one its first sequence will be published with, so the sequences below
    /// `next` read as published and none from `next` on does.
    ///
    /// A lap is stored truncated to 32 bits, so the initial -1 ("never published") equals the
    /// lap of some sequences (those of lap `2^32 - 1`, and every `2^32` laps after): left as it
    /// is, a ring numbered from one of them would show slots published before anybody wrote
    /// them. The caller makes sure nothing claims or marks a slot meanwhile.
    pub(crate) fn prepare_start(&self, next: i64) {
        let first_index = self.capacity.index_of(next);
        let first_lap = next >> self.capacity.shift();
        for (index, slot) in self.laps.iter().enumerate() {
            // The first sequence at `index` is in `next`'s lap from `next`'s slot on, and in
            // the lap after for the slots before it.
            let lap = first_lap + i64::from(index < first_index);
            slot.store((lap as i32).wrapping_sub(1), Ordering::Release);
        }
    }

    /// Whether `seq` is published.
    #[inline]
    pub fn is_available(&self, seq: i64) -> bool {
        self.slot(seq).load(Ordering::Acquire) == self.capacity.lap_of(seq)
    }

    /// The highest `s` in `lo..=available` with `lo..=s` all published; `lo - 1` if `lo` is not.
    ///
    /// Each `Acquire` load that finds its sequence's lap synchronises with the `Release` mark of
    /// that slot, so the caller sees the writes made to every slot up to the answer.
    #[inline]
    pub fn highest_published(&self, lo: i64, available: i64) -> i64 {
        // Consumers ask for `lo` first and `lo` is usually the whole answer (one event per
        // publish, or nothing new yet): test it on its own, with no loop set-up.
        if available < lo || !self.is_available(lo) {
            return lo - 1;
        }
        // `lo < available` unless both are `i64::MAX`, where rescanning `lo` is harmless.
        self.scan_from(lo.saturating_add(1), available)
    }

    /// The highest `s` in `lo..=hi` such that every sequence of `lo..=s` is published or
    /// already lapped (its slot holds a later lap: a producer published a sequence a whole
    /// number of laps after it, which no producer can claim before this one is published);
    /// `lo - 1` if `lo` is neither. Unlike [`highest_published`](Self::highest_published) it
    /// gives a floor that stays right while producers lap slots during the scan: what a
    /// sequencer's `published` reports, never what a consumer may read (a lapped slot holds
    /// another event).
    pub fn published_floor(&self, lo: i64, hi: i64) -> i64 {
        let mut seq = lo;
        while seq <= hi {
            let mark = self.slot(seq).load(Ordering::Acquire);
            // Laps are kept as wrapping `i32`s: a later lap is ahead by less than 2^31.
            if mark.wrapping_sub(self.capacity.lap_of(seq)) < 0 {
                return seq - 1;
            }
            if seq == hi {
                break; // `hi` may be `i64::MAX` (a corrupt shared cursor): no step past it
            }
            seq += 1;
        }
        hi
    }

    /// The scan of [`highest_published`](Self::highest_published) past its first sequence: in
    /// runs of consecutive slots (up to the ring's end), each run a plain slice walk that
    /// compares every word with the run's lap; no per-slot masking, shifting or bounds check.
    #[inline(never)]
    fn scan_from(&self, lo: i64, available: i64) -> i64 {
        let last_index = self.capacity.as_i64() - 1;
        let mut seq = lo;
        while seq <= available {
            let index = self.capacity.index_of(seq);
            let lap = self.capacity.lap_of(seq);
            // The run is `seq..=seq + last`: up to the ring's end (the lap changes there) or to
            // `available`. No step can overflow, even with `available` at `i64::MAX` (a corrupt
            // shared cursor): `remaining >= 0` and `seq + last <= available`.
            let remaining = available.saturating_sub(seq);
            let last = remaining.min(last_index - index as i64);
            let run = &self.laps[index..=index + last as usize];
            if let Some(unpublished) = run.iter().position(|l| l.load(Ordering::Acquire) != lap) {
                return seq + unpublished as i64 - 1;
            }
            if last == remaining {
                break;
            }
            seq += last + 1;
        }
        available
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn contiguous_prefix_across_laps() {
        let a = AvailabilityBuffer::new(Capacity::new(4).unwrap());
        a.mark(0);
        a.mark(2);
        assert_eq!(a.highest_published(0, 3), 0);
        a.mark(1);
        assert_eq!(a.highest_published(0, 3), 2);
        a.mark(4); // next lap, slot 0
        assert!(a.is_available(4) && !a.is_available(0));
    }

    /// The run-wise scan agrees with a slot-by-slot one for every start and bound, across the
    /// wrap and with slots of the previous and the next lap in the way.
    #[test]
    fn scan_matches_slot_by_slot() {
        let capacity = Capacity::new(8).unwrap();
        let a = AvailabilityBuffer::new(capacity);
        // Sequences 0..=12 published except 10 (slot 2 holds lap 0 still); 13 and 15 not yet.
        for seq in (0..=12).filter(|&s| s != 10).chain([14]) {
            a.mark(seq);
        }
        let naive = |lo: i64, available: i64| {
            let mut s = lo;
            while s <= available && a.is_available(s) {
                s += 1;
            }
            s - 1
        };
        for lo in 5..=15 {
            for available in lo - 1..=lo + 7 {
                assert_eq!(
                    a.highest_published(lo, available),
                    naive(lo, available),
                    "lo {lo}, available {available}"
                );
            }
        }
    }

    /// A slot lapped during a scan (it holds a later lap) counts as published for the floor,
    /// not for what a consumer may read; an older lap stops both.
    #[test]
    fn the_floor_counts_lapped_slots_as_published() {
        let a = AvailabilityBuffer::new(Capacity::new(4).unwrap());
        for seq in [0, 1, 2, 3, 5] {
            a.mark(seq);
        }
        // Slot 1 holds sequence 5 (lap 1) now; 4 (slot 0, lap 1) is not published.
        assert_eq!(a.highest_published(0, 3), 0);
        assert_eq!(a.published_floor(0, 3), 3);
        assert_eq!(a.published_floor(2, 6), 3);
        assert_eq!(a.published_floor(4, 6), 3);
    }

    #[test]
    fn bound_at_the_end_of_the_sequence_space() {
        let capacity = Capacity::new(4).unwrap();
        let a = AvailabilityBuffer::new(capacity);
        let lo = i64::MAX - 3;
        for seq in lo..=i64::MAX {
            a.mark(seq);
        }
        assert_eq!(a.highest_published(lo, i64::MAX), i64::MAX);
        assert_eq!(a.highest_published(i64::MAX, i64::MAX), i64::MAX);
    }
}
