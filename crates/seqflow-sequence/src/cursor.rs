//! [`Cursor`]: what a consumer needs to know about the producer side.

use crate::{Sequence, WaitStrategy};

/// The producer side as seen by consumers: a cursor to follow, a way to find the highest
/// *published* sequence (a multi-producer cursor runs ahead of what is published), and the wait
/// strategy publishers signal.
///
/// Implemented by every sequencer in `seqflow-sequencer`.
///
/// ```
/// use seqflow_sequence::{Cursor, Sequence, YieldingWait};
/// struct Single { cursor: Sequence, wait: YieldingWait }
/// impl Cursor for Single {
///     type Wait = YieldingWait;
///     fn cursor(&self) -> &Sequence { &self.cursor }
///     fn highest_published(&self, _lo: i64, available: i64) -> i64 { available }
///     fn wait_strategy(&self) -> &YieldingWait { &self.wait }
/// }
/// let s = Single { cursor: Sequence::new(3), wait: YieldingWait::default() };
/// assert_eq!(s.highest_published(0, s.cursor().get()), 3);
/// ```
pub trait Cursor: Send + Sync + 'static {
    /// The wait strategy consumers use and publishers signal.
    type Wait: WaitStrategy;

    /// The producer cursor: the highest claimed (multi producer) or published (single producer)
    /// sequence.
    fn cursor(&self) -> &Sequence;

    /// The highest sequence `s` in `lo..=available` such that every sequence in `lo..=s` is
    /// published; `lo - 1` when `lo` itself is not.
    fn highest_published(&self, lo: i64, available: i64) -> i64;

    /// The wait strategy.
    fn wait_strategy(&self) -> &Self::Wait;

    /// An upper bound on the sequences that may be published, for a consumer waiting for
    /// `seq`; [`highest_published`](Self::highest_published) then finds the exact answer.
    ///
    /// The default reads the cursor. A multi-producer sequencer returns `seq + capacity - 1`
    /// instead: its availability scan stops at the first unpublished slot anyway, and consumers
    /// then never read the cursor line that producers keep taking with CAS.
    #[inline]
    fn publish_bound(&self, _seq: i64) -> i64 {
        self.cursor().get()
    }
}
