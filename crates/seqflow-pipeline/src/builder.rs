//! [`DisruptorBuilder`]: wire stages (multicast, pipeline, diamond, worker pools), then start.

use crate::custom::run_processor;
use crate::error::check_stage_name;
use crate::feed::HeapFeed;
use crate::handler::WithState;
use crate::handler_mut::Exclusive;
use crate::processor::{run_batch_processor, StageContext};
use crate::shared::PipelineShared;
use crate::stage::{next_builder_id, StageGroup, StageOptions, StageRecord};
use crate::worker::run_worker;
use crate::{
    BuildError, Disruptor, EventHandler, EventHandlerMut, EventProcessor, ExceptionHandler,
    LossySubscriber, PanicPolicy, Poller, Producer, ProducerSequencer, RewindPolicy,
};
use seqflow_ring::RingBuffer;
use seqflow_sequence::{
    Alert, OwnedRef, ReadOnlySequence, Sequence, SequenceBarrier, WaitStrategy,
};
use seqflow_sequencer::{GatingRegistration, RegisterError, Sequencer};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

/// What [`DisruptorBuilder::start`] returns: the running disruptor and its first producer.
pub type Started<E, S> = (
    Disruptor<E, S>,
    Producer<E, <S as ProducerSequencer>::Claimer>,
);

/// The stage graph of a disruptor before it starts.
///
/// - multicast: call [`handle_events_with`](Self::handle_events_with) several times, or chain
///   [`Stages::and`]: each handler sees every event, in parallel;
/// - pipeline: [`Stages::then`]: the next stage sees an event only after the previous one;
/// - diamond: [`after`](Self::after) a union of groups;
/// - worker pool: [`handle_events_with_worker_pool`](Self::handle_events_with_worker_pool): each
///   event goes to exactly one worker.
///
/// Only the last stages hold the producer back; no stage ever waits for a later one.
///
/// Registration errors (more consumers than `max_consumers`) are kept and returned by
/// [`start`](Self::start), so wiring reads as a straight line.
///
/// ```
/// use seqflow_pipeline::Disruptor;
/// use std::sync::{Arc, atomic::{AtomicI64, Ordering::Relaxed}};
/// let seen = Arc::new(AtomicI64::new(0));
/// let s = seen.clone();
/// let mut b = Disruptor::builder(64, || 0i64).single_producer().unwrap();
/// let a = b.handle_events_with(|_: &i64, _, _| {}).and(|_: &i64, _, _| {}).group();
/// b.after(&[&a]).handle_events_with(move |e: &i64, _, _| { s.fetch_add(*e, Relaxed); });
/// let (d, mut p) = b.start().unwrap();
/// p.publish(|e, _| *e = 5).unwrap();
/// d.shutdown().unwrap();
/// assert_eq!(seen.load(Relaxed), 5);
/// ```
pub struct DisruptorBuilder<E, S: ProducerSequencer> {
    /// This builder's identity, carried by the stage groups it makes.
    id: u64,
    sequencer: Arc<S>,
    ring: RingBuffer<E>,
    exceptions: Arc<dyn ExceptionHandler<E>>,
    shared: Arc<PipelineShared>,
    stages: Vec<StageRecord<E>>,
    error: Option<BuildError>,
    /// Where new stages start: -1, or `next - 1` after `start_at(next)`.
    initial: i64,
    /// The work sequences of the worker pools (moved with the stages by `start_at`).
    pools: Vec<OwnedRef<Sequence>>,
    /// Lossy subscribers handed out so far: they hold their first sequence, so `start_at`
    /// cannot move them and refuses to run after one was made.
    lossy_subscribers: usize,
}

