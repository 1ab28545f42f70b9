//! Ports of LMAX DisruptorTest / WorkerPoolTest / LifecycleAwareTest /
//! BatchEventProcessorTest / TimeoutHandler / DynamicallyAddHandler behaviours not already in
//! lmax_port.rs / ext_lmax.rs, on seqflow's Disruptor DSL. Blocking or yielding waits only.

mod ext_common;

use ext_common::watchdog_secs as watchdog;
use ext_common::{Life, Log};
use seqflow_pipeline::{
    AggregateHandler, BlockingWait, ClaimError, Disruptor, EventError, EventHandler,
    ExceptionAction, ExceptionHandler, HandlerFailure, MultiProducerMode, PanicPolicy,
    PhasedBackoffWait, PollError, RewindPolicy, ShutdownError, SleepingWait, StageSettings,
    YieldingWait,
};
use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

fn eventually(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if cond() {
            return;
        }
        thread::sleep(Duration::from_millis(1));
    }
    assert!(cond(), "timed out waiting for: {what}");
}

/// LMAX WorkerPool: each WorkProcessor notifies its LifecycleAware handler onStart/onShutdown
/// once, and each event goes to exactly one worker.
#[test]
fn wp_lifecycle_each_worker_start_and_shutdown_once() {
    watchdog(30, || {
        let log: Log = Default::default();
        let seen: Arc<Mutex<Vec<i64>>> = Default::default();
        let workers: Vec<Life> = (0..3)
            .map(|i| Life::sharing(format!("w{i}"), &log, &seen))
            .collect();
        let mut b = Disruptor::builder(16, || 0i64)
            .wait_strategy(BlockingWait::default())
            .single_producer()
            .unwrap();
        b.handle_events_with_worker_pool(workers);
        let (d, mut p) = b.start().unwrap();
        for i in 0..100 {
            p.publish(|e, _| *e = i).unwrap();
        }
        d.shutdown().unwrap();
        let log = log.lock().unwrap().clone();
        for i in 0..3 {
            assert_eq!(
                log.iter().filter(|l| **l == format!("start:w{i}")).count(),
                1,
                "{log:?}"
            );
            assert_eq!(
                log.iter()
                    .filter(|l| **l == format!("shutdown:w{i}"))
                    .count(),
                1,
                "{log:?}"
            );
        }
        let mut s = seen.lock().unwrap().clone();
        s.sort();
        assert_eq!(s, (0..100).collect::<Vec<_>>());
    });
}

/// Events published before start reach a worker pool exactly once (DisruptorTest
/// shouldProcessMessagesPublishedBeforeStartIsCalled, with work handlers).
#[test]
fn wp_events_published_before_start_each_once() {
    watchdog(30, || {
        let seen: Arc<Mutex<Vec<i64>>> = Default::default();
        let mut b = Disruptor::builder(8, || 0i64)
            .wait_strategy(BlockingWait::default())
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let s = seen.clone();
                move |e: &i64, _: i64, _: bool| s.lock().unwrap().push(*e)
            })
            .collect();
        b.handle_events_with_worker_pool(workers);
        b.publish_before_start(|p| {
            for i in 0..5 {
                p.try_publish(|e, _| *e = i).unwrap();
            }
        })
        .unwrap();
        let (d, mut p) = b.start().unwrap();
        for i in 5..50 {
            p.publish(|e, _| *e = i).unwrap();
        }
        d.shutdown().unwrap();
        let mut s = seen.lock().unwrap().clone();
        s.sort();
        assert_eq!(s, (0..50).collect::<Vec<_>>());
    });
}

/// A poller after a worker pool (LMAX: an EventPoller gated on the worker sequences) only sees
/// events every worker of the pool has finished with.
#[test]
fn poller_after_worker_pool_sees_only_processed_events() {
    watchdog(30, || {
        let done = Arc::new(Mutex::new(HashSet::new()));
        let mut b = Disruptor::builder(16, || 0i64)
            .wait_strategy(BlockingWait::default())
            .single_producer()
            .unwrap();
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let d = done.clone();
                move |_: &i64, seq: i64, _: bool| {
                    thread::yield_now();
                    d.lock().unwrap().insert(seq);
                }
            })
            .collect();
        let pool = b.handle_events_with_worker_pool(workers).group();
        let mut poller = b.poller_after(&[&pool]).unwrap();
        let (d, mut p) = b.start().unwrap();
        let done2 = done.clone();
        let consumer = thread::spawn(move || {
            let mut n = 0i64;
            while n < 200 {
                match poller.poll(|_, seq, _| {
                    assert!(
                        done2.lock().unwrap().contains(&seq),
                        "poller saw {seq} before the pool"
                    );
                    assert_eq!(seq, n);
                    n += 1;
                }) {
                    Ok(0) => thread::yield_now(),
                    Ok(_) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            poller
        });
        for i in 0..200 {
            p.publish(|e, _| *e = i).unwrap();
        }
        let poller = consumer.join().unwrap();
        drop(poller);
        d.shutdown().unwrap();
    });
}

