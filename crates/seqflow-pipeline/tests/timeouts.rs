//! Timed calls end when their timeout says, however many waits they make, and a timed call
//! that finds room or events at once does not wait. The checks are on outcomes (an event
//! published inside a window that only a wrong deadline would still be waiting in), never on
//! how long a call took.

use seqflow_pipeline::{Disruptor, PollError};
use seqflow_sequencer::{ClaimError, Claimer, MultiProducerMode};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Sleep until `t` (at once if it has passed).
fn sleep_until(t: Instant) {
    std::thread::sleep(t.saturating_duration_since(Instant::now()));
}

/// Lock mode: producers queued behind a lock holder that waits for room count the time spent
/// waiting for the lock. A slot freed after every timeout but before twice the timeout must not
/// be taken by anyone.
#[test]
fn lock_mode_timeouts_count_the_wait_for_the_lock() {
    let mut b = Disruptor::builder(4, || 0u64)
        .multi_producer(MultiProducerMode::Lock)
        .unwrap();
    let mut stalled = b.poller().unwrap();
    let (d, mut p) = b.start().unwrap();
    for _ in 0..4 {
        p.publish(|e, _| *e = 1).unwrap();
    }
    let t = Duration::from_millis(400);
    let results = std::thread::scope(|s| {
        let (started_tx, started) = mpsc::channel::<Instant>();
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let mut q = d.producer().unwrap();
                let started_tx = started_tx.clone();
                s.spawn(move || {
                    // The claim's timeout starts no earlier than this.
                    started_tx.send(Instant::now()).unwrap();
                    q.publish_timeout(t, |e, _| *e = 2)
                })
            })
            .collect();
        // Timed from the producer that started last (threads may start late on a loaded
        // machine): after every timeout (400 ms after its producer started), before the second
        // producer's would end if it started only once it held the lock (800 ms after the first
        // producer started, as long as they start within 200 ms of each other).
        let last = (0..3).map(|_| started.recv().unwrap()).max().unwrap();
        sleep_until(last + Duration::from_millis(600));
        stalled.wait_for(0, None).unwrap();
        stalled.update_sequence(0).unwrap();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    for r in results {
        assert!(matches!(r, Err(ClaimError::Timeout { .. })), "{r:?}");
    }
    drop(p);
    d.halt().ok();
}

/// A poll that meets a gap between producers waits again with what is left of its timeout,
/// not a new one.
#[test]
fn a_poll_across_a_gap_keeps_one_deadline() {
    let mut b = Disruptor::builder(8, || 0u64)
        .multi_producer(MultiProducerMode::Cas)
        .unwrap();
    let mut poller = b.poller().unwrap();
    let (d, p) = b.start().unwrap();
    let mut first = d.sequencer().claimer();
    let mut second = d.sequencer().claimer();
    let zero = first.claim(1).unwrap();
    let one = second.claim(1).unwrap();
    let r = std::thread::scope(|s| {
        let (poll_starts_tx, poll_starts) = mpsc::channel::<Instant>();
        s.spawn(move || {
            // Timed from when the poll starts, not from when this thread gets to run.
            let t0 = poll_starts.recv().unwrap();
            sleep_until(t0 + Duration::from_millis(380));
            first.publish(zero).unwrap();
            // After the poll's deadline (400 ms), before a second full timeout would end
            // (780 ms).
            sleep_until(t0 + Duration::from_millis(600));
            second.publish(one).unwrap();
        });
        // The poll's deadline is taken after this instant: 400 ms from it at the earliest.
        poll_starts_tx.send(Instant::now()).unwrap();
        poller.wait_for(1, Some(Duration::from_millis(400)))
    });
    assert_eq!(r, Err(PollError::Timeout { seq: 1 }));
    assert_eq!(
        poller.wait_for(1, Some(Duration::ZERO)),
        Ok(1),
        "both are published now"
    );
    drop(p);
    d.halt().ok();
}

/// A start too close to `i64::MAX` (claims would overflow) is refused with a typed error; the
/// highest start allowed works like any other.
#[test]
fn a_start_at_the_end_of_the_sequence_space_is_refused() {
    let mut b = Disruptor::builder(4, || 0u64).single_producer().unwrap();
    let mut poller = b.poller().unwrap();
    assert!(matches!(
        b.start_at(i64::MAX),
        Err(seqflow_pipeline::BuildError::StartAt(
            seqflow_sequencer::StartAtError::TooLarge { .. }
        ))
    ));
    let first = seqflow_sequencer::MAX_START;
    b.start_at(first).unwrap();
    let (d, mut p) = b.start().unwrap();
    assert_eq!(p.publish(|e, _| *e = 7).unwrap(), first);
    let mut seen = Vec::new();
    assert_eq!(poller.poll(|e, seq, end| seen.push((seq, *e, end))), Ok(1));
    assert_eq!(seen, [(first, 7, true)]);
    drop(p);
    d.halt().ok();
}

/// A timed publish on a ring with room succeeds at once, and on a full one times out; the same
/// in every producer mode.
#[test]
fn timed_publishes_succeed_with_room_and_time_out_when_full() {
    for mode in [
        None,
        Some(MultiProducerMode::Cas),
        Some(MultiProducerMode::Lock),
    ] {
        let check = |p: &mut dyn FnMut(Duration) -> Result<i64, ClaimError>| {
            for seq in 0..4 {
                assert_eq!(p(Duration::ZERO), Ok(seq), "{mode:?}: room for {seq}");
            }
            for t in [Duration::ZERO, Duration::from_millis(5)] {
                let r = p(t);
                assert!(
                    matches!(r, Err(ClaimError::Timeout { .. })),
                    "{mode:?}: {r:?}"
                );
            }
        };
        match mode {
            None => {
                let mut b = Disruptor::builder(4, || 0u64).single_producer().unwrap();
                let _gate = b.poller().unwrap();
                let (d, mut p) = b.start().unwrap();
                check(&mut |t| p.publish_timeout(t, |e, _| *e = 1));
                drop(p);
                d.halt().ok();
            }
            Some(mode) => {
                let mut b = Disruptor::builder(4, || 0u64).multi_producer(mode).unwrap();
                let _gate = b.poller().unwrap();
                let (d, mut p) = b.start().unwrap();
                check(&mut |t| p.publish_timeout(t, |e, _| *e = 1));
                drop(p);
                d.halt().ok();
            }
        }
    }
}
