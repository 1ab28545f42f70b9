//! [`ShmConsumer`]: a gating consumer (poller) of a shared ring, in any process.

use crate::feed::ShmFeed;
use crate::registration::Start;
use crate::registry::ConsumerKind;
use crate::{ConsumeError, ShmError, ShmEvent, ShmRing};
use seqflow_pipeline::{EventFeed, Pacer, Pacing, PollCore, PollMisuse};
use std::time::Duration;

/// A consumer that holds producers back: the producer never overwrites an event this consumer
/// has not marked processed with [`update_sequence`](Self::update_sequence).
///
/// Wait with [`wait_for`](Self::wait_for), read with [`get`](Self::get), then mark the batch
/// processed; or do all three with [`poll_batch`](Self::poll_batch) (or [`poll`](Self::poll),
/// without waiting). A consumer made with [`ShmRing::consumer_after`] only sees events the
/// stages it follows have processed. The bookkeeping is the in-process `Poller`'s
/// (`seqflow_pipeline::PollCore`), with the same contract: `get` of a sequence not waited for
/// and `update_sequence` beyond what was waited for (or backwards) are errors.
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
/// producer.publish_batch(3, |e, seq| *e = seq as u64 + 1).unwrap();
/// let mut sum = 0;
/// let n = consumer.poll_batch(Some(Duration::from_secs(1)), |e, _seq, _end| sum += *e).unwrap();
/// assert_eq!((n, sum), (3, 6));
/// assert_eq!(consumer.sequence(), 2);
/// ```
pub struct ShmConsumer<E: ?Sized + ShmEvent> {
    ring: ShmRing<E>,
    core: PollCore<E, ShmFeed<E>>,
    /// The pause `poll_batch` owes after its last batch (see [`set_pacing`](Self::set_pacing)).
    pacer: Pacer,
}

impl<E: ?Sized + ShmEvent> ShmConsumer<E> {
    pub(crate) fn register(ring: ShmRing<E>, name: &str, after: &[&str]) -> Result<Self, ShmError> {
        let start = if after.is_empty() {
            Start::Cursor
        } else {
            Start::After(after)
        };
        let feed = ShmFeed::attach(&ring, ConsumerKind::Consumer, name, start)?;
        let pacer = Pacer::new(feed.default_pacing()).on_ring(Some(ring.capacity()));
        Ok(Self {
            ring,
            // SAFETY: the consumer moves the feed's sequence only through the core (the feed
            // is private to it, and nothing here calls `set_sequence` on `core.feed()`).
            core: unsafe { PollCore::new(feed) },
            pacer,
        })
    }

    /// The consumer's name.
    pub fn name(&self) -> &str {
        &self.core.feed().registration.label
    }

    /// Its slot in the segment's consumer registry.
    pub fn index(&self) -> usize {
        self.core.feed().registration.index
    }

    /// The last sequence marked processed.
    pub fn sequence(&self) -> i64 {
        self.core.sequence()
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
        if !self.core.feed().registration.usable() {
            return Err(ConsumeError::ForkedHandle);
        }
        // SAFETY: the closure is the feed's own wait for `from`, and it moves no sequence.
        unsafe {
            self.core.wait_with(seq, timeout, |feed, from, deadline| {
                feed.wait(from, deadline)
            })
        }
    }

    /// The event at `seq`: it must have been returned by [`wait_for`](Self::wait_for) and not
    /// yet marked processed ([`ConsumeError::NotAvailable`] otherwise).
    ///
    /// ```
    /// # use seqflow_shm::{ConsumeError, ShmOptions, ShmRing};
    /// # use std::time::Duration;
    /// # let name = format!("/seqflow-doc-get-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let mut c = ring.consumer("c").unwrap();
    /// assert_eq!(c.get(0), Err(ConsumeError::NotAvailable { seq: 0, available: -1 }));
    /// ring.producer().unwrap().publish(|e, _| *e = 5).unwrap();
    /// c.wait_for(0, Some(Duration::from_secs(1))).unwrap();
    /// assert_eq!(c.get(0), Ok(&5));
    /// ```
    pub fn get(&self, seq: i64) -> Result<&E, ConsumeError> {
        if !self.core.feed().registration.usable() {
            return Err(ConsumeError::ForkedHandle);
        }
        self.core.get(seq).map_err(ConsumeError::from)
    }

