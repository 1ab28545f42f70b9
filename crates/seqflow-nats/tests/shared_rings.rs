//! The bridge on shared-memory rings: a sink running as a stage of a `DynByteSlot` ring, and a
//! source feeding another one through its `ShmProducer` (the same `Producer` type as in one
//! process), with payloads too long for the second ring refused as undecodable.

mod common;

use common::*;
use seqflow_nats::{DynByteSlotCodec, JetStreamSink, JetStreamSource, SinkConfig, SourceConfig};
use seqflow_shm::{ConsumeError, DynByteSlot, ShmOptions, ShmRing};
use std::time::{Duration, Instant};

const EVENTS: usize = 200;

/// Event `i`'s payload: 1 byte to ~60 KB, a pattern that depends on `i`.
fn payload(i: usize) -> Vec<u8> {
    let len = (i * 7919) % 60_000 + 1;
    (0..len).map(|j| (i as u8).wrapping_add(j as u8)).collect()
}

fn options(declared: &str) -> ShmOptions {
    ShmOptions {
        declared_consumers: vec![declared.to_owned()],
        liveness_interval: Duration::from_millis(20),
        ..Default::default()
    }
}

#[test]
fn byte_slot_rings_through_jetstream() {
    let server = server();
    let bridge = bridge(&server);
    stream(&bridge, "SH", "sh.>");
    let pid = std::process::id();

    // Ring A: 64 KiB slots; its declared stage "sink" journals every event to the stream.
    let a_name = format!("/seqflow-test-nats-a-{pid}");
    let a = ShmRing::<DynByteSlot>::create_bytes(&a_name, 16, 64 << 10, options("sink")).unwrap();
    let _a_guard = a.unlink_on_drop();
    let sink = JetStreamSink::new(
        &bridge,
        SinkConfig::new("sh.in", "ring-a"),
        DynByteSlotCodec::for_ring(&a),
    )
    .unwrap();
    let stage = a.stage("sink").spawn(sink).unwrap();
    let mut producer = a.producer().unwrap();
    for i in 0..EVENTS {
        let bytes = payload(i);
        producer
            .publish(|slot, _| slot.set(&bytes).expect("at most 60 KB"))
            .unwrap();
    }
    a.close();
    let report = stage.join().unwrap();
    assert_eq!(report.sequence, EVENTS as i64 - 1);
    assert_eq!(bridge.stream_messages("SH").unwrap(), EVENTS as u64);

    // Ring B: 32 KiB slots fed from the stream; longer payloads are refused by the codec.
    let b_name = format!("/seqflow-test-nats-b-{pid}");
    let b = ShmRing::<DynByteSlot>::create_bytes(&b_name, 8, 32 << 10, options("reader")).unwrap();
    let _b_guard = b.unlink_on_drop();
    let expected: Vec<Vec<u8>> = (0..EVENTS)
        .map(payload)
        .filter(|p| p.len() <= b.max_payload())
        .collect();
    assert!(
        expected.len() < EVENTS,
        "some payloads must be too long for ring B"
    );
    let mut reader = b.consumer("reader").unwrap();
    let source = JetStreamSource::start(
        &bridge,
        SourceConfig::new("SH", "ring-b"),
        b.producer().unwrap(),
        DynByteSlotCodec::for_ring(&b),
    )
    .unwrap();
    let mut got = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while got < expected.len() {
        assert!(Instant::now() < deadline, "only {got} events arrived");
        let polled = reader.poll_batch(Some(Duration::from_millis(100)), |slot, seq, _| {
            assert_eq!(seq as usize, got, "in stream order, no gaps");
            assert!(slot.as_bytes() == expected[got], "event {got} differs");
            got += 1;
        });
        match polled {
            Ok(_) | Err(ConsumeError::Timeout) => {}
            Err(e) => panic!("{e}"),
        }
    }
    // Everything the reader processed is acknowledged; the long ones were terminated.
    let deadline = Instant::now() + Duration::from_secs(30);
    while source.stats().acked < expected.len() as u64 {
        assert!(Instant::now() < deadline, "{:?}", source.stats());
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = source.stop().unwrap();
    assert_eq!(stats.published, expected.len() as u64);
    assert_eq!(stats.decode_errors, (EVENTS - expected.len()) as u64);
}
