#![cfg(loom)]
//! Loom model: a gating consumer added to a running ring (a poller added to a running
//! disruptor, a consumer process attaching to a shared segment) never reads a slot the producer
//! is overwriting.
//!
//! The producer publishes while nobody gates it, so it caches "the ring is free up to my own
//! cursor" and claims a ring's worth ahead without looking at the gating table again. The
//! consumer registers with `start = cursor` and reads from `start + 1`. That is only safe if the
//! producer's scan of the table and the consumer's read of the cursor cannot both miss each
//! other's store (a Dekker pair of `SeqCst` fences, as LMAX's `cursor.setVolatile` before the
//! scan). The slots are `loom::cell::UnsafeCell`s inside the real `RingBuffer`, so loom reports
//! any read racing with an overwrite.
//!
//! Run with `.ci/loom` (`RUSTFLAGS="--cfg loom"`, release mode).

use loom::thread;
use seqflow_ring::RingBuffer;
use seqflow_sequence::{Alert, SequenceBarrier, WaitStrategy, YieldingWait};
use seqflow_sequencer::{
    Claimer, MultiProducerMode, MultiProducerSequencer, Sequencer, SingleProducerSequencer,
};
use std::sync::Arc;

mod loom_support;
use loom_support::{builder, Slot};

/// The producer writes `seq` into the slot of every sequence `0..events`, one claim each.
fn produce<C: Claimer>(mut claimer: C, ring: &RingBuffer<Slot>, events: i64) {
    for _ in 0..events {
        let range = claimer.claim(1).unwrap();
        let seq = range.start();
        // SAFETY: `seq` is claimed and not yet published.
        unsafe { loom_support::write(ring, seq, seq) };
        claimer.publish(range).unwrap();
    }
}

/// Register as a gating consumer starting after the current cursor, then read every event
/// after the start.
fn late_consumer<S: Sequencer>(sequencer: &Arc<S>, ring: &RingBuffer<Slot>, events: i64) {
    late_consumer_from(sequencer, ring, events, || sequencer.claimed());
}

/// As [`late_consumer`], starting at `start()` (read before and after becoming visible).
fn late_consumer_from<S: Sequencer>(
    sequencer: &Arc<S>,
    ring: &RingBuffer<Slot>,
    events: i64,
    start: impl Fn() -> i64,
) {
    let registration = sequencer.gating().register(true, start).unwrap();
    let barrier = SequenceBarrier::new(Arc::clone(sequencer), vec![], Alert::new());
    let mut next = registration.sequence_relaxed() + 1;
    while next < events {
        let available = barrier.wait_for(next, None).unwrap();
        for seq in next..=available {
            // SAFETY: `seq` is published and our gating sequence is below it, so the producer
            // cannot claim `seq + capacity` yet: the property under test.
            let seen = unsafe { loom_support::read(ring, seq) };
            assert_eq!(seen, seq, "slot of {seq} holds the event of {seen}");
        }
        registration.set_sequence(available);
        sequencer.wait_strategy().signal_all();
        next = available + 1;
    }
}

fn single(capacity: usize, events: i64) {
    let sequencer = SingleProducerSequencer::new(capacity, YieldingWait::new(0), 1).unwrap();
    let ring = RingBuffer::new(capacity, Slot::empty).unwrap();
    let producer = {
        let (sequencer, ring) = (Arc::clone(&sequencer), ring.clone());
        thread::spawn(move || produce(sequencer.claimer().unwrap(), &ring, events))
    };
    late_consumer(&sequencer, &ring, events);
    producer.join().unwrap();
}

fn multi_cas(capacity: usize, events: i64) {
    let sequencer =
        MultiProducerSequencer::new(capacity, YieldingWait::new(0), MultiProducerMode::Cas, 1)
            .unwrap();
    let ring = RingBuffer::new(capacity, Slot::empty).unwrap();
    let producer = {
        let (claimer, ring) = (sequencer.claimer(), ring.clone());
        thread::spawn(move || produce(claimer, &ring, events))
    };
    late_consumer(&sequencer, &ring, events);
    producer.join().unwrap();
}

/// Two producers, no consumer yet, one added while they publish at the published floor (what
/// `Disruptor::handle_events_with` and `Disruptor::poller` do): the producers never write one
/// slot at once (a claim still being written is never lapped, with or without a consumer), and
/// the consumer never reads a slot being overwritten (the producers that have not seen it yet
/// are bounded by a floor it starts at or above).
fn two_producers_late_consumer(capacity: usize, per_producer: i64) {
    let sequencer =
        MultiProducerSequencer::new(capacity, YieldingWait::new(0), MultiProducerMode::Cas, 1)
            .unwrap();
    let ring = RingBuffer::new(capacity, Slot::empty).unwrap();
    let producers: Vec<_> = (0..2)
        .map(|_| {
            let (claimer, ring) = (sequencer.claimer(), ring.clone());
            thread::spawn(move || produce(claimer, &ring, per_producer))
        })
        .collect();
    let events = 2 * per_producer;
    late_consumer_from(&sequencer, &ring, events, || sequencer.published());
    for producer in producers {
        producer.join().unwrap();
    }
}

#[test]
fn multi_producer_late_consumer_at_the_published_floor_capacity_one() {
    builder(Some(3)).check(|| two_producers_late_consumer(1, 1));
}

#[test]
fn single_producer_capacity_one() {
    builder(None).check(|| single(1, 2));
}

#[test]
fn single_producer_capacity_two() {
    builder(Some(4)).check(|| single(2, 3));
}

#[test]
fn multi_producer_cas_capacity_one() {
    builder(None).check(|| multi_cas(1, 2));
}
