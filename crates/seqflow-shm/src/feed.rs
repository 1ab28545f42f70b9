//! [`ShmFeed`]: a consumer's side of a shared ring (its registration, the barrier on the
//! producer and the stages it follows, the liveness watch), and the [`EventFeed`] through which
//! the stage loops of `seqflow-pipeline` run on it. [`ShmConsumer`](crate::ShmConsumer),
//! [`ShmWorker`](crate::ShmWorker) and [`ShmStage`](crate::ShmStage) are all built on it.

use crate::idle_workers::IdleRaise;
use crate::pool_members::PoolFollow;
use crate::registration::{Registration, Start};
use crate::registry::ConsumerKind;
use crate::watch::Watch;
use crate::{ConsumeError, ShmError, ShmEvent, ShmRing, ShmSequencer};
use seqflow_pipeline::{EventFeed, FeedError};
use seqflow_ring::RingBuffer;
use seqflow_sequence::{
    Alert, Cursor, Deadline, OwnedRef, Sequence, SequenceBarrier, WaitStrategy,
};
use std::time::Duration;

/// One registered consumer's view of a shared ring.
pub(crate) struct ShmFeed<E: ?Sized + ShmEvent> {
    pub events: RingBuffer<E>,
    barrier: SequenceBarrier<ShmSequencer>,
    pub watch: Watch,
    pub registration: Registration,
    /// For workers: the pool's index in the segment.
    pub pool: Option<usize>,
    /// Raised to end waits early (a stage's stop signal).
    pub stop: Option<Alert>,
    /// For workers (once [`pool_work`](Self::pool_work) was asked for): raising the pool's
    /// idle workers before waits.
    idle_raise: Option<IdleRaise>,
    /// The pools this consumer follows, whose workers it takes again when they change.
    follow: PoolFollow,
}

/// Why a poll inside a wait ended without a sequence to hand out.
enum Interrupt {
    /// The workers of a followed pool changed: take them again, then poll again.
    Members,
    Consume(ConsumeError),
}

impl<E: ?Sized + ShmEvent> ShmFeed<E> {
    /// Register a gating consumer of `kind` named `label`, starting as `start` says.
    pub fn attach(
        ring: &ShmRing<E>,
        kind: ConsumerKind,
        label: &str,
        start: Start<'_>,
    ) -> Result<Self, ShmError> {
        let inner = ring.inner().clone();
        // Waits that find events look only at the stopping mark: make it agree with the closed
        // and halted words (a segment written by something else than a close or a halt).
        inner.segment.header.status.mark_if_stopped();
        let registered = Registration::register(&inner, kind, label, true, start)?;
        let sequence = registered.registration.sequence.get();
        let dependents = registered
            .upstream
            .iter()
            .map(|u| u.sequence.clone())
            .collect();
        let alert = inner.sequencer.alert().clone();
        let barrier = SequenceBarrier::new(inner.sequencer.clone(), dependents, alert);
        Ok(Self {
            events: ring.ring(),
            barrier,
            watch: Watch::new(inner, registered.upstream, sequence),
            registration: registered.registration,
            pool: registered.pool,
            stop: None,
            idle_raise: None,
            follow: registered.follow,
        })
    }

    /// The work sequence of this worker's pool; `PoolsFull` if the registry gave it none. From
    /// then on, waits raise the pool's idle workers (`idle_workers.rs`).
    pub fn pool_work(&mut self, ring: &ShmRing<E>) -> Result<OwnedRef<Sequence>, ShmError> {
        let segment = &ring.inner().segment;
        let entry = self
            .pool
            .and_then(|p| segment.pools.get(p))
            .ok_or_else(|| ShmError::PoolsFull {
                name: ring.name().to_owned(),
                max: segment.pools.len(),
            })?;
        // SAFETY: the work cursor lives in the pools region of the mapping, which the `OwnedRef`
        // keeps alive through the mapping's `Arc`.
        let work = unsafe {
            OwnedRef::from_raw(std::ptr::NonNull::from(&entry.work), segment.map.clone())
        };
        self.idle_raise = Some(IdleRaise::new(work.clone(), self.events.capacity()));
        Ok(work)
    }

