//! Adversarial, across processes: a stage after a pool while worker processes join, leave, are
//! SIGSTOPped inside their handlers and SIGKILLed. `harness = false`: forks from a
//! single-threaded main.
//!
//! Every worker marks in a shared anonymous mapping which event it started (with its pid) and
//! finished. The stage (in the parent) may read an event only once its worker finished it, or
//! once the parent killed that worker (a lost event, counted in `lost_pool_events`).

mod common;

use common::{fork_child, lcg, Child, Seg};
use seqflow_shm::{ConsumeError, ProducerMode, ShmRing};
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::time::{Duration, Instant};

const ATTACH: Duration = Duration::from_secs(10);
const N: usize = 600;

fn opts(mode: ProducerMode) -> seqflow_shm::ShmOptions {
    common::pool_opts(mode, &[])
}

/// Shared between parent and children (MAP_SHARED | MAP_ANONYMOUS before the forks).
struct Marks {
    started: &'static [AtomicU32], // holder pid
    done: &'static [AtomicU8],
}

fn marks() -> Marks {
    let bytes = N * 4 + N;
    // SAFETY: a fresh anonymous shared mapping, never unmapped (the test process ends).
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED);
    // SAFETY: zero-filled memory, aligned (page), large enough for both arrays.
    unsafe {
        Marks {
            started: std::slice::from_raw_parts(p as *const AtomicU32, N),
            done: std::slice::from_raw_parts((p as *const u8).add(N * 4) as *const AtomicU8, N),
        }
    }
}

fn sig(child: &Child, s: i32) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.pid, s) };
}

fn spawn_worker(name: &str, m: &Marks, batch: usize, seed: u64) -> Child {
    let name = name.to_owned();
    let (started, done) = (m.started, m.done);
    fork_child(move || {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        let mut w = ring.worker("pool").map_err(|e| e.to_string())?;
        let pid = std::process::id();
        let mut k = seed;
        loop {
            let slow = lcg(&mut k) % 3 == 0;
            let handle = |e: &u64, seq: i64| {
                let s = seq as usize;
                if s < N {
                    started[s].store(pid, Ordering::SeqCst);
                }
                if slow {
                    std::thread::sleep(Duration::from_micros(500));
                }
                assert_eq!(*e, seq as u64);
                if s < N && done[s].fetch_add(1, Ordering::SeqCst) != 0 {
                    panic!("{seq} handled twice");
                }
            };
            let r = if batch > 1 {
                w.process_batch(batch, Some(Duration::from_millis(20)), |e, s, _| {
                    handle(e, s)
                })
                .map(|_| ())
            } else {
                w.process(Some(Duration::from_millis(20)), |e, s| handle(e, s))
                    .map(|_| ())
            };
            match r {
                Ok(()) | Err(ConsumeError::Timeout) => {}
                Err(ConsumeError::Closed { .. }) => return Ok(()),
                Err(e) => return Err(format!("{e:?}")),
            }
            // Some leave cleanly after a while.
            if lcg(&mut k) % 50 == 0 {
                return Ok(());
            }
        }
    })
}

