//! A port of the LMAX Disruptor Java test suite (RingBufferTest, SequencerTest,
//! MultiProducerSequencerTest, SequenceBarrierTest, BatchEventProcessorTest,
//! MaxBatchSizeEventProcessorTest, RewindBatchEventProcessorTest, WorkerPoolTest, DisruptorTest,
//! EventPollerTest, LifecycleAwareTest, ShutdownOnFatalExceptionTest, TimeoutHandler tests) and of
//! the `disruptor` crate's tests onto seqflow's public API.
//!
//! Every test runs under a watchdog so a hang is a failure, not a stuck run. Only yielding or
//! blocking wait strategies are used.

use seqflow_pipeline::WaitStrategy;
use seqflow_pipeline::{
    fallible, BatchEvent, BlockingWait, BuildError, ClaimError, Disruptor, EventError,
    EventHandler, ExceptionAction, ExceptionHandler, HandlerFailure, MultiProducerMode,
    PanicPolicy, PollError, ReleaseError, RewindPolicy, ShutdownError, YieldingWait,
};
use seqflow_ring::CapacityError;
use seqflow_sequence::{Alert, Cursor, SequenceBarrier, WaitError};
use seqflow_sequencer::{
    Claimer, MultiProducerSequencer, PublishError, Sequencer, SingleProducerSequencer, StartAtError,
};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

/// Run `f` on its own thread; fail the test if it does not finish within `secs`.
fn watchdog<F: FnOnce() + Send + 'static>(secs: u64, f: F) {
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => t.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // f panicked: propagate its panic.
            if let Err(p) = t.join() {
                std::panic::resume_unwind(p)
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test hung for more than {secs}s"),
    }
}

fn eventually(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// LMAX's DelayedEventHandler: handles one event per `permit.send(())`; dropping the sender
/// lets it run freely. Records the sequences it has finished in `done` (last finished seq).
struct Delayed {
    permits: mpsc::Receiver<()>,
    done: Arc<AtomicI64>,
    started: Arc<AtomicBool>,
}

fn delayed() -> (Delayed, mpsc::Sender<()>, Arc<AtomicI64>, Arc<AtomicBool>) {
    let (tx, rx) = mpsc::channel();
    let done = Arc::new(AtomicI64::new(-1));
    let started = Arc::new(AtomicBool::new(false));
    (
        Delayed {
            permits: rx,
            done: done.clone(),
            started: started.clone(),
        },
        tx,
        done,
        started,
    )
}

impl EventHandler<i64> for Delayed {
    fn on_event(&mut self, _: &i64, seq: i64, _: bool) {
        let _ = self.permits.recv();
        self.done.store(seq, SeqCst);
    }
    fn on_start(&mut self) {
        self.started.store(true, SeqCst);
    }
}

/// Records every (seq, value, end_of_batch).
type Log = Arc<Mutex<Vec<(i64, i64, bool)>>>;

fn recorder(log: &Log) -> impl FnMut(&i64, i64, bool) + Send + 'static {
    let log = log.clone();
    move |e: &i64, seq, eob| log.lock().unwrap().push((seq, *e, eob))
}

/// Exception handler that records what it saw.
#[derive(Default)]
struct Recording {
    events: Mutex<Vec<(String, i64, i64)>>,
    without_event: Mutex<Vec<(String, i64)>>,
    starts: Mutex<Vec<String>>,
    shutdowns: Mutex<Vec<String>>,
    action: Option<ExceptionAction>,
}

impl ExceptionHandler<i64> for Recording {
    fn handle_event_exception(&self, f: &HandlerFailure, seq: i64, e: &i64) -> ExceptionAction {
        self.events.lock().unwrap().push((f.to_string(), seq, *e));
        self.action.unwrap_or(ExceptionAction::Continue)
    }
    fn handle_exception_without_event(&self, f: &HandlerFailure, seq: i64) -> ExceptionAction {
        self.without_event
            .lock()
            .unwrap()
            .push((f.to_string(), seq));
        self.action.unwrap_or(ExceptionAction::Continue)
    }
    fn handle_on_start_exception(&self, f: &HandlerFailure) -> ExceptionAction {
        self.starts.lock().unwrap().push(f.to_string());
        ExceptionAction::Continue
    }
    fn handle_on_shutdown_exception(&self, f: &HandlerFailure) {
        self.shutdowns.lock().unwrap().push(f.to_string());
    }
}

