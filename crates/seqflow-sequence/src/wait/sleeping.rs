//! [`SleepingWait`]: back off from spinning to yielding to sleeping.

use super::{expired, WaitError, WaitStrategy};
use crate::Alert;
use crossbeam_utils::Backoff;
use std::time::{Duration, Instant};

/// Back off with `crossbeam_utils::Backoff` (spin, then yield), then sleep `sleep` between
/// polls. Cheapest on the CPU of the polling strategies, at the price of up to `sleep` latency.
///
/// ```
/// use seqflow_sequence::{Alert, SleepingWait, WaitStrategy};
/// use std::time::Duration;
/// let w = SleepingWait::new(Duration::from_micros(10));
/// let mut n = 0;
/// assert_eq!(w.wait_until(|| { n += 1; (n > 50).then_some(()) }, &Alert::new(), None), Ok(()));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SleepingWait {
    sleep: Duration,
}

impl SleepingWait {
    /// Sleep `sleep` between polls once the backoff is exhausted.
    ///
    /// ```
    /// let _ = seqflow_sequence::SleepingWait::new(std::time::Duration::from_micros(50));
    /// ```
    pub const fn new(sleep: Duration) -> Self {
        Self { sleep }
    }
}

impl Default for SleepingWait {
    /// Sleep 50 µs between polls after backing off.
    fn default() -> Self {
        Self::new(Duration::from_micros(50))
    }
}

impl WaitStrategy for SleepingWait {
    fn wait_until<T, F>(
        &self,
        mut condition: F,
        alert: &Alert,
        deadline: Option<Instant>,
    ) -> Result<T, WaitError>
    where
        F: FnMut() -> Option<T>,
    {
        let backoff = Backoff::new();
        loop {
            if let Some(value) = condition() {
                return Ok(value);
            }
            if alert.is_raised() {
                return Err(WaitError::Alerted);
            }
            if !backoff.is_completed() {
                backoff.snooze();
                continue;
            }
            let nap = match deadline {
                Some(d) => {
                    if expired(deadline) {
                        return Err(WaitError::Timeout);
                    }
                    self.sleep.min(d.saturating_duration_since(Instant::now()))
                }
                None => self.sleep,
            };
            std::thread::sleep(nap);
        }
    }

    #[inline]
    fn signal_all(&self) {}
}
