//! `start_at` (LMAX's `claim(sequence)` on a fresh ring) and `has_available_capacity`.

use seqflow_sequence::YieldingWait;
use seqflow_sequencer::{
    Claimer, MultiProducerMode, MultiProducerSequencer, Sequencer, SingleProducerSequencer,
    StartAtError,
};

#[test]
fn single_producer_starts_at_a_chosen_sequence_and_consumers_follow() {
    let s = SingleProducerSequencer::new(4, YieldingWait::default(), 2).unwrap();
    let consumer = s.gating().register(true, || -1).unwrap();
    assert!(matches!(
        s.start_at(10),
        Err(StartAtError::ConsumerBehind {
            sequence: -1,
            next: 10,
            ..
        })
    ));
    consumer.set_sequence(9);
    s.start_at(10).unwrap();
    assert_eq!((s.claimed(), s.published()), (9, 9));
    let mut p = s.claimer().unwrap();
    assert!(matches!(s.start_at(20), Err(StartAtError::ProducerActive)));
    let r = p.claim(4).unwrap();
    assert_eq!((r.start(), r.end()), (10, 13));
    p.publish(r).unwrap();
    assert!(!s.has_available_capacity(1));
    consumer.set_sequence(11);
    assert!(s.has_available_capacity(2));
    assert!(!s.has_available_capacity(3));
}

#[test]
fn multi_producer_start_at_only_before_the_first_claim() {
    for mode in [MultiProducerMode::Cas, MultiProducerMode::Lock] {
        let s = MultiProducerSequencer::new(4, YieldingWait::default(), mode, 1).unwrap();
        assert_eq!(s.start_at(-1), Err(StartAtError::Negative { next: -1 }));
        s.start_at(7).unwrap();
        let mut p = s.claimer();
        let r = p.claim(1).unwrap();
        assert_eq!(r.start(), 7);
        assert!(!s.is_available(7));
        p.publish(r).unwrap();
        assert!(s.is_available(7));
        assert_eq!(
            s.start_at(0),
            Err(StartAtError::AlreadyClaimed { claimed: 7 })
        );
    }
}
