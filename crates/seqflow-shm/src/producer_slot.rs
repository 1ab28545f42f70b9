//! The producer table: which process holds each producer slot and what it has claimed.
//!
//! A producer records its claim here around every claim/publish so that, if it dies in
//! between, consumers can tell which sequences will never be published and by whom. The
//! single-producer ring uses slot 0 only: holding slot 0 *is* being the one producer.
//!
//! Writer side, multi producer (the owning producer, one cache line of its own): `state =
//! CLAIMING` (`Relaxed`, ordered before the claim by the claim CAS's `Release`), then the claim,
//! then `start`/`end` (`Relaxed`) and `state = CLAIMED` (`Release`), then a `Release` fence
//! before the slots are written (the seqlock writer side for lossy readers); after publishing,
//! `state = IDLE` (`Release`, after the publish stores). Readers load `state` with `Acquire`
//! before `start`/`end`. A multi producer that finds the ring full waits for room IDLE and sets
//! CLAIMING again right before its next try, so CLAIMING always lasts a few instructions (the
//! hole scan waits for it).
//!
//! Writer side, single producer: only `end` (`Relaxed`), then the same `Release` fence before
//! the slots are written; `state` stays IDLE while it is attached. Its claims are private until
//! published, so a dead single producer leaves no hole to release: all anybody needs is the
//! highest sequence it may be writing (lossy readers, the close's end), and its pending claim
//! is `cursor + 1 ..= end` whenever `end` is past the cursor ([`ProducerSlot::observed`]).
//! Recording only the end keeps the per-claim cost at one store in the producer's own line.
//! A single producer's `start` is the *inherited mark*: the highest claim end of a predecessor
//! that died mid-claim (it only grows). A new producer moves the old `end` there and sets `end`
//! to the cursor when it attaches, so its own claims, not the dead one's, are what the slot
//! shows; lossy readers go on treating slots up to the mark as written (`written_high`).

use crate::ProducerMode;
use seqflow_sequencer::SequenceRange;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

/// No claim outstanding.
pub(crate) const IDLE: u32 = 0;
/// Claiming: the claimed range is not recorded yet.
pub(crate) const CLAIMING: u32 = 1;
/// Claimed `start..=end`, not yet published.
pub(crate) const CLAIMED: u32 = 2;
/// The owner died with a claim; `start..=end` (if any) was released as it stood.
pub(crate) const ABANDONED: u32 = 3;
/// Multi producer: `start..=end` was claimed as the ring was halted everywhere and refused,
/// published without being written (so no hole is left). Kept for good: a halt is permanent,
/// the slot is never reused, and readers of the ring's last event walk below the range.
pub(crate) const REFUSED: u32 = 4;

/// One producer slot.
#[repr(C, align(128))]
pub(crate) struct ProducerSlot {
    /// The owner's pid; 0 when free.
    pub owner: AtomicU32,
    pub state: AtomicU32,
    /// Bumped each time a new producer takes the slot.
    pub generation: AtomicU64,
    /// Multi producer: the recorded claim's first sequence. Single producer: the inherited
    /// mark (see the module docs).
    pub start: AtomicI64,
    pub end: AtomicI64,
}

impl ProducerSlot {
    /// The state and claim as inspection shows them (a claim only while it is pending or was
    /// abandoned): recorded by a multi producer (`mode`); for a single producer, which records
    /// only `end`, derived from it and the published cursor, read after it (`cursor`), so that
    /// a claim published meanwhile shows as idle rather than as a range that starts too low.
    pub fn observed(
        &self,
        mode: ProducerMode,
        cursor: impl FnOnce() -> i64,
    ) -> (u32, Option<SequenceRange>) {
        let state = self.state.load(Ordering::Acquire);
        match mode {
            ProducerMode::MultiCas => match state {
                CLAIMED | ABANDONED | REFUSED => (state, self.range()),
                _ => (state, None),
            },
            ProducerMode::Single => {
                let end = self.end.load(Ordering::Acquire);
                match SequenceRange::new(cursor().saturating_add(1), end) {
                    Some(pending) if state == IDLE => (CLAIMED, Some(pending)),
                    pending => (state, pending),
                }
            }
        }
    }

    /// The recorded claim, if `start..=end` is a valid range.
    pub fn range(&self) -> Option<SequenceRange> {
        SequenceRange::new(
            self.start.load(Ordering::Relaxed),
            self.end.load(Ordering::Relaxed),
        )
    }
}

/// A state code as a word for `inspect`.
///
/// ```
/// assert_eq!(seqflow_shm::producer_state_name(2), "claimed");
/// assert_eq!(seqflow_shm::producer_state_name(77), "unknown");
/// ```
pub fn producer_state_name(state: u32) -> &'static str {
    match state {
        IDLE => "idle",
        CLAIMING => "claiming",
        CLAIMED => "claimed",
        ABANDONED => "abandoned",
        REFUSED => "refused",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cache_line_pair() {
        assert_eq!(std::mem::size_of::<ProducerSlot>(), 128);
    }
}
