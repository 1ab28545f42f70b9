//! [`PrefetchPlan`]: which slot a producer publishing one event at a time fetches for writing
//! ahead of its claim, and how often.

use seqflow_ring::{RingBuffer, Slot, WritePrefetch, CACHE_LINE as LINE};

/// How far ahead of its claim a one-at-a-time producer fetches a slot for writing, in bytes:
/// eight lines, 64 events of 8 bytes or 4 of 128, so that the line has arrived when the
/// producer gets there (a hand-over from another core takes a few hundred nanoseconds, several
/// events' time), and near enough that the consumers left it long ago on any ring of more than
/// a few slots. 512 measured better than 256 and than 4 slots whatever their size
/// (docs/benchmarks.md, section 28).
const PREFETCH_BYTES: usize = 512;

/// Where a producer of one ring fetches ahead: `ahead` slots past its claim, and only after
/// the claims whose end `e` has `e & mask == phase`. For slots whose size divides a line those
/// are the claims whose slot `ahead` further starts a cache line ([`RingBuffer::starts_line`]),
/// so that small events sharing a line ask for it once (with several producers each asking, the
/// line would go back and forth between their cores); for any other size, every claim. Worked
/// out once per producer, CPU support included, so a publish pays a mask, a compare and, when
/// it asks, an add; the mask is a constant for events sized at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PrefetchPlan {
    ahead: i64,
    /// [`line_mask`] of the ring's stride.
    mask: i64,
    /// -1 (no `e & mask` is negative) in a plan that never asks; 0 where `mask` is 0.
    phase: i64,
    /// The CPU's write prefetch (`None`: the plan never asks).
    hint: Option<WritePrefetch>,
    /// The ring's stride in bytes, for slots sized at run time ([`second_line`](Self::second_line),
    /// [`in_bursts`](Self::in_bursts)); 0 in a plan that never asks.
    stride: usize,
}

impl PrefetchPlan {
    /// No prefetch.
    const NONE: PrefetchPlan = PrefetchPlan {
        ahead: 0,
        mask: 0,
        phase: -1,
        hint: None,
        stride: 0,
    };

    /// The plan for a producer writing into `ring` on this CPU: none where it has no write
    /// prefetch.
    pub fn for_ring<E: ?Sized + Slot>(ring: &RingBuffer<E>) -> Self {
        match WritePrefetch::detect() {
            Some(hint) => Self::layout(ring, Some(hint)),
            None => Self::NONE,
        }
    }

    /// Where and how often the plan for `ring` asks, with `hint` to ask (`None`: only worked
    /// out, never asked).
    fn layout<E: ?Sized + Slot>(ring: &RingBuffer<E>, hint: Option<WritePrefetch>) -> Self {
        let ahead = prefetch_distance(ring.stride(), ring.capacity());
        let mask = line_mask(ring.stride());
        // No plan for zero-sized events (no line to fetch), nor for a ring of fewer slots than
        // a line holds: its slots do not repeat their places in their lines every `mask + 1`
        // sequences, and so small a ring needs no prefetch anyway. A slot type whose `STRIDE`
        // differs from its ring's stride (only a broken impl of the unsafe `Slot` could) is
        // not refused: it would only get its hints in other places (docs/benchmarks.md,
        // section 29, on what refusing it cost).
        if ahead == 0 || ring.stride() == 0 || ring.capacity() <= mask as usize {
            return Self::NONE;
        }
        // Every slot of a size that does not divide a line counts. Otherwise the capacity is a
        // multiple of `mask + 1`, so one end in `mask + 1` consecutive ones is followed by a
        // line's first slot (one whatever the ring's alignment, as a slot size dividing the
        // line starts one slot in each line).
        if mask == 0 {
            return PrefetchPlan {
                ahead,
                mask,
                phase: 0,
                hint,
                stride: ring.stride(),
            };
        }
        match (0..=mask).find(|&end| ring.starts_line(end + ahead)) {
            Some(phase) => PrefetchPlan {
                ahead,
                mask,
                phase,
                hint,
                stride: ring.stride(),
            },
            None => Self::NONE,
        }
    }

