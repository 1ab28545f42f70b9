//! Adversarial tests of stages that follow a pool (`pool_members.rs`): workers joining and
//! leaving around the follower's refresh, declared pools, names shared by a pool and a
//! consumer, two pools, multi-producer rings, `pool_stage` workers, batches.
//! Every event reaches the stage once, after the worker that took it finished it; a pool that
//! skipped events (emptied, then restarted at the cursor) or was released ends the stage.

mod common;

use common::{lcg, pool_opts as opts, Seg};
use seqflow_shm::{ConsumeError, ProducerMode, ShmError, ShmRing};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Ev = [u64; 2];

const NOW: Option<Duration> = Some(Duration::ZERO);

/// A pool emptied by its last worker, then joined by a new one before the stage looked: the
/// pool restarts at the cursor (orphan pool), so the events published but never claimed are
/// skipped by the pool. The stage must not read them as if the pool had handled them: either it
/// ends with `UpstreamGone` (as it does when it looks in between) or it does not get them.
#[test]
fn pool_emptied_and_rejoined_does_not_hand_skipped_events_to_the_stage() {
    let seg = Seg::new("adv-orphan");
    let ring = ShmRing::<Ev>::create(&seg.name, 16, opts(ProducerMode::Single, &[])).unwrap();
    let mut a = ring.worker("pool").unwrap();
    let mut after = ring.consumer_after("after", &["pool"]).unwrap();
    let mut pr = ring.producer().unwrap();
    pr.publish_batch(6, |e, seq| *e = [seq as u64, 0]).unwrap();
    let mut handled = vec![];
    handled.push(a.process(NOW, |_, s| s).unwrap().0);
    drop(a); // pool empty, events 1..=5 published and never claimed
    let mut b = ring.worker("pool").unwrap(); // joins before the stage polls
                                              // `b` has nothing to take: the pool restarted at the cursor.
    let r = b.process(NOW, |_, s| s);
    if let Ok((s, _)) = r {
        handled.push(s);
    }
    let mut seen = Vec::new();
    let read = after.poll_batch(Some(Duration::from_millis(200)), |_, s, _| seen.push(s));
    let unhandled: Vec<i64> = seen
        .iter()
        .copied()
        .filter(|s| !handled.contains(s))
        .collect();
    assert!(
        unhandled.is_empty(),
        "the stage read {unhandled:?} which no worker of the pool handled (handled {handled:?}, \
         stage result {read:?}, lost_pool_events not counted)"
    );
}

/// Releasing a followed declared pool's placeholder (`release_declared`) leaves the pool with
/// nothing to follow: the stage should end with `UpstreamGone`, as for a pool left by every
/// worker, not wait on a freed slot until its timeout.
#[test]
fn release_declared_pool_ends_the_follower() {
    let seg = Seg::new("adv-release");
    let ring = ShmRing::<Ev>::create(&seg.name, 16, opts(ProducerMode::Single, &["pool"])).unwrap();
    let mut after = ring.consumer_after("after", &["pool"]).unwrap();
    let mut pr = ring.producer().unwrap();
    pr.publish_batch(2, |e, seq| *e = [seq as u64, 0]).unwrap();
    ring.release_declared("pool").unwrap();
    let read = after.poll_batch(Some(Duration::from_millis(500)), |_, _, _| ());
    assert!(
        matches!(read, Err(ConsumeError::UpstreamGone { .. })),
        "after release_declared of the followed pool: {read:?}"
    );
}

/// A consumer and a pool with the same name: the stage follows both. The pool's worker holds
/// event 0; the consumer has read everything.
#[test]
fn consumer_and_pool_with_one_name_are_both_followed() {
    let seg = Seg::new("adv-samename");
    let ring = ShmRing::<Ev>::create(&seg.name, 16, opts(ProducerMode::Single, &[])).unwrap();
    let mut c = ring.consumer("x").unwrap();
    let mut w = ring.worker("x").unwrap();
    let mut after = ring.consumer_after("after", &["x"]).unwrap();
    let mut late = ring.worker("x").unwrap();
    let mut pr = ring.producer().unwrap();
    pr.publish_batch(3, |e, seq| *e = [seq as u64, 0]).unwrap();
    c.poll_batch(NOW, |_, _, _| ()).unwrap();
    late.process(NOW, |_, s| {
        assert_eq!(s, 0);
        w.process(NOW, |_, _| ()).unwrap();
        w.process(NOW, |_, _| ()).unwrap();
        let r = after.poll_batch(NOW, |_, s, _| {
            panic!("read {s} while the late worker holds 0")
        });
        assert!(matches!(r, Err(ConsumeError::Timeout)), "{r:?}");
    })
    .unwrap();
    let mut seen = vec![];
    // `late` is idle at 0; `w` raises it when it waits.
    let _ = w.process(NOW, |_, _| ());
    after.poll_batch(NOW, |_, s, _| seen.push(s)).unwrap();
    assert_eq!(seen, [0, 1, 2]);
}

