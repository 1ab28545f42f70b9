//! A parent creates a named ring and starts this same program again as separate worker
//! processes (no fork: `std::process::Command`), which attach by name and share the work as one
//! pool: each job is handled by exactly one worker. Each worker prints what it did; the parent
//! checks that every job was done once.
//!
//! ```text
//! cargo run -p seqflow-shm --example spawn_workers -- [WORKERS] [JOBS]
//! ```

use seqflow_shm::{ShmOptions, ShmRing, WaitKind};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Tells a worker to stop.
const STOP: u64 = u64::MAX;

fn worker(name: &str) -> Result<(u64, u64), String> {
    let ring = ShmRing::<u64>::open(name, Duration::from_secs(10)).map_err(|e| e.to_string())?;
    let mut w = ring.worker("jobs").map_err(|e| e.to_string())?;
    let (mut count, mut sum) = (0u64, 0u64);
    loop {
        let (_seq, job) = w
            .process(Some(Duration::from_secs(30)), |job, _seq| *job)
            .map_err(|e| e.to_string())?;
        if job == STOP {
            return Ok((count, sum));
        }
        count += 1;
        sum += job;
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--worker") {
        let name = args.get(2).expect("segment name");
        match worker(name) {
            Ok((count, sum)) => println!("{count} {sum}"),
            Err(e) => {
                eprintln!("worker: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    // `exit` skips destructors: run everything (the unlink guard included) first.
    std::process::exit(run(&args));
}

fn run(args: &[String]) -> i32 {
    let workers: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2);
    let jobs: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(50_000);
    let name = format!("/seqflow-example-spawn-{}", std::process::id());
    let ring = ShmRing::<u64>::create(
        &name,
        256,
        ShmOptions {
            wait: WaitKind::Futex,
            ..Default::default()
        },
    )
    .expect("create the ring");
    let _cleanup = ring.unlink_on_drop();

    let exe = std::env::current_exe().expect("own path");
    let children: Vec<_> = (0..workers)
        .map(|_| {
            Command::new(&exe)
                .args(["--worker", &name])
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn a worker")
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while ring.inspect().consumers.len() < workers {
        assert!(Instant::now() < deadline, "workers did not attach");
        std::thread::sleep(Duration::from_millis(1));
    }

    let started = Instant::now();
    let mut producer = ring.producer().expect("the producer");
    for job in 0..jobs {
        producer.publish(|e, _| *e = job).expect("publish");
    }
    producer
        .publish_batch(workers, |e, _| *e = STOP)
        .expect("publish stops");

    let (mut count, mut sum, mut failed) = (0, 0, 0);
    for child in children {
        let out = child.wait_with_output().expect("worker output");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut words = text
            .split_whitespace()
            .map(|w| w.parse::<u64>().unwrap_or(0));
        let (c, s) = (words.next().unwrap_or(0), words.next().unwrap_or(0));
        println!(
            "worker {}: {c} jobs",
            if out.status.success() { "ok" } else { "FAILED" }
        );
        failed += usize::from(!out.status.success());
        count += c;
        sum += s;
    }
    let ok = failed == 0 && count == jobs && sum == jobs * (jobs - 1) / 2;
    println!(
        "{workers} spawned workers handled {count}/{jobs} jobs exactly once: {} ({:?})",
        if ok { "yes" } else { "NO" },
        started.elapsed()
    );
    i32::from(!ok)
}
