//! A pool worker that stops asking for events does not hold the producers back: the other
//! workers raise it before they wait (a process that took one job from a queue and then works
//! on it for minutes must not stop the queue a ring's worth of events later).

mod common;

use common::Seg;
use seqflow_shm::{ClaimError, ConsumeError, ProducerMode, ShmOptions, ShmRing, WaitKind};
use std::collections::BTreeSet;
use std::time::Duration;

const NOW: Option<Duration> = Some(Duration::ZERO);

/// Publish until the ring is full; how many were published.
fn fill(producer: &mut seqflow_shm::ShmProducer<u64>, next: &mut u64, end: u64) -> u64 {
    let mut published = 0;
    while *next < end {
        match producer.try_publish(|e, _| *e = *next) {
            Ok(_) => {
                *next += 1;
                published += 1;
            }
            Err(ClaimError::Full { .. }) => break,
            Err(e) => panic!("{e}"),
        }
    }
    published
}

fn idle_worker_case(options: ShmOptions, tag: &str) {
    let seg = Seg::new(tag);
    let ring = ShmRing::<u64>::create(&seg.name, 8, options).unwrap();
    let mut idle = ring.worker("pool").unwrap();
    let mut busy = ring.worker("pool").unwrap();
    let mut producer = ring.producer().unwrap();
    const N: u64 = 500;
    let mut next = 0;
    fill(&mut producer, &mut next, N);
    // The idle worker takes one event and never asks again.
    let (_, first) = idle.process(NOW, |e, _| *e).unwrap();
    let mut seen = BTreeSet::from([first]);
    while next < N {
        let before = next;
        // The other worker takes everything there is, then finds nothing (and waits: that
        // is when it raises the idle one).
        loop {
            match busy.process(NOW, |e, _| *e) {
                Ok((_, v)) => assert!(seen.insert(v), "{v} handed out twice"),
                Err(ConsumeError::Timeout) => break,
                Err(e) => panic!("{e}"),
            }
        }
        fill(&mut producer, &mut next, N);
        assert!(
            next > before,
            "the producer is stuck at {next} of {N}: the idle worker holds it back"
        );
    }
    while let Ok((_, v)) = busy.process(NOW, |e, _| *e) {
        assert!(seen.insert(v), "{v} handed out twice");
    }
    assert_eq!(seen, (0..N).collect(), "every event once");
    // The idle worker comes back: nothing is left for it, and it takes what comes next.
    assert_eq!(
        idle.process(NOW, |e, _| *e).err(),
        Some(ConsumeError::Timeout)
    );
    producer.try_publish(|e, _| *e = N).unwrap();
    assert_eq!(idle.process(NOW, |e, _| *e).unwrap().1, N);
}

#[test]
fn an_idle_worker_does_not_hold_a_single_producer_back() {
    idle_worker_case(ShmOptions::default(), "idle-single");
}

#[test]
fn an_idle_worker_of_a_declared_pool_does_not_hold_producers_back() {
    let options = ShmOptions {
        producer: ProducerMode::MultiCas,
        wait: WaitKind::Futex,
        declared_pools: vec!["pool".into()],
        ..Default::default()
    };
    idle_worker_case(options, "idle-declared");
}

/// A worker with an event in hand is not idle: the producers wait for it, and nothing it reads
/// is overwritten.
#[test]
fn a_worker_inside_its_handler_still_holds_its_event() {
    let seg = Seg::new("idle-holding");
    let ring = ShmRing::<u64>::create(&seg.name, 8, ShmOptions::default()).unwrap();
    let mut slow = ring.worker("pool").unwrap();
    let mut other = ring.worker("pool").unwrap();
    let mut producer = ring.producer().unwrap();
    let mut next = 0;
    fill(&mut producer, &mut next, 100);
    assert_eq!(next, 8);
    slow.process(NOW, |e, _| {
        assert_eq!(*e, 0);
        // Inside the handler: the other worker drains the ring and waits (raising idle
        // workers); the producer may refill every slot but this one's.
        while other.process(NOW, |_, _| ()).is_ok() {}
        assert_eq!(
            other.process(NOW, |_, _| ()).err(),
            Some(ConsumeError::Timeout)
        );
        let published = fill(&mut producer, &mut next, 100);
        assert_eq!(published, 0, "the ring is full up to the event in hand");
        assert_eq!(*e, 0, "the event in hand was overwritten");
    })
    .unwrap();
    // Once it is handled, the producer goes on.
    while other.process(NOW, |_, _| ()).is_ok() {}
    assert!(fill(&mut producer, &mut next, 100) > 0);
}

/// A pool whose other worker runs the stage loop (`pool_stage`) and an idle `ShmWorker` that
/// took one event and never asks again: the producer still gets past a ring.
#[test]
fn an_idle_worker_beside_a_pool_stage_does_not_hold_the_producer_back() {
    let seg = Seg::new("idle-mixed");
    let options = ShmOptions {
        wait: WaitKind::Futex,
        liveness_interval: Duration::from_millis(10),
        ..Default::default()
    };
    let ring = ShmRing::<u64>::create(&seg.name, 8, options).unwrap();
    let mut idle = ring.worker("pool").unwrap();
    let handled = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let h = handled.clone();
    let stage = ring
        .pool_stage("pool")
        .spawn(move |_: &u64, _: i64, _: bool| {
            h.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
    let mut producer = ring.producer().unwrap();
    producer.publish(|e, _| *e = 0).unwrap();
    // The idle worker takes event 0 (unless the stage took it first), then never asks again.
    let mine = u64::from(
        idle.process(Some(Duration::from_millis(200)), |_, _| ())
            .is_ok(),
    );
    const N: u64 = 64;
    for i in 1..N {
        producer
            .publish_timeout(Duration::from_secs(10), |e, _| *e = i)
            .unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while handled.load(std::sync::atomic::Ordering::Relaxed) + mine < N {
        assert!(
            std::time::Instant::now() < deadline,
            "the stage did not catch up"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    ring.close();
    stage.stop();
    stage.join().unwrap();
}
