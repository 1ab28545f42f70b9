//! Wait strategies: how a thread waits for a condition on sequences to become true.
//!
//! Every strategy implements one primitive, [`WaitStrategy::wait_until`]: poll a condition until
//! it yields a value, the [`Alert`] is raised, or the deadline passes. Consumers use it to wait
//! for published events, producers to wait for free slots. Publishers (and consumers that advance
//! a sequence somebody may gate on) call [`WaitStrategy::signal_all`] afterwards so that blocked
//! waiters wake up; for the non-blocking strategies it does nothing and compiles away.

mod blocking;
mod busy_spin;
mod phased;
mod sleeping;
mod yielding;

pub use blocking::BlockingWait;
pub use busy_spin::BusySpinWait;
pub use phased::PhasedBackoffWait;
pub use sleeping::SleepingWait;
pub use yielding::YieldingWait;

use crate::Alert;
use std::time::{Duration, Instant};

/// Why a wait ended without its condition becoming true.
///
/// ```
/// use seqflow_sequence::WaitError;
/// assert_eq!(WaitError::Timeout.to_string(), "wait timed out");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    /// The deadline passed first.
    #[error("wait timed out")]
    Timeout,
    /// The alert was raised (shutdown or halt).
    #[error("wait alerted: the processor is shutting down")]
    Alerted,
}

/// How a thread waits for a condition on sequences.
///
/// ```
/// use seqflow_sequence::{Alert, WaitStrategy, YieldingWait, WaitError};
/// use std::time::{Duration, Instant};
/// let wait = YieldingWait::default();
/// let mut polls = 0;
/// let got = wait.wait_until(|| { polls += 1; (polls == 3).then_some(polls) }, &Alert::new(), None);
/// assert_eq!(got, Ok(3));
/// let never = wait.wait_until(|| None::<()>, &Alert::new(), Some(Instant::now() + Duration::from_millis(5)));
/// assert_eq!(never, Err(WaitError::Timeout));
/// ```
pub trait WaitStrategy: Send + Sync + 'static {
    /// Poll `condition` until it returns `Some`, `alert` is raised, or `deadline` passes.
    ///
    /// The condition is polled at least once, before the alert and the deadline are looked at, so
    /// a condition that already holds always wins.
    fn wait_until<T, F>(
        &self,
        condition: F,
        alert: &Alert,
        deadline: Option<Instant>,
    ) -> Result<T, WaitError>
    where
        F: FnMut() -> Option<T>;

    /// Wake every thread blocked in [`wait_until`](Self::wait_until) so it polls again.
    /// Call it after advancing a sequence or raising an alert.
    fn signal_all(&self);

    /// Whether the strategy is meant to keep polling its core for a while before it gives the
    /// core up, if ever: busy-spin, `YieldingWait` with at least 64 spin tries (the default
    /// has 100), phased back-off with a spin phase. A stage that waits this way may pause for a
    /// few spin hints after a small batch (the pipeline's `Pacing`, at most 64 hints by
    /// default, before the wait spins its own): spinning is what its wait does anyway, and the
    /// pause spins without reading the producer's lines. Strategies made to give the core up
    /// soon (sleeping, blocking, a yielding wait with few spin tries) do not pause, though they
    /// may spin briefly. `false` unless a strategy says otherwise.
    ///
    /// ```
    /// use seqflow_sequence::{BlockingWait, BusySpinWait, WaitStrategy, YieldingWait};
    /// assert!(BusySpinWait.spins_first());
    /// assert!(YieldingWait::default().spins_first());
    /// assert!(!YieldingWait::new(1).spins_first(), "yields almost at once");
    /// assert!(!BlockingWait::default().spins_first());
    /// ```
    #[inline]
    fn spins_first(&self) -> bool {
        false
    }
}

/// What a wait strategy does between two polls of a condition: the only part in which
/// strategies differ. The loop around it ([`wait_loop`]) is written once.
///
/// ```
/// use seqflow_sequence::{wait_loop, Alert, IdleStep, WaitError};
/// use std::time::Instant;
/// /// Count the pauses instead of pausing.
/// struct Counting(u32);
/// impl IdleStep for Counting {
///     fn pause(&mut self, _deadline: Option<Instant>) { self.0 += 1; }
/// }
/// let mut idle = Counting(0);
/// let mut polls = 0;
/// let got = wait_loop(|| { polls += 1; (polls == 4).then_some(polls) }, &Alert::new(), None, &mut idle);
/// assert_eq!((got, idle.0), (Ok(4), 3));
/// ```
pub trait IdleStep {
    /// Called right before each poll of the condition (a futex waiter reads its word here, so a
    /// signal that lands after the poll makes the next sleep return at once).
    #[inline]
    fn before_poll(&mut self) {}

