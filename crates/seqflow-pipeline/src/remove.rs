//! [`Disruptor::remove_stage`]: stop one stage of a running disruptor and take it out of the
//! ring (what LMAX does with `halt()` on a processor and `removeGatingSequence`).

use crate::{Disruptor, ProducerSequencer, RemoveStageError};
use seqflow_sequence::WaitStrategy;
use std::time::{Duration, Instant};

impl<E, S> Disruptor<E, S>
where
    E: Send + Sync + 'static,
    S: ProducerSequencer,
{
    /// Stop the stage named `name` and take it out of the ring; returns the last sequence it
    /// processed.
    ///
    /// The stage stops as at a [`halt`](Self::halt), alone: it finishes the event it is
    /// handling and at most the rest of its chunk (up to 1024 events), calls `on_shutdown`, and
    /// its thread is joined. It then no longer holds the producers back, and the stages it came
    /// after gate them again if nothing else comes after them. To remove a stage once it has
    /// caught up, wait for its sequence in [`metrics`](Self::metrics) first.
    ///
    /// Any stage thread can be removed — one added at build time or with
    /// [`handle_events_with`](Self::handle_events_with) after start, a worker of a pool (each
    /// event still goes to exactly one of the others: a worker holds no claim while it waits)
    /// or a custom processor that checks its context — provided nothing comes after it
    /// ([`RemoveStageError::HasDependents`]; remove those first). Stage names come from
    /// `named` (or `stage-N`, `pool-N-worker-M`); pollers are removed by dropping them.
    ///
    /// ```
    /// use seqflow_pipeline::Disruptor;
    /// use std::sync::{Arc, atomic::{AtomicU64, Ordering::Relaxed}};
    /// let seen = Arc::new(AtomicU64::new(0));
    /// let (mut d, mut p) = Disruptor::builder(8, || 0u64).single_producer().unwrap().start().unwrap();
    /// let s = seen.clone();
    /// let audit = d.handle_events_with(move |_: &u64, _, _| { s.fetch_add(1, Relaxed); }).unwrap();
    /// for i in 0..3 { p.publish(|e, _| *e = i).unwrap(); }
    /// while d.metrics().stages[0].sequence < 2 { std::thread::yield_now(); }
    /// assert_eq!(d.remove_stage(&audit), Ok(2));
    /// // Nothing gates the ring now: publishing never waits, and the stage sees nothing more.
    /// for i in 0..100 { p.publish(|e, _| *e = i).unwrap(); }
    /// assert_eq!(seen.load(Relaxed), 3);
    /// d.shutdown().unwrap();
    /// ```
    pub fn remove_stage(&mut self, name: &str) -> Result<i64, RemoveStageError> {
        self.remove_stage_within(name, None)
    }

    /// [`remove_stage`](Self::remove_stage), waiting at most `timeout` for the stage's handler
    /// to return. If it has not ([`RemoveStageError::Timeout`]), the stage has been told to
    /// stop and stays in the ring, still holding the producers back (its handler may be
    /// reading an event, so its slot cannot be given back yet): it stops once the handler
    /// returns, and a later `remove_stage` or `remove_stage_timeout` finishes the removal.
    ///
    /// ```
    /// use seqflow_pipeline::{Disruptor, RemoveStageError};
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    /// let (release, stuck) = mpsc::channel::<()>();
    /// let (entered, inside) = mpsc::channel::<()>();
    /// let (mut d, mut p) = Disruptor::builder(8, || 0u64).single_producer().unwrap().start().unwrap();
    /// let slow = d.handle_events_with(move |_: &u64, _, _| {
    ///     entered.send(()).unwrap();
    ///     stuck.recv().unwrap();
    /// }).unwrap();
    /// p.publish(|e, _| *e = 1).unwrap();
    /// inside.recv().unwrap(); // the handler is busy with event 0
    /// let r = d.remove_stage_timeout(&slow, Duration::from_millis(20));
    /// assert!(matches!(r, Err(RemoveStageError::Timeout { .. })));
    /// release.send(()).unwrap(); // the handler returns, the stage stops
    /// assert_eq!(d.remove_stage(&slow), Ok(0));
    /// d.shutdown().unwrap();
    /// ```
    pub fn remove_stage_timeout(
        &mut self,
        name: &str,
        timeout: Duration,
    ) -> Result<i64, RemoveStageError> {
        self.remove_stage_within(name, Some(timeout))
    }

    fn remove_stage_within(
        &mut self,
        name: &str,
        timeout: Option<Duration>,
    ) -> Result<i64, RemoveStageError> {
        let started = Instant::now();
        let index = self.stage_to_remove(name)?;
        // The stages it comes directly after that nothing else follows: they gate the
        // producers again, from before it stops (its sequence is at or below theirs, so the
        // producers are held back all along).
        let uncovered: Vec<usize> = self.stages[index]
            .deps
            .iter()
            .copied()
            .filter(|&dep| {
                self.stages
                    .iter()
                    .enumerate()
                    .all(|(i, s)| i == index || !s.deps.contains(&dep))
            })
            .collect();
        for &dep in &uncovered {
            self.stages[dep].registration.set_gating(true);
            self.metrics.set_gating(dep, true);
        }
        if let Some((_, alert)) = &self.stages[index].stop {
            alert.raise();
            self.sequencer.wait_strategy().signal_all();
        }
        if let Some(timeout) = timeout {
            // Wait here, with the stage still listed: on a timeout it stays in the ring as it
            // was, only told to stop.
            let stage = &self.stages[index];
            while stage.thread.as_ref().is_some_and(|t| !t.is_finished()) {
                let waited = started.elapsed();
                if waited >= timeout {
                    return Err(RemoveStageError::Timeout {
                        stage: stage.name.clone(),
                        waited,
                    });
                }
                // A stage stops within one handler call: poll often, but do not spin.
                std::thread::sleep((timeout - waited).min(Duration::from_millis(1)));
            }
        }
        let mut stage = self.stages.remove(index);
        if let Some((id, _)) = stage.stop.take() {
            self.shared.forget_stage_alert(id);
        }
        if let Some(thread) = stage.thread.take() {
            // A panic escaping the stage loop was reported where it happened; the stage is
            // gone either way.
            let _ = thread.join();
        }
        let last = stage.registration.sequence().get();
        // The thread has ended and dropped its share of the registration: this drops the last
        // one, which takes the stage out of the gating table.
        drop(stage);
        self.metrics.remove_stage(index);
        // Every index past the removed one moved down by one. A writer group is named by its
        // first member: if that was the removed worker, the group takes the name of its first
        // remaining one (marked here, named just below).
        const RENAMED: usize = usize::MAX;
        let shift = |i: usize| if i > index { i - 1 } else { i };
        for s in &mut self.stages {
            for dep in &mut s.deps {
                *dep = shift(*dep);
            }
            s.exclusive = match s.exclusive {
                Some(group) if group == index => Some(RENAMED),
                other => other.map(shift),
            };
        }
        let first = self
            .stages
            .iter()
            .position(|s| s.exclusive == Some(RENAMED));
        for s in &mut self.stages {
            if s.exclusive == Some(RENAMED) {
                s.exclusive = first;
            }
        }
        Ok(last)
    }

    /// The index of the stage thread `name` names, if it may be removed now.
    fn stage_to_remove(&self, name: &str) -> Result<usize, RemoveStageError> {
        let named: Vec<usize> = (0..self.stages.len())
            .filter(|&i| self.stages[i].name == name)
            .collect();
        let index = match named[..] {
            [] => {
                return Err(RemoveStageError::UnknownStage {
                    name: name.to_owned(),
                })
            }
            [index] => index,
            _ => {
                return Err(RemoveStageError::AmbiguousName {
                    name: name.to_owned(),
                    count: named.len(),
                })
            }
        };
        let stage = &self.stages[index];
        if stage.stop.is_none() {
            return Err(RemoveStageError::Poller {
                name: name.to_owned(),
            });
        }
        if stage.is_current_thread() {
            return Err(RemoveStageError::CalledFromStage {
                stage: name.to_owned(),
            });
        }
        let lossy = match stage.lossy_followers.count() {
            0 => None,
            1 => Some("a lossy subscriber (drop it first)".to_owned()),
            n => Some(format!("{n} lossy subscribers (drop them first)")),
        };
        let dependents: Vec<String> = self
            .stages
            .iter()
            .filter(|s| s.deps.contains(&index))
            .map(|s| s.name.clone())
            .chain(lossy)
            .collect();
        if !dependents.is_empty() {
            return Err(RemoveStageError::HasDependents {
                stage: name.to_owned(),
                dependents,
            });
        }
        Ok(index)
    }
}
