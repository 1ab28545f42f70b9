//! The stage graph: pipeline, multicast, diamond and worker pools see every event exactly once,
//! in order, and never before the stages they depend on.

use seqflow_pipeline::Disruptor;
use seqflow_sequence::BlockingWait;
use seqflow_sequencer::MultiProducerMode;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

/// Events per run: fewer under Miri, which interprets every instruction.
const EVENTS: i64 = if cfg!(miri) { 64 } else { 20_000 };

/// A handler that records how far it got and checks order and dependencies.
fn tracker(
    done: Arc<AtomicI64>,
    upstream: Vec<Arc<AtomicI64>>,
    sum: Arc<AtomicU64>,
) -> impl FnMut(&u64, i64, bool) + Send + 'static {
    move |event, seq, _| {
        assert_eq!(done.load(SeqCst) + 1, seq, "out of order or skipped");
        for u in &upstream {
            assert!(u.load(SeqCst) >= seq, "ran before a stage it depends on");
        }
        assert_eq!(*event, seq as u64 * 3, "wrong event content");
        sum.fetch_add(*event, SeqCst);
        done.store(seq, SeqCst);
    }
}

fn counters(n: usize) -> Vec<Arc<AtomicI64>> {
    (0..n).map(|_| Arc::new(AtomicI64::new(-1))).collect()
}

fn expected_sum() -> u64 {
    (0..EVENTS as u64).map(|s| s * 3).sum()
}

