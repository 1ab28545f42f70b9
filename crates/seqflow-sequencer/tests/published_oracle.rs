//! `MultiProducerSequencer::published()` never reports a sequence that is not yet
//! published, on a 4-slot ring lapped by producers (Cas and Lock), with no consumer, with
//! gating consumers registering / leaving at run time, with FOLLOWING-only consumers, and with a
//! producer that holds claims for a long time (the "dead producer" window in one process).
//!
//! Oracle: every producer stores `s` into `done[s % N]` *before* publishing `s` (the mark is a
//! `Release` store after it). Any `v = published()` must have `done[t % N] >= t` for every
//! `t <= v` in the last lap (`v - 3 ..= v`), and `v <= claimed()` read afterwards, and never go
//! down.
#![cfg(not(loom))]

use seqflow_sequence::YieldingWait;
use seqflow_sequencer::*;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const N: usize = 1 << 16;
const CAP: usize = 4;

struct Shared {
    seq: Arc<MultiProducerSequencer<YieldingWait>>,
    done: Vec<AtomicI64>,
    stop: AtomicBool,
    failures: Mutex<Vec<String>>,
    published_events: AtomicU64,
}

impl Shared {
    fn fail(&self, msg: String) {
        let mut f = self.failures.lock().unwrap();
        if f.len() < 10 {
            f.push(msg);
        }
        self.stop.store(true, Ordering::Relaxed);
    }
    fn is_done(&self, t: i64) -> bool {
        self.done[t as usize % N].load(Ordering::Acquire) >= t
    }
}

fn lcg(k: &mut u64) -> u64 {
    *k = k
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *k >> 33
}

#[derive(Clone, Copy, Debug)]
enum Consumers {
    None,
    /// Gating consumers registering, following the ring, dropping, all the time.
    GatingChurn,
    /// Only FOLLOWING (non-gating) slots, registering and dropping.
    FollowingOnly,
}

fn producer(sh: Arc<Shared>, id: u64, holder: bool) {
    let mut c = sh.seq.claimer();
    let mut rng = id * 7919 + 1;
    while !sh.stop.load(Ordering::Relaxed) {
        let n = 1 + (lcg(&mut rng) % 3) as usize;
        let r = match c.claim_timeout(n, Duration::from_millis(200)) {
            Ok(r) => r,
            Err(ClaimError::Timeout { .. }) => continue,
            Err(e) => {
                sh.fail(format!("claim: {e:?}"));
                return;
            }
        };
        let roll = lcg(&mut rng);
        // Keep the claim in flight for a while: other producers try to lap it.
        if holder && roll % 64 == 0 {
            std::thread::sleep(Duration::from_micros(200 + roll % 800));
        } else if roll % 8 == 0 {
            std::thread::yield_now();
        }
        for s in r.start()..=r.end() {
            sh.done[s as usize % N].store(s, Ordering::Release);
        }
        c.publish(r).unwrap();
        sh.published_events.fetch_add(n as u64, Ordering::Relaxed);
    }
}

fn checker(sh: Arc<Shared>) {
    let mut prev = -1i64;
    while !sh.stop.load(Ordering::Relaxed) {
        let v = sh.seq.published();
        let claimed = sh.seq.claimed();
        if v > claimed {
            sh.fail(format!("published {v} > claimed {claimed} read after"));
        }
        if v < prev {
            sh.fail(format!("published {v} after {prev}"));
        }
        for t in (v - CAP as i64 + 1).max(0)..=v {
            if !sh.is_done(t) {
                sh.fail(format!(
                    "published() = {v} but {t} not published (done[] = {})",
                    sh.done[t as usize % N].load(Ordering::Acquire)
                ));
            }
        }
        prev = prev.max(v);
    }
}

fn consumer(sh: Arc<Shared>, kind: Consumers) {
    let mut rng = 42u64;
    while !sh.stop.load(Ordering::Relaxed) {
        let gating = matches!(kind, Consumers::GatingChurn) && lcg(&mut rng) % 4 != 0;
        let s2 = sh.seq.clone();
        let reg = match sh.seq.gating().register(gating, move || s2.published()) {
            Ok(r) => r,
            Err(e) => {
                sh.fail(format!("register: {e:?}"));
                return;
            }
        };
        let start = reg.sequence().get();
        for t in (start - CAP as i64 + 1).max(0)..=start {
            if !sh.is_done(t) {
                sh.fail(format!("registered at {start} but {t} not published"));
            }
        }
        let steps = lcg(&mut rng) % 200;
        let mut pos = start;
        for _ in 0..steps {
            if sh.stop.load(Ordering::Relaxed) {
                break;
            }
            let hi = sh.seq.highest_published(pos + 1, pos + CAP as i64);
            if gating && hi > pos {
                for t in pos + 1..=hi {
                    if !sh.is_done(t) {
                        sh.fail(format!("consumer: highest_published {hi}, {t} not done"));
                    }
                }
                // Sometimes hold the ring full for a while.
                if lcg(&mut rng) % 16 == 0 {
                    std::thread::sleep(Duration::from_micros(300));
                }
                pos = hi;
                reg.set_sequence(pos);
                sh.seq.wait_strategy().signal_all();
            } else if !gating {
                pos = sh.seq.published();
            }
            std::thread::yield_now();
        }
        drop(reg); // the minimum jumps (to another consumer's or to `published()`)
        sh.seq.wait_strategy().signal_all();
        if lcg(&mut rng) % 4 == 0 {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
}

fn run(mode: MultiProducerMode, kind: Consumers, secs: u64) {
    let sh = Arc::new(Shared {
        seq: MultiProducerSequencer::new(CAP, YieldingWait::default(), mode, 4).unwrap(),
        done: (0..N).map(|_| AtomicI64::new(-1)).collect(),
        stop: AtomicBool::new(false),
        failures: Mutex::new(Vec::new()),
        published_events: AtomicU64::new(0),
    });
    let mut threads = Vec::new();
    for id in 0..3 {
        let sh = sh.clone();
        threads.push(std::thread::spawn(move || producer(sh, id, id == 2)));
    }
    for _ in 0..2 {
        let sh = sh.clone();
        threads.push(std::thread::spawn(move || checker(sh)));
    }
    if !matches!(kind, Consumers::None) {
        let sh = sh.clone();
        threads.push(std::thread::spawn(move || consumer(sh, kind)));
    }
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end && !sh.stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
    }
    sh.stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let f = sh.failures.lock().unwrap();
    eprintln!(
        "{mode:?} {kind:?}: {} events, claimed {}",
        sh.published_events.load(Ordering::Relaxed),
        sh.seq.claimed()
    );
    assert!(f.is_empty(), "{mode:?} {kind:?}: {f:#?}");
}

fn secs() -> u64 {
    std::env::var("SEQFLOW_ORACLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

#[test]
fn cas_no_consumer() {
    run(MultiProducerMode::Cas, Consumers::None, secs());
}
#[test]
fn lock_no_consumer() {
    run(MultiProducerMode::Lock, Consumers::None, secs());
}
#[test]
fn cas_gating_churn() {
    run(MultiProducerMode::Cas, Consumers::GatingChurn, secs());
}
#[test]
fn lock_gating_churn() {
    run(MultiProducerMode::Lock, Consumers::GatingChurn, secs());
}
#[test]
fn cas_following_only() {
    run(MultiProducerMode::Cas, Consumers::FollowingOnly, secs());
}
#[test]
fn lock_following_only() {
    run(MultiProducerMode::Lock, Consumers::FollowingOnly, secs());
}