/// A consumer named "x" and a pool "x" that has no worker at the moment the stage registers
/// (its workers left): the stage follows the consumer only, and a worker that joins pool "x"
/// later is not followed: the stage reads the event that worker holds.
#[test]
fn pool_without_workers_sharing_a_consumer_name_is_followed() {
    let seg = Seg::new("adv-samename-empty");
    let ring = ShmRing::<Ev>::create(&seg.name, 16, opts(ProducerMode::Single, &[])).unwrap();
    drop(ring.worker("x").unwrap()); // pool "x" exists, empty
    let mut c = ring.consumer("x").unwrap();
    let mut after = ring.consumer_after("after", &["x"]).unwrap();
    let mut w = ring.worker("x").unwrap();
    let mut pr = ring.producer().unwrap();
    pr.publish_batch(1, |e, seq| *e = [seq as u64, 0]).unwrap();
    c.poll_batch(NOW, |_, _, _| ()).unwrap();
    let mut bad = None;
    w.process(NOW, |_, s| {
        let _ = after.poll_batch(NOW, |_, r, _| bad = Some((s, r)));
    })
    .unwrap();
    assert_eq!(
        bad, None,
        "the stage after \"x\" read an event the worker of pool \"x\" was handling"
    );
}

/// A worker leaves, and its registry slot is taken at once by an unrelated consumer (at the
/// cursor) before the stage looks again; a worker that joined after the stage holds event 0.
#[test]
fn freed_slot_reused_by_an_unrelated_consumer() {
    let seg = Seg::new("adv-reuse");
    let ring = ShmRing::<Ev>::create(&seg.name, 16, opts(ProducerMode::Single, &[])).unwrap();
    let a = ring.worker("pool").unwrap();
    let mut after = ring.consumer_after("after", &["pool"]).unwrap();
    let mut pr = ring.producer().unwrap();
    pr.publish_batch(4, |e, seq| *e = [seq as u64, 0]).unwrap();
    let mut b = ring.worker("pool").unwrap();
    let mut a = Some(a);
    let mut keep = None;
    b.process(NOW, |_, s| {
        assert_eq!(s, 0);
        drop(a.take());
        // Takes the slot `a` left (the lowest free one), starting at the cursor.
        keep = Some(ring.consumer("unrelated").unwrap());
        let r = after.poll_batch(NOW, |_, s, _| panic!("read {s} while b holds 0"));
        assert!(matches!(r, Err(ConsumeError::Timeout)), "{r:?}");
    })
    .unwrap();
    let mut seen = vec![];
    after.poll_batch(NOW, |_, s, _| seen.push(s)).unwrap();
    assert_eq!(seen, [0]);
}

/// Follow two pools; a late worker of the second pool holds event 0.
#[test]
fn two_pools_late_worker_in_second() {
    let seg = Seg::new("adv-twopools");
    let ring = ShmRing::<Ev>::create(&seg.name, 16, opts(ProducerMode::Single, &[])).unwrap();
    let mut p1 = ring.worker("p1").unwrap();
    let mut p2 = ring.worker("p2").unwrap();
    let mut after = ring.consumer_after("after", &["p1", "p2"]).unwrap();
    let mut late = ring.worker("p2").unwrap();
    let mut pr = ring.producer().unwrap();
    pr.publish_batch(2, |e, seq| *e = [seq as u64, 0]).unwrap();
    p1.process(NOW, |_, _| ()).unwrap();
    p1.process(NOW, |_, _| ()).unwrap();
    late.process(NOW, |_, s| {
        assert_eq!(s, 0);
        p2.process(NOW, |_, _| ()).unwrap();
        let r = after.poll_batch(NOW, |_, s, _| panic!("read {s} while late holds 0"));
        assert!(matches!(r, Err(ConsumeError::Timeout)), "{r:?}");
    })
    .unwrap();
    let _ = p2.process(NOW, |_, _| ());
    let mut seen = vec![];
    after.poll_batch(NOW, |_, s, _| seen.push(s)).unwrap();
    assert_eq!(seen, [0, 1]);
}

