//! Soak test: two multi-producer (CAS) threads feed a stage graph with a pipeline, a multicast,
//! a worker pool and a join, for a bounded time, while handlers stall at random (sleeps of up to
//! a millisecond, and now and then 20 ms, long enough to fill the ring and block the producers)
//! and panic at random (about 0.1% of the events of every stage) under
//! `PanicPolicy::LogAndContinue`. Then shutdown drains and everything is accounted for.
//!
//! ```text
//!             ┌─> replicate (B) ────────────────┐
//! journal (A) ┤                                 ├─> audit (D)
//!             └─┬─> pool of 3 workers (P) ──────┘
//! metrics (C) ──┘
//! ```
//!
//! Checked:
//! - every stage accounts for every published event exactly once: `completed + panicked ==
//!   published`, the in-order stages (A, B, C, D) see sequences strictly one after another,
//!   the pool sets each event's bit exactly once;
//! - the panics are exactly the injected ones (which events panic is a hash of the seed, the
//!   stage and the sequence, so the expected count per stage is recomputed afterwards), and
//!   `metrics().panics` counts them all;
//! - no stage sees an event before the stages it comes after, and each producer's events keep
//!   their order and content;
//! - shutdown drains within its timeout and returns `Ok` (a panic under `LogAndContinue` never
//!   halts).
//!
//! Duration: `SEQFLOW_SOAK_SECS` (default 3). The long soak:
//! `SEQFLOW_SOAK_SECS=60 cargo test --release -p seqflow-pipeline --test soak -- --nocapture`.
//! `SEQFLOW_SOAK_SEED` replays a seed (printed at the end of each run). Nothing here asserts a
//! duration or a rate; the summary only reports them.

use seqflow_pipeline::{Disruptor, EventHandler, PanicPolicy};
use seqflow_sequence::BlockingWait;
use seqflow_sequencer::MultiProducerMode;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CAPACITY: usize = 256;
const PRODUCERS: usize = 2;
const WORKERS: usize = 3;
/// Upper bound on the events of one run (sizes the pool's bitmap: 32 MiB).
const MAX_EVENTS: u64 = 1 << 28;
/// One event in `PANIC_EVERY` panics, per stage.
const PANIC_EVERY: u64 = 1000;
/// One event in `STALL_EVERY` sleeps up to 1 ms, per stage.
const STALL_EVERY: u64 = 2000;
/// One event in `LONG_STALL_EVERY` sleeps 20 ms, per stage (the ring fills up meanwhile).
const LONG_STALL_EVERY: u64 = 200_000;
const INJECTED: &str = "injected soak panic";

#[derive(Debug, Clone, Copy, Default)]
struct Ev {
    producer: u32,
    n: u64,
    seq: i64,
}

/// The stages, in the order their ids are used for the random decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Journal,
    Metrics,
    Replicate,
    Pool,
    Audit,
}

const STAGES: [Stage; 5] = [
    Stage::Journal,
    Stage::Metrics,
    Stage::Replicate,
    Stage::Pool,
    Stage::Audit,
];

