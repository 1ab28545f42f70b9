//! [`ShmOptions`] (creating a segment) and [`OpenOptions`] (attaching to one).

use crate::WaitKind;
use std::time::Duration;

/// How producers claim slots. Lock-based claiming (`MultiProducerMode::Lock`) is process-local
/// and therefore not offered for shared segments.
///
/// ```
/// use seqflow_shm::ProducerMode;
/// assert_eq!(ProducerMode::from_code(ProducerMode::MultiCas.code()), Some(ProducerMode::MultiCas));
/// assert_eq!(ProducerMode::from_code(3), None, "3 would be the process-local lock mode");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ProducerMode {
    /// Exactly one producer across all processes.
    #[default]
    Single,
    /// Any number of producers, claiming by compare-and-set on the shared cursor.
    MultiCas,
}

impl ProducerMode {
    /// The code stored in the header.
    ///
    /// ```
    /// assert_eq!(seqflow_shm::ProducerMode::Single.code(), 1);
    /// ```
    pub fn code(self) -> u32 {
        match self {
            Self::Single => 1,
            Self::MultiCas => 2,
        }
    }

    /// The mode for a stored code.
    ///
    /// ```
    /// assert_eq!(seqflow_shm::ProducerMode::from_code(1), Some(seqflow_shm::ProducerMode::Single));
    /// ```
    pub fn from_code(code: u32) -> Option<Self> {
        match code {
            1 => Some(Self::Single),
            2 => Some(Self::MultiCas),
            _ => None,
        }
    }
}

/// How to create a segment.
///
/// ```
/// use seqflow_shm::{ProducerMode, ShmOptions, WaitKind};
/// let opts = ShmOptions { producer: ProducerMode::MultiCas, max_consumers: 8, wait: WaitKind::Yielding, ..Default::default() };
/// assert_eq!(opts.max_producers, 16);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShmOptions {
    /// Single producer or multi producer (CAS).
    pub producer: ProducerMode,
    /// Consumer slots (gating consumers, subscribers and workers together). Default 16.
    pub max_consumers: usize,
    /// Producer slots for [`ProducerMode::MultiCas`] (ignored, and 1, for single). Default 16.
    pub max_producers: usize,
    /// Worker pools at once. A pool keeps its slot (name and work cursor) once its last worker
    /// is gone, so that a worker joining later finds it; a new pool name takes over such a slot
    /// when no slot is free (a stage that followed the old pool ends with `UpstreamGone`).
    /// Declared pools keep theirs. Default 4.
    pub max_pools: usize,
    /// How every process of the segment waits. Default [`WaitKind::Futex`].
    pub wait: WaitKind,
    /// Remove a stale segment of the same name (creator and every attached process gone)
    /// instead of failing with [`ShmError::Stale`](crate::ShmError::Stale). Default false.
    pub remove_stale: bool,
    /// The event-type fingerprint to record; `None` for [`fingerprint::<E>()`](crate::fingerprint).
    pub fingerprint: Option<u64>,
    /// Permission bits of the segment. Default 0o600.
    pub mode: u32,
    /// How often blocked waits check the liveness of the other side (dead consumers for a
    /// producer on a full ring, dead producers for a waiting consumer). Default 20 ms; values
    /// are clamped to 100 µs ..= 1 hour (so `Duration::MAX` means "every hour").
    pub liveness_interval: Duration,
    /// The longest a registration, unregistration or reaping waits for the consumer registry's
    /// lock before failing with [`ShmError::RegistryBusy`](crate::ShmError::RegistryBusy).
    /// Default 5 s; clamped to 1 ms ..= 1 hour.
    pub registry_timeout: Duration,
    /// Consumers declared by name at creation: each gates the producer from the first
    /// sequence whether or not a process has attached as it (queue semantics: nothing
    /// published before it attaches is lost). A process attaches with
    /// [`ShmRing::consumer`](crate::ShmRing::consumer) under the same name and resumes where the
    /// last one left off. When it dies or detaches, the name keeps gating (the producer then
    /// blocks once the ring is full, and times out naming it) until a process attaches again or
    /// an operator releases it ([`ShmRing::release_declared`](crate::ShmRing::release_declared),
    /// `seqflow release`). Default none.
    pub declared_consumers: Vec<String>,
    /// Worker pools declared by name at creation: the pool gates from the first sequence, so
    /// every event is handled by one of its workers, whenever they attach. A declared pool whose
    /// last worker dies keeps gating at that worker's position. Default none.
    pub declared_pools: Vec<String>,
}

impl Default for ShmOptions {
    fn default() -> Self {
        Self {
            producer: ProducerMode::Single,
            max_consumers: 16,
            max_producers: 16,
            max_pools: 4,
            wait: WaitKind::Futex,
            remove_stale: false,
            fingerprint: None,
            mode: 0o600,
            liveness_interval: Duration::from_millis(20),
            registry_timeout: Duration::from_secs(5),
            declared_consumers: Vec::new(),
            declared_pools: Vec::new(),
        }
    }
}

/// How to attach to an existing segment.
///
/// ```
/// use seqflow_shm::OpenOptions;
/// use std::time::Duration;
/// let o = OpenOptions { timeout: Duration::from_secs(1), ..Default::default() };
/// assert!(o.fingerprint.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOptions {
    /// How long to wait for the creator to finish initialising. Default 5 s.
    pub timeout: Duration,
    /// The event-type fingerprint to expect; `None` for [`fingerprint::<E>()`](crate::fingerprint).
    pub fingerprint: Option<u64>,
    /// See [`ShmOptions::liveness_interval`]. Default 20 ms.
    pub liveness_interval: Duration,
    /// See [`ShmOptions::registry_timeout`]. Default 5 s.
    pub registry_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            fingerprint: None,
            liveness_interval: Duration::from_millis(20),
            registry_timeout: Duration::from_secs(5),
        }
    }
}
