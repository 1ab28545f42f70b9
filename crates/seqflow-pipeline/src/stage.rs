//! Stages: the records the builder keeps, and [`StageGroup`], the handle users combine.

use seqflow_sequencer::GatingRegistration;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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

/// A new builder identity for [`StageGroup::builder`] (never 0).
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

    /// The union of two groups.
    ///
    /// ```
    /// use seqflow_pipeline::Disruptor;
    /// let mut b = Disruptor::builder(8, || 0u32).single_producer().unwrap();
    /// let a = b.handle_events_with(|_: &u32, _, _| {}).group();
    /// let c = b.handle_events_with(|_: &u32, _, _| {}).group();
    /// assert_eq!(a.union(&c).len(), 2);
    /// ```
    pub fn union(&self, other: &StageGroup) -> StageGroup {
        let mut ids = self.ids.clone();
        ids.extend(other.ids.iter().filter(|id| !self.ids.contains(id)));
        StageGroup {
            builder: self.builder.max(other.builder),
            ids,
        }
    }
}

/// What the thread of a stage runs, given the stage's final name.
pub(crate) type Runner = Box<dyn FnOnce(std::sync::Arc<str>) + Send>;

/// One consumer thread, as the builder and the running disruptor know it. The registration is
/// shared with the stage's thread, which alone moves its sequence.
pub(crate) struct StageRecord {
    pub name: String,
    pub registration: Arc<GatingRegistration>,
    pub runner: Option<Runner>,
}
