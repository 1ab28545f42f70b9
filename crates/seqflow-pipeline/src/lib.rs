//! The seqflow Disruptor: producers, event handlers on their own threads, dependent stages,
//! pollers, lossy subscribers, worker pools, and an orderly shutdown.
//!
//! ```
//! use seqflow_pipeline::{Disruptor, PanicPolicy};
//! use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
//!
//! let sum = Arc::new(AtomicU64::new(0));
//! let total = sum.clone();
//! let mut builder = Disruptor::builder(1024, || 0u64).single_producer().unwrap();
//! builder.handle_events_with(move |event: &u64, _seq: i64, _end_of_batch: bool| {
//!     total.fetch_add(*event, Ordering::Relaxed);
//! });
//! let (disruptor, mut producer) = builder.start().unwrap();
//! for i in 1..=100 {
//!     producer.publish(|event, _seq| *event = i).unwrap();
//! }
//! disruptor.shutdown().unwrap(); // drains: every published event is handled first
//! assert_eq!(sum.load(Ordering::Relaxed), 5050);
//! ```
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod affinity;
mod aggregate;
mod aliases;
mod builder;
mod config;
mod custom;
mod disruptor;
mod error;
mod exception;
mod feed;
mod get;
mod handler;
mod handler_mut;
mod lossy;
mod lossy_read;
mod metrics;
mod pacing;
mod policy;
mod poll_core;
mod poll_ends;
mod poll_guard;
mod poller;
mod pool_claim;
mod prefetch_plan;
mod printable;
mod processor;
mod producer;
mod producer_kind;
mod progress;
mod release;
mod remove;
mod rewind;
mod running_add;
mod shared;
mod spec;
mod stage;
mod stage_settings;
mod stage_wait;
mod worker;

pub use aggregate::AggregateHandler;
pub use aliases::{MultiProducer, MultiProducerDisruptor, SingleProducer, SingleProducerDisruptor};
pub use builder::{DisruptorBuilder, Stages, Started};
pub use config::DisruptorConfig;
pub use custom::EventProcessor;
pub use disruptor::Disruptor;
pub use error::{
    BuildError, EventError, GetError, LossyError, PollError, ReleaseError, RemoveStageError,
    ShutdownError,
};
pub use exception::{ExceptionAction, ExceptionHandler, HandlerFailure};
pub use feed::{visit_slots, EventFeed, FeedError};
pub use handler::{fallible, EventHandler, Fallible};
pub use handler_mut::EventHandlerMut;
pub use lossy::LossySubscriber;
pub use lossy_read::{Lapped, LossyCursor};
pub use metrics::{Metrics, MetricsHandle, StageMetrics};
pub use pacing::{Pacer, Pacing};
pub use policy::PanicPolicy;
pub use poll_core::{PollCore, PollMisuse};
pub use poll_guard::{Iter as PollGuardIter, PollGuard};
pub use poller::{PollState, Poller};
pub use pool_claim::claim_from_pool;
pub use printable::unfit_for_names;
pub use producer::{ClaimGuard, Producer};
pub use producer_kind::ProducerSequencer;
pub use release::BatchEvent;
pub use rewind::RewindPolicy;
pub use spec::{StageReport, StageSpec};
pub use stage::StageGroup;
pub use stage_settings::StageSettings;
pub use stage_wait::SelfWakingWait;

// The types this crate's public signatures use, so that one dependency is enough.
pub use seqflow_ring::{Capacity, CapacityError, EventFactory, RingBuffer};
pub use seqflow_sequence::{
    Alert, BlockingWait, BusySpinWait, PhasedBackoffWait, ReadOnlySequence, SleepingWait,
    WaitError, WaitStrategy, YieldingWait,
};
pub use seqflow_sequencer::{
    ClaimError, Claimer, MultiClaimer, MultiProducerMode, MultiProducerSequencer, PublishError,
    RegisterError, SequenceRange, Sequencer, SingleClaimer, SingleProducerSequencer, StartAtError,
};
