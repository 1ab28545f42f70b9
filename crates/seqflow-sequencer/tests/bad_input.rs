//! Every bad input to a sequencer is a typed error, never a panic or a hang.
// Not a loom model: loom's atomics only work inside `loom::model` (see the `loom_*` tests).
#![cfg(not(loom))]

use seqflow_ring::CapacityError;
use seqflow_sequence::{BlockingWait, Cursor, YieldingWait};
use seqflow_sequencer::*;
use std::time::Duration;

fn single(
    cap: usize,
) -> (
    std::sync::Arc<SingleProducerSequencer<YieldingWait>>,
    SingleClaimer<YieldingWait>,
) {
    let s = SingleProducerSequencer::new(cap, YieldingWait::default(), 4).unwrap();
    let c = s.claimer().unwrap();
    (s, c)
}

fn each_claimer(
    check: impl Fn(
        &mut dyn FnMut(usize) -> Result<SequenceRange, ClaimError>,
        &mut dyn FnMut(SequenceRange) -> Result<(), PublishError>,
        &GatingTable,
    ),
) {
    let (s, mut c) = single(4);
    let c = std::cell::RefCell::new(&mut c);
    check(
        &mut |n| c.borrow_mut().claim(n),
        &mut |r| c.borrow_mut().publish(r),
        s.gating(),
    );
    for mode in [MultiProducerMode::Cas, MultiProducerMode::Lock] {
        let s = MultiProducerSequencer::new(4, YieldingWait::default(), mode, 4).unwrap();
        let c = std::cell::RefCell::new(s.claimer());
        check(
            &mut |n| c.borrow_mut().claim(n),
            &mut |r| c.borrow_mut().publish(r),
            s.gating(),
        );
    }
}

#[test]
fn bad_capacities_are_typed_errors() {
    for (cap, err) in [
        (0, CapacityError::Zero),
        (3, CapacityError::NotPowerOfTwo(3)),
        (100, CapacityError::NotPowerOfTwo(100)),
    ] {
        assert_eq!(
            SingleProducerSequencer::new(cap, YieldingWait::default(), 1).err(),
            Some(err)
        );
        assert_eq!(
            MultiProducerSequencer::new(cap, YieldingWait::default(), MultiProducerMode::Cas, 1)
                .err(),
            Some(err)
        );
    }
}

#[test]
fn zero_and_oversized_claims() {
    each_claimer(|claim, _, _| {
        assert_eq!(claim(0), Err(ClaimError::Zero));
        assert_eq!(
            claim(5),
            Err(ClaimError::TooLarge {
                requested: 5,
                capacity: 4
            })
        );
        assert!(claim(4).is_ok(), "a claim of exactly the capacity is fine");
    });
}

#[test]
fn publishing_what_was_not_claimed() {
    each_claimer(|claim, publish, _| {
        let never = SequenceRange::new(0, 0).unwrap();
        assert_eq!(
            publish(never),
            Err(PublishError::NotClaimed {
                range: never,
                pending: None
            })
        );
        let r = claim(2).unwrap();
        let wrong = SequenceRange::new(r.start(), r.end() + 1).unwrap();
        assert_eq!(
            publish(wrong),
            Err(PublishError::NotClaimed {
                range: wrong,
                pending: Some(r)
            })
        );
        assert_eq!(claim(1), Err(ClaimError::Pending { pending: r }));
        assert_eq!(publish(r), Ok(()));
        assert_eq!(
            publish(r),
            Err(PublishError::NotClaimed {
                range: r,
                pending: None
            }),
            "twice"
        );
    });
}

#[test]
fn try_claim_full_then_free() {
    let (s, mut p) = single(4);
    let consumer = s.gating().register(true, || -1).unwrap();
    let r = p.try_claim(3).unwrap();
    p.publish(r).unwrap();
    assert_eq!(
        p.try_claim(2),
        Err(ClaimError::Full {
            requested: 2,
            free: 1
        })
    );
    assert_eq!(s.remaining_capacity(), 1);
    consumer.set_sequence(1);
    assert_eq!(p.try_claim(2).unwrap(), SequenceRange::new(3, 4).unwrap());

    for mode in [MultiProducerMode::Cas, MultiProducerMode::Lock] {
        let s = MultiProducerSequencer::new(4, YieldingWait::default(), mode, 4).unwrap();
        let consumer = s.gating().register(true, || -1).unwrap();
        let (mut a, mut b) = (s.claimer(), s.claimer());
        let r = a.try_claim(4).unwrap();
        assert_eq!(
            b.try_claim(1),
            Err(ClaimError::Full {
                requested: 1,
                free: 0
            })
        );
        a.publish(r).unwrap();
        consumer.set_sequence(0);
        assert_eq!(b.try_claim(1).unwrap().start(), 4);
    }
}

