#![cfg(loom)]
//! Loom model: raising an idle pool worker's gating sequence to the pool's work sequence
//! (`GatingTable::__internal_raise_idle_worker`, what a shared-memory worker does for the other
//! workers of its pool before it waits) never lets a producer overwrite an event a worker is
//! reading.
//!
//! A ring of one slot holds event 0. Two workers of one pool race to claim it (each: gate at
//! the work sequence it read, note one event in hand, CAS the work sequence, read the slot,
//! note zero, move its sequence); a helper raises both as if they were idle; the
//! producer publishes event 1 into the same slot as soon as the gating minimum allows. The slot
//! is a `loom::cell::UnsafeCell`, so loom reports any read racing with the overwrite: a raise
//! that read the worker's count before the work sequence, or that raised a worker with an event
//! in hand, makes it fail.
//!
//! Run with `.ci/loom` (`RUSTFLAGS="--cfg loom"`, release mode).

use loom::sync::atomic::{AtomicU64, Ordering};
use loom::thread;
use seqflow_ring::RingBuffer;
use seqflow_sequence::{Sequence, YieldingWait};
use seqflow_sequencer::{
    ClaimError, Claimer, GatingRegistration, Sequencer, SingleProducerSequencer,
};
use std::sync::Arc;

mod loom_support;
use loom_support::Slot;

/// One worker of the pool: its gating registration and the count of events it has in hand.
struct Worker {
    registration: GatingRegistration,
    in_hand: AtomicU64,
}

/// One claim attempt of `worker` for event 0 (published), as the real pool workers make it.
fn claim_once(worker: &Worker, work: &Sequence, ring: &RingBuffer<Slot>) {
    let current = work.get();
    if current >= 0 {
        return; // another worker took event 0
    }
    worker.registration.set_sequence(current);
    worker.in_hand.store(1, Ordering::Release);
    if work.compare_and_set(current, 0) {
        // SAFETY: event 0 is published and claimed by this worker, whose gating sequence is
        // below it: the property under test is that nobody overwrites it meanwhile.
        let seen = unsafe { loom_support::read(ring, 0) };
        assert_eq!(seen, 0, "event 0 was overwritten while a worker read it");
        worker.in_hand.store(0, Ordering::Release);
        worker.registration.set_sequence(0);
    } else {
        worker.in_hand.store(0, Ordering::Release);
    }
}

fn builder() -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    b
}

#[test]
fn raising_an_idle_worker_never_exposes_a_claimed_event() {
    builder().check(|| {
        let sequencer = SingleProducerSequencer::new(1, YieldingWait::new(0), 2).unwrap();
        let ring = RingBuffer::new(1, Slot::empty).unwrap();
        let work = Arc::new(Sequence::new(-1));
        let table = sequencer.gating();
        let new_worker = || {
            Arc::new(Worker {
                registration: table.register(true, || -1).unwrap(),
                in_hand: AtomicU64::new(0),
            })
        };
        let (first, second) = (new_worker(), new_worker());
        let mut producer = sequencer.claimer().unwrap();
        let range = producer.claim(1).unwrap();
        // SAFETY: claimed, not yet published, no reader yet.
        unsafe { loom_support::write(&ring, 0, 0) };
        producer.publish(range).unwrap();

        let helper = {
            let (sequencer, work) = (sequencer.clone(), work.clone());
            let workers = [first.clone(), second.clone()];
            thread::spawn(move || {
                for worker in &workers {
                    let index = worker.registration.index();
                    // SAFETY: each worker holds its slot for the whole model and follows the
                    // protocol the raise requires (see `claim_once`).
                    unsafe {
                        sequencer
                            .gating()
                            .__internal_raise_idle_worker(index, &work, || {
                                worker.in_hand.load(Ordering::Acquire) == 0
                            });
                    }
                }
            })
        };
        let rival = {
            let (work, ring, second) = (work.clone(), ring.clone(), second.clone());
            thread::spawn(move || claim_once(&second, &work, &ring))
        };
        let writer = {
            let ring = ring.clone();
            thread::spawn(move || match producer.try_claim(1) {
                Ok(range) => {
                    // SAFETY: claimed: the gating minimum says every worker is past event 0.
                    unsafe { loom_support::write(&ring, 1, 1) };
                    producer.publish(range).unwrap();
                }
                Err(ClaimError::Full { .. }) => {}
                Err(e) => panic!("{e}"),
            })
        };
        claim_once(&first, &work, &ring);
        helper.join().unwrap();
        rival.join().unwrap();
        writer.join().unwrap();
    });
}
