//! Contracts every sequencer keeps the same way (regression tests for breaks found by porting
//! the LMAX Disruptor's own tests).

use seqflow_sequence::{Alert, OwnedRef, Sequence, SequenceBarrier, WaitError, YieldingWait};
use seqflow_sequencer::{
    Claimer, MultiProducerMode, MultiProducerSequencer, Sequencer, SingleProducerSequencer,
};
use std::sync::Arc;
use std::time::Duration;

/// A dependency ahead of the producer never makes an unpublished sequence available.
fn barrier_waits_for_the_producer_first<S: Sequencer>(
    sequencer: Arc<S>,
    mut claimer: impl Claimer,
) {
    let range = claimer.claim(10).unwrap();
    claimer.publish(range).unwrap(); // 0..=9 published
    let ahead = OwnedRef::new(Sequence::new(12));
    let view = ahead.clone().map(Sequence::read_only);
    let barrier = SequenceBarrier::new(sequencer, vec![view], Alert::new());
    assert_eq!(
        barrier.wait_for(10, Some(Duration::from_millis(5))),
        Err(WaitError::Timeout),
        "10 is not published although the dependency is at 12"
    );
    assert_eq!(barrier.wait_for(5, None), Ok(9));
}

#[test]
fn single_producer_barrier_waits_for_the_cursor_first() {
    let s = SingleProducerSequencer::new(16, YieldingWait::default(), 1).unwrap();
    let claimer = s.claimer().unwrap();
    barrier_waits_for_the_producer_first(s, claimer);
}

#[test]
fn multi_producer_barrier_waits_for_the_cursor_first() {
    for mode in [MultiProducerMode::Cas, MultiProducerMode::Lock] {
        let s = MultiProducerSequencer::new(16, YieldingWait::default(), mode, 1).unwrap();
        let claimer = s.claimer();
        barrier_waits_for_the_producer_first(s, claimer);
    }
}

/// A pending claim takes room before it is published, for every sequencer.
fn pending_claim_counts<S: Sequencer>(sequencer: &S, mut claimer: impl Claimer) {
    let _consumer = sequencer.gating().register(true, || -1).unwrap();
    assert_eq!(sequencer.remaining_capacity(), 16);
    let range = claimer.claim(3).unwrap();
    assert_eq!(sequencer.remaining_capacity(), 13);
    assert_eq!((sequencer.claimed(), sequencer.published()), (2, -1));
    claimer.publish(range).unwrap();
    assert_eq!(sequencer.remaining_capacity(), 13);
    assert_eq!((sequencer.claimed(), sequencer.published()), (2, 2));
}

#[test]
fn remaining_capacity_counts_a_pending_single_producer_claim() {
    let s = SingleProducerSequencer::new(16, YieldingWait::default(), 1).unwrap();
    let claimer = s.claimer().unwrap();
    pending_claim_counts(&*s, claimer);
}

#[test]
fn remaining_capacity_counts_a_pending_multi_producer_claim() {
    for mode in [MultiProducerMode::Cas, MultiProducerMode::Lock] {
        let s = MultiProducerSequencer::new(16, YieldingWait::default(), mode, 1).unwrap();
        let claimer = s.claimer();
        pending_claim_counts(&*s, claimer);
    }
}

/// `published` stops at the first hole, whatever order producers publish in.
#[test]
fn multi_producer_published_is_the_contiguous_prefix() {
    let s =
        MultiProducerSequencer::new(8, YieldingWait::default(), MultiProducerMode::Cas, 1).unwrap();
    let consumer = s.gating().register(true, || -1).unwrap();
    let (mut a, mut b) = (s.claimer(), s.claimer());
    for _ in 0..3 {
        let ra = a.claim(2).unwrap();
        let rb = b.claim(1).unwrap();
        b.publish(rb).unwrap();
        assert_eq!(s.published(), ra.start() - 1);
        a.publish(ra).unwrap();
        assert_eq!(s.published(), rb.end());
        consumer.set_sequence(rb.end());
    }
}

/// A CAS claimer expects the cursor where it last saw it, so after other claimers moved it that
/// expectation is stale: the claim still starts right after the cursor, a full ring is still
/// refused, and nothing is claimed twice.
#[test]
fn a_claimer_that_saw_the_cursor_long_ago_claims_after_it() {
    let s =
        MultiProducerSequencer::new(8, YieldingWait::default(), MultiProducerMode::Cas, 1).unwrap();
    let consumer = s.gating().register(true, || -1).unwrap();
    let (mut idle, mut busy) = (s.claimer(), s.claimer());
    for _ in 0..3 {
        let r = busy.claim(2).unwrap();
        busy.publish(r).unwrap();
    }
    // 0..=5 taken; `idle` last saw -1.
    let r = idle.claim(1).unwrap();
    assert_eq!((r.start(), r.end()), (6, 6));
    idle.publish(r).unwrap();
    let r = busy.claim(1).unwrap(); // 7: the ring is full
    busy.publish(r).unwrap();
    assert!(matches!(
        idle.try_claim(1),
        Err(seqflow_sequencer::ClaimError::Full { .. })
    ));
    consumer.set_sequence(3); // 0..=3 read: four slots free
    let r = idle.try_claim(4).unwrap();
    assert_eq!((r.start(), r.end()), (8, 11));
    idle.publish(r).unwrap();
    assert!(matches!(
        busy.try_claim(1),
        Err(seqflow_sequencer::ClaimError::Full { .. })
    ));
    assert_eq!((s.claimed(), s.published()), (11, 11));
}

/// The `free` count of a refused `try_claim` is the ring's, whatever the claimer last saw.
#[test]
fn a_stale_claimer_reports_the_free_slots_of_the_ring() {
    let s =
        MultiProducerSequencer::new(8, YieldingWait::default(), MultiProducerMode::Cas, 1).unwrap();
    let _consumer = s.gating().register(true, || -1).unwrap();
    let (mut a, mut b) = (s.claimer(), s.claimer());
    let r = a.claim(1).unwrap(); // `a` expects 0 from now on
    a.publish(r).unwrap();
    let r = b.claim(6).unwrap(); // 1..=6: one slot left
    b.publish(r).unwrap();
    let full = seqflow_sequencer::ClaimError::Full {
        requested: 8,
        free: 1,
    };
    assert_eq!(a.try_claim(8), Err(full));
    assert_eq!(s.claimer().try_claim(8), Err(full));
}
