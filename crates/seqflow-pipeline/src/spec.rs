//! [`StageSpec`]: one stage run on the calling thread over any [`EventFeed`], with the same
//! loop, hooks, batching, exception handling and halt as a stage of a [`Disruptor`](crate::Disruptor).
//! `seqflow-shm` runs the stages of a shared ring (in any process) through it.

use crate::feed::EventFeed;
#[cfg(doc)]
use crate::feed::FeedError;
use crate::processor::{run_batch_processor, StageContext};
use crate::shared::PipelineShared;
use crate::stage::StageOptions;
use crate::worker::run_worker;
use crate::{EventHandler, ExceptionHandler, PanicPolicy, RewindPolicy, ShutdownError};
use seqflow_sequence::{Alert, OwnedRef, Sequence};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// How a stage run by [`StageSpec`] ended without a halt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageReport {
    /// The stage's sequence at the end: everything up to it was handled.
    pub sequence: i64,
    /// Handler failures (panics, errors) the stage continued after, and feed notices.
    pub failures: u64,
}

/// A stage's name and settings, to run it over an [`EventFeed`] on the calling thread: a
/// batch processor ([`run`](Self::run)) or one worker of a pool
/// ([`run_worker`](Self::run_worker)).
///
/// The stage runs until its feed reports [`FeedError::Stopped`] (shut down, or closed and
/// drained), until [`stop_signal`](Self::stop_signal) is raised, or until a failure halts it;
/// `on_start` and `on_shutdown` run on the calling thread around it.
///
/// ```
/// use seqflow_pipeline::{PanicPolicy, RewindPolicy, StageSpec};
/// use std::time::Duration;
/// let spec = StageSpec::<u64>::new("journal")
///     .max_batch_size(64)
///     .timeout(Duration::from_millis(100))
///     .rewind_policy(RewindPolicy::up_to(3))
///     .panic_policy(PanicPolicy::LogAndContinue);
/// assert_eq!(spec.name(), "journal");
/// ```
pub struct StageSpec<E: ?Sized> {
    name: Arc<str>,
    options: StageOptions<E>,
    exceptions: Arc<dyn ExceptionHandler<E>>,
    shared: Arc<PipelineShared>,
}

impl<E: ?Sized + 'static> StageSpec<E> {
    /// A stage named `name`, halting on a panic ([`PanicPolicy::Halt`]), no batch limit, no
    /// timeout, no rewinds.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            options: StageOptions::default(),
            exceptions: Arc::new(PanicPolicy::Halt),
            shared: Arc::default(),
        }
    }

    /// The stage's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The most events per batch ([`max_batch_size`](Self::max_batch_size); unbounded by default).
    pub fn max_batch(&self) -> usize {
        usize::try_from(self.options.max_batch).unwrap_or(usize::MAX)
    }

    /// At most `n` events per batch (`end_of_batch` and the stage's sequence update come at
    /// least every `n` events).
    pub fn max_batch_size(mut self, n: usize) -> Self {
        self.options.set_max_batch(n);
        self
    }

    /// How long the stage pauses after a small batch of several events before it looks for the next
    /// one (unless set, the ring's default, [`Pacing::ring_default`](crate::Pacing::ring_default):
    /// `Pacing::DEFAULT` with one producer, `Pacing::LONG` with several or on a shared ring).
    pub fn pacing(mut self, pacing: crate::Pacing) -> Self {
        self.options.pacing = Some(pacing);
        self
    }

    /// Call the handler's [`on_timeout`](EventHandler::on_timeout) whenever the stage waits
    /// `timeout` for an event in vain.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = Some(timeout);
        self
    }

    /// How the stage answers [`EventError::Rewind`](crate::EventError::Rewind).
    pub fn rewind_policy(mut self, policy: RewindPolicy) -> Self {
        self.options.rewind = policy;
        self
    }

    /// What a handler panic does (default [`PanicPolicy::Halt`]); replaces an exception handler.
    pub fn panic_policy(mut self, policy: PanicPolicy) -> Self {
        self.exceptions = Arc::new(policy);
        self
    }

    /// The stage's exception handler: decides, per failure, whether to go on or halt.
    pub fn exception_handler(mut self, handler: impl ExceptionHandler<E>) -> Self {
        self.exceptions = Arc::new(handler);
        self
    }

    /// An alert that stops the stage without draining once raised (from any thread, e.g. a
    /// signal-handling one); the stage finishes the chunk it is handling and calls
    /// `on_shutdown`.
    pub fn stop_signal(&self) -> Alert {
        self.shared.alert.clone()
    }

    /// Run a batch processor: wait, hand every available event to `handler` (at most the
    /// maximum batch), publish the stage's sequence once per batch.
    pub fn run<F, H>(self, feed: F, handler: H) -> Result<StageReport, ShutdownError>
    where
        F: EventFeed<E>,
        H: EventHandler<E>,
    {
        let shared = Arc::clone(&self.shared);
        let sequence = run_batch_processor(self.context(feed), handler);
        Self::outcome(&shared, sequence)
    }

    /// Run one worker of the pool whose shared work sequence is `work`: each event goes to
    /// exactly one worker of the pool; a worker claims an event only when it is available.
    pub fn run_worker<F, H>(
        self,
        feed: F,
        work: OwnedRef<Sequence>,
        handler: H,
    ) -> Result<StageReport, ShutdownError>
    where
        F: EventFeed<E>,
        H: EventHandler<E>,
    {
        let shared = Arc::clone(&self.shared);
        let sequence = run_worker(self.context(feed), work, handler);
        Self::outcome(&shared, sequence)
    }

    fn context<F: EventFeed<E>>(self, feed: F) -> StageContext<E, F> {
        StageContext {
            name: self.name,
            feed,
            alert: self.shared.alert.clone(),
            shared: self.shared,
            default_exceptions: self.exceptions,
            options: self.options,
        }
    }

    fn outcome(shared: &PipelineShared, sequence: i64) -> Result<StageReport, ShutdownError> {
        if let Some(halt) = shared.halting.lock().take() {
            return Err(halt);
        }
        Ok(StageReport {
            sequence,
            failures: shared.panics.load(Ordering::Relaxed),
        })
    }
}

impl<E: ?Sized> std::fmt::Debug for StageSpec<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageSpec")
            .field("name", &self.name)
            .field("max_batch", &self.options.max_batch)
            .field("timeout", &self.options.timeout)
            .finish()
    }
}