    /// Whether the loop should compare the clock with the deadline before this pause. Cheap
    /// strategies read the clock only every few polls: a clock read costs about as much as
    /// twenty polls of a cached line.
    #[inline]
    fn deadline_due(&mut self) -> bool {
        true
    }

    /// Pause before the next poll; a pause that sleeps must not sleep past `deadline`.
    fn pause(&mut self, deadline: Option<Instant>);
}

/// The one wait loop: poll `condition` until it yields a value, then check the alert, then
/// (when `idle` says it is due) the deadline, then let `idle` pause; repeat.
///
/// The condition is polled before the alert and the deadline are looked at, so a condition that
/// already holds always wins: a draining consumer finishes its work after shutdown is raised.
#[inline]
pub fn wait_loop<T, I: IdleStep + ?Sized>(
    mut condition: impl FnMut() -> Option<T>,
    alert: &Alert,
    deadline: Option<Instant>,
    idle: &mut I,
) -> Result<T, WaitError> {
    loop {
        idle.before_poll();
        if let Some(value) = condition() {
            return Ok(value);
        }
        if alert.is_raised() {
            return Err(WaitError::Alerted);
        }
        if idle.deadline_due() && expired(deadline) {
            return Err(WaitError::Timeout);
        }
        idle.pause(deadline);
    }
}

/// The short backoff a sleeping strategy does before it registers as a waiter: poll
/// `condition` up to `polls` times and stop early at a value or a raised alert. `None` means
/// nothing came and the caller should go to sleep. Called after a poll of the caller's own
/// missed: a raised alert or a passed deadline (a zero timeout, a `try_` call) ends it at once,
/// at the cost of one clock read, before any spin.
///
/// Before each of the first [`SPIN_POLLS`] polls the thread spins twice as long as before the
/// previous one (1, 2, 4 … 64 spin hints, about 3 µs in all where a hint takes 25 ns); before
/// each later poll it yields its core. So events that follow each other closely never pay for
/// registering, sleeping and being woken (a lock and a wake-up per event otherwise), the polls
/// are spaced out rather than taking the producer's cache line back at once, and where threads
/// outnumber cores the stages with work run during the yields (2-4x the events per second of
/// spinning alone in 4-thread pipelines on 2 cores).
///
/// A yield next to a CPU-bound thread can give the core away until the next scheduler tick
/// (3-4 ms measured), during which the waiter is not registered to be woken. So the backoff
/// yields only while the deadline, if any, is more than [`YIELD_MARGIN`] away; nearer, it
/// returns `None` instead, and the caller sleeps until the deadline or a wake-up.
///
/// ```
/// use seqflow_sequence::{spin_before_sleep, Alert, WaitError, SPIN_POLLS};
/// use std::time::{Duration, Instant};
/// let mut polls = 0;
/// let found = spin_before_sleep(&mut || { polls += 1; (polls == 3).then_some(polls) }, &Alert::new(), None, 10);
/// assert_eq!(found, Some(Ok(3)));
/// let mut polls = 0;
/// assert_eq!(spin_before_sleep(&mut || { polls += 1; None::<()> }, &Alert::new(), None, 10), None);
/// assert_eq!(polls, 10);
/// let alert = Alert::new();
/// alert.raise();
/// assert_eq!(spin_before_sleep(&mut || None::<()>, &alert, None, 10), Some(Err(WaitError::Alerted)));
/// // A passed deadline ends it before it spins.
/// let mut polls = 0;
/// let late = spin_before_sleep(&mut || { polls += 1; None::<()> }, &Alert::new(), Some(Instant::now()), 10);
/// assert_eq!((late, polls), (Some(Err(WaitError::Timeout)), 0));
/// // A near deadline: the spinning polls, no yield.
/// let mut polls = 0;
/// let soon = Some(Instant::now() + Duration::from_millis(5));
/// assert_eq!(spin_before_sleep(&mut || { polls += 1; None::<()> }, &Alert::new(), soon, 10), None);
/// assert_eq!(polls, SPIN_POLLS);
/// ```
#[inline]
pub fn spin_before_sleep<T>(
    condition: &mut impl FnMut() -> Option<T>,
    alert: &Alert,
    deadline: Option<Instant>,
    polls: u32,
) -> Option<Result<T, WaitError>> {
    if polls == 0 {
        return None;
    }
    if alert.is_raised() {
        return Some(Err(WaitError::Alerted));
    }
    if expired(deadline) {
        return Some(Err(WaitError::Timeout));
    }
    for poll in 0..polls {
        if poll < SPIN_POLLS {
            for _ in 0..1u32 << poll {
                crate::sync::spin_loop();
            }
        } else if deadline
            .is_some_and(|d| d.saturating_duration_since(Instant::now()) < YIELD_MARGIN)
        {
            return None;
        } else {
            crate::sync::yield_now();
        }
        if let Some(value) = condition() {
            return Some(Ok(value));
        }
        if alert.is_raised() {
            return Some(Err(WaitError::Alerted));
        }
    }
    None
}

