//! Property tests: claims of random sizes across many laps of tiny rings, in lock-step with a
//! consumer, keep sequences contiguous and availability exact.
// Not a loom model: loom's atomics only work inside `loom::model` (see the `loom_*` tests).
#![cfg(not(loom))]

use proptest::prelude::*;
use seqflow_sequence::{Cursor, YieldingWait};
use seqflow_sequencer::*;

fn drive<C: Claimer>(mut claimer: C, consumer: &GatingRegistration, sizes: &[usize], cap: usize) {
    let seq = claimer.sequencer().clone();
    let mut expected_next = 0i64;
    for &n in sizes {
        let n = n.min(cap);
        // The consumer has processed everything published so far, so a claim of up to
        // `cap` must succeed without waiting.
        let r = claimer
            .try_claim(n)
            .expect("room after the consumer caught up");
        assert_eq!(r.start(), expected_next);
        assert_eq!(r.len(), n);
        for s in r {
            assert!(!seq.is_available(s), "{s} visible before publish");
        }
        claimer.publish(r).unwrap();
        for s in r {
            assert!(seq.is_available(s), "{s} not visible after publish");
        }
        if r.start() >= cap as i64 {
            assert!(
                !seq.is_available(r.start() - cap as i64),
                "previous lap still visible"
            );
        }
        assert_eq!(seq.highest_published(r.start(), seq.claimed()), r.end());
        expected_next = r.end() + 1;
        consumer.set_sequence(r.end());
    }
}

proptest! {
    #[test]
    fn single_producer_wraps(shift in 0u32..4, sizes in proptest::collection::vec(1usize..9, 1..200)) {
        let cap = 1usize << shift;
        let s = SingleProducerSequencer::new(cap, YieldingWait::default(), 1).unwrap();
        let consumer = s.gating().register(true, || -1).unwrap();
        drive(s.claimer().unwrap(), &consumer, &sizes, cap);
    }

    #[test]
    fn multi_producer_wraps(shift in 0u32..4, sizes in proptest::collection::vec(1usize..9, 1..200), lock in any::<bool>()) {
        let cap = 1usize << shift;
        let mode = if lock { MultiProducerMode::Lock } else { MultiProducerMode::Cas };
        let s = MultiProducerSequencer::new(cap, YieldingWait::default(), mode, 1).unwrap();
        let consumer = s.gating().register(true, || -1).unwrap();
        drive(s.claimer(), &consumer, &sizes, cap);
    }

    #[test]
    fn remaining_capacity_matches_lag(cap_shift in 1u32..6, claimed in 0usize..64, consumed_frac in 0.0f64..=1.0) {
        let cap = 1usize << cap_shift;
        let claimed = claimed.min(cap);
        let s = SingleProducerSequencer::new(cap, YieldingWait::default(), 1).unwrap();
        let consumer = s.gating().register(true, || -1).unwrap();
        let mut p = s.claimer().unwrap();
        if claimed > 0 {
            let r = p.claim(claimed).unwrap();
            p.publish(r).unwrap();
        }
        let consumed = (claimed as f64 * consumed_frac) as i64;
        consumer.set_sequence(consumed - 1);
        prop_assert_eq!(s.remaining_capacity(), cap - (claimed - consumed as usize));
    }
}

/// A multi-producer ring's slots keep their lap modulo 256: a sequence lapped a multiple of 256
/// laps ago has the mark of its slot's current event, and must still read as not available.
#[test]
fn lapped_sequences_are_never_available() {
    for mode in [MultiProducerMode::Cas, MultiProducerMode::Lock] {
        let cap = 4i64;
        let s = MultiProducerSequencer::new(4, YieldingWait::default(), mode, 1).unwrap();
        let consumer = s.gating().register(true, || -1).unwrap();
        let mut claimer = s.claimer();
        for _ in 0..300 * cap {
            let r = claimer.try_claim(1).unwrap();
            claimer.publish(r).unwrap();
            consumer.set_sequence(r.end());
        }
        let last = s.claimed();
        for seq in -1..=last + 2 * cap {
            let expected = seq > last - cap && seq <= last;
            assert_eq!(s.is_available(seq), expected, "{mode:?}: sequence {seq}");
        }
        assert_eq!(s.published(), last);
    }
}
