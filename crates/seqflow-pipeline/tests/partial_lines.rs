//! A stage close behind a producer that publishes one event at a time may leave the events of
//! a cache line the producer is still filling for its next poll. These tests pin what that must
//! never change: a burst published at once reaches the handler as one batch, and every event
//! arrives without anything more being published after it.

mod scripted_feed;

use scripted_feed::Scripted;
use seqflow_pipeline::{
    Disruptor, DisruptorBuilder, EventError, EventHandler, RewindPolicy, StageSpec,
};
use seqflow_sequence::{BlockingWait, WaitStrategy, YieldingWait};
use seqflow_sequencer::SingleProducerSequencer;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

/// Sends each batch (its sequences) when the handler sees its end; the first batch can be held
/// at a barrier (`hold`) so that events pile up behind it.
struct Batches {
    current: Vec<i64>,
    done: Sender<Vec<i64>>,
    hold: Option<Arc<Barrier>>,
}

impl EventHandler<u64> for Batches {
    fn on_event(&mut self, event: &u64, seq: i64, end_of_batch: bool) {
        assert_eq!(*event, seq as u64, "event {seq} holds {event}");
        self.current.push(seq);
        if end_of_batch {
            if let Some(hold) = self.hold.take() {
                hold.wait(); // the test publishes now
                hold.wait(); // ... and has published
            }
            self.done.send(std::mem::take(&mut self.current)).unwrap();
        }
    }
}

/// A ring of `capacity` u64 events waiting with `wait`, its one stage recording batches.
fn recorded<W: WaitStrategy + 'static>(
    capacity: usize,
    wait: W,
    hold: Option<Arc<Barrier>>,
) -> (
    DisruptorBuilder<u64, SingleProducerSequencer<W>>,
    Receiver<Vec<i64>>,
) {
    let mut b = Disruptor::builder(capacity, || 0u64)
        .wait_strategy(wait)
        .single_producer()
        .unwrap();
    let (done, batches) = mpsc::channel();
    b.handle_events_with(Batches {
        current: Vec::new(),
        done,
        hold,
    });
    (b, batches)
}

#[test]
fn a_burst_published_at_once_reaches_an_idle_stage_as_one_batch() {
    let (b, received) = recorded(256, BlockingWait::default(), None);
    let (d, mut p) = b.start().unwrap();
    let mut next = 0i64;
    // Every length from 1 to 20 and a few longer ones, so that bursts end at every position
    // of a 64-byte line (eight 8-byte slots).
    for len in (1..=20).chain([31, 33, 64, 65]) {
        p.publish_batch(len, |e, s| *e = s as u64).unwrap();
        let batch = received.recv_timeout(WAIT).expect("the burst arrives");
        let want: Vec<i64> = (next..next + len as i64).collect();
        assert_eq!(batch, want, "a burst of {len} published at once");
        next += len as i64;
    }
    d.shutdown().unwrap();
}

#[test]
fn a_burst_published_while_the_stage_is_busy_is_one_batch() {
    for len in [1usize, 3, 7, 8, 9, 13, 16, 21] {
        let hold = Arc::new(Barrier::new(2));
        let (b, received) = recorded(256, BlockingWait::default(), Some(hold.clone()));
        let (d, mut p) = b.start().unwrap();
        // A first batch of three events, held in the handler while the burst is published.
        p.publish_batch(3, |e, s| *e = s as u64).unwrap();
        hold.wait();
        p.publish_batch(len, |e, s| *e = s as u64).unwrap();
        hold.wait();
        assert_eq!(received.recv_timeout(WAIT).unwrap(), vec![0, 1, 2]);
        let want: Vec<i64> = (3..3 + len as i64).collect();
        assert_eq!(
            received.recv_timeout(WAIT).unwrap(),
            want,
            "a burst of {len} published while the stage was busy"
        );
        d.shutdown().unwrap();
    }
}

