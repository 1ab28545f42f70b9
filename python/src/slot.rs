//! The event type of every ring the Python package makes: [`Slot<N>`], an 8-byte header
//! (payload length and kind) and `N` payload bytes, in a few size classes chosen at run time.
//!
//! `seqflow-shm` sizes events at compile time (`E: Pod`), while a Python user picks the slot
//! size when creating a queue. The binding therefore instantiates [`Slot<N>`] for the classes in
//! [`CLASSES`] and picks the smallest that holds the requested size; the class is recorded in the
//! segment header (event size `N + 8`) and in an explicit fingerprint (which also says whether the
//! segment is a `Queue` or a `Ring`), so `open(name)` finds it again. This file is also compiled
//! into `examples/rust_peer.rs` (through `#[path]`), so a Rust program and Python agree on it.

/// The payload capacities offered, in bytes. Each is a multiple of 8 (no padding, see below).
pub const CLASSES: [usize; 7] = [16, 64, 256, 1024, 4096, 16384, 65536];

/// Payload kinds stored in a slot's header (the Queue's zero-pickle fast path).
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

/// A length, a kind and up to `N` payload bytes. `repr(C, align(8))` with an 8-byte header and
/// `N` a multiple of 8 has no padding, so every bit pattern is a valid value (checked by
/// [`Slot::LAYOUT_OK`], evaluated for every class in [`dispatch_class`] users).
#[derive(Clone, Copy)]
#[repr(C, align(8))]
pub struct Slot<const N: usize> {
    len: [u8; 4],
    kind: u8,
    _reserved: [u8; 3],
    data: [u8; N],
}

// SAFETY: `repr(C)` of byte arrays (8 header bytes, then `N` bytes with `N % 8 == 0`, asserted
// by `LAYOUT_OK` wherever a class is instantiated): size `8 + N` is a multiple of the alignment
// 8, so there is no padding; all-zero is a valid (empty) slot.
unsafe impl<const N: usize> bytemuck::Zeroable for Slot<N> {}
// SAFETY: as above; `Copy + 'static`, no pointers, every bit pattern valid.
unsafe impl<const N: usize> bytemuck::Pod for Slot<N> {}

impl<const N: usize> Slot<N> {
    /// Compile-time check that the class has no padding.
    pub const LAYOUT_OK: () = assert!(
        N % 8 == 0 && N > 0 && std::mem::size_of::<Self>() == N + 8,
        "slot classes must be non-zero multiples of 8"
    );

    /// Store `payload` of `kind`. The caller checked `payload.len() <= N`.
    #[inline]
    pub fn set(&mut self, kind: u8, payload: &[u8]) {
        let n = payload.len().min(N);
        self.data[..n].copy_from_slice(&payload[..n]);
        self.len = (n as u32).to_le_bytes();
        self.kind = kind;
    }

    /// Set only the header (the payload was written in place).
    #[inline]
    pub fn set_header(&mut self, kind: u8, len: usize) {
        self.len = (len.min(N) as u32).to_le_bytes();
        self.kind = kind;
    }

    /// The payload kind.
    #[inline]
    pub fn kind(&self) -> u8 {
        self.kind
    }

    /// The payload (its length read from shared memory is clamped to `N`, never trusted).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let n = (u32::from_le_bytes(self.len) as usize).min(N);
        &self.data[..n]
    }
}

/// The class for a requested payload size: the smallest class that holds it.
pub fn class_for(size: usize) -> Option<usize> {
    CLASSES.iter().copied().find(|&c| c >= size)
}

/// The explicit fingerprint recorded for `role` and class `n`: FNV-1a over a tag, so it is the
/// same for every build (Python wheels and Rust peers alike).
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

/// Call `$body` with `const $n: usize` bound to the class `$class` (a run-time value), or
/// evaluate `$none` if it is not a class.
#[macro_export]
macro_rules! dispatch_class {
    ($class:expr, $n:ident => $body:expr, _ => $none:expr) => {
        match $class {
            16 => {
                const $n: usize = 16;
                $body
            }
            64 => {
                const $n: usize = 64;
                $body
            }
            256 => {
                const $n: usize = 256;
                $body
            }
            1024 => {
                const $n: usize = 1024;
                $body
            }
            4096 => {
                const $n: usize = 4096;
                $body
            }
            16384 => {
                const $n: usize = 16384;
                $body
            }
            65536 => {
                const $n: usize = 65536;
                $body
            }
            _ => $none,
        }
    };
}
