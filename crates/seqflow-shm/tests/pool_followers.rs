//! A stage after a pool follows the pool, not the workers it had when the stage registered:
//! workers that join later are followed from their first claim, workers that leave or die stop
//! holding the stage back, and the stage never reads an event before the worker that took it
//! has handled it.

mod common;

use common::{pool_opts as opts, Seg};
use seqflow_shm::{ConsumeError, ProducerMode, ShmRing};
use std::time::Duration;

type Ev = [u64; 2];

const NOW: Option<Duration> = Some(Duration::ZERO);

/// A worker that joins after the stage registered takes event 0; an early worker handles
/// event 1 meanwhile. The stage must not read event 0 while the late worker holds it.
#[test]
fn worker_joining_after_the_stage_is_followed() {
    let seg = Seg::new("follow-late");
    let ring = ShmRing::<Ev>::create(&seg.name, 16, opts(ProducerMode::Single, &[])).unwrap();
    let mut early = ring.worker("pool").unwrap();
    let mut after = ring.consumer_after("after", &["pool"]).unwrap();
    let mut late = ring.worker("pool").unwrap();
    let mut pr = ring.producer().unwrap();
    pr.publish_batch(2, |e, seq| *e = [seq as u64, 0]).unwrap();
    late.process(NOW, |_, seq| {
        assert_eq!(seq, 0);
        let (s, ()) = early.process(NOW, |_, _| ()).unwrap();
        assert_eq!(s, 1);
        let read = after.poll_batch(NOW, |_, s, _| {
            assert_ne!(
                s, 0,
                "the stage read event 0 while the late worker handles it"
            );
        });
        assert!(matches!(read, Err(ConsumeError::Timeout)), "{read:?}");
    })
    .unwrap();
    let mut seen = Vec::new();
    after.poll_batch(NOW, |_, s, _| seen.push(s)).unwrap();
    assert_eq!(seen, [0], "`late` stays at event 0 until raised");
    // `early` finds nothing to take and raises the idle `late` to the pool's work sequence.
    assert!(matches!(
        early.process(NOW, |_, _| ()),
        Err(ConsumeError::Timeout)
    ));
    after.poll_batch(NOW, |_, s, _| seen.push(s)).unwrap();
    assert_eq!(seen, [0, 1]);
}

/// A followed worker that leaves no longer holds the stage back, and the stage goes on with
/// the workers that remain (it used to fail with `UpstreamGone`).
#[test]
fn worker_leaving_a_followed_pool_does_not_end_the_stage() {
    let seg = Seg::new("follow-leave");
    let ring = ShmRing::<Ev>::create(&seg.name, 16, opts(ProducerMode::Single, &[])).unwrap();
    let mut a = ring.worker("pool").unwrap();
    let b = ring.worker("pool").unwrap();
    let mut after = ring.consumer_after("after", &["pool"]).unwrap();
    let mut pr = ring.producer().unwrap();
    pr.publish_batch(3, |e, seq| *e = [seq as u64, 0]).unwrap();
    // `b` never asks for an event, then leaves: `a` takes everything.
    drop(b);
    for want in 0..3 {
        assert_eq!(a.process(NOW, |_, s| s).unwrap().0, want);
    }
    let mut seen = Vec::new();
    after
        .poll_batch(Some(Duration::from_secs(5)), |_, s, _| seen.push(s))
        .unwrap();
    assert_eq!(seen, [0, 1, 2]);
}

/// A pool left by all its workers (not declared) ends the stage that follows it, as a plain
/// upstream stage that leaves does.
#[test]
fn pool_left_by_every_worker_ends_the_stage() {
    let seg = Seg::new("follow-empty");
    let ring = ShmRing::<Ev>::create(&seg.name, 16, opts(ProducerMode::Single, &[])).unwrap();
    let a = ring.worker("pool").unwrap();
    let mut after = ring.consumer_after("after", &["pool"]).unwrap();
    let mut pr = ring.producer().unwrap();
    pr.publish(|e, seq| *e = [seq as u64, 0]).unwrap();
    drop(a);
    let read = after.poll_batch(Some(Duration::from_secs(5)), |_, _, _| ());
    assert!(
        matches!(read, Err(ConsumeError::UpstreamGone { ref upstream, .. }) if upstream == "pool"),
        "{read:?}"
    );
}

