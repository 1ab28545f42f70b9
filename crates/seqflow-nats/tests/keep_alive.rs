//! Messages a source holds longer than `ack_wait` (behind a slow stage, in a full ring) are kept
//! alive with "in progress" acknowledgements: the server does not redeliver them meanwhile.
mod common;

use common::*;
use seqflow_nats::{BridgeError, JetStreamSource, PodCodec, SourceConfig};
use seqflow_pipeline::Disruptor;
use seqflow_sequence::BlockingWait;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

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
