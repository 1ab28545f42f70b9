//! [`GatingTable`]: the consumer sequences that hold producers back.
//!
//! A fixed table of slots, each a [`Sequence`] plus a state word, with a high-water mark so the
//! producer scans only the slots ever used. The same `#[repr(C)]` table lives on the heap (one
//! process) or in a shared-memory segment (the consumer registry of `seqflow-shm`), so
//! registration, release and the minimum are one piece of code for both.

use seqflow_ring::CapacityError;
use seqflow_sequence::sync::atomic::{fence, AtomicU32, Ordering};
use seqflow_sequence::{OwnedRef, ReadOnlySequence, Sequence};
use std::fmt;

const FREE: u32 = 0;
const RESERVED: u32 = 1;
const GATING: u32 = 2;
const FOLLOWING: u32 = 3;

/// One consumer's slot: its sequence and whether it gates producers.
#[repr(C, align(128))]
pub struct GatingSlot {
    sequence: Sequence,
    state: AtomicU32,
}

impl GatingSlot {
    /// A free slot.
    pub fn new() -> Self {
        Self {
            sequence: Sequence::default(),
            state: AtomicU32::new(FREE),
        }
    }

    /// The slot's sequence, read-only: only the registration that holds the slot moves it.
    ///
    /// ```compile_fail
    /// let table = seqflow_sequencer::GatingTable::new(1).unwrap();
    /// let _held = table.register(true, || -1).unwrap();
    /// table.slots()[0].sequence().set(1 << 40); // no way to move another consumer's sequence
    /// ```
    pub fn sequence(&self) -> &ReadOnlySequence {
        self.sequence.read_only()
    }

    /// Whether a consumer holds the slot.
    pub fn is_in_use(&self) -> bool {
        self.state.load(Ordering::Acquire) != FREE
    }

    /// Whether the slot holds producers back.
    pub fn is_gating(&self) -> bool {
        self.state.load(Ordering::Acquire) == GATING
    }
}

impl Default for GatingSlot {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a consumer could not be registered.
///
/// ```
/// use seqflow_sequencer::RegisterError;
/// assert!(RegisterError::TableFull { max: 2 }.to_string().contains("2"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// Every slot is taken.
    #[error("all {max} consumer slots are in use; raise max_consumers")]
    TableFull {
        /// The table size.
        max: usize,
    },
    /// The table belongs to a shared-memory segment, whose registry accounts for every slot
    /// (so that it can release the slots of dead processes): consumers register through the
    /// ring (`ShmRing::consumer` and the like), never on the table directly.
    #[error("this gating table is managed by a shared-memory registry: register through the ring")]
    Managed,
}

/// The most consumers a heap [`GatingTable`] holds: 65536 (each slot takes 256 bytes, so the
/// largest table is 16 MiB). Lap numbers and the registry's `u32` high-water mark need far less.
pub const MAX_CONSUMERS: usize = 1 << 16;

/// The gating sequences of one ring.
///
/// ```
/// use seqflow_sequencer::GatingTable;
/// let table = GatingTable::new(4).unwrap();
/// let a = table.register(true, || 10).unwrap();
/// let b = table.register(true, || 10).unwrap();
/// a.set_sequence(12);
/// assert_eq!(table.minimum(99), 10);
/// b.set_gating(false);
/// assert_eq!(table.minimum(99), 12);
/// drop(a);
/// assert_eq!(table.minimum(99), 99);
/// ```
#[derive(Clone)]
pub struct GatingTable {
    high_water: OwnedRef<AtomicU32>,
    slots: OwnedRef<[GatingSlot]>,
    /// Made over memory owned elsewhere: slots are taken only through the owner
    /// ([`register`](Self::register) refuses).
    managed: bool,
}

impl GatingTable {
    /// A heap table of `max_consumers` free slots (at most [`MAX_CONSUMERS`]).
    ///
    /// ```
    /// use seqflow_sequencer::{GatingTable, MAX_CONSUMERS};
    /// assert_eq!(GatingTable::new(8).unwrap().max_consumers(), 8);
    /// assert!(GatingTable::new(MAX_CONSUMERS + 1).is_err());
    /// ```
    pub fn new(max_consumers: usize) -> Result<Self, CapacityError> {
        if max_consumers > MAX_CONSUMERS {
            return Err(CapacityError::TooManyConsumers {
                requested: max_consumers,
                max: MAX_CONSUMERS,
            });
        }
        let slots: Box<[GatingSlot]> = (0..max_consumers).map(|_| GatingSlot::new()).collect();
        Ok(Self {
            high_water: OwnedRef::new(AtomicU32::new(0)),
            slots: OwnedRef::from_boxed_slice(slots),
            managed: false,
        })
    }

