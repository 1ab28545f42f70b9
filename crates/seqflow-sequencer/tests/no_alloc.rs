//! Claim and publish allocate nothing: a counting global allocator watches a million
//! claim/publish cycles through each sequencer after warm-up.
// Not a loom model: loom's atomics only work inside `loom::model` (see the `loom_*` tests).
#![cfg(not(loom))]

use seqflow_sequence::BusySpinWait;
use seqflow_sequencer::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    /// Allocations made by this thread only: the test harness allocates on its own threads
    /// while a test runs, which must not count.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // `try_with`: the thread-local may be gone while the thread shuts down.
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn cycles<C: Claimer>(claimer: &mut C, consumer: &GatingRegistration, n: i64) -> usize {
    let before = allocations();
    for _ in 0..n {
        let r = claimer.claim(1).unwrap();
        claimer.publish(r).unwrap();
        consumer.set_sequence(r.end());
    }
    allocations() - before
}

#[test]
fn claim_and_publish_do_not_allocate() {
    let single = SingleProducerSequencer::new(64, BusySpinWait, 1).unwrap();
    let consumer = single.gating().register(true, || -1).unwrap();
    let mut claimer = single.claimer().unwrap();
    assert_eq!(
        cycles(&mut claimer, &consumer, 1_000_000),
        0,
        "single producer"
    );

    for mode in [MultiProducerMode::Cas, MultiProducerMode::Lock] {
        let multi = MultiProducerSequencer::new(64, BusySpinWait, mode, 1).unwrap();
        let consumer = multi.gating().register(true, || -1).unwrap();
        let mut claimer = multi.claimer();
        assert_eq!(cycles(&mut claimer, &consumer, 1_000_000), 0, "{mode:?}");
    }
}
