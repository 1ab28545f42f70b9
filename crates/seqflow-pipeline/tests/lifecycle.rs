//! Shutdown drains, halt does not, timeouts, panic policies, a stalled consumer, claim guards.

use seqflow_pipeline::{Disruptor, PanicPolicy, PollError, ShutdownError};
use seqflow_sequence::BlockingWait;
use seqflow_sequencer::{ClaimError, MultiProducerMode};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

/// A stage whose handler blocks on the first event until `gate` is opened, over a ring of 4.
/// Returns (disruptor, producer, gate, processed count, a thread stuck publishing the 5th event).
#[allow(clippy::type_complexity)]
fn gated() -> (
    Disruptor<u64, seqflow_sequencer::SingleProducerSequencer<BlockingWait>>,
    mpsc::Sender<()>,
    Arc<AtomicU64>,
    std::thread::JoinHandle<Result<i64, ClaimError>>,
) {
    let (gate, opened) = mpsc::channel::<()>();
    let (entered_tx, entered) = mpsc::channel::<()>();
    let processed = Arc::new(AtomicU64::new(0));
    let count = processed.clone();
    let mut b = Disruptor::builder(4, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_with(move |_: &u64, seq, _| {
        if seq == 0 {
            entered_tx.send(()).unwrap();
            opened.recv().unwrap();
        }
        count.fetch_add(1, SeqCst);
    });
    let (d, mut p) = b.start().unwrap();
    p.publish(|e, _| *e = 0).unwrap();
    // The stage is inside its handler for event 0, in a batch of that one event (a halt lets a
    // stage finish the chunk of its batch it is in, so the test keeps the batch to one event).
    entered.recv().unwrap();
    for i in 1..4 {
        p.publish(|e, _| *e = i).unwrap();
    }
    // The stage holds the ring: the 5th publish blocks (or, if the disruptor is halted first,
    // is refused).
    let stuck = std::thread::spawn(move || p.publish(|e, _| *e = 4));
    (d, gate, processed, stuck)
}

#[test]
fn shutdown_drains_everything_published() {
    let (d, gate, processed, stuck) = gated();
    gate.send(()).unwrap();
    assert_eq!(stuck.join().unwrap(), Ok(4));
    d.shutdown().unwrap();
    assert_eq!(processed.load(SeqCst), 5);
}

#[test]
fn halt_stops_without_draining_and_unblocks_producers() {
    let (d, gate, processed, stuck) = gated();
    let halter = std::thread::spawn(move || d.halt());
    // The blocked producer learns of the halt...
    assert_eq!(stuck.join().unwrap(), Err(ClaimError::Halted));
    // ...and only then may the handler return from event 0.
    gate.send(()).unwrap();
    halter.join().unwrap().unwrap();
    assert_eq!(processed.load(SeqCst), 1, "halt must not drain");
}

#[test]
fn shutdown_timeout_reports_a_stuck_handler() {
    let (d, _gate, _processed, stuck) = gated();
    let err = d.shutdown_timeout(Duration::from_millis(50)).unwrap_err();
    assert!(
        matches!(err, ShutdownError::Timeout { unprocessed } if unprocessed >= 4),
        "{err:?}"
    );
    assert_eq!(stuck.join().unwrap(), Err(ClaimError::Halted));
}

#[test]
fn panic_log_and_continue_skips_only_that_event() {
    let sum = Arc::new(AtomicU64::new(0));
    let s = sum.clone();
    let mut b = Disruptor::builder(8, || 0u64)
        .panic_policy(PanicPolicy::LogAndContinue)
        .single_producer()
        .unwrap();
    b.handle_events_with(move |e: &u64, _, _| {
        if *e == 3 {
            panic!("boom at three");
        }
        s.fetch_add(*e, SeqCst);
    });
    let (d, mut p) = b.start().unwrap();
    for i in 0..10 {
        p.publish(|e, _| *e = i).unwrap();
    }
    let metrics = d.metrics_handle();
    d.shutdown().unwrap();
    assert_eq!(sum.load(SeqCst), 45 - 3);
    assert_eq!(metrics.read().panics, 1);
}

#[test]
fn panic_halt_stops_everything_and_is_reported() {
    let after = Arc::new(AtomicU64::new(0));
    let a = after.clone();
    let mut b = Disruptor::builder(4, || 0u64)
        .wait_strategy(BlockingWait::default())
        .panic_policy(PanicPolicy::Halt)
        .multi_producer(MultiProducerMode::Cas)
        .unwrap();
    b.handle_events_with(|e: &u64, _, _| assert_ne!(*e, 2, "two is forbidden"))
        .then(move |_: &u64, _, _| {
            a.fetch_add(1, SeqCst);
        });
    let (d, mut p) = b.start().unwrap();
    // The producer keeps going until the halt stops it: it never hangs.
    let mut published = 0;
    let outcome = loop {
        match p.publish(|e, _| *e = published) {
            Ok(_) => published += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(outcome, ClaimError::Halted);
    match d.shutdown() {
        Err(ShutdownError::HandlerPanicked { seq, message, .. }) => {
            assert_eq!(seq, 2);
            assert!(message.contains("two is forbidden"), "{message}");
        }
        other => panic!("expected HandlerPanicked, got {other:?}"),
    }
    assert!(
        after.load(SeqCst) <= 2,
        "the later stage never passes the panicked event"
    );
}

#[test]
fn stalled_poller_blocks_producer_at_capacity_then_it_resumes() {
    let mut b = Disruptor::builder(4, || 0u64).single_producer().unwrap();
    let mut poller = b.poller().unwrap();
    let (d, mut p) = b.start().unwrap();
    for i in 0..4 {
        p.try_publish(|e, _| *e = i).unwrap();
    }
    assert_eq!(
        p.try_publish(|e, _| *e = 9),
        Err(ClaimError::Full {
            requested: 1,
            free: 0
        })
    );
    assert_eq!(
        p.publish_timeout(Duration::from_millis(10), |e, _| *e = 9),
        Err(ClaimError::Timeout { requested: 1 })
    );
    let upto = poller.wait_for(0, None).unwrap();
    assert_eq!(upto, 3);
    assert_eq!(*poller.get(2).unwrap(), 2);
    assert!(matches!(poller.get(4), Err(PollError::NotAvailable { .. })));
    assert!(matches!(
        poller.update_sequence(5),
        Err(PollError::BadUpdate { .. })
    ));
    poller.update_sequence(1).unwrap();
    assert!(
        matches!(poller.get(1), Err(PollError::NotAvailable { .. })),
        "released"
    );
    assert_eq!(p.try_publish(|e, _| *e = 4), Ok(4));
    assert_eq!(p.try_publish(|e, _| *e = 5), Ok(5));
    assert!(p.try_publish(|e, _| *e = 6).is_err());
    let mut seen = Vec::new();
    poller.wait_for(5, None).unwrap();
    assert_eq!(poller.poll(|e, _, _| seen.push(*e)), Ok(4));
    assert_eq!(seen, vec![2, 3, 4, 5]);
    drop(poller);
    d.shutdown().unwrap();
}

#[test]
fn poller_timeout_expires_and_does_not() {
    let mut b = Disruptor::builder(8, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    let mut poller = b.poller().unwrap();
    let (d, mut p) = b.start().unwrap();
    assert_eq!(
        poller.wait_for(0, Some(Duration::from_millis(20))),
        Err(PollError::Timeout { seq: 0 })
    );
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(10));
        p.publish(|e, _| *e = 1).unwrap();
        p
    });
    assert_eq!(poller.wait_for(0, Some(Duration::from_secs(30))), Ok(0));
    let _p = t.join().unwrap();
    drop(poller);
    d.shutdown().unwrap();
}

#[test]
fn poller_waiting_ahead_never_sees_an_unpublished_gap() {
    // Two producers: one holds sequence 0 claimed, the other publishes 1. A poller that waits
    // for 1 must not be able to read 0 (still being written), so the wait is not done yet.
    let mut b = Disruptor::builder(8, || 0u64)
        .wait_strategy(BlockingWait::default())
        .multi_producer(MultiProducerMode::Cas)
        .unwrap();
    let mut poller = b.poller().unwrap();
    let (d, mut slow) = b.start().unwrap();
    let mut fast = slow.clone();
    let mut held = slow.claim(1).unwrap();
    assert_eq!(held.range().start(), 0);
    fast.publish(|e, _| *e = 11).unwrap();
    assert_eq!(
        poller.wait_for(1, Some(Duration::from_millis(20))),
        Err(PollError::Timeout { seq: 1 })
    );
    assert!(matches!(poller.get(0), Err(PollError::NotAvailable { .. })));
    *held.get_mut(0).unwrap() = 10;
    drop(held); // publishes 0
    assert_eq!(poller.wait_for(1, Some(Duration::from_secs(30))), Ok(1));
    assert_eq!((*poller.get(0).unwrap(), *poller.get(1).unwrap()), (10, 11));
    poller.update_sequence(1).unwrap();
    drop(poller);
    drop((slow, fast));
    d.shutdown().unwrap();
}

#[test]
fn poller_added_while_running_starts_at_the_cursor() {
    let (d, mut p) = Disruptor::builder(8, || 0u64)
        .single_producer()
        .unwrap()
        .start()
        .unwrap();
    p.publish(|e, _| *e = 1).unwrap();
    let mut poller = d.poller().unwrap();
    assert_eq!(poller.sequence(), 0);
    p.publish(|e, _| *e = 2).unwrap();
    assert_eq!(poller.wait_for(1, None), Ok(1));
    assert_eq!(*poller.get(1).unwrap(), 2);
    drop(poller);
    d.shutdown().unwrap();
}

#[test]
fn claim_guard_publishes_on_drop_and_on_panic() {
    let mut b = Disruptor::builder(8, || 0u64).single_producer().unwrap();
    let mut poller = b.poller().unwrap();
    let (d, mut p) = b.start().unwrap();
    {
        let mut g = p.claim(2).unwrap();
        *g.get_mut(0).unwrap() = 10;
        *g.get_mut(1).unwrap() = 11;
        assert!(g.get_mut(2).is_none());
    }
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        p.publish(|_, _| panic!("writer failed")).unwrap();
    }));
    assert!(panicked.is_err());
    // Still published (no hole) and the producer still works.
    assert_eq!(p.publish(|e, _| *e = 13), Ok(3));
    assert_eq!(poller.wait_for(3, None), Ok(3));
    assert_eq!(*poller.get(1).unwrap(), 11);
    drop(poller);
    d.shutdown().unwrap();
}

