//! Idle pool workers raised by the others (`idle_workers.rs`), across processes: workers
//! stopped (SIGSTOP) while waiting inside `process` or inside their handler, killed while idle
//! after a raise, children stopped, continued and killed at random while they handle events.
//! `harness = false`: forks from a single-threaded main.

mod common;

use common::{fork_child, Child, Pipe, Seg};
use seqflow_shm::{ConsumeError, ProducerMode, ShmOptions, ShmRing, WaitKind};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const NOW: Option<Duration> = Some(Duration::ZERO);
const ATTACH: Duration = Duration::from_secs(10);

fn opts(mode: ProducerMode) -> ShmOptions {
    ShmOptions {
        producer: mode,
        wait: WaitKind::Futex,
        liveness_interval: Duration::from_millis(10),
        max_producers: 4,
        ..Default::default()
    }
}

fn sig(child: &Child, s: i32) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.pid, s) };
}

/// A worker blocked inside `process` (waiting: nothing published) is SIGSTOPped; the other
/// worker drains a few laps of events, raising it; SIGCONT; one more event is published that
/// nobody else takes. The stopped worker must get it.
fn stopped_while_waiting_inside_process(mode: ProducerMode) {
    let seg = Seg::new("adv-stopwait");
    let ring = ShmRing::<u64>::create(&seg.name, 8, opts(mode)).unwrap();
    let mut busy = ring.worker("pool").unwrap();
    let ready = Pipe::new();
    let result = Pipe::new();
    let name = seg.name.clone();
    let mut child = fork_child(|| {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        let mut w = ring.worker("pool").map_err(|e| e.to_string())?;
        ready.send(&[1]);
        // Waits (nothing published yet); the parent stops us inside this wait.
        let got = w.process(Some(Duration::from_secs(6)), |e, seq| (*e, seq));
        let ok = match &got {
            Ok((seq, (v, s))) => *seq == 20 && *v == 20 && *s == 20,
            Err(_) => false,
        };
        eprintln!("stopped worker got {got:?}");
        result.send(&[u8::from(ok)]);
        Ok(())
    });
    ready.recv(1, Duration::from_secs(10)).expect("child ready");
    std::thread::sleep(Duration::from_millis(200)); // the child is inside its wait
    sig(&child, libc::SIGSTOP);
    child.wait_stopped(Duration::from_secs(5));
    let mut producer = ring.producer().unwrap();
    let mut next = 0u64;
    let deadline = Instant::now() + Duration::from_secs(5);
    while next < 20 {
        assert!(Instant::now() < deadline, "producer stuck at {next}");
        match producer.try_publish(|e, _| *e = next) {
            Ok(_) => next += 1,
            Err(_) => {
                // The busy worker drains and waits (raising the stopped one).
                while let Ok((s, v)) = busy.process(NOW, |e, s| (*e, s)) {
                    assert_eq!(v.0 as i64, v.1);
                    let _ = s;
                }
            }
        }
    }
    while busy.process(NOW, |_, _| ()).is_ok() {}
    sig(&child, libc::SIGCONT);
    std::thread::sleep(Duration::from_millis(100));
    producer.publish(|e, _| *e = 20).unwrap();
    let r = result.recv(1, Duration::from_secs(10));
    child.expect_success("stopped worker");
    assert_eq!(
        r,
        Some(vec![1]),
        "the worker stopped inside its wait and raised meanwhile did not get event 20 ({mode:?})"
    );
}

fn stopped_while_waiting_single() {
    stopped_while_waiting_inside_process(ProducerMode::Single);
}
fn stopped_while_waiting_multi() {
    stopped_while_waiting_inside_process(ProducerMode::MultiCas);
}