fn killed_and_stopped_workers(mode: ProducerMode, batch: usize) {
    let seg = Seg::new("adv-proc-follow");
    let ring = ShmRing::<u64>::create(&seg.name, 16, opts(mode)).unwrap();
    let m = marks();
    // An anchor in the parent keeps the pool from emptying; it never asks (raised by others).
    let _anchor = ring.worker("pool").unwrap();
    let mut after = ring.consumer_after("after", &["pool"]).unwrap();
    let mut producer = ring.producer().unwrap();
    let mut children: Vec<(Child, bool)> = Vec::new(); // (child, stopped)
    let mut killed: Vec<u32> = Vec::new();
    let mut seed = 11u64;
    let mut published = 0usize;
    let mut reached = vec![0u8; N];
    let mut errors: Vec<String> = Vec::new();
    let mut unstarted: Vec<usize> = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(40) {
        // Publish what fits.
        while published < N && producer.try_publish(|e, s| *e = s as u64).is_ok() {
            published += 1;
        }
        // Chaos.
        let mut kept = Vec::new();
        for (c, stopped) in children.drain(..) {
            let mut status = 0;
            let r = if stopped {
                0
            } else {
                // SAFETY: `c.pid` is our own child, not reaped yet (reaped children are forgotten
                // below), and `status` is a live local the call writes.
                unsafe { libc::waitpid(c.pid, &mut status, libc::WNOHANG) }
            };
            if r == c.pid {
                if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
                    errors.push(format!("worker {} ended with status {status}", c.pid));
                }
                std::mem::forget(c); // reaped already: nothing to kill
            } else {
                kept.push((c, stopped));
            }
        }
        children = kept;
        match lcg(&mut seed) % 10 {
            0 | 1 if children.len() < 3 => {
                children.push((spawn_worker(&seg.name, &m, batch, lcg(&mut seed)), false))
            }
            2 if !children.is_empty() => {
                let i = lcg(&mut seed) as usize % children.len();
                let (mut c, _) = children.swap_remove(i);
                killed.push(c.pid as u32);
                c.kill();
                // Nothing reaps here: a registration that finds the table full releases the
                // dead workers' slots itself, and so does the stage when it waits.
            }
            3 if !children.is_empty() => {
                let i = lcg(&mut seed) as usize % children.len();
                let (c, stopped) = &mut children[i];
                if *stopped {
                    sig(c, libc::SIGCONT);
                } else {
                    sig(c, libc::SIGSTOP);
                }
                *stopped = !*stopped;
            }
            _ => {}
        }
        let r = after.poll_batch(Some(Duration::from_millis(3)), |e, s, _| {
            let i = s as usize;
            if i >= N {
                return;
            }
            reached[i] += 1;
            if *e != s as u64 {
                errors.push(format!("slot {s} holds {e}"));
            }
            if m.done[i].load(Ordering::SeqCst) == 0 {
                let holder = m.started[i].load(Ordering::SeqCst);
                if holder == 0 {
                    // Not started: lost with the rest of a killed worker's batch, or read before
                    // its claimer started it (checked at the end: it must never be finished).
                    unstarted.push(i);
                } else if !killed.contains(&holder) {
                    errors.push(format!(
                        "stage read {s}: not finished, holder {holder} not killed"
                    ));
                }
            }
        });
        match r {
            Ok(_) | Err(ConsumeError::Timeout) => {}
            Err(e) => errors.push(format!("stage: {e:?}")),
        }
        if published == N && reached.iter().all(|&r| r > 0) {
            break;
        }
        if !errors.is_empty() {
            break;
        }
    }
    for (c, stopped) in &mut children {
        if *stopped {
            sig(c, libc::SIGCONT);
        }
    }
    ring.close();
    for (mut c, _) in children {
        let _ = c.wait(Duration::from_secs(10));
    }
    assert!(
        errors.is_empty(),
        "{mode:?} batch {batch}: {:?}",
        &errors[..errors.len().min(10)]
    );
    let missing: Vec<usize> = (0..N).filter(|&i| reached[i] != 1).collect();
    assert!(
        missing.is_empty(),
        "{mode:?} batch {batch}: stage missed or repeated {:?} (published {published}, {:?})",
        &missing[..missing.len().min(20)],
        start.elapsed()
    );
    std::thread::sleep(Duration::from_millis(50));
    let late: Vec<usize> = unstarted
        .iter()
        .copied()
        .filter(|&i| m.done[i].load(Ordering::SeqCst) != 0)
        .collect();
    assert!(
        late.is_empty(),
        "{mode:?} batch {batch}: the stage read {late:?} before a worker handled them"
    );
    let unfinished = (0..N)
        .filter(|&i| m.done[i].load(Ordering::SeqCst) == 0)
        .count() as u64;
    let lost = ring.inspect().lost_pool_events;
    assert!(
        unfinished <= lost,
        "{unfinished} events never finished, {lost} counted lost"
    );
    eprintln!(
        "{mode:?} batch {batch}: {} kills, {lost} lost, {:?}",
        killed.len(),
        start.elapsed()
    );
}

