//! Multi-thread stress: several producers, one consumer following the barrier, 1M events each
//! run; every event arrives exactly once and each producer's events arrive in order.
// Not a loom model: loom's atomics only work inside `loom::model` (see the `loom_*` tests).
#![cfg(not(loom))]

use seqflow_ring::RingBuffer;
use seqflow_sequence::{Alert, SequenceBarrier, YieldingWait};
use seqflow_sequencer::*;
use std::sync::Arc;

const EVENTS: u64 = 1_000_000;
const RING: usize = 1024;

/// (producer id << 32) | per-producer counter
fn encode(producer: u64, n: u64) -> u64 {
    (producer << 32) | n
}

fn consume<S: Sequencer>(
    sequencer: Arc<S>,
    ring: RingBuffer<u64>,
    producers: usize,
    registration: GatingRegistration,
) {
    let barrier = SequenceBarrier::new(sequencer, vec![], Alert::new());
    let per_producer = EVENTS / producers as u64;
    let mut next_expected = vec![0u64; producers];
    let mut next = 0i64;
    let total = per_producer * producers as u64;
    while (next as u64) < total {
        let available = barrier.wait_for(next, None).unwrap();
        for seq in next..=available {
            // SAFETY: `seq` is published and our gating sequence is below it.
            let v = unsafe { *ring.get(seq) };
            let (p, n) = ((v >> 32) as usize, v & 0xffff_ffff);
            assert!(p < producers, "garbage producer id {p} at {seq}");
            assert_eq!(
                n, next_expected[p],
                "producer {p} out of order or lost/duplicated at {seq}"
            );
            next_expected[p] += 1;
        }
        registration.set_sequence(available);
        next = available + 1;
    }
    assert!(next_expected.iter().all(|&n| n == per_producer));
}

fn run_multi(mode: MultiProducerMode, producers: usize, batch: usize) {
    let seq = MultiProducerSequencer::new(RING, YieldingWait::default(), mode, 4).unwrap();
    let ring = RingBuffer::new(RING, || 0u64).unwrap();
    let registration = seq.gating().register(true, || -1).unwrap();
    let per_producer = EVENTS / producers as u64;
    let handles: Vec<_> = (0..producers as u64)
        .map(|id| {
            let mut claimer = seq.claimer();
            let ring = ring.clone();
            std::thread::spawn(move || {
                let mut n = 0;
                while n < per_producer {
                    let k = (batch as u64).min(per_producer - n) as usize;
                    let r = claimer.claim(k).unwrap();
                    for s in r {
                        // SAFETY: `s` is claimed by us and unpublished.
                        unsafe { *ring.get_mut(s) = encode(id, n) };
                        n += 1;
                    }
                    claimer.publish(r).unwrap();
                }
            })
        })
        .collect();
    consume(seq.clone(), ring, producers, registration);
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(seq.published() as u64 + 1, per_producer * producers as u64);
}

#[test]
fn single_producer_one_million() {
    let seq = SingleProducerSequencer::new(RING, YieldingWait::default(), 4).unwrap();
    let ring = RingBuffer::new(RING, || 0u64).unwrap();
    let registration = seq.gating().register(true, || -1).unwrap();
    let mut claimer = seq.claimer().unwrap();
    let producer_ring = ring.clone();
    let t = std::thread::spawn(move || {
        let mut n = 0;
        while n < EVENTS {
            let k = 1 + (n % 7) as usize;
            let k = (k as u64).min(EVENTS - n) as usize;
            let r = claimer.claim(k).unwrap();
            for s in r {
                // SAFETY: claimed, unpublished.
                unsafe { *producer_ring.get_mut(s) = encode(0, n) };
                n += 1;
            }
            claimer.publish(r).unwrap();
        }
    });
    consume(seq, ring, 1, registration);
    t.join().unwrap();
}

#[test]
fn cas_two_producers() {
    run_multi(MultiProducerMode::Cas, 2, 1);
}

#[test]
fn cas_four_producers_batched() {
    run_multi(MultiProducerMode::Cas, 4, 5);
}

#[test]
fn lock_three_producers() {
    run_multi(MultiProducerMode::Lock, 3, 1);
}

#[test]
fn lock_four_producers_batched() {
    run_multi(MultiProducerMode::Lock, 4, 3);
}
