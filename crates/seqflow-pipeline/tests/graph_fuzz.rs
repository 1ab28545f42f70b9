//! Property test of the stage graph: random DAGs of 1-6 stages (handlers and worker pools), wired
//! with every builder form (`after`, `then`, `and`, `then_worker_pool`, ...), fed by a random
//! producer kind (single, multi CAS, multi lock) from 1-3 threads with random claim sizes, over
//! rings of 1 to 64 slots.
//!
//! Checked for every case:
//! - every handler stage sees every event exactly once, in sequence order, with the content
//!   its producer wrote (and each producer's events in that producer's order);
//! - a worker pool as a whole sees every event exactly once;
//! - no stage sees an event before every stage it depends on has finished it (a handler
//!   dependency is checked through its progress counter, a pool dependency through a per-event
//!   "done" marker, since pool workers finish out of order);
//! - `on_start` runs before the first event and `on_shutdown` once after the last, and the last
//!   event of the run is flagged `end_of_batch`;
//! - shutdown drains (within a generous timeout) and reports no panic (`PanicPolicy::Halt`).
//!
//! Handlers never panic on a violation (the pipeline would catch it); they record it, and the
//! case fails after shutdown if anything was recorded. A case that hangs (lost wake-up, lost
//! event) is caught by a watchdog that prints the case and aborts the test binary.
//!
//! Case count: `SEQFLOW_PROPTEST_CASES` (default 32). For example
//! `SEQFLOW_PROPTEST_CASES=2000 cargo test --release -p seqflow-pipeline --test graph_fuzz`.
//! `SEQFLOW_CASE_TIMEOUT_SECS` (default 120) sets the watchdog.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use seqflow_pipeline::{Disruptor, DisruptorBuilder, EventHandler, ProducerSequencer, StageGroup};
use seqflow_sequence::{BlockingWait, WaitStrategy, YieldingWait};
use seqflow_sequencer::{ClaimError, MultiProducerMode};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// The event: who wrote it, its number among that producer's events, and the sequence the
/// producer was given for it.
#[derive(Debug, Clone, Copy, Default)]
struct Ev {
    producer: u32,
    n: u64,
    seq: i64,
}

// ---------------------------------------------------------------------------------------------
// The case
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Handler,
    Pool(usize),
}

/// How a node is added to the builder.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Wiring {
    /// `builder.after(&[groups of these nodes])` (or `builder.handle_events_with...` directly when
    /// `direct` and there are no dependencies).
    New { after: Vec<usize>, direct: bool },
    /// `.and(h)` / `.handle_events_with_worker_pool(ws)` on the previous node's `Stages`.
    And,
    /// `.then(h)` / `.then_worker_pool(ws)` on the previous node's `Stages`.
    Then,
}

#[derive(Debug, Clone)]
struct NodeSpec {
    kind: Kind,
    wiring: Wiring,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProducerKind {
    Single,
    MultiCas,
    MultiLock,
}

#[derive(Debug, Clone)]
struct Case {
    nodes: Vec<NodeSpec>,
    producer: ProducerKind,
    threads: usize,
    capacity: usize,
    /// Events per producer thread.
    per_thread: Vec<u64>,
    max_batch: usize,
    blocking: bool,
    seed: u64,
}

impl Case {
    fn total(&self) -> u64 {
        self.per_thread.iter().sum()
    }
}

/// One node after resolving the wiring: the nodes it really comes after (a group taken from
/// an `and` chain covers every member of the chain, so dependencies can be a superset of the
/// ones drawn), and the nodes its own group covers.
#[derive(Debug, Clone)]
struct NodeModel {
    kind: Kind,
    deps: Vec<usize>,
}

fn resolve(nodes: &[NodeSpec]) -> Vec<NodeModel> {
    let mut covers: Vec<Vec<usize>> = Vec::new();
    let mut models = Vec::new();
    let mut cur_deps: Vec<usize> = Vec::new();
    let mut cur_members: Vec<usize> = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let deps = match &node.wiring {
            Wiring::New { after, .. } => {
                let mut deps: Vec<usize> = Vec::new();
                for &a in after {
                    for &c in &covers[a] {
                        if !deps.contains(&c) {
                            deps.push(c);
                        }
                    }
                }
                cur_deps = deps.clone();
                cur_members = vec![i];
                deps
            }
            Wiring::And => {
                cur_members.push(i);
                cur_deps.clone()
            }
            Wiring::Then => {
                let deps = std::mem::replace(&mut cur_members, vec![i]);
                cur_deps = deps.clone();
                deps
            }
        };
        covers.push(cur_members.clone());
        models.push(NodeModel {
            kind: node.kind,
            deps,
        });
    }
    models
}

