//! [`YieldingWait`]: spin briefly, then yield the CPU between polls.

use super::{expired, WaitError, WaitStrategy};
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
    ///
    /// ```
    /// let _ = seqflow_sequence::YieldingWait::new(100);
    /// ```
    pub const fn new(spin_tries: u32) -> Self {
        Self { spin_tries }
    }
}

impl Default for YieldingWait {
    /// 100 spins before yielding, as in the LMAX Disruptor.
    fn default() -> Self {
        Self::new(100)
    }
}

impl WaitStrategy for YieldingWait {
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
            if polls < self.spin_tries {
                polls += 1;
                sync::spin_loop();
            } else {
                if expired(deadline) {
                    return Err(WaitError::Timeout);
                }
                sync::yield_now();
            }
        }
    }

    #[inline]
    fn signal_all(&self) {}
}
