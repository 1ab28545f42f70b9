//! Where each region of a segment starts, computed from the sizes in the header.
//!
//! ```text
//! 0      header (512 bytes: ident, offsets, futex word, status)
//!        cursor               Sequence                      128
//!        gating high water    AtomicU32 on its own 128 bytes
//!        gating slots         GatingSlot x max_consumers    256 each
//!        consumer registry    ConsumerEntry x max_consumers 128 each
//!        producer slots       ProducerSlot x max_producers  128 each
//!        worker pools         PoolEntry x max_pools         256 each
//!        availability         AtomicI8 x capacity           (multi producer only), padded to 128
//!        events               E x capacity, aligned to max(128, align_of E)
//! total  rounded up to 4096
//! ```
//!
//! The same function lays out a new segment and checks an existing one: an opener recomputes
//! every offset from the header's sizes and refuses the segment when one differs, so no offset
//! read from another process is ever used unchecked. All arithmetic is checked.

use crate::header::{HeaderFields, HEADER_SIZE};
use crate::producer_slot::ProducerSlot;
use crate::registry::{ConsumerEntry, PoolEntry};
use seqflow_ring::Capacity;
use seqflow_sequence::Sequence;
use seqflow_sequencer::GatingSlot;

/// Most consumers a segment can hold.
pub const MAX_CONSUMERS: usize = 4096;
/// Most producer slots a segment can hold.
pub const MAX_PRODUCERS: usize = 1024;
/// Most worker pools a segment can hold.
pub const MAX_POOLS: usize = 256;
/// Largest event alignment (mappings are page aligned).
pub(crate) const MAX_EVENT_ALIGN: u64 = 4096;
/// Largest event size.
pub(crate) const MAX_EVENT_SIZE: u64 = 1 << 30;
const BLOCK: u64 = 128;
const PAGE: u64 = 4096;

/// The sizes a layout is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Params {
    pub capacity: u64,
    pub event_size: u64,
    pub event_align: u64,
    pub max_consumers: u64,
    pub max_producers: u64,
    pub max_pools: u64,
    pub multi: bool,
}

/// Byte offsets of every region, and the total size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub cursor: u64,
    pub high_water: u64,
    pub gating: u64,
    pub registry: u64,
    pub producers: u64,
    pub pools: u64,
    /// 0 when there is no availability buffer (single producer).
    pub availability: u64,
    pub events: u64,
    pub total: u64,
}

/// Which parameter is out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutOfRange {
    pub field: &'static str,
    pub value: u64,
}

fn round_up(value: u64, to: u64) -> Option<u64> {
    value.checked_add(to - 1).map(|v| v / to * to)
}

impl Params {
    /// Check every size is in range (capacity is checked by the caller, which knows the name).
    pub fn check(&self) -> Result<(), OutOfRange> {
        let bad = |field, value| Err(OutOfRange { field, value });
        if self.event_size == 0 || self.event_size > MAX_EVENT_SIZE {
            return bad("event_size", self.event_size);
        }
        if !self.event_align.is_power_of_two() || self.event_align > MAX_EVENT_ALIGN {
            return bad("event_align", self.event_align);
        }
        if self.event_size % self.event_align != 0 {
            return bad("event_size", self.event_size);
        }
        if self.max_consumers == 0 || self.max_consumers > MAX_CONSUMERS as u64 {
            return bad("max_consumers", self.max_consumers);
        }
        if self.max_producers == 0 || self.max_producers > MAX_PRODUCERS as u64 {
            return bad("max_producers", self.max_producers);
        }
        if !self.multi && self.max_producers != 1 {
            return bad("max_producers", self.max_producers);
        }
        if self.max_pools > MAX_POOLS as u64 {
            return bad("max_pools", self.max_pools);
        }
        if usize::try_from(self.capacity).map_or(true, |c| Capacity::new(c).is_err()) {
            return bad("capacity", self.capacity);
        }
        Ok(())
    }

