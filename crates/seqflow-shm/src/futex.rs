//! [`FutexWait`]: block on a futex word in the segment, woken by publishers in any process.

use rustix::thread::futex;
use seqflow_sequence::{spin_before_sleep, Alert, OwnedRef, WaitError, WaitStrategy};
use std::sync::atomic::{fence, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The futex word and the waiter count, on a 128-byte block of their own (in the segment
/// header, or anywhere else for one process).
///
/// ```
/// let word = seqflow_shm::FutexWord::new();
/// assert_eq!(word.waiters(), 0);
/// ```
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub struct FutexWord {
    /// Bumped by `signal_all` when somebody waits; waiters sleep while it is unchanged.
    seq: AtomicU32,
    /// How many threads (of any process) are in or about to enter `FUTEX_WAIT`.
    waiters: AtomicU32,
}

impl FutexWord {
    /// A word with no waiters.
    ///
    /// ```
    /// let _ = seqflow_shm::FutexWord::new();
    /// ```
    pub const fn new() -> Self {
        Self {
            seq: AtomicU32::new(0),
            waiters: AtomicU32::new(0),
        }
    }

    /// Threads currently waiting (a waiter killed while waiting stays counted: that only costs
    /// publishers a wake-up system call each).
    ///
    /// ```
    /// assert_eq!(seqflow_shm::FutexWord::new().waiters(), 0);
    /// ```
    pub fn waiters(&self) -> u32 {
        self.waiters.load(Ordering::Relaxed)
    }
}

/// Spin briefly, then sleep in `FUTEX_WAIT` on a shared futex word until a publisher (in this
/// or any other process mapping the word) calls [`signal_all`](WaitStrategy::signal_all).
///
/// The futex is *shared* (no `FUTEX_PRIVATE_FLAG`): the kernel keys it by the page of the
/// mapped file, so waiters and wakers in different processes meet. Publishers pay one `SeqCst`
/// fence and a load per signal while nobody waits, and a bump plus `FUTEX_WAKE` when somebody
/// does.
///
/// No lost wake-up (the argument of `seqflow_sequence::BlockingWait`, with the futex word in
/// place of the mutex): a waiter increments `waiters`, fences, reads the word, polls, then
/// sleeps only while the word still holds what it read. A signaller stores its sequence,
/// fences, reads `waiters`. Either the signaller's fence comes first (the waiter's poll sees the
/// new sequence) or it sees the waiter and bumps the word, so the waiter's `FUTEX_WAIT` returns
/// at once or is woken.
///
/// Deadlines are honoured: each `FUTEX_WAIT` sleeps at most the remaining time (a relative
/// timeout of whole seconds plus nanoseconds below 10^9, so nothing overflows).
///
/// ```
/// use seqflow_shm::{FutexWait, FutexWord};
/// use seqflow_sequence::{Alert, OwnedRef, Sequence, WaitStrategy, WaitError};
/// use std::{sync::Arc, time::{Duration, Instant}};
/// let wait = FutexWait::new(OwnedRef::new(FutexWord::new()));
/// let seq = Arc::new(Sequence::default());
/// let (w, s) = (wait.clone(), seq.clone());
/// let t = std::thread::spawn(move || { s.set(0); w.signal_all(); });
/// let got = wait.wait_until(|| { let v = seq.get(); (v >= 0).then_some(v) }, &Alert::new(), None);
/// assert_eq!(got, Ok(0));
/// t.join().unwrap();
/// let never = wait.wait_until(|| None::<()>, &Alert::new(), Some(Instant::now() + Duration::from_millis(5)));
/// assert_eq!(never, Err(WaitError::Timeout));
/// ```
#[derive(Clone)]
pub struct FutexWait {
    word: OwnedRef<FutexWord>,
    spin_polls: u32,
}

impl FutexWait {
    /// Polls before sleeping by default, as for [`BlockingWait`](seqflow_sequence::BlockingWait):
    /// seven that spin (about 3 µs), then three that yield ([`spin_before_sleep`]).
    pub const DEFAULT_SPIN_POLLS: u32 = seqflow_sequence::BlockingWait::DEFAULT_SPIN_POLLS;

    /// Wait on `word`, polling [`DEFAULT_SPIN_POLLS`](Self::DEFAULT_SPIN_POLLS) times first.
    ///
    /// ```
    /// let _ = seqflow_shm::FutexWait::new(seqflow_sequence::OwnedRef::new(seqflow_shm::FutexWord::new()));
    /// ```
    pub fn new(word: OwnedRef<FutexWord>) -> Self {
        Self::with_spin(word, Self::DEFAULT_SPIN_POLLS)
    }

    /// Wait on `word`, polling `spin_polls` times before the first sleep.
    ///
    /// ```
    /// use seqflow_shm::{FutexWait, FutexWord};
    /// let _ = FutexWait::with_spin(seqflow_sequence::OwnedRef::new(FutexWord::new()), 0);
    /// ```
    pub fn with_spin(word: OwnedRef<FutexWord>, spin_polls: u32) -> Self {
        Self { word, spin_polls }
    }

    /// The word waited on.
    ///
    /// ```
    /// let w = seqflow_shm::FutexWait::new(seqflow_sequence::OwnedRef::new(seqflow_shm::FutexWord::new()));
    /// assert_eq!(w.word().waiters(), 0);
    /// ```
    pub fn word(&self) -> &FutexWord {
        &self.word
    }

    fn sleep(&self, observed: u32, timeout: Option<Duration>) {
        let ts = timeout.map(|t| futex::Timespec {
            tv_sec: i64::try_from(t.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(t.subsec_nanos()),
        });
        // Shared futex: `Flags::empty()`, no PRIVATE.
        match futex::wait(&self.word.seq, futex::Flags::empty(), observed, ts.as_ref()) {
            Ok(()) => {}
            Err(e)
                if e == rustix::io::Errno::AGAIN
                    || e == rustix::io::Errno::TIMEDOUT
                    || e == rustix::io::Errno::INTR => {}
            Err(e) => {
                // Not expected (ENOSYS under some sandboxes): degrade to yielding.
                tracing::warn!(error = %e, "FUTEX_WAIT failed; yielding instead");
                std::thread::yield_now();
            }
        }
    }
}

impl WaitStrategy for FutexWait {
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
        let word = &*self.word;
        // SeqCst RMW and fence: see the type docs for the pairing with `signal_all`.
        word.waiters.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let result = loop {
            // Read the word before polling: a signal after the poll changes it, so the sleep
            // below returns at once.
            let observed = word.seq.load(Ordering::SeqCst);
            if let Some(value) = condition() {
                break Ok(value);
            }
            if alert.is_raised() {
                break Err(WaitError::Alerted);
            }
            let timeout = match deadline {
                None => None,
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break Err(WaitError::Timeout);
                    }
                    Some(d - now)
                }
            };
            self.sleep(observed, timeout);
        };
        word.waiters.fetch_sub(1, Ordering::Release);
        result
    }

    #[inline]
    fn signal_all(&self) {
        // Orders the caller's preceding sequence (or alert) store before the load of `waiters`.
        fence(Ordering::SeqCst);
        let word = &*self.word;
        if word.waiters.load(Ordering::SeqCst) != 0 {
            word.seq.fetch_add(1, Ordering::SeqCst);
            let _ = futex::wake(&word.seq, futex::Flags::empty(), i32::MAX as u32);
        }
    }
}

