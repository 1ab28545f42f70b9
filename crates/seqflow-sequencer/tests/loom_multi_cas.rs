#![cfg(loom)]
//! Loom model: two producers claiming by CAS (`MultiProducerMode::Cas`) and one consumer
//! following a `SequenceBarrier`, with more events than slots so that claims wrap onto slots of
//! the first lap: a ring of two slots with three events (producer A publishes two, producer B
//! one), and a ring of one slot with two events (one each: every claim after the first wraps).
//!
//! The slots are `loom::cell::UnsafeCell`s inside the real `RingBuffer`: loom reports a write
//! to a slot not ordered after the consumer's last read of it (gating broken: a producer
//! overwrote a slot not yet released) and a read not ordered after the slot's write (the
//! availability buffer or `highest_published` exposed an unpublished slot). The consumer also
//! checks that every event arrives exactly once, each producer's events in order, and that every
//! slot it reads holds the event written for that very sequence (not a stale lap).
//!
//! Run with `.ci/loom` (`RUSTFLAGS="--cfg loom"`, release mode).

use loom::cell::UnsafeCell;
use seqflow_ring::RingBuffer;
use seqflow_sequence::{Alert, BlockingWait, Cursor, SequenceBarrier, WaitStrategy, YieldingWait};
use seqflow_sequencer::{
    ClaimError, Claimer, MultiProducerMode, MultiProducerSequencer, Sequencer,
};
use std::sync::Arc;

mod loom_support;
use loom_support::builder;

/// What a producer writes into a slot: the sequence it claimed, who it is, its own counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Event {
    seq: i64,
    producer: usize,
    n: usize,
}

/// A ring slot whose every access loom checks for causality.
struct Slot(UnsafeCell<Event>);

// SAFETY: the model's whole point is to check that the sequencer orders every access to a slot;
// loom's `UnsafeCell` panics on any access pair that is not ordered by happens-before, so sharing
// the slot across loom threads cannot go wrong silently.
unsafe impl Sync for Slot {}

/// How a producer of the model claims.
#[derive(Clone, Copy)]
enum Claim {
    /// `claim(1)`, waiting for room.
    Blocking,
    /// `try_claim(1)` first, then `claim(1)` if the ring was full: the refusal path, with the
    /// claimer's expectation of the cursor possibly stale.
    TryFirst,
}

/// Producers `0..per_producer.len()` each publish `per_producer[p]` events, one claim each, into
/// a ring of `capacity` slots.
fn mpsc<W: WaitStrategy>(wait: W, capacity: usize, per_producer: &'static [usize]) {
    mpsc_claiming(wait, capacity, per_producer, Claim::Blocking);
}

/// [`mpsc`] with the producers claiming as `how` says.
fn mpsc_claiming<W: WaitStrategy>(
    wait: W,
    capacity: usize,
    per_producer: &'static [usize],
    how: Claim,
) {
    let sequencer = MultiProducerSequencer::new(capacity, wait, MultiProducerMode::Cas, 1).unwrap();
    let ring = RingBuffer::new(capacity, || {
        Slot(UnsafeCell::new(Event {
            seq: -1,
            producer: usize::MAX,
            n: 0,
        }))
    })
    .unwrap();
    let consumer = sequencer.gating().register(true, || -1).unwrap();

    let producers: Vec<_> = per_producer
        .iter()
        .enumerate()
        .map(|(producer, &events)| {
            let mut claimer = sequencer.claimer();
            let ring = ring.clone();
            loom::thread::spawn(move || {
                for n in 0..events {
                    let range = match how {
                        Claim::Blocking => claimer.claim(1).unwrap(),
                        Claim::TryFirst => match claimer.try_claim(1) {
                            Ok(range) => range,
                            Err(ClaimError::Full { requested: 1, .. }) => claimer.claim(1).unwrap(),
                            Err(e) => panic!("try_claim: {e:?}"),
                        },
                    };
                    let seq = range.start();
                    // SAFETY: `seq` is claimed by this producer and not yet published (the
                    // ring's write contract); loom's cell checks nobody reads it meanwhile.
                    let slot = unsafe { ring.get_mut(seq) };
                    slot.0.with_mut(|e| {
                        // SAFETY: loom checked this access is exclusive.
                        unsafe { *e = Event { seq, producer, n } }
                    });
                    claimer.publish(range).unwrap();
                }
            })
        })
        .collect();

    let total: usize = per_producer.iter().sum();
    let barrier = SequenceBarrier::new(Arc::clone(&sequencer), vec![], Alert::new());
    let mut next_n = vec![0; per_producer.len()];
    let mut next = 0;
    while next < total as i64 {
        let available = barrier.wait_for(next, None).unwrap();
        assert!(available >= next && available < total as i64);
        // `highest_published` never runs past the claim cursor, and all of it is published.
        assert!(available <= sequencer.claimed());
        for seq in next..=available {
            assert!(
                sequencer.is_available(seq),
                "{seq} exposed but not published"
            );
            // SAFETY: `seq` is published and our gating sequence is below it, so no producer
            // can claim `seq + capacity` yet (the ring's read contract).
            let slot = unsafe { ring.get(seq) };
            let event = slot.0.with(|e| {
                // SAFETY: loom checked no write to the slot races with this read.
                unsafe { *e }
            });
            assert_eq!(event.seq, seq, "slot of {seq} holds {event:?}");
            assert_eq!(event.n, next_n[event.producer], "out of order: {event:?}");
            next_n[event.producer] += 1;
        }
        consumer.set_sequence(available);
        sequencer.wait_strategy().signal_all();
        next = available + 1;
    }
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(next_n, per_producer, "every event exactly once");
    assert_eq!(sequencer.claimed(), total as i64 - 1);
}

#[test]
fn cas_two_producers_capacity_two() {
    builder(Some(4)).check(|| mpsc(YieldingWait::new(0), 2, &[2, 1]));
}

#[test]
fn cas_two_producers_capacity_one() {
    builder(Some(5)).check(|| mpsc(YieldingWait::new(0), 1, &[1, 1]));
}

#[test]
fn cas_two_producers_blocking_wait() {
    builder(Some(3)).check(|| mpsc(BlockingWait::default(), 2, &[2, 1]));
}

#[test]
fn cas_try_claim_then_claim_capacity_one() {
    builder(Some(4)).check(|| mpsc_claiming(YieldingWait::new(0), 1, &[1, 1], Claim::TryFirst));
}
