//! [`Claimer`]: the producer side of a sequencer.

use crate::{ClaimError, PublishError, SequenceRange, Sequencer};
use std::sync::Arc;
use std::time::Duration;

/// A producer's handle on a sequencer: claim slots, write them, publish them.
///
/// A claimer holds at most one unpublished claim; claiming again before publishing is
/// [`ClaimError::Pending`], publishing anything but the pending claim is
/// [`PublishError::NotClaimed`]. Claimers are `Send` but not shared: each producer thread owns
/// one (multi-producer claimers are `Clone`).
///
/// ```
/// use seqflow_sequencer::{Claimer, ClaimError, MultiProducerMode, MultiProducerSequencer};
/// use seqflow_sequence::YieldingWait;
/// let seq = MultiProducerSequencer::new(4, YieldingWait::default(), MultiProducerMode::Cas, 4).unwrap();
/// let mut a = seq.claimer();
/// let r = a.claim(4).unwrap();
/// a.publish(r).unwrap();
/// // Nobody gates the producer here, so the ring never fills; see `Sequencer::gating`.
/// assert!(a.try_claim(1).is_ok());
/// assert!(matches!(a.claim(1), Err(ClaimError::Pending { .. })));
/// ```
pub trait Claimer: Send {
    /// The sequencer this claimer claims from.
    type Sequencer: Sequencer;

    /// Claim `n` slots, waiting (with the sequencer's wait strategy) while the ring is full.
    fn claim(&mut self, n: usize) -> Result<SequenceRange, ClaimError> {
        self.claim_until(n, None)
    }

    /// Claim `n` slots, waiting at most `timeout` for them to be free.
    fn claim_timeout(&mut self, n: usize, timeout: Duration) -> Result<SequenceRange, ClaimError> {
        self.claim_until(n, seqflow_sequence::deadline_after(Some(timeout)))
    }

    /// Claim `n` slots, waiting until `deadline` (`None`: no limit).
    fn claim_until(
        &mut self,
        n: usize,
        deadline: Option<std::time::Instant>,
    ) -> Result<SequenceRange, ClaimError>;

    /// Claim `n` slots if they are free now; [`ClaimError::Full`] otherwise.
    fn try_claim(&mut self, n: usize) -> Result<SequenceRange, ClaimError>;

    /// Publish the pending claim: consumers may read it from now on.
    fn publish(&mut self, range: SequenceRange) -> Result<(), PublishError>;

    /// The unpublished claim, if any.
    fn pending(&self) -> Option<SequenceRange>;

    /// Claim `n` slots for a caller that pairs every claim with exactly one
    /// [`__internal_publish_paired`](Self::__internal_publish_paired) of the returned range
    /// before it claims again: no pending-claim bookkeeping, for the pipeline's producers (whose
    /// claim guards enforce the pairing). `n` is still checked against the ring. `block: false`
    /// is [`try_claim`](Self::try_claim). Internal; not part of the public API.
    #[doc(hidden)]
    fn __internal_claim_paired(
        &mut self,
        n: usize,
        deadline: seqflow_sequence::Deadline,
        block: bool,
    ) -> Result<SequenceRange, ClaimError>;

    /// Publish what [`__internal_claim_paired`](Self::__internal_claim_paired) returned.
    /// Internal; not part of the public API.
    ///
    /// # Safety
    /// `range` is the range the last paired claim returned, not published yet, and every slot in
    /// it holds a whole event (written since the claim, or left as it was); no checked claim was
    /// made since that paired claim (a claimer whose paired claim *is* its checked claim
    /// publishes it through the checked path). Publishing anything else could expose a slot
    /// another producer is writing.
    #[doc(hidden)]
    unsafe fn __internal_publish_paired(&mut self, range: SequenceRange);

    /// Make the paired claim `range` (just made) count in the sequencer's
    /// [`claimed`](Sequencer::claimed), for a claim a caller may hold a while (a claim guard
    /// handed to user code): [`Sequencer::remaining_capacity`] and metrics then count it. Only
    /// a single producer's one-event claim needs it (every other claim is counted when made);
    /// the one-at-a-time publish skips it. Internal; not part of the public API.
    #[doc(hidden)]
    #[inline]
    fn __internal_count_claim(&mut self, range: SequenceRange) {
        let _ = range;
    }