    /// The sequence whose slot a producer that has just claimed up to `end` should fetch for
    /// writing, if any, and the CPU's prefetch to fetch it with.
    #[inline(always)]
    pub fn slot_to_fetch<E: ?Sized + Slot>(&self, end: i64) -> Option<(i64, WritePrefetch)> {
        let asks = match E::STRIDE {
            // Every slot starts a line, and a plan with a hint then has phase 0: the hint's
            // test alone decides (one compare less per event).
            Some(stride) if line_mask(stride) == 0 => true,
            _ => self.asks_after::<E>(end),
        };
        if !asks {
            return None;
        }
        Some((end.wrapping_add(self.ahead), self.hint?))
    }

    /// Fetch for writing the slot a producer that has just claimed up to `end` (or, in a claim
    /// of several, is about to write `end`) should fetch, if any: its first line, and its
    /// second where it has one ([`second_line`](Self::second_line)). The slot is `ahead` past
    /// `end`, never `end`'s own (`0 < ahead < capacity` in every plan that asks).
    #[inline(always)]
    pub fn fetch_after<E: ?Sized + Slot>(&self, ring: &RingBuffer<E>, end: i64) {
        if let Some((seq, hint)) = self.slot_to_fetch::<E>(end) {
            let first = ring.slot_ptr(seq).cast::<u8>().cast_const();
            hint.fetch(first);
            if self.second_line::<E>() {
                // A hint takes any address; the slot is longer than a line, so this is its own.
                hint.fetch(first.wrapping_add(LINE));
            }
        }
    }

    /// Whether a producer fetching a slot of `E` also fetches the line after the slot's first:
    /// for slots longer than a line. A 128-byte event is two lines, and the write of its second
    /// one stalled on the consumers' cores as the first did before it was fetched ahead
    /// (1p3c-multicast-b128-single about 78 → 85 M events/s, docs/benchmarks.md section 38).
    /// Only the first two: the CPU's own prefetcher follows a longer run of writes.
    #[inline(always)]
    pub fn second_line<E: ?Sized + Slot>(&self) -> bool {
        E::STRIDE.unwrap_or(self.stride) > LINE
    }

    /// Whether a producer writing a claim of several events fetches ahead as it comes to each
    /// of them: for slots of a line or more, in a plan that asks at all. A burst of such
    /// events crosses a 4 KiB page every few dozen events, where the CPU's own prefetcher stops
    /// and starts again; fetching 512 bytes ahead keeps the lines coming (1p1c-b128-burst
    /// about 150 → 170 M events/s, docs/benchmarks.md section 38). Smaller events gained
    /// nothing measurable, and with several producers the fetch ran into the next producer's
    /// claim.
    #[inline(always)]
    pub fn in_bursts<E: ?Sized + Slot>(&self) -> bool {
        self.hint.is_some() && E::STRIDE.unwrap_or(self.stride) >= LINE
    }

    /// Whether the plan asks after a claim ending at `end` (hint or not).
    #[inline(always)]
    fn asks_after<E: ?Sized + Slot>(&self, end: i64) -> bool {
        let mask = match E::STRIDE {
            Some(stride) => line_mask(stride),
            None => self.mask,
        };
        end & mask == self.phase
    }
}

