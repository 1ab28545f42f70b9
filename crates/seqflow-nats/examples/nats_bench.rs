//! Events/s through the JetStream sink and source against plain async-nats, in one run.
//!
//! ```text
//! cargo run --release -p seqflow-nats --example nats_bench -- [--events N] [--rounds R] [--window W]
//! ```
//!
//! Starts its own `nats-server` on a loopback port with file storage (or uses `NATS_URL`), then,
//! each round, with 64-byte events and the same window of outstanding publish acks:
//! - `direct publish`: plain async-nats (its own connection on a default multi-thread tokio
//!   runtime, one worker per core), one task publishing N messages (with the same `Nats-Msg-Id`
//!   header the sink sets), at most W acks outstanding;
//! - `sink`: a seqflow ring (8192 slots, blocking wait, producer thread + sink stage) whose
//!   JetStream sink publishes the same N events; timed until the last one is acknowledged;
//! - `direct consume`: a durable pull consumer (batches of 256) acking every message;
//! - `source`: a `JetStreamSource` feeding a ring with one counting stage, acking after it.
//!
//! Prints each figure and the ratio bridge / direct of the same round, then the medians.
//! Threads: the bridge runtime has one worker; the sink adds the producer and stage threads,
//! the source its feeder and stage threads; the machine had 2 cores when docs/benchmarks.md
//! was written.

use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy};
use futures_util::StreamExt;
use seqflow_nats::{
    msg_id, Bridge, JetStreamSink, JetStreamSource, LocalServer, PodCodec, SinkConfig,
    SourceConfig, StreamSpec,
};
use seqflow_pipeline::Disruptor;
use seqflow_sequence::BlockingWait;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Event = [u64; 8]; // 64 bytes

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let events = arg("--events", 200_000) as u64;
    let rounds = arg("--rounds", 3);
    let window = arg("--window", 256);
    let _server;
    let url = match std::env::var("NATS_URL") {
        Ok(url) => url,
        Err(_) => {
            let s = LocalServer::start()?;
            let url = s.url();
            _server = s;
            url
        }
    };
    let bridge = Bridge::connect_url(&url)?;
    println!(
        "nats_bench: {events} events of 64 bytes, window {window}, file storage, {rounds} rounds"
    );
    println!(
        "{:<6} {:>16} {:>14} {:>7} {:>16} {:>14} {:>7}",
        "round", "direct publish", "sink", "ratio", "direct consume", "source", "ratio"
    );
    let mut pub_ratios = Vec::new();
    let mut con_ratios = Vec::new();
    for round in 0..rounds {
        let d_stream = format!("BENCH_D{round}");
        let s_stream = format!("BENCH_S{round}");
        for (name, subject) in [(&d_stream, "bench.d"), (&s_stream, "bench.s")] {
            bridge.delete_stream(name)?;
            bridge.ensure_stream(&StreamSpec::new(name.as_str(), format!("{subject}{round}")))?;
        }
        let (direct_pub, sink) = if round % 2 == 0 {
            let d = direct_publish(&url, &format!("bench.d{round}"), events, window);
            (
                d,
                sink_publish(&bridge, &format!("bench.s{round}"), events, window)?,
            )
        } else {
            let s = sink_publish(&bridge, &format!("bench.s{round}"), events, window)?;
            (
                direct_publish(&url, &format!("bench.d{round}"), events, window),
                s,
            )
        };
        let (direct_con, source) = if round % 2 == 0 {
            let d = direct_consume(&url, &d_stream, events);
            (d, source_consume(&bridge, &s_stream, events)?)
        } else {
            let s = source_consume(&bridge, &s_stream, events)?;
            (direct_consume(&url, &d_stream, events), s)
        };
        let (rp, rc) = (sink / direct_pub, source / direct_con);
        pub_ratios.push(rp);
        con_ratios.push(rc);
        println!(
            "{round:<6} {:>14.0}/s {:>12.0}/s {rp:>7.2} {:>14.0}/s {:>12.0}/s {rc:>7.2}",
            direct_pub, sink, direct_con, source
        );
        bridge.delete_stream(&d_stream)?;
        bridge.delete_stream(&s_stream)?;
    }
    println!(
        "median ratio: sink / direct publish = {:.2}, source / direct consume = {:.2}",
        median(&mut pub_ratios),
        median(&mut con_ratios)
    );
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn payload(seq: u64) -> Event {
    [
        seq,
        seq ^ 1,
        seq ^ 2,
        seq ^ 3,
        seq ^ 4,
        seq ^ 5,
        seq ^ 6,
        seq ^ 7,
    ]
}

