//! Typed errors of claiming and publishing.

use crate::SequenceRange;

/// Why a claim returned no sequences.
///
/// ```
/// use seqflow_sequencer::ClaimError;
/// let e = ClaimError::TooLarge { requested: 9, capacity: 8 };
/// assert_eq!(e.to_string(), "cannot claim 9 slots at once: the ring holds 8");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// Zero slots were asked for.
    #[error("cannot claim zero slots")]
    Zero,
    /// More slots than the ring has were asked for: such a claim could never succeed.
    #[error("cannot claim {requested} slots at once: the ring holds {capacity}")]
    TooLarge {
        /// Slots asked for.
        requested: usize,
        /// Slots in the ring.
        capacity: usize,
    },
    /// `try_claim`: not enough free slots right now (the slowest gating consumer is too far
    /// behind).
    #[error("ring full: {requested} slots requested, {free} free")]
    Full {
        /// Slots asked for.
        requested: usize,
        /// Slots free at the time of the attempt.
        free: usize,
    },
    /// The timeout passed before enough slots were free.
    #[error("timed out waiting for {requested} free slots")]
    Timeout {
        /// Slots asked for.
        requested: usize,
    },
    /// The sequencer's alert was raised while waiting for free slots: the pipeline stopped
    /// (`shutdown`, `halt`, a stage's failure under a halting policy, or its `Disruptor` handle
    /// dropped), so no stage will free a slot again.
    #[error(
        "claim abandoned: the disruptor has stopped (shut down, halted, or its handle dropped)"
    )]
    Halted,
    /// The ring was closed: it accepts no more events.
    #[error("the ring is closed: no more events are accepted")]
    Closed,
    /// The producer handle was inherited through `fork()`: a child must attach a producer of
    /// its own (two processes claiming through one handle would hand out the same sequences).
    #[error("this producer handle belongs to the process that made it (inherited through fork); attach a new producer")]
    ForkedHandle,
    /// This producer still holds a claim it has not published; publish it first.
    #[error("the claim {pending} is not published yet; publish it before claiming again")]
    Pending {
        /// The unpublished claim.
        pending: SequenceRange,
    },
}

/// Why a publish was refused.
///
/// ```
/// use seqflow_sequencer::{PublishError, SequenceRange};
/// let e = PublishError::NotClaimed { range: SequenceRange::single(3), pending: None };
/// assert!(e.to_string().contains("3..=3"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The range is not the claim this producer holds: publishing it would expose slots that
    /// nobody wrote, or that another producer is writing.
    #[error("cannot publish {range}: this producer's pending claim is {pending:?}")]
    NotClaimed {
        /// What was to be published.
        range: SequenceRange,
        /// What this producer actually holds, if anything.
        pending: Option<SequenceRange>,
    },
}

/// Why a sequencer could not be started at a given sequence (`start_at`).
///
/// ```
/// use seqflow_sequencer::StartAtError;
/// assert!(StartAtError::Negative { next: -3 }.to_string().contains("-3"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StartAtError {
    /// The first sequence must be 0 or more.
    #[error("cannot start at sequence {next}: sequences start at 0")]
    Negative {
        /// Asked for.
        next: i64,
    },
    /// Too close to `i64::MAX`: claims would overflow the sequence numbers.
    #[error("cannot start at sequence {next}: the highest start is {max}, so that 2^62 events fit before sequence numbers overflow")]
    TooLarge {
        /// Asked for.
        next: i64,
        /// The highest start allowed ([`MAX_START`]).
        max: i64,
    },
    /// Something was claimed already: the sequence numbers are taken.
    #[error("cannot start at a chosen sequence: sequences up to {claimed} were claimed already")]
    AlreadyClaimed {
        /// The highest claimed sequence.
        claimed: i64,
    },
    /// A claimer exists (the single producer's, or any of a multi-producer sequencer's): it
    /// could claim while the ring is renumbered. Start first, then make claimers.
    #[error("cannot start at a chosen sequence while a producer's claimer exists")]
    ProducerActive,
    /// The sequencer works over a shared-memory ring: its numbering belongs to every process
    /// attached, which this process cannot stop from claiming meanwhile.
    #[error(
        "cannot start a shared-memory ring at a chosen sequence: other processes number it too"
    )]
    Shared,
    /// A registered consumer is below `next - 1`: it would take the untouched slots below `next`
    /// for published events. Move it first (its holder can), or register it afterwards.
    #[error("consumer slot {slot} is at {sequence}, below the start {next}")]
    ConsumerBehind {
        /// The gating slot.
        slot: usize,
        /// Its sequence.
        sequence: i64,
        /// The first sequence asked for.
        next: i64,
    },
}

/// The highest first sequence `start_at` accepts: `2^62`, which leaves `2^62` events (146 years at
/// a billion a second) before a sequence number overflows.
pub const MAX_START: i64 = 1 << 62;

/// Check `start_at(next)`: `0 <= next <= MAX_START`, and every consumer of the gating table at
/// `next - 1` or later.
pub(crate) fn check_start_at(gating: &crate::GatingTable, next: i64) -> Result<(), StartAtError> {
    if next < 0 {
        return Err(StartAtError::Negative { next });
    }
    if next > MAX_START {
        return Err(StartAtError::TooLarge {
            next,
            max: MAX_START,
        });
    }
    for (slot, s) in gating.used_slots().iter().enumerate() {
        let sequence = s.sequence().get();
        if s.is_in_use() && sequence < next - 1 {
            return Err(StartAtError::ConsumerBehind {
                slot,
                sequence,
                next,
            });
        }
    }
    Ok(())
}