/// One less than the number of slots `stride` bytes long in a cache line, for strides that
/// divide a line; 0 (every slot counts) for any other.
#[inline(always)]
const fn line_mask(stride: usize) -> i64 {
    if stride > 0 && stride.is_power_of_two() && stride < LINE {
        (LINE / stride) as i64 - 1
    } else {
        0
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

    /// The plan's arithmetic, whether or not this CPU has the prefetch.
    fn layout_of<E: ?Sized + Slot>(ring: &RingBuffer<E>) -> PrefetchPlan {
        PrefetchPlan::layout(ring, None)
    }

    /// The sequence the plan asks for after a claim ending at `end`.
    fn asked<E: ?Sized + Slot>(plan: &PrefetchPlan, end: i64) -> Option<i64> {
        plan.asks_after::<E>(end)
            .then(|| end.wrapping_add(plan.ahead))
    }

    /// The plan asks exactly for the sequences whose slot `starts_line` says starts a line.
    fn asks_once_per_line<E: ?Sized + Slot>(ring: &RingBuffer<E>) {
        let plan = layout_of(ring);
        for end in 0..3 * ring.capacity() as i64 {
            let seq = end + plan.ahead;
            let want = ring.starts_line(seq).then_some(seq);
            assert_eq!(asked::<E>(&plan, end), want, "{plan:?}, end {end}");
        }
    }

    #[test]
    fn the_plan_asks_once_per_line_for_every_slot_size() {
        asks_once_per_line(&RingBuffer::new(64, || 0u64).unwrap());
        asks_once_per_line(&RingBuffer::new(64, || 0u8).unwrap());
        asks_once_per_line(&RingBuffer::new(64, || [0u8; 32]).unwrap());
        asks_once_per_line(&RingBuffer::new(16, || [0u64; 16]).unwrap());
        asks_once_per_line(&RingBuffer::<DynByteSlot>::with_byte_slots(64, 8).unwrap());
        // Rings smaller than a line's worth of slots, and rings of one slot, never ask.
        for ring in [
            RingBuffer::new(4, || 0u64).unwrap(),
            RingBuffer::new(1, || 0u64).unwrap(),
        ] {
            let plan = layout_of(&ring);
            assert_eq!(plan, PrefetchPlan::NONE);
            assert_eq!(PrefetchPlan::for_ring(&ring), PrefetchPlan::NONE);
            assert!((-1..64).all(|end| asked::<u64>(&plan, end).is_none()));
        }
        let wide = layout_of(&RingBuffer::new(1, || [0u64; 16]).unwrap());
        assert_eq!(wide, PrefetchPlan::NONE);
        assert!((-1..64).all(|end| asked::<[u64; 16]>(&wide, end).is_none()));
    }

    #[test]
    fn zero_sized_events_never_ask() {
        let ring = RingBuffer::new(64, || ()).unwrap();
        assert_eq!(layout_of(&ring), PrefetchPlan::NONE);
        assert_eq!(PrefetchPlan::for_ring(&ring), PrefetchPlan::NONE);
        assert!((0..64).all(|end| PrefetchPlan::for_ring(&ring)
            .slot_to_fetch::<()>(end)
            .is_none()));
    }

    #[test]
    fn odd_and_runtime_sizes_ask_every_time() {
        let odd = RingBuffer::new(64, || [0u8; 24]).unwrap();
        let plan = layout_of(&odd);
        assert!((0..64).all(|end| asked::<[u8; 24]>(&plan, end).is_some()));
        let bytes = RingBuffer::<DynByteSlot>::with_byte_slots(64, 40).unwrap();
        let plan = layout_of(&bytes);
        assert!((0..64).all(|end| asked::<DynByteSlot>(&plan, end).is_some()));
    }

    #[test]
    fn a_cpu_without_the_prefetch_never_asks() {
        let ring = RingBuffer::new(64, || 0u64).unwrap();
        let plan = PrefetchPlan::for_ring(&ring);
        match WritePrefetch::detect() {
            Some(hint) => {
                assert_eq!(plan, PrefetchPlan::layout(&ring, Some(hint)));
                for end in 0..64 {
                    let seq = plan.slot_to_fetch::<u64>(end).map(|(seq, _)| seq);
                    assert_eq!(seq, asked::<u64>(&plan, end));
                }
                let asked = (0..64).filter_map(|end| plan.slot_to_fetch::<u64>(end));
                assert_eq!(asked.count(), 8, "once per line");
            }
            None => {
                assert_eq!(plan, PrefetchPlan::NONE);
                assert!((0..64).all(|end| plan.slot_to_fetch::<u64>(end).is_none()));
            }
        }
        // Slots of a line or more: every claim asks where the CPU can, none where it cannot,
        // and a ring of one slot never does.
        let wide = RingBuffer::new(8, || [0u64; 16]).unwrap();
        let plan = PrefetchPlan::for_ring(&wide);
        let asking = (0..64).filter(|&end| plan.slot_to_fetch::<[u64; 16]>(end).is_some());
        let expected = if WritePrefetch::detect().is_some() {
            64
        } else {
            0
        };
        assert_eq!(asking.count(), expected);
        let one = PrefetchPlan::for_ring(&RingBuffer::new(1, || [0u64; 16]).unwrap());
        assert!((0..64).all(|end| one.slot_to_fetch::<[u64; 16]>(end).is_none()));
    }

    #[test]
    fn slots_longer_than_a_line_fetch_their_second_line_too() {
        let wide = layout_of(&RingBuffer::new(64, || [0u64; 16]).unwrap());
        assert!(wide.second_line::<[u64; 16]>());
        let line = layout_of(&RingBuffer::new(64, || [0u64; 8]).unwrap());
        assert!(!line.second_line::<[u64; 8]>());
        assert!(!layout_of(&RingBuffer::new(64, || 0u64).unwrap()).second_line::<u64>());
        // Sized at run time: the plan remembers the ring's stride.
        let bytes = RingBuffer::<DynByteSlot>::with_byte_slots(64, 100).unwrap();
        assert!(layout_of(&bytes).second_line::<DynByteSlot>());
        let small = RingBuffer::<DynByteSlot>::with_byte_slots(64, 40).unwrap();
        assert!(!layout_of(&small).second_line::<DynByteSlot>());
    }

    /// The stride the plan keeps is the ring's on every path, at the exact one-line boundary
    /// of a run-time slot too, and a burst's fetch never targets the slot being written.
    #[test]
    fn the_plan_keeps_the_ring_stride_on_every_path() {
        // Bursts fetch only where the CPU can (never under Miri): the expectations say so. The
        // stride is checked on plans worked out without the CPU's answer.
        let can = WritePrefetch::detect().is_some();
        for payload in [0usize, 8, 24, 40, 48, 56, 64, 120, 128, 1000] {
            let ring = RingBuffer::<DynByteSlot>::with_byte_slots(64, payload).unwrap();
            let stride = ring.stride();
            let plan = layout_of(&ring);
            assert_eq!(plan.stride, stride);
            let bursts = can && stride >= LINE;
            let asking = PrefetchPlan::for_ring(&ring);
            assert_eq!(asking.in_bursts::<DynByteSlot>(), bursts, "stride {stride}");
            assert_eq!(
                plan.second_line::<DynByteSlot>(),
                stride > LINE,
                "stride {stride}"
            );
        }
        fn sized<const N: usize>() {
            let ring = RingBuffer::new(64, || [0u8; N]).unwrap();
            let plan = layout_of(&ring);
            assert_eq!(plan.stride, N);
            let bursts = WritePrefetch::detect().is_some() && N >= LINE;
            let asking = PrefetchPlan::for_ring(&ring);
            assert_eq!(asking.in_bursts::<[u8; N]>(), bursts, "{N}");
            assert_eq!(plan.second_line::<[u8; N]>(), N > LINE, "{N}");
        }
        sized::<8>();
        sized::<32>();
        sized::<40>();
        sized::<64>();
        sized::<72>();
        sized::<128>();
        for capacity in [2usize, 4, 8, 64, 1024] {
            for payload in [8usize, 56, 120, 4096] {
                let ring = RingBuffer::<DynByteSlot>::with_byte_slots(capacity, payload).unwrap();
                let plan = layout_of(&ring);
                if plan != PrefetchPlan::NONE {
                    assert!(
                        plan.ahead > 0 && (plan.ahead as usize) < capacity,
                        "{plan:?}"
                    );
                }
            }
        }
        // A plan that never asks never fetches in bursts either, whatever the slot.
        let one = RingBuffer::<DynByteSlot>::with_byte_slots(1, 120).unwrap();
        let none = PrefetchPlan::for_ring(&one);
        assert_eq!(none, PrefetchPlan::NONE);
        assert!(!none.in_bursts::<DynByteSlot>() && !none.in_bursts::<[u8; 128]>());
        assert!((-1..64).all(|end| none.slot_to_fetch::<DynByteSlot>(end).is_none()));
    }

    #[test]
    fn sequences_near_the_top_wrap_without_overflow() {
        let plan = layout_of(&RingBuffer::new(64, || 0u64).unwrap());
        for end in [i64::MAX - 40, i64::MAX - 1, i64::MAX] {
            // Whatever it answers, it answers (no overflow panic in debug builds).
            let _ = asked::<u64>(&plan, end);
        }
    }
}
