//! [`RingBuffer`]: the slots, and the contract for touching them.

use crate::heap_slots::HeapSlots;
use crate::CACHE_LINE as LINE;
use crate::{Capacity, CapacityError, DynByteSlot, EventFactory, Slot, SlotCopy, SlotRun};
use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;

/// A preallocated ring of `capacity` events.
///
/// The ring only stores events. Reading and writing them is `unsafe` because the ring cannot
/// know whether a slot is being written: that is the sequencer's job. The contract, which
/// the sequencers and the pipeline uphold, is:
/// - write a slot only between claiming its sequence and publishing it;
/// - read a slot only after its sequence is published and while the reader's own sequence (or a
///   gating sequence behind it) is below it, so the producer cannot claim it for the next lap.
///
/// The storage is either a heap allocation made here ([`RingBuffer::new`]) or memory owned by
/// somebody else, such as a shared-memory mapping (an internal constructor of the
/// shared-memory layer).
///
/// ```
/// use seqflow_ring::RingBuffer;
/// let ring = RingBuffer::new(4, || 0u32).unwrap();
/// // SAFETY: single-threaded example: nobody else touches the ring.
/// unsafe { *ring.get_mut(5) = 50 };
/// // SAFETY: as above.
/// assert_eq!(unsafe { *ring.get(5) }, 50);
/// assert_eq!(unsafe { *ring.get(1) }, 50); // same slot, one lap earlier
/// ```
pub struct RingBuffer<E: ?Sized> {
    /// The first slot; its provenance covers all of them (and permits writes: the storage is
    /// `UnsafeCell`s or foreign memory).
    base: NonNull<u8>,
    /// The bytes from one slot to the next (`size_of::<E>()` for sized events).
    stride: usize,
    capacity: Capacity,
    owner: Arc<dyn Send + Sync>,
    /// Whether the slots are this process's own heap memory ([`RingBuffer::new`],
    /// [`RingBuffer::with_byte_slots`]) rather than memory other processes may map too.
    process_local: bool,
    _event: PhantomData<UnsafeCell<E>>,
}

// SAFETY: see `HeapSlots`: producers on other threads write `E` (needs `E: Send`), consumers on
// other threads read `&E` (needs `E: Sync`); the accessor contract rules out data races.
unsafe impl<E: ?Sized + Send + Sync> Send for RingBuffer<E> {}
// SAFETY: as above.
unsafe impl<E: ?Sized + Send + Sync> Sync for RingBuffer<E> {}

impl<E: Send + Sync + 'static> RingBuffer<E> {
    /// A ring of `capacity` events, each made by `factory`.
    ///
    /// `capacity` must be a power of two between 1 and 2^30: anything else is a
    /// [`CapacityError`], never a panic.
    ///
    /// ```
    /// use seqflow_ring::{CapacityError, RingBuffer};
    /// assert!(RingBuffer::new(16, String::new).is_ok());
    /// assert_eq!(RingBuffer::new(12, String::new).err(), Some(CapacityError::NotPowerOfTwo(12)));
    /// assert_eq!(RingBuffer::new(0, String::new).err(), Some(CapacityError::Zero));
    /// ```
    pub fn new(capacity: usize, factory: impl EventFactory<E>) -> Result<Self, CapacityError> {
        let capacity = Capacity::new(capacity)?;
        // Dropped (and the events with it) when the last ring handle goes.
        let slots = HeapSlots::new(capacity.get(), || factory.new_event()).ok_or(
            CapacityError::TooManyBytes {
                slots: capacity.get(),
                max_payload: std::mem::size_of::<E>(),
            },
        )?;
        // The pointer covers every slot: it is the allocation's own, not one made from a
        // reference to slot 0 (which may only touch slot 0).
        let base = slots.as_slice_ptr().cast::<u8>();
        let owner = Arc::new(slots);
        Ok(Self {
            base,
            stride: std::mem::size_of::<E>(),
            capacity,
            owner,
            process_local: true,
            _event: PhantomData,
        })
    }
}

