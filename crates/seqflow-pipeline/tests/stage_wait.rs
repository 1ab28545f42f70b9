//! A stage's own wait strategy (`Stages::wait_strategy`, the `disruptor` crate's
//! `handle_events_with_wait_strategy`): the stage waits with it, the others with the ring's; it
//! still stops on shutdown and halt, and its timeouts still fire.

mod counting_wait;

use counting_wait::Counting;
use seqflow_pipeline::{BlockingWait, Disruptor, EventHandler, SleepingWait, YieldingWait};
use seqflow_sequence::PhasedBackoffWait;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn the_stage_waits_with_its_own_strategy_and_the_others_with_the_rings() {
    let own = Counting::default();
    let ring = Counting::default();
    let mut b = Disruptor::builder(8, || 0u64)
        .wait_strategy(ring.clone())
        .single_producer()
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    b.handle_events_with(move |e: &u64, _, _| s.lock().unwrap().push(*e))
        .named("own")
        .wait_strategy(own.clone());
    let (d, mut p) = b.start().unwrap();
    // Nothing is published yet: the stage has to wait, with its own strategy.
    until("the stage's first wait", || own.waits.load(Relaxed) > 0);
    assert_eq!(
        ring.waits.load(Relaxed),
        0,
        "the ring's strategy was not used to wait"
    );
    for v in 0..100u64 {
        p.publish(|e, _| *e = v).unwrap();
    }
    d.shutdown().unwrap();
    assert_eq!(*seen.lock().unwrap(), (0..100).collect::<Vec<_>>());
}

#[test]
fn a_polling_stage_on_a_blocking_ring_gets_every_event_and_stops() {
    let mut b = Disruptor::builder(4, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    let (a, a2) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (x, y) = (a.clone(), a2.clone());
    b.handle_events_with(move |e: &u64, _, _| {
        x.fetch_add(*e, Relaxed);
    })
    .wait_strategy(SleepingWait::default())
    .then(move |e: &u64, _, _| {
        y.fetch_add(*e, Relaxed);
    });
    let (d, mut p) = b.start().unwrap();
    for v in 1..=1000u64 {
        p.publish(|e, _| *e = v).unwrap();
    }
    d.shutdown().unwrap();
    assert_eq!(a.load(Relaxed), 500_500);
    assert_eq!(
        a2.load(Relaxed),
        500_500,
        "the blocking stage after it was woken"
    );
}

/// Counts `on_timeout` calls.
struct Timeouts(Arc<AtomicU64>);
impl EventHandler<u64> for Timeouts {
    fn on_event(&mut self, _: &u64, _: i64, _: bool) {}
    fn on_timeout(&mut self, _: i64) {
        self.0.fetch_add(1, Relaxed);
    }
}

#[test]
fn timeouts_and_halts_reach_a_stage_with_its_own_strategy() {
    let timeouts = Arc::new(AtomicU64::new(0));
    let mut b = Disruptor::builder(8, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_with(Timeouts(timeouts.clone()))
        .timeout(Duration::from_millis(5))
        .wait_strategy(PhasedBackoffWait::with_sleep(
            Duration::from_micros(10),
            Duration::from_micros(10),
        ));
    let (d, _p) = b.start().unwrap();
    until("a timeout", || timeouts.load(Relaxed) > 0);
    // The stage waits with a strategy the halt does not signal: the alert ends its wait.
    d.halt().unwrap();
}

#[test]
fn a_worker_pool_with_its_own_strategy_handles_each_event_once() {
    let counts: Vec<Arc<AtomicU64>> = (0..2).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let workers: Vec<_> = counts
        .iter()
        .map(|c| {
            let c = c.clone();
            move |_: &u64, _: i64, _: bool| {
                c.fetch_add(1, Relaxed);
            }
        })
        .collect();
    let mut b = Disruptor::builder(8, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_with_worker_pool(workers)
        .wait_strategy(YieldingWait::default());
    let (d, mut p) = b.start().unwrap();
    for v in 0..2000u64 {
        p.publish(|e, _| *e = v).unwrap();
    }
    d.shutdown().unwrap();
    assert_eq!(counts.iter().map(|c| c.load(Relaxed)).sum::<u64>(), 2000);
}
