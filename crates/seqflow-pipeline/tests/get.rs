//! `Disruptor::get(seq)`: a copy of a published event still in the ring, never torn, never one a
//! writing stage is still changing, and a typed error for everything else.

use seqflow_pipeline::{Disruptor, GetError, PanicPolicy};
use seqflow_sequence::{BlockingWait, YieldingWait};
use seqflow_sequencer::MultiProducerMode;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

/// Eight words that all hold the event's sequence: a torn copy shows as words that differ.
#[derive(Clone, Copy, Default, Debug, PartialEq)]
struct Wide([u64; 8]);

#[test]
fn unpublished_and_negative_sequences_are_refused() {
    let mut b = Disruptor::builder(8, || 0u64).single_producer().unwrap();
    b.handle_events_with(|_: &u64, _, _| {});
    let (d, mut p) = b.start().unwrap();
    assert_eq!(
        d.get(0),
        Err(GetError::NotPublished {
            seq: 0,
            published: -1
        })
    );
    p.publish(|e, _| *e = 42).unwrap();
    assert_eq!(d.get(0), Ok(42));
    assert!(matches!(
        d.get(-1),
        Err(GetError::NotPublished { seq: -1, .. })
    ));
    assert!(matches!(
        d.get(1),
        Err(GetError::NotPublished {
            seq: 1,
            published: 0
        })
    ));
    assert!(matches!(
        d.get(i64::MAX),
        Err(GetError::NotPublished { .. })
    ));
    assert!(matches!(
        d.get(i64::MIN),
        Err(GetError::NotPublished { .. })
    ));
    d.shutdown().unwrap();
}

#[test]
fn a_lapped_event_is_reported_with_the_oldest_readable_one() {
    let mut b = Disruptor::builder(4, || 0u64).single_producer().unwrap();
    b.handle_events_with(|_: &u64, _, _| {});
    let (d, mut p) = b.start().unwrap();
    for v in 0..10u64 {
        p.publish(|e, _| *e = v * 10).unwrap();
    }
    // Slots hold 6..=9 now; the single producer's next one-event claim may be writing 10's slot
    // (6's), so 7 is the oldest safe to read.
    match d.get(2) {
        Err(GetError::Overwritten { seq: 2, oldest }) => {
            assert!((6..=7).contains(&oldest), "{oldest}");
            assert_eq!(d.get(oldest), Ok(oldest as u64 * 10));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(d.get(9), Ok(90));
    d.shutdown().unwrap();
}

#[test]
fn an_event_a_writing_stage_has_not_finished_is_refused_then_read_changed() {
    let (gate_tx, gate) = mpsc::channel::<()>();
    let mut b = Disruptor::builder(8, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_mut_with(move |e: &mut u64, _, _| {
        gate.recv().unwrap();
        *e += 1000;
    })
    .then(|_: &u64, _, _| {});
    let (d, mut p) = b.start().unwrap();
    p.publish(|e, _| *e = 7).unwrap();
    match d.get(0) {
        Err(GetError::BeingWritten {
            seq: 0,
            stage,
            done: -1,
        }) => assert!(!stage.is_empty()),
        other => panic!("{other:?}"),
    }
    gate_tx.send(()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match d.get(0) {
            Ok(v) => {
                assert_eq!(v, 1007, "read only after the writer finished");
                break;
            }
            Err(GetError::BeingWritten { .. }) if Instant::now() < deadline => thread::yield_now(),
            other => panic!("{other:?}"),
        }
    }
    d.shutdown().unwrap();
}

#[test]
fn a_writing_pool_holds_reads_back_until_every_worker_is_past_the_event() {
    let (gate_tx, gate) = mpsc::channel::<()>();
    let gate = Arc::new(std::sync::Mutex::new(gate));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let gate = Arc::clone(&gate);
            move |e: &mut u64, _: i64, _: bool| {
                gate.lock().unwrap().recv().unwrap();
                *e *= 2;
            }
        })
        .collect();
    let mut b = Disruptor::builder(8, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_mut_with_worker_pool(workers);
    let (d, mut p) = b.start().unwrap();
    for v in 1..=3u64 {
        p.publish(|e, _| *e = v).unwrap();
    }
    for seq in 0..3 {
        assert!(matches!(d.get(seq), Err(GetError::BeingWritten { .. })));
    }
    for _ in 0..3 {
        gate_tx.send(()).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for seq in 0..3i64 {
        loop {
            match d.get(seq) {
                Ok(v) => {
                    assert_eq!(v, 2 * (seq as u64 + 1));
                    break;
                }
                Err(GetError::BeingWritten { .. }) if Instant::now() < deadline => {
                    thread::yield_now()
                }
                other => panic!("{other:?}"),
            }
        }
    }
    d.shutdown().unwrap();
}

/// A reader calls `get` on recent sequences while producers lap a small ring as fast as they
/// can: every copy it gets back is whole and is the event of the sequence asked for.
fn never_torn(producers: usize) {
    let events = 200_000u64;
    let b = Disruptor::builder(8, Wide::default)
        .wait_strategy(YieldingWait::default())
        .panic_policy(PanicPolicy::Halt);
    let stop = Arc::new(AtomicBool::new(false));
    let check = |d: &dyn Fn(i64) -> Result<Wide, GetError>, published: &dyn Fn() -> i64| {
        let (mut ok, mut lapped) = (0u64, 0u64);
        while !stop.load(SeqCst) {
            let top = published();
            for seq in [top, top - 3, top - 7, top - 9] {
                match d(seq) {
                    Ok(w) => {
                        assert!(
                            w.0.iter().all(|&x| x == seq as u64),
                            "torn or wrong: {seq} {w:?}"
                        );
                        ok += 1;
                    }
                    Err(GetError::Overwritten { oldest, .. }) => {
                        assert!(oldest > seq);
                        lapped += 1;
                    }
                    Err(GetError::NotPublished { .. }) => {}
                    Err(e) => panic!("{e}"),
                }
            }
        }
        (ok, lapped)
    };
    let per = events / producers as u64;
    if producers == 1 {
        let mut b = b.single_producer().unwrap();
        b.handle_events_with(|_: &Wide, _, _| {});
        let (d, mut p) = b.start().unwrap();
        let (ok, _) = thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..per {
                    p.publish(|e, seq| e.0 = [seq as u64; 8]).unwrap();
                }
                stop.store(true, SeqCst);
            });
            check(&|seq| d.get(seq), &|| d.metrics().published)
        });
        assert!(ok > 0);
        d.shutdown().unwrap();
    } else {
        let mut b = b.multi_producer(MultiProducerMode::Cas).unwrap();
        b.handle_events_with(|_: &Wide, _, _| {});
        let (d, p) = b.start().unwrap();
        let (ok, _) = thread::scope(|s| {
            let handles: Vec<_> = (0..producers)
                .map(|_| {
                    let mut p = p.clone();
                    s.spawn(move || {
                        for _ in 0..per {
                            p.publish(|e, seq| e.0 = [seq as u64; 8]).unwrap();
                        }
                    })
                })
                .collect();
            let stopper = s.spawn(|| {
                for h in handles {
                    h.join().unwrap();
                }
                stop.store(true, SeqCst);
            });
            let r = check(&|seq| d.get(seq), &|| d.metrics().published);
            stopper.join().unwrap();
            r
        });
        assert!(ok > 0);
        drop(p);
        d.shutdown().unwrap();
    }
}