#[test]
fn events_published_one_at_a_time_all_arrive_with_nothing_published_after_them() {
    // Runs of every length, each followed by a pause with nothing published: the stage must
    // take the run's last events, wherever in a line they end, without a later publish.
    let (b, received) = recorded(64, YieldingWait::default(), None);
    let (d, mut p) = b.start().unwrap();
    let mut next = 0i64;
    let mut handled = 0i64;
    for run in (1..=17).chain([100, 1000]) {
        for _ in 0..run {
            p.publish(|e, s| *e = s as u64).unwrap();
        }
        next += run;
        while handled < next {
            let batch = received
                .recv_timeout(WAIT)
                .unwrap_or_else(|_| panic!("events {handled}..{next} never arrived"));
            assert_eq!(batch.first(), Some(&handled), "in order, none lost");
            handled += batch.len() as i64;
        }
        assert_eq!(handled, next);
    }
    d.shutdown().unwrap();
}

#[test]
fn zero_sized_events_reach_the_handler() {
    // A zero-sized event has no cache line to share: nothing is ever left for later.
    let mut b = Disruptor::builder(8, || ())
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    let (done, received) = mpsc::channel();
    b.handle_events_with(move |_: &(), seq: i64, end_of_batch: bool| {
        if end_of_batch {
            done.send(seq).unwrap();
        }
    });
    let (d, mut p) = b.start().unwrap();
    for i in 0..20 {
        p.publish(|_, _| {}).unwrap();
        assert_eq!(received.recv_timeout(WAIT), Ok(i));
    }
    d.shutdown().unwrap();
}

/// Rewinds the first batch once, after the test has published one more event.
struct RewindOnce {
    current: Vec<i64>,
    done: Sender<Vec<i64>>,
    hold: Option<Arc<Barrier>>,
}

impl EventHandler<u64> for RewindOnce {
    fn on_event(&mut self, _: &u64, _: i64, _: bool) {}

    fn try_on_event(&mut self, _: &u64, seq: i64, end_of_batch: bool) -> Result<(), EventError> {
        self.current.push(seq);
        if end_of_batch {
            self.done.send(std::mem::take(&mut self.current)).unwrap();
            if let Some(hold) = self.hold.take() {
                hold.wait(); // the test publishes one more event now
                hold.wait();
                return Err(EventError::Rewind);
            }
        }
        Ok(())
    }
}

#[test]
fn a_rewound_batch_is_replayed_whole() {
    for n in 1..24usize {
        let hold = Arc::new(Barrier::new(2));
        let mut b = Disruptor::builder(256, || 0u64)
            .wait_strategy(BlockingWait::default())
            .single_producer()
            .unwrap();
        let (done, received) = mpsc::channel();
        b.handle_events_with(RewindOnce {
            current: Vec::new(),
            done,
            hold: Some(hold.clone()),
        })
        .rewind_policy(RewindPolicy::up_to(3));
        let (d, mut p) = b.start().unwrap();
        p.publish_batch(n, |e, s| *e = s as u64).unwrap();
        hold.wait();
        p.publish(|e, s| *e = s as u64).unwrap();
        hold.wait();
        let first = received.recv_timeout(WAIT).unwrap();
        assert_eq!(first, (0..n as i64).collect::<Vec<_>>(), "burst of {n}");
        let replay = received.recv_timeout(WAIT).unwrap();
        assert!(
            replay.len() >= n,
            "the batch 0..{n} was replayed as {replay:?}"
        );
        d.shutdown().unwrap();
    }
}

#[test]
fn a_burst_after_a_batch_cut_by_the_maximum_size_is_one_batch() {
    for len in 1..=12usize {
        let hold = Arc::new(Barrier::new(2));
        let mut b = Disruptor::builder(256, || 0u64)
            .wait_strategy(BlockingWait::default())
            .single_producer()
            .unwrap();
        let (done, received) = mpsc::channel();
        b.handle_events_with(Batches {
            current: Vec::new(),
            done,
            hold: Some(hold.clone()),
        })
        .max_batch_size(16);
        let (d, mut p) = b.start().unwrap();
        p.publish_batch(20, |e, s| *e = s as u64).unwrap(); // 0..=19, taken as 0..=15 first
        hold.wait();
        p.publish_batch(len, |e, s| *e = s as u64).unwrap(); // 20.., at once
        hold.wait();
        assert_eq!(
            received.recv_timeout(WAIT).unwrap(),
            (0..16).collect::<Vec<_>>()
        );
        assert_eq!(
            received.recv_timeout(WAIT).unwrap(),
            (16..20 + len as i64).collect::<Vec<_>>(),
            "the rest and a burst of {len} published at once"
        );
        d.shutdown().unwrap();
    }
}

