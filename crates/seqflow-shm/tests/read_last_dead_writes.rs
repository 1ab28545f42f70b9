//! `ShmRing::read_last` after dead producers' claims were released "as they stood": a producer
//! killed between writing its claim and publishing it has overwritten the slots' previous
//! events. The copy check of `read_last` must still count those claims as a later lap of the
//! slots below them: the event it returns must be one a producer wrote at that sequence.
//! (harness = false: the cases fork.)

mod common;

use common::{fork_child, Pipe, Seg};
use seqflow_shm::{ConsumeError, ProducerMode, ShmConsumer, ShmOptions, ShmRing, WaitKind};
use std::time::{Duration, Instant};

const ATTACH: Duration = Duration::from_secs(10);

fn options() -> ShmOptions {
    ShmOptions {
        producer: ProducerMode::MultiCas,
        max_consumers: 4,
        max_producers: 4,
        wait: WaitKind::Futex,
        liveness_interval: Duration::from_millis(20),
        ..Default::default()
    }
}

fn drain_through(c: &mut ShmConsumer<u64>, upto: i64) -> Vec<ConsumeError> {
    let mut errors = Vec::new();
    let start = Instant::now();
    while c.sequence() < upto && start.elapsed() < Duration::from_secs(30) {
        if let Err(e) = c.poll_batch(Some(Duration::from_millis(200)), |_, _, _| {}) {
            errors.push(e);
        }
    }
    errors
}

/// Fork a producer that claims `n` slots, writes `900 + seq` into every one of them, and is
/// killed before it publishes.
fn kill_a_producer_that_wrote_a_claim_of(name: &str, n: usize) {
    let claimed = Pipe::new();
    let mut child = fork_child(|| {
        let ring = ShmRing::<u64>::open(name, ATTACH).map_err(|e| e.to_string())?;
        let mut p = ring.producer().map_err(|e| e.to_string())?;
        let mut claim = p.claim(n).map_err(|e| e.to_string())?;
        let start = claim.range().start();
        for (i, e) in claim.iter_mut().enumerate() {
            *e = 900 + (start as u64 + i as u64);
        }
        claimed.send(b"c");
        std::thread::sleep(Duration::from_secs(60));
        Ok(())
    });
    claimed
        .recv(1, ATTACH)
        .expect("the child claimed and wrote");
    child.kill();
}

fn check(ring: &ShmRing<u64>, what: &str) {
    if let Some((seq, value)) = ring.read_last() {
        assert_eq!(
            value,
            100 + seq as u64,
            "{what}: read_last returned sequence {seq} holding {value}, which a dead producer \
             wrote for sequence {}",
            seq + 8
        );
    }
}

/// Dead producers that wrote claims of `claims` slots on an 8-slot ring after its first lap
/// (`0..=7`, read by the consumer), then were released as their claims stood.
fn dead_producers_wrote(tag: &str, claims: &[usize]) {
    let seg = Seg::new(tag);
    let ring = ShmRing::<u64>::create(&seg.name, 8, options()).unwrap();
    let mut c = ring.consumer("c").unwrap();
    let mut p = ring.producer().unwrap();
    for _ in 0..8 {
        p.publish(|e, seq| *e = 100 + seq as u64).unwrap();
    }
    assert!(drain_through(&mut c, 7).is_empty());
    for &n in claims {
        kill_a_producer_that_wrote_a_claim_of(&seg.name, n);
    }
    let errors = drain_through(&mut c, 15);
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, ConsumeError::ProducerDied { .. })),
        "{errors:?}"
    );
    assert_eq!(ring.published(), 15, "released as they stood");
    check(&ring, tag);
}

/// One dead producer wrote a whole lap (a claim of 8).
fn one_dead_producer_wrote_a_whole_lap() {
    dead_producers_wrote("dead-lap", &[8]);
}

/// Two dead producers wrote half a lap each (claims of 4).
fn two_dead_producers_wrote_half_a_lap_each() {
    dead_producers_wrote("dead-halves", &[4, 4]);
}

fn main() {
    common::run_cases(&[
        (
            "one_dead_producer_wrote_a_whole_lap",
            one_dead_producer_wrote_a_whole_lap,
        ),
        (
            "two_dead_producers_wrote_half_a_lap_each",
            two_dead_producers_wrote_half_a_lap_each,
        ),
    ]);
}
