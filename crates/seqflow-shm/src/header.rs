//! The segment header: what a process reads first, and checks before it trusts anything else.
//!
//! Every field is an atomic: another process may write any bytes at any time (a creator still
//! initialising, a crashed or hostile writer), and atomics make reading them defined behaviour
//! whatever they hold. The creator writes the fixed fields with `Relaxed` stores and then
//! publishes [`READY`] with a `Release` store of the init state; openers load the init state
//! with `Acquire` before reading the rest, so they see a complete header.

use crate::futex::FutexWord;
use rustix::fd::BorrowedFd;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// "SEQFLOW\x01" as a little-endian u64: the first 8 bytes of every segment.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"SEQFLOW\x01");
/// The layout version this build reads and writes; bump on any layout change, and on any
/// change to a protocol between processes (6: closers order producers with `membarrier`, and
/// producers registered for it skip their full fence, so a closer built for 5 must not meet
/// them; 7: a single producer records only its claim's end, so a consumer built for 6 would
/// not see its death mid-claim; 8: producers look only at the status line's `stopping` word,
/// which a closer or halter built for 7 would not set; 9: the availability buffer holds one byte
/// per slot, not four; 10: a multi producer that refuses a claim for a halt keeps it recorded,
/// in a producer state a build for 9 does not know).
pub(crate) const LAYOUT_VERSION: u32 = 10;

/// Init state: nobody has started (a fresh, zero-filled file).
pub(crate) const UNINIT: u32 = 0;
/// Init state: the creator is writing the segment.
pub(crate) const INITIALISING: u32 = 1;
/// Init state: the segment is complete; openers may use it.
pub(crate) const READY: u32 = 2;

/// The fixed description of the segment: written once by the creator before [`READY`].
#[repr(C, align(128))]
pub(crate) struct Ident {
    pub magic: AtomicU64,
    pub version: AtomicU32,
    pub header_size: AtomicU32,
    pub total_size: AtomicU64,
    pub init_state: AtomicU32,
    pub producer_mode: AtomicU32,
    pub capacity: AtomicU64,
    pub event_size: AtomicU64,
    pub event_align: AtomicU64,
    pub fingerprint: AtomicU64,
    pub max_consumers: AtomicU32,
    pub max_producers: AtomicU32,
    pub max_pools: AtomicU32,
    pub wait_kind: AtomicU32,
    pub wait_param: AtomicU64,
    pub creator_pid: AtomicU32,
    pub _reserved: AtomicU32,
    pub created_unix_ms: AtomicU64,
}

/// Byte offsets of the regions after the header, as the creator computed them. Openers
/// recompute them from the sizes above and refuse a segment whose offsets differ.
#[repr(C, align(128))]
pub(crate) struct Offsets {
    pub cursor: AtomicU64,
    pub high_water: AtomicU64,
    pub gating: AtomicU64,
    pub registry: AtomicU64,
    pub producers: AtomicU64,
    pub pools: AtomicU64,
    pub availability: AtomicU64,
    pub events: AtomicU64,
}

/// Counters that change while the ring runs, on their own cache lines.
#[repr(C, align(128))]
pub(crate) struct Status {
    /// Bumped each time a dead producer's claim is released (consumers re-scan then).
    pub abandoned_epoch: AtomicU64,
    /// Dead consumers released so far (statistics, shown by `inspect`).
    pub reaped_consumers: AtomicU64,
    /// Dead producer claims released so far.
    pub abandoned_claims: AtomicU64,
    /// Pool events lost because their worker died (or panicked) while handling them.
    pub lost_pool_events: AtomicU64,
    /// 0 while the ring is open; [`CLOSING`] while a close computes its end; `end + 2` once
    /// closed after sequence `end` (see `ShmRing::close`). Moves only 0 -> CLOSING -> end + 2,
    /// by CAS.
    pub closed: AtomicU64,
    /// 0 while the ring runs; the pid of the process that halted it in every process
    /// (`ShmRing::halt_all`). Written once, by a CAS from 0.
    pub halted: AtomicU64,
    /// 0 while the ring runs; 1 from before a close's first step (`closed` leaving 0) and
    /// before a halt's. The one word a claim's fast path reads, twice per claim. Only ever set.
    pub stopping: AtomicU64,
}

