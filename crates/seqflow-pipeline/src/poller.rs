//! [`Poller`]: consume from your own loop with `wait_for`, `get` and `update_sequence`.

use crate::{PollError, PollGuard, StageGroup};
use seqflow_ring::RingBuffer;
use seqflow_sequence::{SequenceBarrier, WaitError, WaitStrategy};
use seqflow_sequencer::{GatingRegistration, Sequencer};
use std::sync::Arc;
use std::time::Duration;

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
    barrier: SequenceBarrier<S>,
    ring: RingBuffer<E>,
    registration: Arc<GatingRegistration>,
    available: i64,
    group: StageGroup,
}

impl<E, S: Sequencer> Poller<E, S> {
    pub(crate) fn new(
        barrier: SequenceBarrier<S>,
        ring: RingBuffer<E>,
        registration: Arc<GatingRegistration>,
        group: StageGroup,
    ) -> Self {
        let available = registration.sequence_relaxed();
        Self {
            barrier,
            ring,
            registration,
            available,
            group,
        }
    }

    /// This poller as a stage group, for stages and pollers that come after it (empty for a
    /// poller added to a running disruptor, which nothing can follow).
    pub fn group(&self) -> StageGroup {
        self.group.clone()
    }

    /// Wait until `seq` is available (published, and handled by the stages this poller comes
    /// after); return the highest available sequence (`>= seq`). `timeout: None` waits until
    /// available or shut down.
    pub fn wait_for(&mut self, seq: i64, timeout: Option<Duration>) -> Result<i64, PollError> {
        if seq <= self.available {
            return Ok(self.available);
        }
        match self.barrier.wait_for(seq, timeout) {
            Ok(upto) => {
                self.available = upto;
                Ok(upto)
            }
            Err(WaitError::Timeout) => {
                tracing::trace!(seq, "poller wait timed out");
                Err(PollError::Timeout { seq })
            }
            Err(WaitError::Alerted) => Err(PollError::Alerted),
        }
    }

    /// The event at `seq`: it must have been waited for and not yet released.
    pub fn get(&self, seq: i64) -> Result<&E, PollError> {
        if seq <= self.registration.sequence_relaxed() || seq > self.available {
            return Err(PollError::NotAvailable {
                seq,
                available: self.available,
            });
        }
        // SAFETY: `seq` is available (published, handled by our dependencies) and above our own
        // gating sequence, so the producer cannot reclaim the slot while `&self` is borrowed:
        // releasing needs `&mut self`.
        Ok(unsafe { self.ring.get(seq) })
    }

    /// Release every event up to `seq` (the producer may reuse their slots).
    pub fn update_sequence(&mut self, seq: i64) -> Result<(), PollError> {
        let current = self.registration.sequence_relaxed();
        if seq < current || seq > self.available {
            return Err(PollError::BadUpdate {
                seq,
                current,
                available: self.available,
            });
        }
        self.registration.set_sequence(seq);
        self.barrier.producer().wait_strategy().signal_all();
        Ok(())
    }

    /// Handle every event available now (without waiting) with `handler(event, seq,
    /// end_of_batch)`, then release them; returns how many were handled (0: none now).
    /// [`PollError::Alerted`] once the disruptor is shutting down and nothing is left.
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
    pub fn poll<F: FnMut(&E, i64, bool)>(&mut self, mut handler: F) -> Result<usize, PollError> {
        let Some((next, upto)) = self.poll_range(usize::MAX)? else {
            return Ok(0);
        };
        for seq in next..=upto {
            // SAFETY: as in `get`: available and above our gating sequence.
            handler(unsafe { self.ring.get(seq) }, seq, seq == upto);
        }
        self.release_through(upto);
        Ok((upto - next + 1) as usize)
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
        let next = self.registration.sequence_relaxed() + 1;
        let Some(upto) = self.barrier.poll(next) else {
            if self.barrier.alert().is_raised() {
                // Look again: an event published before the alert still counts.
                if self.barrier.poll(next).is_none() {
                    return Err(PollError::Alerted);
                }
                return self.poll_range(n);
            }
            return Ok(None);
        };
        self.available = self.available.max(upto);
        let cap = i64::try_from(n.max(1)).unwrap_or(i64::MAX);
        Ok(Some((next, upto.min(next.saturating_add(cap - 1)))))
    }

    /// The event at `seq`, for a guard (`next..=upto` of a `poll_range`).
    #[inline]
    pub(crate) fn event(&self, seq: i64) -> &E {
        debug_assert!(seq > self.registration.sequence_relaxed() && seq <= self.available);
        // SAFETY: guards hand out only sequences of a `poll_range`: available and above our
        // gating sequence, which moves only when the guard (borrowing `self` mutably) drops.
        unsafe { self.ring.get(seq) }
    }

    /// Release every event up to `seq` (available, checked by the callers) and wake producers.
    pub(crate) fn release_through(&mut self, seq: i64) {
        self.registration.set_sequence(seq);
        self.barrier.producer().wait_strategy().signal_all();
    }

    /// The poller's sequence (the last released event).
    pub fn sequence(&self) -> i64 {
        self.registration.sequence_relaxed()
    }

    /// Whether this poller holds the producer back (it does unless later stages follow it).
    pub fn is_gating(&self) -> bool {
        self.registration.is_gating()
    }
}