    /// Mark everything up to `seq` processed: producers may reuse those slots and the stages
    /// after this one may read them. `seq` must be between the consumer's sequence and what
    /// [`wait_for`](Self::wait_for) returned ([`ConsumeError::BadUpdate`] otherwise).
    ///
    /// ```
    /// # use seqflow_shm::{ConsumeError, ShmOptions, ShmRing};
    /// # use std::time::Duration;
    /// # let name = format!("/seqflow-doc-update-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let mut c = ring.consumer("c").unwrap();
    /// ring.producer().unwrap().publish_batch(2, |e, _| *e = 1).unwrap();
    /// let hi = c.wait_for(0, Some(Duration::from_secs(1))).unwrap();
    /// assert!(matches!(c.update_sequence(hi + 100), Err(ConsumeError::BadUpdate { .. })));
    /// c.update_sequence(hi).unwrap();
    /// assert_eq!(c.sequence(), 1);
    /// ```
    pub fn update_sequence(&mut self, seq: i64) -> Result<(), ConsumeError> {
        if !self.core.feed().registration.usable() {
            // An inherited copy must not move the parent's position (see `wait_for`).
            return Err(ConsumeError::ForkedHandle);
        }
        self.core.update_sequence(seq).map_err(ConsumeError::from)
    }

    /// Wait for the next event(s), hand each to `handle(event, seq, end_of_batch)`, mark the
    /// batch processed; returns how many were handled.
    ///
    /// After a small batch of several events, the next `poll_batch` may first pause for a few
    /// spin hints, as a stage does (see [`set_pacing`](Self::set_pacing)). The pause comes
    /// before the wait, so a call may return up to one pause (at most
    /// [`Pacing::MAX_SPINS`] hints) after its `timeout`; a zero timeout never pauses.
    #[inline]
    pub fn poll_batch(
        &mut self,
        timeout: Option<Duration>,
        handle: impl FnMut(&E, i64, bool),
    ) -> Result<usize, ConsumeError> {
        let owed = self.pacer.take();
        if owed > 0
            && timeout != Some(Duration::ZERO)
            && self.core.paces()
            && self
                .pacer
                .should_pause(|| self.core.feed().published(self.core.sequence() + 1))
        {
            let status = &self.ring.inner().segment.header.status;
            Pacer::pause(owed, || status.stopping());
        }
        let hi = self.wait_for(self.sequence() + 1, timeout)?;
        let handled = self.core.handle_through(hi, handle);
        self.pacer.handled(handled as i64);
        Ok(handled)
    }

