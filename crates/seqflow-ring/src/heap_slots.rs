//! [`HeapSlots`]: the heap storage of a ring made by `RingBuffer::new`, its first slot on a
//! two-line boundary.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::cell::UnsafeCell;
use std::ptr::NonNull;

/// The boundary a heap ring's first slot sits on: two cache lines. The CPU's adjacent-line
/// prefetcher fetches lines in aligned pairs, so a 128-byte event that started half-way into
/// a pair would bring the next event's first line along whenever a consumer reads it: a line
/// the producer is about to write, taken from its core (docs/benchmarks.md, section 37).
/// Shared-memory rings place their events on the same boundary.
pub(crate) const RING_ALIGN: usize = 128;

/// `capacity` events in one allocation aligned to [`RING_ALIGN`] (or to the event's own
/// alignment, if larger); the events are dropped with it.
pub(crate) struct HeapSlots<E> {
    first: NonNull<UnsafeCell<E>>,
    /// The events the allocation has room for.
    capacity: usize,
    /// The events made so far: all of them once `new` returns.
    len: usize,
}

// SAFETY: the events are only touched through `RingBuffer`'s accessors, whose contract forbids
// concurrent writes to a slot and reads of a slot being written. What crosses threads is `E`
// values (moved in by producers: `E: Send`) and `&E` (shared with consumers: `E: Sync`).
unsafe impl<E: Send + Sync> Sync for HeapSlots<E> {}
// SAFETY: as above; dropping the events on another thread needs `E: Send`.
unsafe impl<E: Send + Sync> Send for HeapSlots<E> {}

impl<E> HeapSlots<E> {
    /// `len` events, the `i`-th made by the `i`-th call of `make`. `None` if `len` events do
    /// not fit the address space. A panic in `make` drops the events made so far and frees
    /// the allocation, then goes on unwinding.
    pub fn new(len: usize, mut make: impl FnMut() -> E) -> Option<Self> {
        let layout = Self::layout(len)?;
        let first = if layout.size() == 0 {
            // No bytes to hold (zero-sized events): an aligned dangling pointer is a valid
            // place for any number of them.
            NonNull::<UnsafeCell<E>>::dangling()
        } else {
            // SAFETY: the layout has a non-zero size (checked just above).
            let raw = unsafe { alloc(layout) };
            match NonNull::new(raw) {
                Some(raw) => raw.cast(),
                None => handle_alloc_error(layout),
            }
        };
        // Owns the allocation and the events written so far until every one is made.
        let mut partial = Self {
            first,
            capacity: len,
            len: 0,
        };
        while partial.len < len {
            let event = UnsafeCell::new(make());
            // SAFETY: `partial.len < len == capacity`, so the slot is inside the allocation
            // (for zero-sized events any aligned pointer will do); it holds no event yet, so
            // nothing is overwritten without a drop.
            unsafe { partial.first.as_ptr().add(partial.len).write(event) };
            partial.len += 1;
        }
        Some(partial)
    }

    /// The layout of `len` events on a [`RING_ALIGN`] boundary; `None` if it overflows.
    fn layout(len: usize) -> Option<Layout> {
        let events = Layout::array::<UnsafeCell<E>>(len).ok()?;
        events.align_to(RING_ALIGN).ok()
    }

    /// The events, for a base pointer whose provenance covers all of them.
    pub fn as_slice_ptr(&self) -> NonNull<[UnsafeCell<E>]> {
        NonNull::slice_from_raw_parts(self.first, self.len)
    }
}

impl<E> Drop for HeapSlots<E> {
    fn drop(&mut self) {
        // Frees the memory when it goes out of scope, even if an event's `drop` panics below.
        let _memory = Allocation {
            first: self.first.cast(),
            // `new` computed this layout for the same `capacity` before allocating.
            layout: Self::layout(self.capacity).filter(|l| l.size() != 0),
        };
        // A panicking `drop` of one event still drops the others (`drop_in_place` of a slice
        // goes on), then `_memory` frees the allocation.
        // SAFETY: the first `len` slots hold events made in `new` (only those, if it unwound)
        // and dropped nowhere else: the ring's accessors only replace an event in place or
        // lend references that cannot outlive the ring's owner, which is this value.
        unsafe { std::ptr::drop_in_place(self.as_slice_ptr().as_ptr()) };
    }
}

