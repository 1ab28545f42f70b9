//! [`ShmEvent`]: what may live in a shared segment, and its [`fingerprint`].
//!
//! An event in shared memory is read by processes that did not write it, possibly built from
//! other sources. It must be plain old data: every bit pattern valid, no pointers (they mean
//! nothing in another address space), no `Drop`, no padding (uninitialised bytes). That is
//! exactly [`bytemuck::Pod`] for events sized at compile time, and [`DynByteSlot`] (a length
//! and bytes) for events sized when the segment is created.

use bytemuck::Pod;
use seqflow_ring::{DynByteSlot, SlotCopy};

/// An event type that can live in a shared segment: every [`Pod`] (plain old data) type that is
/// shareable between threads, and [`DynByteSlot`], whose size each segment records.
///
/// ```
/// #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
/// #[repr(C)]
/// struct Trade { price: u64, qty: u32, side: u32 }
/// fn needs_event<E: seqflow_shm::ShmEvent + ?Sized>() {}
/// needs_event::<Trade>();
/// needs_event::<[u8; 64]>();
/// needs_event::<seqflow_shm::DynByteSlot>();
/// ```
///
/// # Safety
/// Every bit pattern of the slot's bytes must be a valid `Self` (another process wrote them),
/// the type must hold no pointers and need no `Drop`, and [`FIXED_SIZE`](Self::FIXED_SIZE) must
/// be `Some(size_of::<Self>())` for a sized type.
pub unsafe trait ShmEvent: SlotCopy<Copy: Send + Sync> + Send + Sync + 'static {
    /// The slot size of a sized event type; `None` when each segment chooses it at creation.
    const FIXED_SIZE: Option<usize>;

    /// The fingerprint recorded when the creator does not give one: [`fingerprint`] for a
    /// sized type.
    fn default_fingerprint() -> u64;
}

// SAFETY: `Pod` is exactly "every bit pattern valid, no padding, no pointers, `Copy`"; the slot
// size of a sized type is its size.
unsafe impl<E: Pod + Send + Sync> ShmEvent for E {
    const FIXED_SIZE: Option<usize> = Some(std::mem::size_of::<E>());

    fn default_fingerprint() -> u64 {
        fingerprint::<E>()
    }
}

// SAFETY: a `DynByteSlot` is a length word and bytes (any bit pattern valid, the length is
// clamped on every read), no pointers, no `Drop`; its size is the segment's recorded stride.
unsafe impl ShmEvent for DynByteSlot {
    const FIXED_SIZE: Option<usize> = None;

    fn default_fingerprint() -> u64 {
        let mut hash = Fnv1a::new();
        hash.write(b"seqflow.DynByteSlot/v1");
        hash.finish()
    }
}

/// The default type fingerprint of `E`: FNV-1a over its type name, size and alignment.
///
/// Two processes agree on it when they are built from the same source by the same compiler.
/// Processes built separately (another crate version, another compiler) should agree on an
/// explicit fingerprint instead (`ShmOptions::fingerprint`, `OpenOptions::fingerprint`).
///
/// ```
/// use seqflow_shm::fingerprint;
/// assert_eq!(fingerprint::<u64>(), fingerprint::<u64>());
/// assert_ne!(fingerprint::<u64>(), fingerprint::<i64>());
/// ```
pub fn fingerprint<E: 'static>() -> u64 {
    let mut hash = Fnv1a::new();
    hash.write(std::any::type_name::<E>().as_bytes());
    hash.write(&(std::mem::size_of::<E>() as u64).to_le_bytes());
    hash.write(&(std::mem::align_of::<E>() as u64).to_le_bytes());
    hash.finish()
}

/// 64-bit FNV-1a: tiny, stable across builds and platforms (unlike `DefaultHasher`).
struct Fnv1a(u64);

impl Fnv1a {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn new() -> Self {
        Self(Self::OFFSET)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_known_vector() {
        let mut h = Fnv1a::new();
        h.write(b"a");
        assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c);
    }
}
