//! [`BlockingWait`]: sleep on a condition variable until a publisher signals.

use super::{spin_before_sleep, wait_loop, IdleStep, WaitError, WaitStrategy};
use crate::sync::atomic::{fence, AtomicUsize, Ordering};
use crate::Alert;
use std::time::Instant;

#[cfg(not(loom))]
use parking_lot::{Condvar, Mutex};

#[cfg(loom)]
use loom::sync::{Condvar, Mutex};

/// Block on a `parking_lot` condition variable; publishers wake waiters only when there are any.
///
/// The CPU-friendliest strategy and the one to use when threads outnumber cores. A waiter first
/// polls [`DEFAULT_SPIN_POLLS`](Self::DEFAULT_SPIN_POLLS) times, spinning about 3 µs and then
/// yielding a few times between polls ([`spin_before_sleep`]; [`with_spin`](Self::with_spin)
/// changes the count), so events that follow each other closely never pay for a sleep and a
/// wake-up. Then it sleeps. The cost on the signalling side is one `SeqCst` fence and a load
/// per signal while nobody sleeps, a lock and a `notify_all` when somebody does.
///
/// A sleep lasts at most [`RECHECK`](Self::RECHECK) (10 ms; [`recheck`](Self::recheck) changes
/// it): a sequence moved by code that does not signal, or an alert raised without a signal, is
/// seen within that.
///
/// No lost wake-up: a waiter increments `waiters` and then polls under the lock; a signaller
/// makes its sequence store, then a `SeqCst` fence, then reads `waiters`. Either the signaller's
/// fence comes first in the single total order of `SeqCst` operations, and the waiter's poll sees
/// the new sequence, or the waiter's increment comes first and the signaller sees a waiter, takes
/// the lock (so it cannot slip in between the waiter's poll and its sleep) and notifies.
///
/// ```
/// use seqflow_sequence::{Alert, BlockingWait, Sequence, WaitStrategy};
/// use std::sync::Arc;
/// let wait = Arc::new(BlockingWait::default());
/// let seq = Arc::new(Sequence::default());
/// let (w, s) = (wait.clone(), seq.clone());
/// let t = std::thread::spawn(move || { s.set(0); w.signal_all(); });
/// let got = wait.wait_until(|| { let v = seq.get(); (v >= 0).then_some(v) }, &Alert::new(), None);
/// assert_eq!(got, Ok(0));
/// t.join().unwrap();
/// ```
#[derive(Debug)]
pub struct BlockingWait {
    waiters: AtomicUsize,
    lock: Mutex<()>,
    condvar: Condvar,
    spin_polls: u32,
    /// The longest sleep before a poll ([`RECHECK`](Self::RECHECK) unless set), or none.
    recheck: Option<std::time::Duration>,
}

impl BlockingWait {
    /// Polls before sleeping by default: the [`SPIN_POLLS`](crate::SPIN_POLLS) that spin (about
    /// 3 µs where a spin hint takes 25 ns), then three that yield. One poll under loom, whose
    /// models explore every interleaving of every poll.
    pub const DEFAULT_SPIN_POLLS: u32 = if cfg!(loom) { 1 } else { super::SPIN_POLLS + 3 };

    /// The longest a waiter sleeps before it polls again, signalled or not. Publishers and the
    /// pipeline's stages signal every move a waiter may wait for; code that moves a sequence
    /// without signalling (a raw [`Sequence::set`](crate::Sequence::set), a gating registration
    /// dropped or set by hand, an [`Alert`] raised without
    /// [`signal_all`](WaitStrategy::signal_all)) delays a waiter by at most this, never for
    /// ever. An idle waiter wakes 100 times a second.
    pub const RECHECK: std::time::Duration = std::time::Duration::from_millis(10);

    /// Poll `spin_polls` times before the first sleep (0: sleep as soon as a poll misses).
    ///
    /// ```
    /// use seqflow_sequence::{Alert, BlockingWait, WaitError, WaitStrategy};
    /// use std::time::{Duration, Instant};
    /// let wait = BlockingWait::with_spin(0);
    /// let soon = Instant::now() + Duration::from_millis(2);
    /// assert_eq!(wait.wait_until(|| None::<()>, &Alert::new(), Some(soon)), Err(WaitError::Timeout));
    /// ```
    pub fn with_spin(spin_polls: u32) -> Self {
        Self {
            waiters: AtomicUsize::new(0),
            lock: Mutex::new(()),
            condvar: Condvar::new(),
            spin_polls,
            recheck: Some(Self::RECHECK),
        }
    }

    /// Sleep at most `every` before polling again, signalled or not (default
    /// [`RECHECK`](Self::RECHECK)); `None`: sleep until signalled (or the deadline), for
    /// programs where every move is signalled and an idle thread should never wake — and for
    /// tests that prove every move is signalled.
    ///
    /// ```
    /// use seqflow_sequence::{Alert, BlockingWait, WaitError, WaitStrategy};
    /// use std::time::{Duration, Instant};
    /// let wait = BlockingWait::with_spin(0).recheck(None);
    /// let soon = Instant::now() + Duration::from_millis(2);
    /// assert_eq!(wait.wait_until(|| None::<()>, &Alert::new(), Some(soon)), Err(WaitError::Timeout));
    /// ```
    pub fn recheck(mut self, every: Option<std::time::Duration>) -> Self {
        self.recheck = every;
        self
    }
}

