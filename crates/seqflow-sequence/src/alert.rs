//! [`Alert`]: the flag that tells waiting consumers to stop (shutdown or halt).

use crate::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A shared stop flag checked by every wait. Raising it makes waits return
/// [`WaitError::Alerted`](crate::WaitError::Alerted); clearing it lets them wait again.
///
/// Raising a flag does not wake a thread blocked in [`BlockingWait`](crate::BlockingWait) by
/// itself: call the wait strategy's `signal_all` afterwards (the pipeline does) to stop it at
/// once; without the signal it sees the alert at its next poll, within
/// [`BlockingWait::RECHECK`](crate::BlockingWait::RECHECK).
///
/// ```
/// use seqflow_sequence::Alert;
/// let alert = Alert::new();
/// let seen_by_consumer = alert.clone();
/// alert.raise();
/// assert!(seen_by_consumer.is_raised());
/// alert.clear();
/// assert!(!seen_by_consumer.is_raised());
/// ```
#[derive(Clone, Default, Debug)]
pub struct Alert {
    raised: Arc<AtomicBool>,
}

impl Alert {
    /// A flag that is not raised.
    ///
    /// ```
    /// assert!(!seqflow_sequence::Alert::new().is_raised());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Raise the flag. `SeqCst`: the blocking wait strategy's lost-wake-up argument pairs this
    /// store with a fence and a load of the waiter count (see `BlockingWait`).
    ///
    /// ```
    /// let a = seqflow_sequence::Alert::new();
    /// a.raise();
    /// assert!(a.is_raised());
    /// ```
    pub fn raise(&self) {
        self.raised.store(true, Ordering::SeqCst);
    }

    /// Lower the flag.
    ///
    /// ```
    /// let a = seqflow_sequence::Alert::new();
    /// a.raise();
    /// a.clear();
    /// assert!(!a.is_raised());
    /// ```
    pub fn clear(&self) {
        self.raised.store(false, Ordering::SeqCst);
    }

    /// Whether the flag is raised (`Acquire`: whatever the raiser wrote before is visible).
    ///
    /// ```
    /// assert!(!seqflow_sequence::Alert::new().is_raised());
    /// ```
    #[inline]
    pub fn is_raised(&self) -> bool {
        self.raised.load(Ordering::Acquire)
    }
}
