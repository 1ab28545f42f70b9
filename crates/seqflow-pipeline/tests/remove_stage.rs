//! `Disruptor::remove_stage`: one stage stops and leaves the ring while the rest runs on.
//! Yielding and blocking waits only; every test under a watchdog.
mod ext_common;
use ext_common::watchdog_secs as watchdog;

use seqflow_pipeline::{
    BlockingWait, BuildError, Disruptor, EventHandler, MultiProducerMode, RemoveStageError,
    YieldingWait,
};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn counter() -> (Arc<AtomicU64>, Arc<AtomicU64>) {
    let c = Arc::new(AtomicU64::new(0));
    (c.clone(), c)
}

#[test]
fn a_removed_stage_no_longer_holds_the_producer_back() {
    watchdog(60, || {
        let mut b = Disruptor::builder(8, || 0u64)
            .wait_strategy(BlockingWait::default())
            .single_producer()
            .unwrap();
        let (all, a) = counter();
        let (audit, au) = counter();
        let release = Arc::new(AtomicBool::new(false));
        let r = release.clone();
        b.handle_events_with(move |_: &u64, _, _| {
            a.fetch_add(1, Relaxed);
        })
        .named("main");
        // A stage stuck on its first event until it is removed: it fills the ring.
        b.handle_events_with(move |_: &u64, _, _| {
            au.fetch_add(1, Relaxed);
            while !r.load(Relaxed) {
                std::thread::sleep(Duration::from_millis(1));
            }
        })
        .named("audit");
        let (mut d, mut p) = b.start().unwrap();
        for i in 0..8 {
            p.publish(|e, _| *e = i).unwrap();
        }
        assert!(
            p.try_publish(|e, _| *e = 8).is_err(),
            "the stuck stage fills the ring"
        );
        // The stuck handler returns once told; removal waits for its thread.
        let remover = std::thread::spawn({
            let r = release.clone();
            move || {
                std::thread::sleep(Duration::from_millis(50));
                r.store(true, Relaxed);
            }
        });
        let last = d.remove_stage("audit").unwrap();
        remover.join().unwrap();
        assert!(last <= 7, "{last}");
        let seen_by_audit = audit.load(Relaxed);
        for i in 8..1000 {
            p.publish(|e, _| *e = i).unwrap();
        }
        d.shutdown().unwrap();
        assert_eq!(all.load(Relaxed), 1000);
        assert_eq!(audit.load(Relaxed), seen_by_audit, "nothing after removal");
        assert!(seen_by_audit <= 8);
    });
}

#[test]
fn removing_the_last_stage_of_a_chain_makes_the_one_before_gate_again() {
    watchdog(60, || {
        let mut b = Disruptor::builder(8, || 0u64)
            .wait_strategy(YieldingWait::default())
            .single_producer()
            .unwrap();
        let wrong = Arc::new(Mutex::new(Vec::new()));
        let w = wrong.clone();
        let (handled, h) = counter();
        // A stage before the chain, removed first: the chain's places in the disruptor's list
        // move down by one, and what follows what must move with them.
        b.handle_events_with(|_: &u64, _, _| {}).named("x");
        // A slow first stage that checks every event holds the value it was published with:
        // an event the producer overwrote before this stage read it would show.
        b.handle_events_with(move |e: &u64, seq, _| {
            if *e != seq as u64 {
                w.lock().unwrap().push((seq, *e));
            }
            h.fetch_add(1, Relaxed);
            if seq % 16 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        })
        .named("check")
        .then(|_: &u64, _, _| {})
        .named("last");
        let (mut d, mut p) = b.start().unwrap();
        for i in 0..20u64 {
            p.publish(|e, _| *e = i).unwrap();
        }
        d.remove_stage("x").unwrap();
        d.remove_stage("last").unwrap();
        assert!(d
            .metrics()
            .stages
            .iter()
            .any(|s| s.name == "check" && s.gating));
        for i in 20..2000u64 {
            p.publish(|e, _| *e = i).unwrap();
        }
        d.shutdown().unwrap();
        assert_eq!(handled.load(Relaxed), 2000);
        assert_eq!(*wrong.lock().unwrap(), vec![], "overwritten before read");
    });
}

