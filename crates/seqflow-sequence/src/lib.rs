//! Sequences, barriers and wait strategies: the lowest layer of seqflow.
//!
//! A [`Sequence`] is a cache-padded `AtomicI64` that starts at [`INITIAL_SEQUENCE`] (-1) and only
//! grows. Producers publish by advancing a cursor sequence; every consumer stage follows its own
//! sequence. A [`SequenceBarrier`] lets a consumer wait until the producer cursor *and* the stages
//! it depends on have passed a sequence, using one of the [`WaitStrategy`] implementations, with
//! an optional timeout and an alert for shutdown.
//!
//! ```
//! use seqflow_sequence::{Sequence, INITIAL_SEQUENCE};
//!
//! let cursor = Sequence::new(INITIAL_SEQUENCE);
//! cursor.set(41);
//! assert_eq!(cursor.get(), 41);
//! ```
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod alert;
mod barrier;
mod cursor;
mod minimum;
mod owned_ref;
mod read_only;
mod sequence;
pub mod sync;
mod wait;

pub use alert::Alert;
pub use barrier::SequenceBarrier;
pub use cursor::Cursor;
pub use minimum::minimum_sequence;
pub use owned_ref::OwnedRef;
pub use read_only::ReadOnlySequence;
pub use sequence::{Sequence, INITIAL_SEQUENCE};
pub use wait::{
    deadline_after, spin_before_sleep, wait_loop, BlockingWait, BusySpinWait, Deadline, IdleStep,
    PhasedBackoffWait, SleepingWait, WaitError, WaitStrategy, YieldingWait, SPIN_POLLS,
    YIELD_MARGIN,
};
