//! [`Mapping`]: one `mmap` of a segment, and checked typed views into it.
//!
//! The mapping is the owner behind every `OwnedRef` and `RingBuffer` of a shared ring: they hold
//! an `Arc<Mapping>`, so the memory stays mapped as long as anything refers to it. Dropping the
//! last reference unmaps and closes the descriptor (releasing this description's locks); it
//! never unlinks the name.

use crate::futex::FutexWord;
use crate::header::Header;
use crate::producer_slot::ProducerSlot;
use crate::registry::{ConsumerEntry, PoolEntry};
use crate::{SegmentName, ShmError};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::mm::{MapFlags, ProtFlags};
use seqflow_sequence::sync::atomic::{AtomicI8, AtomicU32};
use seqflow_sequence::{OwnedRef, Sequence};
use seqflow_sequencer::GatingSlot;
use std::ptr::NonNull;
use std::sync::Arc;

/// Types for which every bit pattern is a valid value and all mutation goes through interior
/// mutability (atomics): a reference to one may point into memory that other processes write
/// at any time, with any bytes.
///
/// # Safety
/// Implementors must be valid for every bit pattern (padding aside) and must only be mutated
/// through `&self` methods built on atomics.
pub(crate) unsafe trait AnyBits: Sized + Send + Sync + 'static {}

// SAFETY: a single `AtomicI64` plus alignment padding.
unsafe impl AnyBits for Sequence {}
// SAFETY: a `Sequence` and an `AtomicU32`, plus padding.
unsafe impl AnyBits for GatingSlot {}
// SAFETY: an atomic integer.
unsafe impl AnyBits for AtomicI8 {}
// SAFETY: an atomic integer.
unsafe impl AnyBits for AtomicU32 {}
// SAFETY: two `AtomicU32` plus padding.
unsafe impl AnyBits for FutexWord {}
// SAFETY: atomics only (see `header.rs`), plus padding.
unsafe impl AnyBits for Header {}
// SAFETY: atomics only (see `registry.rs`), plus padding.
unsafe impl AnyBits for ConsumerEntry {}
// SAFETY: atomics and a `Sequence` (see `registry.rs`), plus padding.
unsafe impl AnyBits for PoolEntry {}
// SAFETY: atomics only (see `producer_slot.rs`), plus padding.
unsafe impl AnyBits for ProducerSlot {}

/// A shared, read-write mapping of a whole segment file.
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    fd: OwnedFd,
    name: SegmentName,
}

