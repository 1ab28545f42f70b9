//! Batch claims of pool workers (`ShmWorker::process_batch`): exactly once across workers that
//! mix batch sizes with single claims, per-worker order, and what a panicking handler loses.

mod common;

use common::Seg;
use seqflow_shm::{ConsumeError, ProducerMode, ShmOptions, ShmRing, WaitKind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const LONG: Option<Duration> = Some(Duration::from_secs(30));
const POLL: Option<Duration> = Some(Duration::from_millis(20));

#[test]
fn batch_and_single_workers_take_each_event_once_in_order() {
    let seg = Seg::new("batches");
    let options = ShmOptions {
        producer: ProducerMode::MultiCas,
        wait: WaitKind::Futex,
        declared_pools: vec!["pool".into()],
        ..Default::default()
    };
    let ring = ShmRing::<u64>::create(&seg.name, 64, options).unwrap();
    const N: u64 = 20_000;
    let done = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = [1usize, 7, 50]
        .into_iter()
        .map(|max| {
            let ring = ring.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let mut w = ring.worker("pool").unwrap();
                let mut got = Vec::new();
                loop {
                    let r = if max == 1 {
                        w.process(POLL, |e, _| got.push(*e)).map(|_| ())
                    } else {
                        w.process_batch(max, POLL, |e, seq, end| {
                            assert_eq!(*e, seq as u64);
                            got.push(*e);
                            let _ = end;
                        })
                        .map(|(first, last)| assert!(last - first < max as i64))
                    };
                    match r {
                        Ok(()) => {}
                        Err(ConsumeError::Timeout) if done.load(Ordering::Acquire) => return got,
                        Err(ConsumeError::Timeout) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    let mut p = ring.producer().unwrap();
    for i in 0..N {
        p.publish_timeout(LONG.unwrap(), |e, _| *e = i).unwrap();
    }
    // Everything is handed out once the pool's gate reaches the end.
    while ring.inspect().pools[0].work_cursor < N as i64 - 1 {
        std::thread::sleep(Duration::from_millis(5));
    }
    done.store(true, Ordering::Release);
    let got: Vec<Vec<u64>> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    for g in &got {
        assert!(
            g.windows(2).all(|w| w[0] < w[1]),
            "each worker sees its events in order"
        );
    }
    let mut all: Vec<u64> = got.concat();
    all.sort_unstable();
    assert_eq!(all, (0..N).collect::<Vec<_>>());
    assert_eq!(ring.inspect().lost_pool_events, 0);
}

#[test]
fn a_panic_inside_a_batch_loses_the_rest_of_that_batch_only() {
    let seg = Seg::new("batch-panic");
    // Declared: the pool keeps its position while no worker is attached.
    let options = ShmOptions {
        declared_pools: vec!["pool".into()],
        ..Default::default()
    };
    let ring = ShmRing::<u64>::create(&seg.name, 16, options).unwrap();
    let mut victim = ring.worker("pool").unwrap();
    let mut p = ring.producer().unwrap();
    p.publish_batch(8, |e, seq| *e = seq as u64).unwrap();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        victim
            .process_batch(5, LONG, |e, _, _| {
                assert_ne!(*e, 1, "handler fails on event 1")
            })
            .unwrap();
    }));
    assert!(outcome.is_err());
    drop(victim);
    // Events 1..=4 were claimed by the batch and not handled: counted lost. 0 was handled.
    assert_eq!(ring.inspect().lost_pool_events, 4);
    let mut next = ring.worker("pool").unwrap();
    let mut rest = Vec::new();
    next.process_batch(100, LONG, |e, _, _| rest.push(*e))
        .unwrap();
    assert_eq!(rest, vec![5, 6, 7]);
    // The producer is not held back by the lost events: the ring takes a full lap again.
    p.publish_batch_timeout(16, LONG.unwrap(), |e, seq| *e = seq as u64)
        .unwrap();
}

#[test]
fn batch_of_zero_takes_one_and_an_idle_wait_holds_nothing() {
    let seg = Seg::new("batch-zero");
    let ring = ShmRing::<u64>::create(&seg.name, 8, ShmOptions::default()).unwrap();
    let mut a = ring.worker("pool").unwrap();
    let mut b = ring.worker("pool").unwrap();
    assert_eq!(
        a.process_batch(4, POLL, |_, _, _| {}),
        Err(ConsumeError::Timeout)
    );
    ring.producer()
        .unwrap()
        .publish_batch(3, |e, seq| *e = seq as u64)
        .unwrap();
    // `a` timed out holding nothing: `b` gets everything that is there in one batch.
    let mut ends = Vec::new();
    assert_eq!(
        b.process_batch(10, LONG, |_, seq, end| ends.push((seq, end))),
        Ok((0, 2))
    );
    assert_eq!(ends, vec![(0, false), (1, false), (2, true)]);
    ring.producer().unwrap().publish(|e, _| *e = 9).unwrap();
    assert_eq!(a.process_batch(0, LONG, |_, _, _| {}), Ok((3, 3)));
}