#[test]
fn a_removed_worker_leaves_every_event_to_the_others_exactly_once() {
    watchdog(60, || {
        const N: u64 = 20_000;
        let mut b = Disruptor::builder(64, || 0u64)
            .wait_strategy(YieldingWait::default())
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        let seen = Arc::new(Mutex::new(vec![0u8; N as usize]));
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let s = seen.clone();
                move |e: &u64, _: i64, _: bool| {
                    s.lock().unwrap()[*e as usize] += 1;
                }
            })
            .collect();
        b.handle_events_with_worker_pool(workers);
        let (mut d, mut p) = b.start().unwrap();
        let publisher = std::thread::spawn(move || {
            for i in 0..N {
                p.publish(|e, _| *e = i).unwrap();
            }
        });
        std::thread::sleep(Duration::from_millis(5));
        // Pool names: pool-<index of its first worker>-worker-<i>.
        d.remove_stage("pool-0-worker-1").unwrap();
        d.remove_stage("pool-0-worker-0").unwrap();
        publisher.join().unwrap();
        d.shutdown().unwrap();
        let seen = seen.lock().unwrap();
        let wrong: Vec<_> = (0..N).filter(|&i| seen[i as usize] != 1).take(5).collect();
        assert!(
            wrong.is_empty(),
            "events not handled exactly once: {wrong:?}"
        );
    });
}

#[test]
fn a_stage_blocked_in_an_idle_ring_is_woken_and_removed() {
    watchdog(60, || {
        let mut b = Disruptor::builder(8, || 0u64)
            .wait_strategy(BlockingWait::default())
            .single_producer()
            .unwrap();
        struct Hooks(Arc<AtomicU64>);
        impl EventHandler<u64> for Hooks {
            fn on_event(&mut self, _: &u64, _: i64, _: bool) {}
            fn on_shutdown(&mut self) {
                self.0.fetch_add(1, Relaxed);
            }
        }
        let (shutdowns, s) = counter();
        b.handle_events_with(Hooks(s)).named("idle");
        let (mut d, _p) = b.start().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(d.remove_stage("idle"), Ok(-1));
        assert_eq!(shutdowns.load(Relaxed), 1, "on_shutdown once, at removal");
        assert!(d.metrics().stages.is_empty());
        d.shutdown().unwrap();
        assert_eq!(shutdowns.load(Relaxed), 1);
    });
}

#[test]
fn stages_added_and_removed_at_run_time_free_their_place() {
    watchdog(60, || {
        // Room for two consumers: each removal must give its place back.
        let config = Disruptor::builder(16, || 0u64)
            .wait_strategy(YieldingWait::default())
            .max_consumers(2);
        let (mut d, mut p) = config.single_producer().unwrap().start().unwrap();
        let (total, t) = counter();
        for round in 0..200u64 {
            let t = t.clone();
            let name = d
                .handle_events_with(move |e: &u64, _, _| {
                    t.fetch_add(*e, Relaxed);
                })
                .unwrap();
            p.publish(|e, _| *e = round).unwrap();
            while d.metrics().stages[0].sequence < round as i64 {
                std::thread::yield_now();
            }
            d.remove_stage(&name).unwrap();
        }
        d.shutdown().unwrap();
        assert_eq!(total.load(Relaxed), (0..200).sum::<u64>());
    });
}

