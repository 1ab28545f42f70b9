//! [`ShmProducer`] and [`ShmClaim`]: the pipeline's `Producer` and `ClaimGuard` over a shared
//! ring, claiming through a [`ShmClaimer`](crate::ShmClaimer). One producer type, one claim
//! guard type, in one process and across processes.

use crate::ShmClaimer;

/// A producer of a shared ring: claim slots, write events in place, publish. It is the
/// in-process `Producer` (same methods, same contracts: `publish`, `try_publish`,
/// `publish_timeout`, `publish_batch`, `publish_batch_timeout`, `claim`, `claim_timeout`,
/// `try_claim`) with a [`ShmClaimer`], which records each claim in the segment for crash
/// recovery, reaps dead consumers while the ring is full, and refuses claims on a closed or
/// halted ring ([`ClaimError::Closed`](crate::ClaimError::Closed) /
/// [`Halted`](crate::ClaimError::Halted)) and in a forked child that inherited it
/// ([`ForkedHandle`](crate::ClaimError::ForkedHandle)).
///
/// Single-producer rings have exactly one across all processes; multi-producer rings one per
/// producer slot. Dropping the handle frees the slot (only in the process that took it).
///
/// ```
/// use seqflow_shm::{ShmOptions, ShmRing};
/// use std::time::Duration;
/// # let name = format!("/seqflow-doc-prod-{}", std::process::id());
/// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
/// # let _guard = ring.unlink_on_drop();
/// let mut consumer = ring.consumer("c").unwrap();
/// let mut producer = ring.producer().unwrap();
/// assert_eq!(producer.publish(|e, _seq| *e = 7).unwrap(), 0);
/// let range = producer.publish_batch(3, |e, seq| *e = seq as u64).unwrap();
/// assert_eq!((range.start(), range.end()), (1, 3));
/// assert_eq!(consumer.wait_for(0, Some(Duration::from_secs(1))), Ok(3));
/// ```
pub type ShmProducer<E> = seqflow_pipeline::Producer<E, ShmClaimer>;

/// Claimed, unpublished slots of a shared ring: the in-process `ClaimGuard`. Write them (by
/// offset in the claim), then `commit`. Dropped without a commit, the claim is published as it
/// stands (the slots keep what was written, or their previous contents), as an unpublished hole
/// would stall every consumer.
///
/// ```
/// # use seqflow_shm::{ShmOptions, ShmRing};
/// # let name = format!("/seqflow-doc-shmclaim-{}", std::process::id());
/// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
/// # let _guard = ring.unlink_on_drop();
/// let mut p = ring.producer().unwrap();
/// let mut claim = p.claim(3).unwrap();
/// for i in 0..3 {
///     *claim.get_mut(i).unwrap() = i as u64;
/// }
/// assert!(claim.get_mut(3).is_none(), "not part of the claim");
/// assert_eq!(claim.commit().end(), 2);
/// ```
pub type ShmClaim<'a, E> = seqflow_pipeline::ClaimGuard<'a, E, ShmClaimer>;