/// The heap storage of a byte-slot ring: zeroed words (every slot starts empty).
struct HeapWords(#[allow(dead_code)] Box<[UnsafeCell<u64>]>);

// SAFETY: plain words touched only through `RingBuffer`'s accessors, whose contract forbids
// data races; `u64` is `Send + Sync`.
unsafe impl Sync for HeapWords {}

impl RingBuffer<DynByteSlot> {
    /// A ring of `capacity` empty byte slots, each holding payloads of up to `max_payload`
    /// bytes (rounded up to whole 8-byte words, see [`DynByteSlot::stride_for`]).
    ///
    /// [`CapacityError`] for a bad slot count, or [`CapacityError::TooManyBytes`] when the
    /// ring would not fit in the address space (never a panic); a ring that fits the address
    /// space but not the machine's memory aborts like any failed Rust allocation. The memory
    /// comes zeroed from the allocator, so pages no slot has used take no memory.
    ///
    /// ```
    /// use seqflow_ring::{CapacityError, DynByteSlot, RingBuffer};
    /// let ring = RingBuffer::<DynByteSlot>::with_byte_slots(8, 1 << 20).unwrap();
    /// assert_eq!(ring.stride(), (1 << 20) + 8);
    /// assert!(matches!(
    ///     RingBuffer::<DynByteSlot>::with_byte_slots(1 << 30, usize::MAX / 4),
    ///     Err(CapacityError::TooManyBytes { .. })
    /// ));
    /// ```
    pub fn with_byte_slots(capacity: usize, max_payload: usize) -> Result<Self, CapacityError> {
        let capacity = Capacity::new(capacity)?;
        let too_large = CapacityError::TooManyBytes {
            slots: capacity.get(),
            max_payload,
        };
        let stride = DynByteSlot::stride_for(max_payload)
            .filter(|&stride| DynByteSlot::fits(stride))
            .ok_or(too_large)?;
        let bytes = stride
            .checked_mul(capacity.get())
            .filter(|&b| b <= isize::MAX as usize)
            .ok_or(too_large)?;
        // Zeroed by the allocator (fresh pages stay untouched until written).
        let words: Box<[u64]> = vec![0u64; bytes / 8].into_boxed_slice();
        let len = words.len();
        let raw = Box::into_raw(words).cast::<UnsafeCell<u64>>();
        // SAFETY: `UnsafeCell<u64>` is `repr(transparent)` over `u64`, so the allocation is a
        // valid `[UnsafeCell<u64>]` of the same length and layout, owned by the new box.
        let words: Box<[UnsafeCell<u64>]> =
            unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(raw, len)) };
        let owner = Arc::new(HeapWords(words));
        // The pointer must cover every slot: it is derived from the whole slice (a pointer
        // made from a reference to slot 0 may only touch slot 0), after the move into the
        // `Arc`, so that no later move of the box invalidates it.
        let base = NonNull::from(&*owner.0).cast::<u8>();
        Ok(Self {
            base,
            stride,
            capacity,
            owner,
            process_local: true,
            _event: PhantomData,
        })
    }
}

impl<E: ?Sized + Slot> RingBuffer<E> {
    /// A ring over `capacity` events `stride` bytes apart that live in memory owned by
    /// `owner` (a shared-memory mapping). Internal to seqflow's shared-memory layer; not part
    /// of the public API.
    ///
    /// # Safety
    /// `base` must point to `capacity * stride` bytes aligned to [`Slot::ALIGN`], holding
    /// `capacity` initialised `E` values (`E::fits(stride)`), that stay valid for as long as
    /// `owner` lives, whose provenance covers all slots and permits writes, and that are only
    /// accessed through rings following the contract in the type docs.
    #[doc(hidden)]
    pub unsafe fn __internal_from_raw_parts(
        base: NonNull<u8>,
        stride: usize,
        capacity: Capacity,
        owner: Arc<dyn Send + Sync>,
    ) -> Self {
        debug_assert!(E::fits(stride) && base.as_ptr() as usize % E::ALIGN == 0);
        Self {
            base,
            stride,
            capacity,
            owner,
            process_local: false,
            _event: PhantomData,
        }
    }