    /// Wait until `seq` is available (published, and handled by the stages this one follows);
    /// the highest available sequence. Liveness, closing and dead producers' claims are checked
    /// on the way (see [`Watch`]).
    pub fn wait(&mut self, seq: i64, deadline: &mut Deadline) -> Result<i64, ConsumeError> {
        if !self.registration.usable() {
            return Err(ConsumeError::ForkedHandle);
        }
        // A pool worker polls once itself: whether the wait would block decides whether it
        // raises the pool's idle workers first, and a hit is the wait's answer.
        let polled = match (&mut self.idle_raise, self.pool) {
            (Some(raise), Some(pool)) => {
                let polled = self.barrier.poll(seq);
                let ring = self.watch.ring();
                if raise.before_wait(ring, pool, self.registration.index, seq, polled.is_none()) {
                    self.barrier.producer().wait_strategy().signal_all();
                }
                polled
            }
            // A stage after a pool: a wait that would block first raises the pool's idle
            // workers, which may be all that holds it back.
            _ if !self.follow.is_empty() => {
                let polled = self.barrier.poll(seq);
                if polled.is_none() && self.follow.raise_idle_workers(self.watch.ring()) > 0 {
                    self.barrier.producer().wait_strategy().signal_all();
                }
                polled.filter(|_| !self.follow.changed())
            }
            // Neither: the first poll of the wait, here, so that a hit (a consumer behind the
            // producer) does not set up the wait at all.
            _ => self.barrier.poll(seq),
        };
        let hi = match polled {
            Some(hi) => hi,
            None => loop {
                match self.wait_polling(seq, deadline)? {
                    Ok(hi) => break hi,
                    Err(Interrupt::Consume(e)) => return Err(e),
                    Err(Interrupt::Members) => {
                        // The wait begins here if it had not (a pool that cannot be decided
                        // yet keeps interrupting it): the deadline bounds the retries, each of
                        // which may wait one registry timeout for the lock.
                        let at = deadline.begin();
                        if !self.take_members_again()? && !crate::claimer::before(at) {
                            return Err(ConsumeError::Timeout);
                        }
                    }
                }
            },
        };
        // One load while the ring runs. A claim refused at a close or halt, published unread,
        // was refused by a producer that saw the stopping word set: a consumer that sees its
        // publish sees the word too.
        let hi = if self.watch.ring().segment.header.status.stopping() {
            self.limit_stopped(seq, hi)?
        } else {
            hi
        };
        // A gating consumer is never more than a lap behind what is published; a segment that
        // says otherwise was written by something else (and one batch would run for ever).
        // Measured from this consumer's own gating sequence when that is ahead of `seq`: a pool
        // worker that waited while the other workers raised it (`idle_workers.rs`) asks for a
        // sequence the pool has left behind, and the producers are bounded by the raise. The
        // raise is visible here: it came before the publish of `hi` that the wait saw.
        let capacity = self.events.capacity();
        let behind = (seq - 1).max(self.registration.sequence.get());
        if hi.saturating_sub(behind) > capacity as i64 {
            return Err(ConsumeError::Inconsistent {
                seq,
                available: hi,
                capacity,
            });
        }
        self.watch.check_abandoned(seq, hi)?;
        Ok(hi)
    }

    /// What a ring that is stopping lets this consumer have of `seq..=hi`: nothing from a ring
    /// halted everywhere (its consumers stop without draining), nothing past the end of a
    /// closed ring (a claim refused at the close is published unread).
    #[cold]
    #[inline(never)]
    fn limit_stopped(&self, seq: i64, hi: i64) -> Result<i64, ConsumeError> {
        let ring = self.watch.ring();
        if ring.halted_everywhere() {
            return Err(ConsumeError::Alerted);
        }
        match ring.closed_end() {
            Some(end) if seq > end => Err(ConsumeError::Closed { end }),
            Some(end) => Ok(hi.min(end)),
            None => Ok(hi),
        }
    }

