//! [`ProducerSequencer`]: a sequencer that can hand out producer claimers.

use seqflow_sequence::WaitStrategy;
use seqflow_sequencer::{
    Claimer, MultiClaimer, MultiProducerSequencer, Sequencer, SingleClaimer,
    SingleProducerSequencer,
};
use std::sync::Arc;

/// A sequencer the pipeline can make producers for: the single producer (one claimer, ever at a
/// time) or the multi producer (any number).
///
/// ```
/// use seqflow_pipeline::ProducerSequencer;
/// use seqflow_sequencer::SingleProducerSequencer;
/// use seqflow_sequence::YieldingWait;
/// let s = SingleProducerSequencer::new(8, YieldingWait::default(), 1).unwrap();
/// let first = s.new_claimer();
/// assert!(first.is_some());
/// assert!(s.new_claimer().is_none());
/// ```
pub trait ProducerSequencer: Sequencer {
    /// The producer-side handle.
    type Claimer: Claimer<Sequencer = Self> + 'static;

    /// A claimer, or `None` if this sequencer allows no more right now.
    fn new_claimer(self: &Arc<Self>) -> Option<Self::Claimer>;
}

impl<W: WaitStrategy> ProducerSequencer for SingleProducerSequencer<W> {
    type Claimer = SingleClaimer<W>;

    fn new_claimer(self: &Arc<Self>) -> Option<SingleClaimer<W>> {
        self.claimer()
    }
}

impl<W: WaitStrategy> ProducerSequencer for MultiProducerSequencer<W> {
    type Claimer = MultiClaimer<W>;

    fn new_claimer(self: &Arc<Self>) -> Option<MultiClaimer<W>> {
        Some(self.claimer())
    }
}
