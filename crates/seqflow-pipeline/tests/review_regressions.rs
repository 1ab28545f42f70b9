//! Cases an adversarial review found wrong, each pinned: a stage a lossy subscriber follows
//! cannot be removed; a lossy subscriber that could never read is refused; a poller made on the
//! running disruptor counts in `has_backlog`; a poll whose handler panics releases what it
//! finished.

use seqflow_pipeline::{
    BuildError, Disruptor, LossyError, MultiProducerMode, Producer, ProducerSequencer,
    RemoveStageError,
};
use seqflow_sequence::BlockingWait;
use std::time::Duration;

#[test]
fn a_stage_a_lossy_subscriber_follows_cannot_be_removed() {
    let mut b = Disruptor::builder(8, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    let mut sub = b
        .handle_events_with(|_: &u64, _, _| {})
        .named("a")
        .then_lossy_subscriber();
    b.handle_events_with(|_: &u64, _, _| {}).named("other");
    let (mut d, mut p) = b.start().unwrap();
    match d.remove_stage("a") {
        Err(RemoveStageError::HasDependents { stage, dependents }) => {
            assert_eq!(stage, "a");
            assert_eq!(dependents, vec!["a lossy subscriber (drop it first)"]);
        }
        other => panic!("{other:?}"),
    }
    // The subscriber still gets events through "a".
    p.publish(|e, _| *e = 5).unwrap();
    assert_eq!(sub.next_timeout(Some(Duration::from_secs(10))), Ok((0, 5)));
    // "other" may or may not have handled event 0 yet: its final sequence is either.
    assert!(matches!(d.remove_stage("other"), Ok(-1 | 0)));
    // Once the subscriber is dropped, "a" can go.
    drop(sub);
    assert_eq!(d.remove_stage("a"), Ok(0));
    d.shutdown().unwrap();
}

#[test]
fn a_lossy_subscriber_that_could_never_read_is_refused() {
    // Single producer, one slot: the producer's next (unrecorded) claim is that slot.
    let (d, mut p) = Disruptor::builder(1, || 0u64)
        .single_producer()
        .unwrap()
        .start()
        .unwrap();
    assert!(matches!(
        d.lossy_subscriber(),
        Err(BuildError::LossyNeverReads { capacity: 1 })
    ));
    p.publish(|e, _| *e = 1).unwrap();
    d.shutdown().unwrap();

    let mut b = Disruptor::builder(1, || 0u64).single_producer().unwrap();
    let _sub = b
        .handle_events_with(|_: &u64, _, _| {})
        .then_lossy_subscriber();
    assert!(matches!(
        b.start().map(|_| ()),
        Err(BuildError::LossyNeverReads { capacity: 1 })
    ));

    // Two slots (single producer) and one slot (multi producer) read every event they keep up
    // with.
    let (d, p) = Disruptor::builder(2, || 0u64)
        .single_producer()
        .unwrap()
        .start()
        .unwrap();
    a_subscriber_keeps_up(d, p);
    let (d, p) = Disruptor::builder(1, || 0u64)
        .multi_producer(MultiProducerMode::Cas)
        .unwrap()
        .start()
        .unwrap();
    a_subscriber_keeps_up(d, p);
}

/// A lossy subscriber reading right after each publish gets every event, then finds none.
fn a_subscriber_keeps_up<S: ProducerSequencer>(
    d: Disruptor<u64, S>,
    mut p: Producer<u64, S::Claimer>,
) {
    let mut sub = d.lossy_subscriber().unwrap();
    for i in 0..5 {
        p.publish(|e, _| *e = i).unwrap();
        assert_eq!(sub.try_next(), Ok((i as i64, i)));
    }
    assert_eq!(sub.try_next(), Err(LossyError::Timeout));
    drop(sub);
    d.shutdown().unwrap();
}

#[test]
fn a_poller_made_on_the_running_disruptor_counts_in_has_backlog() {
    let (d, mut p) = Disruptor::builder(8, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap()
        .start()
        .unwrap();
    let mut poller = d.poller().unwrap();
    assert!(!d.has_backlog());
    for i in 0..4 {
        p.publish(|e, _| *e = i).unwrap();
    }
    assert!(d.has_backlog());
    assert_eq!(poller.poll(|_, _, _| {}).unwrap(), 4);
    assert!(!d.has_backlog());
    drop(poller);
    d.shutdown().unwrap();
}

/// A poll whose handler panics releases the events finished before the panic: the next poll
/// starts at the event it panicked on, and no finished event comes back.
#[test]
fn a_panicking_poll_handler_releases_what_it_finished() {
    let mut b = Disruptor::builder(8, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    let mut poller = b.poller().unwrap();
    let (d, mut p) = b.start().unwrap();
    p.publish_batch(5, |e, seq| *e = seq as u64).unwrap();
    let mut seen = Vec::new();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        poller.poll(|e, _, _| {
            assert!(*e != 2, "fails on 2");
            seen.push(*e);
        })
    }));
    assert!(panicked.is_err());
    assert_eq!(seen, vec![0, 1]);
    assert_eq!(poller.sequence(), 1);
    let mut again = Vec::new();
    assert_eq!(poller.poll(|e, _, _| again.push(*e)).unwrap(), 3);
    assert_eq!(again, vec![2, 3, 4]);
    drop(poller);
    d.shutdown().unwrap();
}

/// A lossy subscriber (and a poller) made while a claim guard is open starts at that guard's
/// events: "the next event to be published" (it started past them, silently, before).
/// Open a claim guard of `n` events at sequence 1, make a lossy subscriber and a poller, then
/// publish the guard and one more event: what does each see first?
fn lossy_first_seen_with_a_guard_open(n: usize) -> (i64, u64, i64) {
    let mut b = seqflow_pipeline::Disruptor::builder(8, || 0i64)
        .single_producer()
        .unwrap();
    b.handle_events_with(|_: &i64, _, _| {});
    let (d, mut p) = b.start().unwrap();
    p.publish(|e, s| *e = s).unwrap(); // sequence 0
    let (mut sub, mut poller) = {
        let mut guard = p.claim(n).unwrap();
        let start = guard.range().start();
        assert_eq!(start, 1);
        for i in 0..n {
            *guard.get_mut(i).unwrap() = start + i as i64;
        }
        // Added while the guard is open.
        let sub = d.lossy_subscriber().unwrap();
        let poller = d.poller().unwrap();
        (sub, poller)
        // the guard publishes on drop
    };
    p.publish(|e, s| *e = s).unwrap();
    let (seq, value) = sub
        .next_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    assert_eq!(seq, value);
    let missed = sub.missed();
    let upto = poller
        .wait_for(1, Some(std::time::Duration::from_secs(2)))
        .unwrap();
    drop(poller);
    d.shutdown().unwrap();
    (seq, missed, upto)
}

#[test]
fn a_lossy_subscriber_made_while_a_claim_guard_is_open_gets_its_events() {
    for n in [1, 2] {
        let (seq, missed, upto) = lossy_first_seen_with_a_guard_open(n);
        assert!(
            upto >= 1,
            "n={n}: poller (gating) starts below the guard: upto {upto}"
        );
        assert_eq!(
            (seq, missed),
            (1, 0),
            "n={n}: lossy subscriber made while a claim guard was open skipped the guard's \
             events (first seen {seq}, reported missed {missed})"
        );
    }
}