#[test]
fn single_producer_is_unique() {
    let (d, p) = Disruptor::builder(8, || 0u64)
        .single_producer()
        .unwrap()
        .start()
        .unwrap();
    assert!(matches!(
        d.producer(),
        Err(seqflow_pipeline::BuildError::ProducerTaken)
    ));
    drop(p);
    assert!(d.producer().is_ok());
    d.shutdown().unwrap();
}

#[test]
fn too_many_consumers_is_a_typed_error_at_start() {
    let mut b = Disruptor::builder(8, || 0u64)
        .max_consumers(2)
        .single_producer()
        .unwrap();
    for _ in 0..3 {
        b.handle_events_with(|_: &u64, _, _| {});
    }
    assert!(matches!(
        b.start(),
        Err(seqflow_pipeline::BuildError::Register(_))
    ));
}

#[test]
fn lossy_subscriber_lapped_then_resumes_and_never_gates() {
    for multi in [false, true] {
        let config = Disruptor::builder(8, || 0u64);
        let check =
            |d_metrics: seqflow_pipeline::Metrics| assert_eq!(d_metrics.remaining_capacity, 8);
        if multi {
            let (d, mut p) = config
                .multi_producer(MultiProducerMode::Cas)
                .unwrap()
                .start()
                .unwrap();
            let mut sub = d.lossy_subscriber().unwrap();
            for i in 0..20 {
                p.try_publish(|e, _| *e = i)
                    .expect("a lossy subscriber never fills the ring");
            }
            assert_eq!(
                sub.try_next(),
                Err(seqflow_pipeline::LossyError::Lapped {
                    missed: 12,
                    resume_at: 12
                })
            );
            for want in 12..20 {
                assert_eq!(sub.try_next(), Ok((want, want as u64)));
            }
            assert_eq!(sub.try_next(), Err(seqflow_pipeline::LossyError::Timeout));
            assert_eq!(sub.missed(), 12);
            check(d.metrics());
            d.shutdown().unwrap();
        } else {
            let (d, mut p) = config.single_producer().unwrap().start().unwrap();
            let mut sub = d.lossy_subscriber().unwrap();
            p.publish(|e, _| *e = 100).unwrap();
            assert_eq!(sub.next_timeout(Some(Duration::from_secs(5))), Ok((0, 100)));
            for i in 1..30 {
                p.try_publish(|e, _| *e = i).unwrap();
            }
            // The single producer keeps a one-event claim private (no store per event), so a
            // reader bounds it by `published + 1`: it resumes one past the oldest slot held
            // (22 is still there, but the next claim would overwrite it without a trace).
            assert_eq!(
                sub.try_next(),
                Err(seqflow_pipeline::LossyError::Lapped {
                    missed: 22,
                    resume_at: 23
                })
            );
            assert_eq!(sub.try_next(), Ok((23, 23)));
            d.shutdown().unwrap();
        }
    }
}

