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
    /// The ring size is not a power of two in range, or the room asked for consumers is
    /// larger than a ring can have.
    #[error("cannot build the ring: {0}")]
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
    /// A stage was to be pinned to a core this machine does not have (or pinning is not
    /// supported here).
    #[error("cannot pin stage {stage} to core {core}: {reason}")]
    Pin {
        /// The stage.
        stage: String,
        /// The core asked for.
        core: usize,
        /// Why not.
        reason: String,
    },
    /// [`DisruptorBuilder::start_at`](crate::DisruptorBuilder::start_at) was refused.
    #[error("cannot start at the chosen sequence: {0}")]
    StartAt(#[from] seqflow_sequencer::StartAtError),
    /// A lossy subscriber on a ring where it could never read an event: the producer's next
    /// claim of one event is kept private (the single-producer sequencer does not record it),
    /// so the subscriber must assume that claim is being written, and with one slot that is
    /// the slot of every event it would read. Use a ring of two slots or more, or the
    /// multi-producer sequencer.
    #[error("a lossy subscriber on a single-producer ring of {capacity} slot could never read an event (the producer may be writing the only slot at any time): use a ring of 2 slots or more")]
    LossyNeverReads {
        /// The ring's capacity.
        capacity: usize,
    },
    /// [`DisruptorBuilder::start_at`](crate::DisruptorBuilder::start_at) after a lossy
    /// subscriber was made: the subscriber already holds the old first sequence.
    #[error("call start_at before making lossy subscribers: one made earlier would read from the old first sequence")]
    StartAtAfterSubscriber,
    /// A stage that changes its events ([`EventHandlerMut`](crate::EventHandlerMut)) would
    /// share them with a consumer reading at the same time: one neither before nor after it in
    /// the stage graph, a lossy subscriber, or a stage or poller added to the running
    /// disruptor.
    #[error("stage {stage} changes its events, so every other consumer must come before or after it, but {reader} would read them at the same time")]
    MutatingStageNotExclusive {
        /// The stage that changes its events.
        stage: String,
        /// The consumer that would read in parallel with it.
        reader: String,
    },
    /// A stage that changes its events was added to a disruptor over a ring in shared memory,
    /// which other processes may read at any time.
    #[error("stage {stage} changes its events, but the ring is shared memory that other processes may read")]
    MutatingStageOnSharedRing {
        /// The stage that changes its events.
        stage: String,
    },
    /// A worker pool was given no workers: stages added after it would follow nothing.
    #[error("a worker pool needs at least one worker")]
    EmptyWorkerPool,
    /// A stage added to a running disruptor was to come after a stage it does not have
    /// ([`StageSettings::after`](crate::StageSettings::after)).
    #[error("no running stage is named {name:?}: a stage added after start can only follow one")]
    UnknownStage {
        /// The name asked for.
        name: String,
    },
    /// A stage added to a running disruptor was named like a stage it already has (the name
    /// is how [`remove_stage`](crate::Disruptor::remove_stage) finds it).
    #[error("a stage named {name:?} is already running: name the new one apart")]
    StageNameTaken {
        /// The name asked for.
        name: String,
    },
    /// A stage name is empty or holds control, format or invisible characters: names are shown in metrics, logs
    /// and thread names, and [`remove_stage`](crate::Disruptor::remove_stage) finds a stage by
    /// its name (the rule of consumer names in shared memory).
    #[error("stage name {name:?} is {reason}: give the stage a printable, non-empty name")]
    InvalidStageName {
        /// The name asked for.
        name: String,
        /// What is wrong with it (`empty`, `holding control, format or invisible characters`).
        reason: &'static str,
    },
    /// A stage thread could not be spawned (also: a thread name with a NUL byte).
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
        /// The event being handled; for a failure with no event, the sequence the exception
        /// handler was given (`-1` in `on_start`, the batch's first event in `on_batch_start`,
        /// the stage's sequence in `on_timeout`: see
        /// [`handle_exception_without_event`](crate::ExceptionHandler::handle_exception_without_event)).
        seq: i64,
        /// The panic message.
        message: String,
    },
    /// A handler returned an error and the stage's exception handler chose to halt.
    #[error("stage {stage} failed at sequence {seq}: {message}")]
    HandlerFailed {
        /// The stage.
        stage: String,
        /// The event being handled; for a failure with no event, as in
        /// [`HandlerPanicked`](Self::HandlerPanicked).
        seq: i64,
        /// The error, as text.
        message: String,
    },
    /// Asked for on the thread of one of the disruptor's own stages (inside a handler), where
    /// waiting for the stages would wait for itself. The stop goes on in a thread of its own and
    /// completes once that handler returns; its outcome is logged.
    #[error("shutdown asked for inside stage {stage}: it goes on in the background once the handler returns")]
    CalledFromStage {
        /// The stage whose handler asked.
        stage: String,
    },
}

