//! Ports of LMAX Disruptor (Java) tests onto seqflow's public API: DisruptorTest,
//! BatchEventProcessorTest, SequenceBarrierTest, RingBufferTest, MultiProducerSequencerTest,
//! WorkerPoolTest, EventPollerTest, LifecycleAwareTest, SequenceGroupTest / dynamic handlers,
//! ShutdownOnFatalExceptionTest, AggregateEventHandlerTest, translator variants, rewinds,
//! timeouts, and the correctness parts of the perf tests (small event counts).
mod ext_common;
use ext_common::*;

use seqflow_pipeline::{
    BlockingWait, BuildError, BusySpinWait, ClaimError, Disruptor, EventError, EventHandler,
    ExceptionAction, ExceptionHandler, HandlerFailure, MultiProducerMode, PanicPolicy,
    PhasedBackoffWait, PollError, PollState, Poller, RewindPolicy, ShutdownError, SleepingWait,
    StageGroup, YieldingWait,
};
use seqflow_sequence::{Alert, OwnedRef, Sequence, SequenceBarrier, WaitError};
use seqflow_sequencer::{
    Claimer, GatingTable, MultiProducerSequencer, Sequencer, SingleProducerSequencer,
};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

type Log = Arc<Mutex<Vec<i64>>>;
fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}
fn snapshot(l: &Log) -> Vec<i64> {
    l.lock().unwrap().clone()
}
fn counter() -> Arc<AtomicI64> {
    Arc::new(AtomicI64::new(0))
}

/// A handler that counts and records sequences.
fn recorder(l: &Log) -> impl FnMut(&i64, i64, bool) + Send + 'static {
    let l = l.clone();
    move |_: &i64, seq: i64, _| l.lock().unwrap().push(seq)
}

/// A handler that blocks on `gate` before handling each event, then counts.
fn delayed(gate: &Gate, c: &Arc<AtomicI64>) -> impl FnMut(&i64, i64, bool) + Send + 'static {
    let (g, c) = (gate.clone(), c.clone());
    move |_: &i64, _, _| {
        g.wait();
        c.fetch_add(1, SeqCst);
    }
}

/// Let other threads run for a moment before checking that something did NOT happen (an
/// ordering check, not a timing assertion).
fn settle() {
    for _ in 0..20 {
        thread::yield_now();
    }
    thread::sleep(Duration::from_millis(30));
}

// ============================ DisruptorTest ==================================================

#[test]
fn d_should_process_messages_published_before_start_is_called() {
    watchdog(|| {
        let l = log();
        let mut b = Disruptor::builder(4, || 0i64).single_producer().unwrap();
        b.handle_events_with(recorder(&l));
        b.publish_before_start(|p| p.try_publish(|e, _| *e = 1).unwrap())
            .unwrap();
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 2).unwrap();
        assert!(wait_until(10, || snapshot(&l).len() == 2));
        d.shutdown().unwrap();
        assert_eq!(snapshot(&l), vec![0, 1]);
    });
}

/// LMAX: a handler added after events were published starts from the cursor (it does not
/// read the earlier, possibly overwritten, slots). Here a ring of 8 gets 20 events before the
/// stage exists (no consumer: nothing gates), then the stage is added and started.
#[test]
fn d_should_set_sequence_for_handler_if_added_after_publish() {
    watchdog(|| {
        let seen = Arc::new(Mutex::new(Vec::<(i64, i64)>::new()));
        let s = seen.clone();
        let mut b = Disruptor::builder(8, || -1i64).single_producer().unwrap();
        b.publish_before_start(|p| {
            for i in 0..20 {
                p.try_publish(|e, _| *e = i).unwrap();
            }
        })
        .unwrap();
        b.handle_events_with(move |e: &i64, seq, _| s.lock().unwrap().push((seq, *e)));
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 20).unwrap();
        assert!(wait_until(10, || seen
            .lock()
            .unwrap()
            .iter()
            .any(|&(s, _)| s == 20)));
        d.shutdown().unwrap();
        let seen = seen.lock().unwrap().clone();
        let wrong: Vec<_> = seen.iter().filter(|(s, e)| s != e).collect();
        assert!(
            wrong.is_empty(),
            "stage read slots overwritten before it was added (seq, value): {wrong:?}"
        );
        assert_eq!(
            seen,
            vec![(20, 20)],
            "LMAX: a handler added after publishing starts at the cursor"
        );
    });
}

/// Multi-producer variant of the test above.
#[test]
fn d_should_set_sequence_for_handler_if_added_after_publish_multi_producer() {
    watchdog(|| {
        let seen = Arc::new(Mutex::new(Vec::<(i64, i64)>::new()));
        let s = seen.clone();
        let mut b = Disruptor::builder(8, || -1i64)
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        b.publish_before_start(|p| {
            for i in 0..20 {
                p.try_publish(|e, _| *e = i).unwrap();
            }
        })
        .unwrap();
        b.handle_events_with(move |e: &i64, seq, _| s.lock().unwrap().push((seq, *e)));
        let (d, mut p) = b.start().unwrap();
        let r = p.publish_timeout(Duration::from_secs(2), |e, _| *e = 20);
        settle();
        let res = d.shutdown_timeout(Duration::from_secs(2));
        let seen = seen.lock().unwrap().clone();
        assert!(r.is_ok(), "publish after start: {r:?}; stage saw {seen:?}");
        assert!(res.is_ok(), "shutdown: {res:?}; stage saw {seen:?}");
        assert_eq!(seen, vec![(20, 20)]);
    });
}

/// Same as above for a poller added to the builder after `publish_before_start`.
#[test]
fn d_should_set_sequence_for_poller_if_added_after_publish() {
    watchdog(|| {
        let mut b = Disruptor::builder(8, || -1i64).single_producer().unwrap();
        b.publish_before_start(|p| {
            for i in 0..20 {
                p.try_publish(|e, _| *e = i).unwrap();
            }
        })
        .unwrap();
        let mut poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        // (a blocking publish here waits forever: the poller gates from -1, 20 events behind)
        let r = p.try_publish(|e, _| *e = 20);
        let mut seen = Vec::new();
        poller.poll(|e, seq, _| seen.push((seq, *e))).unwrap();
        let wrong: Vec<_> = seen.iter().filter(|(s, e)| s != e).collect();
        drop(poller);
        d.shutdown().unwrap();
        assert!(
            r.is_ok(),
            "producer blocked by a poller registered a lap behind: {r:?}"
        );
        assert!(
            wrong.is_empty(),
            "poller read overwritten slots (seq, value): {wrong:?}"
        );
    });
}

#[test]
fn d_should_add_event_processors_after_publishing_to_running_disruptor() {
    watchdog(|| {
        let (mut d, mut p) = Disruptor::builder(8, || 0i64)
            .single_producer()
            .unwrap()
            .start()
            .unwrap();
        for i in 0..6 {
            p.publish(|e, _| *e = i).unwrap();
        }
        let l = log();
        d.handle_events_with(recorder(&l)).unwrap();
        // LMAX: the new processor's sequence is set to the cursor (5).
        let m = d.metrics();
        assert_eq!(m.stages.last().unwrap().sequence, 5);
        p.publish(|e, _| *e = 6).unwrap();
        assert!(wait_until(10, || snapshot(&l).len() == 1));
        drop(p);
        d.shutdown().unwrap();
        assert_eq!(snapshot(&l), vec![6]);
    });
}

#[test]
fn d_should_make_entries_available_to_first_handlers_immediately() {
    watchdog(|| {
        let latch = Latch::new(2);
        let (l1, l2) = (latch.clone(), latch.clone());
        let mut b = Disruptor::builder(4, || 0i64).single_producer().unwrap();
        b.handle_events_with(move |_: &i64, _, _| l1.count_down())
            .and(move |_: &i64, _, _| l2.count_down());
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 1).unwrap();
        assert!(latch.await_zero(10));
        d.shutdown().unwrap();
    });
}

#[test]
fn d_should_wait_until_all_first_event_processors_process_event_before_making_it_available_to_dependent(
) {
    watchdog(|| {
        let gate = Gate::new();
        let (c1, c2) = (counter(), counter());
        let mut b = Disruptor::builder(4, || 0i64).single_producer().unwrap();
        let first = b.handle_events_with(delayed(&gate, &c1)).group();
        let c2c = c2.clone();
        b.after(&[&first]).handle_events_with(move |_: &i64, _, _| {
            c2c.fetch_add(1, SeqCst);
        });
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 1).unwrap();
        settle();
        assert_eq!(c2.load(SeqCst), 0);
        gate.open();
        assert!(wait_until(10, || c2.load(SeqCst) == 1));
        d.shutdown().unwrap();
        assert_eq!(c1.load(SeqCst), 1);
    });
}

#[test]
fn d_should_allow_specifying_specific_event_processors_to_wait_for() {
    watchdog(|| {
        let (g1, g2) = (Gate::new(), Gate::new());
        let (c1, c2, c3) = (counter(), counter(), counter());
        let mut b = Disruptor::builder(4, || 0i64).single_producer().unwrap();
        let h1 = b.handle_events_with(delayed(&g1, &c1)).group();
        let h2 = b.handle_events_with(delayed(&g2, &c2)).group();
        let c3c = c3.clone();
        b.after(&[&h1, &h2])
            .handle_events_with(move |_: &i64, _, _| {
                c3c.fetch_add(1, SeqCst);
            });
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 1).unwrap();
        g2.open();
        assert!(wait_until(10, || c2.load(SeqCst) == 1));
        settle();
        assert_eq!(c3.load(SeqCst), 0, "dependent ran before h1");
        g1.open();
        assert!(wait_until(10, || c3.load(SeqCst) == 1));
        d.shutdown().unwrap();
    });
}

#[test]
fn d_should_wait_on_all_producers_joined_by_and() {
    watchdog(|| {
        let (g1, g2) = (Gate::new(), Gate::new());
        let (c1, c2, c3) = (counter(), counter(), counter());
        let mut b = Disruptor::builder(4, || 0i64).single_producer().unwrap();
        let h1 = b.handle_events_with(delayed(&g1, &c1)).group();
        let h2 = b.handle_events_with(delayed(&g2, &c2)).group();
        let c3c = c3.clone();
        let joined: StageGroup = h1.union(&h2);
        b.after(&[&joined])
            .handle_events_with(move |_: &i64, _, _| {
                c3c.fetch_add(1, SeqCst);
            });
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 1).unwrap();
        g1.open();
        assert!(wait_until(10, || c1.load(SeqCst) == 1));
        settle();
        assert_eq!(c3.load(SeqCst), 0);
        g2.open();
        assert!(wait_until(10, || c3.load(SeqCst) == 1));
        d.shutdown().unwrap();
    });
}

