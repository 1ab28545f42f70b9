//! The JetStream source against a real nats-server: feeding a ring with backpressure,
//! acknowledging after the last stage, redelivery after a crash, undecodable messages, a server
//! restart while consuming.

mod common;

use common::*;
use seqflow_nats::{CodecError, JetStreamSource, PodCodec, SourceConfig};
use seqflow_pipeline::Disruptor;
use seqflow_sequence::BlockingWait;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn the_source_feeds_a_small_ring_and_acknowledges_everything_processed() {
    const N: u64 = 3000;
    let server = server();
    let bridge = bridge(&server);
    stream(&bridge, "R1", "r1.>");
    fill(&bridge, "r1.in", N, PodCodec::<u64>::new());

    let sum = Arc::new(AtomicU64::new(0));
    let count = Arc::new(AtomicU64::new(0));
    let (s, c) = (sum.clone(), count.clone());
    // A ring of 16 and a slowish last stage: the source must wait for room (backpressure).
    let mut b = Disruptor::builder(16, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_with(|_: &u64, _, _| {})
        .then(move |e: &u64, seq: i64, _| {
            if seq % 500 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
            s.fetch_add(*e, Relaxed);
            c.fetch_add(1, Relaxed);
        });
    let (d, producer) = b.start().unwrap();
    let source = JetStreamSource::start(
        &bridge,
        SourceConfig::new("R1", "reader"),
        producer,
        PodCodec::<u64>::new(),
    )
    .unwrap();
    let handle = source.handle();
    assert!(
        wait_until(Duration::from_secs(60), || handle.stats().acked == N),
        "{:?}",
        handle.stats()
    );
    let stats = source.stop().unwrap();
    d.shutdown_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(count.load(Relaxed), N);
    assert_eq!(sum.load(Relaxed), N * (N + 1) / 2);
    assert_eq!(
        (stats.received, stats.published, stats.in_ring()),
        (N, N, 0)
    );
    assert_eq!(stats.lag(), 0);
    assert_eq!(stats.decode_errors, 0);
}

#[test]
fn messages_not_processed_before_a_crash_are_redelivered() {
    const N: u64 = 1000;
    const FIRST: u64 = 400;
    let server = server();
    let bridge = bridge(&server);
    stream(&bridge, "R2", "r2.>");
    fill(&bridge, "r2.in", N, PodCodec::<u64>::new());
    let config = SourceConfig::new("R2", "durable").ack_wait(Duration::from_secs(1));
    let seen = Arc::new(Mutex::new(BTreeSet::new()));

    // First incarnation: the last stage handles FIRST events, then hangs (the process "dies").
    let release = Arc::new(AtomicBool::new(false));
    let (sn, r) = (seen.clone(), release.clone());
    let handled = Arc::new(AtomicU64::new(0));
    let h = handled.clone();
    let mut b = Disruptor::builder(64, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_with(move |e: &u64, _, _| {
        if h.load(Relaxed) >= FIRST {
            // Bounded: the test releases it within seconds.
            for _ in 0..3000 {
                if r.load(Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            return;
        }
        sn.lock().unwrap().insert(*e);
        h.fetch_add(1, Relaxed);
    });
    let (d, producer) = b.start().unwrap();
    let source =
        JetStreamSource::start(&bridge, config.clone(), producer, PodCodec::<u64>::new()).unwrap();
    assert!(wait_until(Duration::from_secs(30), || handled
        .load(Relaxed)
        == FIRST));
    // The stage's sequence moves once per batch, so the source may have acknowledged less than
    // FIRST (the rest of the hung batch); never more.
    std::thread::sleep(Duration::from_millis(200));
    let first = source.stop().unwrap();
    assert!(
        first.acked <= FIRST,
        "only processed events are acknowledged: {first:?}"
    );
    assert!(
        first.received > first.acked,
        "the ring held more, unacknowledged"
    );
    release.store(true, Relaxed);
    let _ = d.halt();

    // Second incarnation: the same durable consumer gets the rest, the unacknowledged ones again.
    let sn = seen.clone();
    let mut b = Disruptor::builder(64, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_with(move |e: &u64, _, _| {
        sn.lock().unwrap().insert(*e);
    });
    let (d, producer) = b.start().unwrap();
    let source = JetStreamSource::start(&bridge, config, producer, PodCodec::<u64>::new()).unwrap();
    let handle = source.handle();
    // Every message handled (a message handed back at the first stop can be delivered twice,
    // so the acknowledgements can reach N - first.acked before the last message is handled).
    assert!(
        wait_until(Duration::from_secs(60), || seen.lock().unwrap().len()
            as u64
            == N
            && handle.stats().acked >= N - first.acked),
        "{:?}",
        handle.stats()
    );
    let second = source.stop().unwrap();
    d.shutdown_timeout(Duration::from_secs(30)).unwrap();
    assert!(second.redelivered >= 1, "{second:?}");
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.len() as u64,
        N,
        "every message processed at least once"
    );
    assert_eq!(
        seen.iter().copied().collect::<Vec<_>>(),
        (1..=N).collect::<Vec<_>>()
    );
}

#[test]
fn undecodable_messages_are_terminated_and_counted_not_fed() {
    let server = server();
    let bridge = bridge(&server);
    stream(&bridge, "R3", "r3.>");
    // Every tenth message is 3 bytes long: not a u64.
    let encoder = |e: &u64, _seq: i64, out: &mut Vec<u8>| -> Result<(), CodecError> {
        if e % 10 == 0 {
            out.extend_from_slice(b"bad");
        } else {
            out.extend_from_slice(&e.to_ne_bytes());
        }
        Ok(())
    };
    fill(&bridge, "r3.in", 100, encoder);
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    let mut b = Disruptor::builder(64, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_with(move |e: &u64, _, _| {
        assert_ne!(e % 10, 0);
        c.fetch_add(1, Relaxed);
    });
    let (d, producer) = b.start().unwrap();
    let source = JetStreamSource::start(
        &bridge,
        SourceConfig::new("R3", "reader"),
        producer,
        PodCodec::<u64>::new(),
    )
    .unwrap();
    let handle = source.handle();
    assert!(wait_until(Duration::from_secs(30), || {
        let s = handle.stats();
        s.acked == 90 && s.decode_errors == 10
    }));
    source.stop().unwrap();
    d.shutdown_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(count.load(Relaxed), 90);
}

#[test]
fn a_server_restart_while_consuming_loses_nothing() {
    const N: u64 = 20_000;
    let mut server = server();
    let bridge = bridge(&server);
    stream(&bridge, "R4", "r4.>");
    fill(&bridge, "r4.in", N, PodCodec::<u64>::new());
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let sn = seen.clone();
    let mut b = Disruptor::builder(256, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_with(move |e: &u64, _, _| {
        sn.lock().unwrap().insert(*e);
    });
    let (d, producer) = b.start().unwrap();
    let source = JetStreamSource::start(
        &bridge,
        SourceConfig::new("R4", "reader").ack_wait(Duration::from_secs(2)),
        producer,
        PodCodec::<u64>::new(),
    )
    .unwrap();
    let handle = source.handle();
    assert!(wait_until(Duration::from_secs(60), || handle.stats().acked >= 2000));
    server.kill();
    std::thread::sleep(Duration::from_millis(300));
    server.restart().unwrap();
    assert!(
        wait_until(Duration::from_secs(90), || seen.lock().unwrap().len()
            as u64
            == N),
        "{:?}",
        handle.stats()
    );
    let stats = source.stop().unwrap();
    d.shutdown_timeout(Duration::from_secs(30)).unwrap();
    eprintln!("after the restart: {stats:?}");
    assert!(stats.published >= N);
}