/// Why [`Disruptor::remove_stage`](crate::Disruptor::remove_stage) refused (nothing was changed)
/// or [`remove_stage_timeout`](crate::Disruptor::remove_stage_timeout) gave up waiting.
///
/// ```
/// use seqflow_pipeline::{Disruptor, RemoveStageError};
/// let mut b = Disruptor::builder(8, || 0u64).single_producer().unwrap();
/// b.handle_events_with(|_: &u64, _, _| {}).named("first")
///     .then(|_: &u64, _, _| {}).named("second");
/// let (mut d, _p) = b.start().unwrap();
/// assert!(matches!(d.remove_stage("first"), Err(RemoveStageError::HasDependents { .. })));
/// assert!(matches!(d.remove_stage("third"), Err(RemoveStageError::UnknownStage { .. })));
/// d.remove_stage("second").unwrap();
/// d.remove_stage("first").unwrap(); // nothing comes after it any more
/// d.shutdown().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoveStageError {
    /// No stage has this name.
    #[error("no stage named {name:?}")]
    UnknownStage {
        /// The name asked for.
        name: String,
    },
    /// Several stages have this name (give stages distinct names with `named`).
    #[error("{count} stages are named {name:?}: name them apart to remove one")]
    AmbiguousName {
        /// The name asked for.
        name: String,
        /// How many stages have it.
        count: usize,
    },
    /// The name is a poller's: a poller has no thread to stop; drop the `Poller`.
    #[error("{name:?} is a poller: drop the Poller instead")]
    Poller {
        /// The poller's name.
        name: String,
    },
    /// Other stages come after this one and wait for it: remove them first.
    #[error("stage {stage:?} cannot be removed while {dependents:?} come after it")]
    HasDependents {
        /// The stage asked for.
        stage: String,
        /// The consumers that come directly after it.
        dependents: Vec<String>,
    },
    /// Called from the stage's own handler: it cannot wait for its own thread to end.
    #[error("stage {stage:?} cannot remove itself from inside its handler")]
    CalledFromStage {
        /// The stage.
        stage: String,
    },
    /// The stage was told to stop but its handler had not returned within the timeout. The
    /// stage stays in the ring, still holding the producers back (its handler may be reading
    /// an event), and stops when the handler returns; call `remove_stage` again to finish.
    #[error("stage {stage:?} did not stop within {waited:?} (its handler has not returned)")]
    Timeout {
        /// The stage.
        stage: String,
        /// How long the call waited.
        waited: std::time::Duration,
    },
}

/// The failure that halted the disruptor: a panic under `PanicPolicy::Halt` or an exception
/// handler that chose `ExceptionAction::Halt`.
/// Why a handler could not handle an event: returned by
/// [`EventHandler::try_on_event`](crate::EventHandler::try_on_event) and passed to the stage's
/// [`ExceptionHandler`](crate::ExceptionHandler).
///
/// ```
/// use seqflow_pipeline::EventError;
/// let io = std::io::Error::new(std::io::ErrorKind::Other, "socket closed");
/// assert_eq!(EventError::failed(io).to_string(), "socket closed");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The handler failed.
    #[error(transparent)]
    Failed(Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The handler asks for the current batch to be replayed from its first event (after a
    /// transient failure); see [`RewindPolicy`](crate::RewindPolicy).
    #[error("the handler asked to replay its batch")]
    Rewind,
    /// A rewind was asked for more times in a row than the stage's policy allows.
    #[error("gave up replaying the batch starting at {batch_start} after {attempts} attempts")]
    RewindsExhausted {
        /// The first sequence of the batch.
        batch_start: i64,
        /// Replays made.
        attempts: u32,
    },
    /// A rewind was asked for after part of the batch was released to the producer, which may
    /// be overwriting it: replaying could read overwritten events.
    #[error(
        "cannot replay the batch starting at {batch_start}: events up to {released} were released"
    )]
    CannotRewind {
        /// The first sequence of the batch.
        batch_start: i64,
        /// How far the handler released.
        released: i64,
    },
    /// The handler asked for a rewind where there is no batch to replay (a worker pool).
    #[error("this kind of stage cannot replay events")]
    RewindUnsupported,
}

impl EventError {
    /// A failure from any error.
    pub fn failed(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        EventError::Failed(Box::new(error))
    }

    /// A failure from a message.
    pub fn msg(message: impl Into<String>) -> Self {
        EventError::Failed(message.into().into())
    }
}