#[test]
fn claim_timeout_expires_and_halt_abandons() {
    let s = SingleProducerSequencer::new(2, BlockingWait::default(), 1).unwrap();
    let _stalled = s.gating().register(true, || -1).unwrap();
    let mut p = s.claimer().unwrap();
    let r = p.claim(2).unwrap();
    p.publish(r).unwrap();
    assert_eq!(
        p.claim_timeout(1, Duration::from_millis(20)),
        Err(ClaimError::Timeout { requested: 1 })
    );
    let s2 = s.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        s2.alert().raise();
        seqflow_sequence::WaitStrategy::signal_all(s2.wait_strategy());
    });
    assert_eq!(p.claim(1), Err(ClaimError::Halted));
    t.join().unwrap();
}

#[test]
fn claim_timeout_does_not_expire_when_consumer_moves() {
    for mode in [MultiProducerMode::Cas, MultiProducerMode::Lock] {
        let s = MultiProducerSequencer::new(2, BlockingWait::default(), mode, 1).unwrap();
        let consumer = s.gating().register(true, || -1).unwrap();
        let mut p = s.claimer();
        let r = p.claim(2).unwrap();
        p.publish(r).unwrap();
        let s2 = s.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            consumer.set_sequence(0);
            seqflow_sequence::WaitStrategy::signal_all(s2.wait_strategy());
        });
        assert_eq!(
            p.claim_timeout(1, Duration::from_secs(30)).unwrap().start(),
            2
        );
        t.join().unwrap();
    }
}

#[test]
fn dropped_multi_claim_is_published_not_a_hole() {
    let s =
        MultiProducerSequencer::new(8, YieldingWait::default(), MultiProducerMode::Cas, 1).unwrap();
    let mut a = s.claimer();
    let mut b = s.claimer();
    let _ra = a.claim(2).unwrap();
    let rb = b.claim(1).unwrap();
    b.publish(rb).unwrap();
    assert_eq!(s.highest_published(0, 2), -1);
    drop(a);
    assert_eq!(s.highest_published(0, 2), 2);
}

#[test]
fn single_claimer_is_unique_until_dropped() {
    let s = SingleProducerSequencer::new(4, YieldingWait::default(), 1).unwrap();
    let mut c = s.claimer().unwrap();
    assert!(s.claimer().is_none());
    let r = c.claim(1).unwrap();
    c.publish(r).unwrap();
    drop(c);
    let mut c = s.claimer().expect("free again");
    assert_eq!(
        c.claim(1).unwrap().start(),
        1,
        "carries on after the cursor"
    );
}

#[test]
fn gating_table_full_is_typed() {
    let s = SingleProducerSequencer::new(4, YieldingWait::default(), 2).unwrap();
    let _a = s.gating().register(true, || -1).unwrap();
    let _b = s.gating().register(true, || -1).unwrap();
    assert_eq!(
        s.gating().register(true, || -1).err(),
        Some(RegisterError::TableFull { max: 2 })
    );
}

#[test]
fn room_for_too_many_consumers_is_an_error_not_an_allocation_failure() {
    for requested in [MAX_CONSUMERS + 1, 1 << 40, usize::MAX] {
        let expected = CapacityError::TooManyConsumers {
            requested,
            max: MAX_CONSUMERS,
        };
        let single = SingleProducerSequencer::new(8, YieldingWait::default(), requested);
        assert_eq!(single.err(), Some(expected));
        let multi = MultiProducerSequencer::new(
            8,
            YieldingWait::default(),
            MultiProducerMode::Cas,
            requested,
        );
        assert_eq!(multi.err(), Some(expected));
        assert_eq!(GatingTable::new(requested).err(), Some(expected));
    }
    // The largest table is 16 MiB of slots: too slow to build under Miri.
    if !cfg!(miri) {
        assert!(SingleProducerSequencer::new(8, YieldingWait::default(), MAX_CONSUMERS).is_ok());
    }
}