impl<E, S> DisruptorBuilder<E, S>
where
    E: Send + Sync + 'static,
    S: ProducerSequencer,
{
    /// A builder over an existing sequencer and ring (for example, ones that live in a
    /// shared-memory segment). The ring and the sequencer must have the same capacity:
    /// [`BuildError::CapacityMismatch`] otherwise.
    ///
    /// ```
    /// use seqflow_pipeline::{BuildError, DisruptorBuilder, PanicPolicy};
    /// use seqflow_ring::RingBuffer;
    /// use seqflow_sequence::YieldingWait;
    /// use seqflow_sequencer::SingleProducerSequencer;
    /// let sequencer = SingleProducerSequencer::new(8, YieldingWait::default(), 4).unwrap();
    /// let ring = RingBuffer::new(16, || 0u64).unwrap();
    /// // SAFETY: both parts were made just here and go to this builder only.
    /// let err = unsafe { DisruptorBuilder::from_parts(sequencer, ring, PanicPolicy::Halt) };
    /// assert!(matches!(err.err(), Some(BuildError::CapacityMismatch { ring: 16, sequencer: 8 })));
    /// ```
    ///
    /// # Safety
    /// The ring's slots must be reached only through `sequencer` and what this builder makes:
    /// no other builder (or disruptor, or producer) over the same ring or the same sequencer,
    /// before or after, and no other sequencer over the ring (clones of one
    /// [`RingBuffer`] share its slots; [`ring`](Self::ring) and [`sequencer`](Self::sequencer)
    /// hand out such clones). Two sequencers over one ring would let two producers write the
    /// same slot, and consumers registered by another builder would read beside a stage that
    /// writes its events.
    pub unsafe fn from_parts(
        sequencer: Arc<S>,
        ring: RingBuffer<E>,
        policy: PanicPolicy,
    ) -> Result<Self, BuildError> {
        Self::with_parts(sequencer, ring, policy)
    }

    /// [`from_parts`](Self::from_parts) for parts that were just made for this builder (what
    /// [`DisruptorConfig`](crate::DisruptorConfig) does), so nothing else can reach them.
    pub(crate) fn with_parts(
        sequencer: Arc<S>,
        ring: RingBuffer<E>,
        policy: PanicPolicy,
    ) -> Result<Self, BuildError> {
        if sequencer.capacity().get() != ring.capacity() {
            return Err(BuildError::CapacityMismatch {
                ring: ring.capacity(),
                sequencer: sequencer.capacity().get(),
            });
        }
        Ok(Self {
            id: next_builder_id(),
            sequencer,
            ring,
            exceptions: Arc::new(policy),
            shared: Arc::new(PipelineShared::default()),
            stages: Vec::new(),
            error: None,
            initial: seqflow_sequence::INITIAL_SEQUENCE,
            pools: Vec::new(),
            lossy_subscribers: 0,
        })
    }

    /// The exception handler of every stage that has none of its own (replacing the
    /// [`PanicPolicy`] given at construction): stages added before this call included, and
    /// stages added to the running disruptor.
    pub fn set_default_exception_handler(&mut self, handler: impl ExceptionHandler<E>) {
        self.exceptions = Arc::new(handler);
    }

    /// A stage after the producer only (in parallel with other such stages).
    pub fn handle_events_with<H: EventHandler<E> + Send + 'static>(
        &mut self,
        handler: H,
    ) -> Stages<'_, E, S> {
        self.after(&[]).and(handler)
    }

    /// A stage after the producer only that changes its events in place (see
    /// [`EventHandlerMut`]): every other consumer must come after it (or, with
    /// [`after`](Self::after), before it), which [`start`](Self::start) checks.
    ///
    /// ```
    /// use seqflow_pipeline::{BuildError, Disruptor};
    /// let mut b = Disruptor::builder(8, || 0u64).single_producer().unwrap();
    /// b.handle_events_mut_with(|e: &mut u64, _, _| *e *= 2);
    /// b.handle_events_with(|_: &u64, _, _| {}); // in parallel: it would read while the first writes
    /// assert!(matches!(b.start().err(), Some(BuildError::MutatingStageNotExclusive { .. })));
    /// ```
    pub fn handle_events_mut_with<H: EventHandlerMut<E> + Send + 'static>(
        &mut self,
        handler: H,
    ) -> Stages<'_, E, S> {
        self.after(&[]).handle_events_mut_with(handler)
    }

    /// A stage whose handler is made by `make` on the stage's own thread, so it need not be
    /// `Send` (thread-local buffers, `Rc`, a non-`Send` client).
    ///
    /// ```
    /// use seqflow_pipeline::Disruptor;
    /// use std::rc::Rc;
    /// let mut b = Disruptor::builder(8, || 0u32).single_producer().unwrap();
    /// b.handle_events_with_factory(|| {
    ///     let local = Rc::new(()); // not Send: made and used on the stage thread only
    ///     move |_: &u32, _, _| { let _ = &local; }
    /// });
    /// let (d, mut p) = b.start().unwrap();
    /// p.publish(|e, _| *e = 1).unwrap();
    /// d.shutdown().unwrap();
    /// ```
    pub fn handle_events_with_factory<H, F>(&mut self, make: F) -> Stages<'_, E, S>
    where
        H: EventHandler<E> + 'static,
        F: FnOnce() -> H + Send + 'static,
    {
        self.after(&[]).and_factory(make)
    }

    /// A stage with state made by `init` on the stage's own thread (it need not be `Send`),
    /// handed to `handler` with every event: the `disruptor` crate's
    /// `handle_events_and_state_with`.
    ///
    /// ```
    /// use seqflow_pipeline::Disruptor;
    /// use std::cell::RefCell;
    /// let mut b = Disruptor::builder(8, || 0u32).single_producer().unwrap();
    /// b.handle_events_and_state_with(
    ///     |state: &mut RefCell<Vec<u32>>, e: &u32, _, _| state.borrow_mut().push(*e),
    ///     || RefCell::new(Vec::new()),
    /// );
    /// let (d, mut p) = b.start().unwrap();
    /// p.publish(|e, _| *e = 1).unwrap();
    /// d.shutdown().unwrap();
    /// ```
    pub fn handle_events_and_state_with<T, F, I>(&mut self, handler: F, init: I) -> Stages<'_, E, S>
    where
        T: 'static,
        F: FnMut(&mut T, &E, i64, bool) + Send + 'static,
        I: FnOnce() -> T + Send + 'static,
    {
        self.after(&[]).and_with_state(handler, init)
    }

    /// A custom processor after the producer only (see [`EventProcessor`]).
    pub fn handle_events_with_processor<P: EventProcessor<E, S>>(
        &mut self,
        processor: P,
    ) -> Stages<'_, E, S> {
        self.after(&[]).and_processor(processor)
    }

    /// A pool of workers after the producer only: each event goes to exactly one of them.
    pub fn handle_events_with_worker_pool<H: EventHandler<E> + Send + 'static>(
        &mut self,
        workers: Vec<H>,
    ) -> Stages<'_, E, S> {
        self.after(&[]).handle_events_with_worker_pool(workers)
    }

    /// A pool of workers after the producer only that change the events they handle in place
    /// (see [`Stages::handle_events_mut_with_worker_pool`]).
    pub fn handle_events_mut_with_worker_pool<H: EventHandlerMut<E> + Send + 'static>(
        &mut self,
        workers: Vec<H>,
    ) -> Stages<'_, E, S> {
        self.after(&[]).handle_events_mut_with_worker_pool(workers)
    }

    /// The point after every stage of `groups`: stages added from there see an event only once
    /// all of those stages have handled it. A group made by another builder is
    /// [`BuildError::ForeignStageGroup`], reported by [`start`](Self::start).
    ///
    /// ```
    /// use seqflow_pipeline::{BuildError, Disruptor};
    /// let mut first = Disruptor::builder(8, || 0u8).single_producer().unwrap();
    /// let a = first.handle_events_with(|_: &u8, _, _| {}).group();
    /// let mut second = Disruptor::builder(8, || 0u8).single_producer().unwrap();
    /// second.after(&[&a]).handle_events_with(|_: &u8, _, _| {});
    /// assert!(matches!(second.start().err(), Some(BuildError::ForeignStageGroup)));
    /// ```
    pub fn after(&mut self, groups: &[&StageGroup]) -> Stages<'_, E, S> {
        let deps = match self.dependencies(groups) {
            Ok(deps) => deps,
            Err(err) => {
                self.error.get_or_insert(err);
                StageGroup::default()
            }
        };
        let members = StageGroup {
            builder: self.id,
            ids: Vec::new(),
        };
        Stages {
            builder: self,
            deps,
            members,
            last: Vec::new(),
        }
    }

    /// A poller after the producer: you drive it with `wait_for`, `get` and `update_sequence`,
    /// and it holds the producer back like a stage.
    pub fn poller(&mut self) -> Result<Poller<E, S>, BuildError> {
        self.poller_after(&[])
    }

    /// A poller after every stage (and poller) of `groups`: pollers after pollers, branches
    /// and joins, as for stages. A group from another builder is
    /// [`BuildError::ForeignStageGroup`].
    ///
    /// ```
    /// use seqflow_pipeline::Disruptor;
    /// let mut b = Disruptor::builder(8, || 0u32).single_producer().unwrap();
    /// let mut first = b.poller().unwrap();
    /// let mut left = b.poller_after(&[&first.group()]).unwrap();
    /// let mut right = b.poller_after(&[&first.group()]).unwrap();
    /// let mut join = b.poller_after(&[&left.group(), &right.group()]).unwrap();
    /// let (d, mut p) = b.start().unwrap();
    /// p.publish(|e, _| *e = 7).unwrap();
    /// assert_eq!(join.poll(|_, _, _| {}), Ok(0)); // the others have not seen it yet
    /// for poller in [&mut first, &mut left, &mut right, &mut join] {
    ///     assert_eq!(poller.poll(|e, _, _| assert_eq!(*e, 7)), Ok(1));
    /// }
    /// drop((first, left, right, join));
    /// d.shutdown().unwrap();
    /// ```
    pub fn poller_after(&mut self, groups: &[&StageGroup]) -> Result<Poller<E, S>, BuildError> {
        if let Some(err) = self.recorded_error() {
            return Err(err);
        }
        let deps = self.dependencies(groups)?;
        let registration = Arc::new(self.register_consumer(&deps.ids)?);
        let barrier = SequenceBarrier::new(
            Arc::clone(&self.sequencer),
            self.dependency_sequences(&deps),
            self.shared.alert.clone(),
        );
        for &id in &deps.ids {
            self.stages[id].registration.set_gating(false);
        }
        self.stages.push(StageRecord {
            name: format!("poller-{}", self.stages.len()),
            registration: Arc::clone(&registration),
            deps: deps.ids.clone(),
            lossy_followers: Default::default(),
            exclusive: None,
            stop: None,
            runner: None,
            options: StageOptions::default(),
            thread: None,
        });
        let group = StageGroup {
            builder: self.id,
            ids: vec![self.stages.len() - 1],
        };
        Ok(Poller::new(
            barrier,
            self.ring.clone(),
            registration,
            group,
            self.shared.halted.clone(),
        ))
    }

    /// Number the events from `next` instead of 0 (LMAX's `claim(sequence)` on a fresh ring:
    /// carry on a journal's numbering). Only before anything is published; every stage and
    /// poller, added before or after, starts at `next`. Lossy subscribers must be made after
    /// it ([`BuildError::StartAtAfterSubscriber`] otherwise).
    ///
    /// ```
    /// use seqflow_pipeline::Disruptor;
    /// let mut b = Disruptor::builder(8, || 0i64).single_producer().unwrap();
    /// b.handle_events_with(|e: &i64, seq, _| assert_eq!(*e, seq));
    /// b.start_at(1_000).unwrap();
    /// let (d, mut p) = b.start().unwrap();
    /// assert_eq!(p.publish(|e, seq| *e = seq).unwrap(), 1_000);
    /// d.shutdown().unwrap();
    /// ```
    pub fn start_at(&mut self, next: i64) -> Result<(), BuildError> {
        use seqflow_sequencer::StartAtError;
        if next < 0 {
            return Err(StartAtError::Negative { next }.into());
        }
        if self.lossy_subscribers > 0 {
            return Err(BuildError::StartAtAfterSubscriber);
        }
        let claimed = self.sequencer.claimed();
        if claimed != seqflow_sequence::INITIAL_SEQUENCE {
            return Err(StartAtError::AlreadyClaimed { claimed }.into());
        }
        // Nothing runs yet: the stages' sequences are ours to move, and moving them first is
        // what the sequencer checks (no consumer may take the slots below `next` for events).
        let before: Vec<i64> = self
            .stages
            .iter()
            .map(|s| s.registration.sequence_relaxed())
            .collect();
        for stage in &self.stages {
            stage.registration.set_sequence(next - 1);
        }
        if let Err(e) = self.sequencer.start_at(next) {
            for (stage, seq) in self.stages.iter().zip(before) {
                stage.registration.set_sequence(seq);
            }
            return Err(e.into());
        }
        self.initial = next - 1;
        for work in &self.pools {
            work.set(next - 1);
        }
        Ok(())
    }

    /// Publish before the stages start (LMAX allows publishing to a ring before `start`): `f`
    /// gets a producer for the time of the call (a multi-producer one may be cloned, and the
    /// clone stays a producer of this ring); the stages handle those events first once
    /// started. Add the stages first: they gate from their registration on, and a stage or
    /// poller added after events were published starts after them (as LMAX starts a handler
    /// added late at the cursor), since nothing kept the producers off their slots. The stages do not
    /// run yet, so a ring filled here does not empty: use `try_publish`, a blocking publish
    /// would wait forever.
    ///
    /// ```
    /// use seqflow_pipeline::Disruptor;
    /// use std::sync::{Arc, atomic::{AtomicU64, Ordering::Relaxed}};
    /// let sum = Arc::new(AtomicU64::new(0));
    /// let s = sum.clone();
    /// let mut b = Disruptor::builder(8, || 0u64).single_producer().unwrap();
    /// b.handle_events_with(move |e: &u64, _, _| { s.fetch_add(*e, Relaxed); });
    /// b.publish_before_start(|p| {
    ///     for i in 1..=8 { p.try_publish(|e, _| *e = i).unwrap(); }
    ///     assert!(p.try_publish(|e, _| *e = 9).is_err()); // full until the stage runs
    /// }).unwrap();
    /// let (d, mut p) = b.start().unwrap();
    /// p.publish(|e, _| *e = 9).unwrap();
    /// d.shutdown().unwrap();
    /// assert_eq!(sum.load(Relaxed), 45);
    /// ```
    pub fn publish_before_start<R>(
        &mut self,
        f: impl FnOnce(&mut Producer<E, S::Claimer>) -> R,
    ) -> Result<R, BuildError> {
        let claimer = self
            .sequencer
            .new_claimer()
            .ok_or(BuildError::ProducerTaken)?;
        let mut producer = Producer::new(claimer, self.ring.clone());
        Ok(f(&mut producer))
    }

    /// The ring (for reading events in tests or tools).
    pub fn ring(&self) -> &RingBuffer<E> {
        &self.ring
    }

    /// The sequencer.
    pub fn sequencer(&self) -> &Arc<S> {
        &self.sequencer
    }

    /// Start every stage on its own thread and return the running disruptor and a producer.
    pub fn start(mut self) -> Result<Started<E, S>, BuildError> {
        if let Some(err) = self.error.take() {
            return Err(err);
        }
        for stage in &self.stages {
            check_stage_name(&stage.name)?;
        }
        self.check_mutating_stages()?;
        let claimer = self
            .sequencer
            .new_claimer()
            .ok_or(BuildError::ProducerTaken)?;
        // A failure part-way, error or panic, must stop the stages already running before the
        // records go: dropping them unregisters consumers that hold the producer back for those
        // stages (a stage that precedes another does not gate by itself).
        // The default exception handler is the one set last, for every stage without its own.
        for stage in &mut self.stages {
            stage
                .options
                .exceptions
                .get_or_insert_with(|| Arc::clone(&self.exceptions));
        }
        let spawned = catch_unwind(AssertUnwindSafe(|| -> Result<(), BuildError> {
            for stage in &mut self.stages {
                stage.spawn()?;
            }
            tracing::info!(
                stages = self.stages.len(),
                capacity = self.ring.capacity(),
                "disruptor started"
            );
            Ok(())
        }));
        if !matches!(spawned, Ok(Ok(()))) {
            self.shared.raise();
            self.sequencer.wait_strategy().signal_all();
            for stage in &mut self.stages {
                if let Some(t) = stage.thread.take() {
                    let _ = t.join();
                }
            }
            match spawned {
                Ok(Err(err)) => return Err(err),
                Err(payload) => resume_unwind(payload),
                Ok(Ok(())) => {}
            }
        }
        let producer = Producer::new(claimer, self.ring.clone());
        let disruptor = Disruptor::new(
            self.sequencer,
            self.ring,
            self.shared,
            self.stages,
            self.exceptions,
        );
        Ok((disruptor, producer))
    }

    /// Start, and hand the disruptor to its producers: when the last producer (this one and its
    /// clones) is dropped, the stages drain everything published and stop, and that drop joins
    /// their threads; pollers then report [`PollError::Alerted`](crate::PollError::Alerted). No
    /// explicit shutdown (the `disruptor` crate's model). A failure that halted the disruptor is
    /// logged at that point.
    ///
    /// ```
    /// use seqflow_pipeline::Disruptor;
    /// use std::sync::{Arc, atomic::{AtomicU64, Ordering::Relaxed}};
    /// let sum = Arc::new(AtomicU64::new(0));
    /// let s = sum.clone();
    /// let mut b = Disruptor::builder(64, || 0u64).single_producer().unwrap();
    /// b.handle_events_with(move |e: &u64, _, _| { s.fetch_add(*e, Relaxed); });
    /// let mut producer = b.start_owned().unwrap();
    /// for i in 1..=100 { producer.publish(|e, _| *e = i).unwrap(); }
    /// drop(producer); // drains, stops, joins
    /// assert_eq!(sum.load(Relaxed), 5050);
    /// ```
    pub fn start_owned(self) -> Result<Producer<E, S::Claimer>, BuildError> {
        let (disruptor, producer) = self.start()?;
        Ok(producer.owning(disruptor))
    }

    /// The error recorded while wiring, if any, repeated: it stays recorded, so
    /// [`start`](Self::start) still refuses (a poller asked for after a failed step must not
    /// hide that step's failure). Wiring records only these kinds.
    fn recorded_error(&self) -> Option<BuildError> {
        match self.error.as_ref()? {
            BuildError::ForeignStageGroup => Some(BuildError::ForeignStageGroup),
            BuildError::Register(e) => Some(BuildError::Register(*e)),
            BuildError::EmptyWorkerPool => Some(BuildError::EmptyWorkerPool),
            BuildError::LossyNeverReads { capacity } => Some(BuildError::LossyNeverReads {
                capacity: *capacity,
            }),
            other => {
                debug_assert!(false, "unexpected recorded error {other}");
                None
            }
        }
    }

    /// The union of `groups`, all of which must be this builder's: a group made by another
    /// builder (or a union mixing two builders' groups) could name records this builder does
    /// not have, or the wrong ones.
    fn dependencies(&self, groups: &[&StageGroup]) -> Result<StageGroup, BuildError> {
        let ours = |g: &&StageGroup| {
            g.is_empty() || (g.builder == self.id && g.ids.iter().all(|&id| id < self.stages.len()))
        };
        if !groups.iter().all(ours) {
            return Err(BuildError::ForeignStageGroup);
        }
        Ok(groups
            .iter()
            .fold(StageGroup::default(), |acc, g| acc.union(g)))
    }

    /// Every stage that changes its events must have them to itself: the ring is this
    /// process's own, no lossy subscriber reads it, and every other consumer comes strictly
    /// before or strictly after the stage. What [`Exclusive`]'s writes rely on.
    fn check_mutating_stages(&self) -> Result<(), BuildError> {
        let Some(first) = self.stages.iter().find(|s| s.exclusive.is_some()) else {
            return Ok(());
        };
        if !self.ring.is_process_local() {
            return Err(BuildError::MutatingStageOnSharedRing {
                stage: first.name.clone(),
            });
        }
        if self.lossy_subscribers > 0 {
            return Err(BuildError::MutatingStageNotExclusive {
                stage: first.name.clone(),
                reader: "a lossy subscriber".into(),
            });
        }
        let before = crate::stage::ancestors(&self.stages);
        for (m, stage) in self.stages.iter().enumerate() {
            let Some(group) = stage.exclusive else {
                continue;
            };
            let parallel = (0..self.stages.len()).find(|&other| {
                self.stages[other].exclusive != Some(group)
                    && !before[m][other]
                    && !before[other][m]
            });
            if let Some(other) = parallel {
                return Err(BuildError::MutatingStageNotExclusive {
                    stage: stage.name.clone(),
                    reader: self.stages[other].name.clone(),
                });
            }
        }
        Ok(())
    }

    fn dependency_sequences(&self, deps: &StageGroup) -> Vec<OwnedRef<ReadOnlySequence>> {
        deps.ids
            .iter()
            .map(|&id| self.stages[id].registration.sequence())
            .collect()
    }

    /// A gating registration for a new consumer after the stages `deps`.
    ///
    /// With no dependency it starts at the ring's first sequence — or, when events were
    /// published before start already, after the last of them (as LMAX starts a handler added
    /// late at the cursor): one that started lower would read slots the producers may have
    /// lapped meanwhile, since nothing held them back.
    ///
    /// After dependencies it starts where the slowest of them is: they stop gating once it is
    /// registered (it gates for them), so a start at the published end would let producers
    /// overwrite events published before start that a dependency has not read yet. Their
    /// sequences are read again after the slot gates (`GatingTable::register`), so a
    /// dependency moving meanwhile cannot leave the start behind what is still held.
    fn register_consumer(&self, deps: &[usize]) -> Result<GatingRegistration, RegisterError> {
        let initial = self.initial;
        let sequencer = &*self.sequencer;
        crate::stage::register_behind(sequencer, &self.stages, deps, || {
            sequencer.published().max(initial)
        })
    }

    /// Register a stage after `deps`; `body` runs on its thread with its context.
    fn add_stage(
        &mut self,
        deps: &StageGroup,
        name: String,
        body: impl FnOnce(StageContext<E, HeapFeed<E, S>>) + Send + 'static,
    ) -> Option<usize> {
        let registration = match self.register_consumer(&deps.ids) {
            Ok(r) => r,
            Err(e) => {
                self.error.get_or_insert(e.into());
                return None;
            }
        };
        for &id in &deps.ids {
            self.stages[id].registration.set_gating(false);
        }
        let registration = Arc::new(registration);
        let (alert_id, alert) = self.shared.new_stage_alert();
        let barrier = SequenceBarrier::new(
            Arc::clone(&self.sequencer),
            self.dependency_sequences(deps),
            alert.clone(),
        );
        self.stages.push(StageRecord {
            name,
            registration: Arc::clone(&registration),
            deps: deps.ids.clone(),
            lossy_followers: Default::default(),
            exclusive: None,
            stop: Some((alert_id, alert.clone())),
            runner: Some(stage_runner(
                barrier,
                alert,
                self.ring.clone(),
                registration,
                Arc::clone(&self.shared),
                Arc::clone(&self.exceptions),
                body,
            )),
            options: StageOptions::default(),
            thread: None,
        });
        Some(self.stages.len() - 1)
    }
}

