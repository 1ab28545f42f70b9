//! [`WaitKind`] (how a segment's processes wait, recorded in its header) and [`ShmWait`], the
//! wait strategy that implements it for the sequencers.

use crate::futex::{FutexWait, FutexWord};
use seqflow_sequence::{
    Alert, BusySpinWait, OwnedRef, SleepingWait, WaitError, WaitStrategy, YieldingWait,
};
use std::time::{Duration, Instant};

/// How the processes of a segment wait for each other. Chosen by the creator and recorded in
/// the header, because it is a contract between publishers and waiters: with [`Futex`](Self::Futex)
/// every publisher, in every process, wakes sleeping waiters.
///
/// ```
/// use seqflow_shm::WaitKind;
/// assert_eq!(WaitKind::default(), WaitKind::Futex);
/// let k = WaitKind::Sleeping(std::time::Duration::from_micros(50));
/// assert_eq!(WaitKind::decode(k.encode().0, k.encode().1), Some(k));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitKind {
    /// Poll in a tight loop. Only with a core per waiting thread.
    BusySpin,
    /// Spin briefly, then yield between polls.
    Yielding,
    /// Back off, then sleep this long between polls.
    Sleeping(Duration),
    /// Sleep on the segment's futex word; publishers wake sleepers. The default.
    #[default]
    Futex,
}

impl WaitKind {
    /// The (kind, parameter) words stored in the header.
    ///
    /// ```
    /// assert_eq!(seqflow_shm::WaitKind::Futex.encode(), (4, 0));
    /// ```
    pub fn encode(self) -> (u32, u64) {
        match self {
            Self::BusySpin => (1, 0),
            Self::Yielding => (2, 0),
            Self::Sleeping(d) => (3, u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            Self::Futex => (4, 0),
        }
    }

    /// The kind for stored words; `None` for an unknown kind.
    ///
    /// ```
    /// assert_eq!(seqflow_shm::WaitKind::decode(9, 0), None);
    /// ```
    pub fn decode(kind: u32, param: u64) -> Option<Self> {
        match kind {
            1 => Some(Self::BusySpin),
            2 => Some(Self::Yielding),
            3 => Some(Self::Sleeping(Duration::from_nanos(param))),
            4 => Some(Self::Futex),
            _ => None,
        }
    }
}

/// The wait strategy of a shared ring: one of the `seqflow-sequence` strategies, or
/// [`FutexWait`] on the segment's futex word. The sequencers of a [`ShmRing`](crate::ShmRing)
/// use it; the dispatch is one predictable branch.
///
/// ```
/// use seqflow_shm::ShmWait;
/// use seqflow_sequence::{Alert, WaitStrategy};
/// let w = ShmWait::Yielding(Default::default());
/// assert_eq!(w.wait_until(|| Some(3), &Alert::new(), None), Ok(3));
/// ```
#[derive(Debug, Clone)]
pub enum ShmWait {
    /// Busy spin.
    BusySpin(BusySpinWait),
    /// Yielding.
    Yielding(YieldingWait),
    /// Sleeping.
    Sleeping(SleepingWait),
    /// Futex on the segment.
    Futex(FutexWait),
}

impl ShmWait {
    /// The strategy for `kind`, sleeping on `word` for [`WaitKind::Futex`].
    ///
    /// ```
    /// use seqflow_shm::{FutexWord, ShmWait, WaitKind};
    /// let w = ShmWait::new(WaitKind::Futex, seqflow_sequence::OwnedRef::new(FutexWord::new()));
    /// assert!(matches!(w, ShmWait::Futex(_)));
    /// ```
    pub fn new(kind: WaitKind, word: OwnedRef<FutexWord>) -> Self {
        match kind {
            WaitKind::BusySpin => Self::BusySpin(BusySpinWait),
            WaitKind::Yielding => Self::Yielding(YieldingWait::default()),
            WaitKind::Sleeping(d) => Self::Sleeping(SleepingWait::new(d)),
            WaitKind::Futex => Self::Futex(FutexWait::new(word)),
        }
    }

    /// Whether [`signal_all`](WaitStrategy::signal_all) does anything: only futex waiters
    /// sleep until a publish wakes them. A producer that tested this once may publish without
    /// the call (`ShmClaimer`'s fast publish gate).
    pub(crate) fn signals(&self) -> bool {
        matches!(self, Self::Futex(_))
    }
}

impl WaitStrategy for ShmWait {
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
        match self {
            Self::BusySpin(w) => w.wait_until(condition, alert, deadline),
            Self::Yielding(w) => w.wait_until(condition, alert, deadline),
            Self::Sleeping(w) => w.wait_until(condition, alert, deadline),
            Self::Futex(w) => w.wait_until(condition, alert, deadline),
        }
    }

    #[inline]
    fn signal_all(&self) {
        // Every kind but futex signals nobody (`signals`).
        if let Self::Futex(w) = self {
            w.signal_all();
        }
    }

    #[inline]
    fn spins_first(&self) -> bool {
        match self {
            Self::BusySpin(_) => true,
            Self::Yielding(w) => w.spins_first(),
            Self::Sleeping(_) | Self::Futex(_) => false,
        }
    }
}
