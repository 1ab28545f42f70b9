//! [`RewindPolicy`]: how often a stage replays a batch its handler asked to rewind.

use std::time::Duration;

/// How a stage answers [`EventError::Rewind`](crate::EventError::Rewind): replay the current
/// batch from its first event, at most `max_attempts` times in a row, pausing `pause` before
/// each replay; then the rewind counts as a failure
/// ([`EventError::RewindsExhausted`](crate::EventError::RewindsExhausted)) for the stage's
/// exception handler. The default replays nothing: a rewind request is a failure at once.
///
/// A batch is replayed only while none of it was released to the producer (see
/// [`BatchEvent`](crate::BatchEvent)): otherwise the producer might be overwriting it, and the
/// request fails with [`EventError::CannotRewind`](crate::EventError::CannotRewind).
///
/// ```
/// use seqflow_pipeline::RewindPolicy;
/// use std::time::Duration;
/// let p = RewindPolicy::up_to(3).pause(Duration::from_millis(1));
/// assert_eq!(p.max_attempts(), 3);
/// assert_eq!(RewindPolicy::default().max_attempts(), 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RewindPolicy {
    max_attempts: u32,
    pause: Duration,
}

impl RewindPolicy {
    /// Never replay.
    pub const fn never() -> Self {
        Self {
            max_attempts: 0,
            pause: Duration::ZERO,
        }
    }

    /// Replay a batch up to `max_attempts` times in a row.
    pub const fn up_to(max_attempts: u32) -> Self {
        Self {
            max_attempts,
            pause: Duration::ZERO,
        }
    }

    /// Pause before each replay (a transient failure often needs a moment).
    pub const fn pause(mut self, pause: Duration) -> Self {
        self.pause = pause;
        self
    }

    /// The most replays of one batch in a row.
    pub const fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The pause before a replay.
    pub const fn pause_before_replay(&self) -> Duration {
        self.pause
    }
}
