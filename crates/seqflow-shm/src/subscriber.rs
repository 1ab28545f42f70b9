//! [`ShmSubscriber`]: a non-gating (lossy) reader that is told when the producer lapped it.
//!
//! It never holds producers back, so the slot it reads may be overwritten while it reads. It
//! reads seqlock-style: copy the event with a volatile read (any bytes are a valid `E: Pod`),
//! `Acquire` fence, then check the highest *claimed* sequence: if a producer may have started
//! writing the slot's next lap, the copy is discarded and the subscriber is
//! [`Lapped`](ConsumeError::Lapped) to the oldest event no producer can be writing. The
//! producer side records each claim before writing slots (a `Release` fence after it; see
//! `producer_slot.rs`). A torn copy is never returned.

use crate::registration::{Registration, Start};
use crate::registry::ConsumerKind;
use crate::watch::Watch;
use crate::{ConsumeError, ShmError, ShmEvent, ShmRing, ShmSequencer};
use seqflow_sequence::sync::atomic::{fence, Ordering};
use seqflow_sequence::SequenceBarrier;
use std::time::Duration;

/// A reader that does not gate producers. Each [`next`](Self::next) returns a copy of the next
/// event, or [`ConsumeError::Lapped`] with how many events were overwritten before it got to
/// them (it then resumes at the oldest event still in the ring).
///
/// ```
/// use seqflow_shm::{ConsumeError, ShmOptions, ShmRing};
/// use std::time::Duration;
/// # let name = format!("/seqflow-doc-subscr-{}", std::process::id());
/// let ring = ShmRing::<u64>::create(&name, 4, ShmOptions::default()).unwrap();
/// # let _guard = ring.unlink_on_drop();
/// let mut sub = ring.subscriber("clients").unwrap();
/// let mut producer = ring.producer().unwrap();
/// for i in 0..10 { producer.publish(|e, _| *e = i).unwrap(); }
/// // 10 published into 4 slots: 0..=5 were overwritten.
/// assert_eq!(sub.next(Some(Duration::from_secs(1))), Err(ConsumeError::Lapped { missed: 6, resume_at: 6 }));
/// assert_eq!(sub.next(Some(Duration::from_secs(1))), Ok((6, 6)));
/// ```
pub struct ShmSubscriber<E: ShmEvent> {
    ring: ShmRing<E>,
    barrier: SequenceBarrier<ShmSequencer>,
    watch: Watch,
    registration: Registration,
    next: i64,
}

impl<E: ShmEvent> ShmSubscriber<E> {
    pub(crate) fn register(ring: ShmRing<E>, name: &str) -> Result<Self, ShmError> {
        let inner = ring.inner().clone();
        let registered =
            Registration::register(&inner, ConsumerKind::Subscriber, name, false, Start::Cursor)?;
        let alert = inner.sequencer.alert().clone();
        let barrier = SequenceBarrier::new(inner.sequencer.clone(), Vec::new(), alert);
        let next = registered.registration.sequence.get() + 1;
        Ok(Self {
            ring,
            barrier,
            watch: Watch::new(inner, registered.upstream),
            registration: registered.registration,
            next,
        })
    }

    /// The subscriber's name.
    pub fn name(&self) -> &str {
        &self.registration.label
    }

    /// The sequence [`next`](Self::next) reads next.
    pub fn next_sequence(&self) -> i64 {
        self.next
    }

    /// The next event (a copy) and its sequence, waiting up to `timeout` (`None`: no limit).
    /// Errors: [`ConsumeError::Lapped`] (then call again: it resumes at the oldest event still
    /// in the ring), [`ConsumeError::Timeout`], [`ConsumeError::Alerted`],
    /// [`ConsumeError::ProducerDied`].
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing, ConsumeError};
    /// # use std::time::Duration;
    /// # let name = format!("/seqflow-doc-next-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let mut s = ring.subscriber("s").unwrap();
    /// assert_eq!(s.next(Some(Duration::from_millis(1))), Err(ConsumeError::Timeout));
    /// ring.producer().unwrap().publish(|e, _| *e = 9).unwrap();
    /// assert_eq!(s.next(Some(Duration::from_secs(1))), Ok((0, 9)));
    /// ```
    pub fn next(&mut self, timeout: Option<Duration>) -> Result<(i64, E), ConsumeError> {
        if !self.registration.usable() {
            return Err(ConsumeError::ForkedHandle);
        }
        let seq = self.next;
        let capacity = self.ring.capacity() as i64;
        let barrier = &self.barrier;
        let ring = self.ring.inner();
        let claimed = || ring.claimed_high();
        let lapped_at = self.watch.wait(seq, timeout, || {
            let c = claimed();
            if c.saturating_sub(seq) >= capacity {
                Some(Some(c))
            } else {
                barrier.poll(seq).map(|_| None)
            }
        })?;
        if let Some(c) = lapped_at {
            return Err(self.lapped(seq, c, capacity));
        }
        self.watch.check_abandoned(seq, seq)?;
        let value = self.ring.copy_slot(seq);
        // Seqlock reader side: the copy happens before the re-check of the claims.
        fence(Ordering::Acquire);
        let c = self.ring.inner().claimed_high();
        if c.saturating_sub(seq) >= capacity {
            return Err(self.lapped(seq, c, capacity));
        }
        self.next = seq + 1;
        self.registration.sequence.set(seq);
        Ok((seq, value))
    }

    fn lapped(&mut self, seq: i64, claimed: i64, capacity: i64) -> ConsumeError {
        let resume_at = claimed.saturating_sub(capacity).saturating_add(1);
        self.next = resume_at;
        self.registration.sequence.set(resume_at - 1);
        ConsumeError::Lapped {
            missed: resume_at.saturating_sub(seq).max(0) as u64,
            resume_at,
        }
    }
}

impl<E: ShmEvent> std::fmt::Debug for ShmSubscriber<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmSubscriber")
            .field("ring", &self.ring.name())
            .field("name", &self.name())
            .field("next", &self.next)
            .finish()
    }
}
