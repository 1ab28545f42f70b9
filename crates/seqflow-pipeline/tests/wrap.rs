//! A stage walks a batch in runs of consecutive slots, split where the ring wraps: every event
//! still arrives once, in order, with `end_of_batch` on the last of each batch, whatever the
//! ring size and the claim size.

use seqflow_pipeline::Disruptor;
use std::sync::{Arc, Mutex};

#[test]
fn batches_that_cross_the_ring_end_arrive_whole_and_in_order() {
    for (capacity, claim) in [(1usize, 1usize), (2, 2), (4, 3), (8, 5), (16, 16), (64, 7)] {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut b = Disruptor::builder(capacity, || 0u64)
            .single_producer()
            .unwrap();
        let sink = Arc::clone(&seen);
        let mut local = Vec::new();
        b.handle_events_with(move |e: &u64, seq: i64, end: bool| {
            local.push((seq, *e, end));
            if end {
                sink.lock().unwrap().append(&mut local);
            }
        });
        let (d, mut p) = b.start().unwrap();
        let total = if cfg!(miri) { 40u64 } else { 1000 };
        let mut v = 0u64;
        while v < total {
            let n = claim.min((total - v) as usize);
            p.publish_batch(n, |e, _| {
                *e = v * 3;
                v += 1;
            })
            .unwrap();
        }
        drop(p);
        d.shutdown().unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen.len(),
            total as usize,
            "capacity {capacity}, claim {claim}"
        );
        for (i, &(seq, value, _)) in seen.iter().enumerate() {
            assert_eq!(
                (seq, value),
                (i as i64, i as u64 * 3),
                "capacity {capacity}"
            );
        }
        assert!(seen.last().unwrap().2, "the last event ends a batch");
    }
}

#[test]
fn polls_that_cross_the_ring_end_arrive_whole_and_in_order() {
    for (capacity, claim) in [(1usize, 1usize), (2, 2), (4, 3), (8, 5), (16, 16)] {
        let mut b = Disruptor::builder(capacity, || 0u64)
            .single_producer()
            .unwrap();
        let mut poller = b.poller().unwrap();
        let (d, mut p) = b.start().unwrap();
        let total = if cfg!(miri) { 40u64 } else { 1000 };
        let mut v = 0u64;
        let mut seen = Vec::new();
        while v < total {
            let n = claim.min((total - v) as usize);
            // Poll only when the ring has no room for the next claim, so that what is there
            // spans the ring's end.
            if !p.has_available_capacity(n) {
                poller
                    .poll(|e, seq, end| seen.push((seq, *e, end)))
                    .unwrap();
            }
            p.publish_batch(n, |e, _| {
                *e = v * 3;
                v += 1;
            })
            .unwrap();
        }
        poller
            .poll(|e, seq, end| seen.push((seq, *e, end)))
            .unwrap();
        assert_eq!(
            seen.len(),
            total as usize,
            "capacity {capacity}, claim {claim}"
        );
        for (i, &(seq, value, _)) in seen.iter().enumerate() {
            assert_eq!(
                (seq, value),
                (i as i64, i as u64 * 3),
                "capacity {capacity}"
            );
        }
        assert!(seen.last().unwrap().2);
        drop(p);
        d.shutdown().unwrap();
    }
}