fn blocking_single(
    cap: usize,
) -> seqflow_pipeline::DisruptorBuilder<i64, SingleProducerSequencer<BlockingWait>> {
    Disruptor::builder(cap, || 0i64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap()
}

fn blocking_multi(
    cap: usize,
) -> seqflow_pipeline::DisruptorBuilder<i64, MultiProducerSequencer<BlockingWait>> {
    Disruptor::builder(cap, || 0i64)
        .wait_strategy(BlockingWait::default())
        .multi_producer(MultiProducerMode::Cas)
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// RingBufferTest / bad input
// ---------------------------------------------------------------------------------------------

#[test]
fn rb_bad_capacities_are_build_errors() {
    for cap in [0usize, 3, 6, 100, 1000, (1 << 30) + 1, 1 << 31] {
        let single = Disruptor::builder(cap, || 0u8).single_producer();
        assert!(
            matches!(single, Err(BuildError::Capacity(_))),
            "single cap {cap}"
        );
        let multi = Disruptor::builder(cap, || 0u8).multi_producer(MultiProducerMode::Cas);
        assert!(
            matches!(multi, Err(BuildError::Capacity(_))),
            "multi cap {cap}"
        );
    }
    assert!(matches!(
        Disruptor::builder(0, || 0u8).single_producer(),
        Err(BuildError::Capacity(CapacityError::Zero))
    ));
    assert!(matches!(
        Disruptor::builder(1 << 31, || 0u8).single_producer(),
        Err(BuildError::Capacity(CapacityError::TooLarge(_)))
    ));
}

#[test]
fn rb_capacity_one_ring_works_single_and_multi() {
    watchdog(30, || {
        let log: Log = Default::default();
        let mut b = blocking_single(1);
        b.handle_events_with(recorder(&log));
        let (d, mut p) = b.start().unwrap();
        for i in 0..50 {
            assert_eq!(p.publish(|e, _| *e = i * 10).unwrap(), i);
        }
        d.shutdown().unwrap();
        let got: Vec<i64> = log.lock().unwrap().iter().map(|x| x.1).collect();
        assert_eq!(got, (0..50).map(|i| i * 10).collect::<Vec<_>>());

        let log: Log = Default::default();
        let mut b = blocking_multi(1);
        b.handle_events_with(recorder(&log));
        let (d, mut p) = b.start().unwrap();
        for i in 0..50 {
            assert_eq!(p.publish(|e, _| *e = i).unwrap(), i);
        }
        d.shutdown().unwrap();
        assert_eq!(log.lock().unwrap().len(), 50);
    });
}

#[test]
fn rb_claim_zero_and_oversized_are_typed_errors() {
    watchdog(30, || {
        let (d, mut p) = blocking_single(8).start().unwrap();
        assert_eq!(p.claim(0).err().map(|_| ()), Some(()));
        assert!(matches!(p.claim(0), Err(ClaimError::Zero)));
        assert!(matches!(p.try_claim(0), Err(ClaimError::Zero)));
        assert!(matches!(
            p.claim_timeout(0, Duration::from_millis(1)),
            Err(ClaimError::Zero)
        ));
        assert_eq!(p.publish_batch(0, |_, _| {}), Err(ClaimError::Zero));
        assert_eq!(
            p.publish_batch(9, |_, _| {}),
            Err(ClaimError::TooLarge {
                requested: 9,
                capacity: 8
            })
        );
        assert!(matches!(
            p.try_claim(9),
            Err(ClaimError::TooLarge {
                requested: 9,
                capacity: 8
            })
        ));
        assert_eq!(
            p.publish_batch_timeout(usize::MAX, Duration::from_millis(1), |_, _| {}),
            Err(ClaimError::TooLarge {
                requested: usize::MAX,
                capacity: 8
            })
        );
        // Nothing was consumed by the refused claims.
        assert_eq!(p.publish(|e, _| *e = 1).unwrap(), 0);
        // Exactly the capacity is fine.
        let r = p.publish_batch(8, |e, s| *e = s).unwrap();
        assert_eq!((r.start(), r.end(), r.len()), (1, 8, 8));
        d.shutdown().unwrap();

        let (d, mut p) = blocking_multi(8).start().unwrap();
        assert!(matches!(p.claim(0), Err(ClaimError::Zero)));
        assert!(matches!(
            p.claim(9),
            Err(ClaimError::TooLarge {
                requested: 9,
                capacity: 8
            })
        ));
        assert_eq!(p.publish(|e, _| *e = 1).unwrap(), 0);
        d.shutdown().unwrap();
    });
}

#[test]
fn rb_sequences_start_at_zero_and_values_are_read_back() {
    watchdog(30, || {
        let mut b = blocking_single(32);
        let mut poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        assert_eq!(d.metrics().published, -1);
        assert_eq!(d.metrics().claimed, -1);
        for i in 0..5 {
            assert_eq!(p.publish(|e, seq| *e = seq * 100 + 7).unwrap(), i);
        }
        let r = p.publish_batch(3, |e, seq| *e = seq * 100 + 7).unwrap();
        assert_eq!((r.start(), r.end()), (5, 7));
        let upto = poller.wait_for(0, Some(Duration::from_secs(5))).unwrap();
        assert_eq!(upto, 7);
        for s in 0..=7 {
            assert_eq!(*poller.get(s).unwrap(), s * 100 + 7);
        }
        poller.update_sequence(7).unwrap();
        drop(poller);
        d.shutdown().unwrap();
    });
}

#[test]
fn rb_should_prevent_wrapping_try_publish_full() {
    watchdog(30, || {
        let mut b = blocking_single(4);
        let mut poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        for i in 0..4 {
            p.try_publish(|e, _| *e = i).unwrap();
        }
        assert_eq!(
            p.try_publish(|e, _| *e = 99),
            Err(ClaimError::Full {
                requested: 1,
                free: 0
            })
        );
        // The event at 0 is not overwritten.
        poller.wait_for(0, Some(Duration::from_secs(5))).unwrap();
        assert_eq!(*poller.get(0).unwrap(), 0);
        poller.update_sequence(1).unwrap();
        assert!(matches!(
            p.try_claim(3),
            Err(ClaimError::Full {
                requested: 3,
                free: 2
            })
        ));
        assert_eq!(p.try_publish(|e, _| *e = 4).unwrap(), 4);
        assert_eq!(p.try_publish(|e, _| *e = 5).unwrap(), 5);
        assert!(matches!(
            p.try_publish(|_, _| {}),
            Err(ClaimError::Full { .. })
        ));
        drop(poller);
        d.shutdown().unwrap();
    });
}

#[test]
fn rb_try_publish_full_multi_producer() {
    watchdog(30, || {
        let mut b = blocking_multi(4);
        let mut poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        let mut q = p.clone();
        p.publish_batch(2, |e, s| *e = s).unwrap();
        q.publish_batch(2, |e, s| *e = s).unwrap();
        assert_eq!(
            q.try_publish(|_, _| {}),
            Err(ClaimError::Full {
                requested: 1,
                free: 0
            })
        );
        assert!(!p.has_available_capacity(1));
        poller.wait_for(3, Some(Duration::from_secs(5))).unwrap();
        poller.update_sequence(3).unwrap();
        assert!(p.has_available_capacity(4));
        assert!(!p.has_available_capacity(5));
        drop(poller);
        d.shutdown().unwrap();
    });
}

#[test]
fn rb_remaining_capacity_tracks_publish_and_release() {
    watchdog(30, || {
        for multi in [false, true] {
            let mut poller;
            let d_metrics: Box<dyn Fn() -> usize>;
            let stop: Box<dyn FnOnce()>;
            let mut publish: Box<dyn FnMut(usize)>;
            if multi {
                let mut b = blocking_multi(16);
                poller = Box::new(b.poller().unwrap()) as Box<dyn std::any::Any>;
                let (d, mut p) = b.start().unwrap();
                let h = d.metrics_handle();
                d_metrics = Box::new(move || h.read().remaining_capacity);
                publish = Box::new(move |n| {
                    p.publish_batch(n, |_, _| {}).unwrap();
                });
                stop = Box::new(move || d.halt().unwrap());
            } else {
                let mut b = blocking_single(16);
                poller = Box::new(b.poller().unwrap()) as Box<dyn std::any::Any>;
                let (d, mut p) = b.start().unwrap();
                let h = d.metrics_handle();
                d_metrics = Box::new(move || h.read().remaining_capacity);
                publish = Box::new(move |n| {
                    p.publish_batch(n, |_, _| {}).unwrap();
                });
                stop = Box::new(move || d.halt().unwrap());
            }
            assert_eq!(d_metrics(), 16, "multi={multi}");
            publish(1);
            assert_eq!(d_metrics(), 15, "multi={multi}");
            publish(5);
            assert_eq!(d_metrics(), 10, "multi={multi}");
            // release 3 through the poller
            if multi {
                let p = poller
                    .downcast_mut::<seqflow_pipeline::Poller<i64, MultiProducerSequencer<BlockingWait>>>()
                    .unwrap();
                p.wait_for(2, Some(Duration::from_secs(5))).unwrap();
                p.update_sequence(2).unwrap();
            } else {
                let p = poller
                    .downcast_mut::<seqflow_pipeline::Poller<i64, SingleProducerSequencer<BlockingWait>>>()
                    .unwrap();
                p.wait_for(2, Some(Duration::from_secs(5))).unwrap();
                p.update_sequence(2).unwrap();
            }
            assert_eq!(d_metrics(), 13, "multi={multi}");
            publish(13);
            assert_eq!(d_metrics(), 0, "multi={multi}");
            drop(poller);
            stop();
        }
    });
}

#[test]
fn rb_remaining_capacity_without_consumers_is_full() {
    let (d, mut p) = blocking_single(8).start().unwrap();
    for _ in 0..20 {
        p.publish(|_, _| {}).unwrap();
    }
    assert_eq!(d.metrics().remaining_capacity, 8);
    assert!(p.has_available_capacity(8));
    assert!(!p.has_available_capacity(9));
    d.shutdown().unwrap();
}

#[test]
fn rb_publish_timeout_when_full_times_out_then_succeeds() {
    watchdog(30, || {
        let mut b = blocking_single(2);
        let mut poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        p.publish_batch(2, |_, _| {}).unwrap();
        let t0 = Instant::now();
        assert_eq!(
            p.publish_timeout(Duration::from_millis(50), |_, _| {}),
            Err(ClaimError::Timeout { requested: 1 })
        );
        let waited = t0.elapsed();
        // Never early (the watchdog catches a wait that never ends).
        assert!(
            waited >= Duration::from_millis(45),
            "returned early: {waited:?}"
        );
        // A timed-out claim takes no sequence.
        poller.wait_for(1, None).unwrap();
        poller.update_sequence(1).unwrap();
        assert_eq!(
            p.publish_timeout(Duration::from_millis(50), |e, _| *e = 5),
            Ok(2)
        );
        // claim_timeout also
        p.publish(|_, _| {}).unwrap();
        assert!(matches!(
            p.claim_timeout(1, Duration::from_millis(10)),
            Err(ClaimError::Timeout { requested: 1 })
        ));
        drop(poller);
        d.shutdown().unwrap();
    });
}

#[test]
fn rb_publish_blocks_until_consumer_frees_a_slot() {
    // LMAX shouldPreventPublishersOvertakingEventProcessorWrapPoint
    watchdog(30, || {
        let mut b = blocking_single(4);
        let mut poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        let published = Arc::new(AtomicI64::new(-1));
        let pub2 = published.clone();
        let t = std::thread::spawn(move || {
            for i in 0..=4 {
                let s = p.publish(|e, _| *e = i).unwrap();
                pub2.store(s, SeqCst);
            }
            p
        });
        eventually(5, "4 published", || published.load(SeqCst) == 3);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(published.load(SeqCst), 3, "producer overtook the consumer");
        poller.wait_for(0, None).unwrap();
        poller.update_sequence(0).unwrap();
        let p = t.join().unwrap();
        assert_eq!(published.load(SeqCst), 4);
        drop(p);
        drop(poller);
        d.shutdown().unwrap();
    });
}

#[test]
fn rb_wraps_many_times_in_order() {
    watchdog(60, || {
        let log: Log = Default::default();
        let mut b = blocking_single(4);
        b.handle_events_with(recorder(&log));
        let (d, mut p) = b.start().unwrap();
        for i in 0..1000 {
            p.publish(|e, seq| *e = seq * 3 + i - i).unwrap();
        }
        d.shutdown().unwrap();
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 1000);
        for (i, (seq, v, _)) in log.iter().enumerate() {
            assert_eq!(*seq, i as i64);
            assert_eq!(*v, *seq * 3);
        }
        // the last event is always end_of_batch
        assert!(log.last().unwrap().2);
    });
}

#[test]
fn rb_claim_guard_iter_and_get_mut() {
    watchdog(30, || {
        let log: Log = Default::default();
        let mut b = blocking_single(8);
        b.handle_events_with(recorder(&log));
        let (d, mut p) = b.start().unwrap();
        {
            let mut g = p.claim(3).unwrap();
            assert_eq!(g.range().len(), 3);
            assert!(g.get_mut(3).is_none());
            *g.get_mut(1).unwrap() = 11;
            for (i, e) in g.iter_mut().enumerate() {
                if i != 1 {
                    *e = i as i64 + 100;
                }
            }
            g.commit();
        }
        d.shutdown().unwrap();
        let v: Vec<i64> = log.lock().unwrap().iter().map(|x| x.1).collect();
        assert_eq!(v, vec![100, 11, 102]);
    });
}

// ---------------------------------------------------------------------------------------------
// SequencerTest / MultiProducerSequencerTest / SequenceBarrierTest (primitives)
// ---------------------------------------------------------------------------------------------

#[test]
fn seq_should_not_be_available_until_published_multi() {
    let s =
        MultiProducerSequencer::new(8, YieldingWait::default(), MultiProducerMode::Cas, 2).unwrap();
    let mut a = s.claimer();
    let mut b = s.claimer();
    let ra = a.claim(1).unwrap();
    let rb = b.claim(1).unwrap();
    assert_eq!((ra.start(), rb.start()), (0, 1));
    assert!(!s.is_available(0));
    assert!(!s.is_available(1));
    b.publish(rb).unwrap();
    assert!(!s.is_available(0));
    assert!(s.is_available(1));
    assert_eq!(s.published(), -1, "0 is a hole");
    a.publish(ra).unwrap();
    assert!(s.is_available(0));
    assert_eq!(s.published(), 1);
    assert_eq!(s.claimed(), 1);
}

#[test]
fn seq_pending_and_not_claimed_errors() {
    let s = SingleProducerSequencer::new(8, YieldingWait::default(), 2).unwrap();
    let mut c = s.claimer().unwrap();
    assert!(s.claimer().is_none(), "only one single-producer claimer");
    let r = c.claim(2).unwrap();
    assert!(matches!(c.claim(1), Err(ClaimError::Pending { .. })));
    let wrong = c.pending().unwrap();
    assert_eq!(wrong, r);
    assert!(matches!(
        c.publish(seqflow_sequencer::SequenceRange::single(5)),
        Err(PublishError::NotClaimed { .. })
    ));
    c.publish(r).unwrap();
    assert!(matches!(c.publish(r), Err(PublishError::NotClaimed { .. })));
    assert_eq!(s.published(), 1);
}

/// Claim `n` (try or block) and publish it at once.
type ClaimFn = Box<dyn FnMut(usize, bool) -> Result<seqflow_sequencer::SequenceRange, ClaimError>>;

#[test]
fn seq_remaining_capacity_and_try_claim_with_gating() {
    for multi in [false, true] {
        let (seq, mut claim): (Arc<dyn Sequencer<Wait = YieldingWait>>, ClaimFn);
        if multi {
            let s =
                MultiProducerSequencer::new(4, YieldingWait::default(), MultiProducerMode::Lock, 2)
                    .unwrap();
            let mut c = s.claimer();
            seq = s.clone();
            claim = Box::new(move |n, try_| {
                let r = if try_ { c.try_claim(n)? } else { c.claim(n)? };
                c.publish(r).unwrap();
                Ok(r)
            });
        } else {
            let s = SingleProducerSequencer::new(4, YieldingWait::default(), 2).unwrap();
            let mut c = s.claimer().unwrap();
            seq = s.clone();
            claim = Box::new(move |n, try_| {
                let r = if try_ { c.try_claim(n)? } else { c.claim(n)? };
                c.publish(r).unwrap();
                Ok(r)
            });
        }
        let consumer = seq.gating().register(true, || -1).unwrap();
        assert_eq!(seq.remaining_capacity(), 4);
        claim(3, true).unwrap();
        assert_eq!(seq.remaining_capacity(), 1, "multi={multi}");
        assert!(matches!(
            claim(2, true),
            Err(ClaimError::Full {
                requested: 2,
                free: 1
            })
        ));
        claim(1, true).unwrap();
        assert_eq!(seq.remaining_capacity(), 0);
        assert!(matches!(
            claim(1, true),
            Err(ClaimError::Full {
                requested: 1,
                free: 0
            })
        ));
        consumer.set_sequence(1);
        assert_eq!(seq.remaining_capacity(), 2, "multi={multi}");
        let r = claim(2, true).unwrap();
        assert_eq!((r.start(), r.end()), (4, 5));
        drop(consumer);
    }
}

#[test]
fn seq_claim_specific_sequence_start_at() {
    let mut b = blocking_single(8);
    let log: Log = Default::default();
    b.handle_events_with(recorder(&log));
    assert!(matches!(
        b.start_at(-1),
        Err(BuildError::StartAt(StartAtError::Negative { next: -1 }))
    ));
    b.start_at(14).unwrap();
    let (d, mut p) = b.start().unwrap();
    assert_eq!(p.publish(|e, s| *e = s).unwrap(), 14);
    assert_eq!(p.publish(|e, s| *e = s).unwrap(), 15);
    d.shutdown().unwrap();
    assert_eq!(
        log.lock().unwrap().iter().map(|x| x.0).collect::<Vec<_>>(),
        vec![14, 15]
    );

    let mut b = blocking_single(8);
    b.publish_before_start(|p| p.try_publish(|_, _| {}).unwrap())
        .unwrap();
    assert!(matches!(
        b.start_at(10),
        Err(BuildError::StartAt(StartAtError::AlreadyClaimed {
            claimed: 0
        }))
    ));
}

#[test]
fn barrier_waits_for_dependents_and_alerts() {
    watchdog(30, || {
        let s = SingleProducerSequencer::new(8, BlockingWait::default(), 2).unwrap();
        let mut c = s.claimer().unwrap();
        let dep = seqflow_sequence::OwnedRef::new(seqflow_sequence::Sequence::default());
        let alert = Alert::new();
        let barrier = SequenceBarrier::new(
            s.clone(),
            vec![dep.clone().map(|s| s.read_only())],
            alert.clone(),
        );
        let r = c.claim(4).unwrap();
        c.publish(r).unwrap();
        assert_eq!(
            barrier.wait_for(0, Some(Duration::from_millis(20))),
            Err(WaitError::Timeout)
        );
        dep.set(2);
        assert_eq!(barrier.wait_for(0, Some(Duration::from_millis(20))), Ok(2));
        dep.set(10);
        assert_eq!(barrier.wait_for(0, None), Ok(3), "never past the cursor");
        // alert wakes a blocked waiter
        let b2 = barrier.clone();
        let t = std::thread::spawn(move || b2.wait_for(5, None));
        std::thread::sleep(Duration::from_millis(20));
        alert.raise();
        s.wait_strategy().signal_all();
        assert_eq!(t.join().unwrap(), Err(WaitError::Alerted));
        // an already available sequence is still returned when alerted
        assert_eq!(barrier.wait_for(1, None), Ok(3));
    });
}

// ---------------------------------------------------------------------------------------------
// DisruptorTest: dependency graph
// ---------------------------------------------------------------------------------------------

/// A handler that asserts that every stage in `deps` has finished `seq` before it sees it, and
/// publishes its own progress in `me`.
fn checked(
    deps: Vec<Arc<AtomicI64>>,
    me: Arc<AtomicI64>,
    violations: Arc<AtomicUsize>,
) -> impl FnMut(&i64, i64, bool) + Send + 'static {
    move |_: &i64, seq, _| {
        for d in &deps {
            if d.load(SeqCst) < seq {
                violations.fetch_add(1, SeqCst);
            }
        }
        let prev = me.swap(seq, SeqCst);
        if prev != seq - 1 {
            violations.fetch_add(1000, SeqCst);
        }
    }
}