    /// Poll `seq` until it is available, a followed pool's workers change, or the wait ends.
    fn wait_polling(
        &mut self,
        seq: i64,
        deadline: &mut Deadline,
    ) -> Result<Result<i64, Interrupt>, ConsumeError> {
        let barrier = &self.barrier;
        let stop = self.stop.as_ref();
        let follow = &self.follow;
        // A pool worker raised by the other workers while it waited (`idle_workers.rs`) asks for
        // a sequence the pool has left behind, which a multi-producer ring may have lapped (its
        // availability mark then matches again only a multiple of 256 laps later): its own
        // sequence, everything up to which is published, ends the wait, and the worker reads the
        // work sequence again. A poll that matched a lapped mark ends it the same way: the
        // answer, a sequence a lap below the work sequence at least, claims nothing
        // (`claim_from_pool` claims only above the work sequence it reads afterwards).
        let raised = self.pool.is_some().then_some(&self.registration.sequence);
        self.watch.wait(seq, deadline, || {
            let polled = barrier.poll(seq);
            // Read after the followed sequences (`pool_members.rs`): a worker that joined a
            // followed pool since its workers were taken is seen here before its event is read.
            if follow.changed() {
                return Some(Err(Interrupt::Members));
            }
            match polled {
                Some(hi) => Some(Ok(hi)),
                None if stop.is_some_and(Alert::is_raised) => {
                    Some(Err(Interrupt::Consume(ConsumeError::Alerted)))
                }
                None => match raised.map(|own| own.get()) {
                    Some(own) if own >= seq => Some(Ok(own)),
                    _ => None,
                },
            }
        })
    }

    /// Take the workers of the followed pools that changed again, and wait on them from now on;
    /// `false` if a pool could not be decided yet (see `PoolFollow::refresh`).
    #[cold]
    fn take_members_again(&mut self) -> Result<bool, ConsumeError> {
        let ring = std::sync::Arc::clone(self.watch.ring_arc());
        let upstream = self.watch.upstream_mut();
        if !self.follow.refresh(&ring, upstream)? {
            return Ok(false);
        }
        let dependents = upstream.iter().map(|u| u.sequence.clone()).collect();
        self.barrier = SequenceBarrier::new(
            ring.sequencer.clone(),
            dependents,
            self.barrier.alert().clone(),
        );
        Ok(true)
    }

    /// Wake producers (and later stages) waiting for this consumer.
    #[inline]
    pub fn wake(&self) {
        self.barrier.producer().wait_strategy().signal_all();
    }
}

// SAFETY: `wait` returns only sequences the barrier reports published by the segment's
// sequencer and handled by every upstream stage; the registration is a gating slot of that
// sequencer's table (registered under the registry lock, held while this feed lives), so no
// producer in any process claims `q + capacity` while it is below `q`; `Sequence::set` is a
// `Release` store. A handle inherited through fork never reads: `wait` refuses it first.
unsafe impl<E: ?Sized + ShmEvent> EventFeed<E> for ShmFeed<E> {
    fn wait_for(&mut self, seq: i64, timeout: Option<Duration>) -> Result<i64, FeedError> {
        self.wait(seq, &mut Deadline::within(timeout))
            .map_err(|e| match e {
                ConsumeError::Timeout => FeedError::Timeout,
                ConsumeError::Alerted | ConsumeError::Closed { .. } => FeedError::Stopped,
                e @ ConsumeError::ProducerDied { .. } => FeedError::Notice(e.to_string()),
                e => FeedError::Broken(e.to_string()),
            })
    }

    /// [`Pacing::LONG`](crate::Pacing::LONG), with one producer or several. A shared producer
    /// does more per event than one in a single process (the fork check, its claim's end in its
    /// producer slot, the look at the ring's status), and behind one publishing one event at a
    /// time, a consumer pausing as little as a stage in one process does settled into batches
    /// of about 16 events, at half the rate the longer pause gives or less (docs/benchmarks.md,
    /// section 32).
    fn default_pacing(&self) -> crate::Pacing {
        crate::Pacing::LONG
    }

    /// The barrier's poll of `seq`.
    #[inline]
    fn published(&self, seq: i64) -> bool {
        self.barrier.poll(seq).is_some()
    }

    /// As in one process: only a consumer whose ring strategy spins first
    /// ([`WaitStrategy::spins_first`](seqflow_sequence::WaitStrategy::spins_first)) and that
    /// follows the producer alone.
    #[inline]
    fn paces(&self) -> bool {
        self.barrier.producer().wait_strategy().spins_first()
            && self.barrier.dependents().is_empty()
    }

    #[inline]
    unsafe fn event(&self, seq: i64) -> &E {
        // SAFETY: the caller's contract (published, gated by our slot) is `RingBuffer::get`'s.
        unsafe { self.events.get(seq) }
    }

    #[inline]
    fn capacity(&self) -> Option<usize> {
        Some(self.events.capacity())
    }

    #[inline]
    fn run_from(&self, seq: i64) -> usize {
        self.events.run_from(seq)
    }

    #[inline]
    fn partial_line(&self, seq: i64) -> usize {
        self.events.partial_line(seq)
    }

