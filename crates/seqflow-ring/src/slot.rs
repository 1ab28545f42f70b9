//! [`Slot`]: how a ring finds the event of a slot, for events sized at compile time (any `E`)
//! and at run time ([`DynByteSlot`](crate::DynByteSlot)); [`SlotCopy`]: how a lossy reader
//! copies one out before checking that no producer wrote it meanwhile.

use std::mem::MaybeUninit;

/// An event type a [`RingBuffer`](crate::RingBuffer) can hold.
///
/// Every sized type is a `Slot`: its slots are `size_of::<E>()` bytes apart. A dynamically sized
/// type is a `Slot` when the ring's stride, chosen when the ring is made, says how large each
/// event is ([`DynByteSlot`](crate::DynByteSlot)).
///
/// # Safety
/// `at` must return a pointer to a value of `Self` that lies within the `stride` bytes at
/// `base + index * stride` (the whole slot is the value's storage), for every stride that
/// `fits` accepts, when `base` is aligned to [`ALIGN`](Self::ALIGN).
pub unsafe trait Slot {
    /// The alignment every slot's address must have.
    const ALIGN: usize;

    /// The stride of every ring of this type where the compiler knows it (`size_of` for sized
    /// types), so that code working per slot can fold it; `None` where each ring chooses its
    /// own when it is made.
    const STRIDE: Option<usize> = None;

    /// Whether slots `stride` bytes apart hold a `Self` (for sized types: exactly its size).
    fn fits(stride: usize) -> bool;

    /// The event in slot `index` of slots `stride` bytes apart starting at `base`.
    ///
    /// # Safety
    /// `base + index * stride` must be inside (or one past) the allocation `base` points into,
    /// and `stride` must be one that [`fits`](Self::fits) accepts.
    unsafe fn at(base: *mut u8, index: usize, stride: usize) -> *mut Self;
}

// SAFETY: for a sized `T` the only accepted stride is `size_of::<T>()`, so slot `index` is the
// `index`-th element of an array of `T`, which is exactly what `add(index)` computes; `ALIGN`
// is `T`'s alignment, so an aligned base gives aligned elements.
unsafe impl<T> Slot for T {
    const ALIGN: usize = std::mem::align_of::<T>();
    const STRIDE: Option<usize> = Some(std::mem::size_of::<T>());

    #[inline]
    fn fits(stride: usize) -> bool {
        stride == std::mem::size_of::<T>()
    }

    #[inline(always)]
    unsafe fn at(base: *mut u8, index: usize, _stride: usize) -> *mut T {
        // The stride is ignored: it is `size_of::<T>()`, a constant the compiler folds.
        // SAFETY: in bounds by the caller's contract (`index * size_of::<T>()` bytes on).
        unsafe { base.cast::<T>().add(index) }
    }
}

/// How a lossy reader copies a slot that a producer may be overwriting: the copy is taken
/// without any lock, then kept only if the reader proves afterwards that no producer claimed
/// the slot's next lap during the copy. Implemented for every `Copy` type (the copy is the
/// event) and for [`DynByteSlot`](crate::DynByteSlot) (the copy is its payload, a
/// [`DynByteCopy`](crate::DynByteCopy)).
///
/// # Safety
/// `copy_raw` must read only the `stride` bytes of the slot, with volatile reads (a concurrent
/// write may tear the copy, which is then discarded), and `assume_whole` must produce a valid
/// `Copy` from a raw copy that was not torn.
pub unsafe trait SlotCopy: Slot {
    /// The owned copy a reader gets; a handler reads it as an event.
    type Copy: std::borrow::Borrow<Self>;
    /// A copy not yet known to be whole.
    type Raw;

    /// Copy the slot at `slot`, which is `stride` bytes long.
    ///
    /// # Safety
    /// `slot` must point to a slot of a ring with this `stride`, aligned to [`Slot::ALIGN`].
    unsafe fn copy_raw(slot: *const Self, stride: usize) -> Self::Raw;

    /// The copy, once the reader has proved no producer wrote the slot during `copy_raw`.
    ///
    /// # Safety
    /// No write to the slot overlapped the copy, and the slot held a published event.
    unsafe fn assume_whole(raw: Self::Raw) -> Self::Copy;
}

// SAFETY: `copy_raw` reads the `size_of::<T>()` bytes of the slot with volatile reads into a
// `MaybeUninit<T>` (torn copies are never turned into a `T`); a copy that no write overlapped is
// a bitwise copy of a published `T`, which is a valid `T` because `T: Copy`.
unsafe impl<T: Copy> SlotCopy for T {
    type Copy = T;
    type Raw = MaybeUninit<T>;

    #[inline]
    unsafe fn copy_raw(slot: *const T, _stride: usize) -> MaybeUninit<T> {
        let mut out = MaybeUninit::<T>::uninit();
        let (size, align) = (std::mem::size_of::<T>(), std::mem::align_of::<T>());
        let src = slot.cast::<u8>();
        let dst = out.as_mut_ptr().cast::<u8>();
        // A word type is used only when `T`'s alignment and size are multiples of it.
        // SAFETY: `src` (the slot) and `dst` (`out`) are `size` bytes aligned for `T`, so every
        // word pointer is aligned and in bounds.
        unsafe {
            if align >= 8 && size % 8 == 0 {
                copy_volatile::<u64>(src, dst, size / 8);
            } else if align >= 4 && size % 4 == 0 {
                copy_volatile::<u32>(src, dst, size / 4);
            } else {
                copy_volatile::<u8>(src, dst, size);
            }
        }
        out
    }

    #[inline]
    unsafe fn assume_whole(raw: MaybeUninit<T>) -> T {
        // SAFETY: not torn (the caller's contract): a bitwise copy of a published `T`.
        unsafe { raw.assume_init() }
    }
}

/// Copy `words` values of `W` with volatile reads.
///
/// # Safety
/// `src` and `dst` must be valid and aligned for `words` values of `W`.
#[inline]
pub(crate) unsafe fn copy_volatile<W: Copy>(src: *const u8, dst: *mut u8, words: usize) {
    // As `MaybeUninit` words: an event's padding bytes are uninitialised, which a `W` may not be.
    let (src, dst) = (src.cast::<MaybeUninit<W>>(), dst.cast::<MaybeUninit<W>>());
    for i in 0..words {
        // SAFETY: `i < words`: in bounds and aligned for `W` by the caller's contract.
        unsafe { dst.add(i).write(src.add(i).read_volatile()) };
    }
}
