//! Lifecycle races a port hits when it starts and stops disruptors quickly (LMAX
//! BatchEventProcessorTest.shouldAlwaysHalt, LifecycleAwareTest, DisruptorTest start/halt,
//! DynamicallyAddHandler add-then-remove). Blocking waits only; small loops.
use seqflow_pipeline::{BlockingWait, Disruptor, EventHandler, StageSettings};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

fn watchdog<F: FnOnce() + Send + 'static>(secs: u64, f: F) {
    let (tx, rx) = mpsc::channel();
    let h = thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(r);
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(Ok(())) => {
            h.join().unwrap();
        }
        Ok(Err(p)) => std::panic::resume_unwind(p),
        Err(_) => panic!("HANG: test body did not finish within {secs}s"),
    }
}

type Log = Arc<Mutex<Vec<String>>>;
struct Life {
    name: &'static str,
    log: Log,
    n: Arc<Mutex<Vec<i64>>>,
}
impl EventHandler<i64> for Life {
    fn on_event(&mut self, _: &i64, seq: i64, _: bool) {
        self.n.lock().unwrap().push(seq);
    }
    fn on_start(&mut self) {
        self.log
            .lock()
            .unwrap()
            .push(format!("start:{}", self.name));
    }
    fn on_shutdown(&mut self) {
        self.log
            .lock()
            .unwrap()
            .push(format!("shutdown:{}", self.name));
    }
}
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
            b.handle_events_with(Life {
                name: "a",
                log: log.clone(),
                n: Default::default(),
            })
            .then(Life {
                name: "b",
                log: log.clone(),
                n: Default::default(),
            });
            b.handle_events_with_worker_pool(vec![
                Life {
                    name: "w0",
                    log: log.clone(),
                    n: Default::default(),
                },
                Life {
                    name: "w1",
                    log: log.clone(),
                    n: Default::default(),
                },
            ]);
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
            b.handle_events_with(Life {
                name: "a",
                log: log.clone(),
                n: na.clone(),
            })
            .then(Life {
                name: "b",
                log: log.clone(),
                n: nb.clone(),
            });
            b.handle_events_with_worker_pool(vec![
                Life {
                    name: "w0",
                    log: log.clone(),
                    n: nw.clone(),
                },
                Life {
                    name: "w1",
                    log: log.clone(),
                    n: nw.clone(),
                },
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
                    Life {
                        name: "x",
                        log: log.clone(),
                        n: Default::default(),
                    },
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
            b.handle_events_with(Life {
                name: "a",
                log: log.clone(),
                n: Default::default(),
            });
            let (d, p) = b.start().unwrap();
            drop(d);
            drop(p);
            let l = log.lock().unwrap().clone();
            paired(&l, "a");
        }
    });
}
