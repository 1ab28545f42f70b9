//! [`ProducerSequencer`]: a sequencer that can hand out producer claimers.

use seqflow_sequence::WaitStrategy;
use seqflow_sequencer::{
    Claimer, MultiClaimer, MultiProducerSequencer, Sequencer, SingleClaimer,
    SingleProducerSequencer, StartAtError,
};
use std::sync::Arc;

/// A sequencer the pipeline can make producers for: the single producer (one claimer, ever at a
/// time) or the multi producer (any number).
///
/// # Safety
/// The pipeline writes ring slots through the claimers it gets here: every claimer must hand
/// out only sequences that no other live claimer holds and whose slots no consumer may still
/// read (the [`Sequencer`] contract), and must publish exactly what it claimed.
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
pub unsafe trait ProducerSequencer: Sequencer {
    /// The producer-side handle.
    type Claimer: Claimer<Sequencer = Self> + 'static;

    /// A claimer, or `None` if this sequencer allows no more right now.
    fn new_claimer(self: &Arc<Self>) -> Option<Self::Claimer>;

    /// Number the events from `next` on a fresh ring (see the sequencers' `start_at`).
    fn start_at(&self, next: i64) -> Result<(), StartAtError>;
}

// SAFETY: at most one `SingleClaimer` exists at a time (`claimer` takes a flag that the claimer
// clears on drop), and it claims under the `Sequencer` contract.
unsafe impl<W: WaitStrategy> ProducerSequencer for SingleProducerSequencer<W> {
    type Claimer = SingleClaimer<W>;

    fn new_claimer(self: &Arc<Self>) -> Option<SingleClaimer<W>> {
        self.claimer()
    }

    fn start_at(&self, next: i64) -> Result<(), StartAtError> {
        SingleProducerSequencer::start_at(self, next)
    }
}

// SAFETY: multi-producer claimers take disjoint ranges (each claim advances the shared cursor
// by CAS or under the claim lock) and claim under the `Sequencer` contract.
unsafe impl<W: WaitStrategy> ProducerSequencer for MultiProducerSequencer<W> {
    type Claimer = MultiClaimer<W>;

    fn new_claimer(self: &Arc<Self>) -> Option<MultiClaimer<W>> {
        Some(self.claimer())
    }

    fn start_at(&self, next: i64) -> Result<(), StartAtError> {
        MultiProducerSequencer::start_at(self, next)
    }
}
