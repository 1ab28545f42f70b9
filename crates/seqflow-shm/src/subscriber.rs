//! [`ShmSubscriber`]: a non-gating (lossy) reader that is told when the producer lapped it.
//!
//! It never holds producers back, so the slot it reads may be overwritten while it reads. It
//! reads with the in-process lossy subscriber's protocol ([`LossyCursor`]: copy, `Acquire`
//! fence, check the highest *claimed* sequence; a copy a producer may have overwritten is
//! discarded and the subscriber is [`Lapped`](ConsumeError::Lapped) to the oldest event no
//! producer can be writing). Across processes the claimed sequence is the segment's
//! (`written_high`: the producer slots record each claim before writing, with a `Release` fence;
//! see `producer_slot.rs`). A torn copy is never returned.

use crate::registration::{Registration, Start};
use crate::registry::ConsumerKind;
use crate::watch::Watch;
use crate::{ConsumeError, ShmError, ShmEvent, ShmRing, ShmSequencer};
use seqflow_pipeline::LossyCursor;
use seqflow_ring::RingBuffer;
use seqflow_sequence::{Alert, Cursor, Deadline, SequenceBarrier, WaitStrategy};
use std::time::Duration;

/// A reader that does not gate producers. Each [`next_timeout`](Self::next_timeout) (or
/// [`try_next`](Self::try_next)) returns a copy of the next event, or [`ConsumeError::Lapped`]
/// with how many events were overwritten before it got to them (it then resumes at the oldest
/// event still in the ring). The same names and contract as the in-process `LossySubscriber`.
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
/// assert_eq!(sub.next_timeout(Some(Duration::from_secs(1))), Err(ConsumeError::Lapped { missed: 6, resume_at: 6 }));
/// assert_eq!(sub.next_timeout(Some(Duration::from_secs(1))), Ok((6, 6)));
/// ```
pub struct ShmSubscriber<E: ?Sized + ShmEvent> {
    ring: ShmRing<E>,
    events: RingBuffer<E>,
    barrier: SequenceBarrier<ShmSequencer>,
    watch: Watch,
    registration: Registration,
    cursor: LossyCursor,
    /// Raised to end waits early (a lossy stage's stop signal).
    pub(crate) stop: Option<Alert>,
}

impl<E: ?Sized + ShmEvent> ShmSubscriber<E> {
    pub(crate) fn register(ring: ShmRing<E>, name: &str) -> Result<Self, ShmError> {
        let inner = ring.inner().clone();
        let registered =
            Registration::register(&inner, ConsumerKind::Subscriber, name, false, Start::Cursor)?;
        let alert = inner.sequencer.alert().clone();
        let barrier = SequenceBarrier::new(inner.sequencer.clone(), Vec::new(), alert);
        let next = registered.registration.sequence.get() + 1;
        Ok(Self {
            events: ring.ring(),
            ring,
            barrier,
            watch: Watch::new(inner, registered.upstream, next - 1),
            registration: registered.registration,
            cursor: LossyCursor::new(next),
            stop: None,
        })
    }

    /// The subscriber's name.
    pub fn name(&self) -> &str {
        &self.registration.label
    }

    /// The sequence read next (as the in-process `LossySubscriber::position`).
    pub fn position(&self) -> i64 {
        self.cursor.next()
    }

    /// Events missed so far because producers lapped this subscriber.
    pub fn missed(&self) -> u64 {
        self.cursor.missed()
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
    /// assert_eq!(s.next_timeout(Some(Duration::from_millis(1))), Err(ConsumeError::Timeout));
    /// ring.producer().unwrap().publish(|e, _| *e = 9).unwrap();
    /// assert_eq!(s.next_timeout(Some(Duration::from_secs(1))), Ok((0, 9)));
    /// ```
    pub fn next_timeout(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<(i64, E::Copy), ConsumeError> {
        if !self.registration.usable() {
            return Err(ConsumeError::ForkedHandle);
        }
        let seq = self.cursor.next();
        let capacity = self.ring.capacity();
        let barrier = &self.barrier;
        let cursor = &self.cursor;
        let ring = self.ring.inner();
        let stop = self.stop.as_ref();
        self.watch.wait(seq, &mut Deadline::within(timeout), || {
            if cursor.lapped_by(ring.written_high(), capacity) || barrier.poll(seq).is_some() {
                Some(Ok(()))
            } else if stop.is_some_and(Alert::is_raised) {
                Some(Err(ConsumeError::Alerted))
            } else {
                None
            }
        })??;
        if ring.halted_everywhere() {
            return Err(ConsumeError::Alerted);
        }
        if let Some(end) = ring.closed_end().filter(|&end| seq > end) {
            // A claim refused at the close may be published; it is never read.
            return Err(ConsumeError::Closed { end });
        }
        self.watch.check_abandoned(seq, seq)?;
        // SAFETY: the wait saw `seq` published or lapped.
        let read = unsafe { self.cursor.read(&self.events, || ring.written_high()) };
        // Inspect shows the subscriber's lag from this.
        self.registration.sequence.set(self.cursor.next() - 1);
        read.map_err(|lapped| ConsumeError::Lapped {
            missed: lapped.missed,
            resume_at: lapped.resume_at,
        })
    }

    /// Record the subscriber's progress for `inspect` (its lag): everything up to `seq` is read.
    pub(crate) fn mark_read(&self, seq: i64) {
        self.registration.sequence.set(seq);
    }

    /// Wake this process's waits on the ring (after raising the stop signal).
    pub(crate) fn wake(&self) {
        self.barrier.producer().wait_strategy().signal_all();
    }

    /// The next event if one is there now; [`ConsumeError::Timeout`] if not.
    pub fn try_next(&mut self) -> Result<(i64, E::Copy), ConsumeError> {
        self.next_timeout(Some(Duration::ZERO))
    }
}

impl<E: ?Sized + ShmEvent> std::fmt::Debug for ShmSubscriber<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmSubscriber")
            .field("ring", &self.ring.name())
            .field("name", &self.name())
            .field("next", &self.cursor.next())
            .finish()
    }
}
