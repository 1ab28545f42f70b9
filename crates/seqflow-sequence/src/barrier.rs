//! [`SequenceBarrier`]: wait until the producer and the stages a consumer depends on have passed
//! a sequence.

use crate::{Alert, Cursor, Deadline, OwnedRef, ReadOnlySequence, WaitError, WaitStrategy};
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
    #[inline]
    fn available(&self, seq: i64) -> i64 {
        self.dependents
            .iter()
            .fold(self.producer.publish_bound(seq), |min, s| min.min(s.get()))
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
