//! [`StageSettings`]: the name and settings of a stage added to a running disruptor.

use crate::stage::StageOptions;
use crate::{ExceptionHandler, RewindPolicy, SelfWakingWait};
use std::sync::Arc;
use std::time::Duration;

/// The name and per-stage settings of a stage (or worker pool) added to a running disruptor
/// with [`Disruptor::handle_events_with_settings`](crate::Disruptor::handle_events_with_settings)
/// or
/// [`Disruptor::handle_events_with_worker_pool_settings`](crate::Disruptor::handle_events_with_worker_pool_settings):
/// the settings [`Stages`](crate::Stages) gives stages added before start.
///
/// ```
/// use seqflow_pipeline::{Disruptor, PanicPolicy, StageSettings, YieldingWait};
/// use std::time::Duration;
/// let (mut d, mut p) = Disruptor::builder(64, || 0u64).single_producer().unwrap().start().unwrap();
/// let settings = StageSettings::new()
///     .named("audit")
///     .max_batch_size(16)
///     .timeout(Duration::from_millis(100))
///     .exception_handler(PanicPolicy::LogAndContinue)
///     .wait_strategy(YieldingWait::default());
/// let name = d.handle_events_with_settings(|_: &u64, _, _| {}, settings).unwrap();
/// assert_eq!(name, "audit");
/// p.publish(|e, _| *e = 1).unwrap();
/// d.remove_stage("audit").unwrap();
/// d.shutdown().unwrap();
/// ```
pub struct StageSettings<E: ?Sized> {
    pub(crate) name: Option<String>,
    pub(crate) options: StageOptions<E>,
    /// The running stages it comes after, by name; empty: after the producers only.
    pub(crate) after: Vec<String>,
}

impl<E: ?Sized> Default for StageSettings<E> {
    fn default() -> Self {
        Self {
            name: None,
            options: StageOptions::default(),
            after: Vec::new(),
        }
    }
}

impl<E: ?Sized + 'static> StageSettings<E> {
    /// No name (the disruptor numbers the stage: `stage-N`, `pool-N-worker-M`), the disruptor's
    /// exception handler and wait strategy, no batch limit, no timeout, no rewinds.
    pub fn new() -> Self {
        Self::default()
    }

    /// Name the stage (in metrics, logs, thread names, and for
    /// [`remove_stage`](crate::Disruptor::remove_stage)); the workers of a pool are numbered
    /// `name-0`, `name-1`, …. A name a stage of the disruptor already has is
    /// [`BuildError::StageNameTaken`](crate::BuildError::StageNameTaken); an empty name or one
    /// holding control, format or invisible characters is
    /// [`BuildError::InvalidStageName`](crate::BuildError::InvalidStageName) (both when the
    /// stage is added).
    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// Come after these running stages (by name), not after the producers only: the new stage
    /// (or each worker of a new pool) sees an event once every one of them has processed it,
    /// as a stage built with `.then(..)` / `after(..)` does (LMAX: a processor on
    /// `newBarrier(sequencesToTrack)`). It starts where the slowest of them is, so it sees
    /// every event they have not processed yet, and it gates the producers in their place. A
    /// worker pool is followed by naming every one of its workers. A name no running stage has
    /// is [`BuildError::UnknownStage`](crate::BuildError::UnknownStage); a stage something runs
    /// after cannot be removed until that is removed
    /// ([`RemoveStageError::HasDependents`](crate::RemoveStageError::HasDependents)).
    ///
    /// ```
    /// use seqflow_pipeline::{Disruptor, StageSettings};
    /// use std::sync::{Arc, Mutex};
    /// let mut b = Disruptor::builder(16, || 0u64).single_producer().unwrap();
    /// b.handle_events_with(|_: &u64, _, _| {}).named("validate");
    /// let (mut d, mut p) = b.start().unwrap();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let s = seen.clone();
    /// let after = StageSettings::new().named("journal").after(&["validate"]);
    /// d.handle_events_with_settings(move |e: &u64, _, _| s.lock().unwrap().push(*e), after).unwrap();
    /// for i in 0..4 { p.publish(|e, _| *e = i).unwrap(); }
    /// d.shutdown().unwrap();
    /// assert_eq!(*seen.lock().unwrap(), [0, 1, 2, 3]);
    /// ```
    pub fn after(mut self, stages: &[&str]) -> Self {
        self.after = stages.iter().map(|&s| s.to_owned()).collect();
        self
    }

    /// Handle at most `n` events per batch (at least 1; a pool's workers take one event at a
    /// time, so it does not apply to them).
    pub fn max_batch_size(mut self, n: usize) -> Self {
        self.options.set_max_batch(n);
        self
    }

    /// How long the stage pauses after a small batch of several events before it looks for the next
    /// one (unless set, the ring's default, [`Pacing::ring_default`](crate::Pacing::ring_default):
    /// `Pacing::DEFAULT` with one producer, `Pacing::LONG` with several or on a shared ring;
    /// pool workers and custom processors never pause, see [`Pacing`](crate::Pacing)).
    pub fn pacing(mut self, pacing: crate::Pacing) -> Self {
        self.options.pacing = Some(pacing);
        self
    }

    /// Call the handler's [`on_timeout`](crate::EventHandler::on_timeout) whenever the stage
    /// waits `timeout` for an event in vain.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = Some(timeout);
        self
    }

    /// How the stage answers [`EventError::Rewind`](crate::EventError::Rewind) (pool workers
    /// cannot replay: for them a rewind is a failure).
    pub fn rewind_policy(mut self, policy: RewindPolicy) -> Self {
        self.options.rewind = policy;
        self
    }

    /// The stage's own exception handler (instead of the disruptor's default).
    pub fn exception_handler(mut self, handler: impl ExceptionHandler<E>) -> Self {
        self.options.exceptions = Some(Arc::new(handler));
        self
    }

    /// Wait for events with `wait` instead of the ring's wait strategy (see
    /// [`Stages::wait_strategy`](crate::Stages::wait_strategy)).
    pub fn wait_strategy(mut self, wait: impl SelfWakingWait) -> Self {
        self.options.wait = Some(Arc::new(wait));
        self
    }

    /// Pin the stage's thread to core `core` (Linux); a core the process may not use is
    /// [`BuildError::Pin`](crate::BuildError::Pin).
    pub fn pin_to_core(mut self, core: usize) -> Self {
        self.options.core = Some(core);
        self
    }

    /// The stage's thread name (default: `seqflow-` and the stage name).
    pub fn thread_name(mut self, name: &str) -> Self {
        self.options.thread_name = Some(name.to_owned());
        self
    }
}

impl<E: ?Sized> std::fmt::Debug for StageSettings<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageSettings")
            .field("name", &self.name)
            .field("max_batch", &self.options.max_batch)
            .field("timeout", &self.options.timeout)
            .field("own_exception_handler", &self.options.exceptions.is_some())
            .field("own_wait_strategy", &self.options.wait.is_some())
            .field("core", &self.options.core)
            .field("thread_name", &self.options.thread_name)
            .finish()
    }
}
