//! [`ReadOnlySequence`]: a view of a [`Sequence`] that can be read but never written.

use crate::Sequence;

/// A [`Sequence`] seen through a read-only window.
///
/// Sequences that other threads rely on for safety (a producer cursor, a consumer's gating
/// sequence, a stage that later stages follow) are handed out only as `&ReadOnlySequence`: a
/// caller can watch them move, but cannot store into them and so cannot let a producer
/// overwrite a slot that a consumer is still reading. Turning a `&Sequence` into a view is
/// always allowed ([`Sequence::read_only`]); the other way round is not offered.
///
/// ```
/// use seqflow_sequence::{ReadOnlySequence, Sequence};
/// let s = Sequence::new(3);
/// let view: &ReadOnlySequence = s.read_only();
/// s.set(4);
/// assert_eq!(view.get(), 4);
/// ```
///
/// ```compile_fail
/// let s = seqflow_sequence::Sequence::new(3);
/// s.read_only().set(5); // no such method: views cannot be written
/// ```
#[repr(transparent)]
pub struct ReadOnlySequence(Sequence);

impl ReadOnlySequence {
    /// The view of `sequence`.
    #[inline]
    pub(crate) fn from_sequence(sequence: &Sequence) -> &Self {
        let ptr: *const Sequence = sequence;
        // SAFETY: `ReadOnlySequence` is `repr(transparent)` over `Sequence`, so the pointer
        // is valid and aligned for it; the lifetime is carried over from the input reference,
        // and the view offers strictly fewer operations than the sequence it points to.
        unsafe { &*ptr.cast::<Self>() }
    }

    /// The current value, with `Acquire` ordering (see [`Sequence::get`]).
    #[inline]
    pub fn get(&self) -> i64 {
        self.0.get()
    }

    /// The current value with `Relaxed` ordering, for statistics.
    #[inline]
    pub fn get_relaxed(&self) -> i64 {
        self.0.get_relaxed()
    }
}

impl std::fmt::Debug for ReadOnlySequence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