/// The runner of a stage: builds its context from the final name and settings, runs `body`.
pub(crate) fn stage_runner<E, S>(
    barrier: SequenceBarrier<S>,
    alert: Alert,
    ring: RingBuffer<E>,
    registration: Arc<seqflow_sequencer::GatingRegistration>,
    shared: Arc<PipelineShared>,
    default_exceptions: Arc<dyn ExceptionHandler<E>>,
    body: impl FnOnce(StageContext<E, HeapFeed<E, S>>) + Send + 'static,
) -> crate::stage::Runner<E>
where
    E: Send + Sync + 'static,
    S: Sequencer,
{
    Box::new(move |name, options| {
        body(StageContext {
            name,
            feed: HeapFeed {
                barrier,
                ring,
                registration,
                wait: options.wait.clone(),
            },
            alert,
            shared,
            default_exceptions,
            options,
        })
    })
}

/// A place in the stage graph: the stages just added (`members`) and what they come after.
///
/// Returned by [`DisruptorBuilder::handle_events_with`] and [`DisruptorBuilder::after`].
///
/// The per-stage settings ([`max_batch_size`](Self::max_batch_size), [`timeout`](Self::timeout),
/// [`rewind_policy`](Self::rewind_policy), [`exception_handler`](Self::exception_handler),
/// [`pin_to_core`](Self::pin_to_core), [`thread_name`](Self::thread_name)) apply to the stage(s)
/// added by the last call (every worker of a pool).
///
/// ```
/// use seqflow_pipeline::{Disruptor, RewindPolicy};
/// use std::time::Duration;
/// let mut b = Disruptor::builder(64, || 0u64).single_producer().unwrap();
/// b.handle_events_with(|_: &u64, _, _| {})
///     .max_batch_size(16)
///     .timeout(Duration::from_millis(100))
///     .rewind_policy(RewindPolicy::up_to(3))
///     .thread_name("journal")
///     .then(|_: &u64, _, _| {})
///     .named("reply");
/// let (d, _p) = b.start().unwrap();
/// d.shutdown().unwrap();
/// ```
pub struct Stages<'a, E, S: ProducerSequencer> {
    builder: &'a mut DisruptorBuilder<E, S>,
    deps: StageGroup,
    members: StageGroup,
    /// The stages added by the last call, which the settings apply to.
    last: Vec<usize>,
}