fn kind_strategy() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => Just(Kind::Handler),
        1 => (2usize..=3).prop_map(Kind::Pool),
    ]
}

/// (selector, dependency bit mask, kind, direct): the selector picks New / And / Then.
fn node_strategy() -> impl Strategy<Value = (u8, u8, Kind, bool)> {
    (0u8..4, any::<u8>(), kind_strategy(), any::<bool>())
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(node_strategy(), 1..=6),
        prop_oneof![
            Just(ProducerKind::Single),
            Just(ProducerKind::MultiCas),
            Just(ProducerKind::MultiLock)
        ],
        1usize..=3,
        0u32..=6,
        200u64..=3000,
        1usize..=8,
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(
            |(raw, producer, threads, cap_exp, events, max_batch, blocking, seed)| {
                let nodes = raw
                    .iter()
                    .enumerate()
                    .map(|(i, &(sel, mask, kind, direct))| {
                        let wiring = match sel {
                            _ if i == 0 => Wiring::New {
                                after: Vec::new(),
                                direct,
                            },
                            0 | 1 => Wiring::New {
                                after: (0..i).filter(|b| mask & (1 << b) != 0).collect(),
                                direct,
                            },
                            2 => Wiring::And,
                            _ => Wiring::Then,
                        };
                        NodeSpec { kind, wiring }
                    })
                    .collect();
                let threads = if producer == ProducerKind::Single {
                    1
                } else {
                    threads
                };
                let base = events / threads as u64;
                let mut per_thread = vec![base; threads];
                per_thread[0] += events - base * threads as u64;
                Case {
                    nodes,
                    producer,
                    threads,
                    capacity: 1 << cap_exp,
                    per_thread,
                    max_batch,
                    blocking,
                    seed,
                }
            },
        )
}

// ---------------------------------------------------------------------------------------------
// Shared observation state and the checking handlers
// ---------------------------------------------------------------------------------------------

struct NodeState {
    /// Handler nodes: the last sequence handled (-1 before the first).
    progress: AtomicI64,
    /// Every node: how many times each sequence was handled (by any worker of a pool).
    done: Vec<AtomicU8>,
    /// Events handled, summed over the node's workers, as counted by `on_shutdown`.
    seen_at_shutdown: AtomicU64,
    /// `on_shutdown` calls (one per handler / worker expected).
    shutdowns: AtomicU64,
}

struct Shared {
    nodes: Vec<NodeState>,
    models: Vec<NodeModel>,
    producers: usize,
    per_thread: Vec<u64>,
    total: i64,
    violations: AtomicU64,
    log: Mutex<Vec<String>>,
}

impl Shared {
    fn violation(&self, what: String) {
        self.violations.fetch_add(1, Ordering::SeqCst);
        let mut log = self.log.lock().unwrap();
        if log.len() < 20 {
            log.push(what);
        }
    }
}

/// The handler of one node (or of one worker of a pool node).
struct Check {
    node: usize,
    worker: Option<usize>,
    shared: Arc<Shared>,
    started: bool,
    seen: u64,
    /// Handler nodes: the next number expected from each producer.
    next_n: Vec<u64>,
}

impl Check {
    fn new(node: usize, worker: Option<usize>, shared: &Arc<Shared>) -> Self {
        Self {
            node,
            worker,
            shared: Arc::clone(shared),
            started: false,
            seen: 0,
            next_n: vec![0; shared.producers],
        }
    }

    fn who(&self) -> String {
        match self.worker {
            Some(w) => format!("node {} worker {w}", self.node),
            None => format!("node {}", self.node),
        }
    }
}

impl EventHandler<Ev> for Check {
    fn on_start(&mut self) {
        if self.started {
            self.shared
                .violation(format!("{}: on_start called twice", self.who()));
        }
        self.started = true;
    }

