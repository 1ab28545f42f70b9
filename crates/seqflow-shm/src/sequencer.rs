//! [`ShmSequencer`]: the in-process sequencers of `seqflow-sequencer`, built over segment memory.
//!
//! This is the one place where a segment's regions become a sequencer: the cursor, the gating
//! table and (multi producer) the availability buffer are the segment's; the algorithm is the
//! unchanged `SingleProducerSequencer` / `MultiProducerSequencer` (CAS mode).

use crate::segment::Segment;
use crate::{ProducerMode, ShmError, ShmWait};
use seqflow_ring::Capacity;
use seqflow_sequence::{Alert, Cursor, Deadline};
use seqflow_sequencer::{
    AvailabilityBuffer, ClaimError, Claimer, GatingTable, MultiClaimer, MultiProducerMode,
    MultiProducerSequencer, PublishError, SequenceRange, Sequencer, SingleClaimer,
    SingleProducerSequencer,
};
use std::sync::Arc;
use std::time::Instant;

/// The sequencer of a shared ring: single producer or multi producer (CAS), over the segment.
///
/// Consumers use it through [`Cursor`]; positions through [`claimed`](Self::claimed) and
/// [`published`](Self::published).
///
/// ```
/// use seqflow_shm::{ShmOptions, ShmRing, ShmSequencer};
/// let name = format!("/seqflow-doc-seqr-{}", std::process::id());
/// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
/// let _guard = ring.unlink_on_drop();
/// assert!(matches!(&**ring.sequencer(), ShmSequencer::Single(_)));
/// assert_eq!(ring.sequencer().claimed(), -1);
/// assert_eq!(ring.sequencer().published(), -1);
/// ```
pub enum ShmSequencer {
    /// One producer across all processes.
    Single(Arc<SingleProducerSequencer<ShmWait>>),
    /// Any number of producers claiming by CAS.
    Multi(Arc<MultiProducerSequencer<ShmWait>>),
}

impl ShmSequencer {
    /// Build the sequencer over `segment`'s regions.
    pub(crate) fn build(segment: &Segment) -> Result<Self, ShmError> {
        let capacity = Capacity::new(segment.capacity()).map_err(|source| ShmError::Capacity {
            name: segment.name().to_string(),
            source,
        })?;
        let wait = ShmWait::new(segment.wait, segment.futex.clone());
        Ok(match segment.mode {
            // SAFETY: the segment's cursor word is stored only by sequencers built here (every
            // process builds the same kind, checked against the header at open), and one
            // producer at a time holds the single-producer slot of the producer table.
            ProducerMode::Single => Self::Single(unsafe {
                SingleProducerSequencer::__internal_from_parts(
                    capacity,
                    segment.cursor.clone(),
                    segment.gating.clone(),
                    wait,
                )
            }),
            ProducerMode::MultiCas => {
                let laps = segment
                    .availability
                    .clone()
                    .ok_or_else(|| ShmError::CorruptHeader {
                        name: segment.name().to_string(),
                        field: "availability offset",
                        found: 0,
                    })?;
                // SAFETY: the segment's availability words are stored only by the sequencers
                // built here and by the reaper for claims of dead producers.
                let available =
                    unsafe { AvailabilityBuffer::__internal_from_parts(laps, capacity) }
                        .ok_or_else(|| ShmError::CorruptHeader {
                            name: segment.name().to_string(),
                            field: "capacity",
                            found: capacity.get() as u64,
                        })?;
                // SAFETY: as above; CAS mode keeps no process-local claim state.
                Self::Multi(unsafe {
                    MultiProducerSequencer::__internal_from_parts(
                        capacity,
                        segment.cursor.clone(),
                        available,
                        segment.gating.clone(),
                        wait,
                        MultiProducerMode::Cas,
                    )
                })
            }
        })
    }

    /// The multi-producer sequencer, if this ring has one. Crate-internal: the segment's
    /// gating table is the consumer registry, so nothing may register in it (or claim) except
    /// through `Registration` and `ShmProducer`, which account for every slot.
    pub(crate) fn multi(&self) -> Option<&Arc<MultiProducerSequencer<ShmWait>>> {
        match self {
            Self::Single(_) => None,
            Self::Multi(s) => Some(s),
        }
    }

    /// The ring size.
    pub fn capacity(&self) -> Capacity {
        match self {
            Self::Single(s) => s.capacity(),
            Self::Multi(s) => s.capacity(),
        }
    }

    /// The gating table (the consumer registry's sequences). Crate-internal: registering in it
    /// from outside the registry would leave slots the reaper cannot account for; read it
    /// through [`ShmRing::inspect`](crate::ShmRing::inspect).
    pub(crate) fn gating(&self) -> &GatingTable {
        match self {
            Self::Single(s) => s.gating(),
            Self::Multi(s) => s.gating(),
        }
    }

    /// This process's alert: raising it stops this process's waits and claims.
    pub fn alert(&self) -> &Alert {
        match self {
            Self::Single(s) => s.alert(),
            Self::Multi(s) => s.alert(),
        }
    }

    /// Whether `seq` is published and not yet overwritten.
    pub fn is_available(&self, seq: i64) -> bool {
        match self {
            Self::Single(s) => s.is_available(seq),
            Self::Multi(s) => s.is_available(seq),
        }
    }

    /// The highest sequence handed to a producer (it may still be being written).
    pub fn claimed(&self) -> i64 {
        match self {
            Self::Single(s) => s.claimed(),
            Self::Multi(s) => s.claimed(),
        }
    }

    /// The highest sequence up to which every event is published.
    pub fn published(&self) -> i64 {
        match self {
            Self::Single(s) => s.published(),
            Self::Multi(s) => s.published(),
        }
    }

