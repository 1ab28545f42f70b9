//! Typed errors: attaching to a segment ([`ShmError`]) and consuming from it ([`ConsumeError`]).
//!
//! Every error that comes from reading another process's memory names the segment and says
//! what was expected and what was found, so a mismatch can be told from a crash.

use seqflow_sequencer::SequenceRange;
use std::time::Duration;

/// Why a segment could not be created, opened, attached to or changed.
///
/// ```
/// use seqflow_shm::ShmError;
/// let e = ShmError::BadMagic { name: "/ring".into(), expected: 1, found: 2 };
/// assert!(e.to_string().contains("/ring"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShmError {
    /// The segment name is not a valid POSIX shared-memory name.
    #[error("invalid segment name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The ring capacity is not a power of two between 1 and 2^30.
    #[error("segment {name}: {source}")]
    Capacity {
        /// The segment.
        name: String,
        /// Why the capacity was refused.
        #[source]
        source: seqflow_ring::CapacityError,
    },
    /// An option is out of range (too many consumers, an event type of size zero, ...).
    #[error("segment {name}: invalid options: {reason}")]
    InvalidOptions {
        /// The segment.
        name: String,
        /// What is out of range.
        reason: String,
    },
    /// A live segment of that name exists already (another creator won the race).
    #[error("segment {name} already exists (created by pid {creator_pid}, still attached)")]
    AlreadyExists {
        /// The segment.
        name: String,
        /// The pid recorded by its creator (0 if it had not written its header yet).
        creator_pid: u32,
    },
    /// A segment of that name exists but nobody is attached to it any more: a crashed run left
    /// it behind. Remove it (`seqflow rm NAME`, [`remove`](crate::remove)) or create with
    /// `remove_stale: true`.
    #[error("segment {name} is stale (creator pid {creator_pid} and every attached process are gone); remove it or create with remove_stale")]
    Stale {
        /// The segment.
        name: String,
        /// The pid recorded by its creator.
        creator_pid: u32,
    },
    /// No segment of that name exists.
    #[error("segment {name} does not exist")]
    NotFound {
        /// The segment.
        name: String,
    },
    /// The segment was unlinked while it was being opened.
    #[error("segment {name} was removed while it was being opened")]
    Removed {
        /// The segment.
        name: String,
    },
    /// The creator did not finish initialising the segment within the timeout.
    #[error("segment {name} not ready after {waited:?} (init state {state})")]
    NotReady {
        /// The segment.
        name: String,
        /// The init state word found (0 uninitialised, 1 initialising).
        state: u32,
        /// How long the opener waited.
        waited: Duration,
    },
    /// Another process held the segment's attach lock exclusively for the whole timeout: a
    /// stale-segment remover (`seqflow rm`, `remove_if_stale`, `create` with `remove_stale`)
    /// that is stopped or slow, or a foreign program locking the file.
    #[error("segment {name} is locked against attaching (a remover or another program holds its attach lock); gave up after {waited:?}")]
    AttachLocked {
        /// The segment.
        name: String,
        /// How long the opener waited.
        waited: Duration,
    },
    /// The segment is not initialised and its creator is gone: it never will be.
    #[error("segment {name} was never initialised (init state {state}) and its creator is gone")]
    CreatorDied {
        /// The segment.
        name: String,
        /// The init state word found.
        state: u32,
    },
    /// The file is smaller than the segment header or than the header says.
    #[error("segment {name} is {found} bytes, expected {expected}")]
    SizeMismatch {
        /// The segment.
        name: String,
        /// Bytes the header (or the header struct) requires.
        expected: u64,
        /// Bytes the file has (fstat).
        found: u64,
    },
    /// The segment does not start with seqflow's magic number: it is not a seqflow ring.
    #[error(
        "segment {name} has magic {found:#018x}, expected {expected:#018x}: not a seqflow ring"
    )]
    BadMagic {
        /// The segment.
        name: String,
        /// seqflow's magic.
        expected: u64,
        /// What the segment holds.
        found: u64,
    },
    /// The segment was laid out by another version of seqflow-shm.
    #[error("segment {name} has layout version {found}, this build reads version {expected}")]
    VersionMismatch {
        /// The segment.
        name: String,
        /// The version this build reads.
        expected: u32,
        /// The version in the segment.
        found: u32,
    },
    /// The header size recorded in the segment differs from this build's header.
    #[error("segment {name} has a header of {found} bytes, expected {expected}")]
    HeaderSizeMismatch {
        /// The segment.
        name: String,
        /// This build's header size.
        expected: u32,
        /// The size in the segment.
        found: u32,
    },
    /// The capacity in the header is not a power of two in range.
    #[error("segment {name} has capacity {found}, which is not a power of two between 1 and 2^30")]
    BadCapacity {
        /// The segment.
        name: String,
        /// The capacity in the header.
        found: u64,
    },
    /// A header field is out of range or inconsistent with the others.
    #[error("segment {name}: corrupt header field {field} = {found}")]
    CorruptHeader {
        /// The segment.
        name: String,
        /// The field.
        field: &'static str,
        /// Its value.
        found: u64,
    },
    /// A region offset in the header differs from the one computed from its sizes.
    #[error("segment {name}: offset of {field} is {found}, expected {expected}")]
    OffsetMismatch {
        /// The segment.
        name: String,
        /// The region.
        field: &'static str,
        /// The offset computed from the header's sizes.
        expected: u64,
        /// The offset recorded in the header.
        found: u64,
    },
    /// The event type's size or alignment differs from the one the segment was created for.
    #[error("segment {name} holds events of {found_size} bytes aligned to {found_align}, this type has {expected_size} aligned to {expected_align}")]
    EventLayoutMismatch {
        /// The segment.
        name: String,
        /// This type's size.
        expected_size: u64,
        /// This type's alignment.
        expected_align: u64,
        /// The size in the segment.
        found_size: u64,
        /// The alignment in the segment.
        found_align: u64,
    },
    /// The slots of the segment cannot hold this event type although the fingerprints agree
    /// (a type sized when the segment is created, such as `DynByteSlot`, whose slots must be
    /// whole 8-byte words holding an 8-byte header and at least one payload byte).
    #[error(
        "segment {name} holds events of {found_size} bytes: no slot of {type_name} has that size"
    )]
    SlotSizeMismatch {
        /// The segment.
        name: String,
        /// The event size in the segment.
        found_size: u64,
        /// This type's name.
        type_name: &'static str,
    },
    /// The event type's fingerprint differs: same size, but another type (or another build).
    #[error("segment {name} holds another event type: fingerprint {found:#018x}, expected {expected:#018x} for {type_name}")]
    FingerprintMismatch {
        /// The segment.
        name: String,
        /// The fingerprint of this type.
        expected: u64,
        /// The fingerprint in the segment.
        found: u64,
        /// This type's name.
        type_name: &'static str,
    },
    /// The producer mode in the header is unknown or process-local (lock-based).
    #[error("segment {name} has producer mode {found}: only 1 (single) and 2 (multi, CAS) work across processes")]
    UnsupportedProducerMode {
        /// The segment.
        name: String,
        /// The mode word found.
        found: u32,
    },
    /// The single-producer ring already has its producer (in this or another process).
    #[error("segment {name}: the single producer is taken by pid {pid} (create the ring with a multi-producer mode to publish from several handles)")]
    ProducerTaken {
        /// The segment.
        name: String,
        /// The pid holding it.
        pid: u32,
    },
    /// Every producer slot of a multi-producer ring is in use.
    #[error("segment {name}: all {max} producer slots are in use")]
    ProducersFull {
        /// The segment.
        name: String,
        /// Producer slots in the segment.
        max: usize,
    },
    /// No producer slot of a multi-producer ring is free and the ring was halted everywhere:
    /// slots keep the claims their producers refused at the halt, for good. A halted ring
    /// takes no more events anyway.
    #[error("segment {name}: halted everywhere by pid {by}; no producer slot is free")]
    HaltedEverywhere {
        /// The segment.
        name: String,
        /// The pid that halted it.
        by: u32,
    },
    /// Every consumer slot is in use.
    #[error("segment {name}: all {max} consumer slots are in use; create with more max_consumers")]
    ConsumersFull {
        /// The segment.
        name: String,
        /// Consumer slots in the segment.
        max: usize,
    },
    /// Every worker-pool slot holds a pool that is declared or still has workers (live,
    /// dormant, or dead and not yet reaped). A pool left without any worker keeps its slot
    /// until a new pool name needs it.
    #[error("segment {name}: all {max} worker pool slots hold pools that are declared or still have workers; create the ring with more max_pools")]
    PoolsFull {
        /// The segment.
        name: String,
        /// Pool slots in the segment.
        max: usize,
    },
    /// A consumer or pool name is longer than the registry stores.
    #[error("segment {name}: name {label:?} is {len} bytes, at most {max} fit")]
    LabelTooLong {
        /// The segment.
        name: String,
        /// The consumer or pool name.
        label: String,
        /// Its length in bytes.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// A consumer or pool name is empty or holds control, format or invisible characters (it is printed by
    /// `inspect` and `seqflow ls`).
    #[error("segment {name}: consumer or pool name {label:?} is {reason}")]
    InvalidLabel {
        /// The segment.
        name: String,
        /// The consumer or pool name.
        label: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A stage to run after is not registered.
    #[error("segment {name}: no live consumer or pool named {consumer:?} to run after: start it first, or declare it when creating the segment (ShmOptions::declared_consumers / declared_pools)")]
    UnknownConsumer {
        /// The segment.
        name: String,
        /// The consumer name looked up.
        consumer: String,
    },
    /// The lock byte of a slot is still held by a process that no longer owns it (typically a
    /// forked child that inherited the handle); try again once it has exited.
    #[error("segment {name}: slot {index} is still locked by an exiting or forked process")]
    SlotLocked {
        /// The segment.
        name: String,
        /// The slot.
        index: usize,
    },
    /// The name is taken by a file that is not a seqflow segment (no seqflow header): it is
    /// never removed or reused; remove it by hand (or `seqflow rm --force`) if it is garbage.
    #[error("{name} exists but is not a seqflow segment (no seqflow header): left alone")]
    NotSeqflow {
        /// The name.
        name: String,
    },
    /// `open_or_create` found an existing segment created with other parameters.
    #[error("segment {name} exists with {field} = {found}, but {requested} was asked for")]
    OptionsMismatch {
        /// The segment.
        name: String,
        /// The parameter that differs.
        field: &'static str,
        /// What the caller asked for.
        requested: String,
        /// What the existing segment has.
        found: String,
    },
    /// A live process is already attached as this declared consumer.
    #[error("segment {name}: declared consumer {consumer:?} is already attached (pid {pid})")]
    DeclaredInUse {
        /// The segment.
        name: String,
        /// The declared consumer.
        consumer: String,
        /// The process attached as it.
        pid: u32,
    },
    /// No declared consumer or pool of that name is waiting to be released.
    #[error("segment {name}: no dormant declared consumer or pool named {consumer:?}")]
    NotDeclared {
        /// The segment.
        name: String,
        /// The name asked for.
        consumer: String,
    },
    /// The consumer registry stayed locked for the whole registry timeout: another process
    /// holds it and is stopped (SIGSTOP), stuck, or very slow.
    #[error("segment {name}: the consumer registry stayed locked for {waited:?} (a stopped or stuck process holds it)")]
    RegistryBusy {
        /// The segment.
        name: String,
        /// How long we waited.
        waited: std::time::Duration,
    },
    /// The shared-memory filesystem has no room for the segment's pages.
    #[error("segment {name}: the shared-memory filesystem (or the memory it may use) has no room for its {bytes} bytes (free some of /dev/shm, give it more room, or make the ring or its slots smaller)")]
    NoSpace {
        /// The segment.
        name: String,
        /// The segment's size.
        bytes: u64,
    },
    /// A system call failed.
    #[error("segment {name}: {op} failed: {source}")]
    Io {
        /// The segment.
        name: String,
        /// The operation (`shm_open`, `mmap`, `fcntl(F_OFD_SETLK)`, ...).
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl ShmError {
    /// An [`Io`](Self::Io) error from a rustix errno.
    pub(crate) fn io(name: &str, op: &'static str, errno: rustix::io::Errno) -> Self {
        Self::Io {
            name: name.to_owned(),
            op,
            source: errno.into(),
        }
    }

    /// An [`Io`](Self::Io) error from a std error.
    pub(crate) fn std_io(name: &str, op: &'static str, source: std::io::Error) -> Self {
        Self::Io {
            name: name.to_owned(),
            op,
            source,
        }
    }
}

/// Why a consumer's wait returned no events.
///
/// ```
/// use seqflow_shm::ConsumeError;
/// assert_eq!(ConsumeError::Timeout.to_string(), "wait timed out");
/// assert!(ConsumeError::Lapped { missed: 3, resume_at: 10 }.to_string().contains("3"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumeError {
    /// The timeout passed before the sequence was available.
    #[error("wait timed out")]
    Timeout,
    /// The handle was inherited through `fork()`: it belongs to the parent's registration, so a
    /// child may not read or move it; register anew in the child.
    #[error("this consumer handle belongs to the process that registered it (inherited through fork); register anew")]
    ForkedHandle,
    /// The ring was halted in this process ([`ShmRing::halt`](crate::ShmRing::halt)).
    #[error("wait alerted: the ring is halting")]
    Alerted,
    /// A producer process died between claiming and publishing.
    ///
    /// Multi producer: the claimed slots were released as they stand (they keep their previous
    /// contents) so the ring goes on; the events of `claimed` are not valid and should be
    /// skipped. Single producer: nothing was published; the next producer to attach carries on
    /// from the cursor.
    #[error("producer pid {pid} died before publishing {claimed:?} (waiting for {seq})")]
    ProducerDied {
        /// The dead producer's pid.
        pid: u32,
        /// The sequence the consumer was waiting for.
        seq: i64,
        /// What it had claimed, when known.
        claimed: Option<SequenceRange>,
    },
    /// A non-gating subscriber was overtaken by the producer: `missed` events were overwritten
    /// before it read them. It resumes at `resume_at`, the oldest event no producer may be
    /// overwriting.
    #[error("lapped by the producer: missed {missed} events, resuming at {resume_at}")]
    Lapped {
        /// How many events were lost.
        missed: u64,
        /// The next sequence the subscriber reads.
        resume_at: i64,
    },
    /// The ring was closed ([`ShmRing::close`](crate::ShmRing::close)) and everything up to
    /// its last sequence `end` is consumed: nothing more will come.
    #[error("the ring is closed after sequence {end}")]
    Closed {
        /// The last sequence of the ring.
        end: i64,
    },
    /// `get(seq)` for a sequence the consumer has not waited for (or has already released).
    #[error("sequence {seq} is not available to this consumer (available up to {available})")]
    NotAvailable {
        /// Asked for.
        seq: i64,
        /// The highest sequence this consumer may read.
        available: i64,
    },
    /// `update_sequence(seq)` beyond what was waited for, or backwards.
    #[error("cannot move the consumer's sequence to {seq}: it is at {current} and may go up to {available}")]
    BadUpdate {
        /// Asked for.
        seq: i64,
        /// The consumer's sequence.
        current: i64,
        /// The highest sequence waited for.
        available: i64,
    },
    /// The segment reports `available` published while this consumer waits for `seq`: more
    /// than the ring's `capacity` slots ahead of it, which no producer can do while the
    /// consumer gates the ring. Something other than seqflow wrote the segment's sequences;
    /// nothing is handed out (the slots would be read several laps over).
    #[error("the segment is inconsistent: sequence {available} is reported published while this consumer waits for {seq}, more than the ring's {capacity} slots ahead")]
    Inconsistent {
        /// The sequence waited for.
        seq: i64,
        /// What the segment reports available.
        available: i64,
        /// The ring's capacity.
        capacity: usize,
    },
    /// A stage this consumer runs after died or unregistered: its sequence will not move.
    #[error("upstream consumer {upstream:?} (slot {index}) is gone")]
    UpstreamGone {
        /// The upstream stage's name.
        upstream: String,
        /// Its slot.
        index: usize,
    },
}