impl Status {
    /// Whether the ring may be closing, closed or halted everywhere: one load for the claim's
    /// fast path, which then asks [`closed_end`](Self::closed_end) and
    /// [`halted_by`](Self::halted_by) only when it is. `false` means neither had begun when
    /// the word was read: a close sets it before its first step ([`begin_close`](Self::begin_close)),
    /// so a producer that reads `false` after recording its claim has its claim seen by the
    /// close (the handshake in `ShmClaimer::record_claim`), as it would reading `closed`.
    #[inline]
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire) != 0
    }

    /// Set the stopping mark if the closed or halted word says so and the mark does not: a
    /// segment written by something else than this protocol (a close or halt always marks
    /// first). Called when a producer or a gating consumer attaches, so that what it does
    /// follows what its ring shows.
    pub fn mark_if_stopped(&self) {
        if self.closed.load(Ordering::Acquire) | self.halted.load(Ordering::Acquire) != 0 {
            self.stopping.store(1, Ordering::SeqCst);
        }
    }

    /// A close's first step: mark the ring stopping, then move the closed word from open to
    /// [`CLOSING`] unless another close did. Both `SeqCst`: whoever sees `CLOSING` sees the
    /// mark, and so does every producer ordered after the settling process's barrier.
    pub fn begin_close(&self) {
        self.stopping.store(1, Ordering::SeqCst);
        let _ = self
            .closed
            .compare_exchange(0, CLOSING, Ordering::SeqCst, Ordering::Acquire);
    }

    /// The last sequence of a closed ring (`None` while it is open or closing).
    #[inline]
    pub fn closed_end(&self) -> Option<i64> {
        match self.closed.load(Ordering::Acquire) {
            0 | CLOSING => None,
            // Written as `end + 2` from an `end >= -1`; the word is another process's memory,
            // so any value is read without overflow.
            word => Some((word as i64).wrapping_sub(2)),
        }
    }

    /// The pid of the process that halted the ring everywhere (`None` while it runs).
    #[inline]
    pub fn halted_by(&self) -> Option<u32> {
        match self.halted.load(Ordering::Acquire) {
            0 => None,
            // Another process's memory: any value is read, and a pid is at most 32 bits.
            word => Some(word as u32),
        }
    }

    /// Halt everywhere unless already halted; the pid that holds.
    pub fn halt(&self, pid: u32) -> u32 {
        // Before the halted word, as a close marks the ring first: a halter killed between
        // the two stores leaves producers refused, not publishing into a halted ring.
        self.stopping.store(1, Ordering::SeqCst);
        let _ = self.halted.compare_exchange(
            0,
            u64::from(pid.max(1)),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        self.halted_by().unwrap_or(pid)
    }

    /// Finish a close: record `end` unless another process finished it first; the end that
    /// holds.
    pub fn settle_close(&self, end: i64) -> i64 {
        let word = (end.max(-1) as u64).wrapping_add(2);
        let _ = self
            .closed
            .compare_exchange(CLOSING, word, Ordering::AcqRel, Ordering::Acquire);
        self.closed_end().unwrap_or(end)
    }
}

/// The closed word while a close is computing its end (see `RingInner::closed_end`).
pub(crate) const CLOSING: u64 = u64::MAX;

/// The whole header: 512 bytes, four 128-byte blocks.
#[repr(C, align(128))]
pub(crate) struct Header {
    pub ident: Ident,
    pub offsets: Offsets,
    pub futex: FutexWord,
    pub status: Status,
}

/// The header size this build writes and expects.
pub(crate) const HEADER_SIZE: usize = std::mem::size_of::<Header>();
const _: () = assert!(HEADER_SIZE == 512);

/// A plain copy of the fixed header fields, read once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeaderFields {
    pub magic: u64,
    pub version: u32,
    pub header_size: u32,
    pub total_size: u64,
    pub init_state: u32,
    pub producer_mode: u32,
    pub capacity: u64,
    pub event_size: u64,
    pub event_align: u64,
    pub fingerprint: u64,
    pub max_consumers: u32,
    pub max_producers: u32,
    pub max_pools: u32,
    pub wait_kind: u32,
    pub wait_param: u64,
    pub creator_pid: u32,
    pub created_unix_ms: u64,
    pub offsets: [u64; 8],
}

/// Names of the [`Offsets`] fields, in order, for error messages.
pub(crate) const OFFSET_NAMES: [&str; 8] = [
    "cursor",
    "high_water",
    "gating",
    "registry",
    "producers",
    "pools",
    "availability",
    "events",
];

/// A copy of a file's first [`HEADER_SIZE`] bytes, read with `pread`: what an opener checks
/// before it maps anything. A mapped page of a file that shrinks under the reader faults
/// (SIGBUS, the process dies); a `pread` of it comes back short instead. Any file in
/// `/dev/shm` may be another program's, resized as it likes.
#[repr(C, align(128))]
pub(crate) struct HeaderCopy(std::cell::UnsafeCell<[u8; HEADER_SIZE]>);

const _: () = assert!(std::mem::align_of::<HeaderCopy>() >= std::mem::align_of::<Header>());

