//! [`Cursor`]: what a consumer needs to know about the producer side.

use crate::WaitStrategy;

/// The producer side as seen by consumers: an upper bound on what may be published, a way to
/// find the highest *published* sequence below it, and the wait strategy publishers signal.
///
/// Implemented by every sequencer in `seqflow-sequencer`.
///
/// # Safety
/// Consumers read ring slots on the strength of these answers, without further checks, so an
/// implementation must guarantee, for any `lo` and any `available <= publish_bound(lo)` read
/// earlier by the same thread (or by another thread that handed the value over with a
/// `Release` store the caller loaded with `Acquire`, as a shared
/// [`SequenceBarrier`](crate::SequenceBarrier) does with the cursor it keeps):
/// - `highest_published(lo, available)` returns `s` in `lo - 1..=available` such that every
///   sequence in `lo..=s` has been published, and the writes made to those slots before their
///   publication are visible to the caller (the reads that found them published are `Acquire`
///   loads of `Release` stores, or stronger);
/// - `publish_bound` never returns less than a sequence that is published and readable, and
///   never hands out a value that lets `highest_published` report an unpublished sequence.
///
/// ```
/// use seqflow_sequence::{Cursor, Sequence, YieldingWait};
/// struct Single { published: Sequence, wait: YieldingWait }
/// // SAFETY: `published` only moves after the slots up to it were written (a `Release`
/// // store), and `highest_published` never goes past the bound read from it.
/// unsafe impl Cursor for Single {
///     type Wait = YieldingWait;
///     fn publish_bound(&self, _seq: i64) -> i64 { self.published.get() }
///     fn highest_published(&self, _lo: i64, available: i64) -> i64 { available }
///     fn wait_strategy(&self) -> &YieldingWait { &self.wait }
/// }
/// let s = Single { published: Sequence::new(3), wait: YieldingWait::default() };
/// assert_eq!(s.highest_published(0, s.publish_bound(0)), 3);
/// ```
pub unsafe trait Cursor: Send + Sync + 'static {
    /// The wait strategy consumers use and publishers signal.
    type Wait: WaitStrategy;

    /// An upper bound on the sequences that may be published, for a consumer waiting for
    /// `seq`; [`highest_published`](Self::highest_published) then finds the exact answer.
    ///
    /// A single-producer sequencer returns its published cursor. A multi-producer one returns
    /// `seq + capacity - 1`: its availability scan stops at the first unpublished slot anyway,
    /// and consumers then never read the claim cursor that producers keep taking with CAS.
    fn publish_bound(&self, seq: i64) -> i64;

    /// Whether [`publish_bound`](Self::publish_bound) is the published cursor itself: a
    /// value that does not depend on `seq`, never decreases, and below which every sequence
    /// stays published (a later lap's slot is not read on the strength of it: the reader's own
    /// sequence keeps the producer from lapping it). A barrier may then keep the last value it read
    /// and read the cursor again only when its dependencies pass that value, instead of on
    /// every poll ([`SequenceBarrier`](crate::SequenceBarrier)). `false` (the default) makes
    /// the barrier read the bound on every poll.
    ///
    /// Part of the trait's safety contract: an implementation that returns `true` while its
    /// bound can fall lets a barrier hand out sequences that are not published.
    #[inline]
    fn bound_is_published_cursor(&self) -> bool {
        false
    }

    /// The highest sequence `s` in `lo..=available` such that every sequence in `lo..=s` is
    /// published; `lo - 1` when `lo` itself is not.
    fn highest_published(&self, lo: i64, available: i64) -> i64;

    /// The wait strategy.
    fn wait_strategy(&self) -> &Self::Wait;
}
