//! Publishes racing with a close across real processes (fork): every publish that returned Ok
//! is consumed, and nothing else, whatever the close lands on (single producer, multi producer
//! with one or two producer processes, busy-spin and futex waits). The parent closes and is
//! never a producer, so the close handshake crosses processes (`membarrier.rs`).
//!
//! `harness = false` (the parent forks). `SEQFLOW_CLOSE_RACE_ROUNDS` sets the rounds (default
//! 100; 20,000 passed in release), `SEQFLOW_CLOSE_RACE_MODE` pins one of the three shapes.
mod common;

use common::{fork_child, Pipe, Seg};
use seqflow_shm::{ClaimError, ConsumeError, ProducerMode, ShmOptions, ShmRing, WaitKind};
use std::time::Duration;

const LONG: Option<Duration> = Some(Duration::from_secs(30));
const ATTACH: Duration = Duration::from_secs(10);

fn u64s(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn round(round: u64, mode: u8) -> Result<(), String> {
    let (producer, wait, producers) = match mode {
        0 => (ProducerMode::Single, WaitKind::BusySpin, 1),
        1 => (ProducerMode::MultiCas, WaitKind::BusySpin, 1),
        _ => (ProducerMode::MultiCas, WaitKind::Futex, 2),
    };
    let options = ShmOptions {
        producer,
        wait,
        max_producers: 4,
        ..Default::default()
    };
    let seg = Seg::new(&format!("close-race-{round}"));
    let ring = ShmRing::<u64>::create(&seg.name, 64, options).map_err(|e| e.to_string())?;
    let ready = Pipe::new();
    let results = Pipe::new();
    let name = seg.name.clone();
    let mut consumer = {
        let (name, ready, results) = (name.clone(), &ready, &results);
        fork_child(move || {
            let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
            let mut c = ring.consumer("all").map_err(|e| e.to_string())?;
            ready.send(b"c");
            let (mut count, mut next) = (0u64, 0i64);
            let mut bad = None;
            let end = loop {
                match c.poll_batch(LONG, |e, seq, _| {
                    if seq != next || *e != seq as u64 {
                        bad.get_or_insert(format!("seq {seq} (expected {next}) holds {e}"));
                    }
                    next = seq + 1;
                    count += 1;
                }) {
                    Ok(_) => {}
                    Err(ConsumeError::Closed { end }) => break end,
                    Err(e) => return Err(e.to_string()),
                }
            };
            if let Some(bad) = bad {
                return Err(bad);
            }
            let mut msg = vec![b'C'];
            for v in [count, (next - 1) as u64, end as u64] {
                msg.extend_from_slice(&v.to_le_bytes());
            }
            results.send(&msg);
            Ok(())
        })
    };
    ready
        .recv(1, Duration::from_secs(20))
        .ok_or("consumer not ready")?;
    let mut children: Vec<_> = (0..producers)
        .map(|id| {
            let (name, ready, results) = (name.clone(), &ready, &results);
            fork_child(move || {
                let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
                let mut p = ring.producer().map_err(|e| e.to_string())?;
                ready.send(b"p");
                let (mut count, mut max, mut min) = (0u64, -1i64, i64::MAX);
                loop {
                    match p.publish(|e, s| *e = s as u64) {
                        Ok(seq) => {
                            count += 1;
                            max = max.max(seq);
                            min = min.min(seq);
                        }
                        Err(ClaimError::Closed) => break,
                        Err(e) => return Err(e.to_string()),
                    }
                }
                let mut msg = vec![b'P' + id];
                for v in [count, max as u64, min as u64] {
                    msg.extend_from_slice(&v.to_le_bytes());
                }
                results.send(&msg);
                Ok(())
            })
        })
        .collect();
    ready
        .recv(producers as usize, Duration::from_secs(20))
        .ok_or("children not ready")?;
    // Let the producers get going (ring full and wrapping) then close at a varying point.
    std::thread::sleep(Duration::from_micros(300 + (round * 53) % 1700));
    let end = ring.close();
    let mut total = 0u64;
    let mut ok_max = -1i64;
    let mut consumed = None;
    for _ in 0..1 + producers {
        let msg = results
            .recv(25, Duration::from_secs(60))
            .ok_or("no result from a child")?;
        let v = u64s(&msg[1..]);
        if msg[0] == b'C' {
            consumed = Some(v);
        } else {
            total += v[0];
            if v[0] > 0 {
                ok_max = ok_max.max(v[1] as i64);
            }
        }
    }
    consumer.expect_success("consumer");
    for c in &mut children {
        c.expect_success("producer");
    }
    let consumed = consumed.unwrap();
    let (c_count, c_last, c_end) = (consumed[0], consumed[1] as i64, consumed[2] as i64);
    // Ok sequences are distinct: count end + 1 with max end means exactly 0..=end.
    if c_end != end
        || c_last != end
        || c_count != (end + 1) as u64
        || total != c_count
        || ok_max != end
    {
        return Err(format!(
            "round {round} mode {mode}: close end {end}; consumer saw {c_count} through {c_last} \
             (told end {c_end}); producers Ok {total}, highest Ok {ok_max}"
        ));
    }
    Ok(())
}

fn main() {
    let rounds: u64 = std::env::var("SEQFLOW_CLOSE_RACE_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let start = std::time::Instant::now();
    let mut failures = 0;
    for r in 0..rounds {
        let mode = std::env::var("SEQFLOW_CLOSE_RACE_MODE")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or((r % 3) as u8);
        if let Err(e) = round(r, mode) {
            eprintln!("FAIL {e}");
            failures += 1;
        }
    }
    println!(
        "close_race_processes: {rounds} rounds, {failures} failures, {:?}",
        start.elapsed()
    );
    if failures > 0 {
        std::process::exit(1);
    }
}
