#![cfg(loom)]
//! Loom model: one producer (`SingleProducerSequencer`) against one consumer following a
//! `SequenceBarrier`, over a ring of two slots, three events (the third wraps onto slot 0).
//!
//! The slots are `loom::cell::UnsafeCell`s inside the real `RingBuffer`, so loom reports any
//! write to a slot that is not ordered after the consumer's last read of it (the producer
//! overwrote a slot the consumer had not released: a gating bug) and any read that is not ordered
//! after the write (the consumer read an unpublished slot: a publish/acquire bug). On top of that
//! the consumer checks it sees exactly `0, 1, 2`, in order, each written for its own sequence.
//!
//! Run with `.ci/loom` (`RUSTFLAGS="--cfg loom"`, release mode).

use seqflow_ring::RingBuffer;
use seqflow_sequence::{Alert, BlockingWait, Cursor, SequenceBarrier, WaitStrategy, YieldingWait};
use seqflow_sequencer::{Claimer, Sequencer, SingleProducerSequencer};
use std::sync::Arc;

mod loom_support;
use loom_support::{builder, Slot};

/// Events the producer publishes; with `CAPACITY` 2 the last one reuses slot 0.
const EVENTS: i64 = 3;
const CAPACITY: usize = 2;

/// Producer: claim `batch` slots (fewer for the last claim), write them, publish, until `EVENTS`
/// are published. Consumer: wait for the next sequence, read every available slot, release them
/// by advancing its gating sequence, and wake a producer that may be blocked on a full ring.
fn spsc<W: WaitStrategy>(wait: W, batch: usize) {
    let sequencer = SingleProducerSequencer::new(CAPACITY, wait, 1).unwrap();
    let ring = RingBuffer::new(CAPACITY, Slot::empty).unwrap();
    let consumer = sequencer.gating().register(true, || -1).unwrap();

    let producer = {
        let sequencer = Arc::clone(&sequencer);
        let ring = ring.clone();
        loom::thread::spawn(move || {
            let mut claimer = sequencer.claimer().unwrap();
            let mut next = 0;
            while next < EVENTS {
                let n = batch.min((EVENTS - next) as usize);
                let range = claimer.claim(n).unwrap();
                assert_eq!(range.start(), next);
                for seq in range {
                    // SAFETY: `seq` is claimed and not yet published.
                    unsafe { loom_support::write(&ring, seq, seq) };
                }
                claimer.publish(range).unwrap();
                next = range.end() + 1;
            }
        })
    };

    let barrier = SequenceBarrier::new(Arc::clone(&sequencer), vec![], Alert::new());
    let mut next = 0;
    while next < EVENTS {
        let available = barrier.wait_for(next, None).unwrap();
        assert!(available >= next && available < EVENTS);
        for seq in next..=available {
            // SAFETY: `seq` is published and our gating sequence is below it, so the producer
            // cannot claim `seq + CAPACITY` yet (the ring's read contract).
            let seen = unsafe { loom_support::read(&ring, seq) };
            assert_eq!(seen, seq, "slot of {seq} holds the event of {seen}");
        }
        consumer.set_sequence(available);
        sequencer.wait_strategy().signal_all();
        next = available + 1;
    }
    producer.join().unwrap();
    assert_eq!(sequencer.published(), EVENTS - 1);
}

#[test]
fn spsc_yielding_one_at_a_time() {
    builder(None).check(|| spsc(YieldingWait::new(0), 1));
}

#[test]
fn spsc_yielding_batches_of_two() {
    builder(None).check(|| spsc(YieldingWait::new(0), 2));
}

#[test]
fn spsc_blocking_one_at_a_time() {
    builder(Some(5)).check(|| spsc(BlockingWait::default(), 1));
}