#[test]
fn what_cannot_be_removed_is_refused_with_a_reason() {
    watchdog(60, || {
        let mut b = Disruptor::builder(8, || 0u64)
            .wait_strategy(YieldingWait::default())
            .single_producer()
            .unwrap();
        let first = b.handle_events_with(|_: &u64, _, _| {}).named("a").group();
        b.handle_events_with(|_: &u64, _, _| {}).named("twin");
        b.handle_events_with(|_: &u64, _, _| {}).named("twin");
        let poller = b.poller_after(&[&first]).unwrap();
        let (mut d, _p) = b.start().unwrap();
        assert_eq!(
            d.remove_stage("nope"),
            Err(RemoveStageError::UnknownStage {
                name: "nope".into()
            })
        );
        assert_eq!(
            d.remove_stage("twin"),
            Err(RemoveStageError::AmbiguousName {
                name: "twin".into(),
                count: 2
            })
        );
        assert_eq!(
            d.remove_stage("poller-3"),
            Err(RemoveStageError::Poller {
                name: "poller-3".into()
            })
        );
        assert_eq!(
            d.remove_stage("a"),
            Err(RemoveStageError::HasDependents {
                stage: "a".into(),
                dependents: vec!["poller-3".into()]
            })
        );
        drop(poller);
        d.shutdown().unwrap();
    });
}

#[test]
fn a_stage_cannot_remove_itself_from_its_handler() {
    watchdog(60, || {
        let mut b = Disruptor::builder(8, || 0u64)
            .wait_strategy(YieldingWait::default())
            .single_producer()
            .unwrap();
        let slot: Arc<Mutex<Option<Disruptor<u64>>>> = Arc::new(Mutex::new(None));
        let answer = Arc::new(Mutex::new(None));
        let (s, a) = (slot.clone(), answer.clone());
        b.handle_events_with(move |_: &u64, _, _| {
            if let Some(d) = s.lock().unwrap().as_mut() {
                *a.lock().unwrap() = Some(d.remove_stage("me"));
            }
        })
        .named("me");
        let (d, mut p) = b.start().unwrap();
        *slot.lock().unwrap() = Some(d);
        p.publish(|e, _| *e = 1).unwrap();
        while answer.lock().unwrap().is_none() {
            std::thread::yield_now();
        }
        assert_eq!(
            answer.lock().unwrap().clone(),
            Some(Err(RemoveStageError::CalledFromStage {
                stage: "me".into()
            }))
        );
        let d = slot.lock().unwrap().take().unwrap();
        d.shutdown().unwrap();
    });
}

#[test]
fn removing_the_only_writer_lets_readers_join_again() {
    watchdog(60, || {
        let mut b = Disruptor::builder(8, || 0u64)
            .wait_strategy(YieldingWait::default())
            .single_producer()
            .unwrap();
        b.handle_events_mut_with_worker_pool(vec![
            |e: &mut u64, _: i64, _: bool| *e += 1,
            |e: &mut u64, _: i64, _: bool| *e += 1,
        ]);
        let (mut d, mut p) = b.start().unwrap();
        assert!(matches!(
            d.poller(),
            Err(BuildError::MutatingStageNotExclusive { .. })
        ));
        // Removing the first worker renames the writer group after the second one: a
        // reader is still refused.
        d.remove_stage("pool-0-worker-0").unwrap();
        assert!(matches!(
            d.poller(),
            Err(BuildError::MutatingStageNotExclusive { .. })
        ));
        p.publish(|e, _| *e = 1).unwrap();
        d.remove_stage("pool-0-worker-1").unwrap();
        let mut poller = d.poller().unwrap();
        p.publish(|e, _| *e = 5).unwrap();
        assert_eq!(poller.poll(|e, _, _| assert_eq!(*e, 5)), Ok(1));
        drop(poller);
        d.shutdown().unwrap();
    });
}

#[test]
fn a_halt_after_a_removal_still_stops_every_other_stage() {
    watchdog(60, || {
        let mut b = Disruptor::builder(8, || 0u64)
            .wait_strategy(BlockingWait::default())
            .single_producer()
            .unwrap();
        b.handle_events_with(|_: &u64, _, _| {}).named("x");
        b.handle_events_with(|_: &u64, _, _| {}).named("y");
        let (mut d, _p) = b.start().unwrap();
        d.remove_stage("x").unwrap();
        let added = d.handle_events_with(|_: &u64, _, _| {}).unwrap();
        assert_ne!(added, "y");
        d.halt().unwrap();
    });
}