    /// The layout for these sizes; `None` if it overflows (only possible for sizes that
    /// [`check`](Self::check) refuses, or a total beyond the address space).
    pub fn layout(&self) -> Option<Layout> {
        let size = |n: u64, each: usize| n.checked_mul(each as u64);
        let mut off = HEADER_SIZE as u64;
        let cursor = off;
        off = off.checked_add(std::mem::size_of::<Sequence>() as u64)?;
        let high_water = off;
        off = off.checked_add(BLOCK)?;
        let gating = off;
        off = off.checked_add(size(self.max_consumers, std::mem::size_of::<GatingSlot>())?)?;
        let registry = off;
        off = off.checked_add(size(
            self.max_consumers,
            std::mem::size_of::<ConsumerEntry>(),
        )?)?;
        let producers = off;
        off = off.checked_add(size(
            self.max_producers,
            std::mem::size_of::<ProducerSlot>(),
        )?)?;
        let pools = off;
        off = off.checked_add(size(self.max_pools, std::mem::size_of::<PoolEntry>())?)?;
        let availability = if self.multi {
            let at = off;
            off = off.checked_add(round_up(size(self.capacity, 1)?, BLOCK)?)?;
            at
        } else {
            0
        };
        let events = round_up(off, self.event_align.max(BLOCK))?;
        off = events.checked_add(self.capacity.checked_mul(self.event_size)?)?;
        let total = round_up(off, PAGE)?;
        if total > isize::MAX as u64 {
            return None;
        }
        Some(Layout {
            cursor,
            high_water,
            gating,
            registry,
            producers,
            pools,
            availability,
            events,
            total,
        })
    }
}

impl Layout {
    /// The offsets in header order (see `header::OFFSET_NAMES`).
    pub fn offsets(&self) -> [u64; 8] {
        [
            self.cursor,
            self.high_water,
            self.gating,
            self.registry,
            self.producers,
            self.pools,
            self.availability,
            self.events,
        ]
    }
}

impl Params {
    /// The sizes recorded in a header (unchecked: call [`check`](Self::check)).
    pub fn from_header(h: &HeaderFields, multi: bool) -> Self {
        Self {
            capacity: h.capacity,
            event_size: h.event_size,
            event_align: h.event_align,
            max_consumers: u64::from(h.max_consumers),
            max_producers: u64::from(h.max_producers),
            max_pools: u64::from(h.max_pools),
            multi,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(multi: bool) -> Params {
        Params {
            capacity: 1024,
            event_size: 24,
            event_align: 8,
            max_consumers: 4,
            max_producers: if multi { 3 } else { 1 },
            max_pools: 2,
            multi,
        }
    }

    #[test]
    fn regions_are_aligned_and_in_order() {
        for multi in [false, true] {
            let p = params(multi);
            p.check().unwrap();
            let l = p.layout().unwrap();
            for off in l.offsets() {
                assert_eq!(off % 128, 0);
                assert!(off < l.total);
            }
            assert!(l.events + 1024 * 24 <= l.total);
            assert_eq!(l.total % 4096, 0);
            assert_eq!(l.availability != 0, multi);
        }
    }

    #[test]
    fn large_alignment_is_honoured() {
        let mut p = params(false);
        p.event_align = 4096;
        p.event_size = 4096;
        assert_eq!(p.layout().unwrap().events % 4096, 0);
    }

    #[test]
    fn out_of_range_is_refused_not_overflowed() {
        let mut p = params(true);
        p.capacity = 1 << 30;
        p.event_size = 1 << 30;
        assert!(p.check().is_ok());
        // 2^60 bytes of events: no overflow, but more than the address space allows here.
        let _ = p.layout();
        p.max_consumers = u64::MAX;
        assert!(p.check().is_err());
        assert!(p.layout().is_none());
        let mut q = params(false);
        q.event_align = 3;
        assert_eq!(q.check().unwrap_err().field, "event_align");
        q.event_align = 8;
        q.event_size = 12;
        assert_eq!(q.check().unwrap_err().field, "event_size");
    }
}
