//! `published()` / `Disruptor::get(published())` on a 4-slot multi-producer ring that
//! producers lap, Cas and Lock, with no consumer, with stages added and removed at run time and
//! with pollers registering and dropping. Producers write `seq` into the event and sometimes
//! hold a claim (sleep) before writing it. Any `v = published()` must give `get(v)` ==
//! `Ok(v)` or `Overwritten`, never `NotPublished` nor another value; stages and pollers must
//! only see `e == seq`.

mod ext_common;

use ext_common::oracle_deadline;
use seqflow_pipeline::{Disruptor, GetError, MultiProducerMode, YieldingWait};
use seqflow_sequencer::Sequencer;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn lcg(k: &mut u64) -> u64 {
    *k = k
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *k >> 33
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Churn {
    None,
    Stages,
    Pollers,
}

fn run(mode: MultiProducerMode, churn: Churn) {
    let (d, p) = Disruptor::builder(4, || u64::MAX)
        .wait_strategy(YieldingWait::default())
        .multi_producer(mode)
        .unwrap()
        .start()
        .unwrap();
    let seq = d.sequencer().clone();
    let d = Arc::new(Mutex::new(d));
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let fail = {
        let (failures, stop) = (failures.clone(), stop.clone());
        move |m: String| {
            let mut f = failures.lock().unwrap();
            if f.len() < 10 {
                f.push(m);
            }
            stop.store(true, Ordering::Relaxed);
        }
    };
    let (gets_ok, gets_over) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut threads = Vec::new();
    for id in 0..3u64 {
        let (mut p, stop) = (p.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut rng = id * 31 + 7;
            while !stop.load(Ordering::Relaxed) {
                let n = 1 + (lcg(&mut rng) % 3) as usize;
                let Ok(mut g) = p.claim_timeout(n, Duration::from_millis(100)) else {
                    continue;
                };
                let roll = lcg(&mut rng);
                if id == 2 && roll % 64 == 0 {
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
        }));
    }
    drop(p);
    for _ in 0..2 {
        let (d, seq, stop, fail) = (d.clone(), seq.clone(), stop.clone(), fail.clone());
        let (gets_ok, gets_over) = (gets_ok.clone(), gets_over.clone());
        threads.push(std::thread::spawn(move || {
            let mut prev = -1;
            while !stop.load(Ordering::Relaxed) {
                let v = seq.published();
                if v < prev {
                    fail(format!("published {v} after {prev}"));
                }
                prev = prev.max(v);
                if v < 0 {
                    continue;
                }
                let got = d.lock().unwrap().get(v);
                match got {
                    Ok(e) if e == v as u64 => {
                        gets_ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(e) => fail(format!(
                        "get({v}) = {e}: published() reported an unwritten slot"
                    )),
                    Err(GetError::Overwritten { .. }) => {
                        gets_over.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => fail(format!("get({v}): {e:?}")),
                }
            }
        }));
    }
    if churn == Churn::Pollers {
        let (d, stop, fail) = (d.clone(), stop.clone(), fail.clone());
        threads.push(std::thread::spawn(move || {
            let mut rng = 99u64;
            while !stop.load(Ordering::Relaxed) {
                let mut poller = { d.lock().unwrap().poller().unwrap() };
                for _ in 0..lcg(&mut rng) % 50 {
                    let r = poller.poll(|e, s, _| {
                        if *e != s as u64 {
                            fail(format!("poller: event {e} at {s}"));
                        }
                    });
                    if r.is_err() || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if lcg(&mut rng) % 8 == 0 {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
                drop(poller);
                std::thread::sleep(Duration::from_micros(lcg(&mut rng) % 300));
            }
        }));
    }
    let end = oracle_deadline();
    let mut rng = 5u64;
    let mut rounds = 0;
    while Instant::now() < end && !stop.load(Ordering::Relaxed) {
        if churn == Churn::Stages {
            let fail = fail.clone();
            let name = d
                .lock()
                .unwrap()
                .handle_events_with(move |e: &u64, s: i64, _| {
                    if *e != s as u64 {
                        fail(format!("stage: event {e} at {s}"));
                    }
                })
                .unwrap();
            std::thread::sleep(Duration::from_micros(200 + lcg(&mut rng) % 3000));
            d.lock().unwrap().remove_stage(&name).unwrap();
            rounds += 1;
            std::thread::sleep(Duration::from_micros(lcg(&mut rng) % 1000));
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    eprintln!(
        "{mode:?} {churn:?}: claimed {}, get Ok {}, Overwritten {}, stage rounds {rounds}",
        seq.claimed(),
        gets_ok.load(Ordering::Relaxed),
        gets_over.load(Ordering::Relaxed)
    );
    let d = Arc::try_unwrap(d).ok().unwrap().into_inner().unwrap();
    d.shutdown().unwrap();
    let f = failures.lock().unwrap();
    assert!(f.is_empty(), "{mode:?} {churn:?}: {f:#?}");
}

#[test]
fn cas_no_consumer() {
    run(MultiProducerMode::Cas, Churn::None);
}
#[test]
fn lock_no_consumer() {
    run(MultiProducerMode::Lock, Churn::None);
}
#[test]
fn cas_stages_added_and_removed() {
    run(MultiProducerMode::Cas, Churn::Stages);
}
#[test]
fn lock_stages_added_and_removed() {
    run(MultiProducerMode::Lock, Churn::Stages);
}
#[test]
fn cas_pollers_churn() {
    run(MultiProducerMode::Cas, Churn::Pollers);
}
#[test]
fn lock_pollers_churn() {
    run(MultiProducerMode::Lock, Churn::Pollers);
}