#[test]
fn a_timed_removal_of_a_stuck_stage_gives_up_keeps_it_gating_and_can_be_finished() {
    watchdog(60, || {
        let mut b = Disruptor::builder(4, || 0u64)
            .wait_strategy(BlockingWait::default())
            .single_producer()
            .unwrap();
        let (entered, inside) = std::sync::mpsc::channel::<u64>();
        let (release, stuck) = std::sync::mpsc::channel::<()>();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        b.handle_events_with(move |e: &u64, _, _| {
            if *e == 0 {
                entered.send(*e).unwrap();
                stuck.recv().unwrap();
            }
            // Read after the wait: the slot must still hold what was published into it.
            s.lock().unwrap().push(*e);
        })
        .named("stuck");
        let (mut d, mut p) = b.start().unwrap();
        for v in 0..4u64 {
            p.publish(|e, _| *e = v).unwrap();
        }
        inside.recv().unwrap();
        let r = d.remove_stage_timeout("stuck", Duration::from_millis(50));
        assert!(
            matches!(&r, Err(RemoveStageError::Timeout { stage, .. }) if stage == "stuck"),
            "{r:?}"
        );
        // Still gating: the ring is full and stays full, no slot of the stuck batch is reused.
        assert!(p.try_publish(|e, _| *e = 99).is_err());
        assert_eq!(d.metrics().stages.len(), 1, "the stage is still listed");
        // A second timed try while it is still stuck gives up the same way.
        assert!(matches!(
            d.remove_stage_timeout("stuck", Duration::ZERO),
            Err(RemoveStageError::Timeout { .. })
        ));
        release.send(()).unwrap();
        // Told to stop, it finishes at most its chunk; the removal then completes.
        let last = d.remove_stage("stuck").unwrap();
        assert!((0..=3).contains(&last), "{last}");
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen, (0..=last as u64).collect::<Vec<_>>());
        assert!(d.metrics().stages.is_empty());
        // Nothing gates the ring now.
        for v in 0..10u64 {
            p.publish(|e, _| *e = v).unwrap();
        }
        d.shutdown().unwrap();
    });
}

#[test]
fn a_shutdown_after_a_timed_out_removal_does_not_wait_for_the_stopped_stage() {
    watchdog(60, || {
        let mut b = Disruptor::builder(4, || 0u64)
            .wait_strategy(BlockingWait::default())
            .single_producer()
            .unwrap();
        let (entered, inside) = std::sync::mpsc::channel::<()>();
        let (release, stuck) = std::sync::mpsc::channel::<()>();
        b.handle_events_with(move |e: &u64, _, _| {
            if *e == 0 {
                entered.send(()).unwrap();
                stuck.recv().unwrap();
            }
        })
        .named("stuck");
        let (all, a) = counter();
        b.handle_events_with(move |_: &u64, _, _| {
            a.fetch_add(1, Relaxed);
        })
        .named("other");
        let (mut d, mut p) = b.start().unwrap();
        for v in 0..4u64 {
            p.publish(|e, _| *e = v).unwrap();
        }
        inside.recv().unwrap();
        assert!(d
            .remove_stage_timeout("stuck", Duration::from_millis(20))
            .is_err());
        release.send(()).unwrap();
        drop(p);
        d.shutdown_timeout(Duration::from_secs(20)).unwrap();
        assert_eq!(all.load(Relaxed), 4, "the other stage drained");
    });
}