    /// The segment's cursor word: published (single producer) or claimed (multi producer).
    pub(crate) fn cursor_word(&self) -> i64 {
        match self {
            Self::Single(s) => s.published(),
            Self::Multi(s) => s.claimed(),
        }
    }

    /// The availability buffer (multi producer).
    pub(crate) fn availability(&self) -> Option<&AvailabilityBuffer> {
        self.multi().map(|m| m.availability())
    }

    /// A new claimer; `None` when this process's single-producer claimer is taken.
    pub(crate) fn claimer(&self) -> Option<AnyClaimer> {
        match self {
            Self::Single(s) => s.__internal_claimer().map(AnyClaimer::Single),
            Self::Multi(s) => Some(AnyClaimer::Multi(s.claimer())),
        }
    }
}

// SAFETY: every call is forwarded to the sequencer this value wraps, which upholds the contract.
unsafe impl Sequencer for ShmSequencer {
    fn multi_producer(&self) -> bool {
        self.multi().is_some()
    }

    fn capacity(&self) -> Capacity {
        ShmSequencer::capacity(self)
    }

    fn is_available(&self, seq: i64) -> bool {
        ShmSequencer::is_available(self, seq)
    }

    fn gating(&self) -> &GatingTable {
        ShmSequencer::gating(self)
    }

    fn alert(&self) -> &Alert {
        ShmSequencer::alert(self)
    }

    fn claimed(&self) -> i64 {
        ShmSequencer::claimed(self)
    }

    fn published(&self) -> i64 {
        ShmSequencer::published(self)
    }

    fn claim_bound(&self) -> i64 {
        match self {
            Self::Single(s) => s.claim_bound(),
            Self::Multi(s) => s.claim_bound(),
        }
    }

    fn private_claims(&self) -> usize {
        match self {
            Self::Single(s) => s.private_claims(),
            Self::Multi(s) => s.private_claims(),
        }
    }
}

// SAFETY: every call is forwarded to the sequencer this value wraps, which upholds the contract.
unsafe impl Cursor for ShmSequencer {
    type Wait = ShmWait;

    #[inline]
    fn publish_bound(&self, seq: i64) -> i64 {
        match self {
            Self::Single(s) => s.publish_bound(seq),
            Self::Multi(s) => s.publish_bound(seq),
        }
    }

    #[inline]
    fn bound_is_published_cursor(&self) -> bool {
        match self {
            Self::Single(s) => s.bound_is_published_cursor(),
            Self::Multi(s) => s.bound_is_published_cursor(),
        }
    }

    #[inline]
    fn highest_published(&self, lo: i64, available: i64) -> i64 {
        match self {
            Self::Single(s) => s.highest_published(lo, available),
            Self::Multi(s) => s.highest_published(lo, available),
        }
    }

    #[inline]
    fn wait_strategy(&self) -> &ShmWait {
        match self {
            Self::Single(s) => s.wait_strategy(),
            Self::Multi(s) => s.wait_strategy(),
        }
    }
}

impl std::fmt::Debug for ShmSequencer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            Self::Single(_) => "Single",
            Self::Multi(_) => "Multi",
        };
        f.debug_struct("ShmSequencer")
            .field("kind", &kind)
            .field("claimed", &self.claimed())
            .field("published", &self.published())
            .field("gating", self.gating())
            .finish()
    }
}

/// A claimer of either sequencer.
pub(crate) enum AnyClaimer {
    Single(SingleClaimer<ShmWait>),
    Multi(MultiClaimer<ShmWait>),
}

impl AnyClaimer {
    #[inline]
    pub fn claim_until(
        &mut self,
        n: usize,
        deadline: Option<Instant>,
    ) -> Result<SequenceRange, ClaimError> {
        match self {
            Self::Single(c) => c.claim_until(n, deadline),
            Self::Multi(c) => c.claim_until(n, deadline),
        }
    }

    #[inline]
    pub fn try_claim(&mut self, n: usize) -> Result<SequenceRange, ClaimError> {
        match self {
            Self::Single(c) => c.try_claim(n),
            Self::Multi(c) => c.try_claim(n),
        }
    }

    #[inline]
    pub fn publish(&mut self, range: SequenceRange) -> Result<(), PublishError> {
        match self {
            Self::Single(c) => c.publish(range),
            Self::Multi(c) => c.publish(range),
        }
    }

    /// A claim of `n` slots through the inner claimer's paired path (no pending-claim
    /// bookkeeping): what `ShmClaimer` uses for the pipeline's claim guards.
    #[inline]
    pub fn claim_paired(
        &mut self,
        n: usize,
        deadline: Deadline,
        block: bool,
    ) -> Result<SequenceRange, ClaimError> {
        match self {
            Self::Single(c) => c.__internal_claim_paired(n, deadline, block),
            Self::Multi(c) => c.__internal_claim_paired(n, deadline, block),
        }
    }

    /// Publish what [`claim_paired`](Self::claim_paired) returned.
    ///
    /// # Safety
    /// As [`Claimer::__internal_publish_paired`]: `range` is the last paired claim's range,
    /// unpublished, no checked claim made since, and every slot in it holds a whole event.
    #[inline]
    pub unsafe fn publish_paired(&mut self, range: SequenceRange) {
        match self {
            // SAFETY: the caller's contract is the inner claimer's, forwarded unchanged.
            Self::Single(c) => unsafe { c.__internal_publish_paired(range) },
            // SAFETY: as above.
            Self::Multi(c) => unsafe { c.__internal_publish_paired(range) },
        }
    }

    #[inline]
    pub fn pending(&self) -> Option<SequenceRange> {
        match self {
            Self::Single(c) => c.pending(),
            Self::Multi(c) => c.pending(),
        }
    }
}