#[test]
fn d_should_throw_exception_if_handler_is_not_already_consuming() {
    watchdog(|| {
        let mut other = Disruptor::builder(4, || 0i64).single_producer().unwrap();
        let foreign = other.handle_events_with(|_: &i64, _, _| {}).group();
        let mut b = Disruptor::builder(4, || 0i64).single_producer().unwrap();
        b.after(&[&foreign]).handle_events_with(|_: &i64, _, _| {});
        assert!(matches!(
            b.start().err(),
            Some(BuildError::ForeignStageGroup)
        ));
        assert!(matches!(
            Disruptor::builder(4, || 0i64)
                .single_producer()
                .unwrap()
                .poller_after(&[&foreign])
                .err(),
            Some(BuildError::ForeignStageGroup)
        ));
    });
}

/// LMAX's exception handler seeing (exception, sequence, event).
struct Collect(Mutex<Vec<(i64, i64, String)>>);
impl Collect {
    fn new() -> Arc<Self> {
        Arc::new(Collect(Mutex::new(Vec::new())))
    }
    fn got(&self) -> Vec<(i64, i64, String)> {
        self.0.lock().unwrap().clone()
    }
}
impl ExceptionHandler<i64> for Collect {
    fn handle_event_exception(&self, f: &HandlerFailure, seq: i64, e: &i64) -> ExceptionAction {
        self.0.lock().unwrap().push((seq, *e, f.to_string()));
        ExceptionAction::Continue
    }
}

#[test]
fn d_should_support_specifying_a_exception_handler_for_event_processors() {
    watchdog(|| {
        let eh = Collect::new();
        let mut b = Disruptor::builder(4, || 0i64)
            .exception_handler(eh.clone())
            .single_producer()
            .unwrap();
        b.handle_events_with(|e: &i64, _, _| {
            if *e == 7 {
                panic!("boom");
            }
        });
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 7).unwrap();
        p.publish(|e, _| *e = 8).unwrap();
        d.shutdown().unwrap();
        let got = eh.got();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].0, got[0].1), (0, 7));
        assert!(got[0].2.contains("boom"), "{got:?}");
    });
}

#[test]
fn d_should_apply_default_exception_handler_to_existing_event_processors() {
    watchdog(|| {
        let eh = Collect::new();
        let mut b = Disruptor::builder(4, || 0i64).single_producer().unwrap();
        b.handle_events_with(seqflow_pipeline::fallible(|e: &i64, _, _| {
            if *e == 3 {
                Err(EventError::msg("three"))
            } else {
                Ok(())
            }
        }));
        b.set_default_exception_handler(eh.clone()); // after the stage was added
        let (d, mut p) = b.start().unwrap();
        for i in 0..5 {
            p.publish(|e, _| *e = i).unwrap();
        }
        d.shutdown().unwrap();
        assert_eq!(
            eh.got().iter().map(|g| (g.0, g.1)).collect::<Vec<_>>(),
            vec![(3, 3)]
        );
    });
}

/// Control for the test above: the same with the default set before the stage is added.
#[test]
fn d_should_apply_default_exception_handler_set_before_adding_stage() {
    watchdog(|| {
        let eh = Collect::new();
        let mut b = Disruptor::builder(4, || 0i64).single_producer().unwrap();
        b.set_default_exception_handler(eh.clone());
        b.handle_events_with(seqflow_pipeline::fallible(|e: &i64, _, _| {
            if *e == 3 {
                Err(EventError::msg("three"))
            } else {
                Ok(())
            }
        }));
        let (d, mut p) = b.start().unwrap();
        for i in 0..5 {
            p.publish(|e, _| *e = i).unwrap();
        }
        d.shutdown().unwrap();
        assert_eq!(
            eh.got().iter().map(|g| (g.0, g.1)).collect::<Vec<_>>(),
            vec![(3, 3)]
        );
    });
}

#[test]
fn d_should_be_able_to_override_the_exception_handler_for_a_event_processor() {
    watchdog(|| {
        let default = Collect::new();
        let own = Collect::new();
        let mut b = Disruptor::builder(4, || 0i64)
            .exception_handler(default.clone())
            .single_producer()
            .unwrap();
        b.handle_events_with(|e: &i64, _, _| assert!(*e != 1, "one"))
            .exception_handler(own.clone());
        b.handle_events_with(|e: &i64, _, _| assert!(*e != 2, "two"));
        let (d, mut p) = b.start().unwrap();
        for i in 0..4 {
            p.publish(|e, _| *e = i).unwrap();
        }
        d.shutdown().unwrap();
        assert_eq!(own.got().iter().map(|g| g.1).collect::<Vec<_>>(), vec![1]);
        assert_eq!(
            default.got().iter().map(|g| g.1).collect::<Vec<_>>(),
            vec![2]
        );
    });
}

#[test]
fn d_should_block_producer_until_all_event_processors_have_advanced() {
    watchdog(|| {
        let gate = Gate::new();
        let c = counter();
        let mut b = Disruptor::builder(4, || 0i64).single_producer().unwrap();
        b.handle_events_with(delayed(&gate, &c));
        let (d, mut p) = b.start().unwrap();
        let published = counter();
        let pc = published.clone();
        let t = thread::spawn(move || {
            for i in 0..5 {
                p.publish(|e, _| *e = i).unwrap();
                pc.fetch_add(1, SeqCst);
            }
        });
        assert!(wait_until(10, || published.load(SeqCst) == 4));
        settle();
        assert_eq!(
            published.load(SeqCst),
            4,
            "producer overran the blocked processor"
        );
        gate.open();
        t.join().unwrap();
        d.shutdown().unwrap();
        assert_eq!(c.load(SeqCst), 5);
    });
}

fn counting_processor<S: Sequencer>(
    c: Arc<AtomicI64>,
    gate: Option<Gate>,
) -> impl FnOnce(Poller<i64, S>) + Send + 'static {
    move |mut poller: Poller<i64, S>| loop {
        match poller.poll(|_, _, _| {
            if let Some(g) = &gate {
                g.wait();
            }
            c.fetch_add(1, SeqCst);
        }) {
            Ok(0) => thread::yield_now(),
            Ok(_) => {}
            Err(PollError::Alerted) => return,
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn d_should_support_custom_processors_as_dependencies() {
    watchdog(|| {
        let gate = Gate::new();
        let (c1, c2) = (counter(), counter());
        let mut b = Disruptor::builder(4, || 0i64).single_producer().unwrap();
        let custom = b
            .handle_events_with_processor(counting_processor(c1.clone(), Some(gate.clone())))
            .group();
        let c2c = c2.clone();
        b.after(&[&custom])
            .handle_events_with(move |_: &i64, _, _| {
                c2c.fetch_add(1, SeqCst);
            });
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 1).unwrap();
        settle();
        assert_eq!(c2.load(SeqCst), 0);
        gate.open();
        assert!(wait_until(10, || c2.load(SeqCst) == 1));
        d.shutdown().unwrap();
        assert_eq!(c1.load(SeqCst), 1);
    });
}

#[test]
fn d_should_support_handlers_as_dependencies_to_custom_processors() {
    watchdog(|| {
        let gate = Gate::new();
        let (c1, c2) = (counter(), counter());
        let mut b = Disruptor::builder(4, || 0i64).single_producer().unwrap();
        b.handle_events_with(delayed(&gate, &c1))
            .then_processor(counting_processor(c2.clone(), None));
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 1).unwrap();
        settle();
        assert_eq!(c2.load(SeqCst), 0);
        gate.open();
        assert!(wait_until(10, || c2.load(SeqCst) == 1));
        d.shutdown().unwrap();
    });
}

#[test]
fn d_should_support_custom_processors_and_handlers_as_dependencies() {
    watchdog(|| {
        let (g1, g2) = (Gate::new(), Gate::new());
        let (c1, c2, c3) = (counter(), counter(), counter());
        let mut b = Disruptor::builder(4, || 0i64).single_producer().unwrap();
        let h = b.handle_events_with(delayed(&g1, &c1)).group();
        let custom = b
            .handle_events_with_processor(counting_processor(c2.clone(), Some(g2.clone())))
            .group();
        let c3c = c3.clone();
        b.after(&[&h, &custom])
            .handle_events_with(move |_: &i64, _, _| {
                c3c.fetch_add(1, SeqCst);
            });
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 1).unwrap();
        g1.open();
        assert!(wait_until(10, || c1.load(SeqCst) == 1));
        settle();
        assert_eq!(c3.load(SeqCst), 0);
        g2.open();
        assert!(wait_until(10, || c3.load(SeqCst) == 1));
        d.shutdown().unwrap();
    });
}

#[test]
fn d_should_make_entries_available_to_first_custom_processors_immediately() {
    watchdog(|| {
        let c = counter();
        let mut b = Disruptor::builder(4, || 0i64)
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        b.handle_events_with_processor(counting_processor(c.clone(), None));
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 1).unwrap();
        assert!(wait_until(10, || c.load(SeqCst) == 1));
        d.shutdown().unwrap();
    });
}

#[test]
fn d_should_provide_events_to_work_handlers() {
    watchdog(|| {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let s = seen.clone();
                move |e: &i64, _: i64, _: bool| s.lock().unwrap().push((w, *e))
            })
            .collect();
        let mut b = Disruptor::builder(16, || 0i64).single_producer().unwrap();
        b.handle_events_with_worker_pool(workers);
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 10).unwrap();
        p.publish(|e, _| *e = 20).unwrap();
        d.shutdown().unwrap();
        let mut vals: Vec<i64> = seen.lock().unwrap().iter().map(|x| x.1).collect();
        vals.sort();
        assert_eq!(vals, vec![10, 20]);
    });
}

