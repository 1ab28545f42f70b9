//! How `ShmConsumer::poll_batch` groups events into batches while a producer publishes: never
//! inside a claim published at once, never leaving events behind once the producer stops, every
//! event once and in order.

mod common;

use common::Seg;
use seqflow_shm::{ShmConsumer, ShmOptions, ShmProducer, ShmRing, WaitKind};
use std::time::Duration;

const LONG: Option<Duration> = Some(Duration::from_secs(30));

fn yielding() -> ShmOptions {
    ShmOptions {
        wait: WaitKind::Yielding,
        ..Default::default()
    }
}

/// Poll until `events` events arrived, each the value of its own sequence, in order; give the
/// consumer back.
fn poll_in_order(mut consumer: ShmConsumer<u64>, events: u64) -> ShmConsumer<u64> {
    let mut next = 0u64;
    while next < events {
        consumer
            .poll_batch(LONG, |e, seq, _| {
                assert_eq!((*e, seq), (next, next as i64));
                next += 1;
            })
            .unwrap();
    }
    consumer
}

/// A tiny deterministic generator (xorshift), so a failure can be replayed.
fn sizes(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut state = seed;
    move |n| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    }
}

/// Claims of 1 to 12 events, each event carrying its claim's number, published while a consumer
/// polls: every claim arrives whole in one `poll_batch`, with `end_of_batch` only on the last
/// event of a call, and every event arrives once, in order.
#[test]
fn claims_published_at_once_arrive_in_one_poll() {
    let seg = Seg::new("pollclaims");
    let ring = ShmRing::<u64>::create(&seg.name, 64, yielding()).unwrap();
    let mut consumer = ring.consumer("c").unwrap();
    let mut producer = ring.producer().unwrap();
    const CLAIMS: u64 = 40_000;
    let mut next_size = sizes(0x9e37_79b9_7f4a_7c15);
    let claim_sizes: Vec<u64> = (0..CLAIMS).map(|_| 1 + next_size(12)).collect();
    let total: u64 = claim_sizes.iter().sum();
    let polls = std::thread::scope(|s| {
        let polling = s.spawn(move || {
            let mut polls: Vec<Vec<(i64, u64, bool)>> = Vec::new();
            let mut received = 0;
            while received < total {
                let mut batch = Vec::new();
                let n = consumer
                    .poll_batch(LONG, |e, seq, end| batch.push((seq, *e, end)))
                    .unwrap();
                assert_eq!(n, batch.len());
                received += n as u64;
                polls.push(batch);
            }
            polls
        });
        for (claim, &size) in claim_sizes.iter().enumerate() {
            producer
                .publish_batch(size as usize, |e, _| *e = claim as u64)
                .unwrap();
            if claim % 7 == 0 {
                // Let the consumer catch up now and then, so it polls inside claims' lines.
                std::thread::yield_now();
            }
        }
        polling.join().unwrap()
    });
    let mut expected_seq = 0;
    let mut poll_of_claim = vec![usize::MAX; CLAIMS as usize];
    for (p, batch) in polls.iter().enumerate() {
        assert!(!batch.is_empty(), "poll {p} handled nothing");
        for (k, &(seq, claim, end)) in batch.iter().enumerate() {
            assert_eq!(seq, expected_seq, "every event once, in order");
            expected_seq += 1;
            assert_eq!(
                end,
                k + 1 == batch.len(),
                "end_of_batch on the last event only"
            );
            let first_seen = &mut poll_of_claim[claim as usize];
            if *first_seen == usize::MAX {
                *first_seen = p;
            }
            assert_eq!(
                *first_seen, p,
                "claim {claim} split across polls {first_seen} and {p}"
            );
        }
    }
    assert_eq!(expected_seq as u64, total);
}

