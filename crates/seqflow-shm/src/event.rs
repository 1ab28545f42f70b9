//! [`ShmEvent`]: what may live in a shared segment, and its [`fingerprint`].
//!
//! An event in shared memory is read by processes that did not write it, possibly built from
//! other sources. It must be plain old data: every bit pattern valid, no pointers (they mean
//! nothing in another address space), no `Drop`, no padding (uninitialised bytes). That is
//! exactly [`bytemuck::Pod`].

use bytemuck::Pod;

/// An event type that can live in a shared segment: [`Pod`] (plain old data) and shareable
/// between threads. Implemented for every such type.
///
/// ```
/// #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
/// #[repr(C)]
/// struct Trade { price: u64, qty: u32, side: u32 }
/// fn needs_event<E: seqflow_shm::ShmEvent>() {}
/// needs_event::<Trade>();
/// needs_event::<[u8; 64]>();
/// ```
pub trait ShmEvent: Pod + Send + Sync {}

impl<E: Pod + Send + Sync> ShmEvent for E {}

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