#[test]
fn dsl_first_handlers_see_events_immediately_multicast() {
    // shouldMakeEntriesAvailableToFirstHandlersImmediately
    watchdog(30, || {
        let (slow, gate, slow_done, _) = delayed();
        let log: Log = Default::default();
        let mut b = blocking_single(8);
        b.handle_events_with(slow).and(recorder(&log));
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 1).unwrap();
        p.publish(|e, _| *e = 2).unwrap();
        eventually(5, "fast handler saw both", || {
            log.lock().unwrap().len() == 2
        });
        assert_eq!(slow_done.load(SeqCst), -1);
        drop(gate);
        d.shutdown().unwrap();
        assert_eq!(slow_done.load(SeqCst), 1);
    });
}

#[test]
fn dsl_then_waits_for_previous_stage() {
    // shouldWaitUntilAllFirstEventProcessorsProcessEventBeforeMakingItAvailableToDependentEventProcessors
    watchdog(30, || {
        let (slow, gate, slow_done, _) = delayed();
        let log: Log = Default::default();
        let mut b = blocking_single(8);
        // max_batch_size(1): the stage publishes its progress after every event (a batch's
        // progress is otherwise published at its end, as in LMAX).
        b.handle_events_with(slow)
            .max_batch_size(1)
            .then(recorder(&log));
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 1).unwrap();
        p.publish(|e, _| *e = 2).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        assert!(
            log.lock().unwrap().is_empty(),
            "dependent ran before its dependency"
        );
        gate.send(()).unwrap();
        eventually(5, "first event passed", || log.lock().unwrap().len() == 1);
        assert_eq!(slow_done.load(SeqCst), 0);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(log.lock().unwrap().len(), 1);
        gate.send(()).unwrap();
        eventually(5, "second event passed", || log.lock().unwrap().len() == 2);
        d.shutdown().unwrap();
    });
}

#[test]
fn dsl_after_two_handlers_diamond() {
    // shouldAllowSpecifyingSpecificEventProcessorsToWaitFor / shouldWaitOnAllProducersJoinedByAnd
    watchdog(30, || {
        let (h1, g1, _, _) = delayed();
        let (h2, g2, _, _) = delayed();
        let log: Log = Default::default();
        let mut b = blocking_single(8);
        let a = b.handle_events_with(h1).group();
        let c = b.handle_events_with(h2).group();
        b.after(&[&a, &c]).handle_events_with(recorder(&log));
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 1).unwrap();
        g1.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        assert!(
            log.lock().unwrap().is_empty(),
            "ran after only one of two dependencies"
        );
        g2.send(()).unwrap();
        eventually(5, "joined", || log.lock().unwrap().len() == 1);
        drop((g1, g2));
        d.shutdown().unwrap();
    });
}

#[test]
fn dsl_dependency_order_under_load_diamond_and_pipeline() {
    // A stage never sees an event before every stage it depends on has handled it.
    watchdog(120, || {
        for multi in [false, true] {
            let violations = Arc::new(AtomicUsize::new(0));
            let a = Arc::new(AtomicI64::new(-1));
            let bq = Arc::new(AtomicI64::new(-1));
            let c = Arc::new(AtomicI64::new(-1));
            let e = Arc::new(AtomicI64::new(-1));
            let n: i64 = 20_000;
            macro_rules! wire {
                ($b:expr) => {{
                    let ga = $b
                        .handle_events_with(checked(vec![], a.clone(), violations.clone()))
                        .group();
                    let gb = $b
                        .handle_events_with(checked(vec![], bq.clone(), violations.clone()))
                        .group();
                    $b.after(&[&ga, &gb])
                        .handle_events_with(checked(
                            vec![a.clone(), bq.clone()],
                            c.clone(),
                            violations.clone(),
                        ))
                        .then(checked(
                            vec![a.clone(), bq.clone(), c.clone()],
                            e.clone(),
                            violations.clone(),
                        ));
                }};
            }
            if multi {
                let mut b = blocking_multi(64);
                wire!(b);
                let (d, p) = b.start().unwrap();
                let ts: Vec<_> = (0..2)
                    .map(|_| {
                        let mut p = p.clone();
                        std::thread::spawn(move || {
                            for i in 0..n / 2 {
                                p.publish(|ev, _| *ev = i).unwrap();
                            }
                        })
                    })
                    .collect();
                for t in ts {
                    t.join().unwrap();
                }
                d.shutdown().unwrap();
            } else {
                let mut b = blocking_single(64);
                wire!(b);
                let (d, mut p) = b.start().unwrap();
                for i in 0..n {
                    p.publish(|ev, _| *ev = i).unwrap();
                }
                d.shutdown().unwrap();
            }
            assert_eq!(violations.load(SeqCst), 0, "multi={multi}");
            assert_eq!(e.load(SeqCst), n - 1, "multi={multi}");
        }
    });
}

#[test]
fn dsl_only_last_stage_gates_and_first_never_laps_last() {
    // An early stage may run ahead of the last one by at most the ring size.
    watchdog(30, || {
        let (slow, gate, slow_done, _) = delayed();
        let fast_done = Arc::new(AtomicI64::new(-1));
        let f2 = fast_done.clone();
        let mut b = blocking_single(4);
        b.handle_events_with(move |_: &i64, s, _| f2.store(s, SeqCst))
            .then(slow);
        let (d, mut p) = b.start().unwrap();
        let published = Arc::new(AtomicI64::new(-1));
        let pc = published.clone();
        let t = std::thread::spawn(move || {
            for i in 0..10 {
                let s = p.publish(|e, _| *e = i).unwrap();
                pc.store(s, SeqCst);
            }
        });
        eventually(5, "ring fills", || published.load(SeqCst) == 3);
        // The first stage is not held back by the last one: it handles the whole ring (in its
        // own time: its thread may run late on a loaded machine)...
        eventually(5, "first stage handles the ring", || {
            fast_done.load(SeqCst) == 3
        });
        // ...and the producer still waits for the last stage, not the first.
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(published.load(SeqCst), 3);
        assert_eq!(fast_done.load(SeqCst), 3, "the first stage lapped the last");
        let m = d.metrics();
        assert_eq!(m.stages.iter().filter(|s| s.gating).count(), 1);
        assert!(m.stages[1].gating && !m.stages[0].gating);
        for _ in 0..10 {
            gate.send(()).unwrap();
        }
        t.join().unwrap();
        d.shutdown().unwrap();
        assert_eq!(slow_done.load(SeqCst), 9);
    });
}

#[test]
fn dsl_block_producer_until_all_processors_advanced() {
    // shouldBlockProducerUntilAllEventProcessorsHaveAdvanced (two gating stages)
    watchdog(30, || {
        let (h1, g1, _, started) = delayed();
        let mut b = blocking_single(4);
        b.handle_events_with(h1).and(|_: &i64, _, _| {});
        let (d, mut p) = b.start().unwrap();
        eventually(5, "started", || started.load(SeqCst));
        let count = Arc::new(AtomicI64::new(0));
        let c2 = count.clone();
        let t = std::thread::spawn(move || {
            for _ in 0..5 {
                p.publish(|_, _| {}).unwrap();
                c2.fetch_add(1, SeqCst);
            }
        });
        eventually(5, "4 published", || count.load(SeqCst) == 4);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(count.load(SeqCst), 4);
        for _ in 0..4 {
            g1.send(()).unwrap();
        }
        eventually(5, "5 published", || count.load(SeqCst) == 5);
        t.join().unwrap();
        drop(g1);
        d.shutdown().unwrap();
    });
}

#[test]
fn dsl_foreign_group_is_an_error() {
    // shouldThrowExceptionIfHandlerIsNotAlreadyConsuming
    let mut first = blocking_single(8);
    let g = first.handle_events_with(|_: &i64, _, _| {}).group();
    let mut second = blocking_single(8);
    second.after(&[&g]).handle_events_with(|_: &i64, _, _| {});
    assert!(matches!(
        second.start().err(),
        Some(BuildError::ForeignStageGroup)
    ));
}

#[test]
fn dsl_handlers_added_after_start_see_only_new_events() {
    watchdog(30, || {
        let (mut d, mut p) = blocking_single(8).start().unwrap();
        p.publish(|e, _| *e = 100).unwrap();
        let log: Log = Default::default();
        d.handle_events_with(recorder(&log)).unwrap();
        for i in 1..=20 {
            p.publish(|e, _| *e = i).unwrap();
        }
        d.shutdown().unwrap();
        let v: Vec<i64> = log.lock().unwrap().iter().map(|x| x.1).collect();
        assert_eq!(v, (1..=20).collect::<Vec<_>>());
    });
}

#[test]
fn dsl_custom_processor_as_dependency() {
    // shouldSupportCustomProcessorsAsDependencies
    watchdog(30, || {
        let seen = Arc::new(AtomicI64::new(-1));
        let s2 = seen.clone();
        let violations = Arc::new(AtomicUsize::new(0));
        let v2 = violations.clone();
        let mut b = blocking_single(8);
        let custom = b
            .handle_events_with_processor(
                move |mut poller: seqflow_pipeline::Poller<i64, _>| loop {
                    match poller.poll(|_, seq, _| {
                        std::thread::sleep(Duration::from_micros(200));
                        s2.store(seq, SeqCst);
                    }) {
                        Ok(_) => std::thread::yield_now(),
                        Err(PollError::Alerted) => return,
                        Err(e) => panic!("{e}"),
                    }
                },
            )
            .group();
        let s3 = seen.clone();
        let count = Arc::new(AtomicI64::new(0));
        let c2 = count.clone();
        b.after(&[&custom])
            .handle_events_with(move |_: &i64, seq, _| {
                if s3.load(SeqCst) < seq {
                    v2.fetch_add(1, SeqCst);
                }
                c2.fetch_add(1, SeqCst);
            });
        let (d, mut p) = b.start().unwrap();
        for i in 0..100 {
            p.publish(|e, _| *e = i).unwrap();
        }
        d.shutdown().unwrap();
        assert_eq!(violations.load(SeqCst), 0);
        assert_eq!(count.load(SeqCst), 100);
    });
}

