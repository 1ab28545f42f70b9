//! One-byte availability marks (the lap modulo 256): multi-producer rings of 4 slots driven past
//! 256 laps, where a reader may meet the mark of a lap 256 laps away.

mod ext_common;

use ext_common::{oracle_deadline, watchdog_secs};
use seqflow_pipeline::{
    Disruptor, GetError, LossyError, MultiProducer, MultiProducerDisruptor, MultiProducerMode,
    PollError, YieldingWait,
};
use seqflow_sequencer::{Claimer, MultiProducerSequencer, Sequencer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A 4-slot multi-producer disruptor with no stage.
fn four_slots() -> (MultiProducerDisruptor<u64>, MultiProducer<u64>) {
    Disruptor::builder(4, || 0u64)
        .wait_strategy(YieldingWait::default())
        .multi_producer(MultiProducerMode::Cas)
        .unwrap()
        .start()
        .unwrap()
}

/// Two threads publishing their sequence into every event as fast as they can, until
/// [`stop`](Self::stop).
struct FreeRunning {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl FreeRunning {
    fn start(mut publish: impl FnMut() -> Box<dyn FnMut() + Send>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..2)
            .map(|_| {
                let (mut publish, stop) = (publish(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        publish();
                    }
                })
            })
            .collect();
        Self { stop, threads }
    }

    /// Producers cloned from `p` (dropped here), publishing through the pipeline.
    fn producers(p: MultiProducer<u64>) -> Self {
        Self::start(|| {
            let mut p = p.clone();
            Box::new(move || {
                p.publish(|e, s| *e = s as u64).unwrap();
            })
        })
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
    }
}

/// A lossy subscriber lapped by exactly 256*k laps (its slot holds its own mark again), and by
/// 256*k laps plus up to 3 slots: always `Lapped`, then the right event.
#[test]
fn lossy_subscriber_lapped_by_multiples_of_256_laps() {
    for k in 1..=3i64 {
        for extra in 0..4i64 {
            let (d, mut p) = four_slots();
            let mut sub = d.lossy_subscriber().unwrap();
            assert_eq!(p.publish(|e, s| *e = s as u64).unwrap(), 0);
            assert_eq!(sub.try_next(), Ok((0, 0)));
            // Next is 1: publish up to 1 + 1024k + extra (slot of 1 holds 1 + 1024k's mark).
            let last = 1 + 1024 * k + extra;
            for _ in 1..=last {
                p.publish(|e, s| *e = s as u64).unwrap();
            }
            let resume = last - 3;
            assert_eq!(
                sub.try_next(),
                Err(LossyError::Lapped {
                    missed: (resume - 1) as u64,
                    resume_at: resume
                }),
                "k {k} extra {extra}"
            );
            for s in resume..=last {
                assert_eq!(sub.try_next(), Ok((s, s as u64)), "k {k} extra {extra}");
            }
            assert_eq!(sub.try_next(), Err(LossyError::Timeout));
            d.shutdown().unwrap();
        }
    }
}

/// `get` of a sequence exactly 256 laps old (its slot holds its mark): overwritten.
#[test]
fn get_of_a_sequence_256_laps_old() {
    let (d, mut p) = four_slots();
    for _ in 0..=1024 * 2 + 2 {
        p.publish(|e, s| *e = s as u64).unwrap();
    }
    let last = d.sequencer().published();
    assert_eq!(last, 2050);
    for seq in [2, 1026, 0, 1, 1024, 1025, 2046] {
        assert!(
            matches!(d.get(seq), Err(GetError::Overwritten { .. })),
            "{seq}: {:?}",
            d.get(seq)
        );
    }
    for seq in 2047..=2050 {
        assert_eq!(d.get(seq), Ok(seq as u64));
    }
    d.shutdown().unwrap();
}

