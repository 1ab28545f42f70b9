//! [`ShmWorker`]: a worker of a pool whose members may live in different processes; each event
//! is handled by exactly one of them.
//!
//! The pool's work cursor lives in the segment. A worker claims the next sequence by CAS on it
//! (work stealing, as in LMAX's `WorkProcessor`): before the CAS it sets its own gating
//! sequence to the value it read, so the producer cannot overwrite the sequence it is about to
//! claim; after handling it, its sequence moves to the handled sequence. Workers of one pool
//! therefore gate the producer at the oldest sequence any of them is still handling.

use crate::feed::ShmFeed;
use crate::registration::Start;
use crate::registry::ConsumerKind;
use crate::{ConsumeError, ShmError, ShmEvent, ShmRing};
use seqflow_pipeline::EventFeed;
use seqflow_sequence::{OwnedRef, Sequence};
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
    feed: ShmFeed<E>,
    work: OwnedRef<Sequence>,
    pool: String,
    /// The event being handled (claimed from the pool, not yet done).
    handling: Option<i64>,
    /// The highest sequence known to be published.
    available: i64,
}

impl<E: ShmEvent> ShmWorker<E> {
    pub(crate) fn register(ring: ShmRing<E>, pool: &str) -> Result<Self, ShmError> {
        let feed = ShmFeed::attach(&ring, ConsumerKind::Worker, pool, Start::Pool(pool))?;
        let work = feed.pool_work(&ring)?;
        Ok(Self {
            ring,
            feed,
            work,
            pool: pool.to_owned(),
            handling: None,
            available: -1,
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
        let deadline = seqflow_sequence::deadline_after(timeout);
        loop {
            let current = self.work.get();
            let next = current + 1;
            // Gate the producer at the pool's position before waiting for and claiming `next`
            // (never backwards: the work cursor only grows, and so does this).
            if current > self.feed.sequence() {
                self.feed.set_sequence(current);
            }
            if self.available < next {
                let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
                self.available = self.feed.wait(next, left)?;
            }
            if !self.work.compare_and_set(current, next) {
                // Another worker took it: look again.
                continue;
            }
            self.handling = Some(next);
            // SAFETY: `next` is published (`<= available`), and this worker's gating sequence
            // is `current = next - 1` or lower (set before the claim), so no producer can claim
            // `next + capacity` while the reference lives (it does not outlive `handle`).
            let out = handle(unsafe { self.feed.event(next) }, next);
            self.handling = None;
            self.feed.set_sequence(next);
            self.feed.wake();
            return Ok((next, out));
        }
    }
}

impl<E: ShmEvent> Drop for ShmWorker<E> {
    fn drop(&mut self) {
        if let Some(seq) = self.handling.take() {
            // Only a handler that panicked leaves a claim behind: that event is lost.
            if self.feed.registration.is_owner() {
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
