//! [`Sequencer`]: the shared, consumer-visible side of every sequencer.

use crate::GatingTable;
use seqflow_ring::Capacity;
use seqflow_sequence::{Alert, Cursor};

/// The state every producer and consumer of one ring shares.
///
/// Consumers use it through [`Cursor`] (find what is published); producers claim through a
/// [`Claimer`](crate::Claimer) made by the concrete type. Two positions describe the producer
/// side, with the same meaning for every sequencer: [`claimed`](Self::claimed) (handed to a
/// producer, possibly still being written) and [`published`](Self::published) (readable).
///
/// # Safety
/// The pipeline reads and writes ring slots on the strength of this trait, so an
/// implementation must uphold [`Cursor`]'s contract and, in addition: a claimer never hands
/// out a sequence `s` while `s - capacity` is above the lowest gating sequence of
/// [`gating`](Self::gating) (the slot's previous event may still be read), and a published
/// sequence stays published until it is claimed again one lap later.
///
/// ```
/// use seqflow_sequencer::{Claimer, Sequencer, SingleProducerSequencer};
/// use seqflow_sequence::YieldingWait;
/// let s = SingleProducerSequencer::new(16, YieldingWait::default(), 2).unwrap();
/// let _consumer = s.gating().register(true, || -1).unwrap();
/// let mut p = s.claimer().unwrap();
/// let claim = p.claim(3).unwrap();
/// assert_eq!((s.claimed(), s.published()), (2, -1));
/// assert_eq!(s.remaining_capacity(), 13); // a claim takes room before it is published
/// p.publish(claim).unwrap();
/// assert_eq!(s.published(), 2);
/// ```
pub unsafe trait Sequencer: Cursor {
    /// The ring size.
    fn capacity(&self) -> Capacity;

    /// Whether `seq` is published (and not yet overwritten by a later lap).
    fn is_available(&self, seq: i64) -> bool;

    /// The consumers whose sequences hold the producers back.
    fn gating(&self) -> &GatingTable;

    /// Raised to abandon claims that wait for free slots (halt).
    fn alert(&self) -> &Alert;

    /// The highest sequence handed to a producer that this sequencer makes public, with
    /// `Acquire` ordering: for multi producers the claim cursor (every claim, published or
    /// not); for the single producer its published cursor and its claims of more than one
    /// event (a pending one-event claim, at most `published() + 1`, stays private to its
    /// claimer, which spares a store per event on the hottest path). A consumer added to a
    /// running ring starts here. Readers that need a bound of every claim use
    /// [`claim_bound`](Self::claim_bound).
    fn claimed(&self) -> i64;

    /// A sequence at or above every claim whose slot writes a reader may have seen: what
    /// readers that do not gate the producer (lossy subscribers) check their copies against.
    /// They copy an event, issue an `Acquire` fence, then read this: if `claim_bound() -
    /// capacity` is still below the copied sequence, no producer had started to overwrite the
    /// slot. Every claim path makes its claim visible through this (or through the cursor it
    /// follows) and then issues a `Release` fence before the producer writes any slot (the
    /// writer side of that check). By default [`claimed`](Self::claimed), which every claim
    /// stores; a sequencer that keeps some claims private must override it.
    fn claim_bound(&self) -> i64 {
        self.claimed()
    }

    /// How many sequences past the last published one a producer may be writing with nothing
    /// recorded (what [`claim_bound`](Self::claim_bound) adds on top of what is stored): 1 for
    /// a sequencer that keeps a one-event claim private, 0 (the default) for one that records
    /// every claim. A reader that does not gate the producer can never read from a ring of this
    /// many slots or fewer.
    fn private_claims(&self) -> usize {
        0
    }

    /// The highest sequence `s` such that every sequence up to `s` is published.
    ///
    /// For a multi-producer ring this scans the availability of the slots between the slowest
    /// consumer and the claim cursor: meant for metrics, draining and tests, not hot paths.
    fn published(&self) -> i64;

    /// Free slots: capacity minus what is [claimed](Self::claimed) and not yet processed by the
    /// slowest gating consumer. A pending claim takes room, published or not, except a single
    /// producer's one-event `Producer::publish` while its closure runs, which stays private
    /// until published (advisory by one slot then). A checked claim (`Claimer::claim` /
    /// `try_claim`) and a claim guard (`Producer::claim`) always count.
    ///
    /// ```
    /// use seqflow_sequencer::{Claimer, Sequencer, SingleProducerSequencer};
    /// use seqflow_sequence::YieldingWait;
    /// let seq = SingleProducerSequencer::new(16, YieldingWait::default(), 1).unwrap();
    /// let _consumer = seq.gating().register(true, || -1).unwrap();
    /// let mut claimer = seq.claimer().unwrap();
    /// let range = claimer.claim(1).unwrap();
    /// assert_eq!(seq.remaining_capacity(), 15);
    /// claimer.publish(range).unwrap();
    /// assert_eq!(seq.remaining_capacity(), 15);
    /// ```
    fn remaining_capacity(&self) -> usize {
        let claimed = self.claimed();
        let consumed = self.gating().minimum(claimed);
        // Saturating: in shared memory these values come from other processes.
        let used = claimed.saturating_sub(consumed).max(0) as usize;
        self.capacity().get().saturating_sub(used)
    }

    /// Whether `n` slots could be claimed now without waiting (LMAX's
    /// `hasAvailableCapacity`). A snapshot: another producer may take them first.
    ///
    /// ```
    /// use seqflow_sequencer::{Claimer, Sequencer, SingleProducerSequencer};
    /// use seqflow_sequence::YieldingWait;
    /// let s = SingleProducerSequencer::new(4, YieldingWait::default(), 1).unwrap();
    /// let _consumer = s.gating().register(true, || -1).unwrap();
    /// let mut p = s.claimer().unwrap();
    /// let r = p.claim(3).unwrap();
    /// p.publish(r).unwrap();
    /// assert!(s.has_available_capacity(1));
    /// assert!(!s.has_available_capacity(2));
    /// ```
    fn has_available_capacity(&self, n: usize) -> bool {
        self.remaining_capacity() >= n
    }

    /// Whether several producers may claim at once (`false`, the default, for a sequencer
    /// with one producer). Each of their claims is then an atomic read-modify-write on the
    /// shared claim cursor (a CAS, or a lock), which waits for the producer's earlier stores to
    /// reach its cache first: whatever cache line a consumer took from the producer since (the
    /// slot or availability mark it polls) costs the producer's next claim a wait, where a
    /// single producer's plain stores wait in its store buffer. Consumers that keep up with
    /// one-at-a-time publishing read those lines less often on such a ring (the pipeline's
    /// `Pacing::LONG`).
    fn multi_producer(&self) -> bool {
        false
    }
}
