//! Where a consumer, subscriber or pool joining a running multi-producer ring starts: at the
//! published end, never past a claim another producer is still writing. Started at the claim
//! cursor, the newcomer counted the unwritten claim as handled, so producers could claim its
//! slot again a lap later while its first producer was still writing it: two writers on one
//! slot, and the late first publish put the slot's lap mark back, which stalled every consumer
//! for good (found by `adv2_processes::late_joiners_on_a_running_multi_producer_ring`).
//!
//! Each case: producer `a` holds a claim on sequence 0 (unwritten), producer `b` publishes the
//! rest of the ring, then the newcomer joins. `b` must then find the ring full (sequence 8
//! would reuse the slot `a` is writing) until `a` publishes, and the newcomer must get
//! sequence 0 with `a`'s event.

mod common;

use common::Seg;
use seqflow_sequencer::ClaimError;
use seqflow_shm::{ProducerMode, ShmOptions, ShmRing};
use std::time::Duration;

const CAPACITY: usize = 8;
const WAIT: Option<Duration> = Some(Duration::from_secs(5));

fn multi(tag: &str) -> (Seg, ShmRing<u64>) {
    let seg = Seg::new(tag);
    let options = ShmOptions {
        producer: ProducerMode::MultiCas,
        max_producers: 2,
        ..Default::default()
    };
    let ring = ShmRing::<u64>::create(&seg.name, CAPACITY, options).unwrap();
    (seg, ring)
}

/// Producer `a` claims sequence 0 and holds it; `b` publishes 1..=7 (100 + seq); `join`
/// makes the newcomer; then `b` must not lap `a`'s claim; `a` publishes 0 (= 7); `check`
/// reads through the newcomer.
fn with_a_claim_in_flight<T>(
    ring: &ShmRing<u64>,
    join: impl FnOnce(&ShmRing<u64>) -> T,
    check: impl FnOnce(&mut T),
) {
    let mut a = ring.producer().unwrap();
    let mut b = ring.producer().unwrap();
    let mut held = a.claim(1).unwrap();
    assert_eq!(held.range().start(), 0);
    for _ in 1..CAPACITY {
        b.publish(|e, seq| *e = 100 + seq as u64).unwrap();
    }
    assert_eq!(ring.claimed(), CAPACITY as i64 - 1);
    assert_eq!(ring.published(), -1, "sequence 0 is claimed, not published");
    let mut newcomer = join(ring);
    assert!(
        matches!(b.try_publish(|e, _| *e = 999), Err(ClaimError::Full { .. })),
        "sequence {CAPACITY} would reuse the slot producer a is still writing"
    );
    *held.get_mut(0).unwrap() = 7;
    drop(held);
    check(&mut newcomer);
}

fn expected(seq: i64) -> u64 {
    if seq == 0 {
        7
    } else {
        100 + seq as u64
    }
}

#[test]
fn a_consumer_joining_starts_at_the_published_end() {
    let (_seg, ring) = multi("late-start-consumer");
    with_a_claim_in_flight(
        &ring,
        |r| r.consumer("late").unwrap(),
        |c| {
            let mut seen = Vec::new();
            while seen.len() < CAPACITY {
                c.poll_batch(WAIT, |e, seq, _| seen.push((seq, *e)))
                    .unwrap();
            }
            let want: Vec<_> = (0..CAPACITY as i64).map(|s| (s, expected(s))).collect();
            assert_eq!(seen, want);
        },
    );
}

#[test]
fn a_pool_joining_starts_at_the_published_end() {
    let (_seg, ring) = multi("late-start-pool");
    with_a_claim_in_flight(
        &ring,
        |r| r.worker("pool").unwrap(),
        |w| {
            for want in 0..CAPACITY as i64 {
                let (seq, e) = w.process(WAIT, |e, _| *e).unwrap();
                assert_eq!((seq, e), (want, expected(want)));
            }
        },
    );
}

#[test]
fn a_stage_after_a_subscriber_starts_at_the_published_end() {
    let (_seg, ring) = multi("late-start-after-sub");
    let mut sub = ring.subscriber("sub").unwrap();
    with_a_claim_in_flight(
        &ring,
        |r| r.consumer_after("after-sub", &["sub"]).unwrap(),
        |c| {
            // The stage follows the subscriber: move it first.
            assert_eq!(sub.next_timeout(WAIT).unwrap(), (0, 7));
            let mut first = None;
            c.poll_batch(WAIT, |_, seq, _| {
                first.get_or_insert(seq);
            })
            .unwrap();
            assert_eq!(first, Some(0));
        },
    );
}

#[test]
fn a_subscriber_joining_starts_at_the_published_end() {
    let (_seg, ring) = multi("late-start-subscriber");
    let _gate = ring.consumer("gate").unwrap();
    with_a_claim_in_flight(
        &ring,
        |r| r.subscriber("late-sub").unwrap(),
        |s| {
            let (seq, e) = s.next_timeout(WAIT).unwrap();
            assert_eq!((seq, e), (0, 7));
        },
    );
}