    /// The bytes from one slot to the next: `size_of::<E>()` for a sized event, the size
    /// chosen when the ring was made for a [`DynByteSlot`].
    ///
    /// ```
    /// assert_eq!(seqflow_ring::RingBuffer::new(8, || 0u32).unwrap().stride(), 4);
    /// ```
    #[inline]
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// The number of slots.
    ///
    /// ```
    /// assert_eq!(seqflow_ring::RingBuffer::new(8, || ()).unwrap().capacity(), 8);
    /// ```
    #[inline]
    pub fn capacity(&self) -> usize {
        self.capacity.get()
    }

    /// The validated capacity (mask, shift, lap arithmetic).
    ///
    /// ```
    /// assert_eq!(seqflow_ring::RingBuffer::new(8, || ()).unwrap().capacity_info().mask(), 7);
    /// ```
    #[inline]
    pub fn capacity_info(&self) -> Capacity {
        self.capacity
    }

    /// The slot index of `seq`.
    ///
    /// ```
    /// assert_eq!(seqflow_ring::RingBuffer::new(8, || ()).unwrap().index_of(10), 2);
    /// ```
    #[inline]
    pub fn index_of(&self, seq: i64) -> usize {
        self.capacity.index_of(seq)
    }

    /// The event at `seq`, for reading.
    ///
    /// # Safety
    /// `seq` must be published, and no producer may claim `seq + capacity` (the next use of this
    /// slot) while the returned reference lives: the caller's sequence, or one gating the
    /// producer behind it, must be below `seq`.
    #[inline]
    pub unsafe fn get(&self, seq: i64) -> &E {
        // SAFETY: `index_of` is below capacity, so the pointer is inside the slots; the caller
        // guarantees nobody writes the slot while the reference lives.
        unsafe { &*self.slot_ptr(seq) }
    }

