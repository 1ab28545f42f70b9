//! seqflow's multi-process mode: one ring in one named POSIX shared-memory segment, attached to
//! by any number of processes (forked or started separately).
//!
//! The segment holds everything the in-process ring has, laid out `#[repr(C)]` at fixed
//! offsets: the events, the producer cursor, the availability buffer (multi producer), the
//! gating table (which is the consumer registry), plus a producer table, worker-pool cursors and
//! a futex word. The sequencing code is the in-process code of `seqflow-sequencer`, running on
//! segment memory ([`ShmRing::sequencer`], [`ShmRing::ring`]).
//!
//! What multi-process mode adds:
//! - a checked header: every mismatch on open is a typed [`ShmError`], never a panic or UB;
//! - plain-old-data events ([`ShmEvent`], [`ByteSlot`] for variable-size payloads);
//! - cross-process waiting: [`FutexWait`] on a shared futex word (or the polling strategies);
//! - liveness: OS-released locks, so a SIGKILLed consumer's slot is released
//!   ([`ShmRing::reap_dead_consumers`], done by blocked producers) and a producer that died
//!   between claim and publish is reported ([`ConsumeError::ProducerDied`]);
//! - stale segments from crashed runs are detected ([`ShmError::Stale`], [`remove_if_stale`]),
//!   and [`inspect`] / [`remove`] serve `seqflow inspect` / `seqflow rm`.
//!
//! See `docs/multiprocess.md` for the layout, guarantees and failure semantics.
//!
//! ```
//! use seqflow_shm::{ProducerMode, ShmOptions, ShmRing};
//! use std::time::Duration;
//!
//! let name = format!("/seqflow-doc-lib-{}", std::process::id());
//! let ring = ShmRing::<u64>::create(&name, 1024, ShmOptions {
//!     producer: ProducerMode::MultiCas,
//!     ..Default::default()
//! }).unwrap();
//! let _cleanup = ring.unlink_on_drop();
//!
//! // In a worker process (here: the same one), attach by name.
//! let attached = ShmRing::<u64>::open(&name, Duration::from_secs(1)).unwrap();
//! let mut consumer = attached.consumer("audit").unwrap();
//!
//! let mut producer = ring.producer().unwrap();
//! for i in 0..10 {
//!     producer.publish(|event, _seq| *event = i).unwrap();
//! }
//! let mut total = 0;
//! while consumer.sequence() < 9 {
//!     consumer.poll_batch(Some(Duration::from_secs(1)), |e, _, _| total += *e).unwrap();
//! }
//! assert_eq!(total, 45);
//! ```
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod byte_slot;
mod claimer;
mod consumer;
mod create;
mod error;
mod event;
mod feed;
mod fork_guard;
mod futex;
mod guard;
mod header;
mod idle_workers;
mod inspect;
mod layout;
mod list;
mod liveness;
mod lock;
mod lossy_feed;
mod mapping;
mod membarrier;
mod name;
mod open;
mod options;
mod pool_members;
mod producer;
mod producer_slot;
mod reaper;
mod registration;
mod registry;
mod release;
mod ring;
mod sanity;
mod segment;
mod segment_file;
mod sequencer;
mod stage;
mod stale;
mod subscriber;
mod supervise;
mod wait;
mod watch;
mod worker;

pub use byte_slot::ByteSlot;
pub use claimer::ShmClaimer;
pub use consumer::ShmConsumer;
pub use error::{ConsumeError, ShmError};
pub use event::{fingerprint, ShmEvent};
pub use futex::{FutexWait, FutexWord};
pub use guard::UnlinkGuard;
pub use inspect::{
    inspect, remove, remove_if_stale, ConsumerInfo, HeaderInfo, Inspection, PoolInfo, ProducerInfo,
};
pub use layout::{MAX_CONSUMERS, MAX_POOLS, MAX_PRODUCERS};
pub use list::{list, Listing};
pub use name::SegmentName;
pub use options::{OpenOptions, ProducerMode, ShmOptions};
pub use producer::{ShmClaim, ShmProducer};
pub use producer_slot::producer_state_name;
pub use registry::ConsumerKind;
pub use release::{halt_all, release_declared};
pub use ring::ShmRing;
pub use sequencer::ShmSequencer;
pub use stage::{ShmStage, StageError, StageThread};
pub use subscriber::ShmSubscriber;

/// The fork epoch of this process: unchanged in the process that made a handle, bumped in every
/// child forked after the first seqflow handle was made (or after the first call of this). A
/// wrapper that keeps its own handles compares it with the value it recorded to tell a copy
/// inherited through `fork()` (seqflow's own handles refuse such copies with `ForkedHandle`).
///
/// ```
/// let epoch = seqflow_shm::fork_epoch();
/// assert_eq!(seqflow_shm::fork_epoch(), epoch); // no fork in between
/// ```
pub fn fork_epoch() -> u64 {
    fork_guard::epoch_for_new_handle()
}
pub use supervise::{worker_index, SuperviseError, WorkerEnd, Workers, WORKER_INDEX_VAR};
pub use wait::{ShmWait, WaitKind};
pub use worker::ShmWorker;

// The types this crate's public signatures use, so that one dependency is enough.
pub use seqflow_pipeline::{
    fallible, BatchEvent, EventError, EventHandler, ExceptionAction, ExceptionHandler, Fallible,
    HandlerFailure, Pacing, PanicPolicy, RewindPolicy, ShutdownError, StageReport,
};
pub use seqflow_ring::{
    Capacity, CapacityError, DynByteCopy, DynByteSlot, Slot, SlotCopy, TooLong, MAX_DYN_PAYLOAD,
};
pub use seqflow_sequence::{
    Alert, BusySpinWait, OwnedRef, SleepingWait, WaitError, WaitStrategy, YieldingWait,
};
pub use seqflow_sequencer::{
    ClaimError, GatingTable, MultiProducerSequencer, PublishError, SequenceRange, Sequencer,
    SingleProducerSequencer,
};

/// Test support: raw access to a segment's header words, for tests that write bad bytes into a
/// segment and check that opening it fails with the right error. Not part of the stable API.
#[doc(hidden)]
pub mod testing;
