//! Stopping a source while its ring runs: the stages finish what the source put in the ring,
//! and the source acknowledges all of it (nothing handled is handed back for redelivery).
mod common;

use common::*;
use seqflow_nats::{JetStreamSource, PodCodec, SourceConfig};
use seqflow_pipeline::Disruptor;
use seqflow_sequence::BlockingWait;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn a_source_stopped_before_the_shutdown_acknowledges_everything_its_ring_handled() {
    let server = server();
    let bridge = bridge(&server);
    stream(&bridge, "STOP", "stop.>");
    let processed = Arc::new(AtomicU64::new(0));
    let p = processed.clone();
    let mut b = Disruptor::builder(1024, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    // Slow enough that every message is in the ring, unprocessed, when the source stops.
    b.handle_events_with(move |_: &u64, _, _| {
        std::thread::sleep(Duration::from_millis(30));
        p.fetch_add(1, Relaxed);
    });
    let (d, producer) = b.start().unwrap();
    let source = JetStreamSource::start(
        &bridge,
        SourceConfig::new("STOP", "rep"),
        producer,
        PodCodec::<u64>::new(),
    )
    .unwrap();
    let h = source.handle();
    fill(&bridge, "stop.in", 20, PodCodec::<u64>::new());
    assert!(wait_until(Duration::from_secs(20), || h.stats().published == 20));
    let stats = source.stop().unwrap();
    d.shutdown().unwrap();
    assert_eq!(processed.load(Relaxed), 20);
    assert_eq!(stats.acked, 20, "{stats:?}");
}