    /// The event at `seq`, for writing.
    ///
    /// # Safety
    /// The caller must have claimed `seq` and not yet published it: nobody else reads or writes
    /// the slot while the returned reference lives.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn get_mut(&self, seq: i64) -> &mut E {
        // SAFETY: in bounds as in `get`; the claim gives the caller exclusive access to the slot.
        unsafe { &mut *self.slot_ptr(seq) }
    }

    /// How many slots there are from the slot of `seq` to the end of the ring: the sequences
    /// `seq .. seq + run_from(seq)` sit in consecutive slots (see
    /// [`run`](Self::run)).
    ///
    /// ```
    /// let ring = seqflow_ring::RingBuffer::new(8, || 0u8).unwrap();
    /// assert_eq!(ring.run_from(0), 8);
    /// assert_eq!(ring.run_from(13), 3); // slots 5, 6, 7
    /// ```
    #[inline]
    pub fn run_from(&self, seq: i64) -> usize {
        self.capacity.get() - self.index_of(seq)
    }

    /// Whether `seq`'s slot starts within the first `stride` bytes of its cache line (64 bytes):
    /// of consecutive slots smaller than a line, one per line does (none in the ring's first
    /// line if the ring starts past that line's first `stride` bytes); every slot of a line or
    /// more does; a zero-sized slot never does. Something done once per line (a prefetch) asks
    /// this first.
    ///
    /// ```
    /// let ring = seqflow_ring::RingBuffer::new(64, || 0u64).unwrap();
    /// let starts = (0..64).filter(|&s| ring.starts_line(s)).count();
    /// assert_eq!(starts, 8, "eight 8-byte slots per line");
    /// let wide = seqflow_ring::RingBuffer::new(4, || [0u64; 16]).unwrap();
    /// assert!((0..4).all(|s| wide.starts_line(s)));
    /// ```
    #[inline]
    pub fn starts_line(&self, seq: i64) -> bool {
        self.slot_ptr(seq).cast::<u8>().addr() % LINE < self.stride
    }

    /// How many events, `seq`'s included, lie in the part of `seq`'s cache line (64 bytes) up
    /// to the end of `seq`'s slot, when the line goes on with later slots; 0 when the slot ends
    /// its line, or when slots do not divide a line (slots of 64 bytes or more, odd strides,
    /// zero-sized events).
    ///
    /// A reader close behind a producer that publishes one event at a time leaves those events
    /// for its next read: reading a line the producer is still filling moves the line to the
    /// reader's core, and the producer's next write to it has to fetch it back.
    ///
    /// ```
    /// let ring = seqflow_ring::RingBuffer::new(64, || 0u64).unwrap();
    /// // Eight 8-byte slots per line: one of any eight consecutive slots ends a line, and the
    /// // counts of the others go up by one from slot to slot.
    /// let counts: Vec<usize> = (0..16).map(|s| ring.partial_line(s)).collect();
    /// let end = counts.iter().position(|&c| c == 0).unwrap();
    /// assert!(end < 8);
    /// assert_eq!(&counts[end..end + 8], &[0, 1, 2, 3, 4, 5, 6, 7]);
    /// // Slots of a line or more are never part of a line.
    /// let wide = seqflow_ring::RingBuffer::new(4, || [0u64; 16]).unwrap();
    /// assert_eq!(wide.partial_line(1), 0);
    /// ```
    #[inline]
    pub fn partial_line(&self, seq: i64) -> usize {
        // The strides that divide a line are the powers of two below it: shifts and masks, no
        // division (this runs once per batch of a stage).
        if !self.stride.is_power_of_two() || self.stride >= LINE {
            return 0;
        }
        let end = self.slot_ptr(seq).cast::<u8>().addr() + self.stride;
        (end % LINE) >> self.stride.trailing_zeros()
    }

    /// The run of consecutive slots that starts at the slot of `first`, at most `max` long
    /// (`min(run_from(first), max)` slots): a loop over a run addresses each event from the
    /// run's first slot, with the addressing copied out of the ring, so the compiler keeps it in
    /// registers rather than reloading it around every event written.
    ///
    /// ```
    /// let ring = seqflow_ring::RingBuffer::new(8, || 0u64).unwrap();
    /// let run = ring.run(13, 100);
    /// assert_eq!(run.len(), 3); // slots 5, 6, 7
    /// // SAFETY: single-threaded example; `2 < run.len()`.
    /// unsafe { *run.get_mut(2) = 7 };
    /// // SAFETY: as above; slot 7 is the slot of sequence 15.
    /// assert_eq!(unsafe { *ring.get(15) }, 7);
    /// ```
    #[inline]
    pub fn run(&self, first: i64, max: usize) -> SlotRun<'_, E> {
        let index = self.index_of(first);
        // SAFETY: `index < capacity`, so the address is inside the slots (a stride every
        // constructor checked `E` fits).
        let slot = unsafe { E::at(self.base.as_ptr(), index, self.stride) };
        // SAFETY: `slot` is the slot of `first`, the `capacity - index` slots from it to the
        // ring's end are consecutive slots of this ring, `self.stride` apart, and the run
        // borrows the ring.
        unsafe {
            SlotRun::new(
                slot.cast::<u8>(),
                self.stride,
                (self.capacity.get() - index).min(max),
            )
        }
    }

    /// A raw pointer to the slot of `seq`, for readers that copy an event optimistically and
    /// validate afterwards (seqlock style: lossy subscribers). Safe to obtain; reading or
    /// writing through it is up to the caller.
    ///
    /// ```
    /// let ring = seqflow_ring::RingBuffer::new(4, || 3u64).unwrap();
    /// // SAFETY: single-threaded example, nobody writes the slot.
    /// assert_eq!(unsafe { ring.slot_ptr(6).read_volatile() }, 3);
    /// ```
    #[inline]
    pub fn slot_ptr(&self, seq: i64) -> *mut E {
        // SAFETY: `index_of` is below capacity, so the offset stays inside the slots, and the
        // stride is one `E` fits (checked by every constructor).
        unsafe { E::at(self.base.as_ptr(), self.index_of(seq), self.stride) }
    }

    /// Ask the CPU to fetch `seq`'s slot for writing ahead of time: its first cache line comes
    /// to this core with every other copy invalidated, so a producer that asks for a slot a few
    /// events before it writes there does not stall on the consumer's core handing the line
    /// over. Only a hint: it changes nothing any thread reads, takes any sequence (the slot is
    /// found as for any other), and does nothing where the CPU has no such prefetch.
    ///
    /// Ask for slots well past any claim in flight: a line taken from a producer still
    /// writing it has to go back. This asks the CPU's support each time (a load and a
    /// branch); a producer that prefetches on every publish keeps a
    /// [`WritePrefetch`](crate::WritePrefetch) and hands [`slot_ptr`](Self::slot_ptr) to it.
    ///
    /// ```
    /// let ring = seqflow_ring::RingBuffer::new(8, || 0u64).unwrap();
    /// ring.prefetch_for_write(12); // the slot of 4, which this producer writes next
    /// ```
    #[inline(always)]
    pub fn prefetch_for_write(&self, seq: i64) {
        if let Some(hint) = crate::WritePrefetch::detect() {
            hint.fetch(self.slot_ptr(seq).cast::<u8>().cast_const());
        }
    }

    /// The owner that keeps the slots alive.
    ///
    /// ```
    /// let ring = seqflow_ring::RingBuffer::new(2, || 0u8).unwrap();
    /// assert!(std::sync::Arc::strong_count(ring.owner()) >= 1);
    /// ```
    pub fn owner(&self) -> &Arc<dyn Send + Sync> {
        &self.owner
    }

    /// Whether the slots are this process's own heap memory (a ring made by
    /// [`RingBuffer::new`] or [`RingBuffer::with_byte_slots`]), as opposed to memory that other
    /// processes may map and read too (a shared-memory ring). Stages that mutate events in
    /// place rely on it: they can rule out other readers only of a ring nobody else maps.
    ///
    /// ```
    /// assert!(seqflow_ring::RingBuffer::new(2, || 0u8).unwrap().is_process_local());
    /// ```
    pub fn is_process_local(&self) -> bool {
        self.process_local
    }
}

