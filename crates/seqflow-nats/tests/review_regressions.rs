//! Regressions for the bugs an adversarial review of the bridge found: a sink halted by a
//! server restart after an idle spell longer than the duplicate window, a ring id too long for
//! the room kept for headers, timeouts that overflowed a deadline, and a source that
//! acknowledged messages no stage processed once its disruptor was shut down or halted.
mod common;

use common::*;
use seqflow_nats::{
    Bridge, BridgeError, BridgeOptions, JetStreamSink, JetStreamSource, PodCodec, RetryPolicy,
    SinkConfig, SourceConfig, StreamSpec, MAX_RING_ID,
};
use seqflow_pipeline::Disruptor;
use seqflow_sequence::BlockingWait;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn short_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(500),
    }
}

/// A running sink survives a server restart when it has been idle longer than the stream's
/// duplicate window (the same scenario as `server_killed_and_restarted...` but after a pause).
#[test]
fn a_sink_survives_a_server_restart_after_idling_past_the_duplicate_window() {
    let mut server = server();
    let bridge = bridge(&server);
    bridge
        .ensure_stream(&StreamSpec::new("A1", "a1.>").duplicate_window(Duration::from_secs(1)))
        .unwrap();
    let sink = JetStreamSink::new(
        &bridge,
        SinkConfig::new("a1.x", "ring").retry(short_retry()),
        PodCodec::<u64>::new(),
    )
    .unwrap();
    let h = sink.handle();
    let mut b = Disruptor::builder(64, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_with(sink);
    let (d, mut p) = b.start().unwrap();
    for i in 0..10u64 {
        p.publish(|e, _| *e = i).unwrap();
    }
    assert!(wait_until(Duration::from_secs(20), || h.acked_through() == 9));
    std::thread::sleep(Duration::from_secs(3)); // idle > duplicate window
    server.kill();
    server.restart().unwrap();
    assert!(wait_until(Duration::from_secs(20), || bridge.is_connected()));
    for i in 10..20u64 {
        let _ = p.publish_timeout(Duration::from_secs(30), |e, _| *e = i);
    }
    let ok = wait_until(Duration::from_secs(40), || {
        h.acked_through() == 19 || h.error().is_some()
    });
    eprintln!("ok={ok} stats={:?} error={:?}", h.stats(), h.error());
    let _ = d.shutdown_timeout(Duration::from_secs(30));
    assert!(h.error().is_none(), "sink halted: {:?}", h.error());
    assert_eq!(bridge.stream_messages("A1").unwrap(), 20);
}

#[test]
fn a_ring_id_too_long_for_the_header_room_is_a_config_error() {
    let server = server();
    let bridge = bridge(&server);
    let long = "r".repeat(MAX_RING_ID + 1);
    let made = JetStreamSink::new(
        &bridge,
        SinkConfig::new("a2.x", long),
        PodCodec::<u64>::new(),
    );
    assert!(matches!(made, Err(BridgeError::Config(_))));
    let longest = "r".repeat(MAX_RING_ID);
    let made = JetStreamSink::new(
        &bridge,
        SinkConfig::new("a2.x", longest),
        PodCodec::<u64>::new(),
    );
    assert!(made.is_ok());
}

#[test]
fn timeouts_no_deadline_can_hold_are_config_errors_not_panics() {
    let server = server();
    for options in [
        BridgeOptions::new(server.url()).connect_timeout(Duration::MAX),
        BridgeOptions::new(server.url()).request_timeout(Duration::MAX),
        BridgeOptions::new(server.url()).request_timeout(Duration::ZERO),
    ] {
        assert!(matches!(
            Bridge::connect(options),
            Err(BridgeError::Config(_))
        ));
    }
}

/// A slow stage, a stream that keeps growing, then the disruptor halted (or shut down) and
/// the source stopped: what was acknowledged was processed, and a second source on the same
/// durable consumer gets every message that was not.
fn halted_ring_case(halt: bool) {
    let server = server();
    let bridge = bridge(&server);
    stream(&bridge, "A10", "a10.>");
    // A publisher that keeps the stream growing (ids 1..).
    let pb = bridge.clone();
    let publisher = std::thread::spawn(move || {
        fill_paced(
            &pb,
            "a10.in",
            3000,
            PodCodec::<u64>::new(),
            Duration::from_micros(2500),
        )
    });
    let processed = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
    let pr = processed.clone();
    let mut b = Disruptor::builder(8192, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_with(move |e: &u64, _, _| {
        std::thread::sleep(Duration::from_millis(5));
        pr.lock().unwrap().insert(*e);
    });
    let (d, producer) = b.start().unwrap();
    let config = SourceConfig::new("A10", "rep").ack_wait(Duration::from_secs(2));
    let source =
        JetStreamSource::start(&bridge, config.clone(), producer, PodCodec::<u64>::new()).unwrap();
    let h = source.handle();
    assert!(wait_until(Duration::from_secs(30), || h.stats().published >= 400));
    if halt {
        d.halt().ok();
    } else {
        let _ = d.shutdown_timeout(Duration::from_secs(30));
    }
    std::thread::sleep(Duration::from_millis(300));
    let st = source.stop().unwrap();
    let n_processed = processed.lock().unwrap().len() as u64;
    eprintln!("halt={halt}: after stop: {st:?}; processed {n_processed}");
    publisher.join().unwrap();
    // Second incarnation: everything not processed must come (again).
    let pr = processed.clone();
    let mut b = Disruptor::builder(8192, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_with(move |e: &u64, _, _| {
        pr.lock().unwrap().insert(*e);
    });
    let (d, producer) = b.start().unwrap();
    let source = JetStreamSource::start(&bridge, config, producer, PodCodec::<u64>::new()).unwrap();
    wait_until(Duration::from_secs(30), || {
        processed.lock().unwrap().len() == 3000
    });
    std::thread::sleep(Duration::from_secs(3));
    let st2 = source.stop().unwrap();
    d.shutdown_timeout(Duration::from_secs(10)).unwrap();
    let p = processed.lock().unwrap();
    let missing: Vec<u64> = (1..=3000).filter(|i| !p.contains(i)).collect();
    eprintln!(
        "second: {st2:?}; missing {} ids, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(
        st.acked <= n_processed,
        "acked {} > processed {n_processed}",
        st.acked
    );
    assert!(missing.is_empty(), "lost {} messages", missing.len());
}

#[test]
fn a_halted_ring_gets_nothing_acknowledged_that_was_not_processed() {
    halted_ring_case(true);
}

#[test]
fn a_shut_down_ring_gets_nothing_acknowledged_that_was_not_processed() {
    halted_ring_case(false);
}

/// Messages arriving after `d.shutdown()` (the documented order is shutdown, then
/// `source.stop()`) are not acknowledged: no stage will process them.
#[test]
fn messages_arriving_after_shutdown_are_not_acknowledged() {
    let server = server();
    let bridge = bridge(&server);
    stream(&bridge, "A11", "a11.>");
    let processed = Arc::new(AtomicU64::new(0));
    let p = processed.clone();
    let mut b = Disruptor::builder(1024, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_with(move |_: &u64, _, _| {
        p.fetch_add(1, Relaxed);
    });
    let (d, producer) = b.start().unwrap();
    let source = JetStreamSource::start(
        &bridge,
        SourceConfig::new("A11", "rep"),
        producer,
        PodCodec::<u64>::new(),
    )
    .unwrap();
    d.shutdown().unwrap();
    fill(&bridge, "a11.in", 100, PodCodec::<u64>::new());
    std::thread::sleep(Duration::from_secs(1));
    let st = source.stop().unwrap();
    eprintln!("{st:?}; processed {}", processed.load(Relaxed));
    assert_eq!(
        st.acked,
        processed.load(Relaxed),
        "acknowledged messages no stage processed"
    );
}
