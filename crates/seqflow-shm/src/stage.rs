//! [`ShmStage`]: an [`EventHandler`] run as a stage of a shared ring, in any process, by the
//! same stage loop as a [`Disruptor`](seqflow_pipeline::Disruptor)'s stages: a named stage after
//! named upstream stages, or one worker of a named pool.

use crate::feed::ShmFeed;
use crate::lossy_feed::LossyFeed;
use crate::registration::Start;
use crate::registry::ConsumerKind;
use crate::{ShmError, ShmEvent, ShmRing};
use seqflow_pipeline::{
    EventHandler, ExceptionHandler, PanicPolicy, RewindPolicy, ShutdownError, StageReport,
    StageSpec,
};
use seqflow_sequence::{Alert, Cursor, WaitStrategy};
use std::thread::JoinHandle;
use std::time::Duration;

/// Why a stage of a shared ring could not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// Attaching to the ring failed (unknown upstream, registry full, declared consumer in use,
    /// ...).
    #[error(transparent)]
    Attach(#[from] ShmError),
    /// A failure halted the stage (a panic under [`PanicPolicy::Halt`], an exception handler that
    /// chose to halt, or an upstream stage that is gone).
    #[error(transparent)]
    Halted(#[from] ShutdownError),
    /// The stage's thread could not be started, or panicked outside the handler.
    #[error("stage thread of {stage}: {reason}")]
    Thread {
        /// The stage.
        stage: String,
        /// What went wrong.
        reason: String,
    },
}

enum Role {
    Consumer { after: Vec<String> },
    Worker,
    Subscriber,
}

/// What a stage reads from: a gating registration, or a lossy subscriber's copies.
enum Attached<E: ?Sized + ShmEvent> {
    Gating(ShmFeed<E>),
    Lossy(LossyFeed<E>),
}

/// A stage of a shared ring, to run in this process: made by [`ShmRing::stage`] (a named
/// stage, optionally [`after`](Self::after) named upstream stages) or [`ShmRing::pool_stage`]
/// (one worker of a named pool: each event goes to exactly one worker, in whatever process).
///
/// It runs the handler with the stage loop of one-process disruptors: batches (with
/// `end_of_batch` and an optional [maximum size](Self::max_batch_size)), `on_start` /
/// `on_shutdown`, `on_timeout`, rewinds, early release, the [`PanicPolicy`] or an
/// [`ExceptionHandler`]. Its registration is checked for liveness like any consumer's: if the
/// process dies, an undeclared stage's slot is released, a declared one keeps gating.
///
/// [`run`](Self::run) returns when the ring is [closed](ShmRing::close) and the stage has
/// handled everything before the end, when [`stop_signal`](Self::stop_signal) or
/// [`ShmRing::halt`] stops it, or with [`StageError::Halted`] when a failure halts it.
///
/// ```
/// use seqflow_shm::{ShmOptions, ShmRing};
/// # let name = format!("/seqflow-doc-stage-{}", std::process::id());
/// let options = ShmOptions { declared_consumers: vec!["journal".into(), "audit".into()], ..Default::default() };
/// let ring = ShmRing::<u64>::create(&name, 16, options).unwrap();
/// # let _guard = ring.unlink_on_drop();
/// let producer = {
///     let ring = ring.clone();
///     std::thread::spawn(move || {
///         let mut p = ring.producer().unwrap();
///         // Waits for the declared stages, attached or not: nothing is lost.
///         for i in 1..=100 { p.publish(|e, _| *e = i).unwrap(); }
///         ring.close(); // the stages end once they have handled everything up to here
///     })
/// };
/// // In other processes (here: threads), attach the stages by name.
/// let journal = ring.stage("journal").max_batch_size(8).spawn(|e: &u64, _seq, _end| {
///     assert!(*e > 0);
/// }).unwrap();
/// let mut sum = 0;
/// let report = ring.stage("audit").after(&["journal"]).run(|e: &u64, _, _| sum += *e).unwrap();
/// producer.join().unwrap();
/// assert_eq!((sum, report.sequence), (5050, 99));
/// assert_eq!(journal.join().unwrap().sequence, 99);
/// ```
pub struct ShmStage<E: ?Sized + ShmEvent> {
    ring: ShmRing<E>,
    role: Role,
    spec: StageSpec<E>,
    /// Whether a failure that halts this stage halts the ring in every process.
    halt_ring: bool,
}

/// A stage running on a thread of its own ([`ShmStage::spawn`]).
pub struct StageThread {
    name: String,
    stop: Alert,
    wake: Box<dyn Fn() + Send + Sync>,
    thread: JoinHandle<Result<StageReport, StageError>>,
}

impl std::fmt::Debug for StageThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageThread")
            .field("name", &self.name)
            .field("stopped", &self.stop.is_raised())
            .finish()
    }
}

