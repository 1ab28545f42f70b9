//! A wait strategy for tests that counts the waits it is asked for and the signals it is given
//! (LMAX's DummyWaitStrategy).

use seqflow_pipeline::{SelfWakingWait, WaitStrategy, YieldingWait};
use seqflow_sequence::{Alert, WaitError};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

/// Yields as [`YieldingWait`] does, and counts the waits it is asked for.
#[derive(Clone, Default)]
pub struct Counting {
    pub waits: Arc<AtomicU64>,
    pub signals: Arc<AtomicU64>,
    inner: YieldingWait,
}

impl WaitStrategy for Counting {
    fn wait_until<T, F>(
        &self,
        condition: F,
        alert: &Alert,
        deadline: Option<Instant>,
    ) -> Result<T, WaitError>
    where
        F: FnMut() -> Option<T>,
    {
        self.waits.fetch_add(1, Relaxed);
        self.inner.wait_until(condition, alert, deadline)
    }

    fn signal_all(&self) {
        self.signals.fetch_add(1, Relaxed);
    }
}

impl SelfWakingWait for Counting {}
