//! [`AvailabilityBuffer`]: which slots multi producers have published, by lap number.

use seqflow_ring::Capacity;
use seqflow_sequence::sync::atomic::{AtomicI8, Ordering};
use seqflow_sequence::OwnedRef;

/// One byte per slot holding the lap (`seq >> log2(capacity)`) of the last sequence published
/// there, modulo 256 (the lap's low 8 bits: its *mark*). A sequence is published exactly when its
/// slot holds its lap's mark, so consumers find the highest contiguous published sequence with no
/// lock even when producers publish out of order.
///
/// Stores are `Release` (they publish the event written before) and loads `Acquire`.
///
/// A byte rather than a whole lap number keeps the marks of 64 slots in one cache line: a burst
/// of 100 events marks 2 or 3 lines instead of 7 or 8, and the consumer scanning them pulls as
/// few from the producers' cores. Eight bits are enough because of what a reader can find in a
/// slot:
/// - A reader that gates the producers (a stage, a poller, an in-process pool worker) asks about
///   a sequence `s` of lap `L` that it has not passed. No producer can claim `s + capacity`
///   before it does, and `s - capacity` was published before anybody could claim `s` (gating
///   readers handled it, or with none, claims never lap an unpublished slot). The slot holds
///   `L - 1` or `L`, which differ modulo 256. The same holds for every sequence between `s` and
///   the cursor.
/// - A reader that may have been lapped (a lossy subscriber) checks the claim bound after copying
///   an event, so a slot whose mark matches a lap 256 laps away is discarded as lapped, as any
///   other lapped copy.
/// - A shared-memory pool worker raised by the others while it waited (its sequence moved to the
///   pool's work sequence) may ask about a sequence left behind, and a mark 256 laps away may
///   match. The answer only ends its wait: it claims above the work sequence it reads next,
///   which is at least a lap above anything that answer covers.
/// - [`published_floor`](Self::published_floor) counts a slot up to 127 laps ahead as lapped
///   (published); one lapped 128 times more during a single scan reads as not yet published, so
///   the sequencer's `published` checks the cursor where the scan stops.
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
    marks: OwnedRef<[AtomicI8]>,
    capacity: Capacity,
}

impl AvailabilityBuffer {
    /// A heap buffer with every slot unpublished (mark -1, the lap before the first).
    pub fn new(capacity: Capacity) -> Self {
        let marks: Box<[AtomicI8]> = (0..capacity.get()).map(|_| AtomicI8::new(-1)).collect();
        Self {
            marks: OwnedRef::from_boxed_slice(marks),
            capacity,
        }
    }

    /// A buffer over memory owned elsewhere (a shared-memory segment). Returns `None` on a
    /// length mismatch. Internal to the shared-memory layer; not part of the public API.
    ///
    /// # Safety
    /// `marks` must hold `capacity` entries, each -1 when the ring is new, and nothing but
    /// sequencers may store into them: a store from elsewhere could mark a slot published
    /// while its producer is still writing it.
    #[doc(hidden)]
    pub unsafe fn __internal_from_parts(
        marks: OwnedRef<[AtomicI8]>,
        capacity: Capacity,
    ) -> Option<Self> {
        (marks.len() == capacity.get()).then_some(Self { marks, capacity })
    }

    /// The mark `seq`'s slot holds once `seq` is published: its lap's low 8 bits.
    #[inline(always)]
    fn mark_of(&self, seq: i64) -> i8 {
        self.capacity.lap_of(seq) as i8
    }

    /// The mark byte of `seq`'s slot.
    #[inline(always)]
    fn slot(&self, seq: i64) -> &AtomicI8 {
        let index = self.capacity.index_of(seq);
        debug_assert!(index < self.marks.len());
        // SAFETY: `index_of` masks with `capacity - 1`, so `index < capacity`, and `marks` holds
        // exactly `capacity` entries (`new` makes that many; `__internal_from_parts` refuses any
        // other length).
        unsafe { self.marks.get_unchecked(index) }
    }