    fn on_event(&mut self, event: &Ev, seq: i64, end_of_batch: bool) {
        let s = &*self.shared;
        let me = &s.nodes[self.node];
        if !self.started {
            s.violation(format!("{}: event {seq} before on_start", self.who()));
        }
        if seq < 0 || seq >= s.total {
            s.violation(format!("{}: sequence {seq} out of range", self.who()));
            return;
        }
        if event.seq != seq {
            s.violation(format!(
                "{}: slot {seq} holds the event written for {} ({event:?})",
                self.who(),
                event.seq
            ));
        }
        let p = event.producer as usize;
        if p >= s.producers || event.n >= s.per_thread[p] {
            s.violation(format!("{}: foreign event {event:?} at {seq}", self.who()));
        }
        if seq == s.total - 1 && !end_of_batch {
            s.violation(format!(
                "{}: the last event {seq} is not end_of_batch",
                self.who()
            ));
        }
        // Never before the stages it depends on.
        for &d in &s.models[self.node].deps {
            let dep = &s.nodes[d];
            let ok = match s.models[d].kind {
                Kind::Handler => dep.progress.load(Ordering::SeqCst) >= seq,
                Kind::Pool(_) => dep.done[seq as usize].load(Ordering::SeqCst) >= 1,
            };
            if !ok {
                s.violation(format!(
                    "{}: saw {seq} before its dependency node {d} finished it",
                    self.who()
                ));
            }
        }
        // Exactly once, and in order for handler nodes.
        let before = me.done[seq as usize].fetch_add(1, Ordering::SeqCst);
        if before != 0 {
            s.violation(format!(
                "{}: {seq} handled {} times",
                self.who(),
                before + 1
            ));
        }
        if self.worker.is_none() {
            let last = me.progress.load(Ordering::SeqCst);
            if seq != last + 1 {
                s.violation(format!(
                    "{}: got {seq} after {last} (skipped or out of order)",
                    self.who()
                ));
            }
            if p < s.producers {
                if event.n != self.next_n[p] {
                    s.violation(format!(
                        "{}: producer {p} event {} arrived when {} was expected",
                        self.who(),
                        event.n,
                        self.next_n[p]
                    ));
                }
                self.next_n[p] = event.n + 1;
            }
            me.progress.store(seq, Ordering::SeqCst);
        }
        self.seen += 1;
    }

