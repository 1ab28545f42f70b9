//! The event ring of seqflow: a preallocated, power-of-two array of events indexed by sequence.
//!
//! The ring holds no sequencing logic: who may read or write which slot, and when, is decided by
//! the sequencer and the barriers (`seqflow-sequencer`, `seqflow-sequence`). The ring only maps a
//! sequence to its slot (`seq & (capacity - 1)`) and states the contract its unsafe accessors
//! rely on. Events are sized at compile time (any `E`), or at run time: a ring of
//! [`DynByteSlot`]s holds byte payloads of a size chosen when it is made ([`Slot`] says how a
//! slot is found, [`SlotCopy`] how a lossy reader copies one).
//!
//! ```
//! use seqflow_ring::RingBuffer;
//! let ring = RingBuffer::new(8, || 0u64).unwrap();
//! assert_eq!(ring.capacity(), 8);
//! assert_eq!(ring.index_of(9), 1);
//! ```
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod capacity;
mod dyn_byte_slot;
mod factory;
mod heap_slots;
mod prefetch;
mod ring;
mod slot;
mod slot_run;

pub use capacity::{Capacity, CapacityError};
pub use dyn_byte_slot::{DynByteCopy, DynByteSlot, TooLong, MAX_DYN_PAYLOAD};
pub use factory::EventFactory;
pub use prefetch::WritePrefetch;
pub use ring::RingBuffer;
pub use slot::{Slot, SlotCopy};
pub use slot_run::SlotRun;

/// The cache line size the ring's line-aware helpers ([`RingBuffer::starts_line`],
/// [`RingBuffer::partial_line`]) and their callers count in: 64 bytes.
pub const CACHE_LINE: usize = 64;