    /// A table over memory owned elsewhere (a shared-memory segment). Internal to seqflow's
    /// shared-memory layer; not part of the public API.
    ///
    /// # Safety
    /// `high_water` must start at 0 and the slots free (all-zero memory is both) when the
    /// table is new; a table reopened from memory carries on where it was. Nothing but
    /// `GatingTable`s may write `high_water` or the slots: a caller that kept another way to
    /// store into them could hide a consumer from the producers. The table is *managed*:
    /// [`register`](Self::register) refuses ([`RegisterError::Managed`]), the owner takes slots
    /// with [`__internal_register`](Self::__internal_register).
    #[doc(hidden)]
    pub unsafe fn __internal_from_parts(
        high_water: OwnedRef<AtomicU32>,
        slots: OwnedRef<[GatingSlot]>,
    ) -> Self {
        Self {
            high_water,
            slots,
            managed: true,
        }
    }

    /// How many consumers the table can hold.
    pub fn max_consumers(&self) -> usize {
        self.slots.len()
    }

    /// The slots ever used (free ones included), for inspection.
    ///
    /// ```
    /// let t = seqflow_sequencer::GatingTable::new(4).unwrap();
    /// let _r = t.register(false, || 0).unwrap();
    /// assert_eq!(t.used_slots().len(), 1);
    /// ```
    pub fn used_slots(&self) -> &[GatingSlot] {
        let used = (self.high_water.load(Ordering::Acquire) as usize).min(self.slots.len());
        &self.slots[..used]
    }

    /// All slots (read-only), for inspection.
    pub fn slots(&self) -> &[GatingSlot] {
        &self.slots
    }

    /// Take a free slot. Its sequence is set to `start()` before the slot becomes visible as
    /// gating, then raised to `start()` again afterwards: a producer that scanned the table just
    /// before the slot appeared computed a minimum no higher than its cursor then, and `start`
    /// (the producer cursor, for a consumer added to a running ring) is read after that, so the
    /// new consumer never misses a slot the producer could overwrite (the LMAX argument for
    /// adding gating sequences at run time). Read the starting point from
    /// [`GatingRegistration::sequence`] afterwards.
    ///
    /// A table over a shared-memory segment refuses ([`RegisterError::Managed`]): its
    /// registry must account for every slot, or a slot taken here would be freed by the reaper
    /// while still in use and a consumer that then reads through it would not gate the
    /// producer.
    pub fn register(
        &self,
        gating: bool,
        start: impl Fn() -> i64,
    ) -> Result<GatingRegistration, RegisterError> {
        if self.managed {
            return Err(RegisterError::Managed);
        }
        // SAFETY: an unmanaged (heap) table has no owner that accounts for its slots.
        unsafe { self.__internal_register(gating, start) }
    }