    fn on_shutdown(&mut self) {
        let me = &self.shared.nodes[self.node];
        me.seen_at_shutdown.fetch_add(self.seen, Ordering::SeqCst);
        me.shutdowns.fetch_add(1, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// Building and running a case
// ---------------------------------------------------------------------------------------------

/// xorshift64*: the producers' own randomness (claim sizes, publish forms), seeded per case.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Add every node to the builder, mirroring `resolve`.
fn wire<S: ProducerSequencer>(
    b: &mut DisruptorBuilder<Ev, S>,
    nodes: &[NodeSpec],
    shared: &Arc<Shared>,
) {
    let handler = |i: usize| Check::new(i, None, shared);
    let workers = |i: usize, k: usize| -> Vec<Check> {
        (0..k).map(|w| Check::new(i, Some(w), shared)).collect()
    };
    let mut groups: Vec<StageGroup> = Vec::new();
    let mut i = 0;
    while i < nodes.len() {
        let Wiring::New { after, direct } = &nodes[i].wiring else {
            unreachable!("every chain starts with a New node");
        };
        let refs: Vec<&StageGroup> = after.iter().map(|&a| &groups[a]).collect();
        let mut stages = match (nodes[i].kind, after.is_empty() && *direct) {
            (Kind::Handler, true) => b.handle_events_with(handler(i)),
            (Kind::Pool(k), true) => b.handle_events_with_worker_pool(workers(i, k)),
            (Kind::Handler, false) => b.after(&refs).handle_events_with(handler(i)),
            (Kind::Pool(k), false) => b.after(&refs).handle_events_with_worker_pool(workers(i, k)),
        };
        groups.push(stages.group());
        i += 1;
        while i < nodes.len() && !matches!(nodes[i].wiring, Wiring::New { .. }) {
            stages = match (&nodes[i].wiring, nodes[i].kind) {
                (Wiring::And, Kind::Handler) => stages.and(handler(i)),
                (Wiring::And, Kind::Pool(k)) => {
                    stages.handle_events_with_worker_pool(workers(i, k))
                }
                (Wiring::Then, Kind::Handler) => stages.then(handler(i)),
                (Wiring::Then, Kind::Pool(k)) => stages.then_worker_pool(workers(i, k)),
                (Wiring::New { .. }, _) => unreachable!(),
            };
            groups.push(stages.group());
            i += 1;
        }
    }
}

/// One producer thread: `count` events, in random claim sizes and publish forms.
fn produce<C: seqflow_sequencer::Claimer>(
    mut p: seqflow_pipeline::Producer<Ev, C>,
    id: u32,
    count: u64,
    max_batch: usize,
    seed: u64,
) -> Result<(), String> {
    let mut rng = Rng::new(seed ^ (u64::from(id) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut n = 0u64;
    while n < count {
        let batch = (1 + rng.below(max_batch as u64)).min(count - n) as usize;
        let fill = |e: &mut Ev, seq: i64, k: u64| {
            *e = Ev {
                producer: id,
                n: k,
                seq,
            }
        };
        match rng.below(5) {
            0 => {
                let mut k = n;
                p.publish_batch(batch, |e, seq| {
                    fill(e, seq, k);
                    k += 1;
                })
                .map_err(|e| format!("publish_batch: {e}"))?;
                n += batch as u64;
            }
            1 => {
                let mut claim = p.claim(batch).map_err(|e| format!("claim: {e}"))?;
                let start = claim.range().start();
                for (i, e) in claim.iter_mut().enumerate() {
                    fill(e, start + i as i64, n + i as u64);
                }
                claim.commit();
                n += batch as u64;
            }
            2 => loop {
                match p.try_publish(|e, seq| fill(e, seq, n)) {
                    Ok(_) => {
                        n += 1;
                        break;
                    }
                    Err(ClaimError::Full { .. }) => std::thread::yield_now(),
                    Err(e) => return Err(format!("try_publish: {e}")),
                }
            },
            3 => {
                p.publish_timeout(Duration::from_secs(60), |e, seq| fill(e, seq, n))
                    .map_err(|e| format!("publish_timeout: {e}"))?;
                n += 1;
            }
            _ => {
                p.publish(|e, seq| fill(e, seq, n))
                    .map_err(|e| format!("publish: {e}"))?;
                n += 1;
            }
        }
    }
    Ok(())
}

fn run_built<S: ProducerSequencer>(
    mut b: DisruptorBuilder<Ev, S>,
    case: &Case,
) -> Result<(), TestCaseError> {
    let models = resolve(&case.nodes);
    let total = case.total();
    let shared = Arc::new(Shared {
        nodes: models
            .iter()
            .map(|_| NodeState {
                progress: AtomicI64::new(-1),
                done: (0..total).map(|_| AtomicU8::new(0)).collect(),
                seen_at_shutdown: AtomicU64::new(0),
                shutdowns: AtomicU64::new(0),
            })
            .collect(),
        models: models.clone(),
        producers: case.threads,
        per_thread: case.per_thread.clone(),
        total: total as i64,
        violations: AtomicU64::new(0),
        log: Mutex::new(Vec::new()),
    });
    wire(&mut b, &case.nodes, &shared);
    let (d, first) = b.start().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut producers = vec![first];
    for _ in 1..case.threads {
        producers.push(
            d.producer()
                .map_err(|e| TestCaseError::fail(format!("extra producer: {e}")))?,
        );
    }
    let threads: Vec<_> = producers
        .into_iter()
        .enumerate()
        .map(|(id, p)| {
            let (count, max_batch, seed) = (case.per_thread[id], case.max_batch, case.seed);
            let max_batch = max_batch.min(case.capacity);
            std::thread::spawn(move || produce(p, id as u32, count, max_batch, seed))
        })
        .collect();
    let mut producer_errors = Vec::new();
    for t in threads {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => producer_errors.push(e),
            Err(_) => producer_errors.push("producer thread panicked".to_owned()),
        }
    }
    let cursor = d.metrics().published;
    let panics = d.metrics().panics;
    let shutdown = d.shutdown_timeout(Duration::from_secs(60));
    prop_assert!(producer_errors.is_empty(), "{producer_errors:?}");
    prop_assert_eq!(shutdown, Ok(()));
    prop_assert_eq!(panics, 0);
    prop_assert_eq!(cursor, total as i64 - 1, "cursor after every publish");
    let log = shared.log.lock().unwrap().clone();
    prop_assert_eq!(
        shared.violations.load(Ordering::SeqCst),
        0,
        "violations: {:#?}",
        log
    );
    for (i, (node, model)) in shared.nodes.iter().zip(&models).enumerate() {
        let handlers = match model.kind {
            Kind::Handler => 1,
            Kind::Pool(k) => k as u64,
        };
        prop_assert_eq!(
            node.shutdowns.load(Ordering::SeqCst),
            handlers,
            "node {}",
            i
        );
        prop_assert_eq!(
            node.seen_at_shutdown.load(Ordering::SeqCst),
            total,
            "node {}",
            i
        );
        if let Some(seq) = node.done.iter().position(|c| c.load(Ordering::SeqCst) != 1) {
            prop_assert!(
                false,
                "node {} handled {} {} times",
                i,
                seq,
                node.done[seq].load(Ordering::SeqCst)
            );
        }
        if model.kind == Kind::Handler {
            prop_assert_eq!(node.progress.load(Ordering::SeqCst), total as i64 - 1);
        }
    }
    Ok(())
}

fn run_with_wait<W: WaitStrategy>(case: &Case, wait: W) -> Result<(), TestCaseError> {
    let config = Disruptor::builder(case.capacity, Ev::default)
        .wait_strategy(wait)
        .panic_policy(seqflow_pipeline::PanicPolicy::Halt);
    let fail = |e: seqflow_pipeline::BuildError| TestCaseError::fail(e.to_string());
    match case.producer {
        ProducerKind::Single => run_built(config.single_producer().map_err(fail)?, case),
        ProducerKind::MultiCas => run_built(
            config
                .multi_producer(MultiProducerMode::Cas)
                .map_err(fail)?,
            case,
        ),
        ProducerKind::MultiLock => run_built(
            config
                .multi_producer(MultiProducerMode::Lock)
                .map_err(fail)?,
            case,
        ),
    }
}

/// Abort the whole test binary if a case runs longer than the watchdog allows (a hang would
/// otherwise block the suite forever, and no assertion could report it).
fn with_watchdog<T>(case: &Case, body: impl FnOnce() -> T) -> T {
    let secs = std::env::var("SEQFLOW_CASE_TIMEOUT_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120u64);
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let description = format!("{case:#?}");
    let armed = Arc::new(AtomicBool::new(true));
    let still_armed = Arc::clone(&armed);
    let dog = std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) =
            done_rx.recv_timeout(Duration::from_secs(secs))
        {
            if still_armed.load(Ordering::SeqCst) {
                eprintln!("graph_fuzz: case still running after {secs} s (hang?):\n{description}");
                std::process::abort();
            }
        }
    });
    let out = body();
    armed.store(false, Ordering::SeqCst);
    let _ = done_tx.send(());
    let _ = dog.join();
    out
}

fn cases() -> u32 {
    std::env::var("SEQFLOW_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        // Regressions are reported in the failure message (the minimal case); no file is
        // written next to the sources.
        failure_persistence: None,
        // Each run of a case spawns threads; keep shrinking bounded.
        max_shrink_iters: 256,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_stage_graphs_see_every_event_once_in_order_after_their_dependencies(
        case in case_strategy()
    ) {
        with_watchdog(&case, || {
            if case.blocking {
                run_with_wait(&case, BlockingWait::default())
            } else {
                run_with_wait(&case, YieldingWait::default())
            }
        })?;
    }
}

/// The resolver's idea of the graph for the builder forms, checked by hand on a few shapes
/// (the property test relies on it to know each node's real dependencies).
#[test]
fn resolve_follows_the_builder_semantics() {
    let h = Kind::Handler;
    let node = |wiring| NodeSpec { kind: h, wiring };
    let new = |after: Vec<usize>| Wiring::New {
        after,
        direct: false,
    };
    // 0; then 1 (after 0); 2 `and` 1 (same deps as 1); 3 `then` (after the chain {1, 2});
    // 4 after 2's group (which covers {1, 2}); 5 after 0 and 3.
    let m = resolve(&[
        node(new(vec![])),
        node(Wiring::Then),
        node(Wiring::And),
        node(Wiring::Then),
        node(new(vec![2])),
        node(new(vec![0, 3])),
    ]);
    let deps: Vec<Vec<usize>> = m.iter().map(|n| n.deps.clone()).collect();
    assert_eq!(
        deps,
        vec![
            vec![],
            vec![0],
            vec![0],
            vec![1, 2],
            // node 2's group was taken from the `and` chain {1, 2}
            vec![1, 2],
            vec![0, 3],
        ]
    );
}
