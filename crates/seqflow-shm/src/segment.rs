//! [`Segment`]: a mapped, validated segment and typed views of its regions (event type aside).
//!
//! Creating (`create.rs`) and opening (`open.rs`) both end here: the layout is known to match the
//! header and the file, and every region view below was bounds- and alignment-checked once.

use crate::futex::FutexWord;
use crate::header::{Header, HeaderFields};
use crate::layout::Layout;
use crate::mapping::Mapping;
use crate::producer_slot::ProducerSlot;
use crate::registry::{ConsumerEntry, PoolEntry};
use crate::{ProducerMode, SegmentName, ShmError, WaitKind};
use seqflow_sequence::sync::atomic::{AtomicI8, AtomicU32};
use seqflow_sequence::{OwnedRef, Sequence};
use seqflow_sequencer::{GatingSlot, GatingTable};
use std::ptr::NonNull;
use std::sync::Arc;

/// A mapped segment whose header and layout were checked.
#[derive(Clone)]
pub(crate) struct Segment {
    pub map: Arc<Mapping>,
    pub fields: HeaderFields,
    pub layout: Layout,
    pub mode: ProducerMode,
    pub wait: WaitKind,
    pub header: OwnedRef<Header>,
    pub cursor: OwnedRef<Sequence>,
    pub gating: GatingTable,
    pub availability: Option<OwnedRef<[AtomicI8]>>,
    pub registry: OwnedRef<[ConsumerEntry]>,
    pub producers: OwnedRef<[ProducerSlot]>,
    pub pools: OwnedRef<[PoolEntry]>,
    pub futex: OwnedRef<FutexWord>,
    /// The first event slot (`capacity` slots of `fields.event_size` bytes follow).
    pub events: NonNull<u8>,
}

// SAFETY: `events` points into the mapping that `map` keeps alive; it is only turned into a
// `RingBuffer`, whose contract governs access. Everything else is `Send + Sync` already.
unsafe impl Send for Segment {}
// SAFETY: as above.
unsafe impl Sync for Segment {}

