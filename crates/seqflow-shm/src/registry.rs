//! The consumer registry and the worker-pool table: who holds each gating slot, under which
//! name, and the shared work cursors of worker pools.
//!
//! Entry `i` of the registry describes slot `i` of the gating table (same index). Entries change
//! only under the segment's registry lock (see `liveness::RegistryLock`); readers load the state
//! with `Acquire` and the rest `Relaxed`, and treat any value as possible (a name of garbage
//! bytes decodes lossily, an unknown kind is shown as such).

use seqflow_sequence::Sequence;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Entry state: the slot is not held through the registry.
pub(crate) const FREE: u32 = 0;
/// Entry state: a process is registering (it holds the registry lock).
pub(crate) const REGISTERING: u32 = 1;
/// Entry state: a live (or not yet reaped) consumer holds the slot.
pub(crate) const ACTIVE: u32 = 2;
/// A declared consumer (or the placeholder of a declared pool) with no live process: its gating
/// slot stays held, so the producer keeps every event it has not processed.
pub(crate) const DORMANT: u32 = 3;

/// `ConsumerEntry::flags` / `PoolEntry::flags`: declared when the segment was created.
pub(crate) const DECLARED: u32 = 1;

/// Longest consumer or pool name, in bytes.
pub(crate) const LABEL_MAX: usize = 48;

/// What is wrong with a consumer or pool name apart from its length, if anything: names are
/// printed by `inspect` and `seqflow ls`, so no empty names and no control or bidirectional
/// formatting characters (terminal escapes, text that reads as another name).
pub(crate) fn label_problem(label: &str) -> Option<&'static str> {
    if label.is_empty() {
        Some("empty")
    } else if label.chars().any(seqflow_pipeline::unfit_for_names) {
        Some("holding control, format or invisible characters")
    } else {
        None
    }
}
const LABEL_WORDS: usize = LABEL_MAX / 8;

/// What kind of consumer holds a slot.
///
/// ```
/// assert_eq!(seqflow_shm::ConsumerKind::from_code(2), Some(seqflow_shm::ConsumerKind::Subscriber));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsumerKind {
    /// A gating consumer ([`ShmConsumer`](crate::ShmConsumer)).
    Consumer,
    /// A non-gating subscriber ([`ShmSubscriber`](crate::ShmSubscriber)).
    Subscriber,
    /// A worker of a pool ([`ShmWorker`](crate::ShmWorker)).
    Worker,
}

impl ConsumerKind {
    /// The code stored in the segment.
    ///
    /// ```
    /// assert_eq!(seqflow_shm::ConsumerKind::Worker.code(), 3);
    /// ```
    pub fn code(self) -> u32 {
        match self {
            Self::Consumer => 1,
            Self::Subscriber => 2,
            Self::Worker => 3,
        }
    }

    /// The kind for a stored code, `None` for an unknown one.
    ///
    /// ```
    /// assert_eq!(seqflow_shm::ConsumerKind::from_code(9), None);
    /// ```
    pub fn from_code(code: u32) -> Option<Self> {
        match code {
            1 => Some(Self::Consumer),
            2 => Some(Self::Subscriber),
            3 => Some(Self::Worker),
            _ => None,
        }
    }
}

/// A name stored as atomic words, so a concurrent writer is never a data race.
#[repr(C)]
pub(crate) struct Label {
    len: AtomicU32,
    words: [AtomicU64; LABEL_WORDS],
}

impl Label {
    /// Store `label` (the caller checked its length).
    pub fn store(&self, label: &str) {
        let bytes = label.as_bytes();
        let mut padded = [0u8; LABEL_MAX];
        let n = bytes.len().min(LABEL_MAX);
        padded[..n].copy_from_slice(&bytes[..n]);
        for (word, chunk) in self.words.iter().zip(padded.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            word.store(u64::from_le_bytes(b), Ordering::Relaxed);
        }
        self.len.store(n as u32, Ordering::Relaxed);
    }