/// One event at a time, with the producer pausing at random: the consumer gets every event, and
/// a poll after the producer stopped takes everything left (nothing waits for a later publish).
#[test]
fn events_published_one_at_a_time_all_arrive_and_none_wait_for_more() {
    let seg = Seg::new("pollsingles");
    let ring = ShmRing::<u64>::create(&seg.name, 256, yielding()).unwrap();
    let consumer = ring.consumer("c").unwrap();
    let mut producer = ring.producer().unwrap();
    const EVENTS: u64 = 100_000;
    std::thread::scope(|s| {
        let polling = s.spawn(move || poll_in_order(consumer, EVENTS));
        let mut pause = sizes(7);
        for v in 0..EVENTS {
            producer.publish(|e, _| *e = v).unwrap();
            if pause(64) == 0 {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
        let mut consumer = polling.join().unwrap();
        // Stopped producer, a few events in a partial line: one poll takes them all.
        for v in 0..3 {
            producer.publish(|e, _| *e = EVENTS + v).unwrap();
        }
        let mut got = Vec::new();
        let n = consumer.poll_batch(LONG, |e, _, _| got.push(*e)).unwrap();
        assert_eq!((n, got), (3, vec![EVENTS, EVENTS + 1, EVENTS + 2]));
    });
}

/// A busy-spinning consumer paced at the longest pause (`Pacing::MAX_SPINS` after every batch of
/// two or more) and one paced by default, behind a producer publishing one event at a time and
/// sometimes a few at once: every event arrives once, in order. A halt raised right after a
/// batch ends the next `poll_batch` (after its pause) with `Alerted`.
#[test]
fn paced_busy_consumers_get_every_event_and_see_a_halt() {
    use seqflow_shm::{ConsumeError, Pacing};
    for pacing in [Pacing::new(u32::MAX, u32::MAX), Pacing::DEFAULT] {
        let seg = Seg::new("pollpaced");
        let busy = ShmOptions {
            wait: WaitKind::BusySpin,
            ..Default::default()
        };
        let ring = ShmRing::<u64>::create(&seg.name, 128, busy).unwrap();
        let mut consumer = ring.consumer("c").unwrap();
        consumer.set_pacing(pacing);
        let mut producer = ring.producer().unwrap();
        const EVENTS: u64 = 50_000;
        let mut consumer = std::thread::scope(|s| {
            let polling = s.spawn(move || poll_in_order(consumer, EVENTS));
            let mut size = sizes(11);
            let mut v = 0;
            while v < EVENTS {
                let n = (1 + size(4)).min(EVENTS - v);
                producer
                    .publish_batch(n as usize, |e, seq| *e = seq as u64)
                    .unwrap();
                v += n;
            }
            polling.join().unwrap()
        });
        producer.publish_batch(3, |e, seq| *e = seq as u64).unwrap();
        assert_eq!(consumer.poll_batch(LONG, |_, _, _| {}), Ok(3));
        ring.halt_all();
        assert_eq!(
            consumer.poll_batch(LONG, |_, _, _| {}),
            Err(ConsumeError::Alerted)
        );
    }
}

/// Publish `first..=first + 5` in one claim and let a `poll_batch` handler panic on
/// `first + 2`; then publish `first + 6..=first + 10` one at a time and wait for them with the
/// caller's own `wait_for`.
fn panic_then_wait(c: &mut ShmConsumer<u64>, p: &mut ShmProducer<u64>, first: u64) {
    p.publish_batch(6, |e, s| *e = s as u64).unwrap();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        c.poll_batch(LONG, |_, s, _| assert!(s as u64 != first + 2, "boom"))
            .unwrap()
    }));
    assert!(panicked.is_err());
    for _ in 0..5 {
        p.publish(|e, s| *e = s as u64).unwrap();
    }
    let last = (first + 10) as i64;
    assert_eq!(c.wait_for(last - 4, LONG), Ok(last));
}

/// After a handler panic left a batch half done and the caller's own `wait_for` saw more, `poll`
/// takes everything available, from the event the handler panicked on, and so do `poll_batch`
/// calls: every event once, in order.
#[test]
fn poll_after_a_panic_and_a_wait_takes_everything_available() {
    let seg = Seg::new("pollafterpanic");
    let ring = ShmRing::<u64>::create(&seg.name, 64, ShmOptions::default()).unwrap();
    let mut c = ring.consumer("c").unwrap();
    let mut p = ring.producer().unwrap();
    panic_then_wait(&mut c, &mut p, 0);
    let mut got = vec![];
    let n = c.poll(|e, _, _| got.push(*e)).unwrap();
    assert_eq!((n, got), (9, (2..=10).collect::<Vec<u64>>()));

    panic_then_wait(&mut c, &mut p, 11);
    let mut got = vec![];
    while got.last() != Some(&21) {
        c.poll_batch(LONG, |e, _, _| got.push(*e)).unwrap();
    }
    assert_eq!(got, (13..=21).collect::<Vec<u64>>());
}