impl Segment {
    /// Build the views of a mapping whose header fields and layout were validated.
    pub fn from_validated(
        map: Arc<Mapping>,
        fields: HeaderFields,
        layout: Layout,
        mode: ProducerMode,
        wait: WaitKind,
    ) -> Result<Self, ShmError> {
        let name = map.name().to_string();
        let corrupt = |field: &'static str, found: u64| ShmError::CorruptHeader {
            name: name.clone(),
            field,
            found,
        };
        let consumers = fields.max_consumers as usize;
        let producers = fields.max_producers as usize;
        let pools = fields.max_pools as usize;
        let capacity =
            usize::try_from(fields.capacity).map_err(|_| corrupt("capacity", fields.capacity))?;
        let header = map
            .owned::<Header>(0)
            .ok_or_else(|| corrupt("header_size", 0))?;
        let cursor = map
            .owned::<Sequence>(layout.cursor)
            .ok_or_else(|| corrupt("cursor offset", layout.cursor))?;
        let high_water = map
            .owned::<AtomicU32>(layout.high_water)
            .ok_or_else(|| corrupt("high_water offset", layout.high_water))?;
        let slots = map
            .owned_slice::<GatingSlot>(layout.gating, consumers)
            .ok_or_else(|| corrupt("gating offset", layout.gating))?;
        let registry = map
            .owned_slice::<ConsumerEntry>(layout.registry, consumers)
            .ok_or_else(|| corrupt("registry offset", layout.registry))?;
        let producer_slots = map
            .owned_slice::<ProducerSlot>(layout.producers, producers)
            .ok_or_else(|| corrupt("producers offset", layout.producers))?;
        let pool_slots = map
            .owned_slice::<PoolEntry>(layout.pools, pools)
            .ok_or_else(|| corrupt("pools offset", layout.pools))?;
        let availability = match mode {
            ProducerMode::Single => None,
            ProducerMode::MultiCas => Some(
                map.owned_slice::<AtomicI8>(layout.availability, capacity)
                    .ok_or_else(|| corrupt("availability offset", layout.availability))?,
            ),
        };
        let futex_offset = std::mem::offset_of!(Header, futex) as u64;
        let futex = map
            .owned::<FutexWord>(futex_offset)
            .ok_or_else(|| corrupt("futex offset", futex_offset))?;
        let event_bytes = capacity
            .checked_mul(fields.event_size as usize)
            .ok_or_else(|| corrupt("event_size", fields.event_size))?;
        let events = map
            .region::<u8>(layout.events, event_bytes)
            .ok_or_else(|| corrupt("events offset", layout.events))?;
        if (events.as_ptr() as usize) % (fields.event_align as usize).max(1) != 0 {
            return Err(corrupt("event_align", fields.event_align));
        }
        Ok(Self {
            // SAFETY: the high-water word and the slots are the segment's gating region, which
            // only `GatingTable`s write, in every process.
            gating: unsafe { GatingTable::__internal_from_parts(high_water, slots) },
            map,
            fields,
            layout,
            mode,
            wait,
            header,
            cursor,
            availability,
            registry,
            producers: producer_slots,
            pools: pool_slots,
            futex,
            events,
        })
    }

    /// The segment name.
    pub fn name(&self) -> &SegmentName {
        self.map.name()
    }

    /// The ring capacity.
    pub fn capacity(&self) -> usize {
        self.fields.capacity as usize
    }

    /// The last sequence readers of a ring closed after `end` can reach: `end`, or the cursor
    /// when the ring has a single producer that can publish nothing more and the end covers a
    /// claim it (or a predecessor) recorded and never published. A
    /// multi-producer ring needs no such case: a dead producer's claim is released (marked
    /// published and reported), so its end is always reached.
    ///
    /// The single producer can publish nothing more when it is gone (dead, or detached), or when
    /// it is alive without a claim recorded past the cursor. Every claim it starts now is refused
    /// (it checks the stopping word first). A claim it made before the close settled is accepted
    /// only if the settling process read its recorded end (the handshake in
    /// `ShmClaimer::record_claim`), and that read happens before this one: the settler's
    /// `Acquire` load of `end`, its `AcqRel` swap of the closed word, this process's `Acquire`
    /// load of it. So the load below sees that end or a later one, and a later one comes after
    /// a publish through it, which the cursor read then shows (`end` is stored `Release`). A
    /// producer that took over from a dead one has its `end` at the cursor
    /// (`inherit_single_claim`) and, if the close's end covers the dead claim, is refused every
    /// claim: before this, its readers waited for the dead claim for as long as it lived.
    pub(crate) fn reachable_end(&self, end: i64) -> i64 {
        use std::sync::atomic::{fence, Ordering};
        if self.mode != ProducerMode::Single || self.cursor.get() >= end {
            return end;
        }
        // The close (read by the caller) before the producer slot: a producer that attached
        // after it has its claim gate shut, and one that claims after it is refused by its
        // look at the stopping word and takes the claim back (the end returns to the cursor).
        fence(Ordering::SeqCst);
        let slot = &self.producers[0];
        let owner = slot.owner.load(Ordering::Acquire);
        if owner != 0
            && crate::liveness::holder_alive(self.map.fd(), crate::liveness::PRODUCER_BASE, owner)
            && slot.end.load(Ordering::Acquire) > self.cursor.get()
        {
            return end;
        }
        // The producer's last publish came before its lock was released (its death or its
        // detach), which the check above saw, or before its recorded end, which the cursor has
        // reached: the cursor read now is final.
        self.cursor.get().min(end)
    }
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("name", self.name())
            .field("mode", &self.mode)
            .field("capacity", &self.fields.capacity)
            .field("size", &self.layout.total)
            .finish_non_exhaustive()
    }
}
