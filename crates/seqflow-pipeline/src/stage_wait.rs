//! A stage's own wait strategy ([`Stages::wait_strategy`](crate::Stages::wait_strategy)): how
//! one stage waits for events, instead of the ring's strategy.

use seqflow_sequence::{
    Alert, BusySpinWait, PhasedBackoffWait, SleepingWait, WaitError, WaitStrategy, YieldingWait,
};
use std::time::Instant;

/// A wait strategy that finds new events by polling, without being woken: the kind a stage can
/// use instead of the ring's. Producers and stages wake only the ring's strategy when they
/// move, so a strategy that sleeps until it is signalled ([`BlockingWait`](crate::BlockingWait),
/// a phased back-off that falls back to it) would leave the stage asleep; it is not one.
///
/// Implemented for [`BusySpinWait`], [`YieldingWait`], [`SleepingWait`] and
/// `PhasedBackoffWait<F>` when `F` is one. Implement it for a strategy of your own only if its
/// waits end by themselves (they poll, or sleep a bounded time).
pub trait SelfWakingWait: WaitStrategy {}

impl SelfWakingWait for BusySpinWait {}
impl SelfWakingWait for YieldingWait {}
impl SelfWakingWait for SleepingWait {}
impl<F: SelfWakingWait> SelfWakingWait for PhasedBackoffWait<F> {}

/// The object-safe form a stage keeps: wait with this strategy until `poll` finds events.
pub(crate) trait StageWait: Send + Sync {
    fn wait(
        &self,
        poll: &mut dyn FnMut() -> Option<i64>,
        alert: &Alert,
        deadline: Option<Instant>,
    ) -> Result<i64, WaitError>;
}

impl<W: SelfWakingWait> StageWait for W {
    fn wait(
        &self,
        poll: &mut dyn FnMut() -> Option<i64>,
        alert: &Alert,
        deadline: Option<Instant>,
    ) -> Result<i64, WaitError> {
        self.wait_until(poll, alert, deadline)
    }
}
