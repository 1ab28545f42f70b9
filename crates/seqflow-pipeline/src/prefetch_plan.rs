//! [`PrefetchPlan`]: which slot a producer publishing one event at a time fetches for writing
//! ahead of its claim, and how often.

use seqflow_ring::{RingBuffer, Slot, CACHE_LINE as LINE};

/// How far ahead of its claim a one-at-a-time producer fetches a slot for writing, in bytes:
/// eight lines, 64 events of 8 bytes or 4 of 128, so that the line has arrived when the
/// producer gets there (a hand-over from another core takes a few hundred nanoseconds, several
/// events' time), and near enough that the consumers left it long ago on any ring of more than
/// a few slots. 512 measured better than 256 and than 4 slots whatever their size
/// (docs/benchmarks.md, section 28).
const PREFETCH_BYTES: usize = 512;

/// Where a producer of one ring fetches ahead: `ahead` slots past its claim, and only for the
/// sequences `s` with `s & mask == phase`, the slots that start a cache line
/// ([`RingBuffer::starts_line`]), so that small events sharing a line ask for it once (with
/// several producers each asking, the line would go back and forth between their cores).
/// Worked out once per producer, so a publish pays an add, a mask and a compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PrefetchPlan {
    ahead: i64,
    mask: i64,
    phase: i64,
}

impl PrefetchPlan {
    /// No prefetch: `phase` -1 matches no `s & mask` (never negative).
    const NONE: PrefetchPlan = PrefetchPlan {
        ahead: 0,
        mask: 0,
        phase: -1,
    };

    /// The plan for a producer writing into `ring`.
    pub fn for_ring<E: ?Sized + Slot>(ring: &RingBuffer<E>) -> Self {
        let ahead = prefetch_distance(ring.stride(), ring.capacity());
        if ahead == 0 {
            return Self::NONE;
        }
        // Slots that divide a line repeat their place in it every `per_line` sequences (the
        // capacity is a multiple of `per_line` here); any other size asks every time.
        let stride = ring.stride();
        let per_line = if stride > 0 && stride.is_power_of_two() && stride < LINE {
            LINE / stride
        } else {
            1
        };
        if per_line == 1 || ring.capacity() < per_line {
            return PrefetchPlan {
                ahead,
                mask: 0,
                phase: 0,
            };
        }
        let mask = per_line as i64 - 1;
        match (0..per_line as i64).find(|&s| ring.starts_line(s)) {
            Some(phase) => PrefetchPlan { ahead, mask, phase },
            // Unreachable for a stride dividing a line; asking every time is still right.
            None => PrefetchPlan {
                ahead,
                mask: 0,
                phase: 0,
            },
        }
    }

    /// The sequence whose slot a producer that has just claimed up to `end` should fetch for
    /// writing, if any.
    #[inline(always)]
    pub fn slot_to_fetch(&self, end: i64) -> Option<i64> {
        let seq = end.wrapping_add(self.ahead);
        (seq & self.mask == self.phase).then_some(seq)
    }
}

/// The prefetch distance in slots for a ring of `capacity` slots `stride` bytes apart: about
/// [`PREFETCH_BYTES`] ahead, at least one slot, at most half the ring (0, none, for a ring of
/// one slot).
fn prefetch_distance(stride: usize, capacity: usize) -> i64 {
    let slots = (PREFETCH_BYTES / stride.max(1)).max(1);
    slots.min(capacity / 2) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use seqflow_ring::DynByteSlot;

    #[test]
    fn the_prefetch_distance_is_512_bytes_within_half_the_ring() {
        assert_eq!(prefetch_distance(8, 4096), 64);
        assert_eq!(prefetch_distance(128, 4096), 4);
        assert_eq!(prefetch_distance(4096, 4096), 1, "at least the next slot");
        assert_eq!(prefetch_distance(8, 16), 8, "at most half the ring");
        assert_eq!(prefetch_distance(8, 1), 0, "a ring of one slot: none");
        assert_eq!(
            prefetch_distance(0, 8),
            4,
            "zero-sized events count as one byte"
        );
    }

    /// The plan asks exactly for the sequences whose slot `starts_line` says starts a line.
    fn asks_once_per_line<E: ?Sized + Slot>(ring: &RingBuffer<E>) {
        let plan = PrefetchPlan::for_ring(ring);
        for end in 0..3 * ring.capacity() as i64 {
            let seq = end + plan.ahead;
            let want = ring.starts_line(seq).then_some(seq);
            assert_eq!(plan.slot_to_fetch(end), want, "{plan:?}, end {end}");
        }
    }

    #[test]
    fn the_plan_asks_once_per_line_for_every_slot_size() {
        asks_once_per_line(&RingBuffer::new(64, || 0u64).unwrap());
        asks_once_per_line(&RingBuffer::new(64, || 0u8).unwrap());
        asks_once_per_line(&RingBuffer::new(64, || [0u8; 32]).unwrap());
        asks_once_per_line(&RingBuffer::new(16, || [0u64; 16]).unwrap());
        // A ring smaller than a line's worth of slots asks every time.
        let tiny = RingBuffer::new(4, || 0u64).unwrap();
        assert_eq!(
            PrefetchPlan::for_ring(&tiny),
            PrefetchPlan {
                ahead: 2,
                mask: 0,
                phase: 0
            }
        );
        // A ring of one slot never asks.
        let one = RingBuffer::new(1, || 0u64).unwrap();
        assert_eq!(PrefetchPlan::for_ring(&one).slot_to_fetch(0), None);
        assert_eq!(PrefetchPlan::for_ring(&one).slot_to_fetch(-1), None);
    }

    #[test]
    fn odd_and_runtime_sizes_ask_every_time() {
        let odd = RingBuffer::new(64, || [0u8; 24]).unwrap();
        let plan = PrefetchPlan::for_ring(&odd);
        assert!((0..64).all(|end| plan.slot_to_fetch(end).is_some()));
        let bytes = RingBuffer::<DynByteSlot>::with_byte_slots(64, 40).unwrap();
        let plan = PrefetchPlan::for_ring(&bytes);
        assert!((0..64).all(|end| plan.slot_to_fetch(end).is_some()));
    }

    #[test]
    fn sequences_near_the_top_wrap_without_overflow() {
        let plan = PrefetchPlan::for_ring(&RingBuffer::new(64, || 0u64).unwrap());
        for end in [i64::MAX - 40, i64::MAX - 1, i64::MAX] {
            // Whatever it answers, it answers (no overflow panic in debug builds).
            let _ = plan.slot_to_fetch(end);
        }
    }
}