    /// [`register`](Self::register) for the owner of a managed table. Internal to seqflow's
    /// shared-memory layer; not part of the public API.
    ///
    /// # Safety
    /// The caller records the registration where the table's owner accounts for it (the
    /// segment's registry), so the slot is released only when its holder is gone.
    #[doc(hidden)]
    pub unsafe fn __internal_register(
        &self,
        gating: bool,
        start: impl Fn() -> i64,
    ) -> Result<GatingRegistration, RegisterError> {
        let index = self
            .slots
            .iter()
            .position(|slot| {
                slot.state
                    .compare_exchange(FREE, RESERVED, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            })
            .ok_or(RegisterError::TableFull {
                max: self.slots.len(),
            })?;
        let slot = &self.slots[index];
        slot.sequence.set(start());
        self.high_water
            .fetch_max(index as u32 + 1, Ordering::AcqRel);
        slot.state
            .store(if gating { GATING } else { FOLLOWING }, Ordering::SeqCst);
        // The re-read of `start` must not move before the state store (StoreLoad).
        fence(Ordering::SeqCst);
        slot.sequence.fetch_max(start());
        Ok(GatingRegistration::new(self.clone(), index))
    }

    /// The lowest sequence among gating slots, or `default` when none gates (or all are higher).
    ///
    /// Called by producers only when their cached minimum says the ring may be full.
    ///
    /// Starts with a `SeqCst` fence, the producer's half of the Dekker pair with
    /// [`register`](Self::register): the producer's cursor store (its last publish or claim) is
    /// ordered before its loads of the table, as the registering consumer's slot store is before
    /// its re-read of the cursor, so at least one of them sees the other. Without it a consumer
    /// added to a running ring could start behind a minimum the producer cached without seeing
    /// it, and read a slot the producer is overwriting (found by the loom model
    /// `tests/loom_gating_register.rs`; LMAX's `cursor.setVolatile` before its scan).
    #[inline]
    pub fn minimum(&self, default: i64) -> i64 {
        fence(Ordering::SeqCst);
        self.used_slots()
            .iter()
            .filter(|slot| slot.is_gating())
            .fold(default, |min, slot| min.min(slot.sequence.get()))
    }

    /// As [`minimum`](Self::minimum), with a default worth computing only when no slot gates:
    /// `floor()` is then read, and the table looked at once more after it (behind the same
    /// fence). A consumer registering meanwhile reads its start after it became visible, so
    /// either this second look sees it or it starts at or above the floor read here (the floor
    /// never goes down).
    ///
    /// ```
    /// let table = seqflow_sequencer::GatingTable::new(1).unwrap();
    /// assert_eq!(table.minimum_or_else(|| 7), 7);
    /// let _consumer = table.register(true, || 3).unwrap();
    /// assert_eq!(table.minimum_or_else(|| unreachable!()), 3);
    /// ```
    #[inline]
    pub fn minimum_or_else(&self, floor: impl FnOnce() -> i64) -> i64 {
        match self.minimum(i64::MAX) {
            i64::MAX => {
                let floor = floor();
                self.minimum(floor)
            }
            min => min,
        }
    }

    /// A writer for the sequence of slot `index`, which is held (`None` if it is free or out of
    /// range): the shared-memory layer hands a slot held for a declared consumer to the process
    /// that attaches as that consumer. Internal; not part of the public API.
    ///
    /// # Safety
    /// The caller becomes the slot's only writer: whoever held it before has stopped moving it
    /// (a dead process, or a slot reserved at creation that nobody has attached to).
    #[doc(hidden)]
    pub unsafe fn __internal_take_over(&self, index: usize) -> Option<OwnedRef<Sequence>> {
        self.slots
            .get(index)
            .filter(|slot| slot.is_in_use())
            .map(|_| self.slots.clone().map(|slots| &slots[index].sequence))
    }

    /// Raise the sequence of slot `index`, held by an idle worker of a pool, to the pool's work
    /// sequence, so that a worker which stopped asking for events does not hold producers back.
    /// Reads `work` first, then `is_idle()`; raises (never lowers) only if the worker is idle.
    /// Returns whether the sequence moved. Internal; not part of the public API.
    ///
    /// Why this is safe for the protocol of [`seqflow_pipeline::claim_from_pool`]-style workers:
    /// every event at or below the work sequence read here is claimed, and each claimed event is
    /// either handled or held back by its claimer's own sequence (which it set below the event
    /// before its claim). If the worker at `index` claimed after this read, its CAS took `work`
    /// from the value it read, so the value read here is at most that and the raise stays below
    /// its claim. If its claim is what this read saw, the count it stored before that CAS is
    /// visible to `is_idle()`, which therefore answers false until it has finished.
    ///
    /// # Safety
    /// Slot `index` must be held by a worker of the pool whose work sequence is `work`, and must
    /// stay held by it during the call (no release and re-registration meanwhile). `is_idle()`
    /// must load with `Acquire` a count that the worker stores (`Release`) before every CAS on
    /// `work` that may claim events, and sets to zero only after it has finished reading every
    /// event it claimed; the worker claims only published events, by CAS on `work`, with its own
    /// sequence at or below the value its CAS replaces. The worker's own updates of its sequence
    /// must never lower it (a `fetch_max`: a plain store could undo a raise), and a wait for a
    /// sequence at or below its (raised) sequence must end: producers may lap that sequence.
    #[doc(hidden)]
    pub unsafe fn __internal_raise_idle_worker(
        &self,
        index: usize,
        work: &Sequence,
        is_idle: impl FnOnce() -> bool,
    ) -> bool {
        let Some(slot) = self.slots.get(index) else {
            return false;
        };
        let claimed = work.get();
        if !is_idle() {
            return false;
        }
        slot.sequence.fetch_max(claimed) < claimed
    }

    /// Put every slot's sequence at [`INITIAL_SEQUENCE`](seqflow_sequence::INITIAL_SEQUENCE):
    /// the shared-memory layer initialises a new segment's table with it. Internal; not part of
    /// the public API.
    ///
    /// # Safety
    /// No slot may be held: the table is new and not yet visible to any consumer or producer.
    #[doc(hidden)]
    pub unsafe fn __internal_initialise(&self) {
        for slot in self.slots.iter() {
            slot.sequence.set(seqflow_sequence::INITIAL_SEQUENCE);
        }
    }

    /// Free slot `index`, whoever held it: the shared-memory layer releases the slot of a
    /// consumer process that died. Returns whether the slot was in use. Internal; not part of
    /// the public API.
    ///
    /// # Safety
    /// Nobody may read ring slots on the strength of this slot any more: its holder is dead (or
    /// has stopped reading), and no live stage depends on its sequence. Otherwise the producer
    /// may overwrite events that are being read.
    #[doc(hidden)]
    pub unsafe fn __internal_force_release(&self, index: usize) -> bool {
        self.slots
            .get(index)
            .is_some_and(|slot| slot.state.swap(FREE, Ordering::AcqRel) != FREE)
    }
}

impl fmt::Debug for GatingTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for slot in self.used_slots() {
            if slot.is_in_use() {
                list.entry(&(slot.sequence.get_relaxed(), slot.is_gating()));
            }
        }
        list.finish()
    }
}