    #[inline]
    unsafe fn visit_run<Err>(
        &self,
        first: i64,
        last: i64,
        visit: impl FnMut(i64, std::ptr::NonNull<E>) -> Result<(), Err>,
    ) -> Result<(), Err> {
        // SAFETY: the caller's contract (published, gated by our slot, inside one run) is
        // `visit_slots`'s.
        unsafe { seqflow_pipeline::visit_slots(&self.events, first, last, visit) }
    }

    #[inline]
    fn sequence(&self) -> i64 {
        self.registration.sequence.get_relaxed()
    }

    #[inline]
    fn set_sequence(&self, seq: i64) {
        self.registration.sequence.set(seq);
    }

    #[inline]
    fn raise_sequence(&self, seq: i64) {
        self.registration.sequence.fetch_max(seq);
    }

    #[inline]
    fn signal(&self) {
        self.wake();
    }

    #[inline]
    fn note_unhandled(&self, count: u64) {
        let ring = self.watch.ring();
        if let Some(entry) = ring.segment.registry.get(self.registration.index) {
            // The reaper adds what is left here to the lost pool events if this process dies.
            // `Release`: a worker of the pool that reads zero here may raise this one's
            // sequence (`idle_workers.rs`), so the reads of the handled events come first.
            entry
                .handling
                .store(count, std::sync::atomic::Ordering::Release);
        }
    }

    fn halt(&self) {
        // Other processes go on: a halted stage ends its run with the error, and its slot is
        // released (or, declared, kept) like any consumer's that leaves.
        self.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ProducerMode, ShmOptions, WaitKind};

    /// Every feed a shared ring hands out (a consumer's, a stage's, a pool worker's) asks for
    /// the longer pause, whatever the producer mode and the wait kind.
    #[test]
    fn every_shared_feed_asks_for_the_long_pause() {
        for (k, producer) in [ProducerMode::Single, ProducerMode::MultiCas]
            .into_iter()
            .enumerate()
        {
            for (w, wait) in [WaitKind::BusySpin, WaitKind::Yielding, WaitKind::Futex]
                .into_iter()
                .enumerate()
            {
                let name = format!("/seqflow-unit-feed-pacing-{k}-{w}-{}", std::process::id());
                let options = ShmOptions {
                    producer,
                    wait,
                    ..Default::default()
                };
                let ring = ShmRing::<u64>::create(&name, 8, options).unwrap();
                let _guard = ring.unlink_on_drop();
                let consumer =
                    ShmFeed::attach(&ring, ConsumerKind::Consumer, "c", Start::Cursor).unwrap();
                let worker =
                    ShmFeed::attach(&ring, ConsumerKind::Worker, "w", Start::Pool("w")).unwrap();
                for feed in [&consumer, &worker] {
                    assert_eq!(
                        feed.default_pacing(),
                        crate::Pacing::LONG,
                        "{producer:?} {wait:?}"
                    );
                }
            }
        }
    }

    /// A consumer that follows the producer alone on a ring whose wait spins first paces,
    /// whether events are published or not (that is the look `published` answers); one that
    /// follows a stage, or waits with the futex, does not. The feed tells the ring's size.
    #[test]
    fn only_a_first_consumer_on_a_spinning_ring_paces() {
        for (w, (wait, spins)) in [
            (WaitKind::BusySpin, true),
            (WaitKind::Yielding, true),
            (WaitKind::Futex, false),
        ]
        .into_iter()
        .enumerate()
        {
            let name = format!("/seqflow-unit-feed-paces-{w}-{}", std::process::id());
            let options = ShmOptions {
                wait,
                ..Default::default()
            };
            let ring = ShmRing::<u64>::create(&name, 8, options).unwrap();
            let _guard = ring.unlink_on_drop();
            let first = ShmFeed::attach(&ring, ConsumerKind::Consumer, "c", Start::Cursor).unwrap();
            let after =
                ShmFeed::attach(&ring, ConsumerKind::Consumer, "d", Start::After(&["c"])).unwrap();
            assert_eq!(first.capacity(), Some(8));
            assert_eq!(first.paces(), spins, "{wait:?}, nothing published");
            ring.producer()
                .unwrap()
                .publish_batch(3, |e, s| *e = s as u64)
                .unwrap();
            assert_eq!(first.paces(), spins, "{wait:?}, events published");
            assert!(first.published(0) && first.published(2) && !first.published(3));
            assert!(!after.paces(), "{wait:?}: a follower never paces");
        }
    }
}