impl StageThread {
    /// Stop the stage without draining (it finishes the chunk it is handling).
    pub fn stop(&self) {
        self.stop.raise();
        (self.wake)();
    }

    /// Wait for the stage to end; what its run returned.
    pub fn join(self) -> Result<StageReport, StageError> {
        self.thread.join().map_err(|payload| StageError::Thread {
            stage: self.name,
            reason: panic_text(&*payload),
        })?
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panicked".to_owned())
}

impl<E: ?Sized + ShmEvent> ShmRing<E> {
    /// A stage named `name` of this ring (see [`ShmStage`]); a declared consumer of that name
    /// is taken over, with its position.
    pub fn stage(&self, name: &str) -> ShmStage<E> {
        ShmStage {
            ring: self.clone(),
            role: Role::Consumer { after: Vec::new() },
            spec: StageSpec::new(name),
            halt_ring: false,
        }
    }

    /// A worker of the pool named `pool` (created on first use, or declared at create time).
    pub fn pool_stage(&self, pool: &str) -> ShmStage<E> {
        ShmStage {
            ring: self.clone(),
            role: Role::Worker,
            spec: StageSpec::new(pool),
            halt_ring: false,
        }
    }

    /// A lossy stage named `name`: a [subscriber](Self::subscriber) that never holds producers
    /// back, running a handler with the same stage loop (batches of the events there when it
    /// looks, `end_of_batch`, hooks, panic policy). Events are copied out of the ring. When
    /// producers lap it, the overwritten events are skipped: the stage goes on at the oldest
    /// event still held, and each lap is logged and counted in [`StageReport::failures`].
    ///
    /// ```
    /// use seqflow_shm::{ShmOptions, ShmRing};
    /// # let name = format!("/seqflow-doc-lossystage-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let ui = ring.subscriber_stage("ui").spawn(|e: &u64, seq: i64, _end| {
    ///     assert_eq!(*e, seq as u64 * 10);
    /// }).unwrap();
    /// let mut p = ring.producer().unwrap();
    /// for i in 0..5 { p.publish(|e, _| *e = i * 10).unwrap(); } // never waits for "ui"
    /// ring.close();
    /// assert_eq!(ui.join().unwrap().sequence, 4);
    /// ```
    pub fn subscriber_stage(&self, name: &str) -> ShmStage<E> {
        ShmStage {
            ring: self.clone(),
            role: Role::Subscriber,
            spec: StageSpec::new(name),
            halt_ring: false,
        }
    }
}

impl<E: ?Sized + ShmEvent> ShmStage<E> {
    /// Run after the stages named `stages` (every live or declared consumer of each name): this
    /// stage sees an event only once all of them have handled it. Not for pool workers.
    pub fn after(mut self, stages: &[&str]) -> Self {
        if let Role::Consumer { after } = &mut self.role {
            after.extend(stages.iter().map(|s| (*s).to_owned()));
        }
        self
    }

    /// At most `n` events per batch.
    pub fn max_batch_size(mut self, n: usize) -> Self {
        self.spec = self.spec.max_batch_size(n);
        self
    }

    /// How long the stage pauses after a small batch of several events before it looks for the next
    /// one (unless set, [`Pacing::LONG`](crate::Pacing::LONG), as for a
    /// [`ShmConsumer`](crate::ShmConsumer)). Only a stage that follows the producer alone on a
    /// ring whose wait kind is `BusySpin` or `Yielding` pauses; pool workers and lossy
    /// subscribers never do. A close or halt of the ring is seen after the pause, at most
    /// [`Pacing::MAX_SPINS`](crate::Pacing::MAX_SPINS) spin hints later.
    pub fn pacing(mut self, pacing: crate::Pacing) -> Self {
        self.spec = self.spec.pacing(pacing);
        self
    }

    /// Call the handler's `on_timeout` whenever the stage waits `timeout` for an event in vain.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.spec = self.spec.timeout(timeout);
        self
    }

    /// How the stage answers `EventError::Rewind`.
    pub fn rewind_policy(mut self, policy: RewindPolicy) -> Self {
        self.spec = self.spec.rewind_policy(policy);
        self
    }

    /// What a handler panic does (default [`PanicPolicy::Halt`]).
    pub fn panic_policy(mut self, policy: PanicPolicy) -> Self {
        self.spec = self.spec.panic_policy(policy);
        self
    }

    /// The stage's exception handler.
    pub fn exception_handler(mut self, handler: impl ExceptionHandler<E>) -> Self {
        self.spec = self.spec.exception_handler(handler);
        self
    }

