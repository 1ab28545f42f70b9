//! The JetStream sink against a real nats-server: order, ids, gating of later stages,
//! de-duplication on restart, a server killed mid-stream, halting with a typed error.

mod common;

use common::*;
use seqflow_nats::{
    msg_id, BridgeError, BridgeOptions, CodecError, JetStreamSink, PodCodec, RetryPolicy,
    SinkConfig,
};
use seqflow_pipeline::{Disruptor, ShutdownError};
use seqflow_sequence::BlockingWait;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

fn value(seq: i64) -> u64 {
    (seq as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xABCD
}

/// Check the stream holds exactly events 0..n of `ring`, in order, with their payloads.
fn assert_stream_is(bridge: &seqflow_nats::Bridge, stream: &str, ring: &str, n: i64) {
    let messages = read_stream(bridge, stream);
    assert_eq!(messages.len() as i64, n, "stream {stream} message count");
    for (i, (id, payload)) in messages.iter().enumerate() {
        assert_eq!(
            id,
            &msg_id(ring, i as i64),
            "message {i} out of order or missing"
        );
        assert_eq!(
            payload.as_slice(),
            &value(i as i64).to_ne_bytes(),
            "payload {i}"
        );
    }
}

#[test]
fn every_event_is_published_once_in_order_and_later_stages_see_only_acked_events() {
    let server = server();
    let bridge = bridge(&server);
    stream(&bridge, "S1", "s1.>");
    let sink = JetStreamSink::new(
        &bridge,
        SinkConfig::new("s1.events", "ring-a").window(32),
        PodCodec::<u64>::new(),
    )
    .unwrap();
    let handle = sink.handle();
    let early = Arc::new(AtomicU64::new(0));
    let seen = Arc::new(AtomicU64::new(0));
    let (h, e, s) = (handle.clone(), early.clone(), seen.clone());
    let mut b = Disruptor::builder(256, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_with(sink)
        .then(move |_: &u64, seq: i64, _| {
            if h.acked_through() < seq {
                e.fetch_add(1, Relaxed);
            }
            s.fetch_add(1, Relaxed);
        });
    let (d, mut p) = b.start().unwrap();
    for _ in 0..5000 {
        p.publish(|ev, seq| *ev = value(seq)).unwrap();
    }
    d.shutdown_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!(seen.load(Relaxed), 5000);
    assert_eq!(
        early.load(Relaxed),
        0,
        "a later stage saw an unacknowledged event"
    );
    let stats = handle.stats();
    assert_eq!(
        (stats.acked, stats.acked_through, stats.duplicates),
        (5000, 4999, 0)
    );
    assert!(handle.error().is_none());
    assert_stream_is(&bridge, "S1", "ring-a", 5000);
}

fn run_sink(
    bridge: &seqflow_nats::Bridge,
    config: SinkConfig,
    events: i64,
) -> seqflow_nats::SinkStats {
    let sink = JetStreamSink::new(bridge, config, PodCodec::<u64>::new()).unwrap();
    let handle = sink.handle();
    let mut b = Disruptor::builder(1024, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_with(sink);
    let (d, mut p) = b.start().unwrap();
    for _ in 0..events {
        p.publish(|ev, seq| *ev = value(seq)).unwrap();
    }
    d.shutdown_timeout(Duration::from_secs(60)).unwrap();
    handle.stats()
}

#[test]
fn a_restarted_sink_republishing_its_journal_writes_no_duplicates() {
    let server = server();
    let bridge = bridge(&server);
    stream(&bridge, "S2", "s2.>");
    let first = run_sink(&bridge, SinkConfig::new("s2.events", "journal"), 300);
    assert_eq!((first.acked, first.duplicates), (300, 0));
    // The same journal replayed from the start by a new sink (as after a crash), and further.
    let second = run_sink(&bridge, SinkConfig::new("s2.events", "journal"), 500);
    assert_eq!((second.acked, second.duplicates), (500, 300));
    assert_stream_is(&bridge, "S2", "journal", 500);
}

#[test]
fn non_exclusive_sinks_share_a_stream() {
    let server = server();
    let bridge = bridge(&server);
    stream(&bridge, "S3", "s3.>");
    let a = run_sink(&bridge, SinkConfig::new("s3.a", "a").exclusive(false), 200);
    let b = run_sink(&bridge, SinkConfig::new("s3.b", "b").exclusive(false), 100);
    assert_eq!((a.acked, b.acked), (200, 100));
    assert_eq!(bridge.stream_messages("S3").unwrap(), 300);
}

#[test]
fn server_killed_and_restarted_mid_stream_loses_nothing_and_keeps_order() {
    const EVENTS: i64 = 30_000;
    let mut server = server();
    let bridge = bridge(&server);
    stream(&bridge, "S4", "s4.>");
    let retry = RetryPolicy {
        max_attempts: 40,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(500),
    };
    let sink = JetStreamSink::new(
        &bridge,
        SinkConfig::new("s4.events", "crash").retry(retry),
        PodCodec::<u64>::new(),
    )
    .unwrap();
    let handle = sink.handle();
    let mut b = Disruptor::builder(1024, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_with(sink);
    let (d, mut p) = b.start().unwrap();
    let producer = std::thread::spawn(move || {
        for _ in 0..EVENTS {
            p.publish(|ev, seq| *ev = value(seq)).unwrap();
        }
    });
    assert!(
        wait_until(Duration::from_secs(60), || handle.acked_through() >= 3000),
        "the sink made no progress before the kill"
    );
    server.kill();
    std::thread::sleep(Duration::from_millis(300));
    server.restart().expect("restart nats-server");
    producer.join().unwrap();
    d.shutdown_timeout(Duration::from_secs(120)).unwrap();
    let stats = handle.stats();
    eprintln!("after the restart: {stats:?}");
    assert!(handle.error().is_none(), "{:?}", handle.error());
    assert_eq!(stats.acked_through, EVENTS - 1);
    assert_stream_is(&bridge, "S4", "crash", EVENTS);
}

#[test]
fn a_server_that_stays_down_halts_the_disruptor_with_a_typed_error() {
    let mut server = server();
    // Set up with the usual patience: creating a stream on a loaded machine may take a while.
    stream(&common::bridge(&server), "S5", "s5.>");
    // A request timeout that a live server on a loaded machine meets (the sink must not give up
    // while the server is up), and short enough that three attempts on a dead one end soon.
    let bridge = seqflow_nats::Bridge::connect(
        BridgeOptions::new(server.url()).request_timeout(Duration::from_secs(2)),
    )
    .unwrap();
    let retry = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(50),
    };
    let sink = JetStreamSink::new(
        &bridge,
        SinkConfig::new("s5.events", "down").retry(retry),
        PodCodec::<u64>::new(),
    )
    .unwrap();
    let handle = sink.handle();
    let after = Arc::new(AtomicU64::new(0));
    let a = after.clone();
    let mut b = Disruptor::builder(64, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_with(sink).then(move |_: &u64, _, _| {
        a.fetch_add(1, Relaxed);
    });
    let (d, mut p) = b.start().unwrap();
    for _ in 0..10 {
        p.publish(|ev, seq| *ev = value(seq)).unwrap();
    }
    assert!(wait_until(Duration::from_secs(30), || handle
        .acked_through()
        == 9));
    server.kill();
    for _ in 0..10 {
        // Returns Halted once the sink gives up; either way nothing blocks forever (ring of 64).
        let _ = p.publish_timeout(Duration::from_secs(30), |ev, seq| *ev = value(seq));
    }
    assert!(wait_until(Duration::from_secs(30), || handle
        .error()
        .is_some()));
    let err = d.shutdown_timeout(Duration::from_secs(30)).unwrap_err();
    assert!(
        matches!(err, ShutdownError::HandlerPanicked { .. }),
        "{err:?}"
    );
    match handle.error().unwrap() {
        BridgeError::Publish { seq, attempts, .. } => {
            assert_eq!(seq, 10);
            assert_eq!(attempts, 3);
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert_eq!(
        after.load(Relaxed),
        10,
        "only acknowledged events passed the sink"
    );
}

#[test]
fn an_encoder_error_halts_instead_of_leaving_a_hole() {
    let server = server();
    let bridge = bridge(&server);
    stream(&bridge, "S6", "s6.>");
    let encoder = |e: &u64, _seq: i64, out: &mut Vec<u8>| -> Result<(), CodecError> {
        if *e == 7 {
            return Err(CodecError::new("seven is not allowed"));
        }
        out.extend_from_slice(&e.to_le_bytes());
        Ok(())
    };
    let sink = JetStreamSink::new(&bridge, SinkConfig::new("s6.events", "enc"), encoder).unwrap();
    let handle = sink.handle();
    let mut b = Disruptor::builder(16, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_with(sink);
    let (d, mut p) = b.start().unwrap();
    for i in 0..10u64 {
        if p.publish_timeout(Duration::from_secs(10), |ev, _| *ev = i)
            .is_err()
        {
            break;
        }
    }
    assert!(wait_until(Duration::from_secs(30), || handle
        .error()
        .is_some()));
    assert!(d.shutdown_timeout(Duration::from_secs(30)).is_err());
    assert!(matches!(
        handle.error(),
        Some(BridgeError::Encode { seq: 7, .. })
    ));
}

#[test]
fn invalid_configuration_and_unreachable_server_are_typed_errors() {
    let server = server();
    let bridge = bridge(&server);
    let bad = JetStreamSink::new(
        &bridge,
        SinkConfig::new("x", "r").window(0),
        PodCodec::<u64>::new(),
    );
    assert!(matches!(bad.err(), Some(BridgeError::Config(_))));
    let bad = JetStreamSink::new(
        &bridge,
        SinkConfig::new("has space", "r"),
        PodCodec::<u64>::new(),
    );
    assert!(matches!(bad.err(), Some(BridgeError::Config(_))));
    // A port nothing listens on (the server's own port after it is gone).
    let url = server.url();
    drop(bridge);
    drop(server);
    let err = seqflow_nats::Bridge::connect(
        BridgeOptions::new(url).connect_timeout(Duration::from_millis(500)),
    )
    .unwrap_err();
    assert!(matches!(err, BridgeError::Connect { .. }), "{err:?}");
}

#[test]
fn a_missing_server_binary_names_the_install_command() {
    let err = seqflow_nats::LocalServer::start_with("/nonexistent/nats-server").unwrap_err();
    assert!(
        err.to_string().contains("apt-get install -y nats-server"),
        "{err}"
    );
}