/// LMAX shouldAllowEventHandlerWithSuperType: one generic handler type used for several
/// event types.
struct AnyCounter(Arc<AtomicUsize>);
impl<T> EventHandler<T> for AnyCounter {
    fn on_event(&mut self, _: &T, _: i64, _: bool) {
        self.0.fetch_add(1, SeqCst);
    }
}
#[test]
fn d_should_allow_event_handler_with_super_type() {
    watchdog(30, || {
        let c = Arc::new(AtomicUsize::new(0));
        let mut b = Disruptor::builder(8, || 0u32).single_producer().unwrap();
        b.handle_events_with(AnyCounter(c.clone()));
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 1).unwrap();
        d.shutdown().unwrap();
        let mut b = Disruptor::builder(8, String::new)
            .single_producer()
            .unwrap();
        b.handle_events_with(AnyCounter(c.clone()));
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| e.push('x')).unwrap();
        d.shutdown().unwrap();
        assert_eq!(c.load(SeqCst), 2);
    });
}

/// on_timeout (LMAX TimeoutHandler + TimeoutBlockingWaitStrategy) under each non-spinning
/// wait strategy, with the last processed sequence.
struct TimeoutRec {
    timeouts: Arc<Mutex<Vec<i64>>>,
}
impl EventHandler<i64> for TimeoutRec {
    fn on_event(&mut self, _: &i64, _: i64, _: bool) {}
    fn on_timeout(&mut self, seq: i64) {
        self.timeouts.lock().unwrap().push(seq);
    }
}
fn timeout_case<W: seqflow_pipeline::WaitStrategy>(w: W, what: &str) {
    let t: Arc<Mutex<Vec<i64>>> = Default::default();
    let mut b = Disruptor::builder(8, || 0i64)
        .wait_strategy(w)
        .single_producer()
        .unwrap();
    b.handle_events_with(TimeoutRec {
        timeouts: t.clone(),
    })
    .timeout(Duration::from_millis(5));
    let (d, mut p) = b.start().unwrap();
    eventually(10, &format!("{what}: first on_timeout"), || {
        !t.lock().unwrap().is_empty()
    });
    assert_eq!(t.lock().unwrap()[0], -1, "{what}");
    p.publish_batch(3, |e, s| *e = s).unwrap();
    eventually(10, &format!("{what}: on_timeout(2)"), || {
        t.lock().unwrap().contains(&2)
    });
    d.shutdown().unwrap();
}
#[test]
fn timeout_on_timeout_under_each_wait_strategy() {
    watchdog(60, || {
        timeout_case(BlockingWait::default(), "blocking");
        timeout_case(SleepingWait::default(), "sleeping");
        timeout_case(YieldingWait::default(), "yielding");
        timeout_case(
            PhasedBackoffWait::with_lock(Duration::from_micros(10), Duration::from_micros(10)),
            "phased-lock",
        );
    });
}

/// A worker pool's workers get on_timeout too (LMAX WorkProcessor notifyTimeout).
#[test]
fn timeout_on_timeout_for_runtime_added_stage() {
    watchdog(30, || {
        let t: Arc<Mutex<Vec<i64>>> = Default::default();
        let b = Disruptor::builder(8, || 0i64)
            .wait_strategy(BlockingWait::default())
            .single_producer()
            .unwrap();
        let (mut d, mut p) = b.start().unwrap();
        for i in 0..3 {
            p.publish(|e, _| *e = i).unwrap();
        }
        d.handle_events_with_settings(
            TimeoutRec {
                timeouts: t.clone(),
            },
            StageSettings::new()
                .named("late")
                .timeout(Duration::from_millis(5)),
        )
        .unwrap();
        eventually(10, "on_timeout on a stage added at run time", || {
            !t.lock().unwrap().is_empty()
        });
        assert_eq!(t.lock().unwrap()[0], 2, "starts at the cursor");
        d.shutdown().unwrap();
    });
}