impl<'a, E, S> Stages<'a, E, S>
where
    E: Send + Sync + 'static,
    S: ProducerSequencer,
{
    fn add_body(
        &mut self,
        name: String,
        body: impl FnOnce(StageContext<E, HeapFeed<E, S>>) + Send + 'static,
    ) {
        let added = self.builder.add_stage(&self.deps, name, body);
        self.last = added.into_iter().collect();
        self.members.ids.extend(added);
    }

    fn next_name(&self) -> String {
        format!("stage-{}", self.builder.stages.len())
    }

    /// The stages after all of these (empty so far).
    fn after_these(self) -> Stages<'a, E, S> {
        Stages {
            members: StageGroup {
                builder: self.members.builder,
                ids: Vec::new(),
            },
            builder: self.builder,
            deps: self.members,
            last: Vec::new(),
        }
    }

    /// Another stage in parallel with these (same dependencies): multicast.
    pub fn and<H: EventHandler<E> + Send + 'static>(self, handler: H) -> Self {
        self.and_factory(move || handler)
    }

    /// Same as [`and`](Self::and): a stage with the same dependencies.
    pub fn handle_events_with<H: EventHandler<E> + Send + 'static>(self, handler: H) -> Self {
        self.and(handler)
    }

    /// Same as [`and_factory`](Self::and_factory), named as on the builder.
    pub fn handle_events_with_factory<H, F>(self, make: F) -> Self
    where
        H: EventHandler<E> + 'static,
        F: FnOnce() -> H + Send + 'static,
    {
        self.and_factory(make)
    }

    /// Same as [`and_with_state`](Self::and_with_state), named as on the builder.
    pub fn handle_events_and_state_with<T, F, I>(self, handler: F, init: I) -> Self
    where
        T: 'static,
        F: FnMut(&mut T, &E, i64, bool) + Send + 'static,
        I: FnOnce() -> T + Send + 'static,
    {
        self.and_with_state(handler, init)
    }

    /// Same as [`and_processor`](Self::and_processor), named as on the builder.
    pub fn handle_events_with_processor<P: EventProcessor<E, S>>(self, processor: P) -> Self {
        self.and_processor(processor)
    }

    /// A stage with the same dependencies as these that changes its events in place (see
    /// [`EventHandlerMut`]); after [`DisruptorBuilder::after`] it comes after those groups.
    /// A stage added in parallel with it fails [`start`](DisruptorBuilder::start) with
    /// [`BuildError::MutatingStageNotExclusive`].
    pub fn handle_events_mut_with<H: EventHandlerMut<E> + Send + 'static>(
        mut self,
        handler: H,
    ) -> Self {
        let name = self.next_name();
        // The stage runs over this builder's ring (`add_stage`), and it is marked exclusive
        // below, so `start` checks the rest of `Exclusive::new`'s contract (the ring is
        // process-local, no lossy subscriber, every other consumer before or after this stage)
        // before any stage thread runs; the running disruptor refuses later consumers.
        // SAFETY: so the contract holds whenever the stage runs.
        let handler = unsafe { Exclusive::new(handler, self.builder.ring.clone()) };
        self.add_body(name, move |ctx| {
            run_batch_processor(ctx, handler);
        });
        for &id in &self.last {
            self.builder.stages[id].exclusive = Some(id);
        }
        self
    }

    /// A stage after all of these that changes its events in place (see
    /// [`EventHandlerMut`]): what it writes is what the stages after it read.
    ///
    /// ```
    /// use seqflow_pipeline::Disruptor;
    /// use std::sync::{Arc, atomic::{AtomicU64, Ordering::Relaxed}};
    /// let sum = Arc::new(AtomicU64::new(0));
    /// let s = sum.clone();
    /// let mut b = Disruptor::builder(8, || 0u64).single_producer().unwrap();
    /// b.handle_events_with(|_: &u64, _, _| {})          // reads the original value
    ///     .then_mut(|e: &mut u64, _, _| *e += 100)       // then rewrites it
    ///     .then(move |e: &u64, _, _| { s.fetch_add(*e, Relaxed); });
    /// let (d, mut p) = b.start().unwrap();
    /// p.publish(|e, _| *e = 1).unwrap();
    /// d.shutdown().unwrap();
    /// assert_eq!(sum.load(Relaxed), 101);
    /// ```
    pub fn then_mut<H: EventHandlerMut<E> + Send + 'static>(self, handler: H) -> Stages<'a, E, S> {
        self.after_these().handle_events_mut_with(handler)
    }

    /// A stage in parallel with these whose handler `make` builds on the stage's thread (it
    /// need not be `Send`; see [`DisruptorBuilder::handle_events_with_factory`]).
    pub fn and_factory<H, F>(mut self, make: F) -> Self
    where
        H: EventHandler<E> + 'static,
        F: FnOnce() -> H + Send + 'static,
    {
        let name = self.next_name();
        self.add_body(name, move |ctx| {
            run_batch_processor(ctx, make());
        });
        self
    }

    /// A stage in parallel with these with state made on its thread (see
    /// [`DisruptorBuilder::handle_events_and_state_with`]).
    pub fn and_with_state<T, F, I>(self, handler: F, init: I) -> Self
    where
        T: 'static,
        F: FnMut(&mut T, &E, i64, bool) + Send + 'static,
        I: FnOnce() -> T + Send + 'static,
    {
        self.and_factory(move || WithState {
            handler,
            state: init(),
        })
    }

    /// A custom processor in parallel with these (see [`EventProcessor`]).
    pub fn and_processor<P: EventProcessor<E, S>>(mut self, processor: P) -> Self {
        let name = self.next_name();
        self.add_body(name, move |ctx| run_processor(ctx, processor));
        self
    }

    /// A stage after all of these: pipeline.
    pub fn then<H: EventHandler<E> + Send + 'static>(self, handler: H) -> Stages<'a, E, S> {
        self.after_these().and(handler)
    }

    /// A stage after all of these, its handler built on its thread.
    pub fn then_factory<H, F>(self, make: F) -> Stages<'a, E, S>
    where
        H: EventHandler<E> + 'static,
        F: FnOnce() -> H + Send + 'static,
    {
        self.after_these().and_factory(make)
    }

    /// A stage after all of these, with state made on its thread.
    pub fn then_with_state<T, F, I>(self, handler: F, init: I) -> Stages<'a, E, S>
    where
        T: 'static,
        F: FnMut(&mut T, &E, i64, bool) + Send + 'static,
        I: FnOnce() -> T + Send + 'static,
    {
        self.after_these().and_with_state(handler, init)
    }

    /// A custom processor after all of these.
    pub fn then_processor<P: EventProcessor<E, S>>(self, processor: P) -> Stages<'a, E, S> {
        self.after_these().and_processor(processor)
    }

    /// A worker pool with the same dependencies as these stages: each event goes to exactly
    /// one worker.
    pub fn handle_events_with_worker_pool<H: EventHandler<E> + Send + 'static>(
        mut self,
        workers: Vec<H>,
    ) -> Self {
        if workers.is_empty() {
            // Stages after it would come after nothing: after the producer only.
            self.builder
                .error
                .get_or_insert(BuildError::EmptyWorkerPool);
        }
        let work = OwnedRef::new(Sequence::default());
        let pool = self.builder.stages.len();
        let mut added = Vec::new();
        for (i, handler) in workers.into_iter().enumerate() {
            let work = work.clone();
            let name = format!("pool-{pool}-worker-{i}");
            added.extend(self.builder.add_stage(&self.deps, name, move |ctx| {
                run_worker(ctx, work, handler);
            }));
        }
        // The pool's work sequence starts where its workers do (the highest of them, should
        // events have been published while they registered: below it a worker's slot would
        // not hold the producers back).
        let start = added
            .iter()
            .map(|&id| self.builder.stages[id].registration.sequence_relaxed())
            .max()
            .unwrap_or(self.builder.initial);
        work.set(start);
        self.builder.pools.push(work);
        self.members.ids.extend(added.iter().copied());
        self.last = added;
        self
    }

    /// A worker pool with the same dependencies as these stages whose workers change the
    /// events they handle in place (see [`EventHandlerMut`]): each event goes to exactly one
    /// worker, so the workers never share one; every consumer outside the pool must come before
    /// or after it, which [`start`](DisruptorBuilder::start) checks.
    pub fn handle_events_mut_with_worker_pool<H: EventHandlerMut<E> + Send + 'static>(
        self,
        workers: Vec<H>,
    ) -> Self {
        let ring = self.builder.ring.clone();
        // The workers run over this builder's ring, and they are marked as one writer group
        // below, so `start` checks the rest of `Exclusive::new`'s contract before any stage
        // thread runs (the ring is process-local, no lossy subscriber, every consumer outside
        // the pool before or after it; inside the pool, the shared work sequence gives each
        // event to exactly one worker); the running disruptor refuses later consumers.
        let workers = workers
            .into_iter()
            .map(|h| {
                // SAFETY: so the contract holds whenever a worker runs (see above).
                unsafe { Exclusive::new(h, ring.clone()) }
            })
            .collect();
        let pool = self.handle_events_with_worker_pool(workers);
        let group = pool.last.first().copied();
        for &id in &pool.last {
            pool.builder.stages[id].exclusive = group;
        }
        pool
    }

    /// A worker pool after all of these stages whose workers change their events in place (see
    /// [`handle_events_mut_with_worker_pool`](Self::handle_events_mut_with_worker_pool)).
    ///
    /// ```
    /// use seqflow_pipeline::Disruptor;
    /// use std::sync::{Arc, atomic::{AtomicU64, Ordering::Relaxed}};
    /// let sum = Arc::new(AtomicU64::new(0));
    /// let s = sum.clone();
    /// let square = |e: &mut u64, _: i64, _: bool| *e *= *e;
    /// let mut b = Disruptor::builder(16, || 0u64).single_producer().unwrap();
    /// b.handle_events_with(|_: &u64, _, _| {})
    ///     .then_worker_pool_mut(vec![square, square])
    ///     .then(move |e: &u64, _, _| { s.fetch_add(*e, Relaxed); });
    /// let (d, mut p) = b.start().unwrap();
    /// for i in 1..=3 { p.publish(|e, _| *e = i).unwrap(); }
    /// d.shutdown().unwrap();
    /// assert_eq!(sum.load(Relaxed), 14);
    /// ```
    pub fn then_worker_pool_mut<H: EventHandlerMut<E> + Send + 'static>(
        self,
        workers: Vec<H>,
    ) -> Stages<'a, E, S> {
        self.after_these()
            .handle_events_mut_with_worker_pool(workers)
    }

    /// A worker pool after all of these stages.
    pub fn then_worker_pool<H: EventHandler<E> + Send + 'static>(
        self,
        workers: Vec<H>,
    ) -> Stages<'a, E, S> {
        self.after_these().handle_events_with_worker_pool(workers)
    }

    /// A lossy subscriber after all of these stages: it sees an event once they have handled
    /// it, but never holds them or the producer back (see [`LossySubscriber`]).
    pub fn then_lossy_subscriber(self) -> LossySubscriber<E, S>
    where
        E: Copy,
    {
        let after = self.builder.dependency_sequences(&self.members);
        if let Err(e) = LossySubscriber::<E, S>::check_readable(
            &self.builder.sequencer,
            self.builder.ring.capacity(),
        ) {
            self.builder.error.get_or_insert(e);
        }
        self.builder.lossy_subscribers += 1;
        let following = self
            .members
            .ids
            .iter()
            .map(|&id| self.builder.stages[id].lossy_followers.mark())
            .collect();
        LossySubscriber::new(
            Arc::clone(&self.builder.sequencer),
            after,
            self.builder.ring.clone(),
            self.builder.shared.alert.clone(),
            self.builder.initial + 1,
            following,
        )
    }

    /// A poller after all of these stages.
    pub fn then_poller(self) -> Result<Poller<E, S>, BuildError> {
        let members = self.members;
        self.builder.poller_after(&[&members])
    }

    /// Name the stages just added (shown in metrics, logs and thread names); several members
    /// are numbered `name-0`, `name-1`, …. An empty name or one holding control, format or invisible characters is
    /// [`BuildError::InvalidStageName`] at [`start`](DisruptorBuilder::start).
    pub fn named(self, name: &str) -> Self {
        let many = self.members.len() > 1;
        for (i, &id) in self.members.ids.iter().enumerate() {
            self.builder.stages[id].name = if many {
                format!("{name}-{i}")
            } else {
                name.to_owned()
            };
        }
        self
    }

    /// The stages just added, to come [`after`](DisruptorBuilder::after) later.
    pub fn group(&self) -> StageGroup {
        self.members.clone()
    }

    fn configure(self, set: impl Fn(&mut StageOptions<E>)) -> Self {
        for &id in &self.last {
            set(&mut self.builder.stages[id].options);
        }
        self
    }

    /// Handle at most `n` events per batch (at least 1): `end_of_batch` and the stage's
    /// sequence update come at least every `n` events, so later stages and the producer see
    /// progress sooner in a long burst.
    pub fn max_batch_size(self, n: usize) -> Self {
        self.configure(|o| o.set_max_batch(n))
    }

    /// How long the stage pauses after a small batch of several events before it looks for the next
    /// one (unless set, the ring's default, [`Pacing::ring_default`](crate::Pacing::ring_default):
    /// `Pacing::DEFAULT` with one producer, `Pacing::LONG` with several or on a shared ring;
    /// [`Pacing::OFF`](crate::Pacing::OFF) for the lowest latency in streams). Only batch stages
    /// that follow the producer alone and wait with a ring strategy that spins first (busy-spin,
    /// yielding, phased back-off: the default `YieldingWait` does) ever pause; pool workers and
    /// custom processors ignore it (see [`Pacing`](crate::Pacing)).
    pub fn pacing(self, pacing: crate::Pacing) -> Self {
        self.configure(|o| o.pacing = Some(pacing))
    }

    /// Call the handler's [`on_timeout`](EventHandler::on_timeout) whenever the stage waits
    /// `timeout` for an event in vain.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.configure(|o| o.timeout = Some(timeout))
    }

    /// How the stage answers [`EventError::Rewind`](crate::EventError::Rewind).
    pub fn rewind_policy(self, policy: RewindPolicy) -> Self {
        self.configure(|o| o.rewind = policy)
    }

    /// The stage's own exception handler (instead of the disruptor's default).
    pub fn exception_handler(self, handler: impl ExceptionHandler<E>) -> Self {
        let handler: Arc<dyn ExceptionHandler<E>> = Arc::new(handler);
        self.configure(|o| o.exceptions = Some(Arc::clone(&handler)))
    }

    /// Wait for events with `wait` instead of the ring's wait strategy (the `disruptor`
    /// crate's `handle_events_with_wait_strategy`): a latency-critical stage can busy-spin on a
    /// core of its own while the others yield or block. Only strategies that do not need to be
    /// woken ([`SelfWakingWait`](crate::SelfWakingWait)); producers and the stages before it still wake the ring's.
    ///
    /// ```
    /// use seqflow_pipeline::{BlockingWait, BusySpinWait, Disruptor, YieldingWait};
    /// let mut b = Disruptor::builder(64, || 0u64)
    ///     .wait_strategy(BlockingWait::default())
    ///     .single_producer()
    ///     .unwrap();
    /// b.handle_events_with(|_: &u64, _, _| {}).named("archive") // blocks: the ring's strategy
    ///     .and(|_: &u64, _, _| {}).named("quotes")
    ///     .wait_strategy(YieldingWait::default());
    /// let (d, mut p) = b.start().unwrap();
    /// p.publish(|e, _| *e = 1).unwrap();
    /// d.shutdown().unwrap();
    /// ```
    pub fn wait_strategy(self, wait: impl crate::SelfWakingWait) -> Self {
        let wait: Arc<dyn crate::stage_wait::StageWait> = Arc::new(wait);
        self.configure(|o| o.wait = Some(Arc::clone(&wait)))
    }

    /// Pin the stage's thread to core `core` (Linux). A core the process may not use is
    /// [`BuildError::Pin`] at [`start`](DisruptorBuilder::start).
    pub fn pin_to_core(self, core: usize) -> Self {
        self.configure(|o| o.core = Some(core))
    }

    /// The stage's thread name (default: `seqflow-` and the stage name).
    pub fn thread_name(self, name: &str) -> Self {
        self.configure(|o| o.thread_name = Some(name.to_owned()))
    }
}
