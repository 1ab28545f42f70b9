//! [`ShmWorker`]: a worker of a pool whose members may live in different processes; each event
//! is handled by exactly one of them.
//!
//! The pool's work cursor lives in the segment. A worker claims the next sequence by CAS on it
//! (work stealing, as in LMAX's `WorkProcessor`): before the CAS it sets its own gating
//! sequence to the value it read, so the producer cannot overwrite the sequence it is about to
//! claim; after handling it, its sequence moves to the handled sequence. Workers of one pool
//! therefore gate the producer at the oldest sequence any of them is still handling.

use crate::registration::{Registration, Start};
use crate::registry::ConsumerKind;
use crate::watch::Watch;
use crate::{ConsumeError, ShmError, ShmEvent, ShmRing, ShmSequencer};
use seqflow_ring::RingBuffer;
use seqflow_sequence::{Cursor, OwnedRef, Sequence, SequenceBarrier, WaitStrategy};
use std::time::Duration;

/// One worker of a pool: [`process`](Self::process) waits for the pool's next event, claims it
/// and hands it to a closure. Nothing is claimed while waiting, so a wait that times out (or a
/// worker that leaves or is killed while idle) hides and loses nothing.
///
/// If the worker's process dies inside the closure, that one event is lost (counted as
/// `lost_pool_events` by `inspect`); the rest of the pool goes on once a producer releases the
/// dead worker's slot. A worker joining a pool with no live worker starts at the producer
/// cursor: events nobody in the pool held may have been overwritten.
///
/// ```
/// use seqflow_shm::{ShmOptions, ShmRing};
/// use std::time::Duration;
/// # let name = format!("/seqflow-doc-work-{}", std::process::id());
/// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
/// # let _guard = ring.unlink_on_drop();
/// let mut a = ring.worker("thumbs").unwrap();
/// let mut b = ring.worker("thumbs").unwrap();
/// ring.producer().unwrap().publish_batch(2, None, |e, seq| *e = seq as u64).unwrap();
/// let t = Some(Duration::from_secs(1));
/// let (sa, va) = a.process(t, |e, _| *e).unwrap();
/// let (sb, vb) = b.process(t, |e, _| *e).unwrap();
/// assert_eq!((sa, sb, va, vb), (0, 1, 0, 1));
/// ```
pub struct ShmWorker<E: ShmEvent> {
    ring: ShmRing<E>,
    events: RingBuffer<E>,
    barrier: SequenceBarrier<ShmSequencer>,
    watch: Watch,
    work: OwnedRef<Sequence>,
    pool: String,
    /// The event being handled (claimed from the pool, not yet done).
    handling: Option<i64>,
    /// The highest sequence known to be published.
    available: i64,
    registration: Registration,
}

impl<E: ShmEvent> ShmWorker<E> {
    pub(crate) fn register(ring: ShmRing<E>, pool: &str) -> Result<Self, ShmError> {
        let inner = ring.inner().clone();
        let registered =
            Registration::register(&inner, ConsumerKind::Worker, pool, true, Start::Pool(pool))?;
        let Some(pool_index) = registered.pool else {
            return Err(ShmError::PoolsFull {
                name: ring.name().to_owned(),
                max: inner.segment.pools.len(),
            });
        };
        let pool_entry = &inner.segment.pools[pool_index];
        // SAFETY: the work cursor lives in the pools region of the mapping, which the `OwnedRef`
        // keeps alive through the mapping's `Arc`.
        let work = unsafe {
            OwnedRef::from_raw(
                std::ptr::NonNull::from(&pool_entry.work),
                inner.segment.map.clone(),
            )
        };
        let alert = inner.sequencer.alert().clone();
        let barrier = SequenceBarrier::new(inner.sequencer.clone(), Vec::new(), alert);
        Ok(Self {
            events: ring.ring(),
            ring,
            barrier,
            watch: Watch::new(inner, registered.upstream),
            work,
            pool: pool.to_owned(),
            handling: None,
            available: -1,
            registration: registered.registration,
        })
    }

    /// The pool's name.
    pub fn pool(&self) -> &str {
        &self.pool
    }

    /// The pool's work cursor: the highest sequence claimed by any of its workers.
    pub fn work_cursor(&self) -> i64 {
        self.work.get()
    }

    /// Take the next event of the pool and handle it with `handle(event, seq)`; returns the
    /// sequence and what the handler returned. Waits at most `timeout` for an event
    /// (`None`: until one arrives or the ring is halted; `Some(Duration::ZERO)`: only if one
    /// is there now).
    ///
    /// A worker claims an event only once it is published, and hands it to the handler at once:
    /// a wait that times out holds no claim, so an idle worker never hides an event from the
    /// others, and a worker that leaves or is killed while idle loses nothing. A worker killed
    /// inside `handle` loses that one event (counted in the segment's status).
    pub fn process<R>(
        &mut self,
        timeout: Option<Duration>,
        handle: impl FnOnce(&E, i64) -> R,
    ) -> Result<(i64, R), ConsumeError> {
        if !self.registration.usable() {
            return Err(ConsumeError::ForkedHandle);
        }
        let deadline = seqflow_sequence::deadline_after(timeout);
        loop {
            let current = self.work.get();
            let next = current + 1;
            // Gate the producer at the pool's position before waiting for and claiming `next`
            // (never backwards: the work cursor only grows, and so does this).
            if current > self.registration.sequence.get_relaxed() {
                self.registration.sequence.set(current);
            }
            if self.available < next {
                let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
                let barrier = &self.barrier;
                let hi = self.watch.wait(next, left, || barrier.poll(next))?;
                self.watch.check_abandoned(next, hi)?;
                self.available = hi;
            }
            if !self.work.compare_and_set(current, next) {
                // Another worker took it: look again.
                continue;
            }
            self.handling = Some(next);
            // SAFETY: `next` is published (`<= available`), and this worker's gating sequence
            // is `current = next - 1` or lower (set before the claim), so no producer can claim
            // `next + capacity` while the reference lives (it does not outlive `handle`).
            let out = handle(unsafe { self.events.get(next) }, next);
            self.handling = None;
            self.registration.sequence.set(next);
            self.ring.sequencer().wait_strategy().signal_all();
            return Ok((next, out));
        }
    }
}

impl<E: ShmEvent> Drop for ShmWorker<E> {
    fn drop(&mut self) {
        if let Some(seq) = self.handling.take() {
            // Only a handler that panicked leaves a claim behind: that event is lost.
            if self.registration.is_owner() {
                tracing::warn!(pool = %self.pool, seq, "worker dropped while handling an event; the event is lost");
                self.ring
                    .inner()
                    .segment
                    .header
                    .status
                    .lost_pool_events
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}

impl<E: ShmEvent> std::fmt::Debug for ShmWorker<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmWorker")
            .field("ring", &self.ring.name())
            .field("pool", &self.pool)
            .field("handling", &self.handling)
            .field("work_cursor", &self.work_cursor())
            .finish()
    }
}