impl<E: ?Sized + SlotCopy> RingBuffer<E> {
    /// Copy the event at `seq` out without making a reference to it, for readers that copy
    /// optimistically and validate afterwards (seqlock style: lossy subscribers, reading the
    /// newest event). The copy goes word by word with volatile reads (8- or 4-byte words when
    /// `E`'s size and alignment allow, else bytes): one volatile read of a large `E` is a single
    /// huge load that compilers handle badly, and it would not be atomic either. A
    /// [`DynByteSlot`]'s copy is its payload (the length read first, then that many bytes).
    ///
    /// # Safety
    /// A producer may be writing the slot meanwhile only if the caller then discards the copy
    /// unread (it checks, after an `Acquire` fence, that no producer claimed the slot's next
    /// lap); only a copy nobody wrote during may be passed to [`SlotCopy::assume_whole`].
    /// This read still races with such a write under the Rust memory model (the race
    /// `crossbeam_utils::atomic::AtomicCell` documents for types without native atomics).
    ///
    /// ```
    /// use seqflow_ring::SlotCopy;
    /// let ring = seqflow_ring::RingBuffer::new(4, || [7u8; 3]).unwrap();
    /// // SAFETY: single-threaded, nobody writes the slot: the copy is the whole event.
    /// assert_eq!(unsafe { <[u8; 3]>::assume_whole(ring.copy_out(5)) }, [7, 7, 7]);
    /// ```
    #[inline]
    pub unsafe fn copy_out(&self, seq: i64) -> E::Raw {
        // SAFETY: the slot of `seq` in a ring of this stride, aligned by every constructor;
        // concurrent writes are the caller's contract (above).
        unsafe { E::copy_raw(self.slot_ptr(seq), self.stride) }
    }
}

impl<E: ?Sized> Clone for RingBuffer<E> {
    /// Another handle to the same slots.
    fn clone(&self) -> Self {
        Self {
            base: self.base,
            stride: self.stride,
            capacity: self.capacity,
            owner: Arc::clone(&self.owner),
            process_local: self.process_local,
            _event: PhantomData,
        }
    }
}

