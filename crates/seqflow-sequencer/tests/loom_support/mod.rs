//! What the loom models share: a model builder with a preemption bound, and a ring slot whose
//! every access loom checks. Each model (`loom_*.rs`) includes it with `mod loom_support;` and
//! uses what it needs.
#![allow(dead_code)]

use loom::cell::UnsafeCell;
use seqflow_ring::RingBuffer;

/// A loom builder bounded to `preemptions` preemptions per execution (`None`: explore every
/// interleaving). `LOOM_MAX_PREEMPTIONS` overrides it for deeper (slower) runs.
pub fn builder(preemptions: Option<usize>) -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = preemptions;
    }
    b
}

/// A ring slot holding an event number, every access to which loom checks for causality.
pub struct Slot(pub UnsafeCell<i64>);

// SAFETY: the models check that the sequencers order every access to a slot; loom's
// `UnsafeCell` panics on any access pair not ordered by happens-before, so sharing the slot
// across loom threads cannot go wrong silently.
unsafe impl Sync for Slot {}

impl Slot {
    /// A slot no event was written to yet (-1).
    pub fn empty() -> Self {
        Slot(UnsafeCell::new(-1))
    }
}

/// Write `value` into `seq`'s slot of `ring`.
///
/// # Safety
/// The caller has claimed `seq` and not published it (the ring's write contract); loom's cell
/// then checks that nobody reads the slot meanwhile.
pub unsafe fn write(ring: &RingBuffer<Slot>, seq: i64, value: i64) {
    // SAFETY: the caller holds `seq`'s claim, so nobody else may touch the slot.
    let slot = unsafe { ring.get_mut(seq) };
    slot.0.with_mut(|v| {
        // SAFETY: loom checked this access is exclusive.
        unsafe { *v = value }
    });
}

/// The value in `seq`'s slot of `ring`.
///
/// # Safety
/// `seq` is published, and the reader (or a gating stage after it) is below it, so no producer
/// can claim `seq`'s slot again (the ring's read contract); loom's cell checks no write races.
pub unsafe fn read(ring: &RingBuffer<Slot>, seq: i64) -> i64 {
    // SAFETY: by the caller's contract the slot is published and not being rewritten.
    let slot = unsafe { ring.get(seq) };
    slot.0.with(|v| {
        // SAFETY: loom checked no write to the slot races with this read.
        unsafe { *v }
    })
}
