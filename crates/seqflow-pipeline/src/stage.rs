//! Stages: the records the builder keeps, and [`StageGroup`], the handle users combine.

use crate::{BuildError, ExceptionHandler, RewindPolicy};
use seqflow_sequence::Alert;
use seqflow_sequencer::GatingRegistration;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// A set of stages another stage can come after (see
/// [`DisruptorBuilder::after`](crate::DisruptorBuilder::after)).
///
/// ```
/// use seqflow_pipeline::Disruptor;
/// let mut b = Disruptor::builder(8, || 0u32).single_producer().unwrap();
/// let a = b.handle_events_with(|_: &u32, _, _| {}).group();
/// let c = b.handle_events_with(|_: &u32, _, _| {}).group();
/// b.after(&[&a, &c]).handle_events_with(|_: &u32, _, _| {});
/// assert_eq!(a.len(), 1);
/// ```
///
/// A group belongs to the builder that made it: using it with another builder is
/// [`BuildError::ForeignStageGroup`](crate::BuildError::ForeignStageGroup) at
/// [`start`](crate::DisruptorBuilder::start).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageGroup {
    /// The builder that made the group (0: the empty group, which fits every builder).
    pub(crate) builder: u64,
    pub(crate) ids: Vec<usize>,
}

/// The builder identity of a union of two builders' groups: no builder has it.
const MIXED_BUILDERS: u64 = u64::MAX;

/// A new builder identity for [`StageGroup::builder`] (never 0, never [`MIXED_BUILDERS`]).
pub(crate) fn next_builder_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl StageGroup {
    /// How many stages (a worker pool counts each worker).
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the group is empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The union of two groups. Groups of two different builders make a group no builder
    /// accepts ([`BuildError::ForeignStageGroup`](crate::BuildError::ForeignStageGroup)).
    ///
    /// ```
    /// use seqflow_pipeline::{BuildError, Disruptor};
    /// let mut b = Disruptor::builder(8, || 0u32).single_producer().unwrap();
    /// let a = b.handle_events_with(|_: &u32, _, _| {}).group();
    /// let c = b.handle_events_with(|_: &u32, _, _| {}).group();
    /// assert_eq!(a.union(&c).len(), 2);
    /// let mut other = Disruptor::builder(8, || 0u32).single_producer().unwrap();
    /// let x = other.handle_events_with(|_: &u32, _, _| {}).group();
    /// b.after(&[&a.union(&x)]).handle_events_with(|_: &u32, _, _| {});
    /// assert!(matches!(b.start().err(), Some(BuildError::ForeignStageGroup)));
    /// ```
    pub fn union(&self, other: &StageGroup) -> StageGroup {
        let mut ids = self.ids.clone();
        ids.extend(other.ids.iter().filter(|id| !self.ids.contains(id)));
        let builder = if other.is_empty() || self.builder == other.builder {
            self.builder
        } else if self.is_empty() {
            other.builder
        } else {
            MIXED_BUILDERS
        };
        StageGroup { builder, ids }
    }
}

/// Per-stage settings, set on [`Stages`](crate::Stages) before start.
pub(crate) struct StageOptions<E: ?Sized> {
    /// The most events per batch (`>= 1`).
    pub max_batch: i64,
    /// How long a wait may last before `on_timeout`.
    pub timeout: Option<Duration>,
    pub rewind: RewindPolicy,
    /// `None`: the disruptor's default exception handler.
    pub exceptions: Option<Arc<dyn ExceptionHandler<E>>>,
    pub core: Option<usize>,
    pub thread_name: Option<String>,
    /// `None`: the ring's wait strategy.
    pub wait: Option<Arc<dyn crate::stage_wait::StageWait>>,
    /// The pause after a small batch of several events; `None`: the
    /// ring's default ([`EventFeed::default_pacing`](crate::EventFeed::default_pacing)).
    pub pacing: Option<crate::Pacing>,
}

impl<E: ?Sized> Default for StageOptions<E> {
    fn default() -> Self {
        Self {
            max_batch: i64::MAX,
            timeout: None,
            rewind: RewindPolicy::never(),
            exceptions: None,
            core: None,
            thread_name: None,
            wait: None,
            pacing: None,
        }
    }
}

impl<E: ?Sized> Clone for StageOptions<E> {
    fn clone(&self) -> Self {
        Self {
            max_batch: self.max_batch,
            timeout: self.timeout,
            rewind: self.rewind,
            exceptions: self.exceptions.clone(),
            core: self.core,
            thread_name: self.thread_name.clone(),
            wait: self.wait.clone(),
            pacing: self.pacing,
        }
    }
}

impl<E: ?Sized> StageOptions<E> {
    /// At most `n` events per batch (at least 1).
    pub fn set_max_batch(&mut self, n: usize) {
        self.max_batch = i64::try_from(n.max(1)).unwrap_or(i64::MAX);
    }
}