impl std::fmt::Debug for FutexWait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FutexWait")
            .field("waiters", &self.word.waiters())
            .field("spin_polls", &self.spin_polls)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seqflow_sequence::{deadline_after, Sequence};
    use std::sync::Arc;

    #[test]
    fn alert_wakes_a_sleeper() {
        let wait = FutexWait::with_spin(OwnedRef::new(FutexWord::new()), 0);
        let alert = Alert::new();
        let (w, a) = (wait.clone(), alert.clone());
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            a.raise();
            w.signal_all();
        });
        assert_eq!(
            wait.wait_until(|| None::<()>, &alert, None),
            Err(WaitError::Alerted)
        );
        t.join().unwrap();
        assert_eq!(wait.word().waiters(), 0);
    }

    #[test]
    fn huge_timeout_does_not_overflow() {
        let wait = FutexWait::with_spin(OwnedRef::new(FutexWord::new()), 0);
        let seq = Arc::new(Sequence::default());
        let (w, s) = (wait.clone(), seq.clone());
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            s.set(1);
            w.signal_all();
        });
        let deadline = deadline_after(Some(Duration::from_secs(10 * 365 * 86_400)));
        assert!(deadline.is_some());
        let got = wait.wait_until(
            || {
                let v = seq.get();
                (v >= 1).then_some(v)
            },
            &Alert::new(),
            deadline,
        );
        assert_eq!(got, Ok(1));
        t.join().unwrap();
    }

    #[test]
    fn ping_pong_many_times() {
        let wait = FutexWait::with_spin(OwnedRef::new(FutexWord::new()), 0);
        let ping = Arc::new(Sequence::default());
        let pong = Arc::new(Sequence::default());
        let (w, pi, po) = (wait.clone(), ping.clone(), pong.clone());
        let t = std::thread::spawn(move || {
            for i in 0..2000 {
                w.wait_until(|| (pi.get() >= i).then_some(()), &Alert::new(), None)
                    .unwrap();
                po.set(i);
                w.signal_all();
            }
        });
        for i in 0..2000 {
            ping.set(i);
            wait.signal_all();
            wait.wait_until(|| (pong.get() >= i).then_some(()), &Alert::new(), None)
                .unwrap();
        }
        t.join().unwrap();
    }
}
