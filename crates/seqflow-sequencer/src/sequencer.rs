//! [`Sequencer`]: the shared, consumer-visible side of every sequencer.

use crate::GatingTable;
use seqflow_ring::Capacity;
use seqflow_sequence::{Alert, Cursor};

/// The state every producer and consumer of one ring shares.
///
/// Consumers use it through [`Cursor`] (follow the cursor, find what is published); producers
/// claim through a [`Claimer`](crate::Claimer) made by the concrete type.
///
/// ```
/// use seqflow_sequencer::{Sequencer, SingleProducerSequencer};
/// use seqflow_sequence::{Cursor, YieldingWait};
/// let s = SingleProducerSequencer::new(16, YieldingWait::default(), 2).unwrap();
/// assert_eq!(s.capacity().get(), 16);
/// assert_eq!(s.cursor().get(), -1);
/// assert_eq!(s.remaining_capacity(), 16);
/// ```
pub trait Sequencer: Cursor {
    /// The ring size.
    fn capacity(&self) -> Capacity;

    /// Whether `seq` is published (and not yet overwritten by a later lap).
    fn is_available(&self, seq: i64) -> bool;

    /// The consumers whose sequences hold the producers back.
    fn gating(&self) -> &GatingTable;

    /// Raised to abandon claims that wait for free slots (halt).
    fn alert(&self) -> &Alert;

    /// The highest sequence any producer has claimed (it may be unpublished and being written).
    ///
    /// Readers that do not gate the producer (lossy subscribers) copy an event, then check
    /// that `claimed() - capacity` is still below its sequence: if it is, no producer has
    /// started to overwrite the slot. Producers store the claim with a `Release` fence after it
    /// (seqlock writer side); readers issue an `Acquire` fence before reading this.
    fn claimed(&self) -> i64;

    /// Free slots: capacity minus what the slowest gating consumer has not processed.
    fn remaining_capacity(&self) -> usize {
        let cursor = self.cursor().get();
        let consumed = self.gating().minimum(cursor);
        // Saturating: in shared memory these values come from other processes.
        let used = cursor.saturating_sub(consumed).max(0) as usize;
        self.capacity().get().saturating_sub(used)
    }
}