#[test]
fn d_should_support_using_worker_pool_as_dependency() {
    watchdog(|| {
        let (pool_c, after_c) = (counter(), counter());
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let c = pool_c.clone();
                move |_: &i64, _: i64, _: bool| {
                    c.fetch_add(1, SeqCst);
                }
            })
            .collect();
        let ac = after_c.clone();
        let pc = pool_c.clone();
        let mut b = Disruptor::builder(16, || 0i64).single_producer().unwrap();
        b.handle_events_with_worker_pool(workers)
            .then(move |_: &i64, seq: i64, _| {
                // Every event up to this one has been handled by the pool.
                assert!(pc.load(SeqCst) > seq);
                ac.fetch_add(1, SeqCst);
            });
        let (d, mut p) = b.start().unwrap();
        for i in 0..50 {
            p.publish(|e, _| *e = i).unwrap();
        }
        d.shutdown().unwrap();
        assert_eq!((pool_c.load(SeqCst), after_c.load(SeqCst)), (50, 50));
    });
}

#[test]
fn d_should_handle_exception_thrown_in_worker_pool() {
    watchdog(|| {
        let eh = Collect::new();
        let workers: Vec<_> = (0..2)
            .map(|_| |e: &i64, _: i64, _: bool| assert!(*e != 5, "five"))
            .collect();
        let mut b = Disruptor::builder(16, || 0i64).single_producer().unwrap();
        b.handle_events_with_worker_pool(workers)
            .exception_handler(eh.clone());
        let (d, mut p) = b.start().unwrap();
        for i in 0..10 {
            p.publish(|e, _| *e = i).unwrap();
        }
        d.shutdown().unwrap();
        assert_eq!(
            eh.got().iter().map(|g| (g.0, g.1)).collect::<Vec<_>>(),
            vec![(5, 5)]
        );
    });
}

/// LMAX shouldSupportUsingWorkerPoolAsDependencyAndProcessFirstEventAsSoonAsItIsAvailable:
/// the stage after a pool sees event 0 as soon as the worker holding it is done, even while
/// another worker is still busy with event 1.
#[test]
fn d_should_support_using_worker_pool_as_dependency_and_process_first_event_as_soon_as_it_is_available(
) {
    watchdog(|| {
        let gates = [Gate::new(), Gate::new()];
        let who = Arc::new(Mutex::new(Vec::<(i64, usize)>::new()));
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let gates = gates.clone();
                let who = who.clone();
                move |_: &i64, seq: i64, _: bool| {
                    who.lock().unwrap().push((seq, w));
                    gates[w].wait();
                }
            })
            .collect();
        let after = log();
        let mut b = Disruptor::builder(16, || 0i64).single_producer().unwrap();
        b.handle_events_with_worker_pool(workers)
            .then(recorder(&after));
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 0).unwrap();
        p.publish(|e, _| *e = 1).unwrap();
        assert!(
            wait_until(10, || who.lock().unwrap().len() == 2),
            "both workers busy"
        );
        let holder_of_0 = who.lock().unwrap().iter().find(|x| x.0 == 0).unwrap().1;
        gates[holder_of_0].open();
        assert!(
            wait_until(10, || snapshot(&after) == vec![0]),
            "dependent did not see event 0: {:?}",
            snapshot(&after)
        );
        settle();
        assert_eq!(snapshot(&after), vec![0]);
        gates[1 - holder_of_0].open();
        assert!(wait_until(10, || snapshot(&after) == vec![0, 1]));
        d.shutdown().unwrap();
    });
}

#[test]
fn d_should_throw_timeout_exception_if_shutdown_does_not_complete_normally() {
    watchdog(|| {
        let gate = Gate::new();
        let c = counter();
        let mut b = Disruptor::builder(8, || 0i64).single_producer().unwrap();
        b.handle_events_with(delayed(&gate, &c));
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 1).unwrap();
        p.publish(|e, _| *e = 2).unwrap();
        let r = d.shutdown_timeout(Duration::from_millis(50));
        assert!(
            matches!(r, Err(ShutdownError::Timeout { unprocessed }) if unprocessed >= 1),
            "{r:?}"
        );
        gate.open();
    });
}

#[test]
fn d_should_track_remaining_capacity() {
    watchdog(|| {
        let remaining = Arc::new(AtomicI64::new(-1));
        let mut b = Disruptor::builder(4, || 0i64).single_producer().unwrap();
        let seqr = b.sequencer().clone();
        let r = remaining.clone();
        b.handle_events_with(move |_: &i64, _, _| {
            r.store(seqr.remaining_capacity() as i64, SeqCst)
        });
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 1).unwrap();
        assert!(wait_until(10, || remaining.load(SeqCst) != -1));
        assert_eq!(
            remaining.load(SeqCst),
            3,
            "inside the handler: bufferSize - 1"
        );
        assert!(wait_until(10, || d.metrics().remaining_capacity == 4));
        assert_eq!(d.sequencer().remaining_capacity(), 4);
        d.shutdown().unwrap();
    });
}

#[test]
fn d_should_honour_dependencies_for_custom_processors() {
    watchdog(|| {
        let gate = Gate::new();
        let (c1, c2) = (counter(), counter());
        let mut b = Disruptor::builder(4, || 0i64).single_producer().unwrap();
        let first = b.handle_events_with(delayed(&gate, &c1)).group();
        b.after(&[&first])
            .and_processor(counting_processor(c2.clone(), None));
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 1).unwrap();
        settle();
        assert_eq!(c2.load(SeqCst), 0);
        gate.open();
        assert!(wait_until(10, || c2.load(SeqCst) == 1));
        d.shutdown().unwrap();
    });
}

/// LMAX RewindBatchEventProcessorTest: rewind once in the middle of a batch.
#[test]
fn d_should_rewind_on_event_in_middle_of_batch() {
    watchdog(|| {
        struct Rewinding {
            l: Log,
            done: bool,
        }
        impl EventHandler<i64> for Rewinding {
            fn on_event(&mut self, _: &i64, _: i64, _: bool) {}
            fn try_on_event(&mut self, _: &i64, seq: i64, _: bool) -> Result<(), EventError> {
                self.l.lock().unwrap().push(seq);
                if seq == 5 && !self.done {
                    self.done = true;
                    return Err(EventError::Rewind);
                }
                Ok(())
            }
        }
        let l = log();
        let mut b = Disruptor::builder(16, || 0i64).single_producer().unwrap();
        b.handle_events_with(Rewinding {
            l: l.clone(),
            done: false,
        })
        .rewind_policy(RewindPolicy::up_to(3));
        b.publish_before_start(|p| p.publish_batch(10, |e, s| *e = s).unwrap())
            .unwrap();
        let (d, _p) = b.start().unwrap();
        d.shutdown().unwrap();
        let mut expected: Vec<i64> = (0..=5).collect();
        expected.extend(0..10);
        assert_eq!(snapshot(&l), expected);
    });
}

/// LMAX EventuallyGiveUpBatchRewindStrategy: after N attempts the exception handler decides.
#[test]
fn d_should_eventually_give_up_rewinding() {
    watchdog(|| {
        let eh = Collect::new();
        let attempts = counter();
        let a = attempts.clone();
        let mut b = Disruptor::builder(16, || 0i64).single_producer().unwrap();
        b.handle_events_with(seqflow_pipeline::fallible(move |_: &i64, seq: i64, _| {
            if seq == 3 {
                a.fetch_add(1, SeqCst);
                return Err(EventError::Rewind);
            }
            Ok(())
        }))
        .rewind_policy(RewindPolicy::up_to(2))
        .exception_handler(eh.clone());
        b.publish_before_start(|p| p.publish_batch(5, |e, s| *e = s).unwrap())
            .unwrap();
        let (d, _p) = b.start().unwrap();
        d.shutdown().unwrap();
        assert_eq!(attempts.load(SeqCst), 3, "first try + 2 replays");
        let got = eh.got();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, 3);
    });
}

// ============================ BatchEventProcessorTest =========================================

#[test]
fn b_should_call_methods_in_lifecycle_order_for_batch() {
    watchdog(|| {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let c = calls.clone();
        let mut b = Disruptor::builder(16, || 0i64).single_producer().unwrap();
        b.handle_events_with(move |e: &i64, seq, eob| c.lock().unwrap().push((*e, seq, eob)));
        b.publish_before_start(|p| {
            for i in 0..3 {
                p.try_publish(|e, _| *e = i * 10).unwrap();
            }
        })
        .unwrap();
        let (d, _p) = b.start().unwrap();
        d.shutdown().unwrap();
        assert_eq!(
            *calls.lock().unwrap(),
            vec![(0, 0, false), (10, 1, false), (20, 2, true)]
        );
    });
}

#[test]
fn b_should_call_exception_handler_on_uncaught_exception() {
    watchdog(|| {
        let eh = Collect::new();
        let mut b = Disruptor::builder(16, || 0i64).single_producer().unwrap();
        b.handle_events_with(|_: &i64, _, _| panic!("uncaught"))
            .exception_handler(eh.clone());
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 42).unwrap();
        d.shutdown().unwrap();
        let got = eh.got();
        assert_eq!((got[0].0, got[0].1), (0, 42));
        assert!(got[0].2.contains("uncaught"));
    });
}

struct BatchSizes {
    sizes: Arc<Mutex<Vec<(i64, i64)>>>,
    eobs: Log,
}
impl EventHandler<i64> for BatchSizes {
    fn on_event(&mut self, _: &i64, seq: i64, eob: bool) {
        if eob {
            self.eobs.lock().unwrap().push(seq);
        }
    }
    fn on_batch_start(&mut self, batch_size: i64, queue_depth: i64) {
        self.sizes.lock().unwrap().push((batch_size, queue_depth));
    }
}

#[test]
fn b_should_report_accurate_batch_sizes_at_batch_start_time() {
    watchdog(|| {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let mut b = Disruptor::builder(16, || 0i64).single_producer().unwrap();
        b.handle_events_with(BatchSizes {
            sizes: sizes.clone(),
            eobs: log(),
        });
        b.publish_before_start(|p| {
            for i in 0..3 {
                p.try_publish(|e, _| *e = i).unwrap();
            }
        })
        .unwrap();
        let (d, _p) = b.start().unwrap();
        d.shutdown().unwrap();
        assert_eq!(*sizes.lock().unwrap(), vec![(3, 3)]);
    });
}

#[test]
fn b_should_limit_max_batch_size() {
    watchdog(|| {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let eobs = log();
        let mut b = Disruptor::builder(16, || 0i64).single_producer().unwrap();
        b.handle_events_with(BatchSizes {
            sizes: sizes.clone(),
            eobs: eobs.clone(),
        })
        .max_batch_size(5);
        b.publish_before_start(|p| p.publish_batch(15, |e, s| *e = s).unwrap())
            .unwrap();
        let (d, _p) = b.start().unwrap();
        d.shutdown().unwrap();
        assert_eq!(
            sizes
                .lock()
                .unwrap()
                .iter()
                .map(|s| s.0)
                .collect::<Vec<_>>(),
            vec![5, 5, 5]
        );
        assert_eq!(snapshot(&eobs), vec![4, 9, 14]);
    });
}

