//! [`Sequence`]: a padded atomic counter that only grows, shared by producers and consumers.

use crate::sync::atomic::{AtomicI64, Ordering};

/// The value every sequence starts at: nothing has been claimed, published or processed yet.
///
/// ```
/// assert_eq!(seqflow_sequence::INITIAL_SEQUENCE, -1);
/// ```
pub const INITIAL_SEQUENCE: i64 = -1;

/// A sequence number on its own cache lines.
///
/// `#[repr(C, align(128))]`: the value sits at offset 0 and nothing else shares its 128 bytes
/// (two cache lines, because x86 prefetches lines in pairs), so a producer cursor and a consumer
/// sequence never false-share. The fixed layout also lets a `Sequence` live in shared memory,
/// where another process reads it through the same type.
///
/// Loads are `Acquire` and stores `Release`: a consumer that reads a published cursor value sees
/// every event write made before that publish, and a producer that reads a consumer sequence
/// knows the consumer is done reading the slots behind it.
///
/// ```
/// use seqflow_sequence::Sequence;
/// let s = Sequence::default();
/// assert_eq!(s.get(), -1);
/// assert_eq!(s.add_and_get(2), 1);
/// assert!(s.compare_and_set(1, 5));
/// assert_eq!(s.get(), 5);
/// assert_eq!(std::mem::align_of::<Sequence>(), 128);
/// ```
#[repr(C, align(128))]
pub struct Sequence {
    value: AtomicI64,
}

impl Sequence {
    /// A sequence holding `initial`.
    ///
    /// ```
    /// let s = seqflow_sequence::Sequence::new(7);
    /// assert_eq!(s.get(), 7);
    /// ```
    #[cfg(not(loom))]
    pub const fn new(initial: i64) -> Self {
        Self {
            value: AtomicI64::new(initial),
        }
    }

    /// A sequence holding `initial` (loom build: loom atomics are not `const`).
    #[cfg(loom)]
    pub fn new(initial: i64) -> Self {
        Self {
            value: AtomicI64::new(initial),
        }
    }

    /// The current value, with `Acquire` ordering (see the type docs).
    ///
    /// ```
    /// assert_eq!(seqflow_sequence::Sequence::new(3).get(), 3);
    /// ```
    #[inline]
    pub fn get(&self) -> i64 {
        self.value.load(Ordering::Acquire)
    }

    /// The current value with `Relaxed` ordering: for the owner of the sequence re-reading its
    /// own value, or for statistics where no data is read on the strength of it.
    ///
    /// ```
    /// assert_eq!(seqflow_sequence::Sequence::new(3).get_relaxed(), 3);
    /// ```
    #[inline]
    pub fn get_relaxed(&self) -> i64 {
        self.value.load(Ordering::Relaxed)
    }

    /// Store `value` with `Release` ordering (see the type docs).
    ///
    /// ```
    /// let s = seqflow_sequence::Sequence::default();
    /// s.set(9);
    /// assert_eq!(s.get(), 9);
    /// ```
    #[inline]
    pub fn set(&self, value: i64) {
        self.value.store(value, Ordering::Release);
    }

    /// Compare-and-set with `AcqRel` on success (the claim of a multi-producer sequencer both
    /// reads the previous claims and publishes its own) and `Acquire` on failure.
    ///
    /// ```
    /// let s = seqflow_sequence::Sequence::new(0);
    /// assert!(!s.compare_and_set(1, 2));
    /// assert!(s.compare_and_set(0, 2));
    /// ```
    #[inline]
    pub fn compare_and_set(&self, expected: i64, new: i64) -> bool {
        self.compare_exchange(expected, new).is_ok()
    }

    /// [`compare_and_set`](Self::compare_and_set) that also says what the value was: `Ok` with
    /// `expected` when it stored `new`, `Err` with the value it found otherwise. A caller that
    /// retries needs no load of its own, which on a contended line would first fetch it shared
    /// and then again for ownership.
    ///
    /// ```
    /// let s = seqflow_sequence::Sequence::new(0);
    /// assert_eq!(s.compare_exchange(1, 2), Err(0));
    /// assert_eq!(s.compare_exchange(0, 2), Ok(0));
    /// ```
    #[inline]
    pub fn compare_exchange(&self, expected: i64, new: i64) -> Result<i64, i64> {
        self.value
            .compare_exchange(expected, new, Ordering::AcqRel, Ordering::Acquire)
    }

    /// Atomically add `delta` (`AcqRel`) and return the new value.
    ///
    /// ```
    /// let s = seqflow_sequence::Sequence::new(0);
    /// assert_eq!(s.add_and_get(4), 4);
    /// ```
    #[inline]
    pub fn add_and_get(&self, delta: i64) -> i64 {
        self.value.fetch_add(delta, Ordering::AcqRel) + delta
    }

    /// This sequence as a read-only view, to hand to code that may watch it but not move it.
    ///
    /// ```
    /// let s = seqflow_sequence::Sequence::new(2);
    /// assert_eq!(s.read_only().get(), 2);
    /// ```
    #[inline]
    pub fn read_only(&self) -> &crate::ReadOnlySequence {
        crate::ReadOnlySequence::from_sequence(self)
    }

    /// Raise the value to `value` if it is lower (`AcqRel` when it writes); returns the previous
    /// value.
    ///
    /// ```
    /// let s = seqflow_sequence::Sequence::new(5);
    /// assert_eq!(s.fetch_max(3), 5);
    /// assert_eq!(s.fetch_max(8), 5);
    /// assert_eq!(s.get(), 8);
    /// ```
    #[inline]
    pub fn fetch_max(&self, value: i64) -> i64 {
        // A compare-and-swap loop rather than `AtomicI64::fetch_max`: ThreadSanitizer does not
        // instrument an atomic max (LLVM's `atomicrmw max` has no TSan hook), so it would not see
        // the release, and report the reads it orders as races. It writes only to raise: a
        // value already at or above `value` is left as it is (and nothing is released).
        let mut current = self.value.load(Ordering::Acquire);
        while current < value {
            match self
                .value
                .compare_exchange(current, value, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return current,
                Err(actual) => current = actual,
            }
        }
        current
    }
}

impl Default for Sequence {
    /// A sequence at [`INITIAL_SEQUENCE`].
    fn default() -> Self {
        Self::new(INITIAL_SEQUENCE)
    }
}

impl std::fmt::Debug for Sequence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Sequence")
            .field(&self.get_relaxed())
            .finish()
    }
}

// The shared-memory segment format stores sequences at fixed offsets: one value per 128 bytes.
#[cfg(not(loom))]
const _: () = {
    assert!(std::mem::size_of::<Sequence>() == 128);
    assert!(std::mem::align_of::<Sequence>() == 128);
};

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn layout_is_padded_and_value_first() {
        assert_eq!(std::mem::size_of::<Sequence>(), 128);
        assert_eq!(std::mem::align_of::<Sequence>(), 128);
        let s = [Sequence::new(1), Sequence::new(2)];
        let a = &s[0] as *const Sequence as usize;
        let b = &s[1] as *const Sequence as usize;
        assert_eq!(b - a, 128);
    }

    #[test]
    fn starts_at_initial() {
        assert_eq!(Sequence::default().get(), INITIAL_SEQUENCE);
    }
}
