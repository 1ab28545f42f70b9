//! Replicate a journal to another process through NATS JetStream.
//!
//! ```text
//! cargo run --release -p seqflow-nats --example replicate_journal [-- --events N]
//! ```
//!
//! Without `NATS_URL` it starts its own `nats-server` (loopback, JetStream, temporary file
//! store), creates the stream `ORDERS`, then runs two copies of itself as separate processes:
//!
//! - `--role journal`: a ring whose first stage appends every order to a journal file, then the
//!   JetStream sink publishes it, then a "broadcast" stage sees it only once it is durable;
//! - `--role replica`: a durable JetStream source feeding its own ring, whose stage applies the
//!   orders in order (skipping a redelivered one it has already applied).
//!
//! Both compute the count and a checksum of what they handled and compare them with the
//! expected ones; the parent fails unless both succeed.

use bytemuck::{Pod, Zeroable};
use seqflow_nats::{
    Bridge, JetStreamSink, JetStreamSource, LocalServer, PodCodec, SinkConfig, SourceConfig,
    StreamSpec,
};
use seqflow_pipeline::Disruptor;
use seqflow_sequence::BlockingWait;
use std::io::Write;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One order: 32 bytes of plain old data.
#[derive(Clone, Copy, Default, Pod, Zeroable, Debug)]
#[repr(C)]
struct Order {
    id: u64,
    account: u64,
    quantity: u64,
    price: u64,
}

fn order(id: u64) -> Order {
    Order {
        id,
        account: id % 97,
        quantity: 1 + id % 13,
        price: 10_000 + (id * 7919) % 5000,
    }
}

fn mix(o: &Order) -> u64 {
    (o.id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ o.account.rotate_left(17))
        .wrapping_add(o.quantity.wrapping_mul(o.price))
}

fn expected_checksum(n: u64) -> u64 {
    (0..n).map(|i| mix(&order(i))).fold(0, u64::wrapping_add)
}

const STREAM: &str = "ORDERS";
const SUBJECT: &str = "orders.in";

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    // Errors print with their message (`Display`: a missing nats-server says how to install
    // it), not the `Debug` form `main` returning `Result` would print.
    if let Err(e) = run() {
        eprintln!("replicate_journal: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let events: u64 = match arg("--events") {
        None => 50_000,
        Some(v) => v
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("--events takes a whole number above 0, not {v:?}"))?,
    };
    match arg("--role").as_deref() {
        Some("journal") => journal(&arg("--url").ok_or("--url missing")?, events),
        Some("replica") => replica(&arg("--url").ok_or("--url missing")?, events),
        Some(other) => Err(format!("unknown role {other}").into()),
        None => parent(events),
    }
}