    /// Make a failure that halts this stage (a panic under [`PanicPolicy::Halt`], an exception
    /// handler that chose to halt) halt the ring in every process ([`ShmRing::halt_all`]), as a
    /// halt in a one-process `Disruptor` stops all its stages: every stage and consumer then
    /// stops, producers get `ClaimError::Halted`, and the stage returns the failure. Default
    /// `false`: the failure ends this stage only, and a declared stage keeps its place, so a
    /// restart replays the failed batch.
    ///
    /// ```
    /// use seqflow_shm::{ShmOptions, ShmRing, StageError};
    /// # let name = format!("/seqflow-doc-haltring-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let fragile = ring
    ///     .stage("fragile")
    ///     .halt_ring_on_failure(true)
    ///     .spawn(|e: &u64, _, _| assert_ne!(*e, 3, "three is unlucky"))
    ///     .unwrap();
    /// let mut p = ring.producer().unwrap();
    /// for i in 0..4 { p.publish(|e, _| *e = i).unwrap(); }
    /// assert!(matches!(fragile.join(), Err(StageError::Halted(_))));
    /// assert_eq!(ring.halted_by(), Some(std::process::id()));
    /// assert!(p.publish(|e, _| *e = 4).is_err(), "the ring is halted everywhere");
    /// ```
    pub fn halt_ring_on_failure(mut self, halt_ring: bool) -> Self {
        self.halt_ring = halt_ring;
        self
    }

    /// An alert that stops the stage without draining once raised. A stage asleep on the
    /// ring's futex notices within the liveness interval, or at once after
    /// [`StageThread::stop`] (which also wakes it).
    pub fn stop_signal(&self) -> Alert {
        self.spec.stop_signal()
    }

    fn attach(&self) -> Result<Attached<E>, ShmError> {
        let name = self.spec.name();
        let stop = Some(self.spec.stop_signal());
        let mut feed = match &self.role {
            Role::Subscriber => {
                let mut sub = self.ring.subscriber(name)?;
                sub.stop = stop;
                let feed = LossyFeed::new(
                    sub,
                    self.spec.max_batch(),
                    self.ring.capacity(),
                    self.ring.ring().stride(),
                );
                return Ok(Attached::Lossy(feed));
            }
            Role::Worker => {
                ShmFeed::attach(&self.ring, ConsumerKind::Worker, name, Start::Pool(name))?
            }
            Role::Consumer { after } if after.is_empty() => {
                ShmFeed::attach(&self.ring, ConsumerKind::Consumer, name, Start::Cursor)?
            }
            Role::Consumer { after } => {
                let after: Vec<&str> = after.iter().map(String::as_str).collect();
                let start = Start::After(&after);
                ShmFeed::attach(&self.ring, ConsumerKind::Consumer, name, start)?
            }
        };
        feed.stop = stop;
        Ok(Attached::Gating(feed))
    }

    /// Attach and run the stage on the calling thread until it ends (see [`ShmStage`]).
    pub fn run<H: EventHandler<E>>(self, handler: H) -> Result<StageReport, StageError> {
        let feed = self.attach()?;
        self.run_on(feed, handler)
    }

    /// Attach now (errors are returned here), then run the stage on a new thread.
    pub fn spawn<H>(self, handler: H) -> Result<StageThread, StageError>
    where
        H: EventHandler<E> + Send + 'static,
    {
        let feed = self.attach()?;
        let name = self.spec.name().to_owned();
        let stop = self.spec.stop_signal();
        let ring = self.ring.clone();
        let wake = Box::new(move || ring.sequencer().wait_strategy().signal_all());
        let thread = std::thread::Builder::new()
            .name(format!("seqflow-{name}"))
            .spawn(move || self.run_on(feed, handler))
            .map_err(|e| StageError::Thread {
                stage: name.clone(),
                reason: e.to_string(),
            })?;
        Ok(StageThread {
            name,
            stop,
            wake,
            thread,
        })
    }

    fn run_on<H: EventHandler<E>>(
        self,
        feed: Attached<E>,
        handler: H,
    ) -> Result<StageReport, StageError> {
        let result = match (feed, &self.role) {
            (Attached::Lossy(feed), _) => self.spec.run(feed, handler),
            (Attached::Gating(mut feed), Role::Worker) => {
                let work = feed.pool_work(&self.ring)?;
                self.spec.run_worker(feed, work, handler)
            }
            (Attached::Gating(feed), _) => self.spec.run(feed, handler),
        };
        if result.is_err() && self.halt_ring {
            self.ring.halt_all();
        }
        Ok(result?)
    }
}

impl<E: ?Sized + ShmEvent> std::fmt::Debug for ShmStage<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let after = match &self.role {
            Role::Consumer { after } => Some(after),
            Role::Worker | Role::Subscriber => None,
        };
        f.debug_struct("ShmStage")
            .field("ring", &self.ring.name())
            .field("spec", &self.spec)
            .field("after", &after)
            .field("halt_ring", &self.halt_ring)
            .finish()
    }
}
