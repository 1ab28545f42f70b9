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
pub use error::{ClaimError, PublishError};
pub use gating::{GatingRegistration, GatingSlot, GatingTable, RegisterError};
pub use multi::{MultiClaimer, MultiProducerMode, MultiProducerSequencer};
pub use range::SequenceRange;
pub use sequencer::Sequencer;
pub use single::{SingleClaimer, SingleProducerSequencer};
