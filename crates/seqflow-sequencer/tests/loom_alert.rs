#![cfg(loom)]
//! Loom model: an alert (halt/shutdown) wakes a consumer waiting in `SequenceBarrier::wait_for`,
//! with `BlockingWait` (where the wake-up needs `signal_all`) and `YieldingWait` (where it is
//! polled), and a sequence that is already available still wins over the raised alert.
//!
//! The halting thread does what the pipeline does: `Alert::raise` on the barrier's alert, then
//! `signal_all` on the sequencer's wait strategy. A lost wake-up shows up as a loom deadlock.
//!
//! Run with `.ci/loom` (`RUSTFLAGS="--cfg loom"`, release mode).

use loom::thread;
use seqflow_sequence::{
    Alert, BlockingWait, Cursor, SequenceBarrier, WaitError, WaitStrategy, YieldingWait,
};
use seqflow_sequencer::{Claimer, SingleProducerSequencer};
use std::sync::Arc;

mod loom_support;
use loom_support::builder;

/// Nothing is ever published: the only way out of the wait is the alert.
fn alert_wakes_waiter<W: WaitStrategy>(wait: W) {
    let sequencer = SingleProducerSequencer::new(2, wait, 1).unwrap();
    let barrier = SequenceBarrier::new(Arc::clone(&sequencer), vec![], Alert::new());
    let halter = {
        let barrier = barrier.clone();
        thread::spawn(move || {
            barrier.alert().raise();
            barrier.producer().wait_strategy().signal_all();
        })
    };
    assert_eq!(barrier.wait_for(0, None), Err(WaitError::Alerted));
    halter.join().unwrap();
}

/// The producer publishes sequence 0, then halts. The consumer ends its first wait with
/// `Ok(0)`, or with `Alerted` if it polled before the publish; in that case the alert it saw
/// was raised after the publish, so the publish is visible now and waiting again (alert still
/// raised) returns `Ok(0)`: a draining consumer gets every event published before the halt.
/// Nothing past 0 was published, so a wait for 1 is `Alerted`.
fn published_before_alert_still_returned<W: WaitStrategy>(wait: W) {
    let sequencer = SingleProducerSequencer::new(2, wait, 1).unwrap();
    let barrier = SequenceBarrier::new(Arc::clone(&sequencer), vec![], Alert::new());
    let producer = {
        let (sequencer, barrier) = (Arc::clone(&sequencer), barrier.clone());
        thread::spawn(move || {
            let mut claimer = sequencer.claimer().unwrap();
            let range = claimer.claim(1).unwrap();
            claimer.publish(range).unwrap();
            barrier.alert().raise();
            sequencer.wait_strategy().signal_all();
        })
    };
    match barrier.wait_for(0, None) {
        Ok(seq) => assert_eq!(seq, 0),
        Err(WaitError::Alerted) => {
            assert!(barrier.alert().is_raised());
            assert_eq!(
                barrier.wait_for(0, None),
                Ok(0),
                "published before the alert"
            );
        }
        Err(e) => panic!("no deadline was set, got {e:?}"),
    }
    assert_eq!(barrier.wait_for(1, None), Err(WaitError::Alerted));
    producer.join().unwrap();
}

#[test]
fn alert_wakes_blocking_waiter() {
    builder(None).check(|| alert_wakes_waiter(BlockingWait::default()));
}

#[test]
fn alert_wakes_yielding_waiter() {
    builder(None).check(|| alert_wakes_waiter(YieldingWait::new(0)));
}

#[test]
fn blocking_published_before_alert_still_returned() {
    builder(None).check(|| published_before_alert_still_returned(BlockingWait::default()));
}

#[test]
fn yielding_published_before_alert_still_returned() {
    builder(None).check(|| published_before_alert_still_returned(YieldingWait::new(0)));
}
