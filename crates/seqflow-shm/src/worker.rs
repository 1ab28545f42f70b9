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

/// One worker of a pool: [`process`](Self::process) claims the pool's next event, waits for it,
/// and hands it to a closure. A claimed event whose wait times out stays claimed by this worker
/// (the next `process` call handles it).
///
/// If the worker's process dies, the event it was handling is lost (at most once); the rest of
/// the pool goes on once a producer releases the dead worker's slot.
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
    /// A sequence claimed from the pool and not yet handled.
    claimed: Option<i64>,
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
            claimed: None,
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

    /// Claim the pool's next event (or keep the one claimed by a call that timed out), wait up
    /// to `timeout` for it, and hand it to `handle`. Returns its sequence and what `handle`
    /// returned.
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing, ConsumeError};
    /// # use std::time::Duration;
    /// # let name = format!("/seqflow-doc-process-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let mut w = ring.worker("pool").unwrap();
    /// assert_eq!(w.process(Some(Duration::from_millis(1)), |e, _| *e), Err(ConsumeError::Timeout));
    /// ring.producer().unwrap().publish(|e, _| *e = 4).unwrap();
    /// // The timed-out call kept sequence 0 claimed; this one handles it.
    /// assert_eq!(w.process(Some(Duration::from_secs(1)), |e, _| *e * 2), Ok((0, 8)));
    /// assert_eq!(w.work_cursor(), 0);
    /// ```
    pub fn process<R>(
        &mut self,
        timeout: Option<Duration>,
        handle: impl FnOnce(&E, i64) -> R,
    ) -> Result<(i64, R), ConsumeError> {
        let next = match self.claimed {
            Some(next) => next,
            None => self.claim_next(),
        };
        self.claimed = Some(next);
        if self.available < next {
            let barrier = &self.barrier;
            let hi = self.watch.wait(next, timeout, || barrier.poll(next))?;
            self.watch.check_abandoned(next, hi)?;
            self.available = hi;
        }
        // SAFETY: `next` is published (`<= available`), and this worker's gating sequence is
        // `next - 1` or lower (set before the claim), so no producer can claim `next + capacity`
        // while the reference lives (it does not outlive `handle`).
        let out = handle(unsafe { self.events.get(next) }, next);
        self.claimed = None;
        self.registration.sequence.set(next);
        self.ring.sequencer().wait_strategy().signal_all();
        Ok((next, out))
    }

    fn claim_next(&self) -> i64 {
        loop {
            let current = self.work.get();
            // Gate the producer before the sequence becomes ours (see the module docs).
            self.registration.sequence.set(current);
            if self.work.compare_and_set(current, current + 1) {
                return current + 1;
            }
        }
    }
}

impl<E: ShmEvent> Drop for ShmWorker<E> {
    fn drop(&mut self) {
        if let Some(next) = self.claimed.take() {
            if !self.registration.is_owner() {
                return;
            }
            // Hand an unhandled claim back if nobody claimed after it; otherwise it is lost.
            if !self.work.compare_and_set(next, next - 1) {
                tracing::warn!(pool = %self.pool, seq = next, "worker dropped with an unhandled claim; the event is skipped");
            }
        }
    }
}

impl<E: ShmEvent> std::fmt::Debug for ShmWorker<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmWorker")
            .field("ring", &self.ring.name())
            .field("pool", &self.pool)
            .field("claimed", &self.claimed)
            .field("work_cursor", &self.work_cursor())
            .finish()
    }
}
