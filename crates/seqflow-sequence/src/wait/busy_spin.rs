//! [`BusySpinWait`]: poll in a tight loop. Lowest latency, burns a core per waiter.

use super::{expired, WaitError, WaitStrategy};
use crate::{sync, Alert};
use std::time::Instant;

/// How many polls between two reads of the clock when a deadline is set (a clock read costs
/// about as much as twenty polls of a cached line).
const POLLS_PER_CLOCK_READ: u32 = 64;

/// Poll in a tight loop with a CPU spin hint.
///
/// Use it only when every waiting thread has a core of its own: with more spinning threads than
/// cores, throughput collapses.
///
/// ```
/// use seqflow_sequence::{Alert, BusySpinWait, WaitStrategy};
/// let mut n = 0;
/// assert_eq!(BusySpinWait.wait_until(|| { n += 1; (n > 10).then_some(n) }, &Alert::new(), None), Ok(11));
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct BusySpinWait;

impl WaitStrategy for BusySpinWait {
    #[inline]
    fn wait_until<T, F>(
        &self,
        mut condition: F,
        alert: &Alert,
        deadline: Option<Instant>,
    ) -> Result<T, WaitError>
    where
        F: FnMut() -> Option<T>,
    {
        let mut polls: u32 = 0;
        loop {
            if let Some(value) = condition() {
                return Ok(value);
            }
            if alert.is_raised() {
                return Err(WaitError::Alerted);
            }
            polls = polls.wrapping_add(1);
            if polls % POLLS_PER_CLOCK_READ == 0 && expired(deadline) {
                return Err(WaitError::Timeout);
            }
            sync::spin_loop();
        }
    }

    #[inline]
    fn signal_all(&self) {}
}
