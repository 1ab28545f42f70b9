//! [`BusySpinWait`]: poll in a tight loop. Lowest latency, burns a core per waiter.

use super::{wait_loop, IdleStep, WaitError, WaitStrategy};
use crate::{sync, Alert};
use std::time::Instant;

/// How many polls between two reads of the clock when a deadline is set.
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

/// The idle step of [`BusySpinWait`]: a spin hint; the clock is read every 64 polls.
#[derive(Debug, Default)]
struct Spin {
    polls: u32,
}

impl IdleStep for Spin {
    /// A spin hint before the first poll too: callers wait only after a poll of their own
    /// missed, and polling again at once would read the line the producer is about to write
    /// (each extra read takes the line away from the writer's core and slows it down).
    #[inline]
    fn before_poll(&mut self) {
        if self.polls == 0 {
            sync::spin_loop();
        }
    }

    #[inline]
    fn deadline_due(&mut self) -> bool {
        self.polls = self.polls.wrapping_add(1);
        self.polls % POLLS_PER_CLOCK_READ == 0
    }

    #[inline]
    fn pause(&mut self, _deadline: Option<Instant>) {
        sync::spin_loop();
    }
}

impl WaitStrategy for BusySpinWait {
    #[inline]
    fn wait_until<T, F>(
        &self,
        condition: F,
        alert: &Alert,
        deadline: Option<Instant>,
    ) -> Result<T, WaitError>
    where
        F: FnMut() -> Option<T>,
    {
        wait_loop(condition, alert, deadline, &mut Spin::default())
    }

    #[inline]
    fn signal_all(&self) {}

    #[inline]
    fn spins_first(&self) -> bool {
        true
    }
}
