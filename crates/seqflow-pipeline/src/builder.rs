//! [`DisruptorBuilder`]: wire stages (multicast, pipeline, diamond, worker pools), then start.

use crate::processor::{run_batch_processor, StageContext};
use crate::shared::PipelineShared;
use crate::stage::{next_builder_id, StageGroup, StageRecord};
use crate::worker::run_worker;
use crate::{
    BuildError, Disruptor, EventHandler, LossySubscriber, PanicPolicy, Poller, Producer,
    ProducerSequencer,
};
use seqflow_ring::RingBuffer;
use seqflow_sequence::{OwnedRef, ReadOnlySequence, Sequence, SequenceBarrier};
use std::sync::Arc;

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
    policy: PanicPolicy,
    shared: Arc<PipelineShared>,
    stages: Vec<StageRecord>,
    error: Option<BuildError>,
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
    /// let err = DisruptorBuilder::from_parts(sequencer, ring, PanicPolicy::Halt).err().unwrap();
    /// assert!(matches!(err, BuildError::CapacityMismatch { ring: 16, sequencer: 8 }));
    /// ```
    pub fn from_parts(
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
            policy,
            shared: Arc::new(PipelineShared::default()),
            stages: Vec::new(),
            error: None,
        })
    }

    /// A stage after the producer only (in parallel with other such stages).
    pub fn handle_events_with<H: EventHandler<E>>(&mut self, handler: H) -> Stages<'_, E, S> {
        let mut stages = self.after(&[]);
        stages.add(handler);
        stages
    }

    /// A pool of workers after the producer only: each event goes to exactly one of them.
    pub fn handle_events_with_worker_pool<H: EventHandler<E>>(
        &mut self,
        workers: Vec<H>,
    ) -> Stages<'_, E, S> {
        self.after(&[]).handle_events_with_worker_pool(workers)
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
        let foreign = groups.iter().any(|g| !g.is_empty() && g.builder != self.id);
        let deps = if foreign {
            self.error.get_or_insert(BuildError::ForeignStageGroup);
            StageGroup::default()
        } else {
            groups
                .iter()
                .fold(StageGroup::default(), |acc, g| acc.union(g))
        };
        let members = StageGroup {
            builder: self.id,
            ids: Vec::new(),
        };
        Stages {
            builder: self,
            deps,
            members,
        }
    }

    /// A poller after the producer: you drive it with `wait_for`, `get` and `update_sequence`,
    /// and it holds the producer back like a stage.
    pub fn poller(&mut self) -> Result<Poller<E, S>, BuildError> {
        self.poller_after(&StageGroup::default())
    }

    fn poller_after(&mut self, deps: &StageGroup) -> Result<Poller<E, S>, BuildError> {
        if let Some(err) = self.error.take() {
            return Err(err);
        }
        let registration = self.sequencer.gating().register(true, || -1)?;
        let barrier = SequenceBarrier::new(
            Arc::clone(&self.sequencer),
            self.dependency_sequences(deps),
            self.shared.alert.clone(),
        );
        for &id in &deps.ids {
            self.stages[id].registration.set_gating(false);
        }
        Ok(Poller::new(barrier, self.ring.clone(), registration))
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
        let claimer = self
            .sequencer
            .new_claimer()
            .ok_or(BuildError::ProducerTaken)?;
        let mut threads = Vec::with_capacity(self.stages.len());
        for stage in &mut self.stages {
            let runner = stage.runner.take().expect("each stage starts once");
            let name: Arc<str> = stage.name.as_str().into();
            let spawned = std::thread::Builder::new()
                .name(format!("seqflow-{}", stage.name))
                .spawn(move || runner(name));
            match spawned {
                Ok(handle) => threads.push(handle),
                Err(source) => {
                    // Stop what already runs before reporting.
                    self.shared.alert.raise();
                    seqflow_sequence::WaitStrategy::signal_all(self.sequencer.wait_strategy());
                    for t in threads {
                        let _ = t.join();
                    }
                    return Err(BuildError::Spawn {
                        stage: stage.name.clone(),
                        source,
                    });
                }
            }
        }
        tracing::info!(
            stages = self.stages.len(),
            capacity = self.ring.capacity(),
            "disruptor started"
        );
        let producer = Producer::new(claimer, self.ring.clone());
        let disruptor =
            Disruptor::new(self.sequencer, self.ring, self.shared, self.stages, threads);
        Ok((disruptor, producer))
    }

    fn dependency_sequences(&self, deps: &StageGroup) -> Vec<OwnedRef<ReadOnlySequence>> {
        deps.ids
            .iter()
            .map(|&id| self.stages[id].registration.sequence())
            .collect()
    }

    /// Register a stage after `deps`; its runner is made by `make_runner` from its context.
    fn add_stage(
        &mut self,
        deps: &StageGroup,
        name: String,
        make_runner: impl FnOnce(StageContext<E, S>) -> crate::stage::Runner,
    ) -> Option<usize> {
        let registration = match self.sequencer.gating().register(true, || -1) {
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
        let ctx = StageContext {
            name: name.as_str().into(),
            barrier: SequenceBarrier::new(
                Arc::clone(&self.sequencer),
                self.dependency_sequences(deps),
                self.shared.alert.clone(),
            ),
            ring: self.ring.clone(),
            registration: Arc::clone(&registration),
            shared: Arc::clone(&self.shared),
            policy: self.policy,
        };
        self.stages.push(StageRecord {
            name,
            registration,
            runner: Some(make_runner(ctx)),
        });
        Some(self.stages.len() - 1)
    }
}