#[test]
fn b_should_not_pass_zero_size_to_batch_start_aware() {
    watchdog(|| {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let mut b = Disruptor::builder(16, || 0i64)
            .wait_strategy(BlockingWait::default())
            .single_producer()
            .unwrap();
        b.handle_events_with(BatchSizes {
            sizes: sizes.clone(),
            eobs: log(),
        })
        .timeout(Duration::from_millis(1));
        let (d, mut p) = b.start().unwrap();
        for i in 0..30 {
            p.publish(|e, _| *e = i).unwrap();
            if i % 7 == 0 {
                thread::sleep(Duration::from_millis(3));
            }
        }
        d.shutdown().unwrap();
        let s = sizes.lock().unwrap().clone();
        assert!(s.iter().all(|&(n, q)| n > 0 && q >= n), "{s:?}");
        assert_eq!(s.iter().map(|x| x.0).sum::<i64>(), 30);
    });
}

#[test]
fn b_should_always_halt() {
    watchdog(|| {
        for strategy in 0..3 {
            let stopped = counter();
            struct H(Arc<AtomicI64>);
            impl EventHandler<i64> for H {
                fn on_event(&mut self, _: &i64, _: i64, _: bool) {}
                fn on_shutdown(&mut self) {
                    self.0.fetch_add(1, SeqCst);
                }
            }
            macro_rules! run {
                ($w:expr) => {{
                    let mut b = Disruptor::builder(8, || 0i64)
                        .wait_strategy($w)
                        .single_producer()
                        .unwrap();
                    b.handle_events_with(H(stopped.clone()));
                    let (d, _p) = b.start().unwrap();
                    d.halt().unwrap();
                }};
            }
            match strategy {
                0 => run!(BlockingWait::default()),
                1 => run!(SleepingWait::default()),
                _ => run!(YieldingWait::default()),
            }
            assert_eq!(stopped.load(SeqCst), 1);
        }
    });
}

/// LMAX TimeoutTest: onTimeout is called with the last processed sequence.
#[test]
fn b_should_call_on_timeout() {
    watchdog(|| {
        struct T(Arc<Mutex<Vec<i64>>>);
        impl EventHandler<i64> for T {
            fn on_event(&mut self, _: &i64, _: i64, _: bool) {}
            fn on_timeout(&mut self, seq: i64) {
                self.0.lock().unwrap().push(seq);
            }
        }
        let l = log();
        let mut b = Disruptor::builder(8, || 0i64)
            .wait_strategy(BlockingWait::default())
            .single_producer()
            .unwrap();
        b.handle_events_with(T(l.clone()))
            .timeout(Duration::from_millis(5));
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 1).unwrap();
        assert!(wait_until(10, || snapshot(&l).contains(&0)));
        d.shutdown().unwrap();
        assert!(snapshot(&l).iter().all(|&s| s == -1 || s == 0));
    });
}

// ============================ SequenceBarrierTest =============================================

fn sp_with(
    n: i64,
) -> (
    Arc<SingleProducerSequencer<YieldingWait>>,
    seqflow_sequencer::SingleClaimer<YieldingWait>,
) {
    let s = SingleProducerSequencer::new(64, YieldingWait::default(), 4).unwrap();
    let mut c = s.claimer().unwrap();
    if n > 0 {
        let r = c.claim(n as usize).unwrap();
        c.publish(r).unwrap();
    }
    (s, c)
}
fn dep(
    v: i64,
) -> (
    OwnedRef<Sequence>,
    OwnedRef<seqflow_sequence::ReadOnlySequence>,
) {
    let s = OwnedRef::new(Sequence::new(v));
    let ro = s.clone().map(|s| s.read_only());
    (s, ro)
}

#[test]
fn sb_should_wait_for_work_complete_where_complete_work_threshold_is_ahead() {
    watchdog(|| {
        let (s, _c) = sp_with(64); // 0..=63 published
        let deps: Vec<_> = (0..3).map(|_| dep(63)).collect();
        let barrier =
            SequenceBarrier::new(s, deps.iter().map(|d| d.1.clone()).collect(), Alert::new());
        assert_eq!(barrier.wait_for(60, None), Ok(63));
    });
}

#[test]
fn sb_should_wait_for_work_complete_where_all_workers_are_blocked_on_ring_buffer() {
    watchdog(|| {
        let (s, _c) = sp_with(64);
        let deps: Vec<_> = (0..3).map(|_| dep(62)).collect();
        let barrier =
            SequenceBarrier::new(s, deps.iter().map(|d| d.1.clone()).collect(), Alert::new());
        let writers: Vec<_> = deps.iter().map(|d| d.0.clone()).collect();
        let t = thread::spawn(move || {
            thread::sleep(Duration::from_millis(5));
            for w in writers {
                w.set(63);
            }
        });
        assert_eq!(barrier.wait_for(63, Some(Duration::from_secs(10))), Ok(63));
        t.join().unwrap();
    });
}

#[test]
fn sb_should_interrupt_during_wait() {
    watchdog(|| {
        let (s, _c) = sp_with(64);
        let deps: Vec<_> = (0..3).map(|_| dep(62)).collect();
        let alert = Alert::new();
        let barrier =
            SequenceBarrier::new(s, deps.iter().map(|d| d.1.clone()).collect(), alert.clone());
        let t = thread::spawn(move || {
            thread::sleep(Duration::from_millis(5));
            alert.raise();
        });
        assert_eq!(
            barrier.wait_for(63, Some(Duration::from_secs(10))),
            Err(WaitError::Alerted)
        );
        t.join().unwrap();
    });
}

#[test]
fn sb_should_wait_for_work_complete_where_complete_work_threshold_is_behind() {
    watchdog(|| {
        let (s, _c) = sp_with(64);
        let deps: Vec<_> = (0..3).map(|_| dep(50)).collect();
        let barrier =
            SequenceBarrier::new(s, deps.iter().map(|d| d.1.clone()).collect(), Alert::new());
        let writers: Vec<_> = deps.iter().map(|d| d.0.clone()).collect();
        let t = thread::spawn(move || {
            for v in 51..=63 {
                for w in &writers {
                    w.set(v);
                }
                thread::yield_now();
            }
        });
        assert_eq!(barrier.wait_for(63, Some(Duration::from_secs(10))), Ok(63));
        t.join().unwrap();
    });
}

#[test]
fn sb_should_set_and_clear_alert_status() {
    watchdog(|| {
        let (s, _c) = sp_with(0);
        let alert = Alert::new();
        let barrier = SequenceBarrier::new(s, vec![], alert.clone());
        assert!(!barrier.alert().is_raised());
        alert.raise();
        assert!(barrier.alert().is_raised());
        assert_eq!(
            barrier.wait_for(0, Some(Duration::from_millis(5))),
            Err(WaitError::Alerted)
        );
        alert.clear();
        assert!(!barrier.alert().is_raised());
        assert_eq!(
            barrier.wait_for(0, Some(Duration::from_millis(5))),
            Err(WaitError::Timeout)
        );
    });
}

// ============================ RingBufferTest ==================================================

#[test]
fn rb_should_claim_and_get() {
    watchdog(|| {
        let mut b = Disruptor::builder(32, || -1i64).single_producer().unwrap();
        let mut poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        assert_eq!(d.metrics().published, -1);
        let seq = p.publish(|e, seq| *e = seq + 2701).unwrap();
        assert_eq!(seq, 0);
        let upto = poller.wait_for(0, Some(Duration::from_secs(5))).unwrap();
        assert_eq!(upto, 0);
        assert_eq!(*poller.get(0).unwrap(), 2701);
        assert_eq!(d.metrics().published, 0);
        poller.update_sequence(0).unwrap();
        drop(poller);
        d.shutdown().unwrap();
    });
}

#[test]
fn rb_should_claim_and_get_in_separate_thread() {
    watchdog(|| {
        let mut b = Disruptor::builder(32, || -1i64).single_producer().unwrap();
        let mut poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        let t = thread::spawn(move || {
            let upto = poller.wait_for(0, Some(Duration::from_secs(10))).unwrap();
            let v = *poller.get(0).unwrap();
            poller.update_sequence(upto).unwrap();
            v
        });
        p.publish(|e, _| *e = 2701).unwrap();
        assert_eq!(t.join().unwrap(), 2701);
        d.shutdown().unwrap();
    });
}

#[test]
fn rb_should_claim_and_get_multiple_messages() {
    watchdog(|| {
        let mut b = Disruptor::builder(32, || -1i64).single_producer().unwrap();
        let mut poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        for i in 0..32 {
            p.publish(|e, _| *e = i).unwrap();
        }
        let upto = poller.wait_for(31, Some(Duration::from_secs(5))).unwrap();
        assert_eq!(upto, 31);
        for i in 0..32 {
            assert_eq!(*poller.get(i).unwrap(), i);
        }
        poller.update_sequence(31).unwrap();
        drop(poller);
        d.shutdown().unwrap();
    });
}

#[test]
fn rb_should_wrap() {
    watchdog(|| {
        let mut b = Disruptor::builder(32, || -1i64).single_producer().unwrap();
        let mut poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        let offset = 1000;
        for i in 0..(32 + offset) {
            p.publish(|e, _| *e = i).unwrap();
            poller.poll(|_, _, _| {}).unwrap(); // keep up, so the ring wraps
        }
        let expected = 32 + offset - 1;
        // the last event is still readable
        let got = {
            let mut last = -1;
            poller.poll(|e, _, _| last = *e).unwrap();
            last
        };
        assert!(got == -1 || got == expected);
        assert_eq!(d.metrics().published, expected);
        drop(poller);
        d.shutdown().unwrap();
    });
}

#[test]
fn rb_should_prevent_wrapping() {
    watchdog(|| {
        let mut b = Disruptor::builder(4, || -1i64).single_producer().unwrap();
        let poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        for i in 0..4 {
            p.publish(|e, _| *e = i).unwrap();
        }
        assert!(!p.has_available_capacity(1));
        assert!(matches!(
            p.try_publish(|e, _| *e = 4),
            Err(ClaimError::Full {
                requested: 1,
                free: 0
            })
        ));
        assert_eq!(
            p.publish_timeout(Duration::from_millis(10), |e, _| *e = 4),
            Err(ClaimError::Timeout { requested: 1 })
        );
        drop(poller);
        d.shutdown().unwrap();
    });
}