/// Many threads, 4 slots: a lossy subscriber only ever returns the event published at its
/// sequence, in increasing order. It may be lapped on every try while other tests take the
/// cores, so it reads until 200,000 events or the oracle deadline, whichever comes first.
#[test]
fn lossy_subscriber_under_free_running_producers() {
    watchdog_secs(120, || {
        let (d, p) = four_slots();
        let producers = FreeRunning::producers(p);
        let mut sub = d.lossy_subscriber().unwrap();
        let (mut read, mut lapped, mut last) = (0u64, 0u64, -1i64);
        let end = oracle_deadline();
        while read < 200_000 && Instant::now() < end {
            match sub.next_timeout(Some(Duration::from_secs(10))) {
                Ok((s, e)) => {
                    assert_eq!(e, s as u64, "a wrong event handed out at {s}");
                    assert!(s > last, "{s} after {last}");
                    last = s;
                    read += 1;
                }
                Err(LossyError::Lapped { .. }) => lapped += 1,
                Err(e) => panic!("{e:?}"),
            }
        }
        producers.stop();
        eprintln!("read {read}, lapped {lapped} times, last {last}");
        d.shutdown().unwrap();
    });
}

/// `published()` while producers lap a 4-slot ring with no consumer: a value it returned stays
/// published (a later call never answers less), and `get` of it is never `NotPublished`.
/// Runs 3,000,000 calls or until the oracle deadline.
#[test]
fn published_never_goes_down_while_producers_lap() {
    watchdog_secs(300, || {
        let (d, p) = four_slots();
        let producers = FreeRunning::producers(p);
        let s = d.sequencer().clone();
        let mut prev = -1i64;
        let mut failures = Vec::new();
        let end = oracle_deadline();
        for i in 0..3_000_000u64 {
            if i % 1024 == 0 && Instant::now() >= end {
                break;
            }
            let v = s.published();
            if v < prev {
                failures.push(format!("call {i}: published {v} after {prev}"));
            }
            if i % 16 == 0 && prev >= 0 {
                if let Err(GetError::NotPublished { published, .. }) = d.get(prev) {
                    failures.push(format!(
                        "call {i}: get({prev}) NotPublished (published {published})"
                    ));
                }
            }
            prev = prev.max(v);
            if failures.len() >= 5 {
                break;
            }
        }
        producers.stop();
        d.shutdown().unwrap();
        assert!(failures.is_empty(), "{failures:#?}");
    });
}

/// Pollers added to a running 4-slot ring whose producers run free (no gating consumer) start
/// at a published event and read each event as published, gap-free, without hanging.
/// At least 10 rounds, then up to 3000 until the oracle deadline.
#[test]
fn pollers_added_while_producers_lap() {
    watchdog_secs(300, || {
        let (d, p) = four_slots();
        let producers = FreeRunning::producers(p);
        let end = oracle_deadline();
        for round in 0..3000 {
            if round >= 10 && Instant::now() >= end {
                break;
            }
            let mut poller = d.poller().unwrap();
            let mut expected = poller.sequence() + 1;
            let mut seen = 0;
            while seen < 20 {
                poller
                    .wait_for(expected, Some(Duration::from_secs(20)))
                    .unwrap();
                let n = poller
                    .poll(|e, s, _| {
                        assert_eq!(s, expected, "round {round}");
                        assert_eq!(*e, s as u64, "round {round}: wrong event at {s}");
                        expected += 1;
                    })
                    .map_err(|e: PollError| e)
                    .unwrap();
                seen += n;
            }
            drop(poller);
            // Let the producers run some laps with nobody gating.
            for _ in 0..50 {
                std::thread::yield_now();
            }
        }
        producers.stop();
        d.shutdown().unwrap();
    });
}

/// `published()` never answers less than it did before (two producers lap a 4-slot ring with
/// no consumer). Runs 10,000,000 calls or until the oracle deadline.
#[test]
fn published_is_monotonic_while_producers_lap() {
    let s =
        MultiProducerSequencer::new(4, YieldingWait::default(), MultiProducerMode::Cas, 1).unwrap();
    let producers = FreeRunning::start(|| {
        let mut c = s.claimer();
        Box::new(move || {
            let r = c.claim(1).unwrap();
            c.publish(r).unwrap();
        })
    });
    let (mut prev, mut failures) = (-1i64, Vec::new());
    let end = oracle_deadline();
    for i in 0..10_000_000u64 {
        if i % 1024 == 0 && Instant::now() >= end {
            break;
        }
        let v = s.published();
        if v < prev {
            failures.push(format!("call {i}: published {v} after {prev}"));
            if failures.len() == 5 {
                break;
            }
        }
        prev = prev.max(v);
    }
    producers.stop();
    assert!(failures.is_empty(), "{failures:#?}");
}