impl Default for BlockingWait {
    /// [`DEFAULT_SPIN_POLLS`](Self::DEFAULT_SPIN_POLLS) polls before sleeping.
    fn default() -> Self {
        Self::with_spin(Self::DEFAULT_SPIN_POLLS)
    }
}

impl WaitStrategy for BlockingWait {
    fn wait_until<T, F>(
        &self,
        mut condition: F,
        alert: &Alert,
        deadline: Option<Instant>,
    ) -> Result<T, WaitError>
    where
        F: FnMut() -> Option<T>,
    {
        if let Some(value) = condition() {
            return Ok(value);
        }
        if let Some(done) = spin_before_sleep(&mut condition, alert, deadline, self.spin_polls) {
            return done;
        }
        // SeqCst RMW then a SeqCst fence: see the type docs for the pairing with `signal_all`.
        self.waiters.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        // Every later poll runs under the lock, so a signaller that saw this waiter cannot
        // notify between a poll and the sleep after it.
        let mut idle = CondvarSleep {
            guard: Some(lock(&self.lock)),
            condvar: &self.condvar,
            recheck: self.recheck,
        };
        let result = wait_loop(condition, alert, deadline, &mut idle);
        drop(idle);
        self.waiters.fetch_sub(1, Ordering::Release);
        result
    }

    #[inline]
    fn signal_all(&self) {
        // Orders the caller's preceding sequence (or alert) store before the load of `waiters`.
        fence(Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) != 0 {
            let _guard = lock(&self.lock);
            self.condvar.notify_all();
        }
    }
}

#[cfg(not(loom))]
type Guard<'a> = parking_lot::MutexGuard<'a, ()>;
#[cfg(loom)]
type Guard<'a> = loom::sync::MutexGuard<'a, ()>;

#[cfg(not(loom))]
fn lock(mutex: &Mutex<()>) -> Guard<'_> {
    mutex.lock()
}

#[cfg(loom)]
fn lock(mutex: &Mutex<()>) -> Guard<'_> {
    mutex.lock().unwrap()
}

/// The idle step of [`BlockingWait`]: sleep on the condition variable (releasing the lock),
/// at most until the deadline.
struct CondvarSleep<'a> {
    /// Held at every poll; `None` only in the middle of a loom wait, which moves the guard.
    guard: Option<Guard<'a>>,
    condvar: &'a Condvar,
    /// The longest sleep (`BlockingWait::recheck`).
    #[cfg_attr(loom, allow(dead_code))]
    recheck: Option<std::time::Duration>,
}

impl IdleStep for CondvarSleep<'_> {
    #[cfg(not(loom))]
    fn pause(&mut self, deadline: Option<Instant>) {
        let Some(guard) = self.guard.as_mut() else {
            return;
        };
        // Never longer than `recheck`: the wait loop polls again after every pause, so a
        // condition moved without a signal is seen within that.
        let slice_end = self.recheck.map(|every| Instant::now() + every);
        match (deadline, slice_end) {
            (Some(d), Some(s)) => {
                let _ = self.condvar.wait_until(guard, d.min(s));
            }
            (Some(until), None) | (None, Some(until)) => {
                let _ = self.condvar.wait_until(guard, until);
            }
            (None, None) => self.condvar.wait(guard),
        }
    }

    #[cfg(loom)]
    fn pause(&mut self, _deadline: Option<Instant>) {
        // loom's condition variable has no timeout; models never rely on one.
        if let Some(guard) = self.guard.take() {
            self.guard = Some(self.condvar.wait(guard).unwrap());
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The waiter count each poll of a wait saw, for a wait whose condition holds at poll
    /// `found_at`.
    fn waiters_seen(wait: &BlockingWait, found_at: usize) -> Vec<usize> {
        let mut seen = Vec::new();
        let got = wait.wait_until(
            || {
                seen.push(wait.waiters.load(Ordering::SeqCst));
                (seen.len() == found_at).then_some(())
            },
            &Alert::new(),
            None,
        );
        assert_eq!(got, Ok(()));
        seen
    }

    #[test]
    fn spins_before_registering_as_a_waiter() {
        // The first poll, then (registered) the first poll under the lock.
        assert_eq!(waiters_seen(&BlockingWait::with_spin(0), 2), [0, 1]);
        // The first poll, five spinning polls, then registered.
        assert_eq!(
            waiters_seen(&BlockingWait::with_spin(5), 7),
            [0, 0, 0, 0, 0, 0, 1]
        );
        let default = BlockingWait::default();
        let n = BlockingWait::DEFAULT_SPIN_POLLS as usize;
        let seen = waiters_seen(&default, n + 2);
        assert_eq!(seen.iter().filter(|&&w| w == 0).count(), n + 1, "{seen:?}");
        assert_eq!(
            default.waiters.load(Ordering::SeqCst),
            0,
            "unregistered after"
        );
    }

    #[test]
    fn a_passed_deadline_ends_a_missed_wait_before_it_spins() {
        let mut polls = 0;
        let got = BlockingWait::default().wait_until(
            || {
                polls += 1;
                None::<()>
            },
            &Alert::new(),
            Some(Instant::now()),
        );
        assert_eq!((got, polls), (Err(WaitError::Timeout), 1));
    }
}
