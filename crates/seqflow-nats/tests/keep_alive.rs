//! Messages a source holds longer than `ack_wait` (behind a slow stage, in a full ring) are kept
//! alive with "in progress" acknowledgements: the server does not redeliver them meanwhile.
mod common;

use async_nats::jetstream;
use common::*;
use seqflow_nats::{Bridge, BridgeError, JetStreamSource, PodCodec, SourceConfig};
use seqflow_pipeline::Disruptor;
use seqflow_sequence::BlockingWait;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Publish raw payloads to `subject`, each stored before the call returns.
fn publish_raw(bridge: &Bridge, subject: &str, payloads: Vec<Vec<u8>>) {
    let client = bridge.__internal_client();
    let subject = subject.to_owned();
    bridge.__internal_handle().block_on(async move {
        let js = jetstream::new(client);
        let mut acks = Vec::new();
        for p in payloads {
            acks.push(js.publish(subject.clone(), p.into()).await.unwrap());
            if acks.len() >= 256 {
                for a in acks.drain(..) {
                    a.await.unwrap();
                }
            }
        }
        for a in acks {
            a.await.unwrap();
        }
    });
}

/// What `stalled_ring` returns: the disruptor, its producer, the values the stage saw.
type Stalled = (
    Disruptor<u64>,
    seqflow_pipeline::SingleProducer<u64>,
    Arc<Mutex<Vec<u64>>>,
);

/// A 64-slot ring whose stage holds its first event for 3.5 s and records every value.
fn stalled_ring() -> Stalled {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let mut b = Disruptor::builder(64, || 0u64).single_producer().unwrap();
    b.handle_events_with(move |e: &u64, seq, _| {
        if seq == 0 {
            std::thread::sleep(Duration::from_millis(3500));
        }
        s.lock().unwrap().push(*e);
    });
    let (d, p) = b.start().unwrap();
    (d, p, seen)
}

#[test]
fn messages_held_longer_than_ack_wait_are_not_redelivered() {
    const N: u64 = 300;
    let server = server();
    let bridge = bridge(&server);
    stream(&bridge, "KA", "ka.>");
    fill(&bridge, "ka.in", N, PodCodec::<u64>::new());
    let processed = Arc::new(AtomicU64::new(0));
    let p = processed.clone();
    // A 64-slot ring whose stage holds its first event for over three times `ack_wait`: the
    // ring fills, and the rest waits in the source.
    let mut b = Disruptor::builder(64, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_with(move |_: &u64, seq, _| {
        if seq == 0 {
            std::thread::sleep(Duration::from_millis(3500));
        }
        p.fetch_add(1, Relaxed);
    });
    let (d, producer) = b.start().unwrap();
    let config = SourceConfig::new("KA", "slow").ack_wait(Duration::from_secs(1));
    let source = JetStreamSource::start(&bridge, config, producer, PodCodec::<u64>::new()).unwrap();
    let h = source.handle();
    assert!(wait_until(Duration::from_secs(30), || h.stats().acked >= N));
    // A redelivery would have arrived by now (1 s after the first one was due).
    std::thread::sleep(Duration::from_millis(1500));
    let stats = source.stop().unwrap();
    d.shutdown().unwrap();
    assert_eq!(processed.load(Relaxed), N);
    assert_eq!((stats.received, stats.redelivered), (N, 0), "{stats:?}");
    assert!(stats.kept_alive > 0, "{stats:?}");
}

#[test]
fn a_poll_interval_too_long_for_ack_wait_is_refused() {
    let server = server();
    let bridge = bridge(&server);
    stream(&bridge, "KB", "kb.>");
    let mut config = SourceConfig::new("KB", "r").ack_wait(Duration::from_secs(1));
    config.poll_interval = Duration::from_millis(200);
    let mut b = Disruptor::builder(16, || 0u64).single_producer().unwrap();
    b.handle_events_with(|_: &u64, _, _| {});
    let (d, p) = b.start().unwrap();
    let made = JetStreamSource::start(&bridge, config, p, PodCodec::<u64>::new());
    assert!(matches!(made, Err(BridgeError::Config(ref m)) if m.contains("poll_interval")));
    d.shutdown_timeout(Duration::from_secs(5)).unwrap();
}

/// More messages than the source's channel holds, a third of them undecodable, `batch` 256:
/// those that waited unseen in the client while the channel was full are kept alive too, and
/// the ring gets the valid ones once each, in stream order.
#[test]
fn a_large_backlog_with_bad_payloads_is_kept_alive_in_order() {
    const N: u64 = 3000;
    let server = server();
    let bridge = bridge(&server);
    stream(&bridge, "KC", "kc.>");
    let payloads: Vec<Vec<u8>> = (1..=N)
        .map(|i| {
            if i % 3 == 0 {
                vec![0xAB; 5]
            } else {
                i.to_ne_bytes().to_vec()
            }
        })
        .collect();
    let valid: Vec<u64> = (1..=N).filter(|i| i % 3 != 0).collect();
    publish_raw(&bridge, "kc.in", payloads);
    let (d, producer, seen) = stalled_ring();
    let config = SourceConfig::new("KC", "big")
        .ack_wait(Duration::from_secs(1))
        .batch(256);
    let source = JetStreamSource::start(&bridge, config, producer, PodCodec::<u64>::new()).unwrap();
    let h = source.handle();
    assert!(wait_until(Duration::from_secs(60), || h.stats().acked
        >= valid.len() as u64));
    std::thread::sleep(Duration::from_millis(1500));
    let stats = source.stop().unwrap();
    d.shutdown().unwrap();
    assert_eq!(stats.decode_errors, N / 3);
    assert_eq!(stats.redelivered, 0, "{stats:?}");
    assert_eq!(*seen.lock().unwrap(), valid);
}

/// A durable made earlier with a 1 s `ack_wait`, read with the default config (30 s): the
/// keep-alive follows the server's value.
#[test]
fn an_existing_durable_keeps_its_own_ack_wait_and_is_kept_alive_by_it() {
    let server = server();
    let bridge = bridge(&server);
    stream(&bridge, "KD", "kd.>");
    fill(&bridge, "kd.in", 300, PodCodec::<u64>::new());
    let client = bridge.__internal_client();
    bridge.__internal_handle().block_on(async move {
        let stream = jetstream::new(client).get_stream("KD").await.unwrap();
        stream
            .create_consumer(jetstream::consumer::pull::Config {
                durable_name: Some("old".into()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(1),
                ..Default::default()
            })
            .await
            .unwrap();
    });
    let (d, producer, seen) = stalled_ring();
    let source = JetStreamSource::start(
        &bridge,
        SourceConfig::new("KD", "old"),
        producer,
        PodCodec::<u64>::new(),
    )
    .unwrap();
    let h = source.handle();
    assert!(wait_until(Duration::from_secs(30), || h.stats().acked >= 300));
    std::thread::sleep(Duration::from_millis(1500));
    let stats = source.stop().unwrap();
    d.shutdown().unwrap();
    assert_eq!((stats.received, stats.redelivered), (300, 0), "{stats:?}");
    assert_eq!(seen.lock().unwrap().len(), 300);
}
