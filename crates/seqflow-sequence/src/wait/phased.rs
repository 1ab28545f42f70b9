//! [`PhasedBackoffWait`]: spin, then yield, then hand the wait to a fallback strategy.

use super::{expired, wait_loop, BlockingWait, IdleStep, SleepingWait, WaitError, WaitStrategy};
use crate::{sync, Alert};
use std::time::{Duration, Instant};

/// How many polls between two reads of the clock during the spin and yield phases.
const POLLS_PER_CLOCK_READ: u32 = 64;

/// Wait in three phases: spin for `spin`, then yield the CPU between polls until `spin + yield`
/// has passed, then wait with the `fallback` strategy (blocking or sleeping) for the rest.
///
/// Good for stages that are mostly busy but sometimes idle for long: bursts see spin latency,
/// idle periods cost no CPU. Publishers signal the fallback, so a blocked waiter is woken as
/// with the fallback alone; a waiter still in the first two phases polls and needs no signal.
///
/// ```
/// use seqflow_sequence::{Alert, PhasedBackoffWait, WaitStrategy};
/// use std::time::Duration;
/// let w = PhasedBackoffWait::with_lock(Duration::from_micros(10), Duration::from_micros(10));
/// let mut n = 0;
/// assert_eq!(w.wait_until(|| { n += 1; (n > 3).then_some(n) }, &Alert::new(), None), Ok(4));
/// ```
#[derive(Debug, Default)]
pub struct PhasedBackoffWait<F> {
    spin: Duration,
    yield_for: Duration,
    fallback: F,
}

impl<F: WaitStrategy> PhasedBackoffWait<F> {
    /// Spin for `spin`, yield for `yield_for`, then wait with `fallback`.
    pub const fn new(spin: Duration, yield_for: Duration, fallback: F) -> Self {
        Self {
            spin,
            yield_for,
            fallback,
        }
    }

    /// The fallback strategy.
    pub fn fallback(&self) -> &F {
        &self.fallback
    }
}

impl PhasedBackoffWait<BlockingWait> {
    /// Spin, yield, then block on a condition variable ([`BlockingWait`], without a spin of
    /// its own: the first two phases are this wait's spin).
    pub fn with_lock(spin: Duration, yield_for: Duration) -> Self {
        Self::new(spin, yield_for, BlockingWait::with_spin(0))
    }
}

impl PhasedBackoffWait<SleepingWait> {
    /// Spin, yield, then sleep between polls ([`SleepingWait`] with its default nap).
    pub fn with_sleep(spin: Duration, yield_for: Duration) -> Self {
        Self::new(spin, yield_for, SleepingWait::default())
    }
}

/// The idle step of the first two phases: spin hints until `yield_from`, yields after it; the
/// clock is read every 64 polls (the phase end is the loop's deadline).
struct SpinThenYieldUntil {
    yield_from: Instant,
    yielding: bool,
    polls: u32,
}

impl IdleStep for SpinThenYieldUntil {
    #[inline]
    fn deadline_due(&mut self) -> bool {
        self.polls = self.polls.wrapping_add(1);
        self.yielding || self.polls % POLLS_PER_CLOCK_READ == 0
    }

    #[inline]
    fn pause(&mut self, _deadline: Option<Instant>) {
        if !self.yielding && self.polls % POLLS_PER_CLOCK_READ == 0 {
            self.yielding = Instant::now() >= self.yield_from;
        }
        if self.yielding {
            sync::yield_now();
        } else {
            sync::spin_loop();
        }
    }
}

impl<F: WaitStrategy> WaitStrategy for PhasedBackoffWait<F> {
    fn wait_until<T, C>(
        &self,
        mut condition: C,
        alert: &Alert,
        deadline: Option<Instant>,
    ) -> Result<T, WaitError>
    where
        C: FnMut() -> Option<T>,
    {
        let start = Instant::now();
        let phase_end = start.checked_add(self.spin.saturating_add(self.yield_for));
        // The first two phases end at the caller's deadline or the phase end, whichever is first.
        let early = match (deadline, phase_end) {
            (Some(d), Some(p)) => Some(d.min(p)),
            (d, p) => d.or(p),
        };
        let mut idle = SpinThenYieldUntil {
            yield_from: start.checked_add(self.spin).unwrap_or(start),
            yielding: self.spin.is_zero(),
            polls: 0,
        };
        match wait_loop(&mut condition, alert, early, &mut idle) {
            Err(WaitError::Timeout) if !expired(deadline) => {
                self.fallback.wait_until(condition, alert, deadline)
            }
            done => done,
        }
    }

    #[inline]
    fn signal_all(&self) {
        self.fallback.signal_all();
    }

    /// When it has a spin phase.
    #[inline]
    fn spins_first(&self) -> bool {
        !self.spin.is_zero()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::Sequence;
    use std::sync::Arc;

    #[test]
    fn falls_back_to_blocking_and_is_woken_by_a_signal() {
        let wait = Arc::new(PhasedBackoffWait::with_lock(Duration::ZERO, Duration::ZERO));
        let seq = Arc::new(Sequence::default());
        let (w, s) = (wait.clone(), seq.clone());
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            s.set(3);
            w.signal_all();
        });
        let got = wait.wait_until(
            || (seq.get() >= 3).then_some(seq.get()),
            &Alert::new(),
            deadline_in(30),
        );
        assert_eq!(got, Ok(3));
        t.join().unwrap();
    }

    #[test]
    fn a_deadline_inside_the_spin_phase_times_out() {
        let wait = PhasedBackoffWait::with_sleep(Duration::from_secs(60), Duration::ZERO);
        let got = wait.wait_until(|| None::<()>, &Alert::new(), deadline_in(0));
        assert_eq!(got, Err(WaitError::Timeout));
    }

    #[test]
    fn a_deadline_after_the_phases_times_out_in_the_fallback() {
        let wait = PhasedBackoffWait::with_sleep(Duration::ZERO, Duration::from_micros(50));
        let got = wait.wait_until(|| None::<()>, &Alert::new(), Some(Instant::now()));
        assert_eq!(got, Err(WaitError::Timeout));
        let got = wait.wait_until(
            || None::<()>,
            &Alert::new(),
            Some(Instant::now() + Duration::from_millis(2)),
        );
        assert_eq!(got, Err(WaitError::Timeout));
    }

    #[test]
    fn alert_stops_every_phase() {
        let alert = Alert::new();
        alert.raise();
        let wait = PhasedBackoffWait::with_lock(Duration::from_millis(1), Duration::from_millis(1));
        assert_eq!(
            wait.wait_until(|| None::<()>, &alert, None),
            Err(WaitError::Alerted)
        );
    }

    fn deadline_in(secs: u64) -> Option<Instant> {
        Some(Instant::now() + Duration::from_secs(secs))
    }
}