// SAFETY: the mapping is plain shared memory; every access goes through `AnyBits` types
// (atomics) or through `RingBuffer`'s contract, both of which are thread-safe. The descriptor
// is an ordinary file descriptor.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Map `len` bytes of `fd` (shared; read-write, or read-only when `writable` is false: the
    /// caller then only loads from it). The caller checked `len` against the file size with
    /// `fstat`.
    pub fn map(
        fd: OwnedFd,
        len: usize,
        name: SegmentName,
        writable: bool,
    ) -> Result<Self, ShmError> {
        if len == 0 {
            return Err(ShmError::SizeMismatch {
                name: name.to_string(),
                expected: 1,
                found: 0,
            });
        }
        let prot = if writable {
            ProtFlags::READ | ProtFlags::WRITE
        } else {
            ProtFlags::READ
        };
        // SAFETY: a fresh mapping chosen by the kernel (null hint, no MAP_FIXED) aliases no Rust
        // object; `fd` is open for reading, and for writing when `writable`.
        let raw = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                MapFlags::SHARED,
                fd.as_fd(),
                0,
            )
        }
        .map_err(|e| ShmError::io(name.as_str(), "mmap", e))?;
        let ptr = NonNull::new(raw.cast::<u8>()).ok_or_else(|| ShmError::Io {
            name: name.to_string(),
            op: "mmap",
            source: std::io::Error::other("mmap returned null"),
        })?;
        Ok(Self { ptr, len, fd, name })
    }

    /// Map every page of a writable mapping now rather than as each is first touched, so that
    /// the ring's first lap takes no page fault per page in this process. Called once the
    /// segment is known to be a seqflow segment: its creator allocated the pages (`create.rs`),
    /// so this allocates nothing (a foreign or half-made file is never populated). Best effort:
    /// a kernel before 5.14 refuses the advice, and a file shorter than the mapping (truncated
    /// by somebody else) stops it early; the pages are then mapped as they are first touched.
    pub fn populate(&self) {
        // `MADV_POPULATE_WRITE` only faults the range's pages in, as a write would: it changes
        // no byte and no address or protection, so every reference into the mapping stays valid.
        // SAFETY: so it is harmless; the range is exactly this writable mapping.
        let _ = unsafe {
            rustix::mm::madvise(
                self.ptr.as_ptr().cast(),
                self.len,
                rustix::mm::Advice::LinuxPopulateWrite,
            )
        };
    }

    /// The segment's descriptor (holding this process's attach lock).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The segment name.
    pub fn name(&self) -> &SegmentName {
        &self.name
    }

    /// A pointer to `count` values of `T` at `offset`, if they lie inside the mapping and the
    /// offset is suitably aligned.
    pub fn region<T>(&self, offset: u64, count: usize) -> Option<NonNull<T>> {
        let offset = usize::try_from(offset).ok()?;
        let bytes = std::mem::size_of::<T>().checked_mul(count)?;
        let end = offset.checked_add(bytes)?;
        if end > self.len {
            return None;
        }
        let addr = (self.ptr.as_ptr() as usize).checked_add(offset)?;
        if addr % std::mem::align_of::<T>() != 0 {
            return None;
        }
        // SAFETY: `offset + bytes <= len`, so the pointer stays inside the mapping.
        NonNull::new(unsafe { self.ptr.as_ptr().add(offset) }.cast::<T>())
    }

    /// A reference to the `T` at `offset`, keeping the mapping alive; `None` out of bounds or
    /// misaligned.
    pub fn owned<T: AnyBits>(self: &Arc<Self>, offset: u64) -> Option<OwnedRef<T>> {
        let ptr = self.region::<T>(offset, 1)?;
        // SAFETY: in bounds and aligned (checked by `region`); every bit pattern is a valid `T`
        // and it is only mutated through atomics (`AnyBits`); the `Arc<Mapping>` owner keeps the
        // memory mapped for as long as the reference lives.
        Some(unsafe { OwnedRef::from_raw(ptr, self.clone()) })
    }

    /// A reference to `count` values of `T` at `offset`, keeping the mapping alive.
    pub fn owned_slice<T: AnyBits>(
        self: &Arc<Self>,
        offset: u64,
        count: usize,
    ) -> Option<OwnedRef<[T]>> {
        let ptr = self.region::<T>(offset, count)?;
        let slice = NonNull::slice_from_raw_parts(ptr, count);
        // SAFETY: as in `owned`, for each of the `count` values.
        Some(unsafe { OwnedRef::from_raw(slice, self.clone()) })
    }

    /// A plain reference to the `T` at `offset` for as long as `self` is borrowed.
    pub fn get<T: AnyBits>(&self, offset: u64) -> Option<&T> {
        let ptr = self.region::<T>(offset, 1)?;
        // SAFETY: as in `owned`; the borrow of `self` keeps the memory mapped.
        Some(unsafe { ptr.as_ref() })
    }

    /// The header (the mapping is at least one header long: checked before mapping).
    pub fn header(&self) -> Option<&Header> {
        self.get::<Header>(0)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what `mmap` returned, and no reference into the
        // mapping outlives it: every `OwnedRef`/`RingBuffer` into it holds this `Arc<Mapping>`.
        if let Err(e) = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) } {
            tracing::warn!(segment = %self.name, error = %e, "munmap failed");
        }
    }
}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapping")
            .field("name", &self.name)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}
