//! Stages: the records the builder keeps, and [`StageGroup`], the handle users combine.

use seqflow_sequence::{OwnedRef, Sequence};
use seqflow_sequencer::GatingRegistration;

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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageGroup {
    pub(crate) ids: Vec<usize>,
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
        StageGroup { ids }
    }
}

/// What the thread of a stage runs, given the stage's final name.
pub(crate) type Runner = Box<dyn FnOnce(std::sync::Arc<str>) + Send>;

/// One consumer thread, as the builder and the running disruptor know it.
pub(crate) struct StageRecord {
    pub name: String,
    pub sequence: OwnedRef<Sequence>,
    pub registration: GatingRegistration,
    pub runner: Option<Runner>,
}