/// Sends on a channel when dropped: a stage's handler owns one, so the message says the
/// stage's thread has ended (the handler is dropped with it).
struct EndedSignal(mpsc::Sender<()>);

impl Drop for EndedSignal {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// Long enough for any healthy stop on a loaded machine; only a hang reaches it.
const HANG: Duration = Duration::from_secs(60);

#[test]
fn last_owned_producer_dropped_inside_a_handler_stops_everything_in_the_background() {
    type P = seqflow_pipeline::Producer<u64, seqflow_sequencer::MultiClaimer<BlockingWait>>;
    let (clone_tx, clone_rx) = mpsc::channel::<P>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (ended_tx, ended) = mpsc::channel::<()>();
    let (ended_b_tx, ended_b) = mpsc::channel::<()>();
    let seen_b = Arc::new(AtomicU64::new(0));
    let mut b = Disruptor::builder(16, || 0u64)
        .wait_strategy(BlockingWait::default())
        .multi_producer(MultiProducerMode::Cas)
        .unwrap();
    let signal = EndedSignal(ended_tx);
    let a = b
        .handle_events_with(move |e: &u64, _, _| {
            let _keep = &signal;
            if *e == 9 {
                // Every other producer is gone once `go` arrives: this clone is the last one.
                // It republishes one event, then drops: the stop must drain that event too.
                go_rx.recv().unwrap();
                let mut last = clone_rx.recv().unwrap();
                last.publish(|slot, _| *slot = 100).unwrap();
                drop(last);
            }
        })
        .group();
    let count = seen_b.clone();
    let signal_b = EndedSignal(ended_b_tx);
    b.after(&[&a]).handle_events_with(move |_: &u64, _, _| {
        let _keep = &signal_b;
        count.fetch_add(1, SeqCst);
    });
    let mut p = b.start_owned().unwrap();
    clone_tx.send(p.clone()).unwrap();
    for i in 0..10 {
        p.publish(|e, _| *e = i).unwrap();
    }
    drop(p);
    go_tx.send(()).unwrap();
    ended
        .recv_timeout(HANG)
        .expect("the stage that dropped the last producer ended");
    ended_b
        .recv_timeout(HANG)
        .expect("the stage after it ended");
    assert_eq!(
        seen_b.load(SeqCst),
        11,
        "the stop drained every event, the republished one too"
    );
}

#[test]
fn shutdown_inside_a_handler_is_a_typed_error_and_completes_in_the_background() {
    type D = Disruptor<u64, seqflow_sequencer::SingleProducerSequencer<BlockingWait>>;
    let cell: Arc<parking_lot::Mutex<Option<D>>> = Arc::default();
    let (answer_tx, answer) = mpsc::channel();
    let (ended_tx, ended) = mpsc::channel::<()>();
    let (ended_b_tx, ended_b) = mpsc::channel::<()>();
    let seen_b = Arc::new(AtomicU64::new(0));
    let mut b = Disruptor::builder(16, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    let inside = cell.clone();
    let signal = EndedSignal(ended_tx);
    let a = b
        .handle_events_with(move |_: &u64, seq, _| {
            let _keep = &signal;
            if seq == 4 {
                let d = inside.lock().take().unwrap();
                answer_tx.send(d.shutdown()).unwrap();
            }
        })
        .named("closer")
        .group();
    let count = seen_b.clone();
    let signal_b = EndedSignal(ended_b_tx);
    b.after(&[&a]).handle_events_with(move |_: &u64, _, _| {
        let _keep = &signal_b;
        count.fetch_add(1, SeqCst);
    });
    let (d, mut p) = b.start().unwrap();
    *cell.lock() = Some(d);
    for i in 0..8 {
        p.publish(|e, _| *e = i).unwrap();
    }
    assert_eq!(
        answer.recv_timeout(HANG).unwrap(),
        Err(ShutdownError::CalledFromStage {
            stage: "closer".into()
        })
    );
    ended
        .recv_timeout(HANG)
        .expect("the stage that asked ended");
    ended_b
        .recv_timeout(HANG)
        .expect("the stage after it ended");
    // Published before the shutdown was asked for: drained. Later ones may or may not be.
    assert!(seen_b.load(SeqCst) >= 5);
    // The stop raised the sequencer's alert: the producer is refused, not left waiting.
    let refused = (0..64).find_map(|i| p.publish(|e, _| *e = i).err());
    assert_eq!(refused, Some(ClaimError::Halted));
}

#[test]
fn a_disruptor_dropped_inside_its_own_handler_halts_without_joining_that_thread() {
    type D = Disruptor<u64, seqflow_sequencer::SingleProducerSequencer<BlockingWait>>;
    let cell: Arc<parking_lot::Mutex<Option<D>>> = Arc::default();
    let (ended_tx, ended) = mpsc::channel::<()>();
    let (ended_b_tx, ended_b) = mpsc::channel::<()>();
    let mut b = Disruptor::builder(16, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    let inside = cell.clone();
    let signal = EndedSignal(ended_tx);
    let dropped = Arc::new(AtomicU64::new(0));
    let returned = dropped.clone();
    b.handle_events_with(move |_: &u64, seq, _| {
        let _keep = &signal;
        if seq == 2 {
            drop(inside.lock().take());
            returned.store(1, SeqCst);
        }
    });
    let signal_b = EndedSignal(ended_b_tx);
    b.handle_events_with(move |_: &u64, _, _| {
        let _keep = &signal_b;
    });
    let (d, mut p) = b.start().unwrap();
    *cell.lock() = Some(d);
    for i in 0..3 {
        p.publish(|e, _| *e = i).unwrap();
    }
    ended
        .recv_timeout(HANG)
        .expect("the stage that dropped it ended");
    ended_b.recv_timeout(HANG).expect("the other stage ended");
    assert_eq!(
        dropped.load(SeqCst),
        1,
        "the drop returned (no join of its own thread)"
    );
}
