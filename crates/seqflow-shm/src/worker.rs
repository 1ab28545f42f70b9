//! [`ShmWorker`]: a worker of a pool whose members may live in different processes; each event
//! is handled by exactly one of them.
//!
//! The pool's work cursor lives in the segment. A worker claims the next sequence by CAS on it
//! (work stealing, as in LMAX's `WorkProcessor`): before the CAS it sets its own gating
//! sequence to the value it read, so the producer cannot overwrite the sequence it is about to
//! claim; after handling it, its sequence moves to the handled sequence. A worker that stops
//! asking for events (a process busy with the last one it took) would keep its sequence there;
//! the other workers raise it to the pool's work sequence before they wait and every half ring
//! of claims (`idle_workers.rs`). Workers of one pool therefore gate the producer at the oldest
//! sequence any of them is still handling, or at the pool's work sequence.

use crate::feed::ShmFeed;
use crate::registration::Start;
use crate::registry::ConsumerKind;
use crate::{ConsumeError, ShmError, ShmEvent, ShmRing};
use seqflow_pipeline::EventFeed;
use seqflow_sequence::{Deadline, OwnedRef, Sequence};
use std::time::Duration;

/// One worker of a pool: [`process`](Self::process) waits for the pool's next event, claims it
/// and hands it to a closure. Nothing is claimed while waiting, so a wait that times out (or a
/// worker that leaves or is killed while idle) hides and loses nothing.
///
/// A worker that is not inside `process` holds nothing back: the other workers of its pool
/// move its gating sequence up to the events the pool has taken whenever they wait, so a
/// process may take an event and work on it for as long as it likes without stopping the
/// producers a ring later.
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
/// ring.producer().unwrap().publish_batch(2, |e, seq| *e = seq as u64).unwrap();
/// let t = Some(Duration::from_secs(1));
/// let (sa, va) = a.process(t, |e, _| *e).unwrap();
/// let (sb, vb) = b.process(t, |e, _| *e).unwrap();
/// assert_eq!((sa, sb, va, vb), (0, 1, 0, 1));
/// ```
pub struct ShmWorker<E: ?Sized + ShmEvent> {
    ring: ShmRing<E>,
    feed: ShmFeed<E>,
    work: OwnedRef<Sequence>,
    pool: String,
    /// The claimed events not yet handled (first, last).
    handling: Option<(i64, i64)>,
    /// The highest sequence known to be published.
    available: i64,
}

impl<E: ?Sized + ShmEvent> ShmWorker<E> {
    pub(crate) fn register(ring: ShmRing<E>, pool: &str) -> Result<Self, ShmError> {
        let mut feed = ShmFeed::attach(&ring, ConsumerKind::Worker, pool, Start::Pool(pool))?;
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
        let mut handle = Some(handle);
        let mut out = None;
        let (seq, _) = self.claim_and_handle(1, timeout, |event, seq, _| {
            out = handle.take().map(|h| h(event, seq));
        })?;
        // `claim_and_handle` handed exactly one event to the closure.
        out.map(|o| (seq, o)).ok_or(ConsumeError::Alerted)
    }

    /// Take up to `max` of the pool's next events with one claim and hand each to
    /// `handle(event, seq, end_of_batch)`; returns the first and last sequence handled. Waits at
    /// most `timeout` for the first event (as [`process`](Self::process)); takes only events
    /// already published, so it never waits to fill a batch.
    ///
    /// A batch is one claim: the events of a batch go to this worker in order, and a worker
    /// killed inside `handle` loses what is left of its batch (where [`process`](Self::process)
    /// loses at most one event). Use it where per-event claims cost more than that risk, as the
    /// Python `Queue.get_many` does.
    ///
    /// ```
    /// use seqflow_shm::{ShmOptions, ShmRing};
    /// use std::time::Duration;
    /// # let name = format!("/seqflow-doc-workbatch-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let mut w = ring.worker("thumbs").unwrap();
    /// ring.producer().unwrap().publish_batch(5, |e, seq| *e = seq as u64).unwrap();
    /// let mut sum = 0;
    /// let t = Some(Duration::from_secs(1));
    /// assert_eq!(w.process_batch(3, t, |e, _, _| sum += *e).unwrap(), (0, 2));
    /// assert_eq!(w.process_batch(3, t, |e, _, _| sum += *e).unwrap(), (3, 4));
    /// assert_eq!(sum, 10);
    /// ```
    pub fn process_batch(
        &mut self,
        max: usize,
        timeout: Option<Duration>,
        handle: impl FnMut(&E, i64, bool),
    ) -> Result<(i64, i64), ConsumeError> {
        self.claim_and_handle(max.max(1), timeout, handle)
    }

    /// Wait for the pool's next event, claim it and up to `max - 1` more that are published,
    /// hand them to `handle`, then release them.
    fn claim_and_handle(
        &mut self,
        max: usize,
        timeout: Option<Duration>,
        mut handle: impl FnMut(&E, i64, bool),
    ) -> Result<(i64, i64), ConsumeError> {
        if self.handling.is_some() {
            // A handler panicked inside the last batch and the caller went on with this
            // worker: the rest of that batch was never handled.
            self.count_lost_batch();
        }
        // One deadline for the call, started only if a wait has to wait.
        let mut deadline = Deadline::within(timeout);
        let (next, last) = seqflow_pipeline::claim_from_pool(
            &mut self.feed,
            &self.work,
            &mut self.available,
            max,
            |feed, seq| feed.wait(seq, &mut deadline),
        )?;
        self.handling = Some((next, last));
        let mut seq = next;
        while seq <= last {
            // `seq <= last <= available` came from this feed's own wait (gap-free from the
            // sequence asked for); this worker's gating sequence is `next - 1` or lower.
            // SAFETY: so no producer claims `seq + capacity` while the reference lives (it
            // does not outlive this call of `handle`).
            let event = unsafe { self.feed.event(seq) };
            handle(event, seq, seq == last);
            self.handling = Some((seq + 1, last));
            // If this process dies now, the reaper counts what is left as lost.
            self.feed.note_unhandled((last - seq) as u64);
            seq += 1;
        }
        self.handling = None;
        // Never lowers: once the last note said nothing is in hand, another worker may have
        // raised this one past `last`.
        self.feed.raise_sequence(last);
        self.feed.wake();
        Ok((next, last))
    }
}

impl<E: ?Sized + ShmEvent> ShmWorker<E> {
    /// Count the unhandled rest of the batch a panicking handler left (see `Drop`).
    fn count_lost_batch(&mut self) {
        if self.feed.registration.is_owner() {
            // Counted here, not again by a reaper.
            self.feed.note_unhandled(0);
        }
        if let Some((first, last)) = self.handling.take() {
            // Only a handler that panicked leaves a claim behind: the events from the one it
            // was handling to the end of its batch are lost.
            if self.feed.registration.is_owner() {
                let lost = u64::try_from(last - first + 1).unwrap_or(0);
                tracing::warn!(pool = %self.pool, first, last, "a handler panicked inside a batch: its unhandled rest is lost");
                self.ring
                    .inner()
                    .segment
                    .header
                    .status
                    .lost_pool_events
                    .fetch_add(lost, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}

impl<E: ?Sized + ShmEvent> Drop for ShmWorker<E> {
    fn drop(&mut self) {
        self.count_lost_batch();
    }
}

impl<E: ?Sized + ShmEvent> std::fmt::Debug for ShmWorker<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmWorker")
            .field("ring", &self.ring.name())
            .field("pool", &self.pool)
            .field("handling", &self.handling)
            .field("work_cursor", &self.work_cursor())
            .finish()
    }
}
