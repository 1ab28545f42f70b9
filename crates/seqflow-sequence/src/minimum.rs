//! The minimum over a set of sequences: how far the slowest of them has come.

use crate::Sequence;
use std::ops::Deref;

/// The lowest value among `sequences`, or `default` when there are none (or all are higher).
///
/// ```
/// use seqflow_sequence::{minimum_sequence, Sequence};
/// let a = Sequence::new(4);
/// let b = Sequence::new(2);
/// assert_eq!(minimum_sequence([&a, &b], i64::MAX), 2);
/// assert_eq!(minimum_sequence(std::iter::empty::<&Sequence>(), 9), 9);
/// ```
#[inline]
pub fn minimum_sequence<I, S>(sequences: I, default: i64) -> i64
where
    I: IntoIterator<Item = S>,
    S: Deref<Target = Sequence>,
{
    sequences
        .into_iter()
        .fold(default, |min, s| min.min(s.get()))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn equals_iterator_min(values in proptest::collection::vec(-1i64..i64::MAX / 2, 0..16), default in any::<i64>()) {
            let seqs: Vec<Sequence> = values.iter().map(|v| Sequence::new(*v)).collect();
            let expected = values.iter().copied().chain(std::iter::once(default)).min().unwrap();
            prop_assert_eq!(minimum_sequence(seqs.iter(), default), expected);
        }
    }
}