/// A declared pool whose placeholder is adopted and dropped over and over while a stage
/// follows it: a declared pool never ends the stage (its placeholder is always there between
/// workers). The refresh is lock-free and skips REGISTERING entries: a refresh that runs while
/// a worker is adopting the placeholder finds no member and reports `UpstreamGone`.
#[test]
fn declared_pool_adoption_race_does_not_end_the_follower() {
    let seg = Seg::new("adv-adopt-race");
    let ring = ShmRing::<Ev>::create(&seg.name, 64, opts(ProducerMode::Single, &["pool"])).unwrap();
    let mut after = ring.consumer_after("after", &["pool"]).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let (ring, stop) = (ring.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let w = ring.worker("pool").unwrap();
                drop(w);
                n += 1;
            }
            n
        })
    };
    let start = Instant::now();
    let mut result = Ok(());
    while start.elapsed() < Duration::from_secs(5) {
        match after.poll_batch(Some(Duration::from_micros(50)), |_, _, _| ()) {
            Ok(_) | Err(ConsumeError::Timeout) => {}
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let n = churn.join().unwrap();
    assert!(
        result.is_ok(),
        "the stage after a declared pool ended after {:?} ({n} adoptions): {result:?}",
        start.elapsed()
    );
}

/// Threaded churn checker: workers of the given pools join and leave; `batch` > 1 uses
/// `process_batch`; a stage after all the pools checks every event was finished by each pool.
fn churn(mode: ProducerMode, pools: &[&'static str], batch: usize, declared: &[&str], n: u64) {
    let seg = Seg::new("adv-churn");
    let ring = ShmRing::<Ev>::create(&seg.name, 16, opts(mode, declared)).unwrap();
    let npools = pools.len();
    let done: Arc<Vec<AtomicU8>> =
        Arc::new((0..n * npools as u64).map(|_| AtomicU8::new(0)).collect());
    let reached: Arc<Vec<AtomicU8>> = Arc::new((0..n).map(|_| AtomicU8::new(0)).collect());
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    // Anchor workers keep non-declared pools from emptying.
    let anchors: Vec<_> = pools
        .iter()
        .filter(|p| !declared.contains(p))
        .map(|p| ring.worker(p).unwrap())
        .collect();
    let after = {
        let (done, reached, errors) = (done.clone(), reached.clone(), errors.clone());
        ring.stage("after")
            .after(pools)
            .spawn(move |e: &Ev, seq: i64, _end: bool| {
                if seq as u64 >= n {
                    return;
                }
                for p in 0..npools {
                    if done[seq as usize * npools + p].load(Ordering::Acquire) != 1 {
                        errors
                            .lock()
                            .unwrap()
                            .push(format!("the stage read {seq} before pool {p} handled it"));
                    }
                }
                if e[0] != seq as u64 {
                    errors
                        .lock()
                        .unwrap()
                        .push(format!("slot {seq} holds {e:?}"));
                }
                reached[seq as usize].fetch_add(1, Ordering::Relaxed);
            })
            .unwrap()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for (t, p) in pools.iter().cycle().take(3).enumerate() {
        let pi = pools.iter().position(|q| q == p).unwrap();
        let p = *p;
        let (ring, done, errors, stop) = (ring.clone(), done.clone(), errors.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut k = t as u64 * 7 + 1;
            while !stop.load(Ordering::Relaxed) {
                let mut w = match ring.worker(p) {
                    Ok(w) => w,
                    Err(e) => {
                        errors.lock().unwrap().push(format!("join: {e:?}"));
                        return;
                    }
                };
                for _ in 0..(lcg(&mut k) % 20) {
                    let slow = lcg(&mut k) % 4 == 0;
                    let handle = |e: &Ev, seq: i64| {
                        if slow {
                            std::thread::sleep(Duration::from_micros(200));
                        }
                        if e[0] != seq as u64 {
                            errors
                                .lock()
                                .unwrap()
                                .push(format!("worker: slot {seq} holds {e:?}"));
                        }
                        if let Some(flag) = done.get(seq as usize * npools + pi) {
                            if (seq as u64) < n && flag.fetch_add(1, Ordering::AcqRel) != 0 {
                                errors
                                    .lock()
                                    .unwrap()
                                    .push(format!("{seq} handled twice by {p}"));
                            }
                        }
                    };
                    let r = if batch > 1 {
                        w.process_batch(batch, Some(Duration::from_millis(5)), |e, s, _| {
                            handle(e, s)
                        })
                        .map(|_| ())
                    } else {
                        w.process(Some(Duration::from_millis(5)), |e, s| handle(e, s))
                            .map(|_| ())
                    };
                    match r {
                        Ok(_) | Err(ConsumeError::Timeout) => {}
                        Err(ConsumeError::Closed { .. }) => return,
                        Err(e) => errors.lock().unwrap().push(format!("worker: {e:?}")),
                    }
                }
            }
        }));
    }
    let mut pr = ring.producer().unwrap();
    let start = Instant::now();
    let mut next = 0;
    while next < n && start.elapsed() < Duration::from_secs(20) {
        if pr.try_publish(|e, seq| *e = [seq as u64, 0]).is_ok() {
            next += 1;
        } else {
            std::thread::yield_now();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while (0..next).any(|s| reached[s as usize].load(Ordering::Relaxed) == 0)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    ring.close();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    drop(anchors);
    let result = after.join();
    let errors = errors.lock().unwrap();
    assert!(
        errors.is_empty(),
        "{mode:?} {pools:?}: {:?}",
        &errors[..errors.len().min(10)]
    );
    assert_eq!(next, n, "{mode:?}: producer held back");
    let missing: Vec<u64> = (0..n)
        .filter(|&s| reached[s as usize].load(Ordering::Relaxed) != 1)
        .collect();
    assert!(
        missing.is_empty(),
        "{mode:?}: stage did not get {missing:?} once ({result:?})"
    );
}

#[test]
fn churn_one_pool() {
    churn(ProducerMode::Single, &["pool"], 1, &[], 3000);
}

#[test]
fn churn_two_pools() {
    churn(ProducerMode::Single, &["p1", "p2"], 1, &[], 2000);
}

#[test]
fn churn_multicas_batches() {
    churn(ProducerMode::MultiCas, &["pool"], 4, &[], 2000);
}

#[test]
fn churn_declared_pool_no_anchor() {
    // The declared pool empties and is re-adopted all the time.
    churn(ProducerMode::MultiCas, &["pool"], 3, &["pool"], 2000);
}

/// `pool_stage` workers (the pipeline's worker loop) join and leave while a stage follows the
/// pool; workers are stopped (leaving) and new ones spawned.
#[test]
fn churn_pool_stage_workers() {
    const N: u64 = 1500;
    let seg = Seg::new("adv-poolstage");
    let ring = ShmRing::<Ev>::create(&seg.name, 16, opts(ProducerMode::MultiCas, &[])).unwrap();
    let done: Arc<Vec<AtomicU8>> = Arc::new((0..N).map(|_| AtomicU8::new(0)).collect());
    let reached: Arc<Vec<AtomicU8>> = Arc::new((0..N).map(|_| AtomicU8::new(0)).collect());
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let _anchor = ring.worker("pool").unwrap();
    let after = {
        let (done, reached, errors) = (done.clone(), reached.clone(), errors.clone());
        ring.stage("after")
            .after(&["pool"])
            .spawn(move |e: &Ev, seq: i64, _| {
                let Some(f) = done.get(seq as usize) else {
                    return;
                };
                if f.load(Ordering::Acquire) != 1 {
                    errors
                        .lock()
                        .unwrap()
                        .push(format!("stage read {seq} before the pool handled it"));
                }
                if e[0] != seq as u64 {
                    errors
                        .lock()
                        .unwrap()
                        .push(format!("slot {seq} holds {e:?}"));
                }
                reached[seq as usize].fetch_add(1, Ordering::Relaxed);
            })
            .unwrap()
    };
    let spawn_worker = {
        let (ring, done, errors) = (ring.clone(), done.clone(), errors.clone());
        move |k: u64| {
            let (done, errors) = (done.clone(), errors.clone());
            ring.pool_stage("pool")
                .spawn(move |e: &Ev, seq: i64, _| {
                    if k % 3 == 0 {
                        std::thread::sleep(Duration::from_micros(100));
                    }
                    if e[0] != seq as u64 {
                        errors
                            .lock()
                            .unwrap()
                            .push(format!("worker: slot {seq} holds {e:?}"));
                    }
                    if let Some(f) = done.get(seq as usize) {
                        if f.fetch_add(1, Ordering::AcqRel) != 0 {
                            errors.lock().unwrap().push(format!("{seq} handled twice"));
                        }
                    }
                })
                .unwrap()
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let churner = {
        let stop = stop.clone();
        let ring = ring.clone();
        let spawn_worker = spawn_worker.clone();
        std::thread::spawn(move || {
            let _ = &ring;
            let mut k = 3;
            let mut live = vec![spawn_worker(0)];
            while !stop.load(Ordering::Relaxed) {
                if live.len() < 3 && lcg(&mut k) % 2 == 0 {
                    live.push(spawn_worker(lcg(&mut k)));
                } else if !live.is_empty() {
                    let i = (lcg(&mut k) as usize) % live.len();
                    let w = live.swap_remove(i);
                    w.stop();
                    let _ = w.join();
                }
                std::thread::sleep(Duration::from_micros(300));
            }
            for w in live {
                w.stop();
                let _ = w.join();
            }
        })
    };
    let mut pr = ring.producer().unwrap();
    let start = Instant::now();
    let mut next = 0;
    while next < N && start.elapsed() < Duration::from_secs(20) {
        if pr.try_publish(|e, seq| *e = [seq as u64, 0]).is_ok() {
            next += 1;
        } else {
            std::thread::yield_now();
        }
    }
    // The anchor takes what is left once the churner stopped.
    stop.store(true, Ordering::Relaxed);
    churner.join().unwrap();
    let mut anchor = _anchor;
    let deadline = Instant::now() + Duration::from_secs(20);
    while (0..next).any(|s| reached[s as usize].load(Ordering::Relaxed) == 0)
        && Instant::now() < deadline
    {
        let _ = anchor.process(Some(Duration::from_millis(1)), |e, seq| {
            if let Some(f) = done.get(seq as usize) {
                if f.fetch_add(1, Ordering::AcqRel) != 0 {
                    errors.lock().unwrap().push(format!("{seq} handled twice"));
                }
            }
            let _ = e;
        });
    }
    ring.close();
    let result = after.join();
    let errors = errors.lock().unwrap();
    assert!(errors.is_empty(), "{:?}", &errors[..errors.len().min(10)]);
    assert_eq!(next, N);
    let missing: Vec<u64> = (0..N)
        .filter(|&s| reached[s as usize].load(Ordering::Relaxed) != 1)
        .collect();
    assert!(missing.is_empty(), "missing {missing:?} ({result:?})");
}

/// The follower registers over and over while workers join and leave: each new follower
/// registration must see every worker that holds an event it could read.
#[test]
fn follower_registering_while_workers_join() {
    let seg = Seg::new("adv-follower-reg");
    let ring = ShmRing::<Ev>::create(&seg.name, 16, opts(ProducerMode::Single, &[])).unwrap();
    let _anchor = ring.worker("pool").unwrap();
    let holding = Arc::new(AtomicU64::new(u64::MAX));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let joiner = {
        let (ring, holding, stop, errors) =
            (ring.clone(), holding.clone(), stop.clone(), errors.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let mut w = ring.worker("pool").unwrap();
                match w.process(Some(Duration::from_millis(2)), |_, s| {
                    holding.store(s as u64, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_micros(300));
                    holding.store(u64::MAX, Ordering::SeqCst);
                }) {
                    Ok(_) | Err(ConsumeError::Timeout) => {}
                    Err(ConsumeError::Closed { .. }) => return,
                    Err(e) => errors.lock().unwrap().push(format!("{e:?}")),
                }
            }
        })
    };
    let mut pr = ring.producer().unwrap();
    let start = Instant::now();
    let mut published = 0u64;
    while start.elapsed() < Duration::from_secs(3) {
        if published < 200 && pr.try_publish(|e, seq| *e = [seq as u64, 0]).is_ok() {
            published += 1;
        }
        let mut f = match ring.consumer_after("f", &["pool"]) {
            Ok(f) => f,
            Err(ShmError::ConsumersFull { .. }) => continue,
            Err(e) => panic!("{e:?}"),
        };
        let _ = f.poll_batch(NOW, |_, s, _| {
            if holding.load(Ordering::SeqCst) == s as u64 {
                errors
                    .lock()
                    .unwrap()
                    .push(format!("follower read {s} while held"));
            }
        });
        drop(f);
        if published >= 200 && start.elapsed() > Duration::from_secs(1) {
            break;
        }
    }
    ring.close();
    stop.store(true, Ordering::Relaxed);
    joiner.join().unwrap();
    let e = errors.lock().unwrap();
    assert!(e.is_empty(), "{:?}", &e[..e.len().min(10)]);
}
