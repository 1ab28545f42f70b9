//! [`Metrics`]: capacity, cursor, per-stage sequence and lag, remaining capacity.

use crate::shared::PipelineShared;
use parking_lot::RwLock;
use seqflow_sequence::{OwnedRef, ReadOnlySequence};
use seqflow_sequencer::Sequencer;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A snapshot of a disruptor's progress: how far producers and each stage have come, and how
/// full the ring is.
///
/// ```
/// use seqflow_pipeline::Disruptor;
/// let mut b = Disruptor::builder(8, || 0u8).single_producer().unwrap();
/// b.handle_events_with(|_: &u8, _, _| {}).named("sink");
/// let (d, mut p) = b.start().unwrap();
/// p.publish(|e, _| *e = 1).unwrap();
/// let m = d.metrics();
/// assert_eq!(m.capacity, 8);
/// assert_eq!((m.claimed, m.published), (0, 0));
/// assert_eq!(m.stages[0].name, "sink");
/// assert!(m.stages[0].lag <= 1);
/// d.shutdown().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Ring size.
    pub capacity: usize,
    /// The highest sequence handed to a producer (it may still be being written).
    pub claimed: i64,
    /// The highest sequence up to which every event is published.
    pub published: i64,
    /// Slots free for producers now. Every claim counts, published or not (a claim guard held
    /// open included), except a single producer's `publish` while its closure writes the
    /// event: that one-event claim stays private to the producer, so that the one-at-a-time
    /// publish stores nothing but the cursor, and this can read one slot high meanwhile.
    pub remaining_capacity: usize,
    /// Percentage of the ring holding events not yet processed by the slowest gating stage.
    pub utilization_percent: f64,
    /// Every stage, in the order they were added.
    pub stages: Vec<StageMetrics>,
    /// Handler failures so far: panics and returned errors, whatever the exception handler
    /// decided.
    pub panics: u64,
}

/// One stage's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageMetrics {
    /// The stage name.
    pub name: String,
    /// The last sequence the stage finished.
    pub sequence: i64,
    /// Events published but not yet processed by this stage.
    pub lag: i64,
    /// Whether this stage holds the producer back (it is a last stage).
    pub gating: bool,
}

/// What metrics need of a sequencer, type-erased so handles are one type.
trait CursorSource: Send + Sync {
    fn claimed(&self) -> i64;
    fn published(&self) -> i64;
    fn capacity(&self) -> usize;
    fn remaining(&self) -> usize;
}

impl<S: Sequencer> CursorSource for S {
    fn claimed(&self) -> i64 {
        Sequencer::claimed(self)
    }
    fn published(&self) -> i64 {
        Sequencer::published(self)
    }
    fn capacity(&self) -> usize {
        Sequencer::capacity(self).get()
    }
    fn remaining(&self) -> usize {
        self.remaining_capacity()
    }
}

/// A stage as metrics see it: name, read-only sequence, whether it gates.
type StageView = (String, OwnedRef<ReadOnlySequence>, bool);

/// A cloneable, `Send + Sync` handle that reads [`Metrics`] from any thread.
#[derive(Clone)]
pub struct MetricsHandle {
    source: Arc<dyn CursorSource>,
    stages: Arc<RwLock<Vec<StageView>>>,
    shared: Arc<PipelineShared>,
}

impl MetricsHandle {
    pub(crate) fn new<S: Sequencer>(
        sequencer: Arc<S>,
        stages: Vec<(String, OwnedRef<ReadOnlySequence>, bool)>,
        shared: Arc<PipelineShared>,
    ) -> Self {
        Self {
            source: sequencer,
            stages: Arc::new(RwLock::new(stages)),
            shared,
        }
    }

    /// A stage added to the running disruptor.
    pub(crate) fn add_stage(
        &self,
        name: String,
        sequence: OwnedRef<ReadOnlySequence>,
        gating: bool,
    ) {
        self.stages.write().push((name, sequence, gating));
    }

    /// A stage taken out of the running disruptor (`index`: its place in the disruptor's list,
    /// which this list follows).
    pub(crate) fn remove_stage(&self, index: usize) {
        self.stages.write().remove(index);
    }

    /// A stage that gates the producers again (the only stage after it was removed).
    pub(crate) fn set_gating(&self, index: usize, gating: bool) {
        if let Some(stage) = self.stages.write().get_mut(index) {
            stage.2 = gating;
        }
    }

    /// Read the metrics now (a few atomic loads per stage; allocates the snapshot).
    pub fn read(&self) -> Metrics {
        let claimed = self.source.claimed();
        let published = self.source.published();
        let capacity = self.source.capacity();
        let remaining_capacity = self.source.remaining();
        let stages: Vec<StageMetrics> = self
            .stages
            .read()
            .iter()
            .map(|(name, seq, gating)| {
                let sequence = seq.get();
                StageMetrics {
                    name: name.clone(),
                    sequence,
                    lag: published.saturating_sub(sequence).max(0),
                    gating: *gating,
                }
            })
            .collect();
        Metrics {
            capacity,
            claimed,
            published,
            remaining_capacity,
            utilization_percent: 100.0 * (capacity - remaining_capacity) as f64 / capacity as f64,
            stages,
            panics: self.shared.panics.load(Ordering::Relaxed),
        }
    }
}
