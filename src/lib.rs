//! seqflow: Disruptor-style event processing in Rust.
//!
//! One preallocated ring of events, sequence numbers instead of locks, producers that claim and
//! publish slots, and consumer stages that each follow a sequence and never block the stages
//! before them.
//!
//! This facade re-exports the workspace crates:
//! - [`sequence`]: `Sequence`, `SequenceBarrier`, wait strategies, alerts;
//! - [`ring`]: `RingBuffer`, `EventFactory`, `Capacity`;
//! - [`sequencer`]: single and multi producer sequencers and their claimers;
//! - [`pipeline`]: the Disruptor itself: builder, producers, handlers, stages, pollers, pools;
//! - [`shm`]: multi-process mode: the ring in a named shared-memory segment.
//!
//! `use seqflow::prelude::*;` brings the names most programs need.
//!
//! ```
//! use seqflow::prelude::*;
//! use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
//!
//! let total = Arc::new(AtomicU64::new(0));
//! let sum = total.clone();
//! let mut builder = Disruptor::builder(1024, || 0u64).single_producer()?;
//! builder
//!     .handle_events_with(|event: &u64, _seq: i64, _end_of_batch: bool| assert!(*event > 0))
//!     .then(move |event: &u64, _seq: i64, _end_of_batch: bool| {
//!         sum.fetch_add(*event, Ordering::Relaxed);
//!     });
//! let (disruptor, mut producer): (Disruptor<u64>, SingleProducer<u64>) = builder.start()?;
//! for i in 1..=100 {
//!     producer.publish(|event, _seq| *event = i)?;
//! }
//! disruptor.shutdown()?; // drains: both stages see every published event
//! assert_eq!(total.load(Ordering::Relaxed), 5050);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The primitives underneath (sequencers, barriers, the ring and its `unsafe` slot contract)
//! are in [`sequencer`], [`sequence`] and [`ring`] for those who build their own consumers.
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub use seqflow_pipeline as pipeline;
pub use seqflow_pipeline::Disruptor;
pub use seqflow_ring as ring;
pub use seqflow_sequence as sequence;
pub use seqflow_sequencer as sequencer;
pub use seqflow_shm as shm;

/// The names most programs need.
///
/// ```
/// use seqflow::prelude::*;
/// let _ = YieldingWait::default();
/// ```
pub mod prelude {
    pub use seqflow_pipeline::{
        AggregateHandler, BuildError, ClaimGuard, Disruptor, DisruptorBuilder, EventHandler,
        EventHandlerMut, LossyError, LossySubscriber, Metrics, MultiProducer,
        MultiProducerDisruptor, Pacing, PanicPolicy, PollError, PollState, Poller, Producer,
        RemoveStageError, ShutdownError, SingleProducer, SingleProducerDisruptor, StageGroup,
        StageSettings,
    };
    pub use seqflow_ring::{Capacity, CapacityError, EventFactory};
    pub use seqflow_sequence::{
        BlockingWait, BusySpinWait, Sequence, SleepingWait, WaitError, WaitStrategy, YieldingWait,
    };
    pub use seqflow_sequencer::{
        ClaimError, Claimer, MultiProducerMode, MultiProducerSequencer, PublishError,
        SequenceRange, Sequencer, SingleProducerSequencer,
    };
}

/// The user guide (`docs/guide.md`); its examples run as doc tests.
#[doc = include_str!("../docs/guide.md")]
pub mod guide {}

/// Compile-fail tests of the API's safety (doc tests only).
#[cfg(doctest)]
pub mod compile_fail;

/// The multi-process guide's examples (`docs/multiprocess.md`), run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../docs/multiprocess.md")]
pub struct MultiprocessDoctests;

/// The NATS bridge guide's examples (`docs/distributed.md`), compiled as doc tests (they need a
/// server, so they are not run).
#[cfg(doctest)]
#[doc = include_str!("../docs/distributed.md")]
pub struct DistributedDoctests;

/// The README's examples, run as doc tests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
