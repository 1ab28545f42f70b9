//! A parent creates a named ring, forks worker processes that attach to it by name, and
//! publishes events; every worker checks it received all of them, in order, and exits 0.
//!
//! ```text
//! cargo run -p seqflow-shm --example fork_workers -- [WORKERS] [EVENTS]
//! ```

use seqflow_shm::{ShmOptions, ShmRing, WaitKind, Workers};
use std::time::{Duration, Instant};

/// One event: a sequence number and a checksum of it.
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Event {
    n: u64,
    check: u64,
}

fn checksum(n: u64) -> u64 {
    n.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17)
}

/// A worker: attach, consume `events` events, verify each.
fn worker(name: &str, index: usize, events: u64) -> Result<(), String> {
    let ring = ShmRing::<Event>::open(name, Duration::from_secs(10)).map_err(|e| e.to_string())?;
    let mut consumer = ring
        .consumer(&format!("worker-{index}"))
        .map_err(|e| e.to_string())?;
    let mut expected = 0;
    while expected < events {
        let mut bad = None;
        consumer
            .poll_batch(Some(Duration::from_secs(30)), |e, _seq, _end| {
                if e.n != expected || e.check != checksum(e.n) {
                    bad.get_or_insert(format!("expected event {expected}, got {}", e.n));
                }
                expected += 1;
            })
            .map_err(|e| e.to_string())?;
        if let Some(b) = bad {
            return Err(b);
        }
    }
    Ok(())
}

fn main() {
    // `exit` skips destructors: run everything (the unlink guard included) first.
    std::process::exit(run());
}

fn run() -> i32 {
    let mut args = std::env::args().skip(1);
    let workers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let events: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let name = format!("/seqflow-example-fork-{}", std::process::id());

    let ring = ShmRing::<Event>::create(
        &name,
        1024,
        ShmOptions {
            wait: WaitKind::Futex,
            max_consumers: workers.max(1),
            ..Default::default()
        },
    )
    .expect("create the ring");
    // Removes the name when the parent is done; a forked child dropping it does nothing.
    let _cleanup = ring.unlink_on_drop();

    // SAFETY: the process is single-threaded here (no thread has been started yet).
    let children = unsafe {
        Workers::fork(workers, |index| {
            worker(&name, index, events).map_err(|e| e.into())
        })
    }
    .expect("fork the workers");

    let deadline = Instant::now() + Duration::from_secs(30);
    while ring.inspect().consumers.len() < workers {
        assert!(Instant::now() < deadline, "workers did not attach");
        std::thread::sleep(Duration::from_millis(1));
    }
    let started = Instant::now();
    let mut producer = ring.producer().expect("the producer");
    for n in 0..events {
        producer
            .publish(|e, _seq| {
                e.n = n;
                e.check = checksum(n);
            })
            .expect("publish");
    }

    let failed = match children.wait(Duration::from_secs(120)) {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    };
    println!(
        "{workers} forked workers each verified {events} events in {:?}; {failed} failed",
        started.elapsed()
    );
    i32::from(failed > 0)
}
