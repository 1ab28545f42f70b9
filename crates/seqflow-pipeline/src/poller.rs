//! [`Poller`]: consume from your own loop with `wait_for`, `get` and `update_sequence`.

use crate::feed::HeapFeed;
use crate::poll_core::{PollCore, PollMisuse};
use crate::{PollError, PollGuard, StageGroup};
use seqflow_ring::RingBuffer;
use seqflow_sequence::{Alert, Deadline, SequenceBarrier, WaitError};
use seqflow_sequencer::{GatingRegistration, Sequencer};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a [`Poller`] would find if it polled now ([`Poller::state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PollState {
    /// Events are available to this poller.
    Processing,
    /// The producer has published the next event, but a stage or poller this one follows has
    /// not processed it yet.
    Gating,
    /// Nothing new is published.
    Idle,
}

/// A consumer you drive yourself: wait for a sequence, read the events up to it, then release
/// them with `update_sequence`. It holds the producer back like a stage until it is dropped.
///
/// Its gating slot is private: nothing but `update_sequence`, `poll` and poll guards move it.
///
/// A poller made by the builder is part of the stage graph: stages and other pollers can come
/// after it ([`group`](Self::group), [`DisruptorBuilder::poller_after`](crate::DisruptorBuilder::poller_after)),
/// and it then stops gating the producer itself (the stages after it do).
///
/// ```compile_fail
/// # use seqflow_pipeline::Disruptor;
/// let mut b = Disruptor::builder(8, || 0u32).single_producer().unwrap();
/// let poller = b.poller().unwrap();
/// poller.registration().set_gating(false); // no access to the slot from outside
/// ```
///
/// ```
/// use seqflow_pipeline::Disruptor;
/// use std::time::Duration;
/// let mut b = Disruptor::builder(8, || 0u32).single_producer().unwrap();
/// let mut poller = b.poller().unwrap();
/// let (d, mut p) = b.start().unwrap();
/// p.publish(|e, _| *e = 7).unwrap();
/// let upto = poller.wait_for(0, Some(Duration::from_secs(5))).unwrap();
/// assert_eq!(*poller.get(0).unwrap(), 7);
/// poller.update_sequence(upto).unwrap();
/// assert!(poller.wait_for(1, Some(Duration::from_millis(1))).is_err()); // timeout
/// drop(poller);
/// d.shutdown().unwrap();
/// ```
pub struct Poller<E, S: Sequencer> {
    core: PollCore<E, HeapFeed<E, S>>,
    group: StageGroup,
    /// Raised when the disruptor stops without draining. After a drained stop a poller that
    /// follows another poller still gets what that one hands on; after a halt it is done.
    halted: Alert,
}

impl<E: Send + Sync, S: Sequencer> Poller<E, S> {
    pub(crate) fn new(
        barrier: SequenceBarrier<S>,
        ring: RingBuffer<E>,
        registration: Arc<GatingRegistration>,
        group: StageGroup,
        halted: Alert,
    ) -> Self {
        let feed = HeapFeed {
            barrier,
            ring,
            registration,
            wait: None,
        };
        Self {
            // SAFETY: the poller moves the feed's sequence only through the core (the feed
            // is private to it, and nothing here calls `set_sequence` on `core.feed()`).
            core: unsafe { PollCore::new(feed) },
            group,
            halted,
        }
    }

    /// Whether a poller that found nothing at `next` after the disruptor's alert is done: the
    /// disruptor was halted, or nothing is published that a stage or poller it follows has
    /// still to hand on (only a poller can: a drained stop ran every stage thread to the end).
    fn finished(feed: &HeapFeed<E, S>, halted: &Alert, next: i64) -> bool {
        let producer = feed.barrier.producer();
        halted.is_raised() || producer.highest_published(next, producer.publish_bound(next)) < next
    }

    /// This poller as a stage group, for stages and pollers that come after it (empty for a
    /// poller added to a running disruptor, which nothing can follow).
    pub fn group(&self) -> StageGroup {
        self.group.clone()
    }

    /// Wait until `seq` is available (published, and handled by the stages this poller comes
    /// after); return the highest available sequence (`>= seq`). `timeout: None` waits until
    /// available or shut down. After a drained shutdown, a poller that follows another poller
    /// goes on waiting for what that one still hands on (see [`poll`](Self::poll)).
    pub fn wait_for(&mut self, seq: i64, timeout: Option<Duration>) -> Result<i64, PollError> {
        let halted = &self.halted;
        // SAFETY: the closure returns what the barrier's wait or poll for `from` returned, and
        // it moves no sequence.
        let waited = unsafe {
            self.core.wait_with(seq, timeout, |feed, from, deadline| {
                match feed.barrier.wait_until(from, deadline) {
                    Err(WaitError::Alerted) => Self::wait_after_drain(feed, halted, from, deadline),
                    waited => waited,
                }
            })
        };
        waited.map_err(|e| match e {
            WaitError::Timeout => {
                tracing::trace!(seq, "poller wait timed out");
                PollError::Timeout { seq }
            }
            WaitError::Alerted => PollError::Alerted,
        })
    }

    /// The rest of a wait for `from` once the disruptor stopped: while a poller this one follows
    /// may still hand events on (see [`finished`](Self::finished)), poll for them (yielding,
    /// then sleeping 100 µs between looks); `Alerted` once it cannot.
    fn wait_after_drain(
        feed: &HeapFeed<E, S>,
        halted: &Alert,
        from: i64,
        deadline: &mut Deadline,
    ) -> Result<i64, WaitError> {
        let at = deadline.begin();
        let mut looks = 0u32;
        loop {
            if let Some(available) = feed.barrier.poll(from) {
                return Ok(available);
            }
            if Self::finished(feed, halted, from) {
                return Err(WaitError::Alerted);
            }
            if at.is_some_and(|at| Instant::now() >= at) {
                return Err(WaitError::Timeout);
            }
            looks += 1;
            if looks < 100 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
    }

    /// The event at `seq`: it must have been waited for and not yet released.
    pub fn get(&self, seq: i64) -> Result<&E, PollError> {
        self.core.get(seq).map_err(PollError::from)
    }

    /// Release every event up to `seq` (the producer may reuse their slots).
    pub fn update_sequence(&mut self, seq: i64) -> Result<(), PollError> {
        self.core.update_sequence(seq).map_err(PollError::from)
    }

    /// Handle every event available now (without waiting) with `handler(event, seq,
    /// end_of_batch)`, then release them; returns how many were handled (0: none now).
    /// [`PollError::Alerted`] once the disruptor is shutting down and nothing is left. If the
    /// handler panics, the events it finished are released and the panic propagates; the next
    /// poll starts again at the event it panicked on. (A guard from
    /// [`poll_events`](Self::poll_events) or [`poll_take`](Self::poll_take) releases all its
    /// events when dropped, by a panic too: read or not, they are done.)
    ///
    /// ```
    /// use seqflow_pipeline::{Disruptor, PollError};
    /// let mut b = Disruptor::builder(8, || 0u32).single_producer().unwrap();
    /// let mut poller = b.poller().unwrap();
    /// let mut p = b.start_owned().unwrap();
    /// p.publish(|e, _| *e = 1).unwrap();
    /// let consumer = std::thread::spawn(move || {
    ///     let mut sum = 0;
    ///     loop {
    ///         match poller.poll(|e, _, _| sum += *e) {
    ///             Ok(_) => std::thread::yield_now(),
    ///             Err(PollError::Alerted) => return sum, // the producer is gone, all consumed
    ///             Err(e) => panic!("{e}"),
    ///         }
    ///     }
    /// });
    /// p.publish(|e, _| *e = 2).unwrap();
    /// drop(p); // the last producer: the disruptor drains and stops
    /// assert_eq!(consumer.join().unwrap(), 3);
    /// ```
    pub fn poll<F: FnMut(&E, i64, bool)>(&mut self, handler: F) -> Result<usize, PollError> {
        match self.poll_range(usize::MAX)? {
            Some((_, upto)) => Ok(self.core.handle_through(upto, handler)),
            None => Ok(0),
        }
    }

    /// As [`poll`](Self::poll), but the handler answers whether to go on (LMAX's
    /// `EventPoller.Handler` returning `false`): the poll stops after the event it answers
    /// `false` to, which counts as handled and is released with those before it; the events
    /// after it stay for the next poll. How many were handled. `end_of_batch` is true for the
    /// last event available, as in `poll`.
    ///
    /// ```
    /// use seqflow_pipeline::Disruptor;
    /// let mut b = Disruptor::builder(8, || 0u32).single_producer().unwrap();
    /// let mut poller = b.poller().unwrap();
    /// let (d, mut p) = b.start().unwrap();
    /// p.publish_batch(5, |e, seq| *e = seq as u32).unwrap();
    /// let mut seen = Vec::new();
    /// // Stop at the first even event past 0.
    /// let handled = poller.poll_while(|e, _, _| { seen.push(*e); *e == 0 || *e % 2 == 1 });
    /// assert_eq!((handled, seen.as_slice()), (Ok(3), &[0, 1, 2][..]));
    /// assert_eq!(poller.poll(|e, _, _| seen.push(*e)), Ok(2)); // 3 and 4, left for this poll
    /// drop(poller);
    /// d.shutdown().unwrap();
    /// ```
    pub fn poll_while<F: FnMut(&E, i64, bool) -> bool>(
        &mut self,
        handler: F,
    ) -> Result<usize, PollError> {
        match self.poll_range(usize::MAX)? {
            Some((_, upto)) => Ok(self.core.handle_while(upto, handler)),
            None => Ok(0),
        }
    }

    /// Every event available now, as a guard that releases them when dropped.
    /// [`PollError::Empty`] when there are none, [`PollError::Alerted`] once the disruptor is
    /// shutting down and nothing is left.
    ///
    /// ```
    /// use seqflow_pipeline::{Disruptor, PollError};
    /// let mut b = Disruptor::builder(8, || 0u32).single_producer().unwrap();
    /// let mut poller = b.poller().unwrap();
    /// let (d, mut p) = b.start().unwrap();
    /// assert!(matches!(poller.poll_events(), Err(PollError::Empty)));
    /// p.publish_batch(5, |e, seq| *e = seq as u32).unwrap();
    /// let mut guard = poller.poll_take(2).unwrap();
    /// assert_eq!(guard.iter().copied().collect::<Vec<_>>(), vec![0, 1]);
    /// drop(guard); // releases 0 and 1
    /// let sum: u32 = poller.poll_events().unwrap().iter().copied().sum();
    /// assert_eq!(sum, 2 + 3 + 4);
    /// drop(poller);
    /// d.shutdown().unwrap();
    /// ```
    pub fn poll_events(&mut self) -> Result<PollGuard<'_, E, S>, PollError> {
        self.poll_take(usize::MAX)
    }

    /// As [`poll_events`](Self::poll_events), but at most `n` events (the rest stay for the next
    /// poll).
    pub fn poll_take(&mut self, n: usize) -> Result<PollGuard<'_, E, S>, PollError> {
        match self.poll_range(n)? {
            Some((next, upto)) => Ok(PollGuard::new(self, next, upto)),
            None => Err(PollError::Empty),
        }
    }

    /// The next sequence and the last one to hand out (at most `n`), or `None` when nothing
    /// is available; `Alerted` when nothing is and the disruptor is stopping.
    fn poll_range(&mut self, n: usize) -> Result<Option<(i64, i64)>, PollError> {
        let next = self.core.sequence() + 1;
        let barrier = &self.core.feed().barrier;
        let Some(upto) = barrier.poll(next) else {
            if barrier.alert().is_raised() {
                // Look again: an event published before the alert still counts.
                if barrier.poll(next).is_none() {
                    // Nothing now; more may still come through a poller this one follows.
                    return if Self::finished(self.core.feed(), &self.halted, next) {
                        Err(PollError::Alerted)
                    } else {
                        Ok(None)
                    };
                }
                return self.poll_range(n);
            }
            return Ok(None);
        };
        // SAFETY: returned by this feed's barrier for `next`, just above our sequence.
        unsafe { self.core.note_available(upto) };
        let cap = i64::try_from(n.max(1)).unwrap_or(i64::MAX);
        Ok(Some((next, upto.min(next.saturating_add(cap - 1)))))
    }

    /// The event at `seq`, for a guard (`next..=upto` of a `poll_range`).
    #[inline]
    pub(crate) fn event(&self, seq: i64) -> &E {
        self.core.event(seq)
    }

    /// Release every event up to `seq` (available, checked by the callers) and wake producers.
    pub(crate) fn release_through(&mut self, seq: i64) {
        self.core.release_through(seq);
    }

    /// What a poll would find now, without handling or releasing anything (LMAX's
    /// `EventPoller.PollState`): [`PollState::Processing`] if events are available,
    /// [`PollState::Gating`] if the producer published the next event but a stage this poller
    /// follows has not processed it yet, [`PollState::Idle`] if nothing new is published.
    ///
    /// ```
    /// use seqflow_pipeline::{Disruptor, PollState};
    /// let mut b = Disruptor::builder(8, || 0u32).single_producer().unwrap();
    /// let mut first = b.poller().unwrap();
    /// let group = first.group();
    /// let mut second = b.poller_after(&[&group]).unwrap();
    /// let (d, mut p) = b.start().unwrap();
    /// assert_eq!(second.state(), PollState::Idle);
    /// p.publish(|e, _| *e = 1).unwrap();
    /// assert_eq!(first.state(), PollState::Processing);
    /// assert_eq!(second.state(), PollState::Gating); // published, `first` has not seen it
    /// assert_eq!(first.poll(|_, _, _| {}), Ok(1));
    /// assert_eq!(second.state(), PollState::Processing);
    /// drop((first, second));
    /// d.shutdown().unwrap();
    /// ```
    pub fn state(&self) -> PollState {
        let next = self.core.sequence() + 1;
        let barrier = &self.core.feed().barrier;
        if barrier.poll(next).is_some() {
            return PollState::Processing;
        }
        let producer = barrier.producer();
        if producer.highest_published(next, producer.publish_bound(next)) >= next {
            PollState::Gating
        } else {
            PollState::Idle
        }
    }

    /// The poller's sequence (the last released event).
    pub fn sequence(&self) -> i64 {
        self.core.sequence()
    }

    /// Whether this poller holds the producer back (it does unless later stages follow it).
    pub fn is_gating(&self) -> bool {
        self.core.feed().registration.is_gating()
    }
}

impl From<PollMisuse> for PollError {
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