#[test]
fn reads_racing_a_single_producer_are_never_torn() {
    never_torn(1);
}

#[test]
fn reads_racing_two_producers_are_never_torn() {
    never_torn(2);
}

const MARK: u64 = 1 << 63;

/// Reads recent sequences: every copy is either whole and finished by the writers (every word
/// `seq | MARK`) or a typed refusal.
fn check_written(d: &dyn Fn(i64) -> Result<Wide, GetError>, top: i64) -> u64 {
    let mut whole = 0;
    for seq in [top, top - 1, top - 3, top - 7] {
        match d(seq) {
            Ok(w) => {
                assert!(
                    w.0.iter().all(|&x| x == (seq as u64 | MARK)),
                    "get({seq}) returned an event the writers had not finished: {w:x?}"
                );
                whole += 1;
            }
            Err(GetError::Overwritten { oldest, .. }) => assert!(oldest > seq),
            Err(GetError::BeingWritten { .. } | GetError::NotPublished { .. }) => {}
        }
    }
    whole
}

/// Two producers lap an 8-slot ring while a pool of two writers marks every event word by
/// word; reads race both, then one writer is removed, then the other.
#[test]
fn reads_racing_a_writer_pool_see_only_finished_events() {
    let workers: Vec<_> = (0..2)
        .map(|_| {
            move |e: &mut Wide, seq: i64, _: bool| {
                for i in 0..8 {
                    e.0[i] = seq as u64 | MARK;
                    if i == 3 && seq % 5 == 0 {
                        thread::yield_now();
                    }
                }
            }
        })
        .collect();
    let mut b = Disruptor::builder(8, Wide::default)
        .wait_strategy(YieldingWait::default())
        .panic_policy(PanicPolicy::Halt)
        .multi_producer(MultiProducerMode::Cas)
        .unwrap();
    b.handle_events_mut_with_worker_pool(workers).named("w");
    let (mut d, p) = b.start().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let producers: Vec<_> = (0..2)
        .map(|_| {
            let mut p = p.clone();
            let stop = stop.clone();
            thread::spawn(move || {
                while !stop.load(SeqCst) {
                    p.publish(|e, seq| e.0 = [seq as u64; 8]).unwrap();
                }
            })
        })
        .collect();
    drop(p);
    let phase = |d: &Disruptor<Wide, _>| {
        let (until, mut whole) = (Instant::now() + Duration::from_millis(400), 0);
        let give_up = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until || whole == 0 {
            assert!(Instant::now() < give_up, "no whole read in 30 s");
            whole += check_written(&|s| d.get(s), d.cursor());
        }
    };
    phase(&d);
    d.remove_stage("w-0").unwrap();
    phase(&d);
    d.remove_stage("w-1").unwrap();
    // No writer left: what the producers wrote, never `BeingWritten`.
    let until = Instant::now() + Duration::from_millis(200);
    while Instant::now() < until {
        let top = d.cursor();
        for seq in [top, top - 3, top - 6] {
            match d.get(seq) {
                Ok(w) => assert!(w.0.iter().all(|&x| x & !MARK == seq as u64), "{seq} {w:x?}"),
                Err(GetError::BeingWritten { .. }) => panic!("no writer is left"),
                Err(_) => {}
            }
        }
    }
    stop.store(true, SeqCst);
    for h in producers {
        h.join().unwrap();
    }
    d.shutdown().unwrap();
}
