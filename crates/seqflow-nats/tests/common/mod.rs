//! Helpers shared by the integration tests: a server per test, reading a stream back.
#![allow(dead_code)]

use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy};
use futures_util::StreamExt;
use seqflow_nats::{Bridge, BridgeOptions, LocalServer, StreamSpec};
use std::time::{Duration, Instant};

/// A fresh loopback server; fails the test with the install command if the binary is missing.
pub fn server() -> LocalServer {
    LocalServer::start().unwrap_or_else(|e| panic!("these tests need nats-server: {e}"))
}

pub fn bridge(server: &LocalServer) -> Bridge {
    Bridge::connect(BridgeOptions::new(server.url()).request_timeout(Duration::from_secs(2)))
        .expect("connect")
}

pub fn stream(bridge: &Bridge, name: &str, subject: &str) {
    bridge
        .ensure_stream(&StreamSpec::new(name, subject))
        .expect("create stream");
}

/// Every message of `stream`, in stream order: (Nats-Msg-Id, payload).
pub fn read_stream(bridge: &Bridge, stream: &str) -> Vec<(String, Vec<u8>)> {
    let expected = bridge.stream_messages(stream).expect("stream info") as usize;
    let client = bridge.__internal_client();
    let stream = stream.to_owned();
    bridge.__internal_handle().block_on(async move {
        let js = jetstream::new(client);
        let s = js.get_stream(&stream).await.expect("stream");
        let consumer = s
            .create_consumer(pull::Config {
                ack_policy: AckPolicy::None,
                ..Default::default()
            })
            .await
            .expect("reader consumer");
        let mut out = Vec::with_capacity(expected);
        let deadline = Instant::now() + Duration::from_secs(60);
        while out.len() < expected && Instant::now() < deadline {
            let mut batch = consumer
                .fetch()
                .max_messages(1000)
                .expires(Duration::from_millis(500))
                .messages()
                .await
                .expect("fetch");
            while let Some(m) = batch.next().await {
                let m = m.expect("message");
                let id = m
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
                    .map(|v| v.as_str().to_owned())
                    .unwrap_or_default();
                out.push((id, m.payload.to_vec()));
            }
        }
        out
    })
}

/// Wait until `done()` or `timeout`; returns whether it became true.
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done()
}

/// Fill `subject` with `n` u64 events 1..=n through a sink (with `encoder`).
pub fn fill<C: seqflow_nats::Encoder<u64>>(bridge: &Bridge, subject: &str, n: u64, encoder: C) {
    fill_paced(bridge, subject, n, encoder, Duration::ZERO);
}

/// As [`fill`], pausing `gap` after each event (a stream that keeps growing).
pub fn fill_paced<C: seqflow_nats::Encoder<u64>>(
    bridge: &Bridge,
    subject: &str,
    n: u64,
    encoder: C,
    gap: Duration,
) {
    let sink = seqflow_nats::JetStreamSink::new(
        bridge,
        seqflow_nats::SinkConfig::new(subject, subject),
        encoder,
    )
    .unwrap();
    let mut b = seqflow_pipeline::Disruptor::builder(1024, || 0u64)
        .wait_strategy(seqflow_sequence::BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_with(sink);
    let (d, mut p) = b.start().unwrap();
    for i in 1..=n {
        p.publish(|e, _| *e = i).unwrap();
        if !gap.is_zero() {
            std::thread::sleep(gap);
        }
    }
    d.shutdown_timeout(Duration::from_secs(60)).unwrap();
}