impl HeaderCopy {
    /// Read the header of `fd`; `None` if the file is shorter than a header.
    pub fn read(fd: BorrowedFd<'_>) -> std::io::Result<Option<Self>> {
        let mut copy = Box::new(Self(std::cell::UnsafeCell::new([0; HEADER_SIZE])));
        let mut filled = 0;
        while filled < HEADER_SIZE {
            match rustix::io::pread(fd, &mut copy.0.get_mut()[filled..], filled as u64) {
                Ok(0) => return Ok(None),
                Ok(n) => filled += n,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Some(*copy))
    }

    /// The copy seen as a header.
    pub fn header(&self) -> &Header {
        // Size and alignment are asserted above; the bytes are this process's private copy,
        // in an `UnsafeCell` as the atomics' own bytes are (atomics may write through `&`).
        // SAFETY: `HeaderCopy` is `size_of::<Header>()` bytes, aligned for it, and `Header` is
        // all atomics, valid for any bytes: the cast yields a valid shared view.
        unsafe { &*self.0.get().cast::<Header>() }
    }
}

impl Header {
    /// The init state, `Acquire`: a reader that sees [`READY`] sees the whole header.
    pub fn init_state(&self) -> u32 {
        self.ident.init_state.load(Ordering::Acquire)
    }

    /// Read every fixed field (call after seeing [`READY`]).
    pub fn read(&self) -> HeaderFields {
        let i = &self.ident;
        let o = &self.offsets;
        let r = Ordering::Relaxed;
        HeaderFields {
            magic: i.magic.load(r),
            version: i.version.load(r),
            header_size: i.header_size.load(r),
            total_size: i.total_size.load(r),
            init_state: i.init_state.load(Ordering::Acquire),
            producer_mode: i.producer_mode.load(r),
            capacity: i.capacity.load(r),
            event_size: i.event_size.load(r),
            event_align: i.event_align.load(r),
            fingerprint: i.fingerprint.load(r),
            max_consumers: i.max_consumers.load(r),
            max_producers: i.max_producers.load(r),
            max_pools: i.max_pools.load(r),
            wait_kind: i.wait_kind.load(r),
            wait_param: i.wait_param.load(r),
            creator_pid: i.creator_pid.load(r),
            created_unix_ms: i.created_unix_ms.load(r),
            offsets: [
                o.cursor.load(r),
                o.high_water.load(r),
                o.gating.load(r),
                o.registry.load(r),
                o.producers.load(r),
                o.pools.load(r),
                o.availability.load(r),
                o.events.load(r),
            ],
        }
    }

    /// Write every fixed field except the init state (the creator publishes that last).
    pub fn write(&self, f: &HeaderFields) {
        let i = &self.ident;
        let o = &self.offsets;
        let r = Ordering::Relaxed;
        i.magic.store(f.magic, r);
        i.version.store(f.version, r);
        i.header_size.store(f.header_size, r);
        i.total_size.store(f.total_size, r);
        i.producer_mode.store(f.producer_mode, r);
        i.capacity.store(f.capacity, r);
        i.event_size.store(f.event_size, r);
        i.event_align.store(f.event_align, r);
        i.fingerprint.store(f.fingerprint, r);
        i.max_consumers.store(f.max_consumers, r);
        i.max_producers.store(f.max_producers, r);
        i.max_pools.store(f.max_pools, r);
        i.wait_kind.store(f.wait_kind, r);
        i.wait_param.store(f.wait_param, r);
        i.creator_pid.store(f.creator_pid, r);
        i.created_unix_ms.store(f.created_unix_ms, r);
        let [c, h, g, reg, p, pools, a, e] = f.offsets;
        o.cursor.store(c, r);
        o.high_water.store(h, r);
        o.gating.store(g, r);
        o.registry.store(reg, r);
        o.producers.store(p, r);
        o.pools.store(pools, r);
        o.availability.store(a, r);
        o.events.store(e, r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header view of a `pread` copy, as every opener and `seqflow ls` builds it (run
    /// under Miri by `.ci/miri`, Stacked and Tree Borrows).
    #[test]
    fn a_header_copy_reads_as_a_header() {
        let mut bytes = [0u8; HEADER_SIZE];
        bytes[..8].copy_from_slice(&MAGIC.to_le_bytes());
        let copy = HeaderCopy(std::cell::UnsafeCell::new(bytes));
        assert_eq!(copy.header().init_state(), UNINIT);
        assert_eq!(copy.header().read().magic, MAGIC);
    }

    #[test]
    fn blocks_are_where_the_docs_say() {
        assert_eq!(std::mem::size_of::<Ident>(), 128);
        assert_eq!(std::mem::size_of::<Offsets>(), 128);
        assert_eq!(std::mem::size_of::<Status>(), 128);
        assert_eq!(std::mem::offset_of!(Header, futex), 256);
        assert_eq!(std::mem::offset_of!(Ident, init_state), 24);
        assert_eq!(&MAGIC.to_le_bytes(), b"SEQFLOW\x01");
    }
}
