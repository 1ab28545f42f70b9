//! [`Disruptor`]: the running pipeline: more producers and pollers, metrics, shutdown, halt.

use crate::shared::PipelineShared;
use crate::stage::StageRecord;
use crate::{
    BuildError, ExceptionHandler, LossySubscriber, Metrics, MetricsHandle, Poller, Producer,
    ProducerSequencer, ShutdownError, StageGroup,
};
use seqflow_ring::RingBuffer;
use seqflow_sequence::{SequenceBarrier, WaitStrategy, YieldingWait};
use seqflow_sequencer::SingleProducerSequencer;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A running disruptor: its stages run on their own threads until
/// [`shutdown`](Self::shutdown) (drain, then stop) or [`halt`](Self::halt) (stop now).
/// Dropping it halts.
///
/// Build one with [`Disruptor::builder`]. `Disruptor<E>` names the common kind (one producer,
/// [`YieldingWait`]); [`MultiProducerDisruptor`](crate::MultiProducerDisruptor) and
/// [`SingleProducerDisruptor`](crate::SingleProducerDisruptor) name the others.
///
/// ```
/// use seqflow_pipeline::Disruptor;
/// use std::time::Duration;
/// let mut b = Disruptor::builder(64, || 0u64).single_producer().unwrap();
/// b.handle_events_with(|_: &u64, _, _| std::thread::sleep(Duration::from_micros(10)));
/// let (d, mut p) = b.start().unwrap();
/// for i in 0..50 { p.publish(|e, _| *e = i).unwrap(); }
/// d.shutdown_timeout(Duration::from_secs(30)).unwrap();
/// ```
#[must_use = "dropping a Disruptor halts its stages at once (events not yet handled are lost): keep it and call shutdown()"]
pub struct Disruptor<E, S: ProducerSequencer = SingleProducerSequencer<YieldingWait>> {
    pub(crate) sequencer: Arc<S>,
    pub(crate) ring: RingBuffer<E>,
    pub(crate) shared: Arc<PipelineShared>,
    /// Every consumer, in the order they were added (`deps` and `exclusive` index into it);
    /// the metrics' list follows the same order.
    pub(crate) stages: Vec<StageRecord<E>>,
    pub(crate) exceptions: Arc<dyn ExceptionHandler<E>>,
    pub(crate) metrics: MetricsHandle,
}

