//! [`ShmConsumer`]: a gating consumer (poller) of a shared ring, in any process.

use crate::feed::ShmFeed;
use crate::registration::Start;
use crate::registry::ConsumerKind;
use crate::{ConsumeError, ShmError, ShmEvent, ShmRing};
use seqflow_pipeline::EventFeed;
use std::time::Duration;

/// A consumer that holds producers back: the producer never overwrites an event this consumer
/// has not marked processed with [`update_sequence`](Self::update_sequence).
///
/// Wait with [`wait_for`](Self::wait_for), read with [`get`](Self::get), then mark the batch
/// processed; or do all three with [`poll_batch`](Self::poll_batch). A consumer made with
/// [`ShmRing::consumer_after`] only sees events the stages it follows have processed.
///
/// If its process dies, the lock it holds is released by the kernel and a producer that finds
/// the ring full releases its slot. Dropping the handle unregisters it (only in the process that
/// registered: a forked child's copy unregisters nothing).
///
/// ```
/// use seqflow_shm::{ShmOptions, ShmRing};
/// use std::time::Duration;
/// # let name = format!("/seqflow-doc-cons-{}", std::process::id());
/// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
/// # let _guard = ring.unlink_on_drop();
/// let mut consumer = ring.consumer("sum").unwrap();
/// let mut producer = ring.producer().unwrap();
/// producer.publish_batch(3, None, |e, seq| *e = seq as u64 + 1).unwrap();
/// let mut sum = 0;
/// let n = consumer.poll_batch(Some(Duration::from_secs(1)), |e, _seq, _end| sum += *e).unwrap();
/// assert_eq!((n, sum), (3, 6));
/// assert_eq!(consumer.sequence(), 2);
/// ```
pub struct ShmConsumer<E: ShmEvent> {
    ring: ShmRing<E>,
    feed: ShmFeed<E>,
    /// The highest sequence `wait_for` returned.
    available: i64,
}

impl<E: ShmEvent> ShmConsumer<E> {
    pub(crate) fn register(ring: ShmRing<E>, name: &str, after: &[&str]) -> Result<Self, ShmError> {
        let start = if after.is_empty() {
            Start::Cursor
        } else {
            Start::After(after)
        };
        let feed = ShmFeed::attach(&ring, ConsumerKind::Consumer, name, start)?;
        let available = feed.position();
        Ok(Self {
            ring,
            feed,
            available,
        })
    }

    /// The consumer's name.
    pub fn name(&self) -> &str {
        &self.feed.registration.label
    }

    /// Its slot in the segment's consumer registry.
    pub fn index(&self) -> usize {
        self.feed.registration.index
    }

    /// The last sequence marked processed.
    pub fn sequence(&self) -> i64 {
        self.feed.position()
    }

    /// The ring.
    pub fn ring(&self) -> &ShmRing<E> {
        &self.ring
    }

    /// Wait until `seq` is published (and processed by the stages this consumer follows);
    /// return the highest such sequence (`>= seq`). `timeout`: `None` waits without limit.
    ///
    /// Errors: [`ConsumeError::Timeout`], [`ConsumeError::Alerted`] (halt),
    /// [`ConsumeError::ProducerDied`] (a producer died between claim and publish; reported once,
    /// then waiting goes on), [`ConsumeError::UpstreamGone`].
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing, ConsumeError};
    /// # use std::time::Duration;
    /// # let name = format!("/seqflow-doc-waitfor-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let mut c = ring.consumer("c").unwrap();
    /// assert_eq!(c.wait_for(0, Some(Duration::from_millis(5))), Err(ConsumeError::Timeout));
    /// ```
    pub fn wait_for(&mut self, seq: i64, timeout: Option<Duration>) -> Result<i64, ConsumeError> {
        let hi = self.feed.wait(seq, timeout)?;
        self.available = self.available.max(hi);
        Ok(hi)
    }

    /// The event at `seq`, if it is available to this consumer: returned by
    /// [`wait_for`](Self::wait_for) and not yet marked processed. `None` otherwise.
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing};
    /// # use std::time::Duration;
    /// # let name = format!("/seqflow-doc-get-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let mut c = ring.consumer("c").unwrap();
    /// assert_eq!(c.get(0), None, "not waited for yet");
    /// ring.producer().unwrap().publish(|e, _| *e = 5).unwrap();
    /// c.wait_for(0, Some(Duration::from_secs(1))).unwrap();
    /// assert_eq!(c.get(0), Some(&5));
    /// ```
    pub fn get(&self, seq: i64) -> Option<&E> {
        if seq <= self.sequence() || seq > self.available || !self.feed.registration.usable() {
            return None;
        }
        // SAFETY: `seq` is published (at most what `wait_for` returned) and above this
        // consumer's own gating sequence, so no producer can claim `seq + capacity` while the
        // reference (tied to `&self`, which `update_sequence` needs mutably) lives.
        Some(unsafe { self.feed.event(seq) })
    }

    /// Mark everything up to `seq` processed: producers may reuse those slots and the stages
    /// after this one may read them. Clamped to what [`wait_for`](Self::wait_for) returned;
    /// going backwards does nothing.
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing};
    /// # use std::time::Duration;
    /// # let name = format!("/seqflow-doc-update-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let mut c = ring.consumer("c").unwrap();
    /// ring.producer().unwrap().publish_batch(2, None, |e, _| *e = 1).unwrap();
    /// let hi = c.wait_for(0, Some(Duration::from_secs(1))).unwrap();
    /// c.update_sequence(hi + 100); // clamped
    /// assert_eq!(c.sequence(), 1);
    /// ```
    pub fn update_sequence(&mut self, seq: i64) {
        if !self.feed.registration.usable() {
            // An inherited copy must not move the parent's position (see `wait_for`).
            tracing::warn!(consumer = %self.feed.registration.label, "update_sequence on a handle inherited through fork: ignored");
            return;
        }
        let seq = seq.min(self.available);
        if seq > self.feed.position() {
            self.feed.set_sequence(seq);
            // Producers blocked on a full ring may sleep on the futex.
            self.feed.wake();
        }
    }

    /// Wait for the next event(s), hand each to `handle(event, seq, end_of_batch)`, mark the
    /// batch processed; returns how many were handled.
    pub fn poll_batch(
        &mut self,
        timeout: Option<Duration>,
        mut handle: impl FnMut(&E, i64, bool),
    ) -> Result<usize, ConsumeError> {
        let next = self.sequence() + 1;
        let hi = self.wait_for(next, timeout)?;
        for seq in next..=hi {
            if let Some(event) = self.get(seq) {
                handle(event, seq, seq == hi);
            }
        }
        self.update_sequence(hi);
        Ok((hi - next + 1) as usize)
    }
}

impl<E: ShmEvent> std::fmt::Debug for ShmConsumer<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmConsumer")
            .field("ring", &self.ring.name())
            .field("name", &self.name())
            .field("index", &self.index())
            .field("sequence", &self.sequence())
            .field("upstream", &self.feed.watch.upstream().len())
            .finish()
    }
}
