//! Typed errors of building, polling and shutting down.

use seqflow_ring::CapacityError;
use seqflow_sequencer::RegisterError;

/// Why a disruptor could not be built or started.
///
/// ```
/// use seqflow_pipeline::{BuildError, Disruptor};
/// let err = Disruptor::builder(100, || 0u8).single_producer().err().unwrap();
/// assert!(matches!(err, BuildError::Capacity(_)));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The ring size is not a power of two in range.
    #[error("invalid ring capacity: {0}")]
    Capacity(#[from] CapacityError),
    /// More consumers than the gating table holds.
    #[error("too many consumers: {0}")]
    Register(#[from] RegisterError),
    /// The single producer's claimer is already taken.
    #[error("the single producer is already taken")]
    ProducerTaken,
    /// The ring and the sequencer handed to
    /// [`DisruptorBuilder::from_parts`](crate::DisruptorBuilder::from_parts) differ in size.
    #[error("the ring has {ring} slots but the sequencer sequences {sequencer}")]
    CapacityMismatch {
        /// The ring's capacity.
        ring: usize,
        /// The sequencer's capacity.
        sequencer: usize,
    },
    /// A [`StageGroup`](crate::StageGroup) made by another builder was passed to
    /// [`DisruptorBuilder::after`](crate::DisruptorBuilder::after): its stages are not in this
    /// disruptor.
    #[error("a stage group from another disruptor builder was used with this one")]
    ForeignStageGroup,
    /// A stage thread could not be spawned.
    #[error("could not spawn the thread of stage {stage}: {source}")]
    Spawn {
        /// The stage.
        stage: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Why `shutdown` did not end cleanly.
///
/// ```
/// use seqflow_pipeline::ShutdownError;
/// let e = ShutdownError::Timeout { unprocessed: 3 };
/// assert!(e.to_string().contains("3"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShutdownError {
    /// The stages did not drain within the timeout. They were halted; threads stuck in a
    /// handler are left detached.
    #[error("stages did not drain in time: {unprocessed} published events were not processed by every stage")]
    Timeout {
        /// Events published but not yet processed by the slowest stage when time ran out.
        unprocessed: u64,
    },
    /// A handler panicked under [`PanicPolicy::Halt`](crate::PanicPolicy::Halt), which stopped
    /// the disruptor.
    #[error("stage {stage} panicked at sequence {seq}: {message}")]
    HandlerPanicked {
        /// The stage.
        stage: String,
        /// The event being handled.
        seq: i64,
        /// The panic message.
        message: String,
    },
}

/// Why a poller could not hand out an event.
///
/// ```
/// use seqflow_pipeline::PollError;
/// assert!(PollError::NotAvailable { seq: 4, available: 2 }.to_string().contains("4"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PollError {
    /// `get(seq)` for a sequence the poller has not waited for (or has already released).
    #[error("sequence {seq} is not available to this poller (available up to {available})")]
    NotAvailable {
        /// Asked for.
        seq: i64,
        /// The highest sequence this poller may read.
        available: i64,
    },
    /// `update_sequence(seq)` beyond what was waited for, or backwards.
    #[error("cannot move the poller's sequence to {seq}: it is at {current} and may go up to {available}")]
    BadUpdate {
        /// Asked for.
        seq: i64,
        /// The poller's sequence.
        current: i64,
        /// The highest sequence waited for.
        available: i64,
    },
    /// The wait timed out.
    #[error("timed out waiting for sequence {seq}")]
    Timeout {
        /// Waited for.
        seq: i64,
    },
    /// The disruptor is shutting down.
    #[error("the disruptor is shutting down")]
    Alerted,
}

/// What a lossy (non-gating) subscriber reports instead of an event.
///
/// ```
/// use seqflow_pipeline::LossyError;
/// assert!(LossyError::Lapped { missed: 7, resume_at: 20 }.to_string().contains("7"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LossyError {
    /// The producer overwrote events before this subscriber read them. The subscriber resumes at
    /// `resume_at`, the oldest event still held.
    #[error("lapped by the producer: {missed} events missed, resuming at {resume_at}")]
    Lapped {
        /// Events lost.
        missed: u64,
        /// The next sequence the subscriber will read.
        resume_at: i64,
    },
    /// No event arrived within the timeout.
    #[error("timed out waiting for the next event")]
    Timeout,
    /// The disruptor is shutting down.
    #[error("the disruptor is shutting down")]
    Alerted,
}
