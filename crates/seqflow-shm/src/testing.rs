//! Test support (hidden): write raw words into a segment, the way a corrupt, foreign or crashed
//! writer would, so tests can check that every such state is reported and never trusted.

use crate::header::{Header, HEADER_SIZE};
use crate::producer_slot::ProducerSlot;
use rustix::mm::{MapFlags, ProtFlags};
use seqflow_sequence::sync::atomic::Ordering;
use std::io;

/// A header word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// Magic number.
    Magic,
    /// Layout version.
    Version,
    /// Header size.
    HeaderSize,
    /// Total size.
    TotalSize,
    /// Init state.
    InitState,
    /// Producer mode.
    ProducerMode,
    /// Capacity.
    Capacity,
    /// Event size.
    EventSize,
    /// Event alignment.
    EventAlign,
    /// Fingerprint.
    Fingerprint,
    /// Consumer slots.
    MaxConsumers,
    /// Wait kind.
    WaitKind,
    /// Offset `i` (cursor, high water, gating, registry, producers, pools, availability, events).
    Offset(usize),
}

fn map_segment<T>(name: &str, f: impl FnOnce(*mut u8, usize) -> T) -> io::Result<T> {
    let fd = rustix::shm::open(name, rustix::shm::OFlags::RDWR, rustix::fs::Mode::empty())?;
    let size = rustix::fs::fstat(&fd)?.st_size as usize;
    if size < HEADER_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "segment smaller than a header",
        ));
    }
    // SAFETY: a fresh shared mapping chosen by the kernel, aliasing no Rust object.
    let ptr = unsafe {
        rustix::mm::mmap(
            std::ptr::null_mut(),
            size,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::SHARED,
            &fd,
            0,
        )
    }?;
    let out = f(ptr.cast(), size);
    // SAFETY: exactly the mapping made above; `f` kept no reference into it.
    unsafe { rustix::mm::munmap(ptr, size) }?;
    Ok(out)
}

/// Store `value` into a header word of the segment `name`; returns the previous value.
pub fn poke_header(name: &str, field: Field, value: u64) -> io::Result<u64> {
    map_segment(name, |ptr, _| {
        // SAFETY: the mapping is at least HEADER_SIZE bytes and page aligned; `Header` is all
        // atomics, valid for any bytes.
        let h = unsafe { &*ptr.cast::<Header>() };
        let (i, o, r) = (&h.ident, &h.offsets, Ordering::SeqCst);
        let v32 = value as u32;
        match field {
            Field::Magic => i.magic.swap(value, r),
            Field::Version => u64::from(i.version.swap(v32, r)),
            Field::HeaderSize => u64::from(i.header_size.swap(v32, r)),
            Field::TotalSize => i.total_size.swap(value, r),
            Field::InitState => u64::from(i.init_state.swap(v32, r)),
            Field::ProducerMode => u64::from(i.producer_mode.swap(v32, r)),
            Field::Capacity => i.capacity.swap(value, r),
            Field::EventSize => i.event_size.swap(value, r),
            Field::EventAlign => i.event_align.swap(value, r),
            Field::Fingerprint => i.fingerprint.swap(value, r),
            Field::MaxConsumers => u64::from(i.max_consumers.swap(v32, r)),
            Field::WaitKind => u64::from(i.wait_kind.swap(v32, r)),
            Field::Offset(k) => {
                let words = [
                    &o.cursor,
                    &o.high_water,
                    &o.gating,
                    &o.registry,
                    &o.producers,
                    &o.pools,
                    &o.availability,
                    &o.events,
                ];
                words.get(k).map_or(0, |w| w.swap(value, r))
            }
        }
    })
}

/// Set the state word of producer slot `slot` (0 idle, 1 claiming, 2 claimed, 3 abandoned), as
/// a producer that dies at that point would leave it.
pub fn poke_producer_state(name: &str, slot: usize, state: u32) -> io::Result<()> {
    map_segment(name, |ptr, size| {
        // SAFETY: as in `poke_header`.
        let h = unsafe { &*ptr.cast::<Header>() };
        let offset = h.offsets.producers.load(Ordering::SeqCst) as usize;
        let end = offset + (slot + 1) * std::mem::size_of::<ProducerSlot>();
        if end > size || offset % 128 != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "producer slot out of range",
            ));
        }
        // SAFETY: in bounds and aligned (checked above); `ProducerSlot` is all atomics.
        let p = unsafe { &*ptr.add(offset).cast::<ProducerSlot>().add(slot) };
        p.state.store(state, Ordering::SeqCst);
        Ok(())
    })?
}

/// Claim `n` slots of a multi-producer ring with a bare claimer and forget it, the way a
/// producer killed right after its claim CAS leaves the ring (no producer-table record).
/// Returns the claimed range; `None` for a single-producer ring.
pub fn abandon_raw_claim<E: ?Sized + crate::ShmEvent>(
    ring: &crate::ShmRing<E>,
    n: usize,
) -> Option<Result<seqflow_sequencer::SequenceRange, seqflow_sequencer::ClaimError>> {
    use seqflow_sequencer::Claimer;
    let mut raw = ring.sequencer().multi()?.claimer();
    let claimed = raw.claim(n);
    std::mem::forget(raw);
    Some(claimed)
}

/// Take the segment's consumer-registry lock and hold it until the returned value is dropped,
/// the way a process stopped (SIGSTOP) in the middle of a registration holds it.
pub fn hold_registry_lock<E: ?Sized + crate::ShmEvent>(
    ring: &crate::ShmRing<E>,
) -> Result<Box<dyn std::any::Any>, crate::ShmError> {
    Ok(Box::new(ring.inner().lock_registry()?))
}
