//! A stage paces itself only after a batch of several events, with one look before its next
//! wait, and never with `Pacing::OFF`: checked on the calls a stage makes to a scripted feed
//! (which look and wait come in which order), not on time.

mod scripted_feed;

use parking_lot::Mutex;
use scripted_feed::{Call, Scripted};
use seqflow_pipeline::{Disruptor, EventHandler, Pacing, StageSpec};
use seqflow_sequence::BusySpinWait;
use std::sync::Arc;

/// Run a stage with `pacing` over a feed publishing 0, then 1..=3, then 4 (batches of 1, 3,
/// 1); the calls it made.
fn calls_with(pacing: Option<Pacing>, pace: bool) -> Vec<Call> {
    let mut feed = Scripted::new(8, vec![0, 3, 4]);
    feed.pace = pace;
    let calls = Arc::clone(&feed.calls);
    let mut spec = StageSpec::new("paced");
    if let Some(p) = pacing {
        spec = spec.pacing(p);
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let report = spec
        .run(feed, move |e: &u64, _seq: i64, _end: bool| {
            sink.lock().push(*e)
        })
        .unwrap();
    assert_eq!(report.sequence, 4);
    assert_eq!(
        *seen.lock(),
        vec![0, 1, 2, 3, 4],
        "every event, once, in order"
    );
    let calls = calls.lock().clone();
    calls
}

#[test]
fn a_stage_looks_before_waiting_only_after_a_batch_of_several() {
    use Call::*;
    let expected = vec![Wait(0), Wait(1), Ask(4), Wait(4), Wait(5)];
    // By default, and whatever the feed answers: it only decides whether to pause.
    assert_eq!(calls_with(None, false), expected);
    assert_eq!(calls_with(None, true), expected);
    assert_eq!(calls_with(Some(Pacing::DEFAULT), false), expected);
}

#[test]
fn pacing_off_never_looks() {
    use Call::*;
    let expected = vec![Wait(0), Wait(1), Wait(4), Wait(5)];
    assert_eq!(calls_with(Some(Pacing::OFF), false), expected);
    assert_eq!(calls_with(Some(Pacing::new(0, 64)), false), expected);
}

/// A handler that records what it saw.
struct Record(Arc<Mutex<Vec<u64>>>);

impl EventHandler<u64> for Record {
    fn on_event(&mut self, event: &u64, _seq: i64, _end_of_batch: bool) {
        self.0.lock().push(*event);
    }
}

/// Through a real ring, paced and unpaced stages see every event of one-at-a-time and burst
/// publishing, in order (the pause never skips or repeats anything).
#[test]
fn paced_and_unpaced_stages_see_every_event() {
    for pacing in [Pacing::DEFAULT, Pacing::OFF, Pacing::new(100, 10_000)] {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut builder = Disruptor::builder(64, || 0u64)
            .wait_strategy(BusySpinWait)
            .single_producer()
            .unwrap();
        builder
            .handle_events_with(Record(Arc::clone(&seen)))
            .pacing(pacing);
        let (disruptor, mut producer) = builder.start().unwrap();
        let mut next = 0u64;
        for round in 0..200 {
            if round % 2 == 0 {
                producer.publish(|e, _| *e = next).unwrap();
                next += 1;
            } else {
                let n = 1 + round % 7;
                producer
                    .publish_batch(n, |e, _| {
                        *e = next;
                        next += 1;
                    })
                    .unwrap();
            }
        }
        disruptor.shutdown().unwrap();
        assert_eq!(*seen.lock(), (0..next).collect::<Vec<_>>(), "{pacing:?}");
    }
}