impl<E, S> Disruptor<E, S>
where
    E: Send + Sync + 'static,
    S: ProducerSequencer,
{
    pub(crate) fn new(
        sequencer: Arc<S>,
        ring: RingBuffer<E>,
        shared: Arc<PipelineShared>,
        stages: Vec<StageRecord<E>>,
        exceptions: Arc<dyn ExceptionHandler<E>>,
    ) -> Self {
        let metrics = MetricsHandle::new(
            Arc::clone(&sequencer),
            stages
                .iter()
                .map(|s| {
                    (
                        s.name.clone(),
                        s.registration.sequence(),
                        s.registration.is_gating(),
                    )
                })
                .collect(),
            Arc::clone(&shared),
        );
        Self {
            sequencer,
            ring,
            shared,
            stages,
            exceptions,
            metrics,
        }
    }

    /// Another producer: always for multi-producer disruptors;
    /// [`BuildError::ProducerTaken`] for a single-producer one whose producer is alive.
    pub fn producer(&self) -> Result<Producer<E, S::Claimer>, BuildError> {
        let claimer = self
            .sequencer
            .new_claimer()
            .ok_or(BuildError::ProducerTaken)?;
        Ok(Producer::new(claimer, self.ring.clone()))
    }

    /// A poller added to the running disruptor: it starts after the highest sequence published
    /// with everything before it (as [`handle_events_with`](Self::handle_events_with))
    /// and gates the producer from now on, until it is dropped.
    ///
    /// It has no name: [`metrics`](Self::metrics) and [`sequence_of`](Self::sequence_of) do not
    /// list it (a poller made on the builder is listed as `poller-N`), while
    /// [`has_backlog`](Self::has_backlog) counts it for as long as it lives.
    ///
    /// ```
    /// use seqflow_pipeline::Disruptor;
    /// let (d, mut p) = Disruptor::builder(8, || 0u64).single_producer().unwrap().start().unwrap();
    /// let mut poller = d.poller().unwrap();
    /// p.publish(|e, _| *e = 7).unwrap();
    /// assert!(d.has_backlog());
    /// assert_eq!(poller.poll(|e, _, _| assert_eq!(*e, 7)).unwrap(), 1);
    /// assert!(!d.has_backlog());
    /// drop(poller);
    /// d.shutdown().unwrap();
    /// ```
    pub fn poller(&self) -> Result<Poller<E, S>, BuildError> {
        self.refuse_if_mutating("a poller added after start")?;
        let sequencer = &*self.sequencer;
        let registration = sequencer
            .gating()
            .register(true, || sequencer.published())?;
        let barrier = SequenceBarrier::new(
            Arc::clone(&self.sequencer),
            Vec::new(),
            self.shared.alert.clone(),
        );
        Ok(Poller::new(
            barrier,
            self.ring.clone(),
            Arc::new(registration),
            StageGroup::default(),
            self.shared.halted.clone(),
        ))
    }

    /// A lossy subscriber starting at the next event to be published; it never holds the
    /// producer back. [`BuildError::MutatingStageNotExclusive`] if a stage changes its events
    /// in place (the subscriber would read while it writes).
    pub fn lossy_subscriber(&self) -> Result<LossySubscriber<E, S>, BuildError>
    where
        E: Copy,
    {
        self.refuse_if_mutating("a lossy subscriber")?;
        LossySubscriber::<E, S>::check_readable(&self.sequencer, self.ring.capacity())?;
        Ok(LossySubscriber::new(
            Arc::clone(&self.sequencer),
            Vec::new(),
            self.ring.clone(),
            self.shared.alert.clone(),
            // The next event to be published: a claim being written (a claim guard held open)
            // is not skipped. Its slots are told apart by `claim_bound`, as any lap's.
            self.sequencer.published() + 1,
            Vec::new(),
        ))
    }

    /// A consumer added now would come after the producer only, in parallel with every stage:
    /// refused when a stage changes its events in place (see
    /// [`EventHandlerMut`](crate::EventHandlerMut)).
    pub(crate) fn refuse_if_mutating(&self, reader: &str) -> Result<(), BuildError> {
        match self.stages.iter().find(|s| s.exclusive.is_some()) {
            Some(stage) => Err(BuildError::MutatingStageNotExclusive {
                stage: stage.name.clone(),
                reader: reader.into(),
            }),
            None => Ok(()),
        }
    }

    /// Progress now.
    pub fn metrics(&self) -> Metrics {
        self.metrics.read()
    }

    /// A handle to read metrics from other threads.
    pub fn metrics_handle(&self) -> MetricsHandle {
        self.metrics.clone()
    }

    /// The sequencer.
    pub fn sequencer(&self) -> &Arc<S> {
        &self.sequencer
    }

    /// Let every stage process every event published so far, then stop the stages and join
    /// their threads. Returns [`ShutdownError::HandlerPanicked`] if a handler panic halted the
    /// disruptor (under `PanicPolicy::Halt`).
    pub fn shutdown(self) -> Result<(), ShutdownError> {
        self.stop(Some(None))
    }

    /// As [`shutdown`](Self::shutdown), but give up draining after `timeout`: the stages are
    /// then halted, threads stuck in a handler are left detached, and
    /// [`ShutdownError::Timeout`] says how many events were left unprocessed.
    pub fn shutdown_timeout(self, timeout: Duration) -> Result<(), ShutdownError> {
        self.stop(Some(Some(timeout)))
    }

    /// Stop every stage now, without draining: each finishes the event it is handling and at
    /// most the rest of the chunk (up to 1024 events) of the batch it is in. Producers waiting
    /// for free slots get `ClaimError::Halted`.
    pub fn halt(self) -> Result<(), ShutdownError> {
        self.stop(None)
    }

    /// `drain`: `None` halts; `Some(timeout)` drains first, within `timeout` if given.
    ///
    /// Called from one of the stages' own threads (a handler that shuts its disruptor down, or
    /// drops its last `start_owned` producer), draining would wait for the very handler that
    /// is calling, and joining would join the calling thread: the stop then goes on in a
    /// thread of its own, which finishes once the handler has returned, and the caller learns
    /// so from [`ShutdownError::CalledFromStage`].
    fn stop(mut self, drain: Option<Option<Duration>>) -> Result<(), ShutdownError> {
        if let Some(stage) = self.stages.iter().find(|s| s.is_current_thread()) {
            let stage = stage.name.clone();
            let background = std::thread::Builder::new()
                .name("seqflow-shutdown".into())
                .spawn(move || {
                    if let Err(e) = self.stop(drain) {
                        tracing::error!(error = %e, "disruptor stopped from one of its stages");
                    }
                });
            // Without a thread of its own, the closure (and the disruptor in it) is dropped
            // here: `Drop` halts every stage without draining and leaves this one detached.
            if let Err(e) = background {
                tracing::error!(error = %e, stage, "no thread for the shutdown: halting instead");
            }
            return Err(ShutdownError::CalledFromStage { stage });
        }
        let mut result = Ok(());
        if let Some(timeout) = drain {
            if let Err(unprocessed) = self.drain(timeout) {
                tracing::warn!(unprocessed, "shutdown timed out; halting");
                result = Err(ShutdownError::Timeout { unprocessed });
            }
        }
        let stuck = result.is_err();
        if stuck {
            // A handler that does not return will be left detached, still holding its event.
            // The stages after it stop and unregister below, so from now on its own slot must
            // keep the producers off that event (should anyone clear the sequencer's alert and
            // publish again). Done before the alert, so there is no moment without either.
            for stage in self.stages.iter().filter(|s| s.drains()) {
                stage.registration.set_gating(true);
            }
        }
        self.raise_alerts(drain.is_some() && !stuck);
        for thread in self.stages.iter_mut().filter_map(|s| s.thread.take()) {
            if stuck && !thread.is_finished() {
                // A handler that does not return: leave its thread detached.
                continue;
            }
            let _ = thread.join();
        }
        if let Some(failure) = self.shared.halting.lock().clone() {
            return Err(failure);
        }
        tracing::info!(published = self.sequencer.published(), "disruptor stopped");
        result
    }

    /// Wait until every stage has processed what is published now. `Err(unprocessed)` on
    /// timeout. Returns early (`Ok`) if a panic halted the pipeline.
    fn drain(&self, timeout: Option<Duration>) -> Result<(), u64> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let target = self.sequencer.published();
        let mut spins = 0u32;
        loop {
            let slowest = self
                .stages
                .iter()
                .filter(|s| s.drains())
                .map(|s| s.registration.sequence().get())
                .min()
                .unwrap_or(target);
            if slowest >= target || self.shared.alert.is_raised() {
                return Ok(());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err((target - slowest) as u64);
            }
            spins += 1;
            if spins < 100 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
    }
}

impl<E, S: ProducerSequencer> Drop for Disruptor<E, S> {
    fn drop(&mut self) {
        if self.stages.iter().all(|s| s.thread.is_none()) {
            return;
        }
        self.raise_alerts(false);
        for stage in &mut self.stages {
            if stage.is_current_thread() {
                // Dropped inside one of its own handlers: this thread ends when that returns.
                stage.thread = None;
                continue;
            }
            if let Some(thread) = stage.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

impl<E, S: ProducerSequencer> Disruptor<E, S> {
    /// Stop every stage (shared alert; `drained`: after a complete drain, else a halt), abandon
    /// waiting claims (sequencer alert), wake all waiters so they see both.
    fn raise_alerts(&self, drained: bool) {
        if drained {
            self.shared.raise_drained();
        } else {
            self.shared.raise();
        }
        self.sequencer.alert().raise();
        self.sequencer.wait_strategy().signal_all();
    }
}
