//! The lossy read protocol, once for every non-gating reader: [`LossyCursor`] is the in-process
//! [`LossySubscriber`](crate::LossySubscriber)'s position and the shared-memory subscriber's.

use seqflow_ring::{RingBuffer, SlotCopy};
use seqflow_sequence::sync::atomic::{fence, Ordering};

/// A lossy read found the event overwritten: the producers lapped the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lapped {
    /// Events lost (overwritten before they were read).
    pub missed: u64,
    /// The next sequence the reader reads: the oldest event no producer may be overwriting.
    pub resume_at: i64,
}

/// Where a non-gating reader is, and how it reads: copy the slot optimistically, `Acquire`
/// fence, then check the highest *claimed* sequence; the copy is kept only if no producer had
/// claimed the slot for a later lap by then (every claim path stores its claim and issues a
/// `Release` fence before writing any slot). A torn copy is never returned, no event is
/// returned twice, and missed events are counted.
///
/// ```
/// use seqflow_pipeline::{Lapped, LossyCursor};
/// let ring = seqflow_ring::RingBuffer::new(4, || 0u64).unwrap();
/// let mut cursor = LossyCursor::new(0);
/// // Nothing claimed past the ring: sequence 0 can be read (here it holds the initial 0).
/// // SAFETY: single-threaded; sequence 0 counts as published for this example.
/// assert_eq!(unsafe { cursor.read(&ring, || 0) }, Ok((0, 0)));
/// // Producers claimed up to 9 in 4 slots: 1..=5 are gone.
/// assert!(cursor.lapped_by(9, ring.capacity()));
/// // SAFETY: lapped, so the copy is discarded.
/// assert_eq!(unsafe { cursor.read(&ring, || 9) }, Err(Lapped { missed: 5, resume_at: 6 }));
/// assert_eq!((cursor.next(), cursor.missed()), (6, 5));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LossyCursor {
    next: i64,
    missed: u64,
}

impl LossyCursor {
    /// A reader that reads `next` first.
    pub fn new(next: i64) -> Self {
        Self { next, missed: 0 }
    }

    /// The sequence read next.
    #[inline]
    pub fn next(&self) -> i64 {
        self.next
    }

    /// Events missed so far.
    #[inline]
    pub fn missed(&self) -> u64 {
        self.missed
    }

    /// Whether claims up to `claimed` in a ring of `capacity` slots have overwritten (or are
    /// overwriting) the next event.
    #[inline]
    pub fn lapped_by(&self, claimed: i64, capacity: usize) -> bool {
        claimed.saturating_sub(capacity as i64) >= self.next
    }

    /// Read the next event, or learn that it was lapped (the reader then resumes at the oldest
    /// event still in the ring). `claimed` reads the highest sequence any producer has claimed
    /// (it is read before and after the copy).
    ///
    /// # Safety
    /// The next event must be published or lapped (a wait saw the producer cursor reach it, or
    /// `claimed` past it by the capacity): a slot that is claimed and not yet published is
    /// being written without showing up in `claimed` as a later lap.
    pub unsafe fn read<E: ?Sized + SlotCopy>(
        &mut self,
        ring: &RingBuffer<E>,
        claimed: impl Fn() -> i64,
    ) -> Result<(i64, E::Copy), Lapped> {
        let capacity = ring.capacity();
        if !self.lapped_by(claimed(), capacity) {
            let seq = self.next;
            // SAFETY: the copy is discarded below unless no producer claimed the slot's next
            // lap before the copy ended, which is `copy_out`'s contract.
            let copy = unsafe { ring.copy_out(seq) };
            // Reader half of the claim check: any producer write the copy saw was made after
            // that producer's claim and `Release` fence, so the claim is visible below.
            fence(Ordering::Acquire);
            if !self.lapped_by(claimed(), capacity) {
                // Saturating: a corrupt shared cursor can publish up to `i64::MAX`, past which
                // nothing can be claimed (the reader then stays at the last sequence).
                self.next = seq.saturating_add(1);
                // SAFETY: published (the caller's contract) and not written during the copy,
                // so the copy is the whole event published at `seq`.
                return Ok((seq, unsafe { E::assume_whole(copy) }));
            }
        }
        let resume_at = claimed()
            .saturating_sub(capacity as i64)
            .saturating_add(1)
            .max(self.next);
        let missed = (resume_at - self.next) as u64;
        self.missed += missed;
        self.next = resume_at;
        Err(Lapped { missed, resume_at })
    }
}
