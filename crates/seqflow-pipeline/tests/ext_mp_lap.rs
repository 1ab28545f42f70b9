//! Found while porting the LMAX "dynamically add handler" and the disruptor crate's
//! `mpmc_without_consumers`: in a multi-producer ring, a claim that is still being written is
//! protected only by gating consumers. With no consumer (or a consumer added at run time, which
//! starts at the claim cursor, after that claim), another producer can lap it: both closures
//! then hold `&mut` to the same slot at once, and the late publish marks an old lap over the
//! newer sequence's availability, so a consumer waits for it forever.
mod ext_common;
use ext_common::*;

use seqflow_pipeline::{Disruptor, MultiProducerMode};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Two producers: A claims a slot and stays in its write closure; B then publishes a lap.
/// Returns the slot addresses B wrote while A was still writing the same one.
fn lap_while_writing(add_stage_while_a_writes: bool) -> (Vec<(i64, i64)>, bool) {
    let (d, p) = Disruptor::builder(4, || 0u64)
        .multi_producer(MultiProducerMode::Cas)
        .unwrap()
        .start()
        .unwrap();
    let d = Arc::new(Mutex::new(Some(d)));
    let a_inside = Gate::new();
    let b_done = Gate::new();
    let a_addr = Arc::new(AtomicUsize::new(0));
    let a_seq = Arc::new(Mutex::new(-1i64));
    let mut pa = p.clone();
    let (ai, bd, aa, asq) = (
        a_inside.clone(),
        b_done.clone(),
        a_addr.clone(),
        a_seq.clone(),
    );
    let a = thread::spawn(move || {
        pa.publish(|e, seq| {
            aa.store(e as *mut u64 as usize, SeqCst);
            *asq.lock().unwrap() = seq;
            ai.open();
            // still writing: wait (bounded) for B
            let _ = wait_until(3, || bd.is_open());
            *e = seq as u64;
        })
        .unwrap();
    });
    a_inside.wait();
    let stage_saw = Arc::new(AtomicUsize::new(0));
    if add_stage_while_a_writes {
        let s = stage_saw.clone();
        d.lock()
            .unwrap()
            .as_mut()
            .unwrap()
            .handle_events_with(move |_: &u64, _, _| {
                s.fetch_add(1, SeqCst);
            })
            .unwrap();
    }
    let mut pb = p;
    let mut aliased = Vec::new();
    for _ in 0..4 {
        let r = pb.publish_timeout(Duration::from_millis(500), |e, seq| {
            if e as *mut u64 as usize == a_addr.load(SeqCst) {
                aliased.push((*a_seq.lock().unwrap(), seq));
            }
            *e = seq as u64;
        });
        if r.is_err() {
            break; // gated: the correct outcome
        }
    }
    b_done.open();
    a.join().unwrap();
    drop(pb);
    // Does a stage still make progress past the lapped slot?
    let mut stuck = false;
    if add_stage_while_a_writes {
        let mut d = d.lock().unwrap().take().unwrap();
        let _ = &mut d;
        stuck = d.shutdown_timeout(Duration::from_secs(2)).is_err();
    } else {
        d.lock().unwrap().take().unwrap().shutdown().unwrap();
    }
    (aliased, stuck)
}

#[test]
fn mp_no_consumers_producer_laps_a_slot_another_producer_is_writing() {
    watchdog(|| {
        let (aliased, _) = lap_while_writing(false);
        assert!(
            aliased.is_empty(),
            "two producers held &mut to one slot at once: (A's seq, B's seq) {aliased:?}"
        );
    });
}

#[test]
fn mp_stage_added_at_run_time_does_not_protect_in_flight_claims() {
    watchdog(|| {
        let (aliased, stuck) = lap_while_writing(true);
        assert!(
            aliased.is_empty(),
            "two producers held &mut to one slot at once: (A's seq, B's seq) {aliased:?}"
        );
        assert!(!stuck, "the stage added at run time never drained");
    });
}

// The probabilistic version (stages added while two producers publish) is
// `ext_lmax::dyn_add_handlers_while_multi_producers_publish`.
