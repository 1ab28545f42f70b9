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

/// Laps are kept in 32 bits, so some starting sequences have laps that truncate to -1 or -2,
/// the "never published" mark and the lap before it: a ring numbered from one of them must not
/// show its slots published before anybody writes them.
#[test]
fn multi_producer_start_whose_lap_truncates_to_the_unpublished_mark_shows_nothing_early() {
    for capacity in [1usize, 2, 8, 64] {
        let shift = capacity.trailing_zeros();
        let lap_minus_one = ((1i64 << 32) - 1) << shift;
        let lap_minus_two = ((1i64 << 32) - 2) << shift;
        for next in [
            lap_minus_one,
            lap_minus_one + 3,
            lap_minus_two,
            lap_minus_two + 5,
        ] {
            for mode in [MultiProducerMode::Cas, MultiProducerMode::Lock] {
                let s = MultiProducerSequencer::new(capacity, YieldingWait::default(), mode, 1)
                    .unwrap();
                s.start_at(next).unwrap();
                for seq in next..next + 2 * capacity as i64 {
                    assert!(!s.is_available(seq), "{seq} (start {next}, {mode:?})");
                }
                assert_eq!(s.published(), next - 1);
                let mut a = s.claimer();
                let mut b = s.claimer();
                let held = a.claim(1).unwrap();
                if capacity > 1 {
                    let r = b.claim(1).unwrap();
                    b.publish(r).unwrap();
                    // `next` is claimed and not published: a hole, so nothing is readable.
                    assert!(!s.is_available(next) && s.is_available(next + 1));
                    assert_eq!(s.published(), next - 1, "start {next}, {mode:?}");
                }
                a.publish(held).unwrap();
                assert!(s.is_available(next));
                let expected = next + i64::from(capacity > 1);
                assert_eq!(
                    s.published(),
                    expected,
                    "start {next}, capacity {capacity}, {mode:?}"
                );
            }
        }
    }
}

/// A claimer that numbers from 0 before a racing `start_at` loses none of its marks to it.
#[test]
fn a_failed_start_at_leaves_published_marks_alone() {
    let s =
        MultiProducerSequencer::new(4, YieldingWait::default(), MultiProducerMode::Cas, 1).unwrap();
    let mut p = s.claimer();
    let r = p.claim(2).unwrap();
    p.publish(r).unwrap();
    assert!(matches!(
        s.start_at(((1i64 << 32) - 1) << 2),
        Err(StartAtError::AlreadyClaimed { claimed: 1 })
    ));
    assert!(s.is_available(0) && s.is_available(1) && !s.is_available(2));
    assert_eq!(s.published(), 1);
}

#[test]
fn a_start_too_close_to_the_end_of_the_sequence_numbers_is_refused() {
    let single = SingleProducerSequencer::new(4, YieldingWait::default(), 1).unwrap();
    let multi =
        MultiProducerSequencer::new(4, YieldingWait::default(), MultiProducerMode::Cas, 1).unwrap();
    for next in [i64::MAX, i64::MAX - 1, seqflow_sequencer::MAX_START + 1] {
        let expected = Err(StartAtError::TooLarge {
            next,
            max: seqflow_sequencer::MAX_START,
        });
        assert_eq!(single.start_at(next), expected);
        assert_eq!(multi.start_at(next), expected);
    }
    single.start_at(seqflow_sequencer::MAX_START).unwrap();
    let mut p = single.claimer().unwrap();
    let r = p.claim(4).unwrap();
    assert_eq!(r.start(), seqflow_sequencer::MAX_START);
}

#[test]
fn multi_producer_start_at_refuses_while_a_claimer_exists() {
    let s =
        MultiProducerSequencer::new(4, YieldingWait::default(), MultiProducerMode::Cas, 1).unwrap();
    let p = s.claimer();
    let q = p.clone();
    drop(p);
    assert_eq!(s.start_at(8), Err(StartAtError::ProducerActive));
    drop(q);
    s.start_at(8).unwrap();
    assert_eq!(s.claimer().claim(1).unwrap().start(), 8);
}
