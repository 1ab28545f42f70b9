//! `published()` across processes on a 4-slot multi-producer ring:
//! - `lapping`: producer processes (one holding claims for a while) lap the ring with no
//!   consumer, then with consumers registering and dropping in the parent; the parent hammers
//!   `published()` and `read_last()` (`e == seq` or the slot was never written).
//! - `dead_producer`: a producer process dies holding a claim of `s`; other producer processes
//!   go on. Until the claim is released, `published()` stays below `s` and nobody claims
//!   `s + 4`; a consumer registering then (at `published()`) gets `ProducerDied` and the ring
//!   goes on.
//!
//! `harness = false`: forks from a single-threaded main.

mod common;

use common::{fork_child, lcg, Child, Pipe, Seg};
use seqflow_shm::{ConsumeError, ProducerMode, ShmOptions, ShmRing, WaitKind};
use std::time::{Duration, Instant};

fn options() -> ShmOptions {
    ShmOptions {
        producer: ProducerMode::MultiCas,
        wait: WaitKind::Yielding,
        liveness_interval: Duration::from_millis(10),
        max_producers: 4,
        max_consumers: 8,
        ..Default::default()
    }
}

/// A producer process: publishes `seq` into each event for `run`, claims of 1..=3, holding
/// some claims for a while when `holder`.
fn spawn_producer(
    name: &str,
    id: u64,
    holder: bool,
    run: Duration,
    go: Option<(&Pipe, &Pipe)>,
) -> Child {
    let name = name.to_owned();
    fork_child(move || {
        let ring =
            ShmRing::<u64>::open(&name, Duration::from_secs(10)).map_err(|e| e.to_string())?;
        let mut p = ring.producer().map_err(|e| e.to_string())?;
        if let Some((attached, go)) = go {
            attached.send(&[1]);
            go.recv(1, Duration::from_secs(20)).ok_or("no go")?;
        }
        let end = Instant::now() + run;
        let mut rng = id * 977 + 3;
        while Instant::now() < end {
            let n = 1 + (lcg(&mut rng) % 3) as usize;
            let Ok(mut g) = p.claim_timeout(n, Duration::from_millis(20)) else {
                continue;
            };
            let roll = lcg(&mut rng);
            if holder && roll % 64 == 0 {
                std::thread::sleep(Duration::from_micros(100 + roll % 500));
            } else if roll % 8 == 0 {
                std::thread::yield_now();
            }
            let start = g.range().start();
            for (i, e) in g.iter_mut().enumerate() {
                *e = (start + i as i64) as u64;
            }
            g.commit();
        }
        Ok(())
    })
}

fn check(ring: &ShmRing<u64>, prev: &mut i64, failures: &mut Vec<String>, never_written: i64) {
    let v = ring.published();
    let claimed = ring.claimed();
    if v > claimed || v < *prev {
        failures.push(format!(
            "published {v} (before {prev}, claimed after {claimed})"
        ));
    }
    *prev = (*prev).max(v);
    if let Some((s, e)) = ring.read_last() {
        if e != s as u64 && s != never_written {
            failures.push(format!(
                "read_last: ({s}, {e}): an unwritten slot reported published"
            ));
        }
    }
}