#[test]
fn pipeline_multicast_diamond() {
    let done = counters(6);
    let sums: Vec<_> = (0..6).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let mut b = Disruptor::builder(if cfg!(miri) { 16 } else { 256 }, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    // pipeline: 0 then 1
    b.handle_events_with(tracker(done[0].clone(), vec![], sums[0].clone()))
        .then(tracker(
            done[1].clone(),
            vec![done[0].clone()],
            sums[1].clone(),
        ));
    // diamond: 2 and 3 (multicast), then 4 after both
    let two_three = b
        .handle_events_with(tracker(done[2].clone(), vec![], sums[2].clone()))
        .and(tracker(done[3].clone(), vec![], sums[3].clone()))
        .group();
    b.after(&[&two_three]).handle_events_with(tracker(
        done[4].clone(),
        vec![done[2].clone(), done[3].clone()],
        sums[4].clone(),
    ));
    // after the end of the pipeline and the diamond
    let d1 = b
        .handle_events_with(tracker(done[5].clone(), vec![], sums[5].clone()))
        .group();
    let _ = d1;
    let (d, mut p) = b.start().unwrap();
    let m = d.metrics();
    let gating: Vec<bool> = m.stages.iter().map(|s| s.gating).collect();
    assert_eq!(gating, vec![false, true, false, false, true, true]);
    for i in 0..EVENTS {
        if i % 2 == 0 {
            p.publish(|e, seq| *e = seq as u64 * 3).unwrap();
        } else {
            p.publish_batch(1, |e, seq| *e = seq as u64 * 3).unwrap();
        }
    }
    d.shutdown().unwrap();
    for (i, c) in done.iter().enumerate() {
        assert_eq!(
            c.load(SeqCst),
            EVENTS - 1,
            "stage {i} did not see everything"
        );
        assert_eq!(sums[i].load(SeqCst), expected_sum());
    }
}

#[test]
fn worker_pool_exactly_once_with_three_workers() {
    for multi in [false, true] {
        let seen: Arc<Mutex<Vec<u8>>> = Arc::new(Mutex::new(vec![0; EVENTS as usize]));
        let per_worker: Vec<Arc<AtomicU64>> = (0..3).map(|_| Arc::new(AtomicU64::new(0))).collect();
        let after_pool = Arc::new(AtomicI64::new(-1));
        let workers: Vec<_> = per_worker
            .iter()
            .map(|count| {
                let seen = seen.clone();
                let count = count.clone();
                move |e: &u64, seq: i64, _| {
                    assert_eq!(*e, seq as u64);
                    seen.lock().unwrap()[seq as usize] += 1;
                    count.fetch_add(1, SeqCst);
                }
            })
            .collect();
        let config = Disruptor::builder(if cfg!(miri) { 16 } else { 64 }, || 0u64)
            .wait_strategy(BlockingWait::default());
        let seen2 = seen.clone();
        let after = after_pool.clone();
        let check_after = move |_: &u64, seq: i64, _| {
            assert_eq!(
                seen2.lock().unwrap()[seq as usize],
                1,
                "after-pool stage ran first"
            );
            after.store(seq, SeqCst);
        };
        if multi {
            let mut b = config.multi_producer(MultiProducerMode::Cas).unwrap();
            b.handle_events_with_worker_pool(workers).then(check_after);
            let (d, p) = b.start().unwrap();
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let mut p = p.clone();
                    std::thread::spawn(move || {
                        for _ in 0..EVENTS / 2 {
                            p.publish(|e, seq| *e = seq as u64).unwrap();
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            d.shutdown().unwrap();
        } else {
            let mut b = config.single_producer().unwrap();
            b.handle_events_with_worker_pool(workers).then(check_after);
            let (d, mut p) = b.start().unwrap();
            for _ in 0..EVENTS {
                p.publish(|e, seq| *e = seq as u64).unwrap();
            }
            d.shutdown().unwrap();
        }
        assert!(
            seen.lock().unwrap().iter().all(|&n| n == 1),
            "lost or duplicated"
        );
        let total: u64 = per_worker.iter().map(|c| c.load(SeqCst)).sum();
        assert_eq!(total, EVENTS as u64);
        assert_eq!(after_pool.load(SeqCst), EVENTS - 1);
    }
}

#[test]
fn multi_producer_per_producer_order_through_a_stage() {
    for mode in [MultiProducerMode::Cas, MultiProducerMode::Lock] {
        const PER: u64 = if cfg!(miri) { 50 } else { 30_000 };
        let next = Arc::new(Mutex::new(vec![0u64; 3]));
        let n2 = next.clone();
        let mut b = Disruptor::builder(128, || (0usize, 0u64))
            .multi_producer(mode)
            .unwrap();
        b.handle_events_with(move |e: &(usize, u64), _, _| {
            let mut next = n2.lock().unwrap();
            assert_eq!(next[e.0], e.1, "producer {} out of order", e.0);
            next[e.0] += 1;
        });
        let (d, p) = b.start().unwrap();
        let threads: Vec<_> = (0..3)
            .map(|id| {
                let mut p = p.clone();
                std::thread::spawn(move || {
                    let mut i = 0;
                    while i < PER {
                        let n = ((i % 4) + 1).min(PER - i) as usize;
                        p.publish_batch(n, |e, _| {
                            *e = (id, i);
                            i += 1;
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        drop(p);
        for t in threads {
            t.join().unwrap();
        }
        d.shutdown().unwrap();
        assert_eq!(*next.lock().unwrap(), vec![PER; 3], "{mode:?}");
    }
}

/// A stage group from another builder is refused at start, never wired to whatever stage has
/// the same index (and never a panic).
#[test]
fn stage_group_from_another_builder_is_refused() {
    let mut first = Disruptor::builder(8, || 0u64).single_producer().unwrap();
    let _ = first.handle_events_with(|_: &u64, _, _| {});
    let a = first.handle_events_with(|_: &u64, _, _| {}).group(); // index 1 there
    let mut second = Disruptor::builder(8, || 0u64).single_producer().unwrap();
    second.handle_events_with(|_: &u64, _, _| {}); // index 0 only
    second.after(&[&a]).handle_events_with(|_: &u64, _, _| {});
    assert!(matches!(
        second.start().err(),
        Some(seqflow_pipeline::BuildError::ForeignStageGroup)
    ));
    let mut third = Disruptor::builder(8, || 0u64).single_producer().unwrap();
    assert!(matches!(
        third.after(&[&a]).then_poller().err(),
        Some(seqflow_pipeline::BuildError::ForeignStageGroup)
    ));
    // Reporting it to the poller does not clear it: start still refuses.
    assert!(matches!(
        third.start().err(),
        Some(seqflow_pipeline::BuildError::ForeignStageGroup)
    ));
    // The group still works with its own builder.
    first.after(&[&a]).handle_events_with(|_: &u64, _, _| {});
    let (d, mut p) = first.start().unwrap();
    p.publish(|e, _| *e = 1).unwrap();
    d.shutdown().unwrap();
}

/// Metrics count a pending claim as taken room, and name claimed and published apart.
#[test]
fn metrics_separate_claimed_from_published() {
    let mut b = Disruptor::builder(16, || 0u64).single_producer().unwrap();
    let mut poller = b.poller().unwrap();
    let (d, mut p) = b.start().unwrap();
    let guard = p.claim(3).unwrap();
    let m = d.metrics();
    assert_eq!((m.claimed, m.published, m.remaining_capacity), (2, -1, 13));
    drop(guard);
    let m = d.metrics();
    assert_eq!((m.claimed, m.published, m.remaining_capacity), (2, 2, 13));
    assert_eq!(poller.poll(|_, _, _| {}), Ok(3));
    assert_eq!(d.metrics().remaining_capacity, 16);
    drop(poller);
    d.shutdown().unwrap();
}

/// A stage or poller added after a stage that has not read the events published before start
/// starts where that stage is, not at the published end: its dependency stops gating once it
/// is added, so a start at the published end let producers overwrite the unread events (the
/// dependency then read event 8 as event 0, racing with the producer's write).
#[test]
fn a_stage_added_after_a_dependency_that_is_behind_keeps_its_events() {
    for poller in [false, true] {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        let mut b = Disruptor::builder(8, || 0u64)
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        let a = b
            .handle_events_with(move |e: &u64, _, _| s.lock().unwrap().push(*e))
            .group();
        b.publish_before_start(|p| {
            for i in 0..8 {
                p.try_publish(|e, _| *e = i).unwrap();
            }
        })
        .unwrap();
        // `a` has read nothing yet: 0..=7 must stay in the ring.
        let mut late = None;
        if poller {
            late = Some(b.poller_after(&[&a]).unwrap());
        } else {
            b.after(&[&a]).handle_events_with(|_: &u64, _, _| {});
        }
        let overwrote = b
            .publish_before_start(|p| p.try_publish(|e, _| *e = 100).is_ok())
            .unwrap();
        assert!(
            !overwrote,
            "event 0 (unread by `a`) was overwritten by event 8"
        );
        let (d, _p) = b.start().unwrap();
        if let Some(mut late) = late {
            // The poller sees what `a` handled, in order; drain it so `a` is not held back.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            let mut got = 0;
            while got < 8 && std::time::Instant::now() < deadline {
                got += late.poll(|_, _, _| {}).unwrap();
            }
            assert_eq!(got, 8);
        }
        d.shutdown().unwrap();
        assert_eq!(*seen.lock().unwrap(), (0..8).collect::<Vec<u64>>());
    }
}
