//! [`LossyFeed`]: a lossy subscriber as the [`EventFeed`] of a stage, so that a handler runs as
//! a non-gating stage of a shared ring with the stage loop every other stage uses (batches,
//! `end_of_batch`, hooks, timeouts, panic policy). Events are copied out of the ring (a slot may
//! be overwritten at any time) into a batch buffer the handler reads from.

use crate::{ConsumeError, ShmEvent, ShmSubscriber};
use seqflow_pipeline::{EventFeed, FeedError};
use std::borrow::Borrow;
use std::cell::Cell;
use std::time::Duration;

/// A lossy subscriber feeding a stage: the current batch of copies and the stage's position.
pub(crate) struct LossyFeed<E: ?Sized + ShmEvent> {
    pub sub: ShmSubscriber<E>,
    /// Copies of the events `base ..= base + len - 1`.
    batch: Vec<E::Copy>,
    base: i64,
    /// The most events copied per batch.
    max_batch: usize,
    /// The stage's sequence: everything up to it is handled (or was lost to a lap).
    done: Cell<i64>,
    /// A lap met while filling a batch, reported by the next wait.
    pending: Option<ConsumeError>,
}

impl<E: ?Sized + ShmEvent> LossyFeed<E> {
    pub fn new(sub: ShmSubscriber<E>, max_batch: usize, capacity: usize, stride: usize) -> Self {
        let done = sub.position() - 1;
        // At most a ring's worth, and about 1 MiB of copies (large slots make small batches).
        let by_bytes = (1 << 20) / stride.max(1);
        Self {
            sub,
            batch: Vec::new(),
            base: done + 1,
            max_batch: max_batch.min(capacity).min(by_bytes).clamp(1, 4096),
            done: Cell::new(done),
            pending: None,
        }
    }

    /// A wait or read failed: a lap moves the stage on to where the subscriber resumes and is
    /// reported (logged and counted as a failure the stage continued after).
    fn failed(&mut self, error: ConsumeError) -> FeedError {
        match error {
            ConsumeError::Timeout => FeedError::Timeout,
            ConsumeError::Alerted | ConsumeError::Closed { .. } => FeedError::Stopped,
            ConsumeError::Lapped { resume_at, .. } => {
                self.done.set(resume_at - 1);
                self.batch.clear();
                self.base = resume_at;
                FeedError::Notice(error.to_string())
            }
            e @ ConsumeError::ProducerDied { .. } => FeedError::Notice(e.to_string()),
            e => FeedError::Broken(e.to_string()),
        }
    }
}

// SAFETY: `event` returns references into `batch`, which only `wait_for` (taking `&mut self`)
// changes: no reference handed out for the current batch outlives it. `wait_for` returns `hi`
// only when `seq ..= hi` are in `batch` (copies validated by the lossy read protocol: whole
// events as published). No producer writes the copies, so the gating part of the contract holds
// trivially; `set_sequence` stores with `Release` through the registration.
unsafe impl<E: ?Sized + ShmEvent> EventFeed<E> for LossyFeed<E> {
    fn wait_for(&mut self, seq: i64, timeout: Option<Duration>) -> Result<i64, FeedError> {
        let end = self.base + self.batch.len() as i64 - 1;
        if seq >= self.base && seq <= end {
            // A replay (rewind) of the current batch, or its rest.
            return Ok(end);
        }
        if let Some(error) = self.pending.take() {
            return Err(self.failed(error));
        }
        self.batch.clear();
        let (first, event) = match self.sub.next_timeout(timeout) {
            Ok(read) => read,
            Err(error) => return Err(self.failed(error)),
        };
        self.base = first;
        self.done.set(first - 1);
        self.batch.push(event);
        while self.batch.len() < self.max_batch {
            match self.sub.try_next() {
                Ok((_, event)) => self.batch.push(event),
                Err(ConsumeError::Timeout) => break,
                Err(error) => {
                    self.pending = Some(error);
                    break;
                }
            }
        }
        Ok(self.base + self.batch.len() as i64 - 1)
    }

    #[inline]
    unsafe fn event(&self, seq: i64) -> &E {
        // The caller asks only for sequences `wait_for` returned: inside the batch.
        self.batch[(seq - self.base) as usize].borrow()
    }

    #[inline]
    fn sequence(&self) -> i64 {
        self.done.get()
    }

    #[inline]
    fn set_sequence(&self, seq: i64) {
        self.done.set(seq);
        self.sub.mark_read(seq);
    }

    fn signal(&self) {
        // Nobody waits for a subscriber that does not gate.
    }

    fn halt(&self) {
        self.sub.wake();
    }
}