/// A consumer's hold on a slot of a [`GatingTable`]; frees the slot when dropped.
///
/// Only the holder moves the slot's sequence ([`set_sequence`](Self::set_sequence)); everybody
/// else sees it through a read-only view ([`sequence`](Self::sequence)).
///
/// ```
/// let table = seqflow_sequencer::GatingTable::new(1).unwrap();
/// let r = table.register(true, || 5).unwrap();
/// assert_eq!(r.sequence().get(), 5);
/// assert!(table.register(true, || 5).is_err());
/// drop(r);
/// assert!(table.register(true, || 5).is_ok());
/// ```
pub struct GatingRegistration {
    table: GatingTable,
    index: usize,
    /// The slot's sequence, for the holder's stores.
    sequence: OwnedRef<Sequence>,
}

impl GatingRegistration {
    fn new(table: GatingTable, index: usize) -> Self {
        let sequence = table.slots.clone().map(|slots| &slots[index].sequence);
        Self {
            table,
            index,
            sequence,
        }
    }

    /// The slot's sequence, as a read-only reference other stages can depend on.
    pub fn sequence(&self) -> OwnedRef<ReadOnlySequence> {
        self.sequence.clone().map(Sequence::read_only)
    }

    /// Move the slot's sequence to `value` (`Release`): the holder is done with every event up
    /// to it, and producers may reuse those slots.
    #[inline]
    pub fn set_sequence(&self, value: i64) {
        self.sequence.set(value);
    }

    /// The slot's sequence now, as the holder last stored it (`Relaxed`).
    #[inline]
    pub fn sequence_relaxed(&self) -> i64 {
        self.sequence.get_relaxed()
    }

    /// The slot index in the table.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Make the slot gate producers (`true`) or only be followed by later stages (`false`).
    ///
    /// A slot may stop gating only once stages that follow it gate in its place.
    pub fn set_gating(&self, gating: bool) {
        self.table.slots[self.index]
            .state
            .store(if gating { GATING } else { FOLLOWING }, Ordering::Release);
    }

    /// Whether the slot gates producers.
    pub fn is_gating(&self) -> bool {
        self.table.slots[self.index].is_gating()
    }

    /// Keep the slot held after this handle is gone (it is then freed only by the shared-memory
    /// layer, which tracks the holder itself). Returns the slot index and the slot's sequence for
    /// the new holder's stores. Internal; not part of the public API.
    #[doc(hidden)]
    pub fn __internal_leak(self) -> (usize, OwnedRef<Sequence>) {
        let index = self.index;
        // Take the fields without running `Drop for GatingRegistration` (which frees the slot).
        let this = std::mem::ManuallyDrop::new(self);
        // `this` is never used again and its `Drop` never runs; each field is moved out exactly
        // once, so the memory's owner (for a shared segment: the mapping) is released as usual.
        // SAFETY: as above: the only read of `table`.
        let table = unsafe { std::ptr::read(&this.table) };
        // SAFETY: as above: the only read of `sequence`.
        let sequence = unsafe { std::ptr::read(&this.sequence) };
        drop(table);
        (index, sequence)
    }
}

impl Drop for GatingRegistration {
    fn drop(&mut self) {
        self.table.slots[self.index]
            .state
            .store(FREE, Ordering::Release);
    }
}

impl fmt::Debug for GatingRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatingRegistration")
            .field("index", &self.index)
            .field("sequence", &self.sequence_relaxed())
            .field("gating", &self.is_gating())
            .finish()
    }
}

// The shared-memory segment stores the table at fixed offsets: the sequence at offset 0, the
// state word right after its 128 bytes, 256 bytes per slot.
#[cfg(not(loom))]
const _: () = {
    assert!(std::mem::size_of::<GatingSlot>() == 256);
    assert!(std::mem::align_of::<GatingSlot>() == 128);
    assert!(std::mem::offset_of!(GatingSlot, sequence) == 0);
    assert!(std::mem::offset_of!(GatingSlot, state) == 128);
};
