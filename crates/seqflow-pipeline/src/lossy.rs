//! [`LossySubscriber`]: a best-effort reader that never holds the producer back.

use crate::{BuildError, LossyCursor, LossyError};
use seqflow_ring::RingBuffer;
use seqflow_sequence::{
    deadline_after, Alert, OwnedRef, ReadOnlySequence, SequenceBarrier, WaitError, WaitStrategy,
};
use seqflow_sequencer::Sequencer;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A subscriber that does not gate the producer (for best-effort stages such as broadcasting
/// to clients). It follows the producer, or the stages it was created after
/// ([`Stages::then_lossy_subscriber`](crate::Stages::then_lossy_subscriber)), and never holds
/// anyone back. When the producer laps it, it reports how many events it missed
/// ([`LossyError::Lapped`]) and resumes at the oldest event no producer may be overwriting.
/// (The single producer keeps a one-event claim private, so behind it that is one past the
/// oldest event held: the next claim would overwrite it.)
///
/// Events are copied out (`E: Copy`) optimistically and validated afterwards, as in a seqlock
/// ([`LossyCursor`], the protocol the shared-memory subscriber uses too): read the claim bound
/// (`Sequencer::claim_bound`), copy the slot, `Acquire` fence, read the claim bound again; the
/// copy is kept only if no producer had claimed the slot for a later lap by then (every claim
/// path makes its claim visible through the bound and issues a `Release` fence before writing
/// any slot).
///
/// What is and is not guaranteed:
/// - every event returned is exactly the event published at its sequence, never a mix of two
///   laps, and no event is returned twice; missed events are counted, never silent;
/// - the copy itself is not synchronised with the producer: when this subscriber is lapped
///   while copying, the copy races with the producer's write of the slot. The torn bytes go
///   into a `MaybeUninit<E>` and are thrown away unread when the re-check fails, but under
///   the Rust memory model a racing non-atomic read is a data race all the same. This is the
///   same theoretical race that `crossbeam_utils::atomic::AtomicCell` documents for types
///   without native atomics; it happens only when the subscriber is lapped, and on the
///   hardware seqflow targets the discarded copy has no effect. Subscribers that gate (stages,
///   pollers) never race.
///
/// ```
/// use seqflow_pipeline::{Disruptor, LossyError};
/// let (d, mut p) = Disruptor::builder(4, || 0u64).single_producer().unwrap().start().unwrap();
/// let mut sub = d.lossy_subscriber().unwrap();
/// for i in 0..10 { p.publish(|e, _| *e = i).unwrap(); } // nobody gates: never blocks
/// assert_eq!(sub.try_next(), Err(LossyError::Lapped { missed: 7, resume_at: 7 }));
/// assert_eq!(sub.try_next(), Ok((7, 7)));
/// d.shutdown().unwrap();
/// ```
pub struct LossySubscriber<E, S: Sequencer> {
    barrier: SequenceBarrier<S>,
    ring: RingBuffer<E>,
    cursor: LossyCursor,
    /// One mark in each stage this subscriber follows: while it lives, they cannot be removed.
    _following: Vec<FollowerMark>,
}

/// The lossy subscribers following one stage (they read its sequence): counted so that the
/// stage is not removed while any of them lives.
#[derive(Debug, Default, Clone)]
pub(crate) struct LossyFollowers(Arc<AtomicUsize>);

impl LossyFollowers {
    /// How many live subscribers follow the stage.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    /// Count one more follower, until the mark is dropped.
    pub fn mark(&self) -> FollowerMark {
        self.0.fetch_add(1, Ordering::AcqRel);
        FollowerMark(Arc::clone(&self.0))
    }
}

/// A lossy subscriber's place in a [`LossyFollowers`] count, given back on drop.
#[derive(Debug)]
pub(crate) struct FollowerMark(Arc<AtomicUsize>);

impl Drop for FollowerMark {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<E: Copy, S: Sequencer> LossySubscriber<E, S> {
    /// Whether a subscriber on `sequencer`'s ring of `capacity` slots can ever read an event:
    /// not when the producer's private claims (which a subscriber must treat as being written)
    /// can cover the whole ring.
    pub(crate) fn check_readable(sequencer: &S, capacity: usize) -> Result<(), BuildError> {
        if sequencer.private_claims() >= capacity {
            return Err(BuildError::LossyNeverReads { capacity });
        }
        Ok(())
    }

    pub(crate) fn new(
        sequencer: Arc<S>,
        after: Vec<OwnedRef<ReadOnlySequence>>,
        ring: RingBuffer<E>,
        alert: Alert,
        next: i64,
        following: Vec<FollowerMark>,
    ) -> Self {
        Self {
            barrier: SequenceBarrier::new(sequencer, after, alert),
            ring,
            cursor: LossyCursor::new(next),
            _following: following,
        }
    }

    /// The next event, waiting at most `timeout` (`None`: until one arrives or shutdown).
    pub fn next_timeout(&mut self, timeout: Option<Duration>) -> Result<(i64, E), LossyError> {
        let producer = Arc::clone(self.barrier.producer());
        let ready = || {
            if self
                .cursor
                .lapped_by(producer.claim_bound(), self.ring.capacity())
            {
                return Some(());
            }
            self.barrier.poll(self.cursor.next()).map(|_| ())
        };
        // A timed wait reads the clock only when it has to wait.
        let waited = match ready() {
            Some(()) => Ok(()),
            None => producer.wait_strategy().wait_until(
                ready,
                self.barrier.alert(),
                deadline_after(timeout),
            ),
        };
        match waited {
            Ok(()) => self.read_next(),
            Err(WaitError::Timeout) => Err(LossyError::Timeout),
            Err(WaitError::Alerted) => Err(LossyError::Alerted),
        }
    }

    /// The next event if one is there now; [`LossyError::Timeout`] if not.
    pub fn try_next(&mut self) -> Result<(i64, E), LossyError> {
        self.next_timeout(Some(Duration::ZERO))
    }

    /// Events missed so far because the producer lapped this subscriber.
    pub fn missed(&self) -> u64 {
        self.cursor.missed()
    }

    /// The next sequence this subscriber will read.
    pub fn position(&self) -> i64 {
        self.cursor.next()
    }

    /// Copy the event at the next sequence (published or lapped: checked by the caller's wait).
    fn read_next(&mut self) -> Result<(i64, E), LossyError> {
        let producer = self.barrier.producer();
        // SAFETY: the wait in `next_timeout` saw the next sequence published or lapped.
        let read = unsafe { self.cursor.read(&self.ring, || producer.claim_bound()) };
        read.map_err(|lapped| {
            tracing::warn!(
                missed = lapped.missed,
                resume_at = lapped.resume_at,
                "lossy subscriber lapped by the producer"
            );
            LossyError::from(lapped)
        })
    }
}