fn lapping() {
    let seg = Seg::new("rv-lap");
    let ring = ShmRing::<u64>::create(&seg.name, 4, options()).unwrap();
    // Longer runs: SEQFLOW_ORACLE_SECS (default 2 seconds).
    let run = Duration::from_secs(
        std::env::var("SEQFLOW_ORACLE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(2),
    );
    let mut children: Vec<Child> = (0..3)
        .map(|id| spawn_producer(&seg.name, id, id == 2, run, None))
        .collect();
    let (mut prev, mut failures, mut rng) = (-1i64, Vec::new(), 1u64);
    let end = Instant::now() + run;
    let mut checks = 0u64;
    let mut consumers = 0u64;
    while Instant::now() < end && failures.is_empty() {
        // Half the time no consumer; otherwise one that reads a little and leaves.
        if Instant::now() + run / 2 < end {
            check(&ring, &mut prev, &mut failures, -2);
            checks += 1;
            continue;
        }
        let mut c = ring.consumer(&format!("c{consumers}")).unwrap();
        consumers += 1;
        for _ in 0..lcg(&mut rng) % 20 {
            let r = c.poll_batch(Some(Duration::from_millis(5)), |e, s, _| {
                if *e != s as u64 {
                    eprintln!("consumer: event {e} at {s}");
                    std::process::abort();
                }
            });
            check(&ring, &mut prev, &mut failures, -2);
            checks += 1;
            if r.is_err() {
                break;
            }
        }
        drop(c);
        for _ in 0..lcg(&mut rng) % 200 {
            check(&ring, &mut prev, &mut failures, -2);
            checks += 1;
        }
    }
    for c in &mut children {
        c.expect_success("producer");
    }
    eprintln!(
        "lapping: claimed {}, {checks} checks, {consumers} consumers",
        ring.claimed()
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

fn dead_producer() {
    for round in 0..5 {
        let seg = Seg::new("rv-dead");
        let ring = ShmRing::<u64>::create(&seg.name, 4, options()).unwrap();
        // Some events first, so the dead claim is not at 0.
        {
            let mut p = ring.producer().unwrap();
            for _ in 0..(round * 7 + 1) {
                p.publish(|e, s| *e = s as u64).unwrap();
            }
        }
        // The other producers attach first: an attach that finds a dead producer's slot
        // releases its claim (`claimer.rs`, `reusable`), which would end the window at once.
        let run = Duration::from_millis(1500);
        let (attached, go) = (Pipe::new(), Pipe::new());
        let mut children: Vec<Child> = (0..2)
            .map(|id| {
                spawn_producer(
                    &seg.name,
                    id + 10 * round as u64,
                    id == 1,
                    run,
                    Some((&attached, &go)),
                )
            })
            .collect();
        attached
            .recv(2, Duration::from_secs(10))
            .expect("producers attached");
        let claimed = Pipe::new();
        let name = seg.name.clone();
        let pipe = &claimed;
        let mut dying = fork_child(move || {
            let ring =
                ShmRing::<u64>::open(&name, Duration::from_secs(10)).map_err(|e| e.to_string())?;
            let mut p = ring.producer().map_err(|e| e.to_string())?;
            let g = p.claim(1).map_err(|e| e.to_string())?;
            pipe.send(&g.range().start().to_le_bytes());
            std::mem::forget(g);
            // SAFETY: ends this child process, holding its claim.
            unsafe { libc::raise(libc::SIGKILL) };
            Ok(())
        });
        let bytes = claimed.recv(8, Duration::from_secs(10)).expect("claim");
        let s = i64::from_le_bytes(bytes.try_into().unwrap());
        assert_eq!(
            dying.wait(Duration::from_secs(10)),
            None,
            "killed by its signal"
        );
        go.send(&[1, 1]);
        let (mut prev, mut failures) = (-1i64, Vec::new());
        let end = Instant::now() + run;
        while Instant::now() < end {
            check(&ring, &mut prev, &mut failures, s);
            let v = ring.published();
            if v >= s {
                failures.push(format!("published {v} >= {s}, claimed by a dead producer"));
            }
            if ring.claimed() >= s + 4 {
                failures.push(format!("claimed {} >= {s} + 4", ring.claimed()));
            }
            if !failures.is_empty() {
                break;
            }
        }
        assert!(failures.is_empty(), "round {round}: {failures:#?}");
        assert_eq!(ring.published(), s - 1, "round {round}");
        assert_eq!(
            ring.claimed(),
            s + 3,
            "round {round}: the ring is full behind the hole"
        );
        // A consumer registering now starts at `published()` and has the claim released.
        let mut c = ring.consumer("late").unwrap();
        assert_eq!(c.sequence(), s - 1);
        let mut died = false;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        while seen.len() < 3 && Instant::now() < deadline {
            match c.poll_batch(Some(Duration::from_millis(50)), |e, q, _| {
                seen.push((q, *e))
            }) {
                Ok(_) | Err(ConsumeError::Timeout) => {}
                Err(ConsumeError::ProducerDied { claimed, .. }) => {
                    assert_eq!(claimed.map(|r| r.start()), Some(s));
                    died = true;
                }
                Err(e) => panic!("round {round}: {e:?}"),
            }
        }
        assert!(died, "round {round}: ProducerDied reported");
        for &(q, e) in &seen {
            assert!(q == s || e == q as u64, "round {round}: ({q}, {e})");
        }
        for c in &mut children {
            c.expect_success("producer");
        }
        eprintln!("dead_producer round {round}: s {s}, consumer saw {seen:?}");
    }
}

fn main() {
    common::run_cases(&[("lapping", lapping), ("dead_producer", dead_producer)]);
}