#[test]
fn rb_should_prevent_publishers_overtaking_event_processor_wrap_point() {
    watchdog(|| {
        let mut b = Disruptor::builder(4, || -1i64).single_producer().unwrap();
        let mut poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        let published = counter();
        let pc = published.clone();
        let t = thread::spawn(move || {
            for i in 0..=4 {
                p.publish(|e, _| *e = i).unwrap();
                pc.fetch_add(1, SeqCst);
            }
            p
        });
        assert!(wait_until(10, || published.load(SeqCst) == 4));
        settle();
        assert_eq!(published.load(SeqCst), 4);
        assert_eq!(poller.poll(|_, _, _| {}).unwrap(), 4);
        let p = t.join().unwrap();
        assert_eq!(published.load(SeqCst), 5);
        drop((p, poller));
        d.shutdown().unwrap();
    });
}

/// Translators: one, two, three and var args, as closures capturing the arguments.
#[test]
fn rb_should_publish_event_with_translator_variants() {
    watchdog(|| {
        #[derive(Default, Clone, Debug, PartialEq)]
        struct Ev {
            s: String,
        }
        let mut b = Disruptor::builder(16, Ev::default)
            .single_producer()
            .unwrap();
        let mut poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        let translate =
            |e: &mut Ev, seq: i64, args: &[&str]| e.s = format!("{}-{}", args.join(""), seq);
        p.publish(|e, s| translate(e, s, &[])).unwrap();
        p.publish(|e, s| translate(e, s, &["Foo"])).unwrap();
        p.publish(|e, s| translate(e, s, &["Foo", "Bar"])).unwrap();
        p.publish(|e, s| translate(e, s, &["Foo", "Bar", "Baz"]))
            .unwrap();
        p.publish(|e, s| translate(e, s, &["Foo", "Bar", "Baz", "Bam"]))
            .unwrap();
        assert!(p.try_publish(|e, s| translate(e, s, &["Try"])).is_ok());
        let mut got = Vec::new();
        poller.poll(|e, _, _| got.push(e.s.clone())).unwrap();
        assert_eq!(
            got,
            vec![
                "-0",
                "Foo-1",
                "FooBar-2",
                "FooBarBaz-3",
                "FooBarBazBam-4",
                "Try-5"
            ]
        );
        drop(poller);
        d.shutdown().unwrap();
    });
}

/// publishEvents(translator, batchStartsAt, batchSize, args...).
#[test]
fn rb_should_publish_events_within_batch_with_offsets() {
    watchdog(|| {
        let mut b = Disruptor::builder(16, || -1i64).single_producer().unwrap();
        let mut poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        let args = [10i64, 11, 12, 13, 14, 15];
        let (starts_at, size) = (1usize, 3usize);
        let r = p
            .publish_batch(size, |e, seq| *e = args[starts_at + (seq as usize)])
            .unwrap();
        assert_eq!((r.start(), r.end()), (0, 2));
        // with a claim guard and try_claim
        {
            let mut g = p.try_claim(2).unwrap();
            for (i, e) in g.iter_mut().enumerate() {
                *e = args[4 + i];
            }
        }
        let mut got = Vec::new();
        poller.poll(|e, _, _| got.push(*e)).unwrap();
        assert_eq!(got, vec![11, 12, 13, 14, 15]);
        drop(poller);
        d.shutdown().unwrap();
    });
}

#[test]
fn rb_should_not_publish_events_if_batch_is_larger_than_ring_buffer_or_zero() {
    watchdog(|| {
        let mut b = Disruptor::builder(4, || -1i64).single_producer().unwrap();
        let poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        assert_eq!(
            p.publish_batch(5, |_, _| {}).err(),
            Some(ClaimError::TooLarge {
                requested: 5,
                capacity: 4
            })
        );
        assert_eq!(
            p.try_claim(5).err(),
            Some(ClaimError::TooLarge {
                requested: 5,
                capacity: 4
            })
        );
        assert_eq!(p.publish_batch(0, |_, _| {}).err(), Some(ClaimError::Zero));
        assert_eq!(d.metrics().published, -1);
        assert_eq!(d.metrics().claimed, -1);
        drop(poller);
        d.shutdown().unwrap();
    });
}

#[test]
fn rb_should_try_publish_events_when_full_returns_false() {
    watchdog(|| {
        let mut b = Disruptor::builder(4, || -1i64)
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        let poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        assert!(p.try_claim(4).is_ok());
        assert!(matches!(p.try_claim(1), Err(ClaimError::Full { .. })));
        assert!(matches!(
            p.try_publish(|_, _| {}),
            Err(ClaimError::Full { .. })
        ));
        drop(poller);
        d.shutdown().unwrap();
    });
}

#[test]
fn rb_should_add_and_remove_sequences() {
    watchdog(|| {
        let (d, mut p) = Disruptor::builder(4, || -1i64)
            .single_producer()
            .unwrap()
            .start()
            .unwrap();
        let mut poller = d.poller().unwrap(); // addGatingSequences
        for i in 0..4 {
            p.publish(|e, _| *e = i).unwrap();
        }
        assert!(matches!(
            p.try_publish(|_, _| {}),
            Err(ClaimError::Full { .. })
        ));
        assert_eq!(poller.poll(|_, _, _| {}).unwrap(), 4);
        assert!(p.try_publish(|_, _| {}).is_ok());
        drop(poller); // removeGatingSequence
        for i in 0..20 {
            p.try_publish(|e, _| *e = i)
                .expect("no gating sequence left");
        }
        d.shutdown().unwrap();
    });
}

#[test]
fn rb_remaining_capacity_and_has_available_capacity() {
    watchdog(|| {
        let mut b = Disruptor::builder(16, || -1i64).single_producer().unwrap();
        let mut poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        assert!(p.has_available_capacity(16));
        assert!(!p.has_available_capacity(17));
        assert_eq!(d.sequencer().remaining_capacity(), 16);
        p.publish_batch(5, |e, s| *e = s).unwrap();
        assert_eq!(d.sequencer().remaining_capacity(), 11);
        assert_eq!(d.metrics().remaining_capacity, 11);
        assert!(p.has_available_capacity(11));
        assert!(!p.has_available_capacity(12));
        poller.wait_for(0, Some(Duration::from_secs(1))).unwrap();
        poller.update_sequence(1).unwrap();
        assert_eq!(d.sequencer().remaining_capacity(), 13);
        drop(poller);
        d.shutdown().unwrap();
    });
}

/// claimAndGetPreallocated(sequence) / resetTo: start numbering at a chosen sequence.
#[test]
fn rb_should_set_at_specific_sequence() {
    watchdog(|| {
        let mut b = Disruptor::builder(4, || -1i64).single_producer().unwrap();
        let mut poller = b.poller().unwrap();
        b.start_at(31).unwrap();
        let (d, mut p) = b.start().unwrap();
        assert_eq!(p.publish(|e, s| *e = s).unwrap(), 31);
        assert_eq!(
            poller.wait_for(31, Some(Duration::from_secs(1))).unwrap(),
            31
        );
        assert_eq!(*poller.get(31).unwrap(), 31);
        assert_eq!(d.metrics().published, 31);
        poller.update_sequence(31).unwrap();
        drop(poller);
        d.shutdown().unwrap();
    });
}

/// LMAX publishes the slot even when the translator throws.
#[test]
fn rb_should_publish_even_when_translator_panics() {
    watchdog(|| {
        let mut b = Disruptor::builder(4, || -1i64).single_producer().unwrap();
        let mut poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = p.publish(|e, _| {
                *e = 5;
                panic!("translator");
            });
        }));
        assert!(r.is_err());
        assert_eq!(p.publish(|e, _| *e = 6).unwrap(), 1);
        let mut got = Vec::new();
        poller.poll(|e, s, _| got.push((s, *e))).unwrap();
        assert_eq!(got, vec![(0, 5), (1, 6)]);
        drop(poller);
        d.shutdown().unwrap();
    });
}

/// RingBuffer.create / createSingleProducer / createMultiProducer with each wait strategy.
#[test]
fn rb_new_instance_variants() {
    watchdog_secs(60, || {
        fn run<S: seqflow_pipeline::ProducerSequencer>(
            mut b: seqflow_pipeline::DisruptorBuilder<u64, S>,
        ) {
            let sum = Arc::new(AtomicU64::new(0));
            let s = sum.clone();
            b.handle_events_with(move |e: &u64, _, _| {
                s.fetch_add(*e, SeqCst);
            });
            let (d, mut p) = b.start().unwrap();
            for i in 1..=200 {
                p.publish(|e, _| *e = i).unwrap();
            }
            drop(p);
            d.shutdown().unwrap();
            assert_eq!(sum.load(SeqCst), 200 * 201 / 2);
        }
        macro_rules! all {
            ($w:expr) => {{
                run(Disruptor::builder(16, || 0u64)
                    .wait_strategy($w)
                    .single_producer()
                    .unwrap());
                run(Disruptor::builder(16, || 0u64)
                    .wait_strategy($w)
                    .multi_producer(MultiProducerMode::Cas)
                    .unwrap());
                run(Disruptor::builder(16, || 0u64)
                    .wait_strategy($w)
                    .multi_producer(MultiProducerMode::Lock)
                    .unwrap());
            }};
        }
        all!(YieldingWait::default());
        all!(BlockingWait::default());
        all!(SleepingWait::default());
        all!(BusySpinWait); // one stage + this thread: 2 threads on 2 cores
        all!(PhasedBackoffWait::with_lock(
            Duration::from_micros(10),
            Duration::from_micros(50)
        ));
        all!(PhasedBackoffWait::with_sleep(
            Duration::from_micros(10),
            Duration::from_micros(50)
        ));
    });
}

// ============================ MultiProducerSequencerTest ======================================