    /// The stored name (length clamped; invalid UTF-8 and characters unfit for names replaced).
    pub fn load(&self) -> String {
        let mut padded = [0u8; LABEL_MAX];
        for (word, chunk) in self.words.iter().zip(padded.chunks_exact_mut(8)) {
            chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
        }
        let n = (self.len.load(Ordering::Relaxed) as usize).min(LABEL_MAX);
        // Names are checked when stored (`label_problem`), but another process's memory is not
        // trusted: a character unfit for names someone wrote there is shown as U+FFFD, never
        // printed.
        String::from_utf8_lossy(&padded[..n])
            .chars()
            .map(|c| {
                if seqflow_pipeline::unfit_for_names(c) {
                    '\u{fffd}'
                } else {
                    c
                }
            })
            .collect()
    }

    /// Whether the stored name is `label`.
    pub fn is(&self, label: &str) -> bool {
        self.load() == label
    }
}

/// One registry entry: who holds gating slot `i`.
#[repr(C, align(128))]
pub(crate) struct ConsumerEntry {
    pub state: AtomicU32,
    pub pid: AtomicU32,
    pub kind: AtomicU32,
    /// The pool a worker belongs to (`u32::MAX` for none).
    pub pool: AtomicU32,
    /// Bumped on every registration, so a stage that follows this one notices a new occupant.
    pub generation: AtomicU64,
    pub label: Label,
    /// [`DECLARED`] for a consumer (or pool placeholder) declared at creation.
    pub flags: AtomicU32,
    /// How many of `upstream` are set: the slots this consumer runs after (for inspection).
    pub upstream_len: AtomicU32,
    /// Slot indices of the stages this consumer runs after (the first [`MAX_UPSTREAM`]).
    pub upstream: [AtomicU32; MAX_UPSTREAM],
    /// For a pool worker: the events it has claimed and not yet handled (0 while idle). The
    /// reaper counts them as lost when the worker dies.
    pub handling: AtomicU64,
}

/// How many upstream stages a registry entry records for inspection.
pub(crate) const MAX_UPSTREAM: usize = 8;

impl ConsumerEntry {
    /// Whether the entry was declared at creation.
    pub fn is_declared(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & DECLARED != 0
    }
}

/// One worker pool: a name and the shared work cursor its workers claim sequences from.
#[repr(C, align(128))]
pub(crate) struct PoolEntry {
    pub state: AtomicU32,
    pub label: Label,
    /// [`DECLARED`] for a pool declared at creation (it gates from the first sequence).
    pub flags: AtomicU32,
    /// Bumped (under the registry lock) whenever a worker of the pool joins, leaves, dies or
    /// goes dormant: stages that follow the pool refresh the workers they follow when it
    /// changes (`pool_members.rs`).
    pub members: AtomicU64,
    /// Bumped (under the registry lock) when a worker joining the pool with no live worker
    /// moves the work sequence up to the producer cursor, skipping the events published
    /// meanwhile: stages that follow the pool end with `UpstreamGone` then.
    pub restarts: AtomicU64,
    pub work: Sequence,
}

/// Pool state: unused.
pub(crate) const POOL_FREE: u32 = 0;
/// Pool state: in use (a pool keeps its entry while it has no worker, until a new pool name
/// takes it over: `registration.rs`, `abandoned_pool`).
pub(crate) const POOL_ACTIVE: u32 = 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_cache_line_multiples() {
        assert_eq!(
            std::mem::size_of::<ConsumerEntry>(),
            128,
            "one 128-byte block per entry"
        );
        assert_eq!(std::mem::size_of::<PoolEntry>(), 256);
    }

    #[test]
    fn label_round_trip_and_garbage() {
        // SAFETY: all-zero bytes are a valid `Label` (atomics of zero).
        let l: Label = unsafe { std::mem::zeroed() };
        l.store("journal");
        assert_eq!(l.load(), "journal");
        assert!(l.is("journal"));
        l.len.store(u32::MAX, Ordering::Relaxed);
        // Clamped to the stored bytes; the zero padding (control characters) is not printed.
        let garbage = l.load();
        assert_eq!(garbage.chars().count(), LABEL_MAX);
        assert!(garbage.starts_with("journal") && !garbage.chars().any(char::is_control));
    }
}
