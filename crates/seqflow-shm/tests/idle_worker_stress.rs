//! Idle pool workers raised by the others (`idle_workers.rs`), attacked with threads: pools
//! under stress (random batch sizes, slow handlers that check their event before and after a
//! pause, panicking handlers, workers leaving and re-registering, one worker idle for good),
//! single and multi-producer rings, declared pools, stages after a pool. Every event is handled
//! once or counted lost, and no handler sees its event change.

mod common;

use common::{lcg, pool_opts as opts, Seg};
use seqflow_shm::{ConsumeError, ProducerMode, ShmRing};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Ev = [u64; 2];

/// Threads of one pool: process / process_batch with slow handlers that check the slot holds
/// their sequence at start and end, panicking handlers (caught; the worker reused or dropped),
/// workers that leave and re-register, workers that go "busy" (stop asking) for a while.
fn pool_stress(mode: ProducerMode, declared: bool, pools: &[&'static str], producers: usize) {
    const N: u64 = 4000;
    let seg = Seg::new("adv-threads");
    let decl: Vec<&str> = if declared { pools.to_vec() } else { vec![] };
    let ring = ShmRing::<Ev>::create(&seg.name, 16, opts(mode, &decl)).unwrap();
    let seen: Arc<Vec<Vec<AtomicU8>>> = Arc::new(
        pools
            .iter()
            .map(|_| (0..N).map(|_| AtomicU8::new(0)).collect())
            .collect(),
    );
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    // One worker per pool that stays registered and never asks for an event (always idle,
    // raised by the others), so the pool never becomes an orphan while threads re-register.
    let _anchors: Vec<_> = pools.iter().map(|p| ring.worker(p).unwrap()).collect();
    for (p, pool) in pools.iter().enumerate() {
        for t in 0..3u64 {
            let (ring, seen, errors, stop) =
                (ring.clone(), seen.clone(), errors.clone(), stop.clone());
            let pool = *pool;
            threads.push(std::thread::spawn(move || {
                let mut k = t * 7 + p as u64 * 131 + 1;
                let mut w: Option<seqflow_shm::ShmWorker<Ev>> = None;
                while !stop.load(Ordering::Relaxed) {
                    let r = lcg(&mut k);
                    if w.is_none() {
                        w = Some(ring.worker(pool).unwrap());
                    }
                    let worker = w.as_mut().unwrap();
                    let panic_at = (r % 23 == 0).then_some(r % 3);
                    let mut i = 0;
                    let slow = r % 5 == 0;
                    let max = 1 + (r % 4) as usize;
                    let out = catch_unwind(AssertUnwindSafe(|| {
                        worker.process_batch(max, Some(Duration::from_millis(50)), |e, seq, _| {
                            let a = *e;
                            if slow {
                                std::thread::sleep(Duration::from_micros(500));
                            }
                            if panic_at == Some(i) {
                                panic!("boom");
                            }
                            i += 1;
                            let b = *e;
                            if a != [seq as u64, !(seq as u64)] || a != b {
                                errors
                                    .lock()
                                    .unwrap()
                                    .push(format!("{pool} seq {seq}: {a:?} then {b:?}"));
                            }
                            if seen[p][seq as usize].fetch_add(1, Ordering::Relaxed) != 0 {
                                errors
                                    .lock()
                                    .unwrap()
                                    .push(format!("{pool} seq {seq} twice"));
                            }
                        })
                    }));
                    match out {
                        Ok(Ok(_)) | Ok(Err(ConsumeError::Timeout)) => {}
                        Ok(Err(ConsumeError::Closed { .. })) => break,
                        Ok(Err(e)) => errors.lock().unwrap().push(format!("{pool}: {e:?}")),
                        Err(_) => {
                            if r % 2 == 0 {
                                w = None; // dropped after a panic
                            }
                        }
                    }
                    match r % 40 {
                        0 => w = None, // leave; re-register next round
                        1 | 2 => std::thread::sleep(Duration::from_millis(r % 20)), // busy
                        _ => {}
                    }
                }
            }));
        }
    }
    let per = N / producers as u64;
    let mut prods = Vec::new();
    for pi in 0..producers as u64 {
        let ring = ring.clone();
        prods.push(std::thread::spawn(move || {
            let mut pr = ring.producer().unwrap();
            let start = Instant::now();
            let mut done = 0;
            // MultiCas: sequences interleave, write the sequence the claim got.
            while done < per && start.elapsed() < Duration::from_secs(10) {
                if pr
                    .try_publish(|e, seq| *e = [seq as u64, !(seq as u64)])
                    .is_ok()
                {
                    done += 1;
                } else {
                    std::thread::yield_now();
                }
            }
            let _ = pi;
            done
        }));
    }
    let produced: u64 = prods.into_iter().map(|h| h.join().unwrap()).sum();
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let lost = ring.inspect().lost_pool_events;
        let handled: u64 = seen
            .iter()
            .map(|s| s.iter().filter(|x| x.load(Ordering::Relaxed) > 0).count() as u64)
            .sum();
        if handled + lost >= produced * pools.len() as u64 || Instant::now() > end {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    ring.close();
    for t in threads {
        t.join().unwrap();
    }
    let errors = errors.lock().unwrap();
    let lost = ring.inspect().lost_pool_events;
    let handled: u64 = seen
        .iter()
        .map(|s| s.iter().filter(|x| x.load(Ordering::Relaxed) > 0).count() as u64)
        .sum();
    eprintln!("{mode:?} declared={declared} pools={pools:?}: produced {produced}, handled {handled}, lost {lost}");
    assert!(errors.is_empty(), "{:?}", &errors[..errors.len().min(10)]);
    assert!(
        produced * pools.len() as u64 <= handled + lost,
        "missing events"
    );
    assert!(produced > 500, "too little progress {produced}");
}

#[test]
fn stress_single_one_pool() {
    pool_stress(ProducerMode::Single, false, &["p"], 1);
}
#[test]
fn stress_multi_two_pools_declared() {
    pool_stress(ProducerMode::MultiCas, true, &["p", "q"], 2);
}
#[test]
fn stress_multi_one_pool() {
    pool_stress(ProducerMode::MultiCas, false, &["p"], 2);
}

/// A stage after the pool never sees an event before the pool's worker finished with it.
#[test]
fn stage_after_pool_sees_only_handled_events() {
    const N: u64 = 2000;
    let seg = Seg::new("adv-after");
    let ring = ShmRing::<Ev>::create(&seg.name, 16, opts(ProducerMode::Single, &[])).unwrap();
    let done: Arc<Vec<AtomicBool>> = Arc::new((0..N).map(|_| AtomicBool::new(false)).collect());
    let w1 = ring.worker("pool").unwrap();
    let w2 = ring.worker("pool").unwrap();
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let (d, e2) = (done.clone(), errors.clone());
    let after = ring
        .stage("after")
        .after(&["pool"])
        .spawn(move |e: &Ev, seq: i64, _end: bool| {
            if !d[seq as usize].load(Ordering::Acquire) {
                e2.lock()
                    .unwrap()
                    .push(format!("after saw {seq} before the pool finished"));
            }
            if e[0] != seq as u64 {
                e2.lock()
                    .unwrap()
                    .push(format!("after: slot {seq} holds {:?}", e));
            }
        })
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut ts = Vec::new();
    for (i, mut w) in [w1, w2].into_iter().enumerate() {
        let (d, stop, errors) = (done.clone(), stop.clone(), errors.clone());
        ts.push(std::thread::spawn(move || {
            let mut k = i as u64 + 3;
            while !stop.load(Ordering::Relaxed) {
                let r = lcg(&mut k);
                match w.process(Some(Duration::from_millis(20)), |e, seq| {
                    if r % 3 == 0 {
                        std::thread::sleep(Duration::from_micros(300));
                    }
                    if e[0] != seq as u64 {
                        errors
                            .lock()
                            .unwrap()
                            .push(format!("worker: slot {seq} holds {e:?}"));
                    }
                    d[seq as usize].store(true, Ordering::Release);
                }) {
                    Ok(_) | Err(ConsumeError::Timeout) => {}
                    Err(ConsumeError::Closed { .. }) => break,
                    Err(e) => errors.lock().unwrap().push(format!("{e:?}")),
                }
                if r % 10 == 0 {
                    std::thread::sleep(Duration::from_millis(r % 7)); // idle, gets raised
                }
            }
        }));
    }
    let mut pr = ring.producer().unwrap();
    let start = Instant::now();
    let mut next = 0;
    while next < N && start.elapsed() < Duration::from_secs(10) {
        if pr.try_publish(|e, seq| *e = [seq as u64, 0]).is_ok() {
            next += 1;
        } else {
            std::thread::yield_now();
        }
    }
    ring.close();
    let _ = after.join();
    stop.store(true, Ordering::Relaxed);
    for t in ts {
        t.join().unwrap();
    }
    let errors = errors.lock().unwrap();
    assert!(errors.is_empty(), "{:?}", &errors[..errors.len().min(10)]);
    assert!(next > 200);
}

/// A stage after a pool follows the pool: an idle worker it found at registration is raised
/// by a worker that joined later, and the stage must still not read the event a third worker
/// (also joined later) is handling.
#[test]
fn stage_after_pool_idle_followed_worker_raised_by_late_joiner() {
    let seg = Seg::new("adv-after-late2");
    let ring = ShmRing::<Ev>::create(&seg.name, 16, opts(ProducerMode::Single, &[])).unwrap();
    let _early = ring.worker("pool").unwrap(); // followed, never asks for events
    let mut after = ring.consumer_after("after", &["pool"]).unwrap();
    let mut late1 = ring.worker("pool").unwrap();
    let mut late2 = ring.worker("pool").unwrap();
    let mut pr = ring.producer().unwrap();
    pr.publish(|e, seq| *e = [seq as u64, 0]).unwrap();
    let now = Some(Duration::ZERO);
    late1
        .process(now, |_, seq| {
            assert_eq!(seq, 0);
            // late2 finds nothing and waits: it raises the idle `_early`.
            assert_eq!(
                late2.process(now, |_, _| ()).err(),
                Some(ConsumeError::Timeout)
            );
            let r = after.poll_batch(now, |_, s, _| {
                assert_ne!(
                    s, 0,
                    "the stage after the pool read event 0 while late1 handles it"
                );
            });
            eprintln!("after: {r:?}");
        })
        .unwrap();
}
