//! [`OwnedRef`]: a shared reference that keeps whatever owns its memory alive.
//!
//! seqflow's algorithms run on memory that is either on the heap (one process) or inside a
//! mapped shared-memory segment (several processes). `OwnedRef<T>` hides the difference: it is
//! a pointer to a `T` plus an `Arc` of the owner (the heap allocation itself, or the mapping),
//! so the memory cannot be freed or unmapped while any reference to it exists.

use std::ptr::NonNull;
use std::sync::Arc;

/// A cloneable `&T` that keeps its memory's owner alive.
///
/// ```
/// use seqflow_sequence::{OwnedRef, Sequence};
/// let s = OwnedRef::new(Sequence::new(3));
/// let t = s.clone();
/// t.set(4);
/// assert_eq!(s.get(), 4);
/// assert!(OwnedRef::ptr_eq(&s, &t));
/// ```
pub struct OwnedRef<T: ?Sized> {
    ptr: NonNull<T>,
    owner: Arc<dyn Send + Sync>,
}

// SAFETY: an `OwnedRef<T>` only ever hands out `&T`, so sending or sharing it across threads is
// sharing `&T`, which needs `T: Sync`; the owner is `Send + Sync` by its type.
unsafe impl<T: ?Sized + Sync> Send for OwnedRef<T> {}
// SAFETY: as above: shared access to an `OwnedRef<T>` is shared access to `&T`.
unsafe impl<T: ?Sized + Sync> Sync for OwnedRef<T> {}

impl<T: Send + Sync + 'static> OwnedRef<T> {
    /// Move `value` to the heap and refer to it.
    ///
    /// ```
    /// let r = seqflow_sequence::OwnedRef::new(5u32);
    /// assert_eq!(*r, 5);
    /// ```
    pub fn new(value: T) -> Self {
        let owner = Arc::new(value);
        let ptr = NonNull::from(&*owner);
        Self { ptr, owner }
    }
}

impl<T: Send + Sync + 'static> OwnedRef<[T]> {
    /// Move a slice to the heap and refer to it.
    ///
    /// ```
    /// let r = seqflow_sequence::OwnedRef::from_boxed_slice(vec![1, 2, 3].into_boxed_slice());
    /// assert_eq!(r.len(), 3);
    /// ```
    pub fn from_boxed_slice(values: Box<[T]>) -> Self {
        let owner = Arc::new(values);
        let ptr = NonNull::from(&**owner);
        Self { ptr, owner }
    }
}

impl<T: ?Sized> OwnedRef<T> {
    /// Refer to memory owned by `owner`, for example a value inside a shared-memory mapping.
    ///
    /// # Safety
    /// `ptr` must point to a valid, properly aligned, initialised `T` that stays valid (not
    /// freed, unmapped or mutated except through `T`'s own interior mutability) for as long as
    /// `owner` is alive.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use seqflow_sequence::OwnedRef;
    /// let block = Arc::new([7u64; 4]);
    /// let ptr = std::ptr::NonNull::from(&block[2]);
    /// // SAFETY: `ptr` points into `block`, which the OwnedRef keeps alive and nobody mutates.
    /// let r = unsafe { OwnedRef::from_raw(ptr, block.clone()) };
    /// assert_eq!(*r, 7);
    /// ```
    pub unsafe fn from_raw(ptr: NonNull<T>, owner: Arc<dyn Send + Sync>) -> Self {
        Self { ptr, owner }
    }

    /// The owner that keeps this memory alive.
    ///
    /// ```
    /// let r = seqflow_sequence::OwnedRef::new(1u8);
    /// assert!(std::sync::Arc::strong_count(r.owner()) >= 1);
    /// ```
    pub fn owner(&self) -> &Arc<dyn Send + Sync> {
        &self.owner
    }

    /// A reference to a part of this value (a field, an element, a view), kept alive by the
    /// same owner.
    ///
    /// ```
    /// use seqflow_sequence::{OwnedRef, ReadOnlySequence, Sequence};
    /// let seq = OwnedRef::new(Sequence::new(5));
    /// let view: OwnedRef<ReadOnlySequence> = seq.clone().map(|s| s.read_only());
    /// seq.set(6);
    /// assert_eq!(view.get(), 6);
    /// ```
    pub fn map<U: ?Sized>(self, part: impl for<'a> FnOnce(&'a T) -> &'a U) -> OwnedRef<U> {
        let ptr = NonNull::from(part(&*self));
        OwnedRef {
            ptr,
            owner: self.owner,
        }
    }

    /// Whether two references point at the same memory.
    ///
    /// ```
    /// use seqflow_sequence::OwnedRef;
    /// let a = OwnedRef::new(1u8);
    /// assert!(OwnedRef::ptr_eq(&a, &a.clone()));
    /// assert!(!OwnedRef::ptr_eq(&a, &OwnedRef::new(1u8)));
    /// ```
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        std::ptr::addr_eq(a.ptr.as_ptr(), b.ptr.as_ptr())
    }
}

impl<T: ?Sized> Clone for OwnedRef<T> {
    fn clone(&self) -> Self {
        Self {
            ptr: self.ptr,
            owner: Arc::clone(&self.owner),
        }
    }
}

impl<T: ?Sized> std::ops::Deref for OwnedRef<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: construction guarantees `ptr` is valid for as long as `owner` lives, and we
        // hold `owner`.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for OwnedRef<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}