    /// How [`poll_batch`](Self::poll_batch) paces itself behind a streaming producer
    /// ([`Pacing::LONG`] unless set): after a batch of `n` events, `2 <= n <= 63` and fewer than
    /// the ring's slots (a batch that found the ring full says the consumer is behind), the
    /// next call gives `min(32 n, 256)` spin hints (about 6.4 µs at 25 ns a hint) before it
    /// waits, so that events accumulate and the consumer reads the producer's cursor once for
    /// many of them. It first looks whether the next event is there (and then takes it at
    /// once), unless the producer streams at full speed (see
    /// [`Pacer::should_pause`](seqflow_pipeline::Pacer::should_pause)). The pause is longer
    /// than a stage in one process behind one producer pauses ([`Pacing::DEFAULT`], `min(4 n, 64)`): a shared producer does more per event, and
    /// with the shorter pause a consumer in step with a one-at-a-time producer kept the stream
    /// at half the rate or less (docs/benchmarks.md, section 32). As for
    /// a stage, only a consumer that follows the producer alone on a ring whose wait spins first
    /// ([`WaitKind::BusySpin`](crate::WaitKind::BusySpin) or
    /// [`WaitKind::Yielding`](crate::WaitKind::Yielding)) pauses; [`poll`](Self::poll) and a
    /// `poll_batch` with a zero timeout never do. The pause adds at most that much latency to an
    /// event published during a batch or right after it; [`Pacing::OFF`] removes it.
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing};
    /// use seqflow_shm::Pacing;
    /// # let name = format!("/seqflow-doc-pacing-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let mut c = ring.consumer("latency-first").unwrap();
    /// assert_eq!(c.pacing(), Pacing::LONG);
    /// c.set_pacing(Pacing::OFF);
    /// assert_eq!(c.pacing(), Pacing::OFF);
    ///
    /// // The same with several producers.
    /// use seqflow_shm::{ProducerMode, ShmOptions as Options};
    /// # let name = format!("/seqflow-doc-pacing-multi-{}", std::process::id());
    /// let opts = Options { producer: ProducerMode::MultiCas, ..Default::default() };
    /// let multi = ShmRing::<u64>::create(&name, 8, opts).unwrap();
    /// # let _guard = multi.unlink_on_drop();
    /// assert_eq!(multi.consumer("fan-in").unwrap().pacing(), Pacing::LONG);
    /// ```
    pub fn set_pacing(&mut self, pacing: Pacing) {
        self.pacer = Pacer::new(pacing).on_ring(Some(self.ring.capacity()));
    }

    /// How [`poll_batch`](Self::poll_batch) paces itself (see [`set_pacing`](Self::set_pacing)).
    pub fn pacing(&self) -> Pacing {
        self.pacer.pacing()
    }

    /// Handle every event available now (without waiting) as [`poll_batch`](Self::poll_batch)
    /// does; `Ok(0)` when there is none (as the in-process `Poller::poll`).
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing};
    /// # let name = format!("/seqflow-doc-poll-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let mut c = ring.consumer("c").unwrap();
    /// assert_eq!(c.poll(|_, _, _| {}), Ok(0));
    /// ring.producer().unwrap().publish_batch(3, |e, s| *e = s as u64).unwrap();
    /// let mut sum = 0;
    /// assert_eq!(c.poll(|e, _, _| sum += *e), Ok(3));
    /// assert_eq!(sum, 3);
    /// ```
    pub fn poll(&mut self, handle: impl FnMut(&E, i64, bool)) -> Result<usize, ConsumeError> {
        match self.poll_batch(Some(Duration::ZERO), handle) {
            Err(ConsumeError::Timeout) => Ok(0),
            other => other,
        }
    }
}

impl From<PollMisuse> for ConsumeError {
    fn from(m: PollMisuse) -> Self {
        match m {
            PollMisuse::NotAvailable { seq, available } => Self::NotAvailable { seq, available },
            PollMisuse::BadUpdate {
                seq,
                current,
                available,
            } => Self::BadUpdate {
                seq,
                current,
                available,
            },
        }
    }
}

impl<E: ?Sized + ShmEvent> std::fmt::Debug for ShmConsumer<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmConsumer")
            .field("ring", &self.ring.name())
            .field("name", &self.name())
            .field("index", &self.index())
            .field("sequence", &self.sequence())
            .field("upstream", &self.core.feed().watch.upstream().len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use crate::{ShmOptions, ShmRing, WaitKind};
    use seqflow_pipeline::Pacing;
    use std::time::Duration;

    /// A `poll_batch` that found every slot of a small ring published is behind: it owes no
    /// pause; one that left a slot free owes the pause, with the default pacing and a set one.
    #[test]
    fn a_poll_batch_that_finds_a_small_ring_full_owes_no_pause() {
        let name = format!("/seqflow-unit-consumer-full-{}", std::process::id());
        let options = ShmOptions {
            wait: WaitKind::BusySpin,
            ..Default::default()
        };
        let ring = ShmRing::<u64>::create(&name, 8, options).unwrap();
        let _guard = ring.unlink_on_drop();
        let mut consumer = ring.consumer("c").unwrap();
        let mut producer = ring.producer().unwrap();
        let wait = Some(Duration::from_secs(5));
        for pacing in [None, Some(Pacing::DEFAULT)] {
            if let Some(p) = pacing {
                consumer.set_pacing(p);
            }
            let per_event = consumer.pacing().per_event();
            producer.publish_batch(8, |e, s| *e = s as u64).unwrap();
            assert_eq!(consumer.poll_batch(wait, |_, _, _| {}), Ok(8));
            assert_eq!(consumer.pacer.take(), 0, "{pacing:?}: the ring was full");
            producer.publish_batch(5, |e, s| *e = s as u64).unwrap();
            assert_eq!(consumer.poll_batch(wait, |_, _, _| {}), Ok(5));
            assert_eq!(consumer.pacer.take(), 5 * per_event, "{pacing:?}: in step");
        }
    }
}
