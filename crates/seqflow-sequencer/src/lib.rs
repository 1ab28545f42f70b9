//! Sequencers: who may write which slot of the ring, and when consumers may read it.
//!
//! A sequencer hands out sequence numbers to producers (claim), makes them visible to consumers
//! (publish), and never lets a producer claim a slot that the slowest gating consumer has not
//! finished with. Three implementations share one consumer-facing trait, [`Sequencer`]:
//!
//! - [`SingleProducerSequencer`]: one producer; a claim is plain arithmetic on a local counter
//!   and a publish is one `Release` store.
//! - [`MultiProducerSequencer`] in [`MultiProducerMode::Cas`]: any number of producers claim by
//!   compare-and-set on the cursor and publish by marking slots in an [`AvailabilityBuffer`] with
//!   their lap number. Lock-free.
//! - [`MultiProducerSequencer`] in [`MultiProducerMode::Lock`]: the same publish path, but the
//!   claim runs under a `parking_lot::Mutex`. For comparison (and for very contended claims).
//!
//! The producer side is a [`Claimer`]: claim one or `n` slots, try without blocking, publish.
//!
//! ```
//! use seqflow_sequencer::{Claimer, SingleProducerSequencer, Sequencer};
//! use seqflow_sequence::YieldingWait;
//!
//! let sequencer = SingleProducerSequencer::new(8, YieldingWait::default(), 4).unwrap();
//! let mut producer = sequencer.claimer().expect("the one claimer");
//! let range = producer.claim(3).unwrap();
//! assert_eq!((range.start(), range.end()), (0, 2));
//! producer.publish(range).unwrap();
//! assert!(sequencer.is_available(2));
//! ```
//!
//! With a ring and a barrier, these primitives make a hand-built consumer. Touching the ring is
//! `unsafe`: the caller states which slots it may read or write (the pipeline crate does this
//! for you, safely).
//!
//! ```
//! use seqflow_ring::RingBuffer;
//! use seqflow_sequence::{Alert, SequenceBarrier, YieldingWait};
//! use seqflow_sequencer::{Claimer, SingleProducerSequencer};
//!
//! let sequencer = SingleProducerSequencer::new(8, YieldingWait::default(), 1).unwrap();
//! let ring = RingBuffer::new(8, || 0u64).unwrap();
//! let mut producer = sequencer.claimer().unwrap();
//! let claim = producer.claim(1).unwrap();
//! // SAFETY: `claim` is ours until published: nobody else reads or writes the slot.
//! unsafe { *ring.get_mut(claim.start()) = 42 };
//! producer.publish(claim).unwrap();
//! let barrier = SequenceBarrier::new(sequencer.clone(), vec![], Alert::new());
//! let available = barrier.wait_for(0, None).unwrap();
//! // SAFETY: published, and the producer claims nothing more in this example.
//! assert_eq!(unsafe { *ring.get(available) }, 42);
//! ```
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod availability;
mod claimer;
mod error;
mod gating;
mod multi;
mod range;
mod sequencer;
mod single;

pub use availability::AvailabilityBuffer;
pub use claimer::Claimer;
pub use error::{ClaimError, PublishError, StartAtError, MAX_START};
pub use gating::{GatingRegistration, GatingSlot, GatingTable, RegisterError, MAX_CONSUMERS};
pub use multi::{MultiClaimer, MultiProducerMode, MultiProducerSequencer};
pub use range::SequenceRange;
pub use sequencer::Sequencer;
pub use single::{SingleClaimer, SingleProducerSequencer};

// The types this crate's public signatures use, so that one dependency is enough.
pub use seqflow_ring::{Capacity, CapacityError};
pub use seqflow_sequence::{Alert, Cursor, OwnedRef, ReadOnlySequence, WaitStrategy};