/// A worker SIGSTOPped inside its handler (event in hand) while the other raises: the event is
/// not overwritten, the producer stops a ring later, and after SIGCONT everything goes on.
fn stopped_inside_handler(mode: ProducerMode) {
    let seg = Seg::new("adv-stophandler");
    let ring = ShmRing::<u64>::create(&seg.name, 8, opts(mode)).unwrap();
    let mut busy = ring.worker("pool").unwrap();
    let ready = Pipe::new();
    let name = seg.name.clone();
    let mut producer = ring.producer().unwrap();
    producer.publish(|e, _| *e = 0).unwrap();
    let mut child = fork_child(|| {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        let mut w = ring.worker("pool").map_err(|e| e.to_string())?;
        let (seq, ok) = w
            .process(Some(Duration::from_secs(5)), |e, seq| {
                let before = *e;
                ready.send(&[1]);
                // Parent SIGSTOPs us here, runs, SIGCONTs.
                std::thread::sleep(Duration::from_millis(1500));
                before == seq as u64 && *e == seq as u64
            })
            .map_err(|e| e.to_string())?;
        if !ok {
            return Err(format!("event {seq} overwritten while in hand"));
        }
        // Goes on working.
        let mut n = 0;
        while let Ok((s, v)) = w.process(Some(Duration::from_millis(300)), |e, s| (*e, s)) {
            if v.0 as i64 != v.1 {
                return Err(format!("seq {s} holds {}", v.0));
            }
            n += 1;
        }
        eprintln!("child handled {n} more");
        Ok(())
    });
    // Not yet registered when the producer published 0... the child joins a pool with a live
    // worker (busy), so it starts at the work sequence (-1) and takes event 0.
    ready
        .recv(1, Duration::from_secs(10))
        .expect("child in handler");
    sig(&child, libc::SIGSTOP);
    child.wait_stopped(Duration::from_secs(5));
    let mut next = 1u64;
    let mut seen = vec![0u64];
    let deadline = Instant::now() + Duration::from_millis(800);
    while Instant::now() < deadline {
        while producer.try_publish(|e, _| *e = next).is_ok() {
            next += 1;
        }
        while let Ok((_, v)) = busy.process(NOW, |e, s| {
            assert_eq!(*e, s as u64);
            *e
        }) {
            seen.push(v);
        }
    }
    assert!(
        next <= 8,
        "the producer passed the event in hand: next {next}"
    );
    sig(&child, libc::SIGCONT);
    child.expect_success("stopped inside handler");
    while let Ok((_, v)) = busy.process(NOW, |e, _| *e) {
        seen.push(v);
    }
    assert!(producer.try_publish(|e, _| *e = next).is_ok());
}
fn stopped_inside_handler_single() {
    stopped_inside_handler(ProducerMode::Single);
}
fn stopped_inside_handler_multi() {
    stopped_inside_handler(ProducerMode::MultiCas);
}

