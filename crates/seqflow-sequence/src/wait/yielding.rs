//! [`YieldingWait`]: spin briefly, then yield the CPU between polls.

use super::{wait_loop, IdleStep, WaitError, WaitStrategy};
use crate::{sync, Alert};
use std::time::Instant;

/// Spin `spin_tries` polls, then call `yield_now` between polls.
///
/// A good default when threads may outnumber cores: latency stays low while a waiting thread
/// hands its core to whoever has work.
///
/// ```
/// use seqflow_sequence::{Alert, WaitStrategy, YieldingWait};
/// let w = YieldingWait::new(10);
/// let mut n = 0;
/// assert_eq!(w.wait_until(|| { n += 1; (n > 20).then_some(()) }, &Alert::new(), None), Ok(()));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct YieldingWait {
    spin_tries: u32,
}

impl YieldingWait {
    /// Spin `spin_tries` polls before yielding.
    pub const fn new(spin_tries: u32) -> Self {
        Self { spin_tries }
    }
}

impl Default for YieldingWait {
    /// 100 spins before yielding.
    fn default() -> Self {
        Self::new(100)
    }
}

/// The idle step of [`YieldingWait`]: spin hints first (no clock reads), then yields.
struct SpinThenYield {
    spins_left: u32,
    polled: bool,
}

impl IdleStep for SpinThenYield {
    /// A spin hint before the first poll too (see `BusySpinWait`'s idle step): callers wait
    /// only after a poll of their own missed.
    #[inline]
    fn before_poll(&mut self) {
        if !self.polled {
            self.polled = true;
            sync::spin_loop();
        }
    }

    #[inline]
    fn deadline_due(&mut self) -> bool {
        self.spins_left == 0
    }

    #[inline]
    fn pause(&mut self, _deadline: Option<Instant>) {
        if self.spins_left > 0 {
            self.spins_left -= 1;
            sync::spin_loop();
        } else {
            sync::yield_now();
        }
    }
}

impl WaitStrategy for YieldingWait {
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
        let mut idle = SpinThenYield {
            spins_left: self.spin_tries,
            polled: false,
        };
        wait_loop(condition, alert, deadline, &mut idle)
    }

    #[inline]
    fn signal_all(&self) {}

    /// With at least 64 spin tries: as many as a stage's default pause; a wait with fewer is
    /// meant to give the core up soon.
    #[inline]
    fn spins_first(&self) -> bool {
        self.spin_tries >= 64
    }
}
