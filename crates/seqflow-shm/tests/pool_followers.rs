//! A stage after a pool follows the pool, not the workers it had when the stage registered:
//! workers that join later are followed from their first claim, workers that leave or die stop
//! holding the stage back, and the stage never reads an event before the worker that took it
//! has handled it.

mod common;

use common::{lcg, pool_opts as opts, Seg};
use seqflow_shm::{ConsumeError, ProducerMode, ShmRing};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Ev = [u64; 2];

const NOW: Option<Duration> = Some(Duration::ZERO);

/// A worker that joins after the stage registered takes event 0; an early worker handles
/// event 1 meanwhile. The stage must not read event 0 while the late worker holds it.
#[test]
fn worker_joining_after_the_stage_is_followed() {
    let seg = Seg::new("follow-late");
    let ring = ShmRing::<Ev>::create(&seg.name, 16, opts(ProducerMode::Single, &[])).unwrap();
    let mut early = ring.worker("pool").unwrap();
    let mut after = ring.consumer_after("after", &["pool"]).unwrap();
    let mut late = ring.worker("pool").unwrap();
    let mut pr = ring.producer().unwrap();
    pr.publish_batch(2, |e, seq| *e = [seq as u64, 0]).unwrap();
    late.process(NOW, |_, seq| {
        assert_eq!(seq, 0);
        let (s, ()) = early.process(NOW, |_, _| ()).unwrap();
        assert_eq!(s, 1);
        let read = after.poll_batch(NOW, |_, s, _| {
            assert_ne!(
                s, 0,
                "the stage read event 0 while the late worker handles it"
            );
        });
        assert!(matches!(read, Err(ConsumeError::Timeout)), "{read:?}");
    })
    .unwrap();
    let mut seen = Vec::new();
    after.poll_batch(NOW, |_, s, _| seen.push(s)).unwrap();
    assert_eq!(seen, [0], "`late` stays at event 0 until raised");
    // `early` finds nothing to take and raises the idle `late` to the pool's work sequence.
    assert!(matches!(
        early.process(NOW, |_, _| ()),
        Err(ConsumeError::Timeout)
    ));
    after.poll_batch(NOW, |_, s, _| seen.push(s)).unwrap();
    assert_eq!(seen, [0, 1]);
}

/// A followed worker that leaves no longer holds the stage back, and the stage goes on with
/// the workers that remain (it used to fail with `UpstreamGone`).
#[test]
fn worker_leaving_a_followed_pool_does_not_end_the_stage() {
    let seg = Seg::new("follow-leave");
    let ring = ShmRing::<Ev>::create(&seg.name, 16, opts(ProducerMode::Single, &[])).unwrap();
    let mut a = ring.worker("pool").unwrap();
    let b = ring.worker("pool").unwrap();
    let mut after = ring.consumer_after("after", &["pool"]).unwrap();
    let mut pr = ring.producer().unwrap();
    pr.publish_batch(3, |e, seq| *e = [seq as u64, 0]).unwrap();
    // `b` never asks for an event, then leaves: `a` takes everything.
    drop(b);
    for want in 0..3 {
        assert_eq!(a.process(NOW, |_, s| s).unwrap().0, want);
    }
    let mut seen = Vec::new();
    after
        .poll_batch(Some(Duration::from_secs(5)), |_, s, _| seen.push(s))
        .unwrap();
    assert_eq!(seen, [0, 1, 2]);
}

/// A pool left by all its workers (not declared) ends the stage that follows it, as a plain
/// upstream stage that leaves does.
#[test]
fn pool_left_by_every_worker_ends_the_stage() {
    let seg = Seg::new("follow-empty");
    let ring = ShmRing::<Ev>::create(&seg.name, 16, opts(ProducerMode::Single, &[])).unwrap();
    let a = ring.worker("pool").unwrap();
    let mut after = ring.consumer_after("after", &["pool"]).unwrap();
    let mut pr = ring.producer().unwrap();
    pr.publish(|e, seq| *e = [seq as u64, 0]).unwrap();
    drop(a);
    let read = after.poll_batch(Some(Duration::from_secs(5)), |_, _, _| ());
    assert!(
        matches!(read, Err(ConsumeError::UpstreamGone { ref upstream, .. }) if upstream == "pool"),
        "{read:?}"
    );
}

/// A declared pool keeps its placeholder: its last worker leaving does not end the stage, and a
/// worker attaching later carries on where the pool was.
#[test]
fn declared_pool_followed_across_restarts() {
    let seg = Seg::new("follow-declared");
    let ring = ShmRing::<Ev>::create(&seg.name, 16, opts(ProducerMode::Single, &["pool"])).unwrap();
    let mut after = ring.consumer_after("after", &["pool"]).unwrap();
    let mut pr = ring.producer().unwrap();
    pr.publish_batch(4, |e, seq| *e = [seq as u64, 0]).unwrap();
    {
        let mut w = ring.worker("pool").unwrap();
        assert_eq!(w.process(NOW, |_, s| s).unwrap().0, 0);
    }
    let mut seen = Vec::new();
    after.poll_batch(NOW, |_, s, _| seen.push(s)).unwrap();
    assert_eq!(seen, [0]);
    assert!(matches!(
        after.poll_batch(NOW, |_, _, _| ()),
        Err(ConsumeError::Timeout)
    ));
    let mut w = ring.worker("pool").unwrap();
    w.process(NOW, |_, s| {
        assert_eq!(s, 1);
        assert!(matches!(
            after.poll_batch(NOW, |_, s, _| panic!(
                "read {s} while the new worker holds it"
            )),
            Err(ConsumeError::Timeout)
        ));
    })
    .unwrap();
    after.poll_batch(NOW, |_, s, _| seen.push(s)).unwrap();
    assert_eq!(seen, [0, 1]);
}

