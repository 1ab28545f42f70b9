//! [`Capacity`]: a validated ring size (a power of two) and its index mask.

/// Why a ring size was refused.
///
/// ```
/// use seqflow_ring::{Capacity, CapacityError};
/// assert_eq!(Capacity::new(0), Err(CapacityError::Zero));
/// assert_eq!(Capacity::new(6), Err(CapacityError::NotPowerOfTwo(6)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CapacityError {
    /// A ring must have at least one slot.
    #[error("ring capacity must be at least 1")]
    Zero,
    /// Slots are found by masking, so the size must be a power of two.
    #[error("ring capacity {0} is not a power of two (try {next})", next = .0.checked_next_power_of_two().unwrap_or(MAX_CAPACITY))]
    NotPowerOfTwo(usize),
    /// Larger than sequences (i64) or the index arithmetic can address.
    #[error("ring capacity {0} is too large (at most 2^30 slots)")]
    TooLarge(usize),
    /// More consumers than a sequencer's gating table can hold.
    #[error("room for {requested} consumers asked for; a ring has room for at most {max}")]
    TooManyConsumers {
        /// The number asked for.
        requested: usize,
        /// The limit.
        max: usize,
    },
    /// The slots fit the limit but their bytes do not fit in memory.
    #[error("{slots} slots of {max_payload} bytes do not fit in the address space")]
    TooManyBytes {
        /// The number of slots asked for.
        slots: usize,
        /// The payload size asked for.
        max_payload: usize,
    },
}

/// The largest ring: 2^30 slots, so that slot indexes and byte offsets stay far from overflow.
/// (Lap numbers, `seq >> log2(capacity)`, are kept truncated to 32 bits by the multi-producer
/// availability buffer: a slot only ever compares its lap with the one before, so the
/// truncation is harmless once the buffer is prepared for the ring's first sequence.)
pub const MAX_CAPACITY: usize = 1 << 30;

/// A ring size that is a power of two between 1 and 2^30.
///
/// ```
/// use seqflow_ring::Capacity;
/// let c = Capacity::new(16).unwrap();
/// assert_eq!(c.get(), 16);
/// assert_eq!(c.mask(), 15);
/// assert_eq!(c.shift(), 4);
/// assert_eq!(c.index_of(17), 1);
/// assert_eq!(c.lap_of(33), 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Capacity {
    /// `size - 1`, kept rather than the size because the slot index (`seq & mask`) is on every
    /// hot path.
    mask: usize,
    /// `log2(size)`, kept for the lap number of multi-producer availability marks.
    shift: u32,
}

impl Capacity {
    /// Validate `size`.
    ///
    /// ```
    /// assert!(seqflow_ring::Capacity::new(1024).is_ok());
    /// assert!(seqflow_ring::Capacity::new(1000).is_err());
    /// ```
    pub const fn new(size: usize) -> Result<Self, CapacityError> {
        if size == 0 {
            Err(CapacityError::Zero)
        } else if size > MAX_CAPACITY {
            // Before the power-of-two check, whose message suggests the next power of two.
            Err(CapacityError::TooLarge(size))
        } else if !size.is_power_of_two() {
            Err(CapacityError::NotPowerOfTwo(size))
        } else {
            Ok(Self {
                mask: size - 1,
                shift: size.trailing_zeros(),
            })
        }
    }

    /// The number of slots.
    ///
    /// ```
    /// assert_eq!(seqflow_ring::Capacity::new(4).unwrap().get(), 4);
    /// ```
    #[inline]
    pub const fn get(self) -> usize {
        self.mask + 1
    }

    /// The number of slots as a sequence delta.
    ///
    /// ```
    /// assert_eq!(seqflow_ring::Capacity::new(4).unwrap().as_i64(), 4);
    /// ```
    #[inline]
    pub const fn as_i64(self) -> i64 {
        self.get() as i64
    }

    /// `capacity - 1`: `seq & mask` is the slot of `seq`.
    ///
    /// ```
    /// assert_eq!(seqflow_ring::Capacity::new(8).unwrap().mask(), 7);
    /// ```
    #[inline]
    pub const fn mask(self) -> usize {
        self.mask
    }

    /// `log2(capacity)`: `seq >> shift` is the lap of `seq`.
    ///
    /// ```
    /// assert_eq!(seqflow_ring::Capacity::new(8).unwrap().shift(), 3);
    /// ```
    #[inline]
    pub const fn shift(self) -> u32 {
        self.shift
    }

    /// The slot index of a (non-negative) sequence.
    ///
    /// ```
    /// assert_eq!(seqflow_ring::Capacity::new(8).unwrap().index_of(13), 5);
    /// ```
    #[inline]
    pub const fn index_of(self, seq: i64) -> usize {
        (seq as usize) & self.mask()
    }

    /// The lap number of a (non-negative) sequence: how many times the ring was filled before it.
    /// Availability buffers keep its low 8 bits per slot (see `AvailabilityBuffer` in
    /// `seqflow-sequencer` for why a slot never holds a lap 256 away from the one a reader
    /// waits for).
    ///
    /// ```
    /// assert_eq!(seqflow_ring::Capacity::new(8).unwrap().lap_of(16), 2);
    /// ```
    #[inline]
    pub const fn lap_of(self, seq: i64) -> i32 {
        (seq >> self.shift()) as i32
    }
}

impl TryFrom<usize> for Capacity {
    type Error = CapacityError;

    fn try_from(size: usize) -> Result<Self, Self::Error> {
        Self::new(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_bad_sizes() {
        assert_eq!(Capacity::new(0), Err(CapacityError::Zero));
        assert_eq!(Capacity::new(3), Err(CapacityError::NotPowerOfTwo(3)));
        assert_eq!(
            Capacity::new(1 << 31),
            Err(CapacityError::TooLarge(1 << 31))
        );
        assert_eq!(
            Capacity::new(usize::MAX),
            Err(CapacityError::TooLarge(usize::MAX))
        );
        assert_eq!(
            Capacity::new((1 << 30) + 1),
            Err(CapacityError::TooLarge((1 << 30) + 1))
        );
        assert!(CapacityError::NotPowerOfTwo((1 << 29) + 1)
            .to_string()
            .contains("try 1073741824"));
        assert!(Capacity::new(1).is_ok());
        assert!(CapacityError::NotPowerOfTwo(6)
            .to_string()
            .contains("try 8"));
    }

    proptest! {
        #[test]
        fn index_and_lap_decompose_the_sequence(shift in 0u32..=30, seq in 0i64..i64::MAX) {
            let c = Capacity::new(1usize << shift).unwrap();
            let index = c.index_of(seq) as i64;
            let lap = seq >> c.shift();
            prop_assert!(index < c.as_i64());
            prop_assert_eq!(lap * c.as_i64() + index, seq);
            prop_assert_eq!(c.lap_of(seq), lap as i32);
        }

        #[test]
        fn sequences_one_lap_apart_share_a_slot(shift in 0u32..=20, seq in 0i64..(i64::MAX / 2)) {
            let c = Capacity::new(1usize << shift).unwrap();
            prop_assert_eq!(c.index_of(seq), c.index_of(seq + c.as_i64()));
            prop_assert_ne!(c.lap_of(seq), c.lap_of(seq + c.as_i64()));
        }

        #[test]
        fn any_non_power_of_two_is_refused(size in 1usize..(1 << 31)) {
            prop_assert_eq!(Capacity::new(size).is_ok(), size.is_power_of_two() && size <= MAX_CAPACITY);
        }
    }
}
