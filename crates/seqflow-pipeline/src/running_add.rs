//! Stages added to a running disruptor: one handler ([`Disruptor::handle_events_with`]) or a
//! worker pool ([`Disruptor::handle_events_with_worker_pool`]), after the producers or after
//! running stages ([`StageSettings::after`]).

use crate::builder::stage_runner;
use crate::error::check_stage_name;
use crate::feed::HeapFeed;
use crate::processor::{run_batch_processor, StageContext};
use crate::stage::{register_behind, StageOptions, StageRecord};
use crate::worker::run_worker;
use crate::{BuildError, Disruptor, EventHandler, ProducerSequencer, StageSettings};
use seqflow_sequence::{OwnedRef, Sequence, SequenceBarrier};
use seqflow_sequencer::GatingRegistration;
use std::sync::Arc;

impl<E, S> Disruptor<E, S>
where
    E: Send + Sync + 'static,
    S: ProducerSequencer,
{
    /// Add a stage to the running disruptor (LMAX allows handlers after start): it starts
    /// after the highest sequence published with everything before it (with several
    /// producers, claims still being written come after it: it holds their slots, so no
    /// producer laps them), comes after the producer (after running stages with
    /// [`StageSettings::after`]), and gates the producer from now on. It uses the disruptor's
    /// exception handler and wait strategy
    /// ([`handle_events_with_settings`](Self::handle_events_with_settings) takes a name and
    /// settings). Returns the stage's name (`stage-N`: in metrics, and for
    /// [`remove_stage`](Self::remove_stage)).
    ///
    /// ```
    /// use seqflow_pipeline::Disruptor;
    /// use std::sync::{Arc, atomic::{AtomicU64, Ordering::Relaxed}};
    /// let (mut d, mut p) = Disruptor::builder(8, || 0u64).single_producer().unwrap().start().unwrap();
    /// p.publish(|e, _| *e = 100).unwrap(); // before the stage: not seen by it
    /// let sum = Arc::new(AtomicU64::new(0));
    /// let s = sum.clone();
    /// d.handle_events_with(move |e: &u64, _, _| { s.fetch_add(*e, Relaxed); }).unwrap();
    /// for i in 1..=4 { p.publish(|e, _| *e = i).unwrap(); }
    /// d.shutdown().unwrap();
    /// assert_eq!(sum.load(Relaxed), 10);
    /// ```
    pub fn handle_events_with<H: EventHandler<E> + Send + 'static>(
        &mut self,
        handler: H,
    ) -> Result<String, BuildError> {
        self.handle_events_with_settings(handler, StageSettings::new())
    }

    /// As [`handle_events_with`](Self::handle_events_with), with a name and per-stage settings
    /// (exception handler, wait strategy, batch limit, timeout, core, thread name: see
    /// [`StageSettings`]). Returns the stage's name.
    pub fn handle_events_with_settings<H: EventHandler<E> + Send + 'static>(
        &mut self,
        handler: H,
        settings: StageSettings<E>,
    ) -> Result<String, BuildError> {
        self.refuse_if_mutating("a stage added after start")?;
        let name = match &settings.name {
            Some(name) => self.free_name(name)?,
            None => format!(
                "stage-{}",
                self.unused_number(|n| vec![format!("stage-{n}")])
            ),
        };
        let deps = self.named_stages(&settings.after)?;
        let registration = self.register_after(&deps)?;
        let record = self.running_record(
            name.clone(),
            registration,
            &deps,
            settings.options,
            move |ctx| {
                run_batch_processor(ctx, handler);
            },
        );
        self.start_records(vec![record], &deps)?;
        Ok(name)
    }

    /// Add a worker pool to the running disruptor: each event published from now on goes to
    /// exactly one of `workers`, each on a thread of its own; the pool comes after the producer
    /// only and gates it, like [`handle_events_with`](Self::handle_events_with). Returns the
    /// workers' names (`pool-N-worker-M`), each one removable with
    /// [`remove_stage`](Self::remove_stage) (the others then share the events).
    /// [`BuildError::EmptyWorkerPool`] for no workers.
    ///
    /// ```
    /// use seqflow_pipeline::Disruptor;
    /// use std::sync::{Arc, atomic::{AtomicU64, Ordering::Relaxed}};
    /// let (mut d, mut p) = Disruptor::builder(8, || 0u64).single_producer().unwrap().start().unwrap();
    /// let handled = Arc::new(AtomicU64::new(0));
    /// let workers: Vec<_> = (0..2).map(|_| {
    ///     let h = handled.clone();
    ///     move |_: &u64, _: i64, _: bool| { h.fetch_add(1, Relaxed); }
    /// }).collect();
    /// let names = d.handle_events_with_worker_pool(workers).unwrap();
    /// assert_eq!(names.len(), 2);
    /// for i in 0..100 { p.publish(|e, _| *e = i).unwrap(); }
    /// d.shutdown().unwrap();
    /// assert_eq!(handled.load(Relaxed), 100); // each event once
    /// ```
    pub fn handle_events_with_worker_pool<H: EventHandler<E> + Send + 'static>(
        &mut self,
        workers: Vec<H>,
    ) -> Result<Vec<String>, BuildError> {
        self.handle_events_with_worker_pool_settings(workers, StageSettings::new())
    }

    /// As [`handle_events_with_worker_pool`](Self::handle_events_with_worker_pool), with a name
    /// (the workers are `name-0`, `name-1`, …) and settings that every worker gets (see
    /// [`StageSettings`]). Returns the workers' names.
    ///
    /// ```
    /// use seqflow_pipeline::{Disruptor, PanicPolicy, StageSettings};
    /// let (mut d, mut p) = Disruptor::builder(8, || 0u64).single_producer().unwrap().start().unwrap();
    /// let workers = vec![|_: &u64, _: i64, _: bool| {}, |_: &u64, _: i64, _: bool| {}];
    /// let settings = StageSettings::new().named("resize").exception_handler(PanicPolicy::LogAndContinue);
    /// let names = d.handle_events_with_worker_pool_settings(workers, settings).unwrap();
    /// assert_eq!(names, ["resize-0", "resize-1"]);
    /// p.publish(|e, _| *e = 1).unwrap();
    /// d.shutdown().unwrap();
    /// ```
    pub fn handle_events_with_worker_pool_settings<H: EventHandler<E> + Send + 'static>(
        &mut self,
        workers: Vec<H>,
        settings: StageSettings<E>,
    ) -> Result<Vec<String>, BuildError> {
        self.refuse_if_mutating("a worker pool added after start")?;
        if workers.is_empty() {
            return Err(BuildError::EmptyWorkerPool);
        }
        let count = workers.len();
        if let Some(name) = &settings.name {
            // The pool's own name: an empty one would still make valid-looking `-0`, `-1`.
            check_stage_name(name)?;
        }
        let names: Vec<String> = match &settings.name {
            Some(name) => (0..count)
                .map(|i| self.free_name(&format!("{name}-{i}")))
                .collect::<Result<_, _>>()?,
            None => {
                let pool = self.unused_number(|n| {
                    (0..count).map(|i| format!("pool-{n}-worker-{i}")).collect()
                });
                (0..count)
                    .map(|i| format!("pool-{pool}-worker-{i}"))
                    .collect()
            }
        };
        let deps = self.named_stages(&settings.after)?;
        let registrations = workers
            .iter()
            .map(|_| self.register_after(&deps))
            .collect::<Result<Vec<_>, _>>()?;
        // The work sequence starts where the last worker registered: the published floor only
        // grows, so every worker's slot is at or below it and holds the producers back from
        // the pool's first event on.
        let start = registrations
            .iter()
            .map(|r| r.sequence_relaxed())
            .max()
            .unwrap_or(-1);
        let work = OwnedRef::new(Sequence::new(start));
        let records: Vec<StageRecord<E>> = workers
            .into_iter()
            .zip(registrations)
            .zip(&names)
            .map(|((handler, registration), name)| {
                let work = work.clone();
                self.running_record(
                    name.clone(),
                    registration,
                    &deps,
                    settings.options.clone(),
                    move |ctx| {
                        run_worker(ctx, work, handler);
                    },
                )
            })
            .collect();
        self.start_records(records, &deps)?;
        Ok(names)
    }

    /// The indexes of the running stages `names` names ([`BuildError::UnknownStage`] for a
    /// name none has), each once.
    fn named_stages(&self, names: &[String]) -> Result<Vec<usize>, BuildError> {
        let mut deps = Vec::with_capacity(names.len());
        for name in names {
            let index = self
                .stages
                .iter()
                .position(|s| &s.name == name)
                .ok_or_else(|| BuildError::UnknownStage { name: name.clone() })?;
            if !deps.contains(&index) {
                deps.push(index);
            }
        }
        Ok(deps)
    }

    /// A gating slot for a consumer added after `deps` (running stages), or after the
    /// producers only. After the producers it starts at the published floor: it holds back
    /// every slot above it, claims in flight included. After stages it starts where the
    /// slowest of them is (read again once the slot gates, so a stage moving meanwhile cannot
    /// leave the start behind what is still held): it sees every event they have not
    /// processed yet, and can gate the producers in their place.
    fn register_after(&self, deps: &[usize]) -> Result<Arc<GatingRegistration>, BuildError> {
        let sequencer = &*self.sequencer;
        Ok(Arc::new(register_behind(
            sequencer,
            &self.stages,
            deps,
            || sequencer.published(),
        )?))
    }

    /// A stage thread (not started yet) after the stages `deps` (or the producer only), with an
    /// alert of its own.
    fn running_record(
        &self,
        name: String,
        registration: Arc<GatingRegistration>,
        deps: &[usize],
        options: StageOptions<E>,
        body: impl FnOnce(StageContext<E, HeapFeed<E, S>>) + Send + 'static,
    ) -> StageRecord<E> {
        let (alert_id, alert) = self.shared.new_stage_alert();
        let sequences = deps
            .iter()
            .map(|&id| self.stages[id].registration.sequence())
            .collect();
        let barrier = SequenceBarrier::new(Arc::clone(&self.sequencer), sequences, alert.clone());
        let runner = stage_runner(
            barrier,
            alert.clone(),
            self.ring.clone(),
            Arc::clone(&registration),
            Arc::clone(&self.shared),
            Arc::clone(&self.exceptions),
            body,
        );
        StageRecord {
            name,
            registration,
            deps: deps.to_vec(),
            lossy_followers: Default::default(),
            exclusive: None,
            stop: Some((alert_id, alert)),
            runner: Some(runner),
            options,
            thread: None,
        }
    }

    /// Start every record's thread and list them; if one cannot start, stop the ones that did
    /// and list none (their gating slots go with them). Once listed, the stages `deps` they
    /// come after stop gating the producers: the new ones, at or below them, gate instead.
    fn start_records(
        &mut self,
        mut records: Vec<StageRecord<E>>,
        deps: &[usize],
    ) -> Result<(), BuildError> {
        for started in 0..records.len() {
            if let Err(e) = records[started].spawn() {
                for record in &mut records {
                    if let Some((id, alert)) = record.stop.take() {
                        alert.raise();
                        self.shared.forget_stage_alert(id);
                    }
                }
                seqflow_sequence::WaitStrategy::signal_all(self.sequencer.wait_strategy());
                for record in &mut records {
                    if let Some(thread) = record.thread.take() {
                        let _ = thread.join();
                    }
                }
                return Err(e);
            }
        }
        for record in records {
            self.metrics.add_stage(
                record.name.clone(),
                record.registration.sequence(),
                record.registration.is_gating(),
            );
            self.stages.push(record);
        }
        for &dep in deps {
            self.stages[dep].registration.set_gating(false);
            self.metrics.set_gating(dep, false);
        }
        Ok(())
    }

    /// `name` if it is a valid stage name ([`BuildError::InvalidStageName`]) and no stage has
    /// it ([`BuildError::StageNameTaken`]).
    fn free_name(&self, name: &str) -> Result<String, BuildError> {
        check_stage_name(name)?;
        if self.stages.iter().any(|s| s.name == name) {
            return Err(BuildError::StageNameTaken {
                name: name.to_owned(),
            });
        }
        Ok(name.to_owned())
    }

    /// The smallest `N >= stages.len()` for which no stage has any of the names `names(N)` (a
    /// removed stage leaves its neighbours' names behind, and a pool needs a name per worker).
    fn unused_number(&self, names: impl Fn(usize) -> Vec<String>) -> usize {
        (self.stages.len()..)
            .find(|&n| {
                names(n)
                    .iter()
                    .all(|name| self.stages.iter().all(|s| &s.name != name))
            })
            .unwrap_or(usize::MAX)
    }
}
