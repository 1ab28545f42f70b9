//! [`SequenceBarrier`]: wait until the producer and the stages a consumer depends on have passed
//! a sequence.

use crate::{Alert, Cursor, Deadline, OwnedRef, ReadOnlySequence, WaitError, WaitStrategy};
// The kept cursor's atomic comes from `crate::sync` (loom's under `cfg(loom)`), so the loom
// models of barriers with dependencies run the real kept cursor. They poll each barrier from one
// thread: its Acquire/Release pair, which matters only for a barrier handed between threads, is
// not what they check.
use crate::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What a consumer waits on: the producer cursor and the sequences of the stages before it.
///
/// [`wait_for`](Self::wait_for) returns the highest sequence that is both published and processed
/// by every dependency, never one of them that is not: it takes the lower of the producer's
/// bound and the dependencies, so a dependency that runs ahead of the producer (possible for a
/// sequence a caller moves by hand) never makes an unpublished sequence available. A consumer
/// that depends on no stage waits on the producer alone. Dependencies are read-only views.
///
/// ```
/// use seqflow_sequence::{Alert, Cursor, OwnedRef, Sequence, SequenceBarrier, WaitError, YieldingWait};
/// use std::{sync::Arc, time::Duration};
/// struct Single { published: Sequence, wait: YieldingWait }
/// // SAFETY: `highest_published` never goes past the bound, which is what was published.
/// unsafe impl Cursor for Single {
///     type Wait = YieldingWait;
///     fn publish_bound(&self, _seq: i64) -> i64 { self.published.get() }
///     fn highest_published(&self, _lo: i64, available: i64) -> i64 { available }
///     fn wait_strategy(&self) -> &YieldingWait { &self.wait }
/// }
/// let producer = Arc::new(Single { published: Sequence::new(9), wait: YieldingWait::default() });
/// let upstream = OwnedRef::new(Sequence::new(4));
/// let view = upstream.clone().map(|s| s.read_only());
/// let barrier = SequenceBarrier::new(producer, vec![view], Alert::new());
/// assert_eq!(barrier.wait_for(2, None), Ok(4));
/// assert_eq!(barrier.wait_for(5, Some(Duration::from_millis(1))), Err(WaitError::Timeout));
/// upstream.set(12); // ahead of the producer: only what is published counts
/// assert_eq!(barrier.wait_for(5, None), Ok(9));
/// ```
pub struct SequenceBarrier<C: Cursor> {
    producer: Arc<C>,
    dependents: Box<[OwnedRef<ReadOnlySequence>]>,
    alert: Alert,
    /// The producer's published cursor as last read ([`Cursor::bound_is_published_cursor`]),
    /// `i64::MIN` before the first read. A barrier with dependencies reads the cursor again
    /// only when they pass this value: the stages before it stay behind the producer, so
    /// most polls then read their sequences alone and leave the cursor's line to the
    /// producer, which stores it on every publish (docs/benchmarks.md, section 36). Stored
    /// with `Release` after the `Acquire` read of the cursor and loaded with `Acquire`, so a
    /// thread that trusts a value another thread stored also sees the events below it.
    cursor_seen: AtomicI64,
}

impl<C: Cursor> SequenceBarrier<C> {
    /// A barrier on `producer` and the `dependents` (sequences of the stages this consumer comes
    /// after), stopped by `alert`.
    pub fn new(
        producer: Arc<C>,
        dependents: Vec<OwnedRef<ReadOnlySequence>>,
        alert: Alert,
    ) -> Self {
        Self {
            producer,
            dependents: dependents.into_boxed_slice(),
            alert,
            cursor_seen: AtomicI64::new(i64::MIN),
        }
    }

    /// Wait until `seq` is available; return the highest available sequence (`>= seq`).
    ///
    /// `timeout` bounds the wait (`None`: wait until available or alerted). Errors:
    /// [`WaitError::Timeout`] or [`WaitError::Alerted`]. A sequence that is already available is
    /// returned even when the alert is raised, so a draining consumer finishes its work.
    #[inline]
    pub fn wait_for(&self, seq: i64, timeout: Option<Duration>) -> Result<i64, WaitError> {
        self.wait_until(seq, &mut Deadline::within(timeout))
    }

    /// As [`wait_for`](Self::wait_for), until `deadline`: a timeout starts only if this wait
    /// has to wait (the clock is not read when `seq` is available), and it stays started in
    /// `deadline` for a caller that waits again.
    #[inline]
    pub fn wait_until(&self, seq: i64, deadline: &mut Deadline) -> Result<i64, WaitError> {
        if let Some(available) = self.poll(seq) {
            return Ok(available);
        }
        let at = deadline.begin();
        self.producer
            .wait_strategy()
            .wait_until(|| self.poll(seq), &self.alert, at)
    }

    /// The highest available sequence if it is `>= seq`, without waiting.
    #[inline]
    pub fn poll(&self, seq: i64) -> Option<i64> {
        let available = self.available(seq);
        if available < seq {
            return None;
        }
        let published = self.producer.highest_published(seq, available);
        (published >= seq).then_some(published)
    }

