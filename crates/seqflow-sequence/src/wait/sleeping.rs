//! [`SleepingWait`]: back off from spinning to yielding to sleeping.

use super::{wait_loop, IdleStep, WaitError, WaitStrategy};
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

/// The idle step of [`SleepingWait`]: the backoff's snoozes, then naps no longer than the
/// time left before the deadline.
struct BackoffThenSleep {
    backoff: Backoff,
    sleep: Duration,
}

impl IdleStep for BackoffThenSleep {
    #[inline]
    fn deadline_due(&mut self) -> bool {
        self.backoff.is_completed()
    }

    fn pause(&mut self, deadline: Option<Instant>) {
        if !self.backoff.is_completed() {
            self.backoff.snooze();
            return;
        }
        let nap = match deadline {
            Some(d) => self.sleep.min(d.saturating_duration_since(Instant::now())),
            None => self.sleep,
        };
        std::thread::sleep(nap);
    }
}

impl WaitStrategy for SleepingWait {
    fn wait_until<T, F>(
        &self,
        condition: F,
        alert: &Alert,
        deadline: Option<Instant>,
    ) -> Result<T, WaitError>
    where
        F: FnMut() -> Option<T>,
    {
        let mut idle = BackoffThenSleep {
            backoff: Backoff::new(),
            sleep: self.sleep,
        };
        wait_loop(condition, alert, deadline, &mut idle)
    }

    #[inline]
    fn signal_all(&self) {}
}
