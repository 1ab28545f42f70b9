//! A stage paces itself only after a small batch of several events, never when it is behind,
//! and never with `Pacing::OFF`: checked on the calls a stage makes to a scripted feed (the
//! `paces` question it asks before each pause, and its waits, in order), not on time.

mod ext_common;
mod scripted_feed;

use ext_common::watchdog_secs;

use parking_lot::Mutex;
use scripted_feed::{Call, Scripted};
use seqflow_pipeline::{
    Disruptor, EventHandler, Pacing, Producer, SingleClaimer, SingleProducerSequencer, StageSpec,
};
use seqflow_sequence::{BusySpinWait, PhasedBackoffWait, WaitStrategy, YieldingWait};
use std::sync::mpsc::Receiver;
use std::sync::Arc;

/// Run a stage with `pacing` over a feed publishing 0, then 1..=3, then 4 (batches of 1, 3,
/// 1); the calls it made.
fn calls_with(pacing: Option<Pacing>, pace: bool) -> Vec<Call> {
    calls_on(Scripted::new(8, vec![0, 3, 4]), pacing, pace)
}

/// As `calls_with`, on `feed`.
fn calls_on(mut feed: Scripted, pacing: Option<Pacing>, pace: bool) -> Vec<Call> {
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
fn a_stage_asks_to_pause_only_after_a_batch_of_several() {
    use Call::*;
    let expected = vec![Wait(0), Wait(1), Ask, Wait(4), Wait(5)];
    // By default, and whatever the feed answers: it only decides whether to pause.
    assert_eq!(calls_with(None, false), expected);
    assert_eq!(calls_with(Some(Pacing::DEFAULT), false), expected);
    // A feed that paces is asked, before the pause, whether the next event is there.
    let looked = vec![Wait(0), Wait(1), Ask, Look(4), Wait(4), Wait(5)];
    assert_eq!(calls_with(None, true), looked);
}

/// A stage pauses without a look first once a pause let more than 63 events accumulate (its
/// producer streams at full speed), until a pause finds fewer.
#[test]
fn a_stage_behind_a_full_speed_producer_pauses_without_a_look() {
    use Call::*;
    // Batches 0, 1..=2 (the look finds nothing: pause), 3..=80 (78 after the pause: streaming,
    // and behind, so no pause), 81..=82 (pause, no look), 83..=84 (2 after the pause: the look
    // is back).
    let mut feed = Scripted::new(90, vec![0, 2, 80, 82, 84]);
    feed.pace = true;
    let calls = Arc::clone(&feed.calls);
    let report = StageSpec::new("streaming")
        .run(feed, |_: &u64, _seq: i64, _end: bool| {})
        .unwrap();
    assert_eq!(report.sequence, 84);
    let expected = vec![
        Wait(0),
        Wait(1),
        Ask,
        Look(3),
        Wait(3),
        Wait(81),
        Ask,
        Wait(83),
        Ask,
        Look(85),
        Wait(85),
    ];
    assert_eq!(*calls.lock(), expected);
}

/// A large batch taken without a pause does not make a stage skip its look: only a pause that
/// let more than 63 events accumulate does.
#[test]
fn a_large_unpaused_batch_keeps_the_look() {
    use Call::*;
    let mut feed = Scripted::new(20, vec![0, 2, 10, 12]);
    (feed.pace, feed.published) = (true, true);
    let calls = Arc::clone(&feed.calls);
    let report = StageSpec::new("looking")
        .run(feed, |_: &u64, _seq: i64, _end: bool| {})
        .unwrap();
    assert_eq!(report.sequence, 12);
    let expected = vec![
        Wait(0),
        Wait(1),
        Ask,
        Look(3), // the next event is there: no pause
        Wait(3),
        Ask,
        Look(11), // after eight events too
        Wait(11),
        Ask,
        Look(13),
        Wait(13),
    ];
    assert_eq!(*calls.lock(), expected);
}

#[test]
fn pacing_off_never_asks() {
    use Call::*;
    let expected = vec![Wait(0), Wait(1), Wait(4), Wait(5)];
    assert_eq!(calls_with(Some(Pacing::OFF), false), expected);
    assert_eq!(calls_with(Some(Pacing::new(0, 64)), false), expected);
}

/// A stage given no pacing takes its feed's default (a multi-producer ring's is longer); one
/// given a pacing keeps it whatever the feed would choose.
#[test]
fn a_stage_without_pacing_takes_its_feeds() {
    use Call::*;
    let (asks, never) = (
        vec![Wait(0), Wait(1), Ask, Wait(4), Wait(5)],
        vec![Wait(0), Wait(1), Wait(4), Wait(5)],
    );
    let feed_saying = |pacing: Pacing| {
        let mut feed = Scripted::new(8, vec![0, 3, 4]);
        feed.default_pacing = pacing;
        feed
    };
    assert_eq!(calls_on(feed_saying(Pacing::OFF), None, false), never);
    assert_eq!(calls_on(feed_saying(Pacing::LONG), None, false), asks);
    assert_eq!(
        calls_on(feed_saying(Pacing::OFF), Some(Pacing::DEFAULT), false),
        asks
    );
    assert_eq!(
        calls_on(feed_saying(Pacing::LONG), Some(Pacing::OFF), false),
        never
    );
}

/// A stage whose batch cap leaves events it knows are published is behind: no pause until the
/// batch that takes the last of them.
#[test]
fn a_stage_capped_behind_its_producer_never_pauses() {
    use Call::*;
    let mut feed = Scripted::new(64, vec![63]);
    feed.pace = true;
    let calls = Arc::clone(&feed.calls);
    let report = StageSpec::new("capped")
        .max_batch_size(8)
        .run(feed, |_: &u64, _seq: i64, _end: bool| {})
        .unwrap();
    assert_eq!(report.sequence, 63);
    let mut expected: Vec<Call> = (0..8).map(|k| Wait(8 * k)).collect();
    expected.extend([Ask, Look(64), Wait(64)]);
    assert_eq!(*calls.lock(), expected);
}

/// A stage that finds every slot of a small ring published is behind (its producer waits for
/// room): no pause; on a larger ring the same batches are paced.
#[test]
fn a_stage_that_finds_a_small_ring_full_never_pauses() {
    use Call::*;
    let run = |capacity: usize| {
        let mut feed = Scripted::new(16, vec![7, 15]);
        (feed.capacity, feed.pace) = (Some(capacity), true);
        let calls = Arc::clone(&feed.calls);
        let report = StageSpec::new("small ring")
            .run(feed, |_: &u64, _seq: i64, _end: bool| {})
            .unwrap();
        assert_eq!(report.sequence, 15);
        let calls = calls.lock().clone();
        calls
    };
    assert_eq!(run(8), vec![Wait(0), Wait(8), Wait(16)]);
    let paced = vec![Wait(0), Ask, Look(8), Wait(8), Ask, Look(16), Wait(16)];
    assert_eq!(run(9), paced, "one slot short of full");
    assert_eq!(run(16), paced);
}

/// The busy-spinning tests take turns: each spins one stage thread, and more spinning threads
/// than the machine's two cores would only slow them all down.
static ONE_SPINNING_STAGE: Mutex<()> = Mutex::new(());

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
    let _turn = ONE_SPINNING_STAGE.lock();
    for pacing in [Pacing::DEFAULT, Pacing::OFF, Pacing::new(100, 1_000)] {
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

/// Sends each batch (its sequences) to the test at its end.
struct Batches(std::sync::mpsc::Sender<Vec<i64>>, Vec<i64>);

impl EventHandler<u64> for Batches {
    fn on_event(&mut self, event: &u64, seq: i64, end_of_batch: bool) {
        assert_eq!(*event, seq as u64, "event {seq} holds {event}");
        self.1.push(seq);
        if end_of_batch {
            let _ = self.0.send(std::mem::take(&mut self.1));
        }
    }
}

type StageDisruptor<W> = Disruptor<u64, SingleProducerSequencer<W>>;
type StageProducer<W> = Producer<u64, SingleClaimer<W>>;

/// A busy-spinning first stage paced with `pacing`; its batches arrive on the receiver.
fn busy_stage(
    pacing: Pacing,
) -> (
    StageDisruptor<BusySpinWait>,
    StageProducer<BusySpinWait>,
    Receiver<Vec<i64>>,
) {
    first_stage(BusySpinWait, pacing)
}

/// A first stage on a ring waiting with `wait`, paced with `pacing`; its batches arrive on the
/// receiver.
fn first_stage<W: WaitStrategy>(
    wait: W,
    pacing: Pacing,
) -> (StageDisruptor<W>, StageProducer<W>, Receiver<Vec<i64>>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let mut builder = Disruptor::builder(64, || 0u64)
        .wait_strategy(wait)
        .single_producer()
        .unwrap();
    builder
        .handle_events_with(Batches(tx, Vec::new()))
        .pacing(pacing);
    let (disruptor, producer) = builder.start().unwrap();
    (disruptor, producer, rx)
}

const LONGEST: Pacing = Pacing::new(u32::MAX, u32::MAX);
const ARRIVES_WITHIN: std::time::Duration = std::time::Duration::from_secs(20);

/// A claim published at once reaches a paced stage as one batch, after paced batches too
/// (each burst is waited for, so the stage has paused after the one before it).
#[test]
fn bursts_reach_a_paced_stage_as_one_batch() {
    let _turn = ONE_SPINNING_STAGE.lock();
    for pacing in [Pacing::DEFAULT, LONGEST] {
        let (disruptor, mut producer, batches) = busy_stage(pacing);
        let mut next = 0i64;
        for len in (1..=20).chain([31, 33, 64]) {
            producer.publish_batch(len, |e, s| *e = s as u64).unwrap();
            let batch = batches
                .recv_timeout(ARRIVES_WITHIN)
                .expect("the burst arrives");
            let want: Vec<i64> = (next..next + len as i64).collect();
            assert_eq!(
                batch, want,
                "{pacing:?}: a burst of {len} published at once"
            );
            next += len as i64;
        }
        disruptor.shutdown().unwrap();
    }
}

/// Runs published one at a time all arrive with nothing published after them (a pause never
/// strands an event), in order, none twice: behind a busy-spinning stage, and behind yielding
/// and phased back-off stages, which pace too.
#[test]
fn one_at_a_time_runs_all_arrive() {
    let _turn = ONE_SPINNING_STAGE.lock();
    for pacing in [Pacing::DEFAULT, LONGEST] {
        runs_arrive(busy_stage(pacing), pacing);
        runs_arrive(first_stage(YieldingWait::default(), pacing), pacing);
        let phased = PhasedBackoffWait::with_sleep(
            std::time::Duration::from_micros(50),
            std::time::Duration::from_micros(50),
        );
        runs_arrive(first_stage(phased, pacing), pacing);
    }
}

/// Publish runs of one-at-a-time events into `stage`, waiting for each run to arrive whole.
fn runs_arrive<W: WaitStrategy>(
    stage: (StageDisruptor<W>, StageProducer<W>, Receiver<Vec<i64>>),
    pacing: Pacing,
) {
    let (disruptor, mut producer, batches) = stage;
    let (mut published, mut handled) = (0i64, 0i64);
    for run in (1..=17).chain([63, 64, 200]) {
        for _ in 0..run {
            producer.publish(|e, s| *e = s as u64).unwrap();
        }
        published += run;
        while handled < published {
            let batch = batches.recv_timeout(ARRIVES_WITHIN).unwrap_or_else(|_| {
                panic!("{pacing:?}: events {handled}..{published} never arrived")
            });
            assert_eq!(batch.first(), Some(&handled), "in order, none lost");
            handled += batch.len() as i64;
        }
        assert_eq!(handled, published, "none twice");
    }
    disruptor.shutdown().unwrap();
}

/// The longest pause ends with a shutdown that has an event to drain: the stage looks at the
/// ring again after at most `Pacing::MAX_SPINS` spin hints (an unbounded pause hung here).
#[test]
fn a_shutdown_drains_an_event_published_during_the_longest_pause() {
    let _turn = ONE_SPINNING_STAGE.lock();
    // A hang fails the test (after 30 s) instead of stalling the suite.
    watchdog_secs(30, || {
        let (disruptor, mut producer, batches) = busy_stage(LONGEST);
        producer.publish_batch(5, |e, s| *e = s as u64).unwrap();
        let first = batches.recv_timeout(ARRIVES_WITHIN).unwrap();
        assert_eq!(first, vec![0, 1, 2, 3, 4]);
        // The stage looks after its batch of five, finds nothing and pauses: 5 is published
        // and the shutdown raised while it pauses (or, on a slow machine, after).
        producer.publish(|e, s| *e = s as u64).unwrap();
        disruptor.shutdown().unwrap();
        let drained = batches.recv_timeout(ARRIVES_WITHIN).unwrap();
        assert_eq!(drained, vec![5]);
    });
}