    /// min(producer bound, dependents): may include claimed but unpublished sequences of a
    /// multi-producer ring, which [`Cursor::highest_published`] then excludes.
    ///
    /// Where the producer's bound is its published cursor and the dependencies are at or
    /// below the cursor as last read, their minimum is the answer without a look at the
    /// cursor: that value was published when read and the cursor never falls. Otherwise the
    /// cursor is read (and kept), as a bound on a dependency moved ahead by hand.
    #[inline]
    fn available(&self, seq: i64) -> i64 {
        if self.dependents.is_empty() {
            return self.producer.publish_bound(seq);
        }
        let behind = self
            .dependents
            .iter()
            .fold(i64::MAX, |min, s| min.min(s.get()));
        if !self.producer.bound_is_published_cursor() {
            return behind.min(self.producer.publish_bound(seq));
        }
        if behind <= self.cursor_seen.load(Ordering::Acquire) {
            return behind;
        }
        let cursor = self.producer.publish_bound(seq);
        self.cursor_seen.store(cursor, Ordering::Release);
        behind.min(cursor)
    }

    /// The alert this barrier's waits are stopped by.
    pub fn alert(&self) -> &Alert {
        &self.alert
    }

    /// The producer side this barrier follows.
    pub fn producer(&self) -> &Arc<C> {
        &self.producer
    }

    /// The sequences of the stages this barrier waits for.
    pub fn dependents(&self) -> &[OwnedRef<ReadOnlySequence>] {
        &self.dependents
    }
}

impl<C: Cursor> Clone for SequenceBarrier<C> {
    fn clone(&self) -> Self {
        Self {
            producer: Arc::clone(&self.producer),
            dependents: self.dependents.clone(),
            alert: self.alert.clone(),
            cursor_seen: AtomicI64::new(self.cursor_seen.load(Ordering::Acquire)),
        }
    }
}

impl<C: Cursor> std::fmt::Debug for SequenceBarrier<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SequenceBarrier")
            .field("dependents", &self.dependents)
            .field("alerted", &self.alert.is_raised())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Sequence, YieldingWait};
    use std::sync::atomic::AtomicUsize;

    /// A single producer's cursor that counts how often consumers read it.
    struct Counted {
        published: Sequence,
        reads: AtomicUsize,
        wait: YieldingWait,
        is_cursor: bool,
    }

    // SAFETY: test double; `published` is only moved forward by the tests, after nothing (no
    // slots exist), and `highest_published` never goes past the bound read from it.
    unsafe impl Cursor for Counted {
        type Wait = YieldingWait;
        fn publish_bound(&self, _seq: i64) -> i64 {
            self.reads.fetch_add(1, Ordering::Relaxed);
            self.published.get()
        }
        fn bound_is_published_cursor(&self) -> bool {
            self.is_cursor
        }
        fn highest_published(&self, _lo: i64, available: i64) -> i64 {
            available
        }
        fn wait_strategy(&self) -> &YieldingWait {
            &self.wait
        }
    }

    fn barrier(is_cursor: bool) -> (Arc<Counted>, OwnedRef<Sequence>, SequenceBarrier<Counted>) {
        let producer = Arc::new(Counted {
            published: Sequence::new(9),
            reads: AtomicUsize::new(0),
            wait: YieldingWait::default(),
            is_cursor,
        });
        let upstream = OwnedRef::new(Sequence::new(4));
        let view = upstream.clone().map(|s| s.read_only());
        let barrier = SequenceBarrier::new(Arc::clone(&producer), vec![view], Alert::new());
        (producer, upstream, barrier)
    }

    #[test]
    fn the_cursor_is_read_again_only_when_the_dependencies_pass_the_value_last_seen() {
        let (producer, upstream, barrier) = barrier(true);
        let reads = || producer.reads.load(Ordering::Relaxed);
        assert_eq!(barrier.poll(0), Some(4));
        assert_eq!(reads(), 1, "the first poll reads the cursor");
        for _ in 0..10 {
            assert_eq!(barrier.poll(5), None);
        }
        upstream.set(9);
        assert_eq!(barrier.poll(5), Some(9));
        assert_eq!(
            reads(),
            1,
            "dependencies at or below the cursor seen: no read"
        );
        upstream.set(12); // moved ahead of the producer by hand
        assert_eq!(barrier.poll(10), None, "only what is published counts");
        assert_eq!(barrier.poll(10), None);
        assert_eq!(reads(), 3, "read on every poll while a dependency is ahead");
        producer.published.set(11);
        assert_eq!(barrier.poll(10), Some(11));
        assert_eq!(
            barrier.clone().poll(10),
            Some(11),
            "a clone starts from the value seen"
        );
    }

    #[test]
    fn a_bound_that_is_not_the_cursor_is_read_on_every_poll() {
        let (producer, upstream, barrier) = barrier(false);
        upstream.set(12);
        assert_eq!(barrier.poll(0), Some(9));
        producer.published.set(3);
        assert_eq!(barrier.poll(0), Some(3), "a bound that falls is believed");
        assert_eq!(producer.reads.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_barrier_without_dependencies_reads_the_cursor_every_time() {
        let producer = Arc::new(Counted {
            published: Sequence::new(2),
            reads: AtomicUsize::new(0),
            wait: YieldingWait::default(),
            is_cursor: true,
        });
        let barrier = SequenceBarrier::new(Arc::clone(&producer), vec![], Alert::new());
        assert_eq!(barrier.poll(0), Some(2));
        assert_eq!(barrier.poll(3), None);
        producer.published.set(5);
        assert_eq!(barrier.poll(3), Some(5));
        assert_eq!(producer.reads.load(Ordering::Relaxed), 3);
    }
}