/// What the thread of a stage runs, given the stage's final name and settings.
pub(crate) type Runner<E> = Box<dyn FnOnce(Arc<str>, StageOptions<E>) + Send>;

/// One consumer, as the builder and the running disruptor know it: a stage thread (handler,
/// worker, custom processor) or a poller (no thread; its user drives it). The registration is
/// shared with whoever moves its sequence (the stage's thread, or the poller), which alone does.
pub(crate) struct StageRecord<E: ?Sized> {
    pub name: String,
    pub registration: Arc<GatingRegistration>,
    /// The consumers this one comes directly after (indexes into the builder's records).
    pub deps: Vec<usize>,
    /// Lossy subscribers made after this consumer (`then_lossy_subscriber`): they read its
    /// sequence for as long as they live, so it cannot be removed until they are dropped.
    pub lossy_followers: crate::lossy::LossyFollowers,
    /// For a consumer that writes its events ([`EventHandlerMut`](crate::EventHandlerMut)):
    /// its writer group, the index of the stage itself, or of the first worker for every
    /// worker of a pool (they never share an event). Every consumer outside the group must
    /// come before or after it.
    pub exclusive: Option<usize>,
    /// The stage thread's own alert and its id in the pipeline's list (`None` for pollers):
    /// raised to stop this stage alone.
    pub stop: Option<(u64, Alert)>,
    /// `None` for pollers; taken when the thread starts.
    pub runner: Option<Runner<E>>,
    pub options: StageOptions<E>,
    pub thread: Option<JoinHandle<()>>,
}

impl<E: ?Sized + 'static> StageRecord<E> {
    /// Start the stage's thread (named, and pinned if asked); nothing for pollers.
    pub fn spawn(&mut self) -> Result<(), BuildError> {
        let Some(runner) = self.runner.take() else {
            return Ok(());
        };
        let options = std::mem::take(&mut self.options);
        let core = options.core;
        if let Some(core) = core {
            crate::affinity::check_core(core).map_err(|reason| BuildError::Pin {
                stage: self.name.clone(),
                core,
                reason,
            })?;
        }
        let thread_name = options
            .thread_name
            .clone()
            .unwrap_or_else(|| format!("seqflow-{}", self.name));
        if thread_name.contains('\0') {
            // `std::thread::Builder::spawn` would panic on it.
            return Err(BuildError::Spawn {
                stage: self.name.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "a thread name may not contain a NUL byte",
                ),
            });
        }
        let name: Arc<str> = self.name.as_str().into();
        let spawned = std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || {
                if let Some(core) = core {
                    if let Err(reason) = crate::affinity::pin_current_thread(core) {
                        tracing::warn!(stage = &*name, core, %reason, "could not pin the stage");
                    }
                }
                runner(name, options)
            });
        match spawned {
            Ok(handle) => {
                self.thread = Some(handle);
                Ok(())
            }
            Err(source) => Err(BuildError::Spawn {
                stage: self.name.clone(),
                source,
            }),
        }
    }
}

impl<E: ?Sized> StageRecord<E> {
    /// Whether this stage's thread is the calling thread.
    pub fn is_current_thread(&self) -> bool {
        let me = std::thread::current().id();
        self.thread.as_ref().is_some_and(|t| t.thread().id() == me)
    }

    /// Whether the drain waits for this stage: a running stage thread (a poller is drained by
    /// its user; a stage whose thread ended will not move again).
    pub fn drains(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

/// `before[i][j]`: consumer `j` comes before consumer `i` (directly or through others). Records
/// only depend on records added earlier, so one pass in order fills the table.
/// A gating registration for a consumer after the stages `deps`: at the slowest of them (read
/// again once the slot gates, `GatingTable::register`, so a stage moving meanwhile cannot leave
/// the start behind what is still held), or at `no_deps()` after the producers only. What the
/// builder and a running disruptor both register a new stage with.
pub(crate) fn register_behind<E: ?Sized, S: seqflow_sequencer::Sequencer>(
    sequencer: &S,
    stages: &[StageRecord<E>],
    deps: &[usize],
    no_deps: impl Fn() -> i64,
) -> Result<GatingRegistration, seqflow_sequencer::RegisterError> {
    sequencer.gating().register(true, || {
        deps.iter()
            .map(|&id| stages[id].registration.sequence().get())
            .min()
            .unwrap_or_else(&no_deps)
    })
}

pub(crate) fn ancestors<E: ?Sized>(stages: &[StageRecord<E>]) -> Vec<Vec<bool>> {
    let mut before = vec![vec![false; stages.len()]; stages.len()];
    for (i, stage) in stages.iter().enumerate() {
        for &dep in &stage.deps {
            let inherited = before[dep].clone();
            for (mine, theirs) in before[i].iter_mut().zip(inherited) {
                *mine |= theirs;
            }
            before[i][dep] = true;
        }
    }
    before
}
