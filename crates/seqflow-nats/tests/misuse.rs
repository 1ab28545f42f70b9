//! Failures a user or a server can cause, each a typed error in bounded time: acknowledgements
//! with the server gone, an event larger than the server or the stream takes, a panicking
//! decoder, a durable made for other messages, and configurations the server would misread.
mod common;

use common::*;
use seqflow_nats::{
    Bridge, BridgeError, BridgeOptions, CodecError, JetStreamSink, JetStreamSource, PodCodec,
    PublishFailure, RetryPolicy, SinkConfig, SourceConfig,
};
use seqflow_pipeline::Disruptor;
use seqflow_sequence::BlockingWait;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// `f()` on a thread, or `None` if it has not returned after `limit` (a hang, as a failure).
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).ok()
}

fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(50),
    }
}

/// With the server killed and thousands of processed messages waiting for their
/// acknowledgement (more than the client's command queue holds), `stop` still returns: the acks
/// that cannot go out are counted as errors and left to redelivery.
#[test]
fn stop_returns_with_the_server_gone_and_many_acks_pending() {
    const N: u64 = 6000;
    let mut server = server();
    // Set up with the usual patience: creating a stream on a loaded machine may take a while.
    stream(&common::bridge(&server), "DOWN", "down.>");
    let bridge = Bridge::connect(
        BridgeOptions::new(server.url()).request_timeout(Duration::from_millis(500)),
    )
    .unwrap();
    fill(&bridge, "down.in", N, PodCodec::<u64>::new());
    let release = Arc::new(AtomicBool::new(false));
    let handled = Arc::new(AtomicU64::new(0));
    let (r, h) = (release.clone(), handled.clone());
    let mut b = Disruptor::builder(8192, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_with(move |_: &u64, _, _| {
        while !r.load(Relaxed) {
            std::thread::sleep(Duration::from_millis(1));
        }
        h.fetch_add(1, Relaxed);
    });
    let (d, producer) = b.start().unwrap();
    let config = SourceConfig::new("DOWN", "dd")
        .batch(1024)
        .retry(quick_retry());
    let source = JetStreamSource::start(&bridge, config, producer, PodCodec::<u64>::new()).unwrap();
    let stats = source.handle();
    assert!(wait_until(Duration::from_secs(60), || stats
        .stats()
        .published
        == N));
    server.kill();
    release.store(true, Relaxed);
    assert!(wait_until(Duration::from_secs(60), || handled
        .load(Relaxed)
        == N));
    let stopped = within(Duration::from_secs(60), move || source.stop());
    assert!(stopped.is_some(), "stop() hung with the server gone");
    let s = stats.stats();
    assert_eq!(s.acked + s.ack_errors, N, "{s:?}");
    d.shutdown_timeout(Duration::from_secs(10)).unwrap();
}

/// An event larger than the server's `max_payload` is refused by the sink before it is sent
/// (the server would close the connection), naming its own sequence.
#[test]
fn an_event_over_the_servers_limit_is_refused_with_its_sequence() {
    let server = server();
    let bridge = bridge(&server);
    stream(&bridge, "BIG", "big.>");
    let encoder = |e: &u64, _: i64, out: &mut Vec<u8>| -> Result<(), CodecError> {
        out.resize(if *e == 2 { 2 << 20 } else { 8 }, 7);
        Ok(())
    };
    let sink = JetStreamSink::new(
        &bridge,
        SinkConfig::new("big.x", "big").retry(quick_retry()),
        encoder,
    )
    .unwrap();
    let handle = sink.handle();
    let mut b = Disruptor::builder(16, || 0u64).single_producer().unwrap();
    b.handle_events_with(sink);
    let (d, mut p) = b.start().unwrap();
    for i in 1..=3u64 {
        p.publish(|e, _| *e = i).unwrap();
    }
    assert!(wait_until(Duration::from_secs(30), || handle
        .error()
        .is_some()));
    let error = handle.error().unwrap();
    assert!(
        matches!(error, BridgeError::TooLarge { seq: 1, bytes, .. } if bytes == 2 << 20),
        "{error:?}"
    );
    assert!(bridge.is_connected());
    let _ = d.shutdown_timeout(Duration::from_secs(10));
}

/// A decoder that panics stops the source with `Panicked`; the other messages of its batch are
/// decoded (no stale slot besides the one it was writing), and its own message is not
/// acknowledged.
#[test]
fn a_panicking_decoder_stops_the_source_and_spoils_only_its_own_slot() {
    let server = server();
    let bridge = bridge(&server);
    stream(&bridge, "PD", "pd.>");
    fill(&bridge, "pd.in", 10, PodCodec::<u64>::new());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let mut b = Disruptor::builder(16, || 0u64).single_producer().unwrap();
    b.handle_events_with(move |e: &u64, _, _| s.lock().unwrap().push(*e));
    let (d, producer) = b.start().unwrap();
    let decoder = |payload: &[u8], e: &mut u64| {
        let v = u64::from_ne_bytes(payload.try_into().unwrap());
        if v == 5 {
            panic!("decoder bug at 5");
        }
        *e = v;
    };
    let source =
        JetStreamSource::start(&bridge, SourceConfig::new("PD", "pd"), producer, decoder).unwrap();
    let stats = source.handle();
    assert!(wait_until(Duration::from_secs(30), || source.is_finished()));
    let result = source.stop();
    assert!(matches!(result, Err(BridgeError::Panicked(ref m)) if m.contains("decoder bug")));
    d.shutdown_timeout(Duration::from_secs(10)).unwrap();
    let seen = seen.lock().unwrap().clone();
    let decoded: Vec<u64> = seen.iter().copied().filter(|&v| v != 0 && v != 5).collect();
    // Everything up to the panic's claim was published; its other messages came out decoded.
    assert!(decoded.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert!(
        seen.iter().filter(|&&v| v == 0).count() <= 1,
        "stale slots: {seen:?}"
    );
    assert!(stats.stats().acked < 10);
}

/// Configurations the server would misread are refused when the sink or source is made.
#[test]
fn subjects_durable_names_and_ack_wait_are_checked_up_front() {
    let server = server();
    let bridge = bridge(&server);
    stream(&bridge, "M", "m.>");
    for subject in ["m.>", "m.*", "m..x", ".m", "m.", "m x"] {
        let made = JetStreamSink::new(
            &bridge,
            SinkConfig::new(subject, "w"),
            PodCodec::<u64>::new(),
        );
        assert!(matches!(made, Err(BridgeError::Config(_))), "{subject:?}");
    }
    let bad = [
        SourceConfig::new("M", "a.b"),
        SourceConfig::new("M", "a b"),
        SourceConfig::new("M", ""),
        SourceConfig::new("M", "ok").filter_subject("m..x"),
        SourceConfig::new("M", "ok").ack_wait(Duration::MAX),
    ];
    for config in bad {
        let mut b = Disruptor::builder(16, || 0u64).single_producer().unwrap();
        b.handle_events_with(|_: &u64, _, _| {});
        let (d, p) = b.start().unwrap();
        let shown = format!("{config:?}");
        let made = JetStreamSource::start(&bridge, config, p, PodCodec::<u64>::new());
        assert!(matches!(made, Err(BridgeError::Config(_))), "{shown}");
        d.shutdown_timeout(Duration::from_secs(5)).unwrap();
    }
}

/// A durable consumer keeps the filter it was made with: a source asking the same durable for
/// another subject (or for the whole stream) is refused with `Config`, instead of silently
/// reading what the durable reads.
#[test]
fn a_durable_made_with_another_filter_is_refused() {
    let server = server();
    let bridge = bridge(&server);
    stream(&bridge, "F", "f.>");
    fill(&bridge, "f.a", 3, PodCodec::<u64>::new());
    let start = |config: SourceConfig| {
        let (d, producer) = Disruptor::builder(8, || 0u64)
            .wait_strategy(BlockingWait::default())
            .single_producer()
            .unwrap()
            .start()
            .unwrap();
        let started = JetStreamSource::start(&bridge, config, producer, PodCodec::<u64>::new());
        (d, started)
    };
    let (d, first) = start(SourceConfig::new("F", "dur").filter_subject("f.a"));
    first.unwrap().stop().unwrap();
    d.shutdown().unwrap();
    for other in [
        SourceConfig::new("F", "dur").filter_subject("f.b"),
        SourceConfig::new("F", "dur"),
    ] {
        let (d, refused) = start(other);
        match refused {
            Err(BridgeError::Config(message)) => {
                assert!(message.contains("subject f.a"), "{message}")
            }
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("a durable made for f.a was read with another filter"),
        }
        d.shutdown().unwrap();
    }
    // The same filter is fine.
    let (d, again) = start(SourceConfig::new("F", "dur").filter_subject("f.a"));
    again.unwrap().stop().unwrap();
    d.shutdown().unwrap();
}

/// A message the stream refuses for good (over the stream's own `max_message_size`, below the
/// server's `max_payload`) fails the sink at its first attempt with `Rejected`, however patient
/// the retry policy: re-sending it could never succeed.
#[test]
fn a_message_the_stream_refuses_for_good_is_not_retried() {
    let server = server();
    let bridge = bridge(&server);
    let client = bridge.__internal_client();
    bridge.__internal_handle().block_on(async move {
        async_nats::jetstream::new(client)
            .create_stream(async_nats::jetstream::stream::Config {
                name: "SMALL".into(),
                subjects: vec!["small.>".into()],
                max_message_size: 64,
                ..Default::default()
            })
            .await
            .expect("stream");
    });
    let patient = RetryPolicy {
        max_attempts: 1000,
        initial_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(60),
    };
    let sink = JetStreamSink::new(
        &bridge,
        SinkConfig::new("small.x", "small").retry(patient),
        PodCodec::<[u64; 32]>::new(),
    )
    .unwrap();
    let handle = sink.handle();
    let mut b = Disruptor::builder(8, || [0u64; 32])
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_with(sink);
    let (d, mut p) = b.start().unwrap();
    p.publish(|e, _| e[0] = 1).unwrap();
    assert!(wait_until(Duration::from_secs(60), || handle
        .error()
        .is_some()));
    match handle.error().unwrap() {
        BridgeError::Publish {
            seq: 0,
            attempts: 1,
            failure: PublishFailure::Rejected,
            ..
        } => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(handle.stats().retries, 0);
    let _ = d.shutdown_timeout(Duration::from_secs(10));
}