/// Workers in child processes with slow handlers, randomly SIGSTOP/SIGCONTed and one SIGKILLed
/// while idle (and respawned); every event is handed out once (or counted lost), and every
/// handler sees its own sequence in the slot at start and end.
fn stress_children(mode: ProducerMode) {
    const N: u64 = 3000;
    let seg = Seg::new("adv-stress");
    let ring = ShmRing::<[u64; 2]>::create(&seg.name, 16, opts(mode)).unwrap();
    // A parent-side worker keeps the pool live and gives the raise a second party.
    let mut mine = ring.worker("pool").unwrap();
    let report = Pipe::new();
    let name = seg.name.clone();
    let spawn = |id: u64| {
        let name = name.clone();
        let report = &report;
        fork_child(move || {
            let ring = ShmRing::<[u64; 2]>::open(&name, ATTACH).map_err(|e| e.to_string())?;
            let mut w = ring.worker("pool").map_err(|e| e.to_string())?;
            let mut k = id;
            loop {
                k = k
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let r = w.process(Some(Duration::from_millis(300)), |e, seq| {
                    let a = *e;
                    if (k >> 33) % 4 == 0 {
                        std::thread::sleep(Duration::from_micros((k >> 40) % 3000));
                    }
                    let b = *e;
                    (seq, a, b)
                });
                match r {
                    Ok((_, (seq, a, b))) => {
                        let ok = a == [seq as u64, !(seq as u64)] && a == b;
                        let mut msg = [0u8; 9];
                        msg[0] = u8::from(ok);
                        msg[1..].copy_from_slice(&(seq as u64).to_le_bytes());
                        report.send(&msg);
                        if a[0] == N - 1 {
                            // fallthrough; parent ends us
                        }
                    }
                    Err(ConsumeError::Timeout) => {}
                    Err(ConsumeError::Closed { .. }) => return Ok(()),
                    Err(e) => {
                        let mut msg = [2u8; 9];
                        msg[1..].copy_from_slice(&0u64.to_le_bytes());
                        report.send(&msg);
                        return Err(format!("worker {id}: {e}"));
                    }
                }
                if (k >> 20) % 16 == 0 {
                    // Busy with "its item": stop asking for a while.
                    std::thread::sleep(Duration::from_millis((k >> 50) % 30));
                }
            }
        })
    };
    let mut children: Vec<Child> = (1..=3).map(spawn).collect();
    let mut producer = ring.producer().unwrap();
    let mut counts: BTreeMap<u64, u32> = BTreeMap::new();
    let mut bad = Vec::new();
    let mut next = 0u64;
    let mut rng = 99u64;
    let start = Instant::now();
    let mut stopped: Option<usize> = None;
    let mut killed = 0;
    let read_reports = |counts: &mut BTreeMap<u64, u32>, bad: &mut Vec<String>| {
        while let Some(m) = report.recv(9, Duration::from_millis(1)) {
            let seq = u64::from_le_bytes(m[1..].try_into().unwrap());
            match m[0] {
                1 => *counts.entry(seq).or_default() += 1,
                0 => bad.push(format!("seq {seq} read wrong/changed")),
                _ => bad.push("a worker failed".into()),
            }
        }
    };
    while next < N && start.elapsed() < Duration::from_secs(12) {
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1);
        while next < N && producer.try_publish(|e, _| *e = [next, !next]).is_ok() {
            next += 1;
        }
        if (rng >> 33) % 3 == 0 {
            if let Ok((seq, (a, b))) = mine.process(NOW, |e, s| (*e, s)) {
                if a != [b as u64, !(b as u64)] {
                    bad.push(format!("parent read {a:?} at {b}"));
                }
                *counts.entry(seq as u64).or_default() += 1;
            }
        }
        match (rng >> 40) % 50 {
            0 if stopped.is_none() => {
                let i = ((rng >> 20) % children.len() as u64) as usize;
                sig(&children[i], libc::SIGSTOP);
                stopped = Some(i);
            }
            1 | 2 => {
                if let Some(i) = stopped.take() {
                    sig(&children[i], libc::SIGCONT);
                }
            }
            3 if killed < 2 && stopped.is_none() => {
                let i = ((rng >> 20) % children.len() as u64) as usize;
                children[i].kill();
                children[i] = spawn(10 + killed);
                killed += 1;
            }
            _ => {}
        }
        read_reports(&mut counts, &mut bad);
        std::thread::sleep(Duration::from_micros(200));
    }
    if let Some(i) = stopped.take() {
        sig(&children[i], libc::SIGCONT);
    }
    let produced = next;
    // Ends as soon as every event is accounted for; the bound only stops a broken run (a
    // loaded machine can take seconds to schedule the children that hold the last events).
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        while let Ok((seq, _)) = mine.process(NOW, |_, _| ()) {
            *counts.entry(seq as u64).or_default() += 1;
        }
        read_reports(&mut counts, &mut bad);
        let lost = ring.inspect().lost_pool_events;
        if counts.len() as u64 + lost >= produced || Instant::now() > end {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    ring.close();
    for c in &mut children {
        let _ = c.wait(Duration::from_secs(5));
    }
    read_reports(&mut counts, &mut bad);
    let lost = ring.inspect().lost_pool_events;
    let twice: Vec<_> = counts
        .iter()
        .filter(|(_, &c)| c > 1)
        .map(|(s, _)| *s)
        .collect();
    let missing = produced - counts.len() as u64;
    eprintln!(
        "{mode:?}: produced {produced}, handled {}, lost counted {lost}, killed {killed}",
        counts.len()
    );
    assert!(bad.is_empty(), "{bad:?}");
    assert!(twice.is_empty(), "handed out twice: {twice:?}");
    assert!(
        missing <= lost,
        "{missing} missing but only {lost} counted lost"
    );
    assert!(produced > 100, "too little progress: {produced}");
}
fn stress_children_single() {
    stress_children(ProducerMode::Single);
}
fn stress_children_multi() {
    stress_children(ProducerMode::MultiCas);
}

