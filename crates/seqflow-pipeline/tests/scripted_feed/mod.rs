//! A scripted single-producer feed of `u64` events for stage-loop tests: its k-th wait sees
//! the producer's cursor at `cursor_at[k]` (the last one repeats), a wait past the last one
//! stops the stage, and every wait and pacing question is logged in order.

use parking_lot::Mutex;
use seqflow_pipeline::{EventFeed, FeedError, Pacing};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What a stage asked its feed, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `paces()`.
    Ask,
    /// `published(seq)`.
    Look(i64),
    /// `wait_for(seq)`.
    Wait(i64),
}

/// The feed; build it with [`Scripted::new`] and adjust the public fields.
pub struct Scripted {
    pub events: Vec<u64>,
    pub cursor_at: Vec<i64>,
    waits: usize,
    /// Slots per 64-byte line for `partial_line` (`None`: the trait's default, no partial
    /// lines).
    pub slots_per_line: Option<i64>,
    /// What `paces` answers.
    pub pace: bool,
    /// What `capacity` answers.
    pub capacity: Option<usize>,
    /// What `published` answers.
    pub published: bool,
    /// What `default_pacing` answers.
    pub default_pacing: Pacing,
    /// Every call, in order.
    pub calls: Arc<Mutex<Vec<Call>>>,
    sequence: AtomicI64,
}

impl Scripted {
    /// Events `0..events` (each holding its own sequence), the cursor script, no partial lines,
    /// never pacing.
    pub fn new(events: u64, cursor_at: Vec<i64>) -> Self {
        Scripted {
            events: (0..events).collect(),
            cursor_at,
            waits: 0,
            slots_per_line: None,
            pace: false,
            capacity: None,
            published: false,
            default_pacing: Pacing::DEFAULT,
            calls: Arc::default(),
            sequence: AtomicI64::new(-1),
        }
    }
}

// SAFETY: `wait_for` never answers less than asked or past what the script published, the
// events are a plain vector nobody writes, and the sequence is a `Release` store.
unsafe impl EventFeed<u64> for Scripted {
    fn wait_for(&mut self, seq: i64, _: Option<Duration>) -> Result<i64, FeedError> {
        self.calls.lock().push(Call::Wait(seq));
        if seq > *self.cursor_at.last().unwrap() {
            return Err(FeedError::Stopped);
        }
        let k = self.waits.min(self.cursor_at.len() - 1);
        self.waits += 1;
        Ok(self.cursor_at[k].max(seq))
    }
    fn paces(&self) -> bool {
        self.calls.lock().push(Call::Ask);
        self.pace
    }
    fn default_pacing(&self) -> Pacing {
        self.default_pacing
    }
    fn capacity(&self) -> Option<usize> {
        self.capacity
    }
    fn published(&self, seq: i64) -> bool {
        self.calls.lock().push(Call::Look(seq));
        self.published
    }
    unsafe fn event(&self, seq: i64) -> &u64 {
        &self.events[seq as usize]
    }
    fn partial_line(&self, seq: i64) -> usize {
        self.slots_per_line.map_or(0, |n| ((seq + 1) % n) as usize)
    }
    fn sequence(&self) -> i64 {
        self.sequence.load(Ordering::Relaxed)
    }
    fn set_sequence(&self, seq: i64) {
        self.sequence.store(seq, Ordering::Release)
    }
    fn signal(&self) {}
    fn halt(&self) {}
}