    /// Mark `seq` published (`Release`: the slot's writes happen before any read that sees it).
    #[inline]
    pub(crate) fn mark(&self, seq: i64) {
        self.slot(seq).store(self.mark_of(seq), Ordering::Release);
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
    /// A mark is the lap modulo 256, so the initial -1 ("never published") equals the mark of
    /// some sequences (those of lap 255, and every 256 laps after): left as it is, a ring
    /// numbered from one of them would show slots published before anybody wrote them. The
    /// caller makes sure nothing claims or marks a slot meanwhile.
    pub(crate) fn prepare_start(&self, next: i64) {
        let first_index = self.capacity.index_of(next);
        let first_lap = next >> self.capacity.shift();
        for (index, slot) in self.marks.iter().enumerate() {
            // The first sequence at `index` is in `next`'s lap from `next`'s slot on, and in
            // the lap after for the slots before it.
            let lap = first_lap + i64::from(index < first_index);
            slot.store((lap as i8).wrapping_sub(1), Ordering::Release);
        }
    }

    /// Whether `seq`'s slot holds `seq`'s mark: whether `seq` is published, for a sequence no
    /// later one has claimed the slot of (marks repeat every 256 laps; the sequencers'
    /// `is_available` also looks at the cursor).
    #[inline]
    pub fn is_available(&self, seq: i64) -> bool {
        self.slot(seq).load(Ordering::Acquire) == self.mark_of(seq)
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
    /// already lapped (its slot holds a later lap, up to 127 laps later: a producer published a
    /// sequence a whole number of laps after it, which no producer can claim before this one is
    /// published);
    /// `lo - 1` if `lo` is neither. Unlike [`highest_published`](Self::highest_published) it
    /// gives a floor that stays right while producers lap slots during the scan: what a
    /// sequencer's `published` reports, never what a consumer may read (a lapped slot holds
    /// another event).
    pub fn published_floor(&self, lo: i64, hi: i64) -> i64 {
        let mut seq = lo;
        while seq <= hi {
            let mark = self.slot(seq).load(Ordering::Acquire);
            // Marks wrap at 256: one 1 to 127 laps ahead is a later lap, one 1 to 128 behind an
            // earlier one (see the type's docs for a slot lapped more often during the scan).
            if mark.wrapping_sub(self.mark_of(seq)) < 0 {
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
    /// compares every mark with the run's; no per-slot masking, shifting or bounds check.
    #[inline(never)]
    fn scan_from(&self, lo: i64, available: i64) -> i64 {
        let last_index = self.capacity.as_i64() - 1;
        let mut seq = lo;
        while seq <= available {
            let index = self.capacity.index_of(seq);
            let mark = self.mark_of(seq);
            // The run is `seq..=seq + last`: up to the ring's end (the lap changes there) or to
            // `available`. No step can overflow, even with `available` at `i64::MAX` (a corrupt
            // shared cursor): `remaining >= 0` and `seq + last <= available`.
            let remaining = available.saturating_sub(seq);
            let last = remaining.min(last_index - index as i64);
            let run = &self.marks[index..=index + last as usize];
            if let Some(unpublished) = run.iter().position(|l| l.load(Ordering::Acquire) != mark) {
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

    /// Marks are laps modulo 256: a slot published 256 laps later holds the same mark (the
    /// buffer alone cannot tell them apart; readers never ask it about a lapped sequence), while
    /// the lap before always differs, and the floor counts up to 127 laps ahead as lapped.
    #[test]
    fn marks_repeat_every_256_laps() {
        let a = AvailabilityBuffer::new(Capacity::new(4).unwrap());
        a.mark(1);
        assert!(a.is_available(1) && !a.is_available(5));
        assert!(a.is_available(1 + 256 * 4), "the same mark 256 laps later");
        // Slot 1 at every lap from 1 to 300: the sequence one lap later is never published,
        // the one of the lap itself always is.
        for lap in 1..300i64 {
            let seq = 1 + lap * 4;
            assert!(!a.is_available(seq), "lap {lap} before its mark");
            a.mark(seq);
            assert!(a.is_available(seq) && !a.is_available(seq + 4), "lap {lap}");
        }
        // Slot 2 lapped 127 times past sequence 2 counts as published for the floor, 128 times
        // as an earlier lap (a floor too low, never too high).
        a.mark(0);
        a.mark(2 + 127 * 4);
        a.mark(3);
        assert_eq!(a.published_floor(0, 3), 3);
        a.mark(2 + 128 * 4);
        assert_eq!(a.published_floor(0, 3), 1);
    }

    /// A ring numbered from lap 255 (whose mark is the initial -1) starts with no slot
    /// published, and so does one numbered from a lap 256 later.
    #[test]
    fn start_at_the_lap_whose_mark_is_the_initial_one() {
        for first in [255 * 4 + 2, (255 + 256) * 4, 1 << 40] {
            let a = AvailabilityBuffer::new(Capacity::new(4).unwrap());
            a.prepare_start(first);
            assert_eq!(
                a.highest_published(first, first + 3),
                first - 1,
                "from {first}"
            );
            assert!(
                (first - 4..first).all(|s| a.is_available(s)),
                "from {first}"
            );
            a.mark(first);
            a.mark(first + 1);
            assert_eq!(
                a.highest_published(first, first + 3),
                first + 1,
                "from {first}"
            );
        }
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