    /// The sequencer.
    fn sequencer(&self) -> &Arc<Self::Sequencer>;

    /// Whether this claimer's claims are this process's to write: `false` for a copy of a
    /// shared-memory claimer that a forked child inherited (its claim's slots belong to the
    /// parent, which may publish them at any moment). Claim guards write nothing through such a
    /// copy. Internal; not part of the public API.
    #[doc(hidden)]
    #[inline]
    fn __internal_claims_are_ours(&self) -> bool {
        true
    }
}

/// Validate a claim size against the ring and the pending claim.
#[inline]
pub(crate) fn check_claim(
    n: usize,
    capacity: usize,
    pending: Option<SequenceRange>,
) -> Result<i64, ClaimError> {
    if let Some(pending) = pending {
        return Err(ClaimError::Pending { pending });
    }
    check_size(n, capacity)
}

/// Validate a claim size against the ring: `1..=capacity`.
#[inline]
pub(crate) fn check_size(n: usize, capacity: usize) -> Result<i64, ClaimError> {
    // `n == 1` first: a constant 1 (one event per publish) folds the whole check away.
    if n != 1 && n.wrapping_sub(1) >= capacity {
        return Err(size_error(n, capacity));
    }
    Ok(n as i64)
}

#[cold]
fn size_error(n: usize, capacity: usize) -> ClaimError {
    if n == 0 {
        ClaimError::Zero
    } else {
        ClaimError::TooLarge {
            requested: n,
            capacity,
        }
    }
}

/// Take the pending claim if it is exactly `range`.
#[inline]
pub(crate) fn take_pending(
    pending: &mut Option<SequenceRange>,
    range: SequenceRange,
) -> Result<(), PublishError> {
    if *pending == Some(range) {
        *pending = None;
        Ok(())
    } else {
        Err(PublishError::NotClaimed {
            range,
            pending: *pending,
        })
    }
}

/// Wait until the slowest gating consumer has passed `wrap_point` (so the slots up to
/// `wrap_point + capacity` are free); return the gating minimum seen then.
///
/// `default` is the minimum to use when no consumer gates (read only then: the producers' own
/// floor, see `MultiProducerSequencer::lap_floor`). A raised
/// sequencer alert wins over free slots: a halted ring takes no more claims that had to wait,
/// even when its consumers are gone (their slots freed) by the time the waiter looks.
pub(crate) fn wait_for_capacity<S: Sequencer>(
    sequencer: &S,
    wrap_point: impl Fn() -> i64,
    default: impl Fn() -> i64,
    requested: usize,
    deadline: Option<std::time::Instant>,
) -> Result<i64, ClaimError> {
    use seqflow_sequence::{WaitError, WaitStrategy};
    let alert = sequencer.alert();
    sequencer
        .wait_strategy()
        .wait_until(
            || {
                if alert.is_raised() {
                    return Some(Err(ClaimError::Halted));
                }
                let min = sequencer.gating().minimum_or_else(&default);
                (wrap_point() <= min).then_some(Ok(min))
            },
            alert,
            deadline,
        )
        .map_err(|e| match e {
            WaitError::Timeout => ClaimError::Timeout { requested },
            WaitError::Alerted => ClaimError::Halted,
        })?
}

/// Make a claim visible to lossy readers before any slot write: the writer half of their
/// check (see [`Sequencer::claimed`]). The caller has just stored the claim. A `Release` fence
/// orders that store before every later write, so a reader whose copy saw one of those writes
/// and then fences with `Acquire` also sees the claim. On x86 it compiles to nothing.
#[inline]
pub(crate) fn claim_stored() {
    seqflow_sequence::sync::atomic::fence(seqflow_sequence::sync::atomic::Ordering::Release);
}

/// The `Full` error for a claim of `n` when the slowest consumer is at `min` and the producer
/// has claimed up to `claimed`.
pub(crate) fn full(n: usize, capacity: usize, claimed: i64, min: i64) -> ClaimError {
    let used = claimed.saturating_sub(min).max(0) as usize;
    ClaimError::Full {
        requested: n,
        free: capacity.saturating_sub(used),
    }
}
