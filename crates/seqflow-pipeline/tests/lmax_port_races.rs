//! Lifecycle races a port hits when it starts and stops disruptors quickly (LMAX
//! BatchEventProcessorTest.shouldAlwaysHalt, LifecycleAwareTest, DisruptorTest start/halt,
//! DynamicallyAddHandler add-then-remove). Blocking waits only; small loops.

mod ext_common;

use ext_common::watchdog_secs as watchdog;
use ext_common::{Life, Log};
use seqflow_pipeline::{BlockingWait, Disruptor, StageSettings};
use std::sync::{Arc, Mutex};

fn paired(log: &[String], name: &str) {
    let s = log.iter().position(|x| *x == format!("start:{name}"));
    let e = log.iter().position(|x| *x == format!("shutdown:{name}"));
    assert_eq!(
        log.iter()
            .filter(|x| **x == format!("start:{name}"))
            .count(),
        1,
        "{log:?}"
    );
    assert_eq!(
        log.iter()
            .filter(|x| **x == format!("shutdown:{name}"))
            .count(),
        1,
        "{log:?}"
    );
    assert!(s < e, "{log:?}");
}

/// shouldAlwaysHalt / LifecycleAware: halt right after start; every stage still gets on_start
/// then on_shutdown exactly once.
#[test]
fn halt_immediately_after_start_pairs_lifecycle() {
    watchdog(60, || {
        for _ in 0..40 {
            let log: Log = Default::default();
            let mut b = Disruptor::builder(8, || 0i64)
                .wait_strategy(BlockingWait::default())
                .single_producer()
                .unwrap();
            b.handle_events_with(Life::new("a", &log))
                .then(Life::new("b", &log));
            b.handle_events_with_worker_pool(vec![Life::new("w0", &log), Life::new("w1", &log)]);
            let (d, _p) = b.start().unwrap();
            d.halt().unwrap();
            let l = log.lock().unwrap().clone();
            for n in ["a", "b", "w0", "w1"] {
                paired(&l, n);
            }
        }
    });
}

/// shouldProcessMessagesPublishedBeforeStartIsCalled + immediate shutdown: drained fully.
#[test]
fn shutdown_immediately_after_start_drains_pre_published() {
    watchdog(60, || {
        for _ in 0..40 {
            let log: Log = Default::default();
            let na: Arc<Mutex<Vec<i64>>> = Default::default();
            let nb: Arc<Mutex<Vec<i64>>> = Default::default();
            let nw: Arc<Mutex<Vec<i64>>> = Default::default();
            let mut b = Disruptor::builder(8, || 0i64)
                .wait_strategy(BlockingWait::default())
                .single_producer()
                .unwrap();
            b.handle_events_with(Life::sharing("a", &log, &na))
                .then(Life::sharing("b", &log, &nb));
            b.handle_events_with_worker_pool(vec![
                Life::sharing("w0", &log, &nw),
                Life::sharing("w1", &log, &nw),
            ]);
            b.publish_before_start(|p| p.publish_batch(6, |e, s| *e = s).map(|_| ()))
                .unwrap()
                .unwrap();
            let (d, _p) = b.start().unwrap();
            d.shutdown().unwrap();
            assert_eq!(*na.lock().unwrap(), (0..6).collect::<Vec<_>>());
            assert_eq!(*nb.lock().unwrap(), (0..6).collect::<Vec<_>>());
            let mut w = nw.lock().unwrap().clone();
            w.sort();
            assert_eq!(w, (0..6).collect::<Vec<_>>());
            let l = log.lock().unwrap().clone();
            for n in ["a", "b", "w0", "w1"] {
                paired(&l, n);
            }
        }
    });
}

/// DynamicallyAddHandler: add a stage, remove it at once (before its thread may have run).
#[test]
fn add_then_remove_immediately_pairs_lifecycle() {
    watchdog(60, || {
        let b = Disruptor::builder(8, || 0i64)
            .wait_strategy(BlockingWait::default())
            .single_producer()
            .unwrap();
        let (mut d, mut p) = b.start().unwrap();
        for i in 0..40 {
            let log: Log = Default::default();
            let name = d
                .handle_events_with_settings(
                    Life::new("x", &log),
                    StageSettings::new().named(&format!("x{i}")),
                )
                .unwrap();
            p.publish(|e, _| *e = i).unwrap();
            d.remove_stage(&name).unwrap();
            let l = log.lock().unwrap().clone();
            paired(&l, "x");
            // the producer is not held back by the removed stage
            for _ in 0..9 {
                p.try_publish(|e, _| *e = 0).unwrap();
            }
        }
        d.shutdown().unwrap();
    });
}

/// Dropping the Disruptor right after start: halts, joins, lifecycle paired.
#[test]
fn drop_immediately_after_start_pairs_lifecycle() {
    watchdog(60, || {
        for _ in 0..40 {
            let log: Log = Default::default();
            let mut b = Disruptor::builder(8, || 0i64)
                .wait_strategy(BlockingWait::default())
                .multi_producer(seqflow_pipeline::MultiProducerMode::Cas)
                .unwrap();
            b.handle_events_with(Life::new("a", &log));
            let (d, p) = b.start().unwrap();
            drop(d);
            drop(p);
            let l = log.lock().unwrap().clone();
            paired(&l, "a");
        }
    });
}