#[test]
fn mps_should_only_allow_messages_to_be_available_if_specifically_published() {
    watchdog(|| {
        let s =
            MultiProducerSequencer::new(1024, YieldingWait::default(), MultiProducerMode::Cas, 4)
                .unwrap();
        let mut claimers: Vec<_> = (0..7).map(|_| s.claimer()).collect();
        let ranges: Vec<_> = claimers.iter_mut().map(|c| c.claim(1).unwrap()).collect();
        assert_eq!(
            ranges.iter().map(|r| r.start()).collect::<Vec<_>>(),
            (0..7).collect::<Vec<_>>()
        );
        claimers[3].publish(ranges[3]).unwrap();
        claimers[5].publish(ranges[5]).unwrap();
        for i in 0..7 {
            assert_eq!(s.is_available(i), i == 3 || i == 5, "seq {i}");
        }
        assert_eq!(s.published(), -1);
        for i in [0, 1, 2, 4, 6] {
            claimers[i].publish(ranges[i]).unwrap();
        }
        assert_eq!(s.published(), 6);
    });
}

#[test]
fn mps_claimer_cannot_publish_what_it_did_not_claim() {
    watchdog(|| {
        let s = MultiProducerSequencer::new(64, YieldingWait::default(), MultiProducerMode::Cas, 4)
            .unwrap();
        let (mut a, mut b) = (s.claimer(), s.claimer());
        let ra = a.claim(2).unwrap();
        let _rb = b.claim(1).unwrap();
        assert!(b.publish(ra).is_err());
        a.publish(ra).unwrap();
    });
}

// ============================ WorkerPoolTest ==================================================

#[test]
fn wp_should_process_each_message_by_only_one_worker() {
    watchdog(|| {
        let n = 2000usize;
        let seen: Arc<Vec<AtomicUsize>> = Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect());
        let per: Vec<Arc<AtomicI64>> = (0..3).map(|_| counter()).collect();
        let workers: Vec<_> = (0..3)
            .map(|w| {
                let seen = seen.clone();
                let c = per[w].clone();
                move |e: &i64, _: i64, _: bool| {
                    seen[*e as usize].fetch_add(1, SeqCst);
                    c.fetch_add(1, SeqCst);
                }
            })
            .collect();
        let mut b = Disruptor::builder(64, || 0i64)
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        b.handle_events_with_worker_pool(workers);
        let (d, mut p) = b.start().unwrap();
        for i in 0..n {
            p.publish(|e, _| *e = i as i64).unwrap();
        }
        d.shutdown().unwrap();
        assert!(seen.iter().all(|c| c.load(SeqCst) == 1));
        assert_eq!(per.iter().map(|c| c.load(SeqCst)).sum::<i64>(), n as i64);
    });
}

#[test]
fn wp_should_process_only_once_it_has_been_published() {
    watchdog(|| {
        let c = counter();
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let c = c.clone();
                move |_: &i64, _: i64, _: bool| {
                    c.fetch_add(1, SeqCst);
                }
            })
            .collect();
        let mut b = Disruptor::builder(64, || 0i64)
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        b.handle_events_with_worker_pool(workers);
        let (d, mut p) = b.start().unwrap();
        {
            let _claimed = p.claim(2).unwrap(); // claimed, not yet published
            settle();
            assert_eq!(c.load(SeqCst), 0);
        }
        assert!(wait_until(10, || c.load(SeqCst) == 2));
        d.shutdown().unwrap();
    });
}

// ============================ EventPollerTest =================================================

#[test]
fn ep_should_poll_for_events() {
    watchdog(|| {
        let mut b = Disruptor::builder(16, || 0i64).single_producer().unwrap();
        let mut gating = b.poller().unwrap(); // the gating sequence the poller follows
        let mut poller = b.poller_after(&[&gating.group()]).unwrap();
        let (d, mut p) = b.start().unwrap();
        let mut handled = 0;
        assert_eq!(poller.state(), PollState::Idle);
        assert_eq!(poller.poll(|_, _, _| handled += 1), Ok(0));
        p.publish(|e, _| *e = 1).unwrap();
        assert_eq!(poller.state(), PollState::Gating);
        assert_eq!(poller.poll(|_, _, _| handled += 1), Ok(0));
        gating.wait_for(0, Some(Duration::from_secs(1))).unwrap();
        gating.update_sequence(0).unwrap();
        assert_eq!(poller.state(), PollState::Processing);
        assert_eq!(poller.poll(|_, _, _| handled += 1), Ok(1));
        assert_eq!(handled, 1);
        drop((gating, poller));
        d.shutdown().unwrap();
    });
}

#[test]
fn ep_should_successfully_poll_when_buffer_is_full() {
    watchdog(|| {
        let mut b = Disruptor::builder(4, || 0i64).single_producer().unwrap();
        let mut poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        for i in 0..4 {
            p.try_publish(|e, _| *e = i).unwrap();
        }
        assert!(p.try_publish(|_, _| {}).is_err());
        let mut got = Vec::new();
        assert_eq!(poller.poll(|e, _, _| got.push(*e)), Ok(4));
        assert_eq!(got, vec![0, 1, 2, 3]);
        for i in 0..4 {
            p.try_publish(|e, _| *e = i).unwrap();
        }
        drop(poller);
        d.shutdown().unwrap();
    });
}

// ============================ LifecycleAwareTest ==============================================

struct Lifecycle {
    starts: Arc<AtomicI64>,
    stops: Arc<AtomicI64>,
    thread_ok: Arc<AtomicBool>,
}
impl EventHandler<i64> for Lifecycle {
    fn on_event(&mut self, _: &i64, _: i64, _: bool) {}
    fn on_start(&mut self) {
        self.starts.fetch_add(1, SeqCst);
        if thread::current()
            .name()
            .is_some_and(|n| n.starts_with("seqflow-"))
        {
            self.thread_ok.store(true, SeqCst);
        }
    }
    fn on_shutdown(&mut self) {
        self.stops.fetch_add(1, SeqCst);
    }
}

#[test]
fn la_should_notify_of_batch_processor_lifecycle() {
    watchdog(|| {
        for halt in [false, true] {
            let (starts, stops) = (counter(), counter());
            let ok = Arc::new(AtomicBool::new(false));
            let mk = || Lifecycle {
                starts: starts.clone(),
                stops: stops.clone(),
                thread_ok: ok.clone(),
            };
            let mut b = Disruptor::builder(16, || 0i64).single_producer().unwrap();
            b.handle_events_with(mk())
                .and(mk())
                .then_worker_pool(vec![mk(), mk()]);
            let (d, mut p) = b.start().unwrap();
            p.publish(|e, _| *e = 1).unwrap();
            assert!(wait_until(10, || starts.load(SeqCst) == 4));
            if halt {
                d.halt().unwrap()
            } else {
                d.shutdown().unwrap()
            }
            assert_eq!(
                (starts.load(SeqCst), stops.load(SeqCst)),
                (4, 4),
                "halt={halt}"
            );
            assert!(ok.load(SeqCst), "on_start on the stage thread");
        }
    });
}

// ============================ SequenceGroupTest / dynamic handlers ============================

#[test]
fn sg_minimum_of_added_and_removed_sequences() {
    watchdog(|| {
        let table = GatingTable::new(8).unwrap();
        assert_eq!(table.minimum(100), 100, "empty group: the default");
        let a = table.register(true, || 3).unwrap();
        let b = table.register(true, || 7).unwrap();
        assert_eq!(table.minimum(100), 3);
        a.set_sequence(10);
        assert_eq!(table.minimum(100), 7);
        drop(b); // removeSequence
        assert_eq!(table.minimum(100), 10);
        let c = table.register(false, || 1).unwrap(); // non-gating: ignored
        assert_eq!(table.minimum(100), 10);
        drop((a, c));
        assert_eq!(table.minimum(100), 100);
    });
}

/// LMAX DynamicallyAddHandler: add a handler to a running disruptor; it gates from then on.
#[test]
fn sg_should_add_handler_while_running_and_gate() {
    watchdog(|| {
        let (mut d, mut p) = Disruptor::builder(4, || 0i64)
            .single_producer()
            .unwrap()
            .start()
            .unwrap();
        for i in 0..10 {
            p.publish(|e, _| *e = i).unwrap();
        }
        let gate = Gate::new();
        let c = counter();
        d.handle_events_with(delayed(&gate, &c)).unwrap();
        for i in 0..4 {
            p.publish(|e, _| *e = i).unwrap();
        }
        assert!(
            matches!(p.try_publish(|_, _| {}), Err(ClaimError::Full { .. })),
            "added handler must gate"
        );
        gate.open();
        p.publish(|e, _| *e = 99).unwrap();
        drop(p);
        d.shutdown().unwrap();
        assert_eq!(c.load(SeqCst), 5);
    });
}

/// Removing a consumer from a running disruptor: only pollers can be removed (dropped).
#[test]
fn sg_should_remove_poller_while_running() {
    watchdog(|| {
        let (d, mut p) = Disruptor::builder(4, || 0i64)
            .single_producer()
            .unwrap()
            .start()
            .unwrap();
        let poller = d.poller().unwrap();
        for i in 0..4 {
            p.publish(|e, _| *e = i).unwrap();
        }
        assert!(matches!(
            p.try_publish(|_, _| {}),
            Err(ClaimError::Full { .. })
        ));
        drop(poller);
        for i in 0..10 {
            p.try_publish(|e, _| *e = i).unwrap();
        }
        d.shutdown().unwrap();
    });
}

// ============================ ShutdownOnFatalExceptionTest ====================================

#[test]
fn sfe_should_shutdown_gracefully_even_with_fatal_exception_handler() {
    watchdog(|| {
        let mut b = Disruptor::builder(8, || 0i64)
            .panic_policy(PanicPolicy::Halt)
            .single_producer()
            .unwrap();
        b.handle_events_with(|e: &i64, _, _| assert!(*e != 7, "fatal at seven"))
            .named("fatal");
        let (d, mut p) = b.start().unwrap();
        let t = thread::spawn(move || {
            for i in 0..1000 {
                if let Err(e) = p.publish(|ev, _| *ev = i) {
                    return Some((i, e));
                }
            }
            None
        });
        let res = t.join().unwrap();
        assert!(
            matches!(res, Some((_, ClaimError::Halted))),
            "producer must be told, not hang: {res:?}"
        );
        match d.shutdown() {
            Err(ShutdownError::HandlerPanicked {
                stage,
                seq,
                message,
            }) => {
                assert_eq!((stage.as_str(), seq), ("fatal", 7));
                assert!(message.contains("fatal at seven"));
            }
            other => panic!("{other:?}"),
        }
    });
}