/// `?` on a boxed error inside a fallible handler.
impl From<Box<dyn std::error::Error + Send + Sync + 'static>> for EventError {
    fn from(error: Box<dyn std::error::Error + Send + Sync + 'static>) -> Self {
        EventError::Failed(error)
    }
}

/// `?` on an I/O result inside a fallible handler.
///
/// ```
/// use seqflow_pipeline::{fallible, EventError};
/// use std::io::Write;
/// let mut out = Vec::new();
/// let mut h = fallible(move |e: &u8, _, _| -> Result<(), EventError> {
///     out.write_all(&[*e])?;
///     if *e == 0 { return Err("zero is not a valid byte here".into()); }
///     Ok(())
/// });
/// # use seqflow_pipeline::EventHandler;
/// assert!(h.try_on_event(&1, 0, true).is_ok());
/// assert_eq!(h.try_on_event(&0, 1, true).unwrap_err().to_string(), "zero is not a valid byte here");
/// ```
impl From<std::io::Error> for EventError {
    fn from(error: std::io::Error) -> Self {
        EventError::failed(error)
    }
}

/// A failure from a message: `Err("bad input".into())`.
impl From<&str> for EventError {
    fn from(message: &str) -> Self {
        EventError::msg(message)
    }
}

/// A failure from a message: `Err(format!("bad input {x}").into())`.
impl From<String> for EventError {
    fn from(message: String) -> Self {
        EventError::msg(message)
    }
}

/// Why a [`BatchEvent`](crate::BatchEvent) release was refused.
///
/// ```
/// use seqflow_pipeline::ReleaseError;
/// assert!(ReleaseError::Backwards { seq: 2, released: 5 }.to_string().contains("5"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    /// Past what the handler has finished with.
    #[error("cannot release up to {seq}: only events up to {limit} are finished")]
    NotFinished {
        /// Asked for.
        seq: i64,
        /// The highest sequence that may be released now.
        limit: i64,
    },
    /// Below what was released already.
    #[error("cannot release up to {seq}: events up to {released} are released already")]
    Backwards {
        /// Asked for.
        seq: i64,
        /// Released so far.
        released: i64,
    },
}

impl From<ReleaseError> for EventError {
    fn from(error: ReleaseError) -> Self {
        EventError::failed(error)
    }
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
    /// The disruptor is shutting down (or, for one started with
    /// [`start_owned`](crate::DisruptorBuilder::start_owned), its last producer is gone) and
    /// everything available was consumed.
    #[error("the disruptor is shutting down")]
    Alerted,
    /// Nothing is available now (`poll_events`, `poll_take`).
    #[error("no events available")]
    Empty,
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
    /// `resume_at`, the oldest event no producer may be overwriting (behind a single producer,
    /// one past the oldest event held: its next one-event claim may be writing that slot).
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

impl From<crate::Lapped> for LossyError {
    fn from(l: crate::Lapped) -> Self {
        Self::Lapped {
            missed: l.missed,
            resume_at: l.resume_at,
        }
    }
}

/// Why [`Disruptor::get`](crate::Disruptor::get) returned no event.
///
/// ```
/// use seqflow_pipeline::GetError;
/// let e = GetError::Overwritten { seq: 3, oldest: 9 };
/// assert!(e.to_string().contains("oldest"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GetError {
    /// The event is not published yet (or `seq` is negative).
    #[error("sequence {seq} is not published (published up to {published})")]
    NotPublished {
        /// Asked for.
        seq: i64,
        /// The highest sequence published when asked (-1: nothing yet).
        published: i64,
    },
    /// The producers have reused the event's slot for a later event.
    #[error("sequence {seq} was overwritten; the oldest event still readable is {oldest}")]
    Overwritten {
        /// Asked for.
        seq: i64,
        /// The oldest sequence no producer may be overwriting now.
        oldest: i64,
    },
    /// A stage that changes its events in place has not finished with this one yet.
    #[error("stage {stage} is still changing sequence {seq} (it has finished up to {done})")]
    BeingWritten {
        /// Asked for.
        seq: i64,
        /// The writing stage.
        stage: String,
        /// The last sequence that stage finished.
        done: i64,
    },
}

/// [`BuildError::InvalidStageName`] if `name` is empty or holds characters unfit for names
/// (control, format and invisible characters, see `unfit_for_names`).
pub(crate) fn check_stage_name(name: &str) -> Result<(), BuildError> {
    let reason = if name.is_empty() {
        "empty"
    } else if name.chars().any(crate::unfit_for_names) {
        "holding control, format or invisible characters"
    } else {
        return Ok(());
    };
    Err(BuildError::InvalidStageName {
        name: name.to_owned(),
        reason,
    })
}
