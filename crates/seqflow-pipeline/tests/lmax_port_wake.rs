//! Wake-ups under BlockingWait at the pipeline level (EventPollerTest / custom processors /
//! TimeoutHandler failures): nobody may sleep through a halt, a shutdown or a release. With no
//! periodic recheck (`BlockingWait::recheck(None)`): every wake-up here must come from a signal.

mod ext_common;

use ext_common::watchdog_secs as watchdog;
use seqflow_pipeline::{
    BlockingWait, Disruptor, EventHandler, MultiProducerMode, PanicPolicy, PollError, ShutdownError,
};
use std::sync::atomic::{AtomicI64, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

/// A poller blocked in wait_for(None) under BlockingWait is woken by halt with Alerted.
#[test]
fn poller_blocked_in_wait_for_is_woken_by_halt() {
    watchdog(20, || {
        let mut b = Disruptor::builder(8, || 0i64)
            .wait_strategy(BlockingWait::default().recheck(None))
            .single_producer()
            .unwrap();
        let mut poller = b.poller().unwrap();
        let (d, _p) = b.start().unwrap();
        let t = thread::spawn(move || poller.wait_for(0, None));
        thread::sleep(Duration::from_millis(50));
        d.halt().unwrap();
        assert_eq!(t.join().unwrap(), Err(PollError::Alerted));
    });
}

/// A producer blocked on a full ring (multi, BlockingWait) held back only by a poller is
/// woken when the poller releases (EventPollerTest.shouldSuccessfullyPollWhenBufferIsFull).
#[test]
fn producer_blocked_on_poller_is_woken_by_update_sequence() {
    watchdog(20, || {
        let mut b = Disruptor::builder(4, || 0i64)
            .wait_strategy(BlockingWait::default().recheck(None))
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        let mut poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        p.publish_batch(4, |e, s| *e = s).unwrap();
        let (tx, rx) = mpsc::channel();
        let t = thread::spawn(move || {
            let r = p.publish(|e, _| *e = 4);
            tx.send(()).unwrap();
            r
        });
        thread::sleep(Duration::from_millis(50));
        let upto = poller.wait_for(0, Some(Duration::from_secs(1))).unwrap();
        assert_eq!(upto, 3);
        poller.update_sequence(0).unwrap();
        assert!(
            rx.recv_timeout(Duration::from_secs(5)).is_ok(),
            "producer not woken by update_sequence"
        );
        assert_eq!(t.join().unwrap(), Ok(4));
        drop(poller);
        d.halt().unwrap();
    });
}

/// A custom processor (LMAX custom EventProcessor) blocked in its poller's wait under
/// BlockingWait ends on shutdown, and shutdown returns.
#[test]
fn custom_processor_blocked_in_wait_ends_on_shutdown() {
    watchdog(20, || {
        let seen = Arc::new(AtomicI64::new(-1));
        let s = seen.clone();
        let mut b = Disruptor::builder(8, || 0i64)
            .wait_strategy(BlockingWait::default().recheck(None))
            .single_producer()
            .unwrap();
        b.handle_events_with_processor(move |mut poller: seqflow_pipeline::Poller<i64, _>| {
            let mut next = 0;
            loop {
                match poller.wait_for(next, None) {
                    Ok(upto) => {
                        s.store(upto, SeqCst);
                        poller.update_sequence(upto).unwrap();
                        next = upto + 1;
                    }
                    Err(PollError::Alerted) => return,
                    Err(e) => panic!("{e}"),
                }
            }
        });
        let (d, mut p) = b.start().unwrap();
        p.publish_batch(3, |e, s| *e = s).unwrap();
        d.shutdown().unwrap();
        assert_eq!(seen.load(SeqCst), 2);
    });
}

/// on_timeout panicking under PanicPolicy::Halt: the disruptor stops and shutdown reports it
/// (no hang; LMAX: exception in onTimeout goes to the exception handler).
struct BadTimeout;
impl EventHandler<i64> for BadTimeout {
    fn on_event(&mut self, _: &i64, _: i64, _: bool) {}
    fn on_timeout(&mut self, _: i64) {
        panic!("timeout handler failed");
    }
}
#[test]
fn on_timeout_panic_under_halt_is_reported() {
    watchdog(20, || {
        let mut b = Disruptor::builder(8, || 0i64)
            .wait_strategy(BlockingWait::default().recheck(None))
            .single_producer()
            .unwrap();
        b.handle_events_with(BadTimeout)
            .timeout(Duration::from_millis(5))
            .exception_handler(PanicPolicy::Halt);
        let (d, mut p) = b.start().unwrap();
        // wait until the stage halted: then a claim that must wait is refused
        let mut halted = false;
        for _ in 0..2000 {
            thread::sleep(Duration::from_millis(2));
            if d.metrics().panics > 0 {
                halted = true;
                break;
            }
        }
        assert!(halted, "on_timeout panic never counted");
        for _ in 0..8 {
            let _ = p.try_publish(|e, _| *e = 1);
        }
        let r = d.shutdown();
        assert!(
            matches!(
                r,
                Err(ShutdownError::HandlerPanicked { .. })
                    | Err(ShutdownError::HandlerFailed { .. })
            ),
            "{r:?}"
        );
    });
}
