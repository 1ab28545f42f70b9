//! A cursor at `i64::MAX` (only a corrupt shared cursor gets there): `published()`'s cursor
//! re-read where its scan stops must not take a lap past `i64::MAX` for a claim, or every
//! unpublished slot would count as lapped and the answer would be `i64::MAX`.
#![cfg(not(loom))]

use seqflow_ring::Capacity;
use seqflow_sequence::sync::atomic::AtomicI8;
use seqflow_sequence::{OwnedRef, Sequence, YieldingWait};
use seqflow_sequencer::*;

#[test]
fn published_with_a_cursor_at_i64_max_and_no_marks() {
    let capacity = Capacity::new(4).unwrap();
    // Sequences MAX-3..=MAX are lap (MAX >> 2), mark -1; every slot holds -2: the lap before,
    // i.e. none of them is published.
    let marks: Box<[AtomicI8]> = (0..4).map(|_| AtomicI8::new(-2)).collect();
    // SAFETY: fresh memory owned by this test; nothing else stores into it.
    let available = unsafe {
        AvailabilityBuffer::__internal_from_parts(OwnedRef::from_boxed_slice(marks), capacity)
    }
    .unwrap();
    assert!(!available.is_available(i64::MAX));
    // SAFETY: as above.
    let s = unsafe {
        MultiProducerSequencer::__internal_from_parts(
            capacity,
            OwnedRef::new(Sequence::new(i64::MAX)),
            available,
            GatingTable::new(1).unwrap(),
            YieldingWait::default(),
            MultiProducerMode::Cas,
        )
    };
    let p = s.published();
    eprintln!("published() = {p} (i64::MAX - {})", i64::MAX - p);
    assert_eq!(p, i64::MAX - 4, "no sequence of the last lap is marked");
}
