#![cfg(loom)]
//! Loom models of barriers with dependencies, where a barrier keeps the producer's cursor it
//! last read and reads it again only when its dependencies pass that value (the kept value is a
//! loom atomic under `cfg(loom)`; each barrier is polled from one thread, so its own
//! Acquire/Release pair is not what these models check).
//!
//! `a_stage_after_a_stage_...`: one producer (`SingleProducerSequencer`) publishes two events
//! one at a time into a ring of one slot; stage A follows the producer, stage B follows A
//! through a `SequenceBarrier` with A's sequence as its dependency; B alone gates the producer,
//! as the last stage of a pipeline does, and every wait blocks (`BlockingWait`: a yielding
//! model of three threads exceeds loom's branch limit). Loom reports a read by A or B not
//! ordered after the slot's write, and a write not ordered after both stages' reads of the
//! slot's previous event (the model fails with B's dependency removed). Here A never passes
//! the cursor, so B's reads are ordered through A's sequence whatever the barrier does with the
//! cursor: this model checks the dependency, not the kept cursor.
//!
//! `a_dependency_ahead_...`: the case the cursor read exists for. A consumer's dependency is
//! moved ahead of the producer by hand (to the last event) before anything is published, so
//! only the producer's cursor bounds what the barrier may return. A barrier that never read the
//! cursor, or trusted a kept value past it, would hand out an unpublished slot: loom then
//! reports the read racing with the write (both mutations fail this model).
//!
//! Each stage checks it sees exactly `0, 1`, in order. `a_stage_after` runs at preemption bound
//! 2 in `.ci/loom` (about 12 s; bound 3 passes too, about 5 min), `a_dependency_ahead` at bound
//! 3 (under a second).
//!
//! Run with `.ci/loom` (`RUSTFLAGS="--cfg loom"`, release mode).

use seqflow_ring::RingBuffer;
use seqflow_sequence::{
    Alert, BlockingWait, Cursor, OwnedRef, Sequence, SequenceBarrier, WaitStrategy,
    INITIAL_SEQUENCE,
};
use seqflow_sequencer::{Claimer, Sequencer, SingleProducerSequencer};
use std::sync::Arc;

mod loom_support;
use loom_support::{builder, Slot};

/// Events the producer publishes; with `CAPACITY` 1 the second one reuses the slot of the first.
const EVENTS: i64 = 2;
const CAPACITY: usize = 1;

/// Read every sequence from `next` to `available` and check each slot holds its own event.
fn read_all(ring: &RingBuffer<Slot>, next: i64, available: i64) {
    assert!(available >= next && available < EVENTS);
    for seq in next..=available {
        // SAFETY: the stage's barrier returned `available`, so `seq` is published and
        // processed by every stage before this one; the last stage's gating sequence is below
        // it, so the producer cannot claim `seq + CAPACITY` yet.
        let seen = unsafe { loom_support::read(ring, seq) };
        assert_eq!(seen, seq, "slot of {seq} holds the event of {seen}");
    }
}

/// A stage: wait on `barrier` for every event in turn, read what it makes available, then
/// `release` it (move the stage's sequence) and wake whoever waits on the ring.
fn run_stage<W: WaitStrategy>(
    barrier: &SequenceBarrier<SingleProducerSequencer<W>>,
    ring: &RingBuffer<Slot>,
    release: impl Fn(i64),
) {
    let mut next = 0;
    while next < EVENTS {
        let available = barrier.wait_for(next, None).unwrap();
        read_all(ring, next, available);
        release(available);
        barrier.producer().wait_strategy().signal_all();
        next = available + 1;
    }
}

/// The producer: publish `0..EVENTS` one at a time, each event's value its sequence.
fn spawn_producer<W: WaitStrategy + 'static>(
    sequencer: &Arc<SingleProducerSequencer<W>>,
    ring: &RingBuffer<Slot>,
) -> loom::thread::JoinHandle<()> {
    let (sequencer, ring) = (Arc::clone(sequencer), ring.clone());
    loom::thread::spawn(move || {
        let mut claimer = sequencer.claimer().unwrap();
        for seq in 0..EVENTS {
            let range = claimer.claim(1).unwrap();
            assert_eq!(range.start(), seq);
            // SAFETY: `seq` is claimed and not yet published.
            unsafe { loom_support::write(&ring, seq, seq) };
            claimer.publish(range).unwrap();
        }
    })
}

fn pipeline_of_two<W: WaitStrategy>(wait: W) {
    let sequencer = SingleProducerSequencer::new(CAPACITY, wait, 1).unwrap();
    let ring = RingBuffer::new(CAPACITY, Slot::empty).unwrap();
    let last = sequencer.gating().register(true, || -1).unwrap();
    let first = OwnedRef::new(Sequence::new(INITIAL_SEQUENCE));
    let after_first = first.clone().map(|s| s.read_only());

    let producer = spawn_producer(&sequencer, &ring);

    let stage_a = {
        let sequencer = Arc::clone(&sequencer);
        let ring = ring.clone();
        loom::thread::spawn(move || {
            let barrier = SequenceBarrier::new(Arc::clone(&sequencer), vec![], Alert::new());
            run_stage(&barrier, &ring, |done| first.set(done));
        })
    };
    // Stage B, on this thread.
    let barrier = SequenceBarrier::new(Arc::clone(&sequencer), vec![after_first], Alert::new());
    run_stage(&barrier, &ring, |done| last.set_sequence(done));
    stage_a.join().unwrap();
    producer.join().unwrap();
    assert_eq!(sequencer.published(), EVENTS - 1);
}

#[test]
fn a_stage_after_a_stage_reads_only_published_events_blocking() {
    builder(Some(2)).check(|| pipeline_of_two(BlockingWait::default()));
}

/// A consumer whose dependency was moved to the last event by hand before anything was
/// published: it must still wait for the producer, event by event.
fn dependency_ahead() {
    let sequencer = SingleProducerSequencer::new(2, BlockingWait::default(), 1).unwrap();
    let ring = RingBuffer::new(2, Slot::empty).unwrap();
    let gate = sequencer.gating().register(true, || -1).unwrap();
    let ahead = OwnedRef::new(Sequence::new(EVENTS - 1));
    let view = ahead.clone().map(|s| s.read_only());

    let producer = spawn_producer(&sequencer, &ring);

    let barrier = SequenceBarrier::new(Arc::clone(&sequencer), vec![view], Alert::new());
    run_stage(&barrier, &ring, |done| gate.set_sequence(done));
    producer.join().unwrap();
    drop(ahead);
}

#[test]
fn a_dependency_ahead_of_the_producer_never_exposes_an_unpublished_slot() {
    builder(Some(3)).check(dependency_ahead);
}
