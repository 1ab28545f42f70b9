//! The slot format of every ring the Python package makes, and what identifies such a ring.
//!
//! Every ring is a `ShmRing<DynByteSlot>`: run-time-sized byte slots, each an 8-byte header (the
//! payload length, a little-endian `u32`, then a `u32` tag whose low byte is the payload
//! [`kind`]) followed by the payload area. A Python user picks the payload size per slot when
//! creating a queue or ring ([`slot_size_for`]: any size up to [`MAX_SLOT_SIZE`], rounded up to
//! a multiple of 8); the segment header records it (event size = payload + 8), and an explicit
//! [`fingerprint`] of the payload size also says whether the segment is a `Queue` or a `Ring`,
//! so `open(name)` finds both again. This file is also compiled into `examples/rust_peer.rs`
//! (through `#[path]`), so a Rust program and Python agree on it.

use seqflow_shm::DynByteSlot;

/// The largest payload a slot holds, in bytes: 1 GiB minus the 8-byte header (the largest
/// event seqflow-shm puts in a segment is 1 GiB).
pub const MAX_SLOT_SIZE: usize = (1 << 30) - 8;

// The largest slot is exactly the largest event seqflow-shm accepts.
const _: () = assert!(
    matches!(DynByteSlot::stride_for(MAX_SLOT_SIZE), Some(s) if s == 1 << 30),
    "MAX_SLOT_SIZE must make 1 GiB events"
);

/// Payload kinds stored in a slot's tag (the Queue's zero-pickle fast path).
pub mod kind {
    /// Raw bytes written by `Ring.publish`/`claim` (and by Rust peers).
    pub const RAW: u8 = 0;
    /// A `bytes` object (returned as `bytes`).
    pub const BYTES: u8 = 1;
    /// A `bytearray` (returned as `bytearray`).
    pub const BYTEARRAY: u8 = 2;
    /// A pickled object (`pickle.loads` on the way out).
    pub const PICKLE: u8 = 3;
}

/// What a segment made by the Python package is used as (part of its fingerprint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `seqflow.Queue`: multi producer, one worker pool.
    Queue,
    /// `seqflow.Ring`: the Disruptor model.
    Ring,
}

/// The payload bytes per slot for a `slot_size` asked for by a user: rounded up to a multiple
/// of 8 (the slot header and payload are whole 8-byte words). An error message for 0, negative
/// sizes and sizes above [`MAX_SLOT_SIZE`].
pub fn slot_size_for(requested: i64) -> Result<usize, String> {
    if requested <= 0 {
        return Err(format!(
            "slot_size must be at least 1 byte, not {requested}"
        ));
    }
    match usize::try_from(requested) {
        Ok(n) if n <= MAX_SLOT_SIZE => Ok(n.div_ceil(8) * 8),
        _ => Err(format!(
            "slot_size {requested} is larger than the largest slot ({MAX_SLOT_SIZE} bytes)"
        )),
    }
}

/// The payload bytes per slot of a segment whose events are `event_size` bytes, if the Python
/// package could have made it (a header plus a non-empty payload of whole words, at most
/// [`MAX_SLOT_SIZE`]).
pub fn slot_size_of_event(event_size: u64) -> Option<usize> {
    let payload = usize::try_from(event_size).ok()?.checked_sub(8)?;
    (payload > 0 && payload % 8 == 0 && payload <= MAX_SLOT_SIZE).then_some(payload)
}

/// The explicit fingerprint recorded for `role` and a payload size of `n` bytes per slot:
/// FNV-1a over a tag, so it is the same for every build (Python wheels and Rust peers alike),
/// and the same as when the binding offered only a few compiled slot sizes.
pub fn fingerprint(role: Role, n: usize) -> u64 {
    let tag: &[u8] = match role {
        Role::Queue => b"seqflow.python.Queue/v1",
        Role::Ring => b"seqflow.python.Ring/v1",
    };
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in tag.iter().chain((n as u64).to_le_bytes().iter()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