/// SplitMix64 over (seed, stage, seq): the same decisions in the handler and in the final
/// accounting.
fn mix(seed: u64, stage: Stage, seq: i64) -> u64 {
    let mut z = seed
        ^ (stage as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ (seq as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn panics_at(seed: u64, stage: Stage, seq: i64) -> bool {
    mix(seed, stage, seq) % PANIC_EVERY == 0
}

/// How long to stall on this event, if at all.
fn stall_at(seed: u64, stage: Stage, seq: i64) -> Option<Duration> {
    let h = mix(seed, stage, seq);
    if h % LONG_STALL_EVERY == 1 {
        Some(Duration::from_millis(20))
    } else if h % STALL_EVERY == 2 {
        Some(Duration::from_micros((h >> 40) % 1000))
    } else {
        None
    }
}

#[derive(Default)]
struct StageStats {
    /// In-order stages: the last sequence seen (handled or panicked).
    progress: AtomicI64,
    completed: AtomicU64,
    panicked: AtomicU64,
    stalls: AtomicU64,
    stalled_us: AtomicU64,
}

struct Shared {
    seed: u64,
    stats: Vec<StageStats>,
    /// The pool: one bit per sequence, set by the worker that handled (or panicked on) it.
    pool_done: Vec<AtomicU64>,
    violations: AtomicU64,
    log: Mutex<Vec<String>>,
}

impl Shared {
    fn stats(&self, stage: Stage) -> &StageStats {
        &self.stats[stage as usize]
    }

    fn violation(&self, what: String) {
        self.violations.fetch_add(1, Ordering::Relaxed);
        let mut log = self.log.lock().unwrap();
        if log.len() < 20 {
            log.push(what);
        }
    }

    fn pool_has(&self, seq: i64) -> bool {
        let (word, bit) = (seq as usize / 64, seq % 64);
        self.pool_done[word].load(Ordering::Acquire) & (1 << bit) != 0
    }
}

struct Soak {
    stage: Stage,
    shared: Arc<Shared>,
    /// Journal only: the next number expected from each producer.
    next_n: [u64; PRODUCERS],
}

impl Soak {
    fn new(stage: Stage, shared: &Arc<Shared>) -> Self {
        Self {
            stage,
            shared: Arc::clone(shared),
            next_n: [0; PRODUCERS],
        }
    }
}

impl EventHandler<Ev> for Soak {
    fn on_event(&mut self, event: &Ev, seq: i64, _end_of_batch: bool) {
        let s = &*self.shared;
        let me = s.stats(self.stage);
        let stage = self.stage;
        if event.seq != seq || seq < 0 || seq as u64 >= MAX_EVENTS {
            s.violation(format!("{stage:?}: slot {seq} holds {event:?}"));
            return;
        }
        // Dependencies first: nothing here may run before the stages it comes after.
        let after = |dep: Stage| s.stats(dep).progress.load(Ordering::Acquire) >= seq;
        let deps_ok = match stage {
            Stage::Journal | Stage::Metrics => true,
            Stage::Replicate => after(Stage::Journal),
            Stage::Pool => after(Stage::Journal) && after(Stage::Metrics),
            Stage::Audit => after(Stage::Replicate) && s.pool_has(seq),
        };
        if !deps_ok {
            s.violation(format!("{stage:?}: saw {seq} before a stage it depends on"));
        }
        // Exactly once (and in order, but for the pool).
        if stage == Stage::Pool {
            let (word, bit) = (seq as usize / 64, seq % 64);
            let before = s.pool_done[word].fetch_or(1 << bit, Ordering::AcqRel);
            if before & (1 << bit) != 0 {
                s.violation(format!("pool: {seq} handled twice"));
            }
        } else {
            let last = me.progress.load(Ordering::Relaxed);
            if seq != last + 1 {
                s.violation(format!("{stage:?}: got {seq} after {last}"));
            }
        }
        if stage == Stage::Journal {
            let p = event.producer as usize;
            if p >= PRODUCERS || event.n != self.next_n[p] {
                s.violation(format!("journal: {event:?} out of producer order"));
            } else {
                self.next_n[p] += 1;
            }
        }
        if let Some(pause) = stall_at(s.seed, stage, seq) {
            me.stalls.fetch_add(1, Ordering::Relaxed);
            me.stalled_us
                .fetch_add(pause.as_micros() as u64, Ordering::Relaxed);
            std::thread::sleep(pause);
        }
        // Account before a panic unwinds out of here.
        let panic = panics_at(s.seed, stage, seq);
        if panic {
            me.panicked.fetch_add(1, Ordering::Relaxed);
        } else {
            me.completed.fetch_add(1, Ordering::Relaxed);
        }
        if stage != Stage::Pool {
            me.progress.store(seq, Ordering::Release);
        }
        if panic {
            panic!("{INJECTED} ({stage:?} at {seq})");
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Keep the injected panics out of the output; any other panic is printed as usual.
fn quiet_injected_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let injected = info
            .payload()
            .downcast_ref::<String>()
            .is_some_and(|m| m.starts_with(INJECTED));
        if !injected {
            default(info);
        }
    }));
}

#[test]
fn soak_stalls_and_panics_lose_nothing() {
    let secs = env_u64("SEQFLOW_SOAK_SECS").unwrap_or(3);
    let seed = env_u64("SEQFLOW_SOAK_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    quiet_injected_panics();
    let shared = Arc::new(Shared {
        seed,
        stats: STAGES.iter().map(|_| StageStats::default()).collect(),
        pool_done: (0..MAX_EVENTS / 64).map(|_| AtomicU64::new(0)).collect(),
        violations: AtomicU64::new(0),
        log: Mutex::new(Vec::new()),
    });
    for s in &shared.stats {
        s.progress.store(-1, Ordering::Relaxed);
    }

    let mut b = Disruptor::builder(CAPACITY, Ev::default)
        .wait_strategy(BlockingWait::default())
        .panic_policy(PanicPolicy::LogAndContinue)
        .multi_producer(MultiProducerMode::Cas)
        .unwrap();
    // Multicast: journal and metrics both see every event.
    let journal = b
        .handle_events_with(Soak::new(Stage::Journal, &shared))
        .named("journal")
        .group();
    let metrics = b
        .handle_events_with(Soak::new(Stage::Metrics, &shared))
        .named("metrics")
        .group();
    // Pipeline: replicate after journal.
    let replicate = b
        .after(&[&journal])
        .handle_events_with(Soak::new(Stage::Replicate, &shared))
        .named("replicate")
        .group();
    // Worker pool after journal and metrics.
    let pool = b
        .after(&[&journal, &metrics])
        .handle_events_with_worker_pool(
            (0..WORKERS)
                .map(|_| Soak::new(Stage::Pool, &shared))
                .collect(),
        )
        .named("pool")
        .group();
    // Join: audit after replicate and the pool.
    b.after(&[&replicate, &pool])
        .handle_events_with(Soak::new(Stage::Audit, &shared))
        .named("audit");
    let (d, p) = b.start().unwrap();

    // Watch the ring fill up (informational).
    let stop = Arc::new(AtomicBool::new(false));
    let handle = d.metrics_handle();
    let stop_monitor = Arc::clone(&stop);
    let monitor = std::thread::spawn(move || {
        let (mut samples, mut full) = (0u64, 0u64);
        while !stop_monitor.load(Ordering::Relaxed) {
            samples += 1;
            if handle.read().remaining_capacity == 0 {
                full += 1;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        (samples, full)
    });

    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|id| {
            let mut p = p.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                let mut rng = seed ^ (id as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d);
                while n < MAX_EVENTS / PRODUCERS as u64 - 8 {
                    if n % 256 == 0 && Instant::now() >= deadline {
                        break;
                    }
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let batch = 1 + (rng % 4) as usize;
                    let write = |e: &mut Ev, seq: i64, k: u64| {
                        *e = Ev {
                            producer: id as u32,
                            n: k,
                            seq,
                        }
                    };
                    if batch == 1 {
                        p.publish(|e, seq| write(e, seq, n)).unwrap();
                    } else {
                        let mut k = n;
                        p.publish_batch(batch, |e, seq| {
                            write(e, seq, k);
                            k += 1;
                        })
                        .unwrap();
                    }
                    n += batch as u64;
                }
                n
            })
        })
        .collect();
    drop(p);
    let published: u64 = producers.into_iter().map(|t| t.join().unwrap()).sum();
    let produced_in = started.elapsed();
    // Let every stage catch up before reading the pipeline's panic counter (a stage's sequence
    // passes an event only after its panic was counted).
    let drain_deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < drain_deadline
        && d.metrics()
            .stages
            .iter()
            .any(|s| s.sequence < published as i64 - 1)
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    let panics_reported = d.metrics().panics;
    let shutdown = d.shutdown_timeout(Duration::from_secs(120));
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (samples, full) = monitor.join().unwrap();
    let panics_counted: u64 = shared
        .stats
        .iter()
        .map(|s| s.panicked.load(Ordering::Relaxed))
        .sum();

    // Summary (informational; nothing below asserts a time or a rate).
    println!("soak: seed {seed}, {secs} s requested");
    println!(
        "soak: {published} events published in {produced_in:.2?}, drained and stopped after {elapsed:.2?} ({:.0} events/s)",
        published as f64 / produced_in.as_secs_f64()
    );
    println!("soak: ring full in {full} of {samples} samples (every 10 ms)");
    for stage in STAGES {
        let s = shared.stats(stage);
        println!(
            "soak: {:<9} completed {:>10}  panicked {:>6}  stalls {:>5} ({} ms asleep)",
            format!("{stage:?}"),
            s.completed.load(Ordering::Relaxed),
            s.panicked.load(Ordering::Relaxed),
            s.stalls.load(Ordering::Relaxed),
            s.stalled_us.load(Ordering::Relaxed) / 1000,
        );
    }
    println!(
        "soak: {panics_counted} panics injected in total, {panics_reported} counted by metrics()"
    );

    let log = shared.log.lock().unwrap().clone();
    assert_eq!(shutdown, Ok(()), "shutdown must drain and not halt");
    assert_eq!(
        shared.violations.load(Ordering::Relaxed),
        0,
        "violations: {log:#?}"
    );
    assert!(published > 0);
    assert_eq!(
        panics_reported, panics_counted,
        "metrics().panics counts every caught panic"
    );
    for stage in STAGES {
        let s = shared.stats(stage);
        let (completed, panicked) = (
            s.completed.load(Ordering::Relaxed),
            s.panicked.load(Ordering::Relaxed),
        );
        assert_eq!(
            completed + panicked,
            published,
            "{stage:?}: completed + panicked != published"
        );
        let expected = (0..published as i64)
            .filter(|&seq| panics_at(seed, stage, seq))
            .count() as u64;
        assert_eq!(panicked, expected, "{stage:?}: not the injected panics");
        if stage != Stage::Pool {
            assert_eq!(s.progress.load(Ordering::Relaxed), published as i64 - 1);
        }
    }
    let bits: u64 = shared.pool_done[..published.div_ceil(64) as usize]
        .iter()
        .map(|w| u64::from(w.load(Ordering::Relaxed).count_ones()))
        .sum();
    assert_eq!(bits, published, "the pool lost or invented events");
}