/// Start the server (unless NATS_URL), the stream, and both roles as child processes.
fn parent(events: u64) -> Result<()> {
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
    bridge.delete_stream(STREAM)?;
    bridge.ensure_stream(&StreamSpec::new(STREAM, "orders.>"))?;
    let exe = std::env::current_exe()?;
    let spawn = |role: &str| {
        Command::new(&exe)
            .args([
                "--role",
                role,
                "--url",
                &url,
                "--events",
                &events.to_string(),
            ])
            .spawn()
    };
    let mut replica = spawn("replica")?;
    let mut journal = spawn("journal")?;
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut results = [None, None];
    let failed =
        |r: &[Option<std::process::ExitStatus>; 2]| r.iter().flatten().any(|s| !s.success());
    while results.iter().any(Option::is_none) && !failed(&results) && Instant::now() < deadline {
        for (slot, child) in results.iter_mut().zip([&mut journal, &mut replica]) {
            if slot.is_none() {
                *slot = child.try_wait()?;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let ok = |s: &Option<std::process::ExitStatus>| s.is_some_and(|s| s.success());
    if !(ok(&results[0]) && ok(&results[1])) {
        let _ = journal.kill();
        let _ = replica.kill();
        return Err(format!("journal: {:?}, replica: {:?}", results[0], results[1]).into());
    }
    println!("replicate_journal: OK ({events} orders journaled, replicated and verified)");
    Ok(())
}

/// Journal, then replicate through JetStream, then broadcast durable orders.
fn journal(url: &str, events: u64) -> Result<()> {
    let bridge = Bridge::connect_url(url)?;
    let path = std::env::temp_dir().join(format!("seqflow-journal-{}.bin", std::process::id()));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let journaled = Arc::new(AtomicU64::new(0));
    let j = journaled.clone();
    let journal_stage = move |o: &Order, _seq: i64, end_of_batch: bool| {
        // A real journal would also fsync here; the example keeps to the write.
        file.write_all(bytemuck::bytes_of(o))
            .expect("journal write");
        if end_of_batch {
            file.flush().expect("journal flush");
        }
        j.fetch_add(1, Relaxed);
    };
    let sink = JetStreamSink::new(
        &bridge,
        SinkConfig::new(SUBJECT, "orders"),
        PodCodec::<Order>::new(),
    )?;
    let sink_progress = sink.handle();
    let (count, sum) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (c, s, progress) = (count.clone(), sum.clone(), sink_progress.clone());
    let broadcast = move |o: &Order, seq: i64, _: bool| {
        assert!(progress.acked_through() >= seq, "broadcast before durable");
        s.fetch_add(mix(o), Relaxed);
        c.fetch_add(1, Relaxed);
    };
    let mut b = Disruptor::builder(8192, Order::default)
        .wait_strategy(BlockingWait::default())
        .single_producer()?;
    b.handle_events_with(journal_stage)
        .named("journal")
        .then(sink)
        .named("jetstream")
        .then(broadcast)
        .named("broadcast");
    let (d, mut p) = b.start()?;
    for id in 0..events {
        p.publish(|slot, _| *slot = order(id))?;
    }
    d.shutdown_timeout(Duration::from_secs(120))?;
    let _ = std::fs::remove_file(&path);
    let stats = sink_progress.stats();
    let (count, sum) = (count.load(Relaxed), sum.load(Relaxed));
    println!(
        "journal: {} journaled, {} acknowledged by JetStream, {count} broadcast, checksum {sum:#x}",
        journaled.load(Relaxed),
        stats.acked
    );
    if journaled.load(Relaxed) != events || stats.acked != events || count != events {
        return Err("journal: counts differ".into());
    }
    if sum != expected_checksum(events) {
        return Err("journal: checksum differs".into());
    }
    Ok(())
}

/// Read the stream through a durable consumer into this process's own ring.
fn replica(url: &str, events: u64) -> Result<()> {
    let bridge = Bridge::connect_url(url)?;
    let (applied, sum) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (a, s) = (applied.clone(), sum.clone());
    let apply = move |o: &Order, _seq: i64, _: bool| {
        // At-least-once: a redelivered order already applied is skipped; order ids arrive in
        // stream order otherwise.
        let next = a.load(Relaxed);
        if o.id < next {
            return;
        }
        assert_eq!(o.id, next, "gap in the replicated stream");
        s.fetch_add(mix(o), Relaxed);
        a.store(next + 1, Relaxed);
    };
    let mut b = Disruptor::builder(8192, Order::default)
        .wait_strategy(BlockingWait::default())
        .single_producer()?;
    b.handle_events_with(apply).named("apply");
    let (d, producer) = b.start()?;
    let source = JetStreamSource::start(
        &bridge,
        SourceConfig::new(STREAM, "replica"),
        producer,
        PodCodec::<Order>::new(),
    )?;
    let deadline = Instant::now() + Duration::from_secs(240);
    while applied.load(Relaxed) < events && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    // The source first: it lets the running ring finish its events and acknowledges them.
    let stats = source.stop()?;
    d.shutdown_timeout(Duration::from_secs(60))?;
    let (applied, sum) = (applied.load(Relaxed), sum.load(Relaxed));
    println!(
        "replica: {applied} applied ({} received, {} acknowledged, lag {}), checksum {sum:#x}",
        stats.received,
        stats.acked,
        stats.lag()
    );
    if applied != events {
        return Err("replica: count differs".into());
    }
    if sum != expected_checksum(events) {
        return Err("replica: checksum differs".into());
    }
    Ok(())
}