/// Multi producer variant: several producers blocked on a full ring must all be released.
#[test]
fn sfe_multi_producer_blocked_producers_are_released() {
    watchdog(|| {
        let mut b = Disruptor::builder(8, || 0i64)
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        b.handle_events_with(|e: &i64, _, _| {
            if *e == 30 {
                panic!("fatal");
            }
        });
        let (d, p) = b.start().unwrap();
        let ts: Vec<_> = (0..3)
            .map(|k| {
                let mut p = p.clone();
                thread::spawn(move || {
                    for i in 0..1000 {
                        if p.publish(|ev, _| *ev = if k == 0 { i } else { 1000 + i })
                            .is_err()
                        {
                            return true;
                        }
                    }
                    false
                })
            })
            .collect();
        drop(p);
        // None hangs (the watchdog): the producer whose event halts the ring is released with
        // an error; the others may have published all theirs before the halt.
        let released: Vec<bool> = ts.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(released[0], "{released:?}");
        assert!(matches!(
            d.shutdown(),
            Err(ShutdownError::HandlerPanicked { .. })
        ));
    });
}

// ============================ AggregateEventHandlerTest =======================================

/// seqflow has no AggregateEventHandler; the test's intent with a hand-written aggregate.
struct Aggregate(Vec<Box<dyn EventHandler<i64> + Send>>);
impl EventHandler<i64> for Aggregate {
    fn on_event(&mut self, e: &i64, seq: i64, eob: bool) {
        for h in &mut self.0 {
            h.on_event(e, seq, eob);
        }
    }
    fn on_start(&mut self) {
        for h in &mut self.0 {
            h.on_start();
        }
    }
    fn on_shutdown(&mut self) {
        for h in &mut self.0 {
            h.on_shutdown();
        }
    }
}
struct Named(&'static str, Arc<Mutex<Vec<String>>>);
impl EventHandler<i64> for Named {
    fn on_event(&mut self, e: &i64, seq: i64, eob: bool) {
        self.1
            .lock()
            .unwrap()
            .push(format!("{}:{e}:{seq}:{eob}", self.0));
    }
    fn on_start(&mut self) {
        self.1.lock().unwrap().push(format!("{}:start", self.0));
    }
    fn on_shutdown(&mut self) {
        self.1.lock().unwrap().push(format!("{}:stop", self.0));
    }
}

#[test]
fn agg_should_call_handlers_in_sequence() {
    watchdog(|| {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let agg = Aggregate(vec![
            Box::new(Named("h1", calls.clone())),
            Box::new(Named("h2", calls.clone())),
            Box::new(Named("h3", calls.clone())),
        ]);
        let mut b = Disruptor::builder(8, || 0i64).single_producer().unwrap();
        b.handle_events_with(agg);
        b.publish_before_start(|p| p.try_publish(|e, _| *e = 7).unwrap())
            .unwrap();
        let (d, _p) = b.start().unwrap();
        d.shutdown().unwrap();
        assert_eq!(
            *calls.lock().unwrap(),
            vec![
                "h1:start",
                "h2:start",
                "h3:start",
                "h1:7:0:true",
                "h2:7:0:true",
                "h3:7:0:true",
                "h1:stop",
                "h2:stop",
                "h3:stop"
            ]
        );
    });
}

// ============================ Diamond and perf-test correctness ===============================

#[derive(Default)]
struct FizzBuzzEvent {
    value: AtomicI64,
    fizz: AtomicBool,
    buzz: AtomicBool,
}

fn fizzbuzz(multi_producers: usize) {
    let n: i64 = 3000;
    let mut expected = 0i64;
    for i in 0..n {
        if i % 3 == 0 && i % 5 == 0 {
            expected += 1;
        }
    }
    let count = counter();
    let c = count.clone();
    macro_rules! wire {
        ($b:expr) => {{
            let mut b = $b;
            let fizz = b
                .handle_events_with(|e: &FizzBuzzEvent, _, _| {
                    e.fizz.store(e.value.load(SeqCst) % 3 == 0, SeqCst)
                })
                .group();
            let buzz = b
                .handle_events_with(|e: &FizzBuzzEvent, _, _| {
                    e.buzz.store(e.value.load(SeqCst) % 5 == 0, SeqCst)
                })
                .group();
            b.after(&[&fizz, &buzz])
                .handle_events_with(move |e: &FizzBuzzEvent, _, _| {
                    if e.fizz.load(SeqCst) && e.buzz.load(SeqCst) {
                        c.fetch_add(1, SeqCst);
                    }
                });
            b.start().unwrap()
        }};
    }
    if multi_producers == 0 {
        let (d, mut p) = wire!(Disruptor::builder(64, FizzBuzzEvent::default)
            .single_producer()
            .unwrap());
        for i in 0..n {
            p.publish(|e, _| e.value.store(i, SeqCst)).unwrap();
        }
        d.shutdown().unwrap();
    } else {
        let (d, p) = wire!(Disruptor::builder(64, FizzBuzzEvent::default)
            .multi_producer(MultiProducerMode::Cas)
            .unwrap());
        let per = n / multi_producers as i64;
        let ts: Vec<_> = (0..multi_producers as i64)
            .map(|k| {
                let mut p = p.clone();
                thread::spawn(move || {
                    for i in (k * per)..((k + 1) * per) {
                        p.publish(|e, _| e.value.store(i, SeqCst)).unwrap();
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        drop(p);
        d.shutdown().unwrap();
    }
    assert_eq!(count.load(SeqCst), expected);
}

#[test]
fn perf_one_to_three_diamond_sequenced_fizzbuzz() {
    watchdog_secs(60, || fizzbuzz(0));
}

#[test]
fn perf_three_publishers_diamond_fizzbuzz() {
    watchdog_secs(60, || fizzbuzz(3));
}

#[test]
fn perf_one_to_three_sequenced_value_mutation() {
    watchdog_secs(60, || {
        let n: i64 = 20_000;
        let ops: [fn(i64, i64) -> i64; 3] = [
            |a, b| a.wrapping_add(b),
            |a, b| a.wrapping_sub(b),
            |a, b| a & b,
        ];
        let expected: Vec<i64> = ops.iter().map(|op| (0..n).fold(0i64, op)).collect();
        let results: Vec<Arc<AtomicI64>> = (0..3).map(|_| counter()).collect();
        let mut b = Disruptor::builder(1024, || 0i64)
            .wait_strategy(YieldingWait::default())
            .single_producer()
            .unwrap();
        for k in 0..3 {
            let r = results[k].clone();
            let op = ops[k];
            let mut value = 0i64;
            b.handle_events_with(move |e: &i64, _, eob: bool| {
                value = op(value, *e);
                if eob {
                    r.store(value, SeqCst);
                }
            });
        }
        let (d, mut p) = b.start().unwrap();
        for i in 0..n {
            p.publish(|e, _| *e = i).unwrap();
        }
        d.shutdown().unwrap();
        assert_eq!(
            results.iter().map(|r| r.load(SeqCst)).collect::<Vec<_>>(),
            expected
        );
    });
}

#[test]
fn perf_one_to_three_pipeline_sequenced_function_event() {
    watchdog_secs(60, || {
        #[derive(Default)]
        struct FunctionEvent {
            operand_one: i64,
            operand_two: i64,
            step_one_result: i64,
            step_two_result: i64,
        }
        let n: i64 = 20_000;
        let operand_two_initial = 777i64;
        let mut expected = 0i64;
        let mut operand_two = operand_two_initial;
        for i in 0..n {
            let step_one = i + operand_two;
            operand_two -= 1;
            let step_two = step_one + 3;
            if (step_two & 4) == 4 {
                expected += 1;
            }
        }
        let count = counter();
        let c = count.clone();
        let mut b = Disruptor::builder(1024, FunctionEvent::default)
            .single_producer()
            .unwrap();
        b.handle_events_mut_with(|e: &mut FunctionEvent, _, _| {
            e.step_one_result = e.operand_one + e.operand_two
        })
        .then_mut(|e: &mut FunctionEvent, _, _| e.step_two_result = e.step_one_result + 3)
        .then(move |e: &FunctionEvent, _, _| {
            if (e.step_two_result & 4) == 4 {
                c.fetch_add(1, SeqCst);
            }
        });
        let (d, mut p) = b.start().unwrap();
        let mut operand_two = operand_two_initial;
        for i in 0..n {
            p.publish(|e, _| {
                e.operand_one = i;
                e.operand_two = operand_two;
            })
            .unwrap();
            operand_two -= 1;
        }
        d.shutdown().unwrap();
        assert_eq!(count.load(SeqCst), expected);
    });
}

#[test]
fn perf_three_to_one_sequenced_batch() {
    watchdog_secs(60, || {
        let per_producer: i64 = 10_000;
        let batch = 10usize;
        let sum = counter();
        let s = sum.clone();
        let mut b = Disruptor::builder(1024, || 0i64)
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        b.handle_events_with(move |e: &i64, _, _| {
            s.fetch_add(*e, SeqCst);
        });
        let (d, p) = b.start().unwrap();
        let ts: Vec<_> = (0..3)
            .map(|_| {
                let mut p = p.clone();
                thread::spawn(move || {
                    let mut i = 0i64;
                    while i < per_producer {
                        let mut g = p.claim(batch).unwrap();
                        for e in g.iter_mut() {
                            *e = i;
                            i += 1;
                        }
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        drop(p);
        d.shutdown().unwrap();
        assert_eq!(
            sum.load(SeqCst),
            3 * (per_producer * (per_producer - 1) / 2)
        );
    });
}

#[test]
fn perf_one_publisher_to_three_worker_pool() {
    watchdog_secs(60, || {
        let n: i64 = 20_000;
        let counters: Vec<Arc<AtomicI64>> = (0..3).map(|_| counter()).collect();
        let sums: Vec<Arc<AtomicI64>> = (0..3).map(|_| counter()).collect();
        let workers: Vec<_> = (0..3)
            .map(|k| {
                let (c, s) = (counters[k].clone(), sums[k].clone());
                move |e: &i64, _: i64, _: bool| {
                    c.fetch_add(1, SeqCst);
                    s.fetch_add(*e, SeqCst);
                }
            })
            .collect();
        let mut b = Disruptor::builder(1024, || 0i64)
            .wait_strategy(BlockingWait::default())
            .single_producer()
            .unwrap();
        b.handle_events_with_worker_pool(workers);
        let (d, mut p) = b.start().unwrap();
        for i in 0..n {
            p.publish(|e, _| *e = i).unwrap();
        }
        d.shutdown().unwrap();
        assert_eq!(counters.iter().map(|c| c.load(SeqCst)).sum::<i64>(), n);
        assert_eq!(
            sums.iter().map(|c| c.load(SeqCst)).sum::<i64>(),
            n * (n - 1) / 2
        );
    });
}

#[test]
fn perf_one_to_one_sequenced_batch_and_raw_batch() {
    watchdog_secs(60, || {
        let n: i64 = 50_000;
        let sum = counter();
        let s = sum.clone();
        let mut b = Disruptor::builder(1024, || 0i64).single_producer().unwrap();
        b.handle_events_with(move |e: &i64, _, _| {
            s.fetch_add(*e, SeqCst);
        });
        let (d, mut p) = b.start().unwrap();
        let mut i = 0;
        while i < n / 2 {
            p.publish_batch(10, |e, _| {
                *e = i;
                i += 1;
            })
            .unwrap();
        }
        while i < n {
            let mut g = p.claim(10).unwrap();
            for k in 0..10 {
                *g.get_mut(k).unwrap() = i;
                i += 1;
            }
            assert!(g.get_mut(10).is_none());
        }
        d.shutdown().unwrap();
        assert_eq!(sum.load(SeqCst), n * (n - 1) / 2);
    });
}

#[test]
fn perf_one_to_one_sequenced_poller() {
    watchdog_secs(60, || {
        let n: i64 = 50_000;
        let mut b = Disruptor::builder(1024, || 0i64).single_producer().unwrap();
        let mut poller = b.poller().unwrap();
        let mut p = b.start_owned().unwrap();
        let t = thread::spawn(move || {
            let mut sum = 0i64;
            let mut count = 0;
            loop {
                match poller.poll(|e, _, _| {
                    sum += *e;
                    count += 1;
                }) {
                    Ok(0) => thread::yield_now(),
                    Ok(_) => {}
                    Err(PollError::Alerted) => return (count, sum),
                    Err(e) => panic!("{e}"),
                }
            }
        });
        for i in 0..n {
            p.publish(|e, _| *e = i).unwrap();
        }
        drop(p);
        assert_eq!(t.join().unwrap(), (n, n * (n - 1) / 2));
    });
}

#[test]
fn perf_ping_pong_sequenced_latency_correctness() {
    watchdog_secs(60, || {
        let n: i64 = 2_000;
        // pong ring: events flow back to the pinger through a poller.
        let mut pong_b = Disruptor::builder(1024, || 0i64)
            .wait_strategy(BlockingWait::default())
            .single_producer()
            .unwrap();
        let mut pong_poller = pong_b.poller().unwrap();
        let (pong_d, mut pong_p) = pong_b.start().unwrap();
        let mut ping_b = Disruptor::builder(1024, || 0i64)
            .wait_strategy(BlockingWait::default())
            .single_producer()
            .unwrap();
        ping_b.handle_events_with(move |e: &i64, _, _| {
            pong_p.publish(|x, _| *x = *e).unwrap();
        });
        let (ping_d, mut ping_p) = ping_b.start().unwrap();
        for i in 0..n {
            ping_p.publish(|e, _| *e = i).unwrap();
            let upto = pong_poller
                .wait_for(i, Some(Duration::from_secs(10)))
                .unwrap();
            assert_eq!(upto, i);
            assert_eq!(*pong_poller.get(i).unwrap(), i);
            pong_poller.update_sequence(i).unwrap();
        }
        drop(ping_p);
        ping_d.shutdown().unwrap();
        drop(pong_poller);
        pong_d.shutdown().unwrap();
    });
}

/// LMAX OneToOneTranslatorThroughputTest / MultiProducer (Lock mode) correctness.
#[test]
fn perf_three_to_one_lock_mode_with_sequence_order_per_producer() {
    watchdog_secs(60, || {
        let per: i64 = 5_000;
        let last = Arc::new(Mutex::new([-1i64; 3]));
        let errors = counter();
        let (l, er) = (last.clone(), errors.clone());
        let mut b = Disruptor::builder(256, || (0usize, 0i64))
            .multi_producer(MultiProducerMode::Lock)
            .unwrap();
        b.handle_events_with(move |e: &(usize, i64), _, _| {
            let mut l = l.lock().unwrap();
            if e.1 != l[e.0] + 1 {
                er.fetch_add(1, SeqCst);
            }
            l[e.0] = e.1;
        });
        let (d, p) = b.start().unwrap();
        let ts: Vec<_> = (0..3usize)
            .map(|k| {
                let mut p = p.clone();
                thread::spawn(move || {
                    for i in 0..per {
                        p.publish(|e, _| *e = (k, i)).unwrap();
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        drop(p);
        d.shutdown().unwrap();
        assert_eq!(errors.load(SeqCst), 0);
        assert_eq!(*last.lock().unwrap(), [per - 1; 3]);
    });
}

#[test]
fn start_owned_shutdown_happens_when_last_clone_drops() {
    watchdog(|| {
        let (tx, rx) = mpsc::channel();
        let mut b = Disruptor::builder(16, || 0i64)
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        b.handle_events_with(move |e: &i64, _, _| tx.send(*e).unwrap());
        let p = b.start_owned().unwrap();
        let mut a = p.clone();
        drop(p);
        a.publish(|e, _| *e = 1).unwrap();
        drop(a);
        assert_eq!(rx.iter().collect::<Vec<_>>(), vec![1]);
    });
}

// ============================ extra intent checks ==============================================

/// LMAX DynamicallyAddHandler under load: handlers added while two producers publish must each
/// see a contiguous run of sequences whose events are the ones published at those sequences.
#[test]
fn dyn_add_handlers_while_multi_producers_publish() {
    watchdog_secs(90, || {
        let (mut d, p) = Disruptor::builder(64, || -1i64)
            .multi_producer(MultiProducerMode::Cas)
            .unwrap()
            .start()
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let mut p = p.clone();
                let stop = stop.clone();
                thread::spawn(move || {
                    let mut n = 0;
                    while !stop.load(SeqCst) && n < 200_000 {
                        if p.publish_timeout(Duration::from_secs(10), |e, seq| *e = seq)
                            .is_err()
                        {
                            return false; // stuck: the added stages stopped advancing
                        }
                        n += 1;
                    }
                    true
                })
            })
            .collect();
        drop(p);
        let bad = counter();
        let seen = counter();
        for _ in 0..4 {
            thread::sleep(Duration::from_millis(20));
            let (b2, s2) = (bad.clone(), seen.clone());
            let mut prev: Option<i64> = None;
            d.handle_events_with(move |e: &i64, seq: i64, _| {
                if *e != seq || prev.is_some_and(|p| p + 1 != seq) {
                    b2.fetch_add(1, SeqCst);
                }
                prev = Some(seq);
                s2.fetch_add(1, SeqCst);
            })
            .unwrap();
        }
        thread::sleep(Duration::from_millis(50));
        stop.store(true, SeqCst);
        let ok: Vec<bool> = ts.into_iter().map(|t| t.join().unwrap()).collect();
        let m = d.metrics();
        let r = d.shutdown_timeout(Duration::from_secs(3));
        assert!(ok.iter().all(|x| *x), "producers stuck (deadlock) {m:?}");
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(
            bad.load(SeqCst),
            0,
            "a late handler saw a gap or a wrong event"
        );
        assert!(seen.load(SeqCst) > 0);
    });
}

/// Multi producer: an unpublished claim hides later published events from consumers.
#[test]
fn mp_poller_does_not_see_past_an_unpublished_claim() {
    watchdog(|| {
        let mut b = Disruptor::builder(16, || -1i64)
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        let mut poller = b.poller().unwrap();
        let (d, mut p1) = b.start().unwrap();
        let mut p2 = p1.clone();
        {
            let mut g = p1.claim(1).unwrap();
            *g.get_mut(0).unwrap() = 0;
            p2.publish(|e, s| *e = s).unwrap();
            assert_eq!(poller.poll(|_, _, _| {}), Ok(0));
            assert_eq!(d.metrics().published, -1);
        }
        let mut got = Vec::new();
        assert_eq!(poller.poll(|e, s, _| got.push((s, *e))), Ok(2));
        assert_eq!(got, vec![(0, 0), (1, 1)]);
        drop(poller);
        drop((p1, p2));
        d.shutdown().unwrap();
    });
}

/// LMAX SequenceReportingEventHandler (setSequenceCallback): release early inside a batch so
/// the producer can reuse slots before the batch ends.
#[test]
fn sequence_reporting_handler_releases_early() {
    watchdog(|| {
        use seqflow_pipeline::BatchEvent;
        struct Early(Gate);
        impl EventHandler<i64> for Early {
            fn on_event(&mut self, _: &i64, _: i64, _: bool) {}
            fn on_event_releasing(&mut self, event: BatchEvent<'_, i64>) -> Result<(), EventError> {
                if event.seq() == 2 {
                    self.0.wait();
                }
                event.release()?;
                Ok(())
            }
        }
        let gate = Gate::new();
        let mut b = Disruptor::builder(4, || 0i64).single_producer().unwrap();
        b.handle_events_with(Early(gate.clone()));
        b.publish_before_start(|p| p.publish_batch(4, |e, s| *e = s).unwrap())
            .unwrap();
        let (d, mut p) = b.start().unwrap();
        // 0 and 1 were released inside the batch while the handler blocks on 2.
        assert!(wait_until(10, || p.has_available_capacity(2)));
        p.try_publish(|e, s| *e = s).unwrap();
        p.try_publish(|e, s| *e = s).unwrap();
        gate.open();
        drop(p);
        d.shutdown().unwrap();
    });
}

/// start_at with a worker pool and a stage after it.
#[test]
fn start_at_with_worker_pool() {
    watchdog(|| {
        let seen = log();
        let s2 = seen.clone();
        let workers: Vec<_> = (0..2)
            .map(|_| |e: &i64, seq: i64, _: bool| assert_eq!(*e, seq))
            .collect();
        let mut b = Disruptor::builder(8, || -1i64).single_producer().unwrap();
        b.handle_events_with_worker_pool(workers)
            .then(move |_: &i64, seq: i64, _| s2.lock().unwrap().push(seq));
        b.start_at(100).unwrap();
        let (d, mut p) = b.start().unwrap();
        for _ in 0..20 {
            p.publish(|e, s| *e = s).unwrap();
        }
        d.shutdown().unwrap();
        assert_eq!(snapshot(&seen), (100..120).collect::<Vec<_>>());
    });
}