impl<E: ?Sized> std::fmt::Debug for RingBuffer<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingBuffer")
            .field("capacity", &self.capacity.get())
            .field("stride", &self.stride)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The count of events in the filled part of a line, for every stride: what the division
    /// `end % 64 / stride` gives where the stride divides a line, 0 elsewhere.
    #[test]
    fn partial_line_matches_the_division_for_every_stride() {
        fn check<E: Slot + Sized>(ring: &RingBuffer<E>) {
            let stride = ring.stride();
            for seq in 0..256 {
                let end = ring.slot_ptr(seq).cast::<u8>().addr() + stride;
                let expected = if stride == 0 || stride >= 64 || 64 % stride != 0 {
                    0
                } else {
                    end % 64 / stride
                };
                assert_eq!(
                    ring.partial_line(seq),
                    expected,
                    "stride {stride}, seq {seq}"
                );
            }
        }
        check(&RingBuffer::new(64, || 0u8).unwrap());
        check(&RingBuffer::new(64, || 0u16).unwrap());
        check(&RingBuffer::new(64, || [0u8; 3]).unwrap());
        check(&RingBuffer::new(64, || 0u32).unwrap());
        check(&RingBuffer::new(64, || [0u32; 3]).unwrap());
        check(&RingBuffer::new(64, || 0u64).unwrap());
        check(&RingBuffer::new(64, || [0u64; 2]).unwrap());
        check(&RingBuffer::new(64, || [0u64; 3]).unwrap());
        check(&RingBuffer::new(64, || [0u64; 4]).unwrap());
        check(&RingBuffer::new(64, || [0u64; 8]).unwrap());
        check(&RingBuffer::new(64, || [0u64; 16]).unwrap());
        check(&RingBuffer::new(64, || ()).unwrap());
    }

    /// Events with padding (uninitialised bytes) and of every word size copy out whole (Miri
    /// checks that no padding byte is read as an integer).
    #[test]
    fn copy_out_handles_padding_and_odd_sizes() {
        #[derive(Clone, Copy, PartialEq, Debug)]
        struct Padded {
            a: u8,
            b: u64,
        }
        let ring = RingBuffer::new(4, || Padded { a: 1, b: 2 }).unwrap();
        // SAFETY: single-threaded test: nobody writes the slot during the copy.
        let copy = unsafe { Padded::assume_whole(ring.copy_out(5)) };
        assert_eq!(copy, Padded { a: 1, b: 2 });
        let ring = RingBuffer::new(4, || [7u8; 5]).unwrap();
        // SAFETY: as above.
        let bytes = unsafe { <[u8; 5]>::assume_whole(ring.copy_out(1)) };
        assert_eq!(bytes, [7u8; 5]);
        let ring = RingBuffer::new(4, || (3u32, 4u16)).unwrap();
        // SAFETY: as above.
        let pair = unsafe { <(u32, u16)>::assume_whole(ring.copy_out(2)) };
        assert_eq!(pair, (3u32, 4u16));
    }

    #[test]
    fn factory_called_once_per_slot() {
        let calls = AtomicUsize::new(0);
        let ring = RingBuffer::new(64, || calls.fetch_add(1, Ordering::Relaxed)).unwrap();
        assert_eq!(calls.load(Ordering::Relaxed), 64);
        // SAFETY: single-threaded test.
        let firsts: Vec<usize> = (0..64).map(|s| unsafe { *ring.get(s) }).collect();
        assert_eq!(firsts, (0..64).collect::<Vec<_>>());
    }

    /// Every slot is reachable through the ring's pointer, not only slot 0 (Miri checks the
    /// provenance; a pointer derived from slot 0 alone fails here).
    #[test]
    fn every_slot_writable_and_readable() {
        let ring = RingBuffer::new(8, || 0u64).unwrap();
        for seq in 0..16 {
            // SAFETY: single-threaded test: nobody else touches the ring.
            unsafe { *ring.get_mut(seq) = seq as u64 };
        }
        // SAFETY: as above.
        let lap: Vec<u64> = (0..8).map(|s| unsafe { *ring.get(s) }).collect();
        assert_eq!(lap, (8..16).collect::<Vec<u64>>());
    }

    #[test]
    fn events_drop_with_last_handle() {
        let live = Arc::new(());
        let ring = RingBuffer::new(8, || Arc::clone(&live)).unwrap();
        let other = ring.clone();
        drop(ring);
        assert_eq!(Arc::strong_count(&live), 9);
        drop(other);
        assert_eq!(Arc::strong_count(&live), 1);
    }

    #[test]
    fn too_large_is_an_error_not_an_allocation() {
        assert_eq!(
            RingBuffer::new(1 << 40, || 0u8).err(),
            Some(CapacityError::TooLarge(1 << 40))
        );
    }
}