/// How many of [`spin_before_sleep`]'s polls spin (with doubling spins); the later ones yield.
pub const SPIN_POLLS: u32 = 7;

/// The least time to a deadline at which [`spin_before_sleep`] still yields: a yield may last a
/// scheduler tick (4 ms at 250 Hz), and a nearer deadline is better kept by sleeping.
pub const YIELD_MARGIN: Duration = Duration::from_millis(10);

/// When a wait gives up, read from the clock only once the wait really has to wait: a claim
/// whose slots are free, or a poll whose events are there, never reads the clock (a clock read
/// costs more than a whole one-event claim).
///
/// Small enough to travel in two registers, so a claim's fast path does not set it up in
/// memory for the slow path it does not take.
///
/// ```
/// use seqflow_sequence::Deadline;
/// use std::time::{Duration, Instant};
/// assert_eq!(Deadline::NEVER.resolve(), None);
/// assert!(Deadline::after(Duration::from_secs(1)).resolve().is_some());
/// assert_eq!(Deadline::after(Duration::MAX).resolve(), None, "too far to represent: no limit");
/// let at = Instant::now();
/// assert_eq!(Deadline::from(Some(at)).resolve(), Some(at));
/// assert_eq!(std::mem::size_of::<Deadline>(), 16);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(DeadlineRepr);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeadlineRepr {
    Never,
    At(Instant),
    /// Nanoseconds after the wait begins (a `u64` rather than a `Duration`, so that the enum
    /// fits in 16 bytes beside `Instant`).
    After(u64),
}

impl Deadline {
    /// Wait without limit.
    pub const NEVER: Deadline = Deadline(DeadlineRepr::Never);

    /// Give up at `at`.
    #[inline]
    pub fn at(at: Instant) -> Self {
        Deadline(DeadlineRepr::At(at))
    }

    /// `timeout` after the wait begins, or [`NEVER`](Self::NEVER) for `None`.
    #[inline]
    pub fn within(timeout: Option<Duration>) -> Self {
        timeout.map_or(Self::NEVER, Self::after)
    }

    /// Give up `timeout` after the wait begins (a timeout beyond about 584 years is no limit).
    #[inline]
    pub fn after(timeout: Duration) -> Self {
        match u64::try_from(timeout.as_nanos()) {
            Ok(nanos) => Deadline(DeadlineRepr::After(nanos)),
            Err(_) => Self::NEVER,
        }
    }

    /// The instant to give up at (`None`: never), reading the clock for a timeout.
    #[inline]
    pub fn resolve(self) -> Option<Instant> {
        match self.0 {
            DeadlineRepr::Never => None,
            DeadlineRepr::At(at) => Some(at),
            DeadlineRepr::After(nanos) => deadline_after(Some(Duration::from_nanos(nanos))),
        }
    }

    /// Whether this is a zero timeout: the caller asks what is there now and waits for nothing,
    /// not even a few polls.
    ///
    /// ```
    /// use seqflow_sequence::Deadline;
    /// use std::time::Duration;
    /// assert!(Deadline::after(Duration::ZERO).is_now());
    /// assert!(!Deadline::after(Duration::from_nanos(1)).is_now());
    /// assert!(!Deadline::NEVER.is_now());
    /// ```
    #[inline]
    pub fn is_now(&self) -> bool {
        self.0 == DeadlineRepr::After(0)
    }

    /// This deadline, for a call to an out-of-line slow path. Such a call takes it through
    /// memory, and the compiler otherwise writes it there at the top of every claim, fast
    /// path included (2-3 instructions per `publish_timeout`, callgrind); the copy is made
    /// where the slow path is called instead. Codegen only: the value is unchanged.
    #[doc(hidden)]
    #[inline(always)]
    pub fn __internal_for_slow_path(self) -> Self {
        std::hint::black_box(self)
    }