#[test]
fn bursts_between_single_events_are_never_split() {
    // Single events (which let the stage poll several times per line) and bursts of 2-12
    // published at once, for a second: no batch may end inside a burst.
    let (b, received) = recorded(1024, YieldingWait::default(), None);
    let (d, mut p) = b.start().unwrap();
    let mut bursts = Vec::new();
    let mut next = 0i64;
    let started = Instant::now();
    let mut k = 0usize;
    while started.elapsed() < Duration::from_secs(1) {
        p.publish(|e, s| *e = s as u64).unwrap();
        p.publish(|e, s| *e = s as u64).unwrap();
        next += 2;
        let len = 2 + k % 11;
        k += 1;
        p.publish_batch(len, |e, s| *e = s as u64).unwrap();
        bursts.push(next..next + len as i64);
        next += len as i64;
        for _ in 0..k % 200 {
            std::hint::spin_loop();
        }
    }
    d.shutdown().unwrap();
    let ends: std::collections::HashSet<i64> = received
        .try_iter()
        .map(|batch| *batch.last().unwrap())
        .collect();
    assert!(ends.contains(&(next - 1)), "every event arrived");
    let split: Vec<_> = bursts
        .iter()
        .filter(|burst| (burst.start..burst.end - 1).any(|s| ends.contains(&s)))
        .collect();
    assert!(
        split.is_empty(),
        "{} of {} bursts split, e.g. {:?}",
        split.len(),
        bursts.len(),
        &split[..split.len().min(5)]
    );
}

/// The batches a stage running `max_batch` over the scripted cursor hands its handler.
fn scripted_batches(cursor_at: Vec<i64>, max_batch: Option<usize>) -> Vec<Vec<i64>> {
    let (done, batches) = mpsc::channel();
    // Eight u64 slots to a line (slot `i` in line `i / 8`).
    let mut feed = Scripted::new(64, cursor_at);
    feed.slots_per_line = Some(8);
    let mut spec = StageSpec::new("scripted");
    if let Some(n) = max_batch {
        spec = spec.max_batch_size(n);
    }
    spec.run(
        feed,
        Batches {
            current: Vec::new(),
            done,
            hold: None,
        },
    )
    .unwrap();
    batches.try_iter().collect()
}

#[test]
fn a_claim_after_a_deferred_event_is_not_split_by_the_maximum_batch() {
    // Event 0 alone (left for the next poll: it lies in a partial line), then the claim 1..=2
    // at once; at most two per batch: [0] then [1, 2], as a stage that took 0 at once would.
    assert_eq!(
        scripted_batches(vec![0, 2], Some(2)),
        vec![vec![0], vec![1, 2]]
    );
}

#[test]
fn scripted_claims_are_never_split() {
    // Claims ending at 0, 1, 2, 10 and 12: every batch ends at one of them.
    let ends = [0, 1, 2, 10, 12];
    for max_batch in [None, Some(2), Some(3), Some(5)] {
        let batches = scripted_batches(ends.to_vec(), max_batch);
        let handled: Vec<i64> = batches.iter().flatten().copied().collect();
        assert_eq!(handled, (0..=12).collect::<Vec<_>>());
        for batch in &batches {
            let last = *batch.last().unwrap();
            let capped = max_batch.is_some_and(|n| batch.len() == n);
            assert!(
                ends.contains(&last) || capped,
                "max {max_batch:?}: batch {batch:?} ends inside a claim: {batches:?}"
            );
        }
    }
}