// ---------------------------------------------------------------------------------------------
// WorkerPoolTest / WorkProcessorTest
// ---------------------------------------------------------------------------------------------

#[test]
fn pool_each_event_exactly_once() {
    watchdog(60, || {
        for multi in [false, true] {
            let seen = Arc::new(Mutex::new(vec![0u32; 5000]));
            let per_worker: Vec<Arc<AtomicUsize>> =
                (0..3).map(|_| Arc::new(AtomicUsize::new(0))).collect();
            let workers: Vec<_> = per_worker
                .iter()
                .map(|c| {
                    let c = c.clone();
                    let seen = seen.clone();
                    move |e: &i64, seq: i64, _: bool| {
                        assert_eq!(*e, seq);
                        seen.lock().unwrap()[seq as usize] += 1;
                        c.fetch_add(1, SeqCst);
                    }
                })
                .collect();
            if multi {
                let mut b = blocking_multi(16);
                b.handle_events_with_worker_pool(workers);
                let (d, mut p) = b.start().unwrap();
                for _ in 0..5000 {
                    p.publish(|e, s| *e = s).unwrap();
                }
                d.shutdown().unwrap();
            } else {
                let mut b = blocking_single(16);
                b.handle_events_with_worker_pool(workers);
                let (d, mut p) = b.start().unwrap();
                for _ in 0..5000 {
                    p.publish(|e, s| *e = s).unwrap();
                }
                d.shutdown().unwrap();
            }
            assert!(
                seen.lock().unwrap().iter().all(|&n| n == 1),
                "multi={multi}"
            );
            let total: usize = per_worker.iter().map(|c| c.load(SeqCst)).sum();
            assert_eq!(total, 5000);
        }
    });
}

#[test]
fn pool_then_handler_waits_for_pool() {
    // shouldSupportUsingWorkerPoolAsDependency
    watchdog(30, || {
        let (w1, g1, _, _) = delayed();
        let (w2, g2, _, _) = delayed();
        let log: Log = Default::default();
        let mut b = blocking_single(8);
        b.handle_events_with_worker_pool(vec![w1, w2])
            .then(recorder(&log));
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 1).unwrap();
        p.publish(|e, _| *e = 2).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        assert!(log.lock().unwrap().is_empty());
        g1.send(()).unwrap();
        g2.send(()).unwrap();
        eventually(5, "both through", || log.lock().unwrap().len() == 2);
        drop((g1, g2));
        d.shutdown().unwrap();
    });
}

#[test]
fn pool_after_handler() {
    // shouldSupportUsingWorkerPoolWithADependency
    watchdog(30, || {
        let (h, g, _, _) = delayed();
        let count = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let c = count.clone();
                move |_: &i64, _: i64, _: bool| {
                    c.fetch_add(1, SeqCst);
                }
            })
            .collect();
        let mut b = blocking_single(8);
        b.handle_events_with(h)
            .max_batch_size(1)
            .then_worker_pool(workers);
        let (d, mut p) = b.start().unwrap();
        p.publish(|_, _| {}).unwrap();
        p.publish(|_, _| {}).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(count.load(SeqCst), 0);
        g.send(()).unwrap();
        eventually(5, "one", || count.load(SeqCst) == 1);
        g.send(()).unwrap();
        eventually(5, "two", || count.load(SeqCst) == 2);
        d.shutdown().unwrap();
    });
}

#[test]
fn pool_worker_exception_goes_to_exception_handler() {
    watchdog(30, || {
        let rec = Arc::new(Recording::default());
        let workers: Vec<_> = (0..2)
            .map(|_| {
                fallible(|e: &i64, _, _| {
                    if *e == 3 {
                        Err(EventError::msg("bad three"))
                    } else {
                        Ok(())
                    }
                })
            })
            .collect();
        let mut b = blocking_single(8);
        b.handle_events_with_worker_pool(workers)
            .exception_handler(rec.clone());
        let (d, mut p) = b.start().unwrap();
        for i in 0..6 {
            p.publish(|e, _| *e = i).unwrap();
        }
        let m = d.metrics_handle();
        d.shutdown().unwrap();
        assert_eq!(
            *rec.events.lock().unwrap(),
            vec![("bad three".to_string(), 3, 3)]
        );
        assert_eq!(m.read().panics, 1);
    });
}

#[test]
fn pool_rewind_is_unsupported_error() {
    watchdog(30, || {
        let rec = Arc::new(Recording::default());
        let mut b = blocking_single(8);
        b.handle_events_with_worker_pool(vec![fallible(|e: &i64, _, _| {
            if *e == 1 {
                Err(EventError::Rewind)
            } else {
                Ok(())
            }
        })])
        .rewind_policy(RewindPolicy::up_to(3))
        .exception_handler(rec.clone());
        let (d, mut p) = b.start().unwrap();
        for i in 0..3 {
            p.publish(|e, _| *e = i).unwrap();
        }
        d.shutdown().unwrap();
        let ev = rec.events.lock().unwrap();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].1, 1);
        assert_eq!(ev[0].0, EventError::RewindUnsupported.to_string());
    });
}

// ---------------------------------------------------------------------------------------------
// Exception handling (DisruptorTest, BatchEventProcessorTest, ShutdownOnFatalExceptionTest)
// ---------------------------------------------------------------------------------------------

#[test]
fn exc_default_exception_handler_via_config() {
    // shouldSupportSpecifyingADefaultExceptionHandlerForEventProcessors
    watchdog(30, || {
        let rec = Arc::new(Recording::default());
        let mut b = Disruptor::builder(8, || 0i64)
            .wait_strategy(BlockingWait::default())
            .exception_handler(rec.clone())
            .single_producer()
            .unwrap();
        b.handle_events_with(|e: &i64, _, _| {
            if *e == 7 {
                panic!("boom seven")
            }
        });
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 1).unwrap();
        p.publish(|e, _| *e = 7).unwrap();
        p.publish(|e, _| *e = 2).unwrap();
        d.shutdown().unwrap();
        let ev = rec.events.lock().unwrap();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].1, 1);
        assert_eq!(ev[0].2, 7);
        assert!(ev[0].0.contains("boom seven"), "{}", ev[0].0);
    });
}

#[test]
fn exc_builder_set_default_exception_handler() {
    watchdog(30, || {
        let rec = Arc::new(Recording::default());
        let mut b = blocking_single(8);
        b.set_default_exception_handler(rec.clone());
        b.handle_events_with(fallible(|e: &i64, _, _| {
            if *e == 2 {
                Err(EventError::msg("two"))
            } else {
                Ok(())
            }
        }));
        let (d, mut p) = b.start().unwrap();
        for i in 0..4 {
            p.publish(|e, _| *e = i).unwrap();
        }
        d.shutdown().unwrap();
        assert_eq!(*rec.events.lock().unwrap(), vec![("two".to_string(), 2, 2)]);
    });
}

#[test]
fn exc_per_stage_override_wins_over_default() {
    // shouldBeAbleToOverrideTheExceptionHandlerForAEventProcessor
    watchdog(30, || {
        let default = Arc::new(Recording::default());
        let own = Arc::new(Recording::default());
        let mut b = Disruptor::builder(8, || 0i64)
            .wait_strategy(BlockingWait::default())
            .exception_handler(default.clone())
            .single_producer()
            .unwrap();
        b.handle_events_with(|_: &i64, _, _| panic!("a"))
            .exception_handler(own.clone())
            .then(|_: &i64, _, _| panic!("b"));
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 5).unwrap();
        d.shutdown().unwrap();
        assert_eq!(own.events.lock().unwrap().len(), 1);
        assert!(own.events.lock().unwrap()[0].0.contains('a'));
        assert_eq!(default.events.lock().unwrap().len(), 1);
        assert!(default.events.lock().unwrap()[0].0.contains('b'));
    });
}

#[test]
fn exc_halt_policy_reports_panic_and_stops() {
    watchdog(30, || {
        let count = Arc::new(AtomicI64::new(0));
        let c = count.clone();
        let mut b = blocking_single(8);
        b.handle_events_with(move |e: &i64, _, _| {
            if *e == 3 {
                panic!("three!");
            }
            c.fetch_add(1, SeqCst);
        })
        .named("worker-a");
        let (d, mut p) = b.start().unwrap();
        for i in 0..6 {
            p.publish(|e, _| *e = i).unwrap();
        }
        let res = d.shutdown();
        match res {
            Err(ShutdownError::HandlerPanicked {
                stage,
                seq,
                message,
            }) => {
                assert_eq!(stage, "worker-a");
                assert_eq!(seq, 3);
                assert!(message.contains("three!"));
            }
            other => panic!("expected HandlerPanicked, got {other:?}"),
        }
        assert_eq!(
            count.load(SeqCst),
            3,
            "events after the failure were handled"
        );
    });
}

#[test]
fn exc_halt_from_returned_error_is_handler_failed() {
    watchdog(30, || {
        let mut b = blocking_single(8);
        b.handle_events_with(fallible(|e: &i64, _, _| {
            if *e == 1 {
                Err(EventError::msg("nope"))
            } else {
                Ok(())
            }
        }))
        .named("f");
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 0).unwrap();
        p.publish(|e, _| *e = 1).unwrap();
        assert_eq!(
            d.shutdown(),
            Err(ShutdownError::HandlerFailed {
                stage: "f".into(),
                seq: 1,
                message: "nope".into()
            })
        );
    });
}

#[test]
fn exc_fatal_exception_does_not_hang_producer() {
    // ShutdownOnFatalExceptionTest: a fatal handler failure halts; the producer is not stuck.
    watchdog(30, || {
        let mut b = blocking_single(8);
        b.handle_events_with(|e: &i64, _, _| {
            if *e == 5 {
                panic!("fatal");
            }
        });
        let (d, mut p) = b.start().unwrap();
        let mut result = Ok(0);
        for i in 0..1000 {
            result = p.publish(|e, _| *e = i);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(ClaimError::Halted));
        assert!(matches!(
            d.shutdown(),
            Err(ShutdownError::HandlerPanicked { seq: 5, .. })
        ));
    });
}

#[test]
fn exc_log_and_continue_counts_and_skips() {
    watchdog(30, || {
        let log: Log = Default::default();
        let l2 = log.clone();
        let mut b = Disruptor::builder(8, || 0i64)
            .wait_strategy(BlockingWait::default())
            .panic_policy(PanicPolicy::LogAndContinue)
            .single_producer()
            .unwrap();
        b.handle_events_with(move |e: &i64, s, eob| {
            if *e % 3 == 0 {
                panic!("div3");
            }
            l2.lock().unwrap().push((s, *e, eob));
        });
        let (d, mut p) = b.start().unwrap();
        for i in 0..10 {
            p.publish(|e, _| *e = i).unwrap();
        }
        let m = d.metrics_handle();
        d.shutdown().unwrap();
        assert_eq!(m.read().panics, 4);
        let v: Vec<i64> = log.lock().unwrap().iter().map(|x| x.1).collect();
        assert_eq!(v, vec![1, 2, 4, 5, 7, 8]);
    });
}

#[test]
fn exc_on_start_and_on_shutdown_failures_reported() {
    watchdog(30, || {
        struct H(Arc<AtomicI64>);
        impl EventHandler<i64> for H {
            fn on_event(&mut self, _: &i64, _: i64, _: bool) {
                self.0.fetch_add(1, SeqCst);
            }
            fn on_start(&mut self) {
                panic!("start failed");
            }
            fn on_shutdown(&mut self) {
                panic!("shutdown failed");
            }
        }
        let rec = Arc::new(Recording::default());
        let n = Arc::new(AtomicI64::new(0));
        let mut b = blocking_single(8);
        b.handle_events_with(H(n.clone()))
            .exception_handler(rec.clone());
        let (d, mut p) = b.start().unwrap();
        p.publish(|_, _| {}).unwrap();
        d.shutdown().unwrap();
        assert_eq!(
            n.load(SeqCst),
            1,
            "Continue after on_start failure runs the stage"
        );
        assert_eq!(rec.starts.lock().unwrap().len(), 1);
        assert!(rec.starts.lock().unwrap()[0].contains("start failed"));
        assert_eq!(rec.shutdowns.lock().unwrap().len(), 1);
        assert!(rec.shutdowns.lock().unwrap()[0].contains("shutdown failed"));
    });
}