/// Plain async-nats as an application would run it: its own connection on a default
/// multi-thread runtime (one worker per core).
fn plain_async_nats<T>(url: &str, f: impl AsyncFnOnce(async_nats::Client) -> T) -> T {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = async_nats::connect(url).await.expect("connect");
        f(client).await
    })
}

/// Plain async-nats: publish with a window of `window` outstanding acks.
fn direct_publish(url: &str, subject: &str, events: u64, window: usize) -> f64 {
    let subject = subject.to_owned();
    plain_async_nats(url, async move |client| {
        let js = jetstream::ContextBuilder::new()
            .max_ack_inflight(1 << 16)
            .build(client);
        let mut inflight = VecDeque::with_capacity(window);
        let start = Instant::now();
        for seq in 0..events {
            if inflight.len() >= window {
                let ack: jetstream::context::PublishAckFuture = inflight.pop_front().unwrap();
                ack.await.expect("ack");
            }
            let body = bytemuck::bytes_of(&payload(seq)).to_vec();
            let msg = jetstream::message::PublishMessage::build()
                .payload(body.into())
                .message_id(msg_id("direct", seq as i64));
            inflight.push_back(
                js.send_publish(subject.clone(), msg)
                    .await
                    .expect("publish"),
            );
        }
        for ack in inflight {
            ack.await.expect("ack");
        }
        events as f64 / start.elapsed().as_secs_f64()
    })
}

fn sink_publish(
    bridge: &Bridge,
    subject: &str,
    events: u64,
    window: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let sink = JetStreamSink::new(
        bridge,
        SinkConfig::new(subject, "bench").window(window),
        PodCodec::<Event>::new(),
    )?;
    let handle = sink.handle();
    let mut b = Disruptor::builder(8192, || [0u64; 8])
        .wait_strategy(BlockingWait::default())
        .single_producer()?;
    b.handle_events_with(sink);
    let (d, mut p) = b.start()?;
    let start = Instant::now();
    for seq in 0..events {
        p.publish(|e, _| *e = payload(seq))?;
    }
    d.shutdown()?;
    let rate = events as f64 / start.elapsed().as_secs_f64();
    assert_eq!(handle.stats().acked, events);
    Ok(rate)
}

/// Plain async-nats: a durable pull consumer, every message acked.
fn direct_consume(url: &str, stream: &str, events: u64) -> f64 {
    let stream = stream.to_owned();
    plain_async_nats(url, async move |client| {
        let js = jetstream::new(client);
        let s = js.get_stream(&stream).await.expect("stream");
        let consumer = s
            .get_or_create_consumer(
                "direct",
                pull::Config {
                    durable_name: Some("direct".into()),
                    ack_policy: AckPolicy::Explicit,
                    max_ack_pending: 20_000,
                    ..Default::default()
                },
            )
            .await
            .expect("consumer");
        let start = Instant::now();
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(256)
            .messages()
            .await
            .expect("messages");
        let mut sum = 0u64;
        for _ in 0..events {
            let m = messages.next().await.expect("open").expect("message");
            sum = sum.wrapping_add(m.payload.len() as u64);
            m.ack().await.expect("ack");
        }
        let _ = js.client().flush().await;
        assert_eq!(sum, events * 64);
        events as f64 / start.elapsed().as_secs_f64()
    })
}

fn source_consume(
    bridge: &Bridge,
    stream: &str,
    events: u64,
) -> Result<f64, Box<dyn std::error::Error>> {
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    let mut b = Disruptor::builder(8192, || [0u64; 8])
        .wait_strategy(BlockingWait::default())
        .single_producer()?;
    b.handle_events_with(move |e: &Event, _, _| {
        std::hint::black_box(e);
        c.fetch_add(1, Relaxed);
    });
    let (d, producer) = b.start()?;
    let start = Instant::now();
    let source = JetStreamSource::start(
        bridge,
        SourceConfig::new(stream, "source"),
        producer,
        PodCodec::<Event>::new(),
    )?;
    let handle = source.handle();
    let deadline = Instant::now() + Duration::from_secs(600);
    while handle.stats().acked < events && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(200));
    }
    let rate = events as f64 / start.elapsed().as_secs_f64();
    source.stop()?;
    d.shutdown()?;
    assert_eq!(count.load(Relaxed), events);
    Ok(rate)
}
