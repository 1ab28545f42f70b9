#![cfg(loom)]
//! Loom model: `BlockingWait` never loses a wake-up.
//!
//! A waiter blocks in `wait_until` on a sequence; a publisher stores the sequence and calls
//! `signal_all`. `signal_all` only takes the lock and notifies when it sees a waiter, so the
//! argument rests on a Dekker pair of `SeqCst` fences: the waiter's increment of the waiter count
//! and fence against the publisher's sequence store and fence. If a wake-up could be lost, some
//! interleaving leaves the waiter asleep on the condition variable with nobody left to notify it,
//! which loom reports as a deadlock. (Checked: with the fence in `signal_all` removed, or the
//! waiter's increment removed, these models fail with "deadlock"; see docs/design.md.)
//!
//! Run with `.ci/loom` (`RUSTFLAGS="--cfg loom"`, release mode).

use loom::thread;
use seqflow_sequence::{Alert, BlockingWait, Sequence, WaitStrategy};
use std::sync::Arc;

mod loom_support;
use loom_support::builder;

/// Wait on `wait` until `seq` reaches `target`; returns the value seen.
fn wait_for(wait: &BlockingWait, seq: &Sequence, target: i64) -> i64 {
    wait.wait_until(
        || {
            let v = seq.get();
            (v >= target).then_some(v)
        },
        &Alert::new(),
        None,
    )
    .expect("no alert, no deadline: only the condition ends this wait")
}

/// One waiter, one publish.
#[test]
fn one_publish_wakes_the_waiter() {
    builder(None).check(|| {
        let wait = Arc::new(BlockingWait::default());
        let seq = Arc::new(Sequence::default());
        let waiter = {
            let (wait, seq) = (Arc::clone(&wait), Arc::clone(&seq));
            thread::spawn(move || wait_for(&wait, &seq, 0))
        };
        seq.set(0);
        wait.signal_all();
        assert_eq!(waiter.join().unwrap(), 0);
    });
}

/// The waiter wants the second of two publishes: it may be woken by the first, find its
/// condition false, and go back to sleep; the second publish must still reach it.
#[test]
fn second_publish_wakes_a_waiter_that_slept_again() {
    builder(None).check(|| {
        let wait = Arc::new(BlockingWait::default());
        let seq = Arc::new(Sequence::default());
        let waiter = {
            let (wait, seq) = (Arc::clone(&wait), Arc::clone(&seq));
            thread::spawn(move || wait_for(&wait, &seq, 1))
        };
        seq.set(0);
        wait.signal_all();
        seq.set(1);
        wait.signal_all();
        assert_eq!(waiter.join().unwrap(), 1);
    });
}

/// Two waiters on two sequences, each published by a different thread: the waiter count is
/// shared, so one waiter leaving (decrement) must not hide the other from a signaller.
#[test]
fn two_waiters_two_publishers() {
    builder(Some(3)).check(|| {
        let wait = Arc::new(BlockingWait::default());
        let a = Arc::new(Sequence::default());
        let b = Arc::new(Sequence::default());
        let waiters: Vec<_> = [&a, &b]
            .into_iter()
            .map(|seq| {
                let (wait, seq) = (Arc::clone(&wait), Arc::clone(seq));
                thread::spawn(move || wait_for(&wait, &seq, 0))
            })
            .collect();
        let publisher = {
            let (wait, b) = (Arc::clone(&wait), Arc::clone(&b));
            thread::spawn(move || {
                b.set(0);
                wait.signal_all();
            })
        };
        a.set(0);
        wait.signal_all();
        publisher.join().unwrap();
        for w in waiters {
            assert_eq!(w.join().unwrap(), 0);
        }
    });
}
