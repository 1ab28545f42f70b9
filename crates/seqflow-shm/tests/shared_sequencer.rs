//! The sequencer a shared ring hands out (`ShmRing::sequencer`) cannot renumber the ring or
//! produce behind the ring's back: other processes claim and publish through the same cursor,
//! which must never fall (stages behind other stages trust the cursor they last read).

mod common;

use common::Seg;
use seqflow_sequencer::StartAtError;
use seqflow_shm::{ProducerMode, ShmOptions, ShmRing, ShmSequencer};
use std::time::Duration;

const SHORT: Duration = Duration::from_millis(50);

#[test]
fn a_shared_single_producer_sequencer_refuses_start_at_and_a_raw_claimer() {
    let seg = Seg::new("seq-single");
    let a = ShmRing::<u64>::create(&seg.name, 8, ShmOptions::default()).unwrap();
    let b = ShmRing::<u64>::open(&seg.name, SHORT).unwrap();
    let ShmSequencer::Single(fresh) = &**b.sequencer() else {
        panic!("a single-producer ring");
    };
    // Refused even before anything is published: another process may claim at any moment.
    assert_eq!(fresh.start_at(5), Err(StartAtError::Shared));
    assert!(
        fresh.claimer().is_none(),
        "producers attach through the ring"
    );

    let mut p = a.producer().unwrap();
    p.publish_batch(8, |e, s| *e = s as u64).unwrap();
    assert_eq!(fresh.start_at(0), Err(StartAtError::Shared));
    assert!(fresh.claimer().is_none());
    assert_eq!(b.sequencer().published(), 7, "the cursor did not move");
    // The ring's own route still works, one producer at a time across handles.
    drop(p);
    let mut q = b.producer().unwrap();
    q.publish(|e, _| *e = 8).unwrap();
    assert_eq!(a.sequencer().published(), 8);
}

#[test]
fn a_shared_multi_producer_sequencer_refuses_start_at() {
    let seg = Seg::new("seq-multi");
    let options = ShmOptions {
        producer: ProducerMode::MultiCas,
        ..ShmOptions::default()
    };
    let a = ShmRing::<u64>::create(&seg.name, 8, options).unwrap();
    let ShmSequencer::Multi(multi) = &**a.sequencer() else {
        panic!("a multi-producer ring");
    };
    assert_eq!(multi.start_at(3), Err(StartAtError::Shared));
    a.producer().unwrap().publish(|e, _| *e = 1).unwrap();
    assert_eq!(a.sequencer().published(), 0);
}

/// What the refusals protect: a stage behind another one is never handed a sequence that is
/// not published, whatever is done through another handle of the ring.
#[test]
fn a_dependent_consumer_is_never_handed_an_unpublished_sequence() {
    let seg = Seg::new("seq-dependent");
    let a = ShmRing::<u64>::create(&seg.name, 8, ShmOptions::default()).unwrap();
    let b = ShmRing::<u64>::open(&seg.name, SHORT).unwrap();
    let mut decode = a.consumer("decode").unwrap();
    let mut store = a.consumer_after("store", &["decode"]).unwrap();
    let mut p = a.producer().unwrap();
    p.publish_batch(8, |e, s| *e = s as u64).unwrap();
    assert_eq!(decode.wait_for(0, Some(SHORT)), Ok(7));
    decode.update_sequence(3).unwrap();
    assert_eq!(store.wait_for(0, Some(SHORT)), Ok(3));
    store.update_sequence(3).unwrap();
    decode.update_sequence(7).unwrap();
    drop(p);
    let ShmSequencer::Single(s) = &**b.sequencer() else {
        panic!("a single-producer ring");
    };
    assert!(s.start_at(0).is_err(), "the cursor cannot be moved back");
    let mut q = b.producer().unwrap();
    let mut claim = q.claim(1).unwrap();
    *claim.get_mut(0).unwrap() = 999;
    assert_eq!(
        claim.range().start(),
        8,
        "the next producer carries on from the cursor"
    );
    assert_eq!(
        store.wait_for(4, Some(SHORT)),
        Ok(7),
        "only what is published"
    );
    drop(claim); // published
    assert_eq!(
        store.wait_for(8, Some(SHORT)),
        Err(seqflow_shm::ConsumeError::Timeout),
        "decode is at 7"
    );
    assert_eq!(decode.wait_for(8, Some(SHORT)), Ok(8));
    decode.update_sequence(8).unwrap();
    assert_eq!(store.wait_for(8, Some(SHORT)), Ok(8));
}