/// A place in the stage graph: the stages just added (`members`) and what they come after.
///
/// Returned by [`DisruptorBuilder::handle_events_with`] and [`DisruptorBuilder::after`].
pub struct Stages<'a, E, S: ProducerSequencer> {
    builder: &'a mut DisruptorBuilder<E, S>,
    deps: StageGroup,
    members: StageGroup,
}

impl<'a, E, S> Stages<'a, E, S>
where
    E: Send + Sync + 'static,
    S: ProducerSequencer,
{
    fn add<H: EventHandler<E>>(&mut self, handler: H) {
        let name = format!("stage-{}", self.builder.stages.len());
        let added = self.builder.add_stage(&self.deps, name, move |mut ctx| {
            Box::new(move |name| {
                ctx.name = name;
                run_batch_processor(ctx, handler)
            })
        });
        self.members.ids.extend(added);
    }

    /// Another stage in parallel with these (same dependencies): multicast.
    pub fn and<H: EventHandler<E>>(mut self, handler: H) -> Self {
        self.add(handler);
        self
    }

    /// Same as [`and`](Self::and): a stage with the same dependencies.
    pub fn handle_events_with<H: EventHandler<E>>(self, handler: H) -> Self {
        self.and(handler)
    }

    /// A stage after all of these: pipeline.
    pub fn then<H: EventHandler<E>>(self, handler: H) -> Stages<'a, E, S> {
        let mut next = Stages {
            members: StageGroup {
                builder: self.members.builder,
                ids: Vec::new(),
            },
            builder: self.builder,
            deps: self.members,
        };
        next.add(handler);
        next
    }

    /// A worker pool with the same dependencies as these stages: each event goes to exactly
    /// one worker.
    pub fn handle_events_with_worker_pool<H: EventHandler<E>>(mut self, workers: Vec<H>) -> Self {
        let work = OwnedRef::new(Sequence::default());
        let pool = self.builder.stages.len();
        for (i, handler) in workers.into_iter().enumerate() {
            let work = work.clone();
            let name = format!("pool-{pool}-worker-{i}");
            let added = self.builder.add_stage(&self.deps, name, move |mut ctx| {
                Box::new(move |name| {
                    ctx.name = name;
                    run_worker(ctx, work, handler)
                })
            });
            self.members.ids.extend(added);
        }
        self
    }

    /// A worker pool after all of these stages.
    pub fn then_worker_pool<H: EventHandler<E>>(self, workers: Vec<H>) -> Stages<'a, E, S> {
        Stages {
            members: StageGroup {
                builder: self.members.builder,
                ids: Vec::new(),
            },
            builder: self.builder,
            deps: self.members,
        }
        .handle_events_with_worker_pool(workers)
    }

    /// A lossy subscriber after all of these stages: it sees an event once they have handled
    /// it, but never holds them or the producer back (see [`LossySubscriber`]).
    pub fn then_lossy_subscriber(self) -> LossySubscriber<E, S>
    where
        E: Copy,
    {
        let after = self.builder.dependency_sequences(&self.members);
        LossySubscriber::new(
            Arc::clone(&self.builder.sequencer),
            after,
            self.builder.ring.clone(),
            self.builder.shared.alert.clone(),
            0,
        )
    }

    /// A poller after all of these stages.
    pub fn then_poller(self) -> Result<Poller<E, S>, BuildError> {
        let members = self.members;
        self.builder.poller_after(&members)
    }

    /// Name the stages just added (shown in metrics, logs and thread names); several members
    /// are numbered `name-0`, `name-1`, …
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
}