/// Threads: workers of one pool join and leave all the time, some handlers are slow, idle
/// workers are raised by the others; a stage after the pool checks that the worker that took
/// each event had finished it, and that every event reaches it exactly once.
#[test]
fn stage_after_a_pool_whose_workers_come_and_go() {
    for mode in [ProducerMode::Single, ProducerMode::MultiCas] {
        churn(mode);
    }
}

fn churn(mode: ProducerMode) {
    const N: u64 = 3000;
    let seg = Seg::new("follow-churn");
    let ring = ShmRing::<Ev>::create(&seg.name, 16, opts(mode, &[])).unwrap();
    let done: Arc<Vec<AtomicU8>> = Arc::new((0..N).map(|_| AtomicU8::new(0)).collect());
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    // One worker stays all along (the pool never empties) and never asks for an event: it is
    // raised by the others whenever they wait.
    let _anchor = ring.worker("pool").unwrap();
    let reached: Arc<Vec<AtomicU8>> = Arc::new((0..N).map(|_| AtomicU8::new(0)).collect());
    let after = {
        let (done, reached, errors) = (done.clone(), reached.clone(), errors.clone());
        ring.stage("after")
            .after(&["pool"])
            .spawn(move |e: &Ev, seq: i64, _end: bool| {
                let Some(flag) = done.get(seq as usize) else {
                    return;
                };
                if flag.load(Ordering::Acquire) != 1 {
                    errors
                        .lock()
                        .unwrap()
                        .push(format!("the stage read {seq} before the pool handled it"));
                }
                if e[0] != seq as u64 {
                    errors
                        .lock()
                        .unwrap()
                        .push(format!("slot {seq} holds {e:?} at the stage"));
                }
                reached[seq as usize].fetch_add(1, Ordering::Relaxed);
            })
            .unwrap()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for t in 0..3u64 {
        let (ring, done, errors, stop) = (ring.clone(), done.clone(), errors.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut k = t * 7 + 1;
            while !stop.load(Ordering::Relaxed) {
                // Join, take a few events (some slowly), leave.
                let mut w = ring.worker("pool").unwrap();
                for _ in 0..(lcg(&mut k) % 20) {
                    let slow = lcg(&mut k) % 4 == 0;
                    let r = w.process(Some(Duration::from_millis(5)), |e, seq| {
                        if slow {
                            std::thread::sleep(Duration::from_micros(200));
                        }
                        if e[0] != seq as u64 {
                            errors
                                .lock()
                                .unwrap()
                                .push(format!("worker: slot {seq} holds {e:?}"));
                        }
                        if let Some(flag) = done.get(seq as usize) {
                            if flag.fetch_add(1, Ordering::AcqRel) != 0 {
                                errors.lock().unwrap().push(format!("{seq} handled twice"));
                            }
                        }
                    });
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
    while next < N && start.elapsed() < Duration::from_secs(20) {
        if pr.try_publish(|e, seq| *e = [seq as u64, 0]).is_ok() {
            next += 1;
        } else {
            std::thread::yield_now();
        }
    }
    // Let the pool finish, then end the stage.
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
    let result = after.join();
    let errors = errors.lock().unwrap();
    assert!(
        errors.is_empty(),
        "{mode:?}: {:?}",
        &errors[..errors.len().min(10)]
    );
    assert_eq!(next, N, "{mode:?}: the producer was held back for good");
    let missing: Vec<u64> = (0..N)
        .filter(|&s| reached[s as usize].load(Ordering::Relaxed) != 1)
        .collect();
    assert!(
        missing.is_empty(),
        "{mode:?}: the stage did not get {missing:?} once ({result:?})"
    );
}

/// A worker that stopped asking for events does not hold the stage after its pool back: the
/// stage raises it before it blocks.
#[test]
fn idle_worker_is_raised_by_the_stage_that_waits() {
    let seg = Seg::new("follow-idle");
    let ring = ShmRing::<Ev>::create(&seg.name, 16, opts(ProducerMode::Single, &[])).unwrap();
    let mut a = ring.worker("pool").unwrap();
    let mut b = ring.worker("pool").unwrap();
    let mut after = ring.consumer_after("after", &["pool"]).unwrap();
    let mut pr = ring.producer().unwrap();
    pr.publish_batch(3, |e, seq| *e = [seq as u64, 0]).unwrap();
    assert_eq!(a.process(NOW, |_, s| s).unwrap().0, 0);
    assert_eq!(b.process(NOW, |_, s| s).unwrap().0, 1);
    assert_eq!(b.process(NOW, |_, s| s).unwrap().0, 2);
    // `a` never calls `process` again: it sits at 0.
    let mut seen = Vec::new();
    while seen.len() < 3 {
        after
            .poll_batch(Some(Duration::from_secs(5)), |_, s, _| seen.push(s))
            .expect("the stage is not held back by the idle worker");
    }
    assert_eq!(seen, [0, 1, 2]);
}
