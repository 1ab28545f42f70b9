//! [`RetryPolicy`]: how often and how patiently the bridge retries before it halts.

use std::time::Duration;

/// Retry with exponential backoff, then give up (the sink halts its disruptor, the source
/// stops with an error).
///
/// ```
/// use seqflow_nats::RetryPolicy;
/// use std::time::Duration;
/// let p = RetryPolicy::default();
/// assert_eq!(p.backoff(1), p.initial_backoff);
/// assert!(p.backoff(30) <= p.max_backoff);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (the first one included) before giving up; at least 1.
    pub max_attempts: u32,
    /// The pause before the second attempt.
    pub initial_backoff: Duration,
    /// The longest pause between two attempts (the pause doubles up to it).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 12 attempts, 100 ms doubling up to 5 s: about 40 s of pauses plus the ack timeouts, enough
    /// for a server restart or a cluster leader election.
    fn default() -> Self {
        Self {
            max_attempts: 12,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// Give up at the first failure.
    pub fn no_retry() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The pause after failed attempt number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let shift = attempt.saturating_sub(1).min(20);
        self.initial_backoff
            .saturating_mul(1u32 << shift)
            .min(self.max_backoff)
    }

    /// Whether another attempt is allowed after `attempts` attempts.
    pub fn allows(&self, attempts: u32) -> bool {
        attempts < self.max_attempts.max(1)
    }
}