fn single() {
    killed_and_stopped_workers(ProducerMode::Single, 1);
}
fn multi_batches() {
    killed_and_stopped_workers(ProducerMode::MultiCas, 3);
}

/// A worker process SIGKILLed inside its handler, on a quiet ring (the producer never finds it
/// full, so it never reaps). The stage polls with timeouts shorter than the liveness interval
/// (an event loop polling with `Some(ZERO)`, say): its wait never reaches a liveness check, so
/// it never reaps the dead worker and never gets past its event.
fn short_polls_reap_a_dead_worker() {
    let seg = Seg::new("adv-shortpoll");
    let ring = ShmRing::<u64>::create(&seg.name, 16, opts(ProducerMode::Single)).unwrap();
    let mut after = ring.consumer_after("after", &["pool"]).ok();
    let ready = common::Pipe::new();
    let name = seg.name.clone();
    let mut child = fork_child(|| {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        let mut w = ring.worker("pool").map_err(|e| e.to_string())?;
        ready.send(&[1]);
        w.process(Some(Duration::from_secs(10)), |_, _| {
            ready.send(&[2]);
            std::thread::sleep(Duration::from_secs(30));
        })
        .map_err(|e| e.to_string())?;
        Ok(())
    });
    ready.recv(1, Duration::from_secs(10)).expect("joined");
    let mut other = ring.worker("pool").unwrap(); // the pool does not empty when the child dies
    if after.is_none() {
        after = Some(ring.consumer_after("after", &["pool"]).unwrap());
    }
    let mut after = after.unwrap();
    let mut p = ring.producer().unwrap();
    p.publish(|e, _| *e = 0).unwrap();
    ready.recv(1, Duration::from_secs(10)).expect("holds 0");
    child.kill();
    // The other worker asks once (nothing to take): it raises itself to the work sequence, so
    // only the dead worker's slot holds the stage back.
    assert!(matches!(
        other.process(Some(Duration::ZERO), |_, _| ()),
        Err(ConsumeError::Timeout)
    ));
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut got = None;
    while Instant::now() < deadline && got.is_none() {
        match after.poll_batch(Some(Duration::from_millis(2)), |_, s, _| got = Some(s)) {
            Ok(_) | Err(ConsumeError::Timeout) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(
        got,
        Some(0),
        "2 s of 2 ms polls never got past the dead worker's event"
    );
}

/// Every consumer slot held by a killed process: a new registration releases the dead ones
/// itself instead of failing with `ConsumersFull` (before, only a producer blocked on a full
/// ring did).
fn registration_releases_dead_slots_when_full() {
    let seg = Seg::new("adv-full-dead");
    let options = seqflow_shm::ShmOptions {
        max_consumers: 2,
        ..opts(ProducerMode::Single)
    };
    let ring = ShmRing::<u64>::create(&seg.name, 8, options).unwrap();
    let mut children = Vec::new();
    for i in 0..2 {
        let ready = common::Pipe::new();
        let name = seg.name.clone();
        let child = fork_child(|| {
            let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
            let _c = ring.consumer(&format!("c{i}")).map_err(|e| e.to_string())?;
            ready.send(&[1]);
            std::thread::sleep(Duration::from_secs(30));
            Ok(())
        });
        ready
            .recv(1, Duration::from_secs(10))
            .expect("child registered");
        children.push(child);
    }
    assert!(matches!(
        ring.consumer("x"),
        Err(seqflow_shm::ShmError::ConsumersFull { .. })
    ));
    for mut c in children {
        c.kill();
    }
    let c = ring
        .consumer("x")
        .expect("the dead consumers' slots are released");
    assert_eq!(c.name(), "x");
    assert_eq!(ring.inspect().reaped_consumers, 2);
}

fn main() {
    common::run_cases(&[
        (
            "short_polls_reap_a_dead_worker",
            short_polls_reap_a_dead_worker,
        ),
        ("killed_and_stopped_workers_single", single),
        ("killed_and_stopped_workers_multi_batches", multi_batches),
        (
            "registration_releases_dead_slots_when_full",
            registration_releases_dead_slots_when_full,
        ),
    ]);
}