/// Exception in a worker pool under Halt: shutdown reports it, a producer blocked on the full
/// ring is released with Halted (ShutdownOnFatalExceptionTest with a WorkerPool).
#[test]
fn wp_fatal_exception_halts_and_releases_blocked_producer() {
    watchdog(30, || {
        let mut b = Disruptor::builder(4, || 0i64)
            .wait_strategy(BlockingWait::default())
            .single_producer()
            .unwrap();
        let workers: Vec<_> = (0..2)
            .map(|_| {
                move |e: &i64, _: i64, _: bool| {
                    if *e == 3 {
                        panic!("boom at 3");
                    }
                }
            })
            .collect();
        b.handle_events_with_worker_pool(workers)
            .exception_handler(PanicPolicy::Halt);
        let (d, mut p) = b.start().unwrap();
        let mut last = Ok(0);
        for i in 0..100 {
            last = p.publish(|e, _| *e = i);
            if last.is_err() {
                break;
            }
        }
        assert_eq!(last, Err(ClaimError::Halted));
        let r = d.shutdown();
        assert!(
            matches!(r, Err(ShutdownError::HandlerPanicked { seq: 3, .. })),
            "{r:?}"
        );
    });
}

/// LogAndContinue in a worker pool: the failing event is skipped, every other event handled
/// exactly once; the exception handler gets the right sequence and event.
struct Rec(Arc<Mutex<Vec<(i64, i64)>>>);
impl ExceptionHandler<i64> for Rec {
    fn handle_event_exception(&self, _: &HandlerFailure, seq: i64, e: &i64) -> ExceptionAction {
        self.0.lock().unwrap().push((seq, *e));
        ExceptionAction::Continue
    }
}
#[test]
fn wp_exception_handler_sees_failed_event_and_pool_continues() {
    watchdog(30, || {
        let fails: Arc<Mutex<Vec<(i64, i64)>>> = Default::default();
        let seen: Arc<Mutex<Vec<i64>>> = Default::default();
        let mut b = Disruptor::builder(8, || 0i64)
            .wait_strategy(BlockingWait::default())
            .single_producer()
            .unwrap();
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let s = seen.clone();
                seqflow_pipeline::fallible(move |e: &i64, _: i64, _: bool| {
                    if *e % 10 == 7 {
                        return Err(EventError::msg("seven"));
                    }
                    s.lock().unwrap().push(*e);
                    Ok(())
                })
            })
            .collect();
        b.handle_events_with_worker_pool(workers)
            .exception_handler(Rec(fails.clone()));
        let (d, mut p) = b.start().unwrap();
        for i in 0..50 {
            p.publish(|e, _| *e = i + 1000).unwrap();
        }
        d.shutdown().unwrap();
        let mut s = seen.lock().unwrap().clone();
        s.sort();
        let expect: Vec<i64> = (0..50).map(|i| i + 1000).filter(|e| e % 10 != 7).collect();
        assert_eq!(s, expect);
        let mut f = fails.lock().unwrap().clone();
        f.sort();
        let fexp: Vec<(i64, i64)> = (0..50)
            .filter(|i| (i + 1000) % 10 == 7)
            .map(|i| (i, i + 1000))
            .collect();
        assert_eq!(f, fexp);
    });
}

/// DynamicallyAddHandler: remove the only stage; the producer is no longer held back; add
/// another stage later, it starts at the cursor and sees every later event.
#[test]
fn dyn_remove_only_stage_then_add_again() {
    watchdog(30, || {
        let seen: Arc<Mutex<Vec<i64>>> = Default::default();
        let mut b = Disruptor::builder(8, || 0i64)
            .wait_strategy(BlockingWait::default())
            .single_producer()
            .unwrap();
        b.handle_events_with(|_: &i64, _, _| {}).named("first");
        let (mut d, mut p) = b.start().unwrap();
        for i in 0..5 {
            p.publish(|e, _| *e = i).unwrap();
        }
        eventually(10, "first caught up", || d.sequence_of("first") == Some(4));
        d.remove_stage("first").unwrap();
        // nobody gates now: more than a ring's worth goes through without waiting
        for i in 5..40 {
            p.try_publish(|e, _| *e = i).unwrap();
        }
        let s2 = seen.clone();
        d.handle_events_with_settings(
            move |e: &i64, seq: i64, _: bool| {
                assert_eq!(*e, seq);
                s2.lock().unwrap().push(seq)
            },
            StageSettings::new().named("second"),
        )
        .unwrap();
        for i in 40..100 {
            p.publish(|e, _| *e = i).unwrap();
        }
        d.shutdown().unwrap();
        assert_eq!(seen.lock().unwrap().clone(), (40..100).collect::<Vec<_>>());
    });
}

