//! [`SlotRun`]: a run of consecutive slots of a ring, for loops that walk many events.

use crate::{RingBuffer, Slot};
use std::marker::PhantomData;
use std::ptr::NonNull;

/// A run of consecutive slots of a [`RingBuffer`] (see [`RingBuffer::run`]): the slots of the
/// sequences `first .. first + len()`, addressed by their offset from `first`. The events it
/// hands out borrow the ring, not the run, as the ring's own accessors do.
pub struct SlotRun<'a, E: ?Sized> {
    /// The slot of `first`.
    first: *mut u8,
    stride: usize,
    len: usize,
    _ring: PhantomData<&'a RingBuffer<E>>,
}

impl<'a, E: ?Sized + Slot> SlotRun<'a, E> {
    /// The run of `len` slots `stride` bytes apart from `first`.
    ///
    /// # Safety
    /// `first` must be a slot of a ring that outlives `'a`, and the `len` slots from it must be
    /// consecutive slots of that ring, `stride` bytes apart (a stride `E` fits).
    #[inline]
    pub(crate) unsafe fn new(first: *mut u8, stride: usize, len: usize) -> Self {
        Self {
            first,
            stride,
            len,
            _ring: PhantomData,
        }
    }

    /// How many slots the run has.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the run has no slot (`max` was 0).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The slot `offset` slots after the run's first, as a pointer: no reference is made, so
    /// nothing is asserted about who reads or writes the slot while the pointer is held.
    ///
    /// # Safety
    /// `offset < len()`.
    #[inline]
    pub unsafe fn ptr(&self, offset: usize) -> NonNull<E> {
        debug_assert!(offset < self.len);
        // SAFETY: `offset < len <= run_from(first)`: inside the ring, the slot of `first +
        // offset`, which is not null (it lies in the ring's allocation or mapping).
        unsafe { NonNull::new_unchecked(E::at(self.first, offset, self.stride)) }
    }

    /// The event `offset` slots after the run's first, for reading.
    ///
    /// # Safety
    /// `offset < len()`, and the event at `first + offset` must be readable as
    /// [`RingBuffer::get`] requires.
    #[inline]
    pub unsafe fn get(&self, offset: usize) -> &'a E {
        debug_assert!(offset < self.len);
        // SAFETY: `offset < len <= run_from(first)`: inside the ring, the slot of `first +
        // offset`; the caller guarantees nobody writes it while the reference lives.
        unsafe { &*E::at(self.first, offset, self.stride) }
    }

    /// The event `offset` slots after the run's first, for writing.
    ///
    /// # Safety
    /// `offset < len()`, and the event at `first + offset` must be writable as
    /// [`RingBuffer::get_mut`] requires.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn get_mut(&self, offset: usize) -> &'a mut E {
        debug_assert!(offset < self.len);
        // SAFETY: inside the ring and the slot of `first + offset` as in `get`; the caller's
        // claim gives it exclusive access to the slot.
        unsafe { &mut *E::at(self.first, offset, self.stride) }
    }
}
