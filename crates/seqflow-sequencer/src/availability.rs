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

    /// Mark `seq` published (`Release`: the slot's writes happen before any read that sees it).
    #[inline]
    pub(crate) fn mark(&self, seq: i64) {
        self.laps[self.capacity.index_of(seq)].store(self.capacity.lap_of(seq), Ordering::Release);
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

    /// Whether `seq` is published.
    #[inline]
    pub fn is_available(&self, seq: i64) -> bool {
        self.laps[self.capacity.index_of(seq)].load(Ordering::Acquire) == self.capacity.lap_of(seq)
    }

    /// The highest `s` in `lo..=available` with `lo..=s` all published; `lo - 1` if `lo` is not.
    #[inline]
    pub fn highest_published(&self, lo: i64, available: i64) -> i64 {
        // An inclusive range cannot overflow, even at `i64::MAX` (a corrupt shared cursor).
        for seq in lo..=available {
            if !self.is_available(seq) {
                return seq - 1;
            }
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
}
