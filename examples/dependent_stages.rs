//! Every way to wire consumer stages, each checking the counts and sums it saw:
//! pipeline (A then B then C), multicast (A, B, C in parallel), diamond (A and B, then C), and a
//! worker pool (each event to exactly one of three workers), with single and multi producers.
//!
//! Run: `cargo run --release --example dependent_stages`

use seqflow::prelude::*;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

const EVENTS: u64 = 200_000;

/// Counts and sums what a stage saw, and checks it never runs ahead of `after`.
#[derive(Clone, Default)]
struct Tally {
    count: Arc<AtomicU64>,
    sum: Arc<AtomicU64>,
    last: Arc<AtomicI64>,
}

impl Tally {
    fn handler(&self, after: Vec<Tally>) -> impl FnMut(&u64, i64, bool) + Send + 'static {
        let me = self.clone();
        me.last.store(-1, Relaxed);
        move |event, seq, _| {
            for upstream in &after {
                assert!(
                    upstream.last.load(Relaxed) >= seq,
                    "ran before its dependency"
                );
            }
            me.count.fetch_add(1, Relaxed);
            me.sum.fetch_add(*event, Relaxed);
            me.last.store(seq, Relaxed);
        }
    }

    fn check(&self, name: &str, count: u64, sum: u64) {
        assert_eq!(self.count.load(Relaxed), count, "{name}: count");
        assert_eq!(self.sum.load(Relaxed), sum, "{name}: sum");
    }
}

fn expected_sum() -> u64 {
    (0..EVENTS).sum()
}

fn publish_all<C: Claimer>(producer: &mut Producer<u64, C>) -> Result<(), ClaimError> {
    let mut next = 0;
    while next < EVENTS {
        let n = 64.min(EVENTS - next) as usize;
        producer.publish_batch(n, |e, _| {
            *e = next;
            next += 1;
        })?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = || Disruptor::builder(4096, || 0u64).wait_strategy(BlockingWait::default());

    // Pipeline: A then B then C.
    let (a, b, c) = (Tally::default(), Tally::default(), Tally::default());
    let mut builder = config().single_producer()?;
    builder
        .handle_events_with(a.handler(vec![]))
        .then(b.handler(vec![a.clone()]))
        .then(c.handler(vec![b.clone()]));
    let (d, mut p) = builder.start()?;
    publish_all(&mut p)?;
    d.shutdown()?;
    for (n, t) in [("A", &a), ("B", &b), ("C", &c)] {
        t.check(&format!("pipeline {n}"), EVENTS, expected_sum());
    }
    println!("pipeline   A -> B -> C: each saw {EVENTS} events, sums match, order respected");

    // Multicast: A, B, C in parallel.
    let (a, b, c) = (Tally::default(), Tally::default(), Tally::default());
    let mut builder = config().single_producer()?;
    builder
        .handle_events_with(a.handler(vec![]))
        .and(b.handler(vec![]))
        .and(c.handler(vec![]));
    let (d, mut p) = builder.start()?;
    publish_all(&mut p)?;
    d.shutdown()?;
    for (n, t) in [("A", &a), ("B", &b), ("C", &c)] {
        t.check(&format!("multicast {n}"), EVENTS, expected_sum());
    }
    println!("multicast  A | B | C:   each saw {EVENTS} events, sums match");

    // Diamond: A and B, then C; two producers (CAS).
    let (a, b, c) = (Tally::default(), Tally::default(), Tally::default());
    let mut builder = config().multi_producer(MultiProducerMode::Cas)?;
    let ab = builder
        .handle_events_with(a.handler(vec![]))
        .and(b.handler(vec![]))
        .group();
    builder
        .after(&[&ab])
        .handle_events_with(c.handler(vec![a.clone(), b.clone()]));
    let (d, p) = builder.start()?;
    let producers: Vec<_> = (0..2)
        .map(|half| {
            let mut p = p.clone();
            std::thread::spawn(move || {
                for v in (half..EVENTS).step_by(2) {
                    p.publish(|e, _| *e = v).expect("running");
                }
            })
        })
        .collect();
    for t in producers {
        t.join().expect("producer thread");
    }
    d.shutdown()?;
    for (n, t) in [("A", &a), ("B", &b), ("C", &c)] {
        t.check(&format!("diamond {n}"), EVENTS, expected_sum());
    }
    println!("diamond    (A, B) -> C:  two producers, each stage saw {EVENTS} events, C never ahead of A or B");

    // Worker pool: each event to exactly one of three workers, then a final stage.
    let workers: Vec<Tally> = (0..3).map(|_| Tally::default()).collect();
    let after = Tally::default();
    let mut builder = config().single_producer()?;
    builder
        .handle_events_with_worker_pool(workers.iter().map(|w| w.handler(vec![])).collect())
        .then(after.handler(vec![]));
    let (d, mut p) = builder.start()?;
    publish_all(&mut p)?;
    d.shutdown()?;
    let handled: u64 = workers.iter().map(|w| w.count.load(Relaxed)).sum();
    let summed: u64 = workers.iter().map(|w| w.sum.load(Relaxed)).sum();
    assert_eq!(handled, EVENTS, "worker pool: every event exactly once");
    assert_eq!(summed, expected_sum(), "worker pool: sums");
    after.check("after the pool", EVENTS, expected_sum());
    let split: Vec<u64> = workers.iter().map(|w| w.count.load(Relaxed)).collect();
    println!(
        "worker pool x3 -> D:    {EVENTS} events handled exactly once (split {split:?}), D saw all"
    );
    Ok(())
}