/// The allocation of a [`HeapSlots`], freed when this goes out of scope; `layout` is `None`
/// when nothing was allocated (zero bytes).
struct Allocation {
    first: NonNull<u8>,
    layout: Option<Layout>,
}

impl Drop for Allocation {
    fn drop(&mut self) {
        if let Some(layout) = self.layout {
            // SAFETY: allocated in `HeapSlots::new` with exactly this layout (same capacity,
            // same computation), and freed only here, once, when its `HeapSlots` goes.
            unsafe { dealloc(self.first.as_ptr(), layout) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::rc::Rc;

    #[test]
    fn the_first_slot_sits_on_a_two_line_boundary() {
        for len in [1, 3, 64] {
            let bytes = HeapSlots::new(len, || 0u8).unwrap();
            assert_eq!(
                bytes.as_slice_ptr().cast::<u8>().as_ptr() as usize % RING_ALIGN,
                0
            );
            let big = HeapSlots::new(len, || [0u64; 16]).unwrap();
            assert_eq!(
                big.as_slice_ptr().cast::<u8>().as_ptr() as usize % RING_ALIGN,
                0
            );
        }
        #[repr(align(4096))]
        struct Page(#[allow(dead_code)] u8);
        let pages = HeapSlots::new(2, || Page(0)).unwrap();
        assert_eq!(
            pages.as_slice_ptr().cast::<u8>().as_ptr() as usize % 4096,
            0
        );
    }

    #[test]
    fn every_event_is_made_in_order_and_dropped_once() {
        let alive = Rc::new(());
        let mut n = 0;
        let slots = HeapSlots::new(5, || {
            n += 1;
            (n, Rc::clone(&alive))
        })
        .unwrap();
        // SAFETY: the slots were all made by `new` and nothing else touches them here.
        let made: Vec<i32> = unsafe { &*slots.as_slice_ptr().as_ptr() }
            .iter()
            // SAFETY: as above: each cell holds a made event, read while nobody writes it.
            .map(|cell| unsafe { (*cell.get()).0 })
            .collect();
        assert_eq!(made, [1, 2, 3, 4, 5]);
        assert_eq!(Rc::strong_count(&alive), 6);
        drop(slots);
        assert_eq!(Rc::strong_count(&alive), 1);
    }

    #[test]
    fn a_panicking_factory_drops_what_it_made_and_frees_the_memory() {
        let alive = Rc::new(());
        let mut n = 0;
        let result = catch_unwind(AssertUnwindSafe(|| {
            HeapSlots::new(8, || {
                n += 1;
                assert!(n <= 3, "expected: the fourth event fails on purpose");
                Rc::clone(&alive)
            })
        }));
        assert!(result.is_err());
        assert_eq!(Rc::strong_count(&alive), 1, "the three made were dropped");
    }

    #[test]
    fn an_event_whose_drop_panics_still_frees_the_memory_and_the_others() {
        struct Fragile(#[allow(dead_code)] Rc<()>, bool);
        impl Drop for Fragile {
            fn drop(&mut self) {
                assert!(!self.1, "expected: this event's drop fails on purpose");
            }
        }
        let alive = Rc::new(());
        let mut n = 0;
        let slots = HeapSlots::new(4, || {
            n += 1;
            Fragile(Rc::clone(&alive), n == 2)
        })
        .unwrap();
        assert!(catch_unwind(AssertUnwindSafe(|| drop(slots))).is_err());
        assert_eq!(Rc::strong_count(&alive), 1, "every event was dropped");
        // Under Miri, a leaked allocation fails the test run.
    }

    #[test]
    fn zero_sized_events_and_impossible_sizes() {
        let units = HeapSlots::new(1 << 20, || ()).unwrap();
        assert_eq!(units.as_slice_ptr().len(), 1 << 20);
        assert!(HeapSlots::new(usize::MAX / 2, || [0u64; 4]).is_none());
    }
}