/// A child worker is raised while idle, then SIGKILLed; a new process joins the pool; the
/// producer goes on and nothing is lost or repeated.
fn killed_while_idle_after_raise() {
    let seg = Seg::new("adv-killidle");
    let ring = ShmRing::<u64>::create(&seg.name, 8, opts(ProducerMode::MultiCas)).unwrap();
    let mut busy = ring.worker("pool").unwrap();
    let ready = Pipe::new();
    let name = seg.name.clone();
    let mut child = fork_child(|| {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        let mut w = ring.worker("pool").map_err(|e| e.to_string())?;
        let (_, v) = w
            .process(Some(Duration::from_secs(5)), |e, _| *e)
            .map_err(|e| e.to_string())?;
        ready.send(&[v as u8]);
        std::thread::sleep(Duration::from_secs(30));
        Ok(())
    });
    let mut producer = ring.producer().unwrap();
    producer.publish(|e, _| *e = 0).unwrap();
    assert_eq!(ready.recv(1, Duration::from_secs(10)), Some(vec![0]));
    let mut seen = vec![0u64];
    let mut next = 1u64;
    for round in 0..40 {
        while producer.try_publish(|e, _| *e = next).is_ok() {
            next += 1;
        }
        while let Ok((_, v)) = busy.process(NOW, |e, s| {
            assert_eq!(*e, s as u64);
            *e
        }) {
            seen.push(v);
        }
        if round == 10 {
            child.kill();
        }
        if round == 20 {
            // A late joiner in this process.
            let mut late = ring.worker("pool").unwrap();
            while let Ok((_, v)) = late.process(NOW, |e, s| {
                assert_eq!(*e, s as u64);
                *e
            }) {
                seen.push(v);
            }
        }
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..next).collect::<Vec<_>>());
    assert!(next > 100);
}

/// A stage after a pool, and a worker that joins the pool later in another process and is
/// killed while it handles event 0: the stage does not read event 0 while the worker holds it,
/// does not fail when the worker dies (it releases the dead worker's slot itself), and then
/// goes on with the pool's other worker.
fn stage_after_pool_with_late_worker_killed() {
    let seg = Seg::new("adv-after-killed");
    let ring = ShmRing::<u64>::create(&seg.name, 8, opts(ProducerMode::Single)).unwrap();
    let mut early = ring.worker("pool").unwrap();
    let mut after = ring.consumer_after("after", &["pool"]).unwrap();
    let ready = Pipe::new();
    let name = seg.name.clone();
    let mut child = fork_child(|| {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        let mut w = ring.worker("pool").map_err(|e| e.to_string())?;
        ready.send(&[1]);
        w.process(Some(Duration::from_secs(10)), |_, _| {
            ready.send(&[2]);
            std::thread::sleep(Duration::from_secs(30)); // killed in here
        })
        .map_err(|e| e.to_string())?;
        Err("the late worker was not killed".into())
    });
    ready
        .recv(1, Duration::from_secs(10))
        .expect("child joined");
    let mut producer = ring.producer().unwrap();
    producer.publish(|e, _| *e = 0).unwrap();
    ready
        .recv(1, Duration::from_secs(10))
        .expect("child holds event 0");
    producer.publish(|e, _| *e = 1).unwrap();
    assert_eq!(early.process(NOW, |_, s| s).unwrap().0, 1);
    let early_read = after.poll_batch(Some(Duration::from_millis(100)), |_, s, _| {
        panic!("the stage read {s} while the late worker holds event 0")
    });
    assert!(
        matches!(early_read, Err(ConsumeError::Timeout)),
        "{early_read:?}"
    );
    child.kill();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while seen.len() < 2 && Instant::now() < deadline {
        match after.poll_batch(Some(Duration::from_millis(50)), |_, s, _| seen.push(s)) {
            Ok(_) | Err(ConsumeError::Timeout) => {}
            Err(e) => panic!("the stage after the pool failed: {e:?}"),
        }
    }
    assert_eq!(
        seen,
        [0, 1],
        "the stage did not go on after the late worker died"
    );
    assert_eq!(ring.inspect().lost_pool_events, 1);
}

fn main() {
    let cases: &[(&str, fn())] = &[
        ("stopped_while_waiting_single", stopped_while_waiting_single),
        ("stopped_while_waiting_multi", stopped_while_waiting_multi),
        (
            "stopped_inside_handler_single",
            stopped_inside_handler_single,
        ),
        ("stopped_inside_handler_multi", stopped_inside_handler_multi),
        ("stress_children_single", stress_children_single),
        ("stress_children_multi", stress_children_multi),
        (
            "killed_while_idle_after_raise",
            killed_while_idle_after_raise,
        ),
        (
            "stage_after_pool_with_late_worker_killed",
            stage_after_pool_with_late_worker_killed,
        ),
    ];
    common::run_cases(cases);
}
