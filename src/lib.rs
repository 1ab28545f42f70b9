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
//!
//! let sequencer = SingleProducerSequencer::new(8, YieldingWait::default(), 1).unwrap();
//! let ring = RingBuffer::new(8, || 0u64).unwrap();
//! let mut producer = sequencer.claimer().unwrap();
//! let claim = producer.claim(1).unwrap();
//! // SAFETY: `claim` is ours until published.
//! unsafe { *ring.get_mut(claim.start()) = 42 };
//! producer.publish(claim).unwrap();
//! let barrier = SequenceBarrier::new(sequencer.clone(), vec![], Alert::new());
//! let available = barrier.wait_for(0, None).unwrap();
//! // SAFETY: published, and nobody gates the producer past it in this example.
//! assert_eq!(unsafe { *ring.get(available) }, 42);
//! ```
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
        ClaimGuard, Disruptor, DisruptorBuilder, EventHandler, LossyError, LossySubscriber,
        Metrics, PanicPolicy, PollError, Poller, Producer, ShutdownError, StageGroup,
    };
    pub use seqflow_ring::{Capacity, CapacityError, EventFactory, RingBuffer};
    pub use seqflow_sequence::{
        Alert, BlockingWait, BusySpinWait, Cursor, Sequence, SequenceBarrier, SleepingWait,
        WaitError, WaitStrategy, YieldingWait,
    };
    pub use seqflow_sequencer::{
        ClaimError, Claimer, MultiProducerMode, MultiProducerSequencer, PublishError,
        SequenceRange, Sequencer, SingleProducerSequencer,
    };
}

/// The user guide (`docs/guide.md`); its examples run as doc tests.
#[doc = include_str!("../docs/guide.md")]
pub mod guide {}

/// The README's examples, run as doc tests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