#[test]
fn exc_panicking_exception_handler_halts() {
    watchdog(30, || {
        struct Bad;
        impl ExceptionHandler<i64> for Bad {
            fn handle_event_exception(
                &self,
                _: &HandlerFailure,
                _: i64,
                _: &i64,
            ) -> ExceptionAction {
                panic!("handler of handler");
            }
        }
        let mut b = blocking_single(8);
        b.handle_events_with(|_: &i64, _, _| panic!("x"))
            .exception_handler(Bad);
        let (d, mut p) = b.start().unwrap();
        p.publish(|_, _| {}).unwrap();
        let r = d.shutdown();
        assert!(
            matches!(r, Err(ShutdownError::HandlerPanicked { seq: 0, .. })),
            "{r:?}"
        );
    });
}

#[test]
fn exc_exception_handler_halt_action_unblocks_producer() {
    watchdog(30, || {
        let rec = Arc::new(Recording {
            action: Some(ExceptionAction::Halt),
            ..Default::default()
        });
        let mut b = blocking_multi(4);
        b.handle_events_with(fallible(|e: &i64, _, _| {
            if *e == 2 {
                Err(EventError::msg("stop"))
            } else {
                Ok(())
            }
        }))
        .exception_handler(rec.clone());
        let (d, mut p) = b.start().unwrap();
        let mut last = Ok(0);
        for i in 0..100 {
            last = p.publish(|e, _| *e = i);
            if last.is_err() {
                break;
            }
        }
        assert_eq!(last, Err(ClaimError::Halted));
        assert!(matches!(
            d.shutdown(),
            Err(ShutdownError::HandlerFailed { seq: 2, .. })
        ));
        assert_eq!(rec.events.lock().unwrap().len(), 1);
    });
}

// ---------------------------------------------------------------------------------------------
// LifecycleAwareTest, shutdown / halt
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Default)]
struct Lifecycle {
    calls: Arc<Mutex<Vec<String>>>,
    threads: Arc<Mutex<Vec<std::thread::ThreadId>>>,
}

impl EventHandler<i64> for Lifecycle {
    fn on_event(&mut self, _: &i64, seq: i64, _: bool) {
        self.calls.lock().unwrap().push(format!("event{seq}"));
        self.threads
            .lock()
            .unwrap()
            .push(std::thread::current().id());
    }
    fn on_start(&mut self) {
        self.calls.lock().unwrap().push("start".into());
        self.threads
            .lock()
            .unwrap()
            .push(std::thread::current().id());
    }
    fn on_shutdown(&mut self) {
        self.calls.lock().unwrap().push("shutdown".into());
        self.threads
            .lock()
            .unwrap()
            .push(std::thread::current().id());
    }
}

#[test]
fn life_on_start_and_on_shutdown_once_on_stage_thread() {
    watchdog(30, || {
        let l = Lifecycle::default();
        let mut b = blocking_single(8);
        b.handle_events_with(l.clone()).then(l.clone());
        let (d, mut p) = b.start().unwrap();
        p.publish(|_, _| {}).unwrap();
        d.shutdown().unwrap();
        let calls = l.calls.lock().unwrap();
        assert_eq!(calls.iter().filter(|c| *c == "start").count(), 2);
        assert_eq!(calls.iter().filter(|c| *c == "shutdown").count(), 2);
        assert_eq!(calls.iter().filter(|c| *c == "event0").count(), 2);
        let threads = l.threads.lock().unwrap();
        let distinct: std::collections::HashSet<_> = threads.iter().collect();
        assert_eq!(distinct.len(), 2);
        assert!(!distinct.contains(&std::thread::current().id()));
    });
}

#[test]
fn life_on_shutdown_called_after_halt_and_for_idle_stage() {
    watchdog(30, || {
        let l = Lifecycle::default();
        let mut b = blocking_single(8);
        b.handle_events_with(l.clone());
        b.handle_events_with_worker_pool(vec![l.clone(), l.clone()]);
        let (d, _p) = b.start().unwrap();
        eventually(5, "started", || {
            l.calls
                .lock()
                .unwrap()
                .iter()
                .filter(|c| *c == "start")
                .count()
                == 3
        });
        d.halt().unwrap();
        let calls = l.calls.lock().unwrap();
        assert_eq!(calls.iter().filter(|c| *c == "shutdown").count(), 3);
    });
}

#[test]
fn life_drop_disruptor_halts_and_joins() {
    watchdog(30, || {
        let l = Lifecycle::default();
        let mut b = blocking_single(8);
        b.handle_events_with(l.clone());
        let (d, mut p) = b.start().unwrap();
        p.publish(|_, _| {}).unwrap();
        drop(d);
        assert!(l.calls.lock().unwrap().iter().any(|c| c == "shutdown"));
        // a producer that has to wait after the halt is refused
        let mut res = Ok(0);
        for _ in 0..20 {
            res = p.publish(|_, _| {});
            if res.is_err() {
                break;
            }
        }
        assert_eq!(res, Err(ClaimError::Halted));
    });
}