/// A declared pool keeps its placeholder: its last worker leaving does not end the stage, and a
/// worker attaching later carries on where the pool was.
#[test]
fn declared_pool_followed_across_restarts() {
    let seg = Seg::new("follow-declared");
    let ring = ShmRing::<Ev>::create(&seg.name, 16, opts(ProducerMode::Single, &["pool"])).unwrap();
    let mut after = ring.consumer_after("after", &["pool"]).unwrap();
    let mut pr = ring.producer().unwrap();
    pr.publish_batch(4, |e, seq| *e = [seq as u64, 0]).unwrap();
    {
        let mut w = ring.worker("pool").unwrap();
        assert_eq!(w.process(NOW, |_, s| s).unwrap().0, 0);
    }
    let mut seen = Vec::new();
    after.poll_batch(NOW, |_, s, _| seen.push(s)).unwrap();
    assert_eq!(seen, [0]);
    assert!(matches!(
        after.poll_batch(NOW, |_, _, _| ()),
        Err(ConsumeError::Timeout)
    ));
    let mut w = ring.worker("pool").unwrap();
    w.process(NOW, |_, s| {
        assert_eq!(s, 1);
        assert!(matches!(
            after.poll_batch(NOW, |_, s, _| panic!(
                "read {s} while the new worker holds it"
            )),
            Err(ConsumeError::Timeout)
        ));
    })
    .unwrap();
    after.poll_batch(NOW, |_, s, _| seen.push(s)).unwrap();
    assert_eq!(seen, [0, 1]);
}

/// A worker that stopped asking for events does not hold the stage after its pool back: the
/// stage raises it before it blocks.
#[test]
fn idle_worker_is_raised_by_the_stage_that_waits() {
    let seg = Seg::new("follow-idle");
    let ring = ShmRing::<Ev>::create(&seg.name, 16, opts(ProducerMode::Single, &[])).unwrap();
    let mut a = ring.worker("pool").unwrap();
    let mut b = ring.worker("pool").unwrap();
    let mut after = ring.consumer_after("after", &["pool"]).unwrap();
    let mut pr = ring.producer().unwrap();
    pr.publish_batch(3, |e, seq| *e = [seq as u64, 0]).unwrap();
    assert_eq!(a.process(NOW, |_, s| s).unwrap().0, 0);
    assert_eq!(b.process(NOW, |_, s| s).unwrap().0, 1);
    assert_eq!(b.process(NOW, |_, s| s).unwrap().0, 2);
    // `a` never calls `process` again: it sits at 0.
    let mut seen = Vec::new();
    while seen.len() < 3 {
        after
            .poll_batch(Some(Duration::from_secs(5)), |_, s, _| seen.push(s))
            .expect("the stage is not held back by the idle worker");
    }
    assert_eq!(seen, [0, 1, 2]);
}

/// A stage whose pool looks empty decides that under the registry lock only: while another
/// holder keeps the lock (a process stopped inside a registration), its polls time out instead
/// of ending it with `UpstreamGone`, and once the lock is free it decides (here: the pool is
/// really empty, so `UpstreamGone`).
#[test]
fn a_pool_that_cannot_be_decided_is_not_called_gone() {
    let seg = Seg::new("follow-busy");
    let options = seqflow_shm::ShmOptions {
        registry_timeout: Duration::from_millis(50),
        ..opts(ProducerMode::Single, &[])
    };
    let ring = ShmRing::<Ev>::create(&seg.name, 16, options).unwrap();
    let worker = ring.worker("pool").unwrap();
    let mut after = ring.consumer_after("after", &["pool"]).unwrap();
    let mut pr = ring.producer().unwrap();
    pr.publish(|e, _| *e = [1, 0]).unwrap();
    drop(worker);
    let held = seqflow_shm::testing::hold_registry_lock(&ring).unwrap();
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let r = after.poll_batch(Some(Duration::from_millis(20)), |_, _, _| {
            panic!("an event handed out while the pool's workers are undecided")
        });
        assert_eq!(r, Err(ConsumeError::Timeout), "decided without the lock");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    drop(held);
    let r = after.poll_batch(Some(Duration::from_millis(20)), |_, _, _| {});
    assert!(matches!(r, Err(ConsumeError::UpstreamGone { .. })), "{r:?}");
}
