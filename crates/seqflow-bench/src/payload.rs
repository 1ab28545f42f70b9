//! Event payloads the scenarios move: a `u64` and a 128-byte event, with a self-check.

use serde::Serialize;

/// Which payload a scenario moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadKind {
    /// One `u64`.
    U64,
    /// 128 bytes (16 `u64` words, 64-byte aligned).
    Bytes128,
}

impl PayloadKind {
    /// Both kinds, in table order.
    pub const ALL: [PayloadKind; 2] = [PayloadKind::U64, PayloadKind::Bytes128];

    /// The short name used in scenario names.
    pub fn name(self) -> &'static str {
        match self {
            PayloadKind::U64 => "u64",
            PayloadKind::Bytes128 => "b128",
        }
    }

    /// The size of one event in bytes.
    pub fn size(self) -> usize {
        match self {
            PayloadKind::U64 => std::mem::size_of::<u64>(),
            PayloadKind::Bytes128 => std::mem::size_of::<Bytes128>(),
        }
    }
}

/// An event type the scenarios can move: made from a value, written in place, read back with a
/// consistency check.
///
/// ```
/// use seqflow_bench::payload::{Bytes128, Payload};
/// let mut e = Bytes128::zero();
/// e.set(41);
/// assert_eq!(e.read(), Some(41));
/// assert_eq!(Bytes128::new(7).read(), Some(7));
/// ```
pub trait Payload: Copy + Send + Sync + 'static {
    /// Which kind this is.
    const KIND: PayloadKind;

    /// The event a ring slot starts with.
    fn zero() -> Self;

    /// An event carrying `value` (for channels, which move events by value).
    #[inline]
    fn new(value: u64) -> Self {
        let mut e = Self::zero();
        e.set(value);
        e
    }

    /// Overwrite this event in place so that it carries `value` (the whole event is written).
    fn set(&mut self, value: u64);

    /// The value carried, or `None` if the event is not consistent (a torn or stale write).
    fn read(&self) -> Option<u64>;
}

impl Payload for u64 {
    const KIND: PayloadKind = PayloadKind::U64;

    #[inline]
    fn zero() -> Self {
        0
    }

    #[inline]
    fn set(&mut self, value: u64) {
        *self = value;
    }

    #[inline]
    fn read(&self) -> Option<u64> {
        Some(*self)
    }
}

/// A 128-byte event: word `k` holds `value + k`. Writers write all 16 words; readers read the
/// first and the last and check that they agree, so a torn write is caught.
///
/// ```
/// use seqflow_bench::payload::{Bytes128, Payload};
/// assert_eq!(std::mem::size_of::<Bytes128>(), 128);
/// let mut torn = Bytes128::new(5);
/// torn.0[15] = 0;
/// assert_eq!(torn.read(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct Bytes128(pub [u64; 16]);

impl Payload for Bytes128 {
    const KIND: PayloadKind = PayloadKind::Bytes128;

    #[inline]
    fn zero() -> Self {
        Bytes128([0; 16])
    }

    #[inline]
    fn set(&mut self, value: u64) {
        self.0 = words_from(value);
    }

    #[inline]
    fn read(&self) -> Option<u64> {
        let first = self.0[0];
        (self.0[15] == first.wrapping_add(15)).then_some(first)
    }
}

/// The words of the event carrying `value`: `value + k` in word `k`.
///
/// On x86-64 they are computed two at a time in SSE2 registers, so that every caller's loop
/// writes the event with the same eight 16-byte stores. Written as a plain loop, the compiler
/// chose scalar or vector stores for each loop it was inlined into, which made the instruction
/// counts of two implementations differ by the harness's code, not by theirs.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline]
fn words_from(value: u64) -> [u64; 16] {
    use std::arch::x86_64::{__m128i, _mm_add_epi64, _mm_set1_epi64x, _mm_set_epi64x};
    // SAFETY: these intrinsics only compute on registers (no memory access) and need SSE2,
    // which this build targets (the `target_feature = "sse2"` cfg above), so every CPU this
    // code can run on executes them.
    let pairs: [__m128i; 8] = unsafe {
        let v = _mm_set1_epi64x(value as i64);
        [0, 2, 4, 6, 8, 10, 12, 14].map(|k: i64| _mm_add_epi64(v, _mm_set_epi64x(k + 1, k)))
    };
    bytemuck::cast(pairs)
}

/// The words of the event carrying `value`: `value + k` in word `k`.
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline]
fn words_from(value: u64) -> [u64; 16] {
    std::array::from_fn(|k| value.wrapping_add(k as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        for v in [0, 1, u64::MAX - 3, u64::MAX] {
            assert_eq!(u64::new(v).read(), Some(v));
            assert_eq!(Bytes128::new(v).read(), Some(v));
        }
        assert_eq!(PayloadKind::Bytes128.size(), 128);
    }

    #[test]
    fn every_word_of_a_128_byte_event_is_its_value_plus_its_index() {
        let near_the_end = [u64::MAX - 20, u64::MAX - 15, u64::MAX - 3, u64::MAX];
        for v in [0, 1, 7, 1 << 63].into_iter().chain(near_the_end) {
            let words: [u64; 16] = std::array::from_fn(|k| v.wrapping_add(k as u64));
            assert_eq!(Bytes128::new(v).0, words, "{v}");
        }
    }
}