#[test]
fn life_shutdown_drains_everything_across_stages() {
    watchdog(60, || {
        let total = Arc::new(AtomicI64::new(0));
        let t2 = total.clone();
        let mut b = blocking_multi(16);
        b.handle_events_with(|_: &i64, _, _| std::thread::sleep(Duration::from_micros(20)))
            .then(move |e: &i64, _, _| {
                t2.fetch_add(*e, SeqCst);
            });
        let (d, p) = b.start().unwrap();
        let ts: Vec<_> = (0..2)
            .map(|k| {
                let mut p = p.clone();
                std::thread::spawn(move || {
                    for i in 0..500 {
                        p.publish(|e, _| *e = i + k * 1000).unwrap();
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        d.shutdown().unwrap();
        let expected: i64 = (0..500).sum::<i64>() * 2 + 500 * 1000;
        assert_eq!(total.load(SeqCst), expected);
    });
}

#[test]
fn life_shutdown_timeout_reports_unprocessed() {
    watchdog(30, || {
        let (h, _gate, _, started) = delayed();
        let mut b = blocking_single(8);
        b.handle_events_with(h);
        let (d, mut p) = b.start().unwrap();
        eventually(5, "started", || started.load(SeqCst));
        for _ in 0..5 {
            p.publish(|_, _| {}).unwrap();
        }
        let r = d.shutdown_timeout(Duration::from_millis(100));
        assert_eq!(r, Err(ShutdownError::Timeout { unprocessed: 5 }));
    });
}

#[test]
fn life_shutdown_timeout_ok_when_drained() {
    watchdog(30, || {
        let n = Arc::new(AtomicI64::new(0));
        let n2 = n.clone();
        let mut b = blocking_single(8);
        b.handle_events_with(move |_: &i64, _, _| {
            n2.fetch_add(1, SeqCst);
        });
        let (d, mut p) = b.start().unwrap();
        for _ in 0..100 {
            p.publish(|_, _| {}).unwrap();
        }
        d.shutdown_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(n.load(SeqCst), 100);
    });
}

#[test]
fn life_start_owned_drains_when_last_producer_dropped() {
    watchdog(30, || {
        let n = Arc::new(AtomicI64::new(0));
        let n2 = n.clone();
        let mut b = blocking_multi(8);
        b.handle_events_with(move |e: &i64, _, _| {
            n2.fetch_add(*e, SeqCst);
        });
        let p = b.start_owned().unwrap();
        let mut q = p.clone();
        let t = std::thread::spawn(move || {
            for i in 1..=100 {
                q.publish(|e, _| *e = i).unwrap();
            }
        });
        drop(p);
        t.join().unwrap(); // q dropped inside: last producer
        assert_eq!(n.load(SeqCst), 5050);
    });
}

#[test]
fn life_single_producer_is_unique_and_another_producer_for_multi() {
    let (d, p) = blocking_single(8).start().unwrap();
    assert!(matches!(d.producer(), Err(BuildError::ProducerTaken)));
    drop(p);
    d.shutdown().unwrap();
    let (d, _p) = blocking_multi(8).start().unwrap();
    let mut q = d.producer().unwrap();
    q.publish(|_, _| {}).unwrap();
    d.shutdown().unwrap();
}

#[test]
fn life_too_many_consumers_is_typed_error() {
    let mut b = Disruptor::builder(8, || 0i64)
        .max_consumers(2)
        .single_producer()
        .unwrap();
    b.handle_events_with(|_: &i64, _, _| {});
    b.handle_events_with(|_: &i64, _, _| {});
    b.handle_events_with(|_: &i64, _, _| {});
    assert!(matches!(b.start().err(), Some(BuildError::Register(_))));
    let mut b = Disruptor::builder(8, || 0i64)
        .max_consumers(0)
        .single_producer()
        .unwrap();
    assert!(matches!(b.poller().err(), Some(BuildError::Register(_))));
}

// ---------------------------------------------------------------------------------------------
// BatchEventProcessorTest / MaxBatchSizeEventProcessorTest / BatchingTest
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Default)]
struct BatchRecorder {
    batches: Arc<Mutex<Vec<Vec<i64>>>>,
    starts: Arc<Mutex<Vec<(i64, i64)>>>,
    current: Vec<i64>,
}

impl EventHandler<i64> for BatchRecorder {
    fn on_event(&mut self, _: &i64, seq: i64, eob: bool) {
        self.current.push(seq);
        if eob {
            self.batches
                .lock()
                .unwrap()
                .push(std::mem::take(&mut self.current));
        }
    }
    fn on_batch_start(&mut self, size: i64, depth: i64) {
        assert!(
            self.current.is_empty(),
            "batch started before previous ended"
        );
        self.starts.lock().unwrap().push((size, depth));
    }
}

#[test]
fn batch_max_batch_size_limits_and_announces() {
    // MaxBatchSizeEventProcessorTest: 5 events available at once, max 3:
    // batches [0,1,2],[3,4]; announced sizes 3,2 and queue depths 5,2.
    watchdog(30, || {
        let r = BatchRecorder::default();
        let mut b = blocking_single(16);
        b.handle_events_with(r.clone()).max_batch_size(3);
        b.publish_before_start(|p| {
            for i in 0..5 {
                p.try_publish(|e, _| *e = i).unwrap();
            }
        })
        .unwrap();
        let (d, _p) = b.start().unwrap();
        d.shutdown().unwrap();
        assert_eq!(*r.batches.lock().unwrap(), vec![vec![0, 1, 2], vec![3, 4]]);
        assert_eq!(*r.starts.lock().unwrap(), vec![(3, 5), (2, 2)]);
    });
}

#[test]
fn batch_end_of_batch_only_on_last_available() {
    // BatchEventProcessorTest.shouldCallMethodsInLifecycleOrderForBatch
    watchdog(30, || {
        let r = BatchRecorder::default();
        let mut b = blocking_single(16);
        b.handle_events_with(r.clone());
        b.publish_before_start(|p| {
            p.publish_batch(10, |e, s| *e = s).unwrap();
        })
        .unwrap();
        let (d, _p) = b.start().unwrap();
        d.shutdown().unwrap();
        assert_eq!(
            *r.batches.lock().unwrap(),
            vec![(0..10).collect::<Vec<_>>()]
        );
        assert_eq!(*r.starts.lock().unwrap(), vec![(10, 10)]);
    });
}

#[test]
fn batch_max_batch_size_zero_means_one() {
    watchdog(30, || {
        let r = BatchRecorder::default();
        let mut b = blocking_single(16);
        b.handle_events_with(r.clone()).max_batch_size(0);
        b.publish_before_start(|p| {
            p.publish_batch(3, |e, s| *e = s).unwrap();
        })
        .unwrap();
        let (d, _p) = b.start().unwrap();
        d.shutdown().unwrap();
        assert_eq!(*r.batches.lock().unwrap(), vec![vec![0], vec![1], vec![2]]);
    });
}

#[test]
fn batch_batches_never_exceed_available_and_are_contiguous() {
    // BatchingTest: two handlers, every event seen once, batches contiguous, end_of_batch closes.
    watchdog(60, || {
        for multi in [false, true] {
            let r1 = BatchRecorder::default();
            let r2 = BatchRecorder::default();
            macro_rules! go {
                ($b:expr) => {{
                    let mut b = $b;
                    b.handle_events_with(r1.clone()).max_batch_size(7);
                    b.handle_events_with(r2.clone());
                    let (d, mut p) = b.start().unwrap();
                    for k in 0..300 {
                        p.publish_batch(1 + (k % 5), |e, s| *e = s).unwrap();
                    }
                    d.shutdown().unwrap();
                }};
            }
            if multi {
                go!(blocking_multi(32))
            } else {
                go!(blocking_single(32))
            }
            let total: usize = (0..300).map(|k| 1 + (k % 5)).sum();
            for (r, cap) in [(&r1, 7usize), (&r2, 32)] {
                let batches = r.batches.lock().unwrap();
                let flat: Vec<i64> = batches.iter().flatten().copied().collect();
                assert_eq!(flat, (0..total as i64).collect::<Vec<_>>(), "multi={multi}");
                assert!(
                    batches.iter().all(|b| b.len() <= cap),
                    "multi={multi} cap={cap}"
                );
                let starts = r.starts.lock().unwrap();
                assert_eq!(starts.len(), batches.len());
                for (s, b) in starts.iter().zip(batches.iter()) {
                    assert_eq!(s.0 as usize, b.len());
                    assert!(s.1 >= s.0);
                }
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// RewindBatchEventProcessorTest
// ---------------------------------------------------------------------------------------------

/// Fails with Rewind at `fail_at` the first `times` times it gets there.
struct Rewinder {
    fail_at: i64,
    times: u32,
    seen: Arc<Mutex<Vec<i64>>>,
}

impl EventHandler<i64> for Rewinder {
    fn on_event(&mut self, _: &i64, _: i64, _: bool) {}
    fn try_on_event(&mut self, _: &i64, seq: i64, _: bool) -> Result<(), EventError> {
        self.seen.lock().unwrap().push(seq);
        if seq == self.fail_at && self.times > 0 {
            self.times -= 1;
            return Err(EventError::Rewind);
        }
        Ok(())
    }
}

#[test]
fn rewind_replays_whole_batch_then_succeeds() {
    watchdog(30, || {
        let seen = Arc::new(Mutex::new(vec![]));
        let rec = Arc::new(Recording::default());
        let mut b = blocking_single(16);
        b.handle_events_with(Rewinder {
            fail_at: 2,
            times: 2,
            seen: seen.clone(),
        })
        .rewind_policy(RewindPolicy::up_to(3))
        .exception_handler(rec.clone());
        b.publish_before_start(|p| {
            p.publish_batch(4, |e, s| *e = s).unwrap();
        })
        .unwrap();
        let (d, _p) = b.start().unwrap();
        d.shutdown().unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![0, 1, 2, 0, 1, 2, 0, 1, 2, 3]);
        assert!(rec.events.lock().unwrap().is_empty());
    });
}

#[test]
fn rewind_exhausted_goes_to_exception_handler_and_skips() {
    watchdog(30, || {
        let seen = Arc::new(Mutex::new(vec![]));
        let rec = Arc::new(Recording::default());
        let mut b = blocking_single(16);
        b.handle_events_with(Rewinder {
            fail_at: 1,
            times: 100,
            seen: seen.clone(),
        })
        .rewind_policy(RewindPolicy::up_to(2))
        .exception_handler(rec.clone());
        b.publish_before_start(|p| {
            p.publish_batch(3, |e, s| *e = s).unwrap();
        })
        .unwrap();
        let (d, _p) = b.start().unwrap();
        d.shutdown().unwrap();
        let ev = rec.events.lock().unwrap();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].1, 1);
        assert_eq!(
            ev[0].0,
            EventError::RewindsExhausted {
                batch_start: 0,
                attempts: 2
            }
            .to_string()
        );
        // 3 tries of [0,1], then 2 is handled
        assert_eq!(*seen.lock().unwrap(), vec![0, 1, 0, 1, 0, 1, 2]);
    });
}

#[test]
fn rewind_default_policy_never_replays() {
    watchdog(30, || {
        let seen = Arc::new(Mutex::new(vec![]));
        let rec = Arc::new(Recording::default());
        let mut b = blocking_single(16);
        b.handle_events_with(Rewinder {
            fail_at: 0,
            times: 1,
            seen: seen.clone(),
        })
        .exception_handler(rec.clone());
        let (d, mut p) = b.start().unwrap();
        p.publish(|_, _| {}).unwrap();
        p.publish(|_, _| {}).unwrap();
        d.shutdown().unwrap();
        assert_eq!(rec.events.lock().unwrap().len(), 1);
        assert_eq!(rec.events.lock().unwrap()[0].1, 0);
    });
}

#[test]
fn rewind_after_early_release_cannot_rewind() {
    watchdog(30, || {
        struct R;
        impl EventHandler<i64> for R {
            fn on_event(&mut self, _: &i64, _: i64, _: bool) {}
            fn on_event_releasing(
                &mut self,
                mut ev: BatchEvent<'_, i64>,
            ) -> Result<(), EventError> {
                if ev.seq() == 2 {
                    ev.release_previous()?;
                    return Err(EventError::Rewind);
                }
                Ok(())
            }
        }
        let rec = Arc::new(Recording::default());
        let mut b = blocking_single(16);
        b.handle_events_with(R)
            .rewind_policy(RewindPolicy::up_to(5))
            .exception_handler(rec.clone());
        b.publish_before_start(|p| {
            p.publish_batch(4, |e, s| *e = s).unwrap();
        })
        .unwrap();
        let (d, _p) = b.start().unwrap();
        d.shutdown().unwrap();
        let ev = rec.events.lock().unwrap();
        assert_eq!(ev.len(), 1);
        assert_eq!(
            ev[0].0,
            EventError::CannotRewind {
                batch_start: 0,
                released: 1
            }
            .to_string()
        );
    });
}

#[test]
fn early_release_errors_are_typed() {
    watchdog(30, || {
        let errs = Arc::new(Mutex::new(vec![]));
        let e2 = errs.clone();
        struct R(Arc<Mutex<Vec<ReleaseError>>>);
        impl EventHandler<i64> for R {
            fn on_event(&mut self, _: &i64, _: i64, _: bool) {}
            fn on_event_releasing(
                &mut self,
                mut ev: BatchEvent<'_, i64>,
            ) -> Result<(), EventError> {
                if ev.seq() == 3 {
                    ev.release_through(2).unwrap();
                    if let Err(e) = ev.release_through(1) {
                        self.0.lock().unwrap().push(e);
                    }
                    if let Err(e) = ev.release_through(3) {
                        self.0.lock().unwrap().push(e);
                    }
                }
                Ok(())
            }
        }
        let mut b = blocking_single(16);
        b.handle_events_with(R(e2));
        b.publish_before_start(|p| {
            p.publish_batch(5, |e, s| *e = s).unwrap();
        })
        .unwrap();
        let (d, _p) = b.start().unwrap();
        d.shutdown().unwrap();
        assert_eq!(
            *errs.lock().unwrap(),
            vec![
                ReleaseError::Backwards {
                    seq: 1,
                    released: 2
                },
                ReleaseError::NotFinished { seq: 3, limit: 2 }
            ]
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Timeout handler (TimeoutBlockingWaitStrategy + onTimeout)
// ---------------------------------------------------------------------------------------------

#[test]
fn timeout_on_timeout_called_with_last_sequence() {
    watchdog(30, || {
        struct T(Arc<Mutex<Vec<i64>>>);
        impl EventHandler<i64> for T {
            fn on_event(&mut self, _: &i64, _: i64, _: bool) {}
            fn on_timeout(&mut self, seq: i64) {
                self.0.lock().unwrap().push(seq);
            }
        }
        let calls = Arc::new(Mutex::new(vec![]));
        let mut b = blocking_single(8);
        b.handle_events_with(T(calls.clone()))
            .timeout(Duration::from_millis(10));
        let (d, mut p) = b.start().unwrap();
        eventually(5, "first timeout", || !calls.lock().unwrap().is_empty());
        assert_eq!(calls.lock().unwrap()[0], -1);
        p.publish(|_, _| {}).unwrap();
        p.publish(|_, _| {}).unwrap();
        eventually(5, "timeout after events", || {
            calls.lock().unwrap().last() == Some(&1)
        });
        d.shutdown().unwrap();
    });
}

#[test]
fn timeout_worker_pool_on_timeout() {
    watchdog(30, || {
        struct T(Arc<AtomicUsize>);
        impl EventHandler<i64> for T {
            fn on_event(&mut self, _: &i64, _: i64, _: bool) {}
            fn on_timeout(&mut self, _: i64) {
                self.0.fetch_add(1, SeqCst);
            }
        }
        let n = Arc::new(AtomicUsize::new(0));
        let mut b = blocking_single(8);
        b.handle_events_with_worker_pool(vec![T(n.clone()), T(n.clone())])
            .timeout(Duration::from_millis(10));
        let (d, _p) = b.start().unwrap();
        eventually(5, "timeouts", || n.load(SeqCst) >= 4);
        d.shutdown().unwrap();
    });
}

// ---------------------------------------------------------------------------------------------
// EventPollerTest
// ---------------------------------------------------------------------------------------------

#[test]
fn poller_idle_then_processing() {
    // shouldPollForEvents (IDLE -> PROCESSING)
    watchdog(30, || {
        let mut b = blocking_single(16);
        let mut poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        assert_eq!(poller.poll(|_, _, _| panic!("nothing")), Ok(0));
        assert!(matches!(poller.poll_events(), Err(PollError::Empty)));
        p.publish(|e, _| *e = 9).unwrap();
        let mut got = vec![];
        assert_eq!(poller.poll(|e, s, eob| got.push((*e, s, eob))), Ok(1));
        assert_eq!(got, vec![(9, 0, true)]);
        assert_eq!(poller.sequence(), 0);
        drop(poller);
        d.shutdown().unwrap();
    });
}

#[test]
fn poller_gated_by_stage_it_follows() {
    // shouldPollForEvents (GATING): a poller after a stage sees nothing until the stage is done
    watchdog(30, || {
        let (h, gate, _, _) = delayed();
        let mut b = blocking_single(16);
        let g = b.handle_events_with(h).group();
        let mut poller = b.poller_after(&[&g]).unwrap();
        assert!(poller.is_gating());
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 1).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(poller.poll(|_, _, _| {}), Ok(0));
        assert!(matches!(
            poller.wait_for(0, Some(Duration::from_millis(10))),
            Err(PollError::Timeout { seq: 0 })
        ));
        gate.send(()).unwrap();
        assert_eq!(poller.wait_for(0, Some(Duration::from_secs(5))), Ok(0));
        assert_eq!(poller.poll(|_, _, _| {}), Ok(1));
        drop(gate);
        drop(poller);
        d.shutdown().unwrap();
    });
}

#[test]
fn poller_polls_full_buffer() {
    // shouldSuccessfullyPollWhenBufferIsFull
    watchdog(30, || {
        let mut b = Disruptor::builder(4, || 0u8)
            .wait_strategy(BlockingWait::default())
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        let mut poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        for i in 1..=4u8 {
            p.publish(|e, _| *e = i).unwrap();
        }
        let mut got = vec![];
        assert_eq!(poller.poll(|e, _, _| got.push(*e)), Ok(4));
        assert_eq!(got, vec![1, 2, 3, 4]);
        // and the producer has room again
        assert!(p.has_available_capacity(4));
        drop(poller);
        d.shutdown().unwrap();
    });
}

#[test]
fn poller_misuse_errors() {
    watchdog(30, || {
        let mut b = blocking_single(8);
        let mut poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        assert_eq!(
            poller.get(0).err(),
            Some(PollError::NotAvailable {
                seq: 0,
                available: -1
            })
        );
        p.publish_batch(3, |e, s| *e = s).unwrap();
        let upto = poller.wait_for(0, Some(Duration::from_secs(5))).unwrap();
        assert_eq!(upto, 2);
        assert!(poller.get(3).is_err());
        assert_eq!(
            poller.update_sequence(3),
            Err(PollError::BadUpdate {
                seq: 3,
                current: -1,
                available: 2
            })
        );
        poller.update_sequence(1).unwrap();
        assert_eq!(
            poller.update_sequence(0),
            Err(PollError::BadUpdate {
                seq: 0,
                current: 1,
                available: 2
            })
        );
        assert!(matches!(poller.get(1), Err(PollError::NotAvailable { .. })));
        assert_eq!(*poller.get(2).unwrap(), 2);
        drop(poller);
        d.shutdown().unwrap();
    });
}

#[test]
fn poller_take_and_guard_release() {
    watchdog(30, || {
        let mut b = blocking_single(8);
        let mut poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        p.publish_batch(8, |e, s| *e = s * 2).unwrap();
        assert!(!p.has_available_capacity(1));
        {
            let g = poller.poll_take(3).unwrap();
            assert_eq!(g.remaining(), 0..=2);
            assert_eq!(g.iter().copied().collect::<Vec<_>>(), vec![0, 2, 4]);
        }
        assert_eq!(poller.sequence(), 2);
        assert!(p.has_available_capacity(3));
        assert!(!p.has_available_capacity(4));
        {
            let g = poller.poll_events().unwrap();
            assert_eq!(g.remaining(), 3..=7);
            // not iterated: still released on drop
        }
        assert_eq!(poller.sequence(), 7);
        assert!(matches!(poller.poll_events(), Err(PollError::Empty)));
        drop(poller);
        d.shutdown().unwrap();
    });
}

#[test]
fn poller_alerted_only_after_remaining_consumed() {
    watchdog(30, || {
        let mut b = blocking_single(8);
        let mut poller = b.poller().unwrap();
        let p = b.start_owned().unwrap();
        let mut p = p;
        p.publish_batch(3, |e, s| *e = s).unwrap();
        drop(p);
        let mut sum = 0;
        let mut polls = 0;
        loop {
            match poller.poll(|e, _, _| sum += *e) {
                Ok(_) => polls += 1,
                Err(PollError::Alerted) => break,
                Err(e) => panic!("{e}"),
            }
            assert!(polls < 10_000);
        }
        assert_eq!(sum, 3);
        assert_eq!(
            poller.wait_for(3, Some(Duration::from_millis(10))),
            Err(PollError::Alerted)
        );
    });
}

#[test]
fn poller_added_at_runtime_starts_at_cursor() {
    watchdog(30, || {
        let (d, mut p) = blocking_single(8).start().unwrap();
        p.publish(|e, _| *e = 1).unwrap();
        let mut poller = d.poller().unwrap();
        p.publish(|e, _| *e = 2).unwrap();
        let mut got = vec![];
        assert_eq!(poller.poll(|e, s, _| got.push((s, *e))), Ok(1));
        assert_eq!(got, vec![(1, 2)]);
        drop(poller);
        d.shutdown().unwrap();
    });
}

// ---------------------------------------------------------------------------------------------
// Multi-producer correctness (MultiProducerSequencerTest stress / disruptor crate mpsc tests)
// ---------------------------------------------------------------------------------------------

#[test]
fn mp_every_producer_in_order_no_loss_no_dup() {
    watchdog(120, || {
        for mode in [MultiProducerMode::Cas, MultiProducerMode::Lock] {
            let producers = 3i64;
            let per = 5000i64;
            let last = Arc::new(Mutex::new(vec![-1i64; producers as usize]));
            let bad = Arc::new(AtomicUsize::new(0));
            let count = Arc::new(AtomicI64::new(0));
            let (l2, b2, c2) = (last.clone(), bad.clone(), count.clone());
            let mut b = Disruptor::builder(32, || (0i64, 0i64))
                .wait_strategy(BlockingWait::default())
                .multi_producer(mode)
                .unwrap();
            b.handle_events_with(move |e: &(i64, i64), _, _| {
                let mut l = l2.lock().unwrap();
                if l[e.0 as usize] + 1 != e.1 {
                    b2.fetch_add(1, SeqCst);
                }
                l[e.0 as usize] = e.1;
                c2.fetch_add(1, SeqCst);
            });
            let (d, p) = b.start().unwrap();
            let ts: Vec<_> = (0..producers)
                .map(|id| {
                    let mut p = p.clone();
                    std::thread::spawn(move || {
                        let mut i = 0;
                        while i < per {
                            if i % 7 == 0 && i + 3 <= per {
                                p.publish_batch(3, |e, s| {
                                    let _ = s;
                                    *e = (id, i);
                                    i += 1;
                                })
                                .unwrap();
                            } else {
                                p.publish(|e, _| *e = (id, i)).unwrap();
                                i += 1;
                            }
                        }
                    })
                })
                .collect();
            for t in ts {
                t.join().unwrap();
            }
            d.shutdown().unwrap();
            assert_eq!(bad.load(SeqCst), 0, "{mode:?}");
            assert_eq!(count.load(SeqCst), producers * per, "{mode:?}");
            assert!(last.lock().unwrap().iter().all(|&x| x == per - 1));
        }
    });
}

#[test]
fn mp_try_publish_contended_never_overwrites() {
    // Many try_publish from two producers on a tiny ring with a slow consumer: every
    // successful publish is seen exactly once.
    watchdog(60, || {
        let seen = Arc::new(Mutex::new(std::collections::HashSet::new()));
        let dup = Arc::new(AtomicUsize::new(0));
        let (s2, d2) = (seen.clone(), dup.clone());
        let mut b = blocking_multi(4);
        b.handle_events_with(move |e: &i64, _, _| {
            if !s2.lock().unwrap().insert(*e) {
                d2.fetch_add(1, SeqCst);
            }
        });
        let (d, p) = b.start().unwrap();
        let ok = Arc::new(AtomicI64::new(0));
        let ts: Vec<_> = (0..2)
            .map(|k| {
                let mut p = p.clone();
                let ok = ok.clone();
                std::thread::spawn(move || {
                    for i in 0..5000 {
                        match p.try_publish(|e, _| *e = k * 1_000_000 + i) {
                            Ok(_) => {
                                ok.fetch_add(1, SeqCst);
                            }
                            Err(ClaimError::Full { .. }) => std::thread::yield_now(),
                            Err(e) => panic!("{e}"),
                        }
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        d.shutdown().unwrap();
        assert_eq!(dup.load(SeqCst), 0);
        assert_eq!(seen.lock().unwrap().len() as i64, ok.load(SeqCst));
    });
}

// ---------------------------------------------------------------------------------------------
// disruptor crate tests
// ---------------------------------------------------------------------------------------------

#[test]
fn dcrate_state_handler_and_thread_names() {
    watchdog(30, || {
        let names = Arc::new(Mutex::new(vec![]));
        let n2 = names.clone();
        let sums = Arc::new(AtomicI64::new(0));
        let s2 = sums.clone();
        let mut b = blocking_single(8);
        b.handle_events_and_state_with(
            move |state: &mut std::cell::RefCell<i64>, e: &i64, _, eob| {
                *state.borrow_mut() += *e;
                if eob {
                    s2.store(*state.borrow(), SeqCst);
                }
                n2.lock()
                    .unwrap()
                    .push(std::thread::current().name().map(str::to_owned));
            },
            || std::cell::RefCell::new(0),
        )
        .thread_name("my-consumer");
        let (d, mut p) = b.start().unwrap();
        for i in 1..=10 {
            p.publish(|e, _| *e = i).unwrap();
        }
        d.shutdown().unwrap();
        assert_eq!(sums.load(SeqCst), 55);
        assert!(names
            .lock()
            .unwrap()
            .iter()
            .all(|n| n.as_deref() == Some("my-consumer")));
    });
}

#[test]
fn dcrate_pin_to_nonexistent_core_is_error() {
    let mut b = blocking_single(8);
    b.handle_events_with(|_: &i64, _, _| {})
        .pin_to_core(100_000);
    assert!(matches!(
        b.start().err(),
        Some(BuildError::Pin { core: 100_000, .. })
    ));
}

#[test]
fn dcrate_lossy_subscriber_never_gates_multi() {
    watchdog(30, || {
        let (d, mut p) = Disruptor::builder(4, || 0u64)
            .wait_strategy(BlockingWait::default())
            .multi_producer(MultiProducerMode::Cas)
            .unwrap()
            .start()
            .unwrap();
        let mut sub = d.lossy_subscriber().unwrap();
        for i in 0..10u64 {
            p.try_publish(|e, _| *e = i).unwrap();
        }
        match sub.next_timeout(Some(Duration::from_millis(100))) {
            Err(seqflow_pipeline::LossyError::Lapped { missed, resume_at }) => {
                assert_eq!((missed, resume_at), (6, 6), "multi producer");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            sub.next_timeout(Some(Duration::from_millis(100))).unwrap(),
            (6, 6)
        );
        d.shutdown().unwrap();
    });
}

#[test]
fn dcrate_lossy_subscriber_never_gates() {
    watchdog(30, || {
        let (d, mut p) = Disruptor::builder(4, || 0u64)
            .wait_strategy(BlockingWait::default())
            .single_producer()
            .unwrap()
            .start()
            .unwrap();
        let mut sub = d.lossy_subscriber().unwrap();
        for i in 0..10u64 {
            p.try_publish(|e, _| *e = i).unwrap();
        }
        // Slots hold 6, 7, 8, 9, but the single producer's next one-event claim (of 10, in
        // 6's slot) is recorded nowhere a reader can see, so a lapped reader resumes one past
        // the oldest event held (documented on `LossySubscriber`); a multi-producer ring gives 6.
        match sub.next_timeout(Some(Duration::from_millis(100))) {
            Err(seqflow_pipeline::LossyError::Lapped { missed, resume_at }) => {
                assert_eq!((missed, resume_at), (7, 7), "single producer");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            sub.next_timeout(Some(Duration::from_millis(100))).unwrap(),
            (7, 7)
        );
        d.shutdown().unwrap();
    });
}

// ---------------------------------------------------------------------------------------------
// Adversarial probes
// ---------------------------------------------------------------------------------------------

/// start_at on a multi-producer ring at a sequence whose lap number truncates to -1 (the
/// availability buffer's "never published" mark): an unpublished slot must not be available.
#[test]
fn probe_multi_start_at_lap_alias_sequencer_level() {
    let cap = 8i64;
    let next = ((1i64 << 32) - 1) * cap; // lap_of(next) as i32 == -1
    let s =
        MultiProducerSequencer::new(8, YieldingWait::default(), MultiProducerMode::Cas, 2).unwrap();
    s.start_at(next).unwrap();
    let mut a = s.claimer();
    let mut b = s.claimer();
    let ra = a.claim(1).unwrap();
    let rb = b.claim(1).unwrap();
    assert_eq!((ra.start(), rb.start()), (next, next + 1));
    assert!(
        !s.is_available(next),
        "claimed but unpublished slot reported available"
    );
    b.publish(rb).unwrap();
    assert_eq!(s.published(), next - 1, "hole at {next} not detected");
    a.publish(ra).unwrap();
    assert_eq!(s.published(), next + 1);
}

#[test]
fn probe_multi_start_at_lap_alias_pipeline_level() {
    watchdog(30, || {
        let next = ((1i64 << 32) - 1) * 8;
        let mut b = blocking_multi(8);
        let mut poller = b.poller().unwrap();
        b.start_at(next).unwrap();
        let (d, mut p) = b.start().unwrap();
        let mut q = p.clone();
        let guard = p.claim(1).unwrap(); // held, unpublished
        assert_eq!(guard.range().start(), next);
        q.publish(|e, _| *e = 42).unwrap(); // next + 1
        let mut seen = vec![];
        let _ = poller.poll(|e, s, _| seen.push((s, *e)));
        assert!(
            seen.is_empty(),
            "poller read events past an unpublished claim: {seen:?}"
        );
        drop(guard);
        drop(poller);
        d.shutdown().unwrap();
    });
}

/// Ordinary large start (no alias): numbering carries on across many laps.
#[test]
fn probe_multi_start_at_large_ok() {
    watchdog(30, || {
        let log: Log = Default::default();
        let mut b = blocking_multi(8);
        b.handle_events_with(recorder(&log));
        let next = 1i64 << 40;
        b.start_at(next).unwrap();
        let (d, mut p) = b.start().unwrap();
        for _ in 0..40 {
            p.publish(|e, s| *e = s).unwrap();
        }
        d.shutdown().unwrap();
        let v: Vec<i64> = log.lock().unwrap().iter().map(|x| x.0).collect();
        assert_eq!(v, (next..next + 40).collect::<Vec<_>>());
    });
}

#[test]
fn probe_start_at_then_worker_pool_and_poller() {
    watchdog(30, || {
        let mut b = blocking_single(8);
        let mut poller = b.poller().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let c = count.clone();
                move |e: &i64, s: i64, _: bool| {
                    assert_eq!(*e, s);
                    c.fetch_add(1, SeqCst);
                }
            })
            .collect();
        b.handle_events_with_worker_pool(workers);
        b.start_at(500).unwrap();
        let (d, mut p) = b.start().unwrap();
        for _ in 0..8 {
            p.publish(|e, s| *e = s).unwrap();
        }
        assert_eq!(poller.wait_for(500, Some(Duration::from_secs(5))), Ok(507));
        assert_eq!(*poller.get(500).unwrap(), 500);
        poller.update_sequence(507).unwrap();
        drop(poller);
        d.shutdown().unwrap();
        assert_eq!(count.load(SeqCst), 8);
    });
}

#[test]
fn probe_pool_dependency_order_under_multi_producer_load() {
    watchdog(120, || {
        let n = 20_000usize;
        let done: Arc<Vec<AtomicBool>> = Arc::new((0..n).map(|_| AtomicBool::new(false)).collect());
        let handled = Arc::new(AtomicUsize::new(0));
        let violations = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let done = done.clone();
                move |_: &i64, s: i64, _: bool| {
                    assert!(!done[s as usize].swap(true, SeqCst), "handled twice: {s}");
                }
            })
            .collect();
        let (d2, v2, h2) = (done.clone(), violations.clone(), handled.clone());
        let mut b = blocking_multi(16);
        b.handle_events_with_worker_pool(workers)
            .then(move |_: &i64, s: i64, _| {
                if !d2[s as usize].load(SeqCst) {
                    v2.fetch_add(1, SeqCst);
                }
                h2.fetch_add(1, SeqCst);
            });
        let (d, p) = b.start().unwrap();
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let mut p = p.clone();
                std::thread::spawn(move || {
                    for _ in 0..n / 2 {
                        p.publish(|_, _| {}).unwrap();
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        d.shutdown().unwrap();
        assert_eq!(violations.load(SeqCst), 0);
        assert_eq!(handled.load(SeqCst), n);
    });
}

#[test]
fn probe_single_producer_can_be_retaken_after_drop() {
    let (d, p) = blocking_single(8).start().unwrap();
    drop(p);
    let mut p2 = d
        .producer()
        .expect("producer dropped: a new one may be made");
    p2.publish(|_, _| {}).unwrap();
    d.shutdown().unwrap();
}

#[test]
fn probe_log_and_continue_failed_event_still_reaches_dependents() {
    // LMAX: an exception handler that continues moves the sequence on; the next stage sees it.
    watchdog(30, || {
        let log: Log = Default::default();
        let mut b = Disruptor::builder(8, || 0i64)
            .wait_strategy(BlockingWait::default())
            .panic_policy(PanicPolicy::LogAndContinue)
            .single_producer()
            .unwrap();
        b.handle_events_with(|e: &i64, _, _| {
            if *e == 1 {
                panic!("x")
            }
        })
        .then(recorder(&log));
        let (d, mut p) = b.start().unwrap();
        for i in 0..3 {
            p.publish(|e, _| *e = i).unwrap();
        }
        d.shutdown().unwrap();
        let v: Vec<i64> = log.lock().unwrap().iter().map(|x| x.1).collect();
        assert_eq!(v, vec![0, 1, 2]);
    });
}

#[test]
fn probe_halt_with_backlog_returns_promptly_and_producer_halted() {
    watchdog(30, || {
        let n = Arc::new(AtomicI64::new(0));
        let n2 = n.clone();
        let (gate_tx, gate) = mpsc::channel::<()>();
        // The backlog is four of the stage's 1024-event halt-check chunks (a stage that sees it
        // all at once still checks the halt between chunks).
        let mut b = blocking_single(4096);
        b.handle_events_with(move |_: &i64, seq, _| {
            if seq == 0 {
                // Held until the halt is raised: however late the stage woke, the whole
                // backlog is still in front of it then.
                let _ = gate.recv();
            }
            n2.fetch_add(1, SeqCst);
        });
        let (d, mut p) = b.start().unwrap();
        p.publish_batch(4096, |_, _| {}).unwrap();
        let halter = std::thread::spawn(move || d.halt());
        // The ring is full (the stage holds event 0, or has not started): a claim is refused
        // with Full until the halt is raised, then with Halted.
        loop {
            match p.try_publish(|_, _| {}) {
                Err(ClaimError::Full { .. }) => std::thread::sleep(Duration::from_millis(1)),
                Err(ClaimError::Halted) => break,
                other => panic!("{other:?}"),
            }
        }
        let _ = gate_tx.send(()); // (refused if the stage stopped before it got to event 0)
        halter.join().unwrap().unwrap();
        // The stage finished at most the chunk it was in: the backlog was not drained.
        let handled = n.load(SeqCst);
        assert!(handled <= 1024, "{handled} handled after the halt");
        // ring still full (stage stopped): a claim that has to wait is refused
        assert_eq!(p.publish(|_, _| {}), Err(ClaimError::Halted));
    });
}

/// A panic in `on_batch_start` is reported once, without an event (none was being handled),
/// and the batch's events are all handled after it; under `Halt` none is.
#[test]
fn probe_on_batch_start_panic_is_reported_once_and_skips_no_event() {
    watchdog(30, || {
        struct B(bool, Log);
        impl EventHandler<i64> for B {
            fn on_event(&mut self, e: &i64, seq: i64, eob: bool) {
                self.1.lock().unwrap().push((seq, *e, eob));
            }
            fn on_batch_start(&mut self, _: i64, _: i64) {
                if !self.0 {
                    self.0 = true;
                    panic!("batch start");
                }
            }
        }
        for action in [ExceptionAction::Continue, ExceptionAction::Halt] {
            let log: Log = Default::default();
            let rec = Arc::new(Recording {
                action: Some(action),
                ..Recording::default()
            });
            let mut b = blocking_single(8);
            b.handle_events_with(B(false, log.clone()))
                .exception_handler(rec.clone());
            let (d, mut p) = b.start().unwrap();
            p.publish_batch(3, |e, s| *e = 10 + s).unwrap();
            let result = d.shutdown();
            assert!(rec.events.lock().unwrap().is_empty());
            let without = rec.without_event.lock().unwrap();
            assert_eq!(without.len(), 1);
            assert_eq!(without[0].1, 0, "reported at the batch's first sequence");
            let handled = log.lock().unwrap().clone();
            if action == ExceptionAction::Continue {
                result.unwrap();
                assert_eq!(handled, vec![(0, 10, false), (1, 11, false), (2, 12, true)]);
            } else {
                assert!(result.is_err(), "a halt is reported by shutdown");
                assert!(handled.is_empty());
            }
        }
    });
}

#[test]
fn probe_publish_closure_panic_still_publishes_and_sequence_continues() {
    watchdog(30, || {
        let log: Log = Default::default();
        let mut b = blocking_single(8);
        b.handle_events_with(recorder(&log));
        let (d, mut p) = b.start().unwrap();
        p.publish(|e, _| *e = 1).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            p.publish(|_, _| panic!("translator failed")).unwrap();
        }));
        assert!(r.is_err());
        assert_eq!(p.publish(|e, _| *e = 3).unwrap(), 2);
        d.shutdown().unwrap();
        assert_eq!(log.lock().unwrap().len(), 3);
    });
}

#[test]
fn probe_metrics_lag_and_utilization() {
    watchdog(30, || {
        let mut b = blocking_single(8);
        let mut poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        p.publish_batch(6, |_, _| {}).unwrap();
        let m = d.metrics();
        assert_eq!((m.claimed, m.published, m.remaining_capacity), (5, 5, 2));
        assert!((m.utilization_percent - 75.0).abs() < 1e-9);
        assert_eq!(m.stages.len(), 1);
        assert_eq!(
            (m.stages[0].sequence, m.stages[0].lag, m.stages[0].gating),
            (-1, 6, true)
        );
        poller.wait_for(0, None).unwrap();
        poller.update_sequence(3).unwrap();
        let m = d.metrics();
        assert_eq!((m.stages[0].sequence, m.stages[0].lag), (3, 2));
        drop(poller);
        d.shutdown().unwrap();
    });
}

#[test]
fn probe_start_at_near_i64_max_is_not_a_panic() {
    let r = std::panic::catch_unwind(|| {
        let mut b = blocking_single(8);
        let res = b.start_at(i64::MAX - 1);
        if res.is_err() {
            return "refused at start_at".to_string();
        }
        let (d, mut p) = b.start().unwrap();
        let mut out = vec![];
        for _ in 0..3 {
            out.push(format!("{:?}", p.try_publish(|_, _| {})));
        }
        drop(p);
        let _ = d.halt();
        out.join(",")
    });
    match r {
        Ok(s) => eprintln!("start_at(i64::MAX-1): {s}"),
        Err(_) => panic!("start_at near i64::MAX then publish panicked instead of a typed error"),
    }
}

#[test]
fn probe_huge_max_consumers_is_not_a_panic() {
    let r = std::panic::catch_unwind(|| {
        Disruptor::builder(8, || 0i64)
            .max_consumers(usize::MAX)
            .single_producer()
            .map(|_| ())
    });
    assert!(
        r.is_ok(),
        "max_consumers(usize::MAX) panicked instead of a BuildError"
    );
}
