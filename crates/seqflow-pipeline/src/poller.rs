//! [`Poller`]: consume from your own loop with `wait_for`, `get` and `update_sequence`.

use crate::PollError;
use seqflow_ring::RingBuffer;
use seqflow_sequence::{SequenceBarrier, WaitError, WaitStrategy};
use seqflow_sequencer::{GatingRegistration, Sequencer};
use std::time::Duration;

/// A consumer you drive yourself: wait for a sequence, read the events up to it, then release
/// them with `update_sequence`. It holds the producer back like a stage until it is dropped.
///
/// Its gating slot is private: nothing but `update_sequence` and `poll` moves it.
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
    registration: GatingRegistration,
    available: i64,
}

impl<E, S: Sequencer> Poller<E, S> {
    pub(crate) fn new(
        barrier: SequenceBarrier<S>,
        ring: RingBuffer<E>,
        registration: GatingRegistration,
    ) -> Self {
        let available = registration.sequence_relaxed();
        Self {
            barrier,
            ring,
            registration,
            available,
        }
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
    /// end_of_batch)`, then release them; returns how many were handled.
    pub fn poll<F: FnMut(&E, i64, bool)>(&mut self, mut handler: F) -> usize {
        let next = self.registration.sequence_relaxed() + 1;
        let Some(upto) = self.barrier.poll(next) else {
            return 0;
        };
        self.available = self.available.max(upto);
        for seq in next..=upto {
            // SAFETY: as in `get`: available and above our gating sequence.
            handler(unsafe { self.ring.get(seq) }, seq, seq == upto);
        }
        self.registration.set_sequence(upto);
        self.barrier.producer().wait_strategy().signal_all();
        (upto - next + 1) as usize
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