    /// The wait begins: resolve as [`resolve`](Self::resolve) does and keep the instant, so a
    /// wait resumed later (after a lost race, or a poll that met a gap between producers and
    /// waits again) keeps the first deadline.
    ///
    /// ```
    /// use seqflow_sequence::Deadline;
    /// use std::time::Duration;
    /// let mut d = Deadline::after(Duration::from_secs(5));
    /// let first = d.begin();
    /// assert_eq!(d.begin(), first);
    /// ```
    #[inline]
    pub fn begin(&mut self) -> Option<Instant> {
        let at = self.resolve();
        *self = Deadline::from(at);
        at
    }
}

impl From<Option<Instant>> for Deadline {
    #[inline]
    fn from(deadline: Option<Instant>) -> Self {
        deadline.map_or(Deadline::NEVER, Deadline::at)
    }
}

/// The deadline `timeout` from now, or `None` (wait forever) for no timeout or one too large to
/// represent.
///
/// ```
/// use std::time::Duration;
/// assert!(seqflow_sequence::deadline_after(Some(Duration::from_secs(1))).is_some());
/// assert!(seqflow_sequence::deadline_after(None).is_none());
/// assert!(seqflow_sequence::deadline_after(Some(Duration::MAX)).is_none());
/// ```
pub fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

/// Whether `deadline` has passed.
#[inline]
fn expired(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::Sequence;
    use std::sync::Arc;

    fn each_strategy(check: impl Fn(&dyn Fn() -> Box<dyn StrategyProbe>)) {
        check(&|| Box::new(BusySpinWait));
        check(&|| Box::new(YieldingWait::default()));
        check(&|| Box::new(SleepingWait::default()));
        check(&|| Box::new(BlockingWait::default()));
        check(&|| {
            Box::new(PhasedBackoffWait::with_lock(
                Duration::from_micros(20),
                Duration::from_micros(20),
            ))
        });
    }

    /// An object-safe view of a strategy so one test body covers all four.
    trait StrategyProbe: Send + Sync {
        fn wait_for(
            &self,
            seq: &Sequence,
            target: i64,
            alert: &Alert,
            timeout: Option<Duration>,
        ) -> Result<i64, WaitError>;
        fn signal(&self);
    }

    impl<W: WaitStrategy> StrategyProbe for W {
        fn wait_for(
            &self,
            seq: &Sequence,
            target: i64,
            alert: &Alert,
            timeout: Option<Duration>,
        ) -> Result<i64, WaitError> {
            self.wait_until(
                || {
                    let v = seq.get();
                    (v >= target).then_some(v)
                },
                alert,
                deadline_after(timeout),
            )
        }
        fn signal(&self) {
            self.signal_all()
        }
    }

    #[test]
    fn timeout_that_expires() {
        each_strategy(|make| {
            let w = make();
            let seq = Sequence::default();
            let start = Instant::now();
            let r = w.wait_for(&seq, 0, &Alert::new(), Some(Duration::from_millis(20)));
            assert_eq!(r, Err(WaitError::Timeout));
            assert!(start.elapsed() >= Duration::from_millis(20));
        });
    }

    #[test]
    fn timeout_that_does_not_expire() {
        each_strategy(|make| {
            let w: Arc<dyn StrategyProbe> = Arc::from(make());
            let seq = Arc::new(Sequence::default());
            let (w2, seq2) = (w.clone(), seq.clone());
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(10));
                seq2.set(5);
                w2.signal();
            });
            let r = w.wait_for(&seq, 3, &Alert::new(), Some(Duration::from_secs(30)));
            assert_eq!(r, Ok(5));
            t.join().unwrap();
        });
    }

    #[test]
    fn already_true_beats_raised_alert_and_past_deadline() {
        each_strategy(|make| {
            let w = make();
            let seq = Sequence::new(1);
            let alert = Alert::new();
            alert.raise();
            assert_eq!(w.wait_for(&seq, 1, &alert, Some(Duration::ZERO)), Ok(1));
        });
    }

    #[test]
    fn alert_wakes_a_waiter() {
        each_strategy(|make| {
            let w: Arc<dyn StrategyProbe> = Arc::from(make());
            let seq = Arc::new(Sequence::default());
            let alert = Alert::new();
            let (w2, alert2) = (w.clone(), alert.clone());
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(10));
                alert2.raise();
                w2.signal();
            });
            assert_eq!(w.wait_for(&seq, 0, &alert, None), Err(WaitError::Alerted));
            t.join().unwrap();
        });
    }
}