/// A pool added while two producers publish: every event from its first on is handled by
/// exactly one worker (a contiguous run of sequences up to the last published), values intact;
/// one worker removed midway leaves the rest to the other.
#[test]
fn a_worker_pool_added_at_run_time_handles_each_later_event_once() {
    watchdog(120, || {
        let mut b = Disruptor::builder(16, || 0u64)
            .wait_strategy(YieldingWait::default())
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        b.handle_events_with(|_: &u64, _, _| {});
        let (mut d, p) = b.start().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let per_producer = 20_000u64;
        let added = AtomicBool::new(false);
        let names = std::thread::scope(|s| {
            let producers: Vec<_> = (0..2)
                .map(|_| {
                    let mut p = p.clone();
                    let added = &added;
                    s.spawn(move || {
                        for i in 0..per_producer {
                            // The second half only once the pool is there: it sees events
                            // however fast the first half went.
                            while i == per_producer / 2 && !added.load(Relaxed) {
                                std::thread::yield_now();
                            }
                            p.publish(|e, seq| *e = seq as u64 * 3).unwrap();
                        }
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(2));
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    let seen = seen.clone();
                    move |e: &u64, seq: i64, _: bool| {
                        assert_eq!(*e, seq as u64 * 3, "event {seq} read torn or stale");
                        seen.lock().unwrap().push(seq);
                    }
                })
                .collect();
            let names = d.handle_events_with_worker_pool(workers).unwrap();
            added.store(true, Relaxed);
            std::thread::sleep(Duration::from_millis(5));
            d.remove_stage(&names[0]).unwrap();
            for h in producers {
                h.join().unwrap();
            }
            names
        });
        assert_eq!(names.len(), 2);
        drop(p);
        let last = d.cursor();
        d.shutdown().unwrap();
        assert_eq!(last, 2 * per_producer as i64 - 1);
        let mut seen = seen.lock().unwrap().clone();
        seen.sort_unstable();
        assert!(
            seen.len() as u64 >= per_producer,
            "the pool saw the second halves"
        );
        let first = seen[0];
        assert_eq!(
            seen,
            (first..=last).collect::<Vec<_>>(),
            "each once, none missing"
        );
    });
}

#[test]
fn an_empty_pool_or_one_beside_a_writer_is_refused_at_run_time() {
    let (mut d, _p) = Disruptor::builder(8, || 0u64)
        .single_producer()
        .unwrap()
        .start()
        .unwrap();
    let none: Vec<fn(&u64, i64, bool)> = Vec::new();
    assert!(matches!(
        d.handle_events_with_worker_pool(none),
        Err(BuildError::EmptyWorkerPool)
    ));
    d.shutdown().unwrap();
    let mut b = Disruptor::builder(8, || 0u64).single_producer().unwrap();
    b.handle_events_mut_with(|e: &mut u64, _, _| *e += 1);
    let (mut d, _p) = b.start().unwrap();
    assert!(matches!(
        d.handle_events_with_worker_pool(vec![|_: &u64, _: i64, _: bool| {}]),
        Err(BuildError::MutatingStageNotExclusive { .. })
    ));
    d.shutdown().unwrap();
}

/// The names a run-time pool gets are its own, whatever was removed before: each one can be
/// removed again (a free `pool-N-worker-0` does not mean `pool-N-worker-1` is free).
#[test]
fn run_time_pool_names_never_collide_with_stages_left_running() {
    watchdog(60, || {
        let mut b = Disruptor::builder(8, || 0u64).single_producer().unwrap();
        b.handle_events_with(|_: &u64, _, _| {});
        b.handle_events_with(|_: &u64, _, _| {});
        let workers: Vec<_> = (0..3).map(|_| |_: &u64, _: i64, _: bool| {}).collect();
        b.handle_events_with_worker_pool(workers);
        let (mut d, mut p) = b.start().unwrap();
        d.remove_stage("stage-0").unwrap();
        d.remove_stage("stage-1").unwrap();
        d.remove_stage("pool-2-worker-0").unwrap();
        let workers: Vec<_> = (0..3).map(|_| |_: &u64, _: i64, _: bool| {}).collect();
        let names = d.handle_events_with_worker_pool(workers).unwrap();
        let all: Vec<String> = d.metrics().stages.iter().map(|s| s.name.clone()).collect();
        for name in &names {
            assert_eq!(
                all.iter().filter(|n| *n == name).count(),
                1,
                "{name} in {all:?}"
            );
        }
        p.publish(|e, _| *e = 1).unwrap();
        for name in &names {
            d.remove_stage(name).unwrap();
        }
        d.shutdown().unwrap();
    });
}