/// max_batch_size + rewind: only the capped batch is replayed.
struct RewindOnce {
    failed: bool,
    log: Arc<Mutex<Vec<(i64, bool)>>>,
}
impl EventHandler<i64> for RewindOnce {
    fn on_event(&mut self, _: &i64, _: i64, _: bool) {}
    fn try_on_event(&mut self, _: &i64, seq: i64, eob: bool) -> Result<(), EventError> {
        self.log.lock().unwrap().push((seq, eob));
        if seq == 5 && !self.failed {
            self.failed = true;
            return Err(EventError::Rewind);
        }
        Ok(())
    }
}
#[test]
fn rewind_with_max_batch_size_replays_only_capped_batch() {
    watchdog(30, || {
        let log: Arc<Mutex<Vec<(i64, bool)>>> = Default::default();
        let mut b = Disruptor::builder(16, || 0i64).single_producer().unwrap();
        b.handle_events_with(RewindOnce {
            failed: false,
            log: log.clone(),
        })
        .max_batch_size(4)
        .rewind_policy(RewindPolicy::up_to(3));
        b.publish_before_start(|p| p.publish_batch(12, |e, s| *e = s).map(|_| ()))
            .unwrap()
            .unwrap();
        let (d, _p) = b.start().unwrap();
        d.shutdown().unwrap();
        let seqs: Vec<i64> = log.lock().unwrap().iter().map(|x| x.0).collect();
        // batches [0..3], [4..7] (fails at 5, replays 4..), [8..11]
        assert_eq!(
            seqs,
            vec![0, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, 10, 11],
            "{:?}",
            log.lock().unwrap()
        );
        let eobs: Vec<i64> = log
            .lock()
            .unwrap()
            .iter()
            .filter(|x| x.1)
            .map(|x| x.0)
            .collect();
        assert_eq!(eobs, vec![3, 7, 11]);
    });
}

/// AggregateHandler forwards on_timeout and on_batch_start to every handler.
struct Hooks {
    id: usize,
    log: Arc<Mutex<Vec<String>>>,
}
impl EventHandler<i64> for Hooks {
    fn on_event(&mut self, _: &i64, seq: i64, _: bool) {
        self.log
            .lock()
            .unwrap()
            .push(format!("{}:ev{seq}", self.id));
    }
    fn on_batch_start(&mut self, n: i64, _: i64) {
        self.log.lock().unwrap().push(format!("{}:bs{n}", self.id));
    }
    fn on_timeout(&mut self, seq: i64) {
        self.log
            .lock()
            .unwrap()
            .push(format!("{}:to{seq}", self.id));
    }
    fn on_start(&mut self) {
        self.log.lock().unwrap().push(format!("{}:start", self.id));
    }
    fn on_shutdown(&mut self) {
        self.log.lock().unwrap().push(format!("{}:stop", self.id));
    }
}
#[test]
fn aggregate_forwards_every_hook_in_order() {
    watchdog(30, || {
        let log: Arc<Mutex<Vec<String>>> = Default::default();
        let hs: Vec<Box<dyn EventHandler<i64> + Send>> = (0..2)
            .map(|id| {
                Box::new(Hooks {
                    id,
                    log: log.clone(),
                }) as Box<dyn EventHandler<i64> + Send>
            })
            .collect();
        let mut b = Disruptor::builder(8, || 0i64)
            .wait_strategy(BlockingWait::default())
            .single_producer()
            .unwrap();
        b.handle_events_with(AggregateHandler::new(hs))
            .timeout(Duration::from_millis(5));
        b.publish_before_start(|p| p.publish_batch(2, |e, s| *e = s).map(|_| ()))
            .unwrap()
            .unwrap();
        let (d, _p) = b.start().unwrap();
        eventually(10, "timeouts", || {
            let l = log.lock().unwrap();
            l.contains(&"0:to1".to_string()) && l.contains(&"1:to1".to_string())
        });
        d.shutdown().unwrap();
        let l = log.lock().unwrap().clone();
        let head: Vec<&str> = l.iter().take(8).map(|s| s.as_str()).collect();
        assert_eq!(
            head,
            vec!["0:start", "1:start", "0:bs2", "1:bs2", "0:ev0", "1:ev0", "0:ev1", "1:ev1"],
            "{l:?}"
        );
        assert_eq!(
            &l[l.len() - 2..],
            &["0:stop".to_string(), "1:stop".to_string()]
        );
    });
}

/// Multi-producer remaining capacity / has_available_capacity while another producer holds a
/// claim it has not committed (LMAX: claimed-but-unpublished slots are not free).
#[test]
fn mp_remaining_capacity_counts_uncommitted_claims() {
    watchdog(30, || {
        let mut b = Disruptor::builder(8, || 0i64)
            .wait_strategy(BlockingWait::default())
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        let poller = b.poller().unwrap(); // gates, never consumes
        let (d, mut p1) = b.start().unwrap();
        let p2 = d.producer().unwrap();
        let g = p1.claim(3).unwrap();
        assert_eq!(d.metrics().remaining_capacity, 5);
        assert!(p2.has_available_capacity(5));
        assert!(!p2.has_available_capacity(6));
        g.commit();
        assert_eq!(d.metrics().remaining_capacity, 5);
        drop((poller, p2));
        d.shutdown().unwrap();
    });
}

/// Single-producer: remaining capacity seen from another thread while the producer holds an
/// uncommitted one-event claim (LMAX remainingCapacity counts claimed slots).
#[test]
fn sp_remaining_capacity_counts_uncommitted_single_claim() {
    watchdog(30, || {
        let mut b = Disruptor::builder(8, || 0i64)
            .wait_strategy(BlockingWait::default())
            .single_producer()
            .unwrap();
        let poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        let mh = d.metrics_handle();
        let g = p.claim(1).unwrap();
        let rem = mh.read().remaining_capacity;
        g.commit();
        assert_eq!(rem, 7, "a claimed, uncommitted slot was reported as free");
        drop(poller);
        d.shutdown().unwrap();
    });
}

/// Halt with a pool and a dependent stage: every worker and stage gets on_shutdown once.
#[test]
fn halt_calls_on_shutdown_for_pool_workers_and_dependents() {
    watchdog(30, || {
        let log: Log = Default::default();
        let seen: Arc<Mutex<Vec<i64>>> = Default::default();
        let mut b = Disruptor::builder(8, || 0i64)
            .wait_strategy(BlockingWait::default())
            .single_producer()
            .unwrap();
        let workers: Vec<Life> = (0..2)
            .map(|i| Life::sharing(format!("w{i}"), &log, &seen))
            .collect();
        b.handle_events_with_worker_pool(workers)
            .then(Life::new("after", &log));
        let (d, mut p) = b.start().unwrap();
        for i in 0..20 {
            p.publish(|e, _| *e = i).unwrap();
        }
        eventually(10, "all started", || log.lock().unwrap().len() >= 3);
        d.halt().unwrap();
        let l = log.lock().unwrap().clone();
        for n in ["w0", "w1", "after"] {
            assert_eq!(
                l.iter().filter(|x| **x == format!("shutdown:{n}")).count(),
                1,
                "{l:?}"
            );
        }
    });
}

/// A poller on a running disruptor whose disruptor is then shut down: poll drains what is
/// left, then Alerted (EventPollerTest + DSL shutdown).
#[test]
fn poller_drains_after_shutdown_then_alerted() {
    watchdog(30, || {
        let mut b = Disruptor::builder(8, || 0i64)
            .wait_strategy(BlockingWait::default())
            .single_producer()
            .unwrap();
        let mut poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        p.publish_batch(3, |e, s| *e = s).unwrap();
        drop(p);
        let r = d.shutdown_timeout(Duration::from_millis(50));
        // shutdown does not wait for pollers: either Ok or Timeout is acceptable
        let _ = r;
        let mut got = vec![];
        loop {
            match poller.poll(|e, _, _| got.push(*e)) {
                Ok(_) => {}
                Err(PollError::Alerted) => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got, vec![0, 1, 2]);
    });
}

/// publish_batch of exactly the capacity while the consumer still holds part of the ring:
/// waits, then goes through (LMAX next(bufferSize)).
#[test]
fn publish_batch_of_capacity_waits_for_room() {
    watchdog(30, || {
        let count = Arc::new(AtomicI64::new(0));
        let c = count.clone();
        let mut b = Disruptor::builder(8, || 0i64)
            .wait_strategy(BlockingWait::default())
            .single_producer()
            .unwrap();
        b.handle_events_with(move |e: &i64, seq: i64, _: bool| {
            assert_eq!(*e, seq);
            c.fetch_add(1, SeqCst);
        });
        let (d, mut p) = b.start().unwrap();
        for _ in 0..20 {
            p.publish_batch(8, |e, s| *e = s).unwrap();
        }
        d.shutdown().unwrap();
        assert_eq!(count.load(SeqCst), 160);
    });
}
