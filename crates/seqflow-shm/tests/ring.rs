//! Behaviour of a shared ring observed from one process (several attachments of the same
//! segment): producer exclusivity, gating, lapping, dependent stages, byte slots, stale
//! segments, removal underneath, inspection. Cross-process behaviour is in `processes.rs`.

mod common;

use common::Seg;
use seqflow_sequencer::ClaimError;
use seqflow_shm::{
    inspect, remove, remove_if_stale, ByteSlot, ConsumeError, ProducerMode, ShmError, ShmOptions,
    ShmRing, WaitKind,
};
use std::time::Duration;

const LONG: Option<Duration> = Some(Duration::from_secs(30));
const SHORT: Duration = Duration::from_millis(20);

fn multi() -> ShmOptions {
    ShmOptions {
        producer: ProducerMode::MultiCas,
        max_producers: 2,
        ..Default::default()
    }
}

#[test]
fn single_producer_is_exclusive_across_attachments() {
    let seg = Seg::new("exclusive");
    let a = ShmRing::<u64>::create(&seg.name, 8, ShmOptions::default()).unwrap();
    let b = ShmRing::<u64>::open(&seg.name, SHORT).unwrap();
    let p = a.producer().unwrap();
    match b.producer() {
        Err(ShmError::ProducerTaken { pid, .. }) => assert_eq!(pid, std::process::id()),
        other => panic!("{other:?}"),
    }
    drop(p);
    let mut p = b.producer().unwrap();
    p.publish(|e, _| *e = 1).unwrap();
    assert_eq!(a.published(), 0);
}

#[test]
fn producer_slots_run_out() {
    let seg = Seg::new("pslots");
    let ring = ShmRing::<u64>::create(&seg.name, 8, multi()).unwrap();
    let _p1 = ring.producer().unwrap();
    let p2 = ring.producer().unwrap();
    assert!(matches!(
        ring.producer(),
        Err(ShmError::ProducersFull { max: 2, .. })
    ));
    drop(p2);
    assert!(ring.producer().is_ok());
}

#[test]
fn stalled_consumer_blocks_producer_at_capacity_then_it_resumes() {
    let seg = Seg::new("stall");
    let ring = ShmRing::<u64>::create(
        &seg.name,
        4,
        ShmOptions {
            wait: WaitKind::Futex,
            ..Default::default()
        },
    )
    .unwrap();
    let mut consumer = ring.consumer("slow").unwrap();
    let mut producer = ring.producer().unwrap();
    producer.publish_batch(4, |e, s| *e = s as u64).unwrap();
    assert_eq!(
        producer.publish_timeout(SHORT, |e, _| *e = 99),
        Err(ClaimError::Timeout { requested: 1 })
    );
    assert!(matches!(
        producer.try_publish(|e, _| *e = 99),
        Err(ClaimError::Full { .. })
    ));
    let t = std::thread::spawn(move || {
        let mut seen = Vec::new();
        while seen.len() < 8 {
            consumer
                .poll_batch(LONG, |e, s, _| seen.push((s, *e)))
                .unwrap();
        }
        seen
    });
    for i in 4..8 {
        producer.publish(|e, _| *e = i).unwrap();
    }
    let seen = t.join().unwrap();
    assert_eq!(seen, (0..8).map(|i| (i, i as u64)).collect::<Vec<_>>());
}

#[test]
fn claim_larger_than_ring_is_refused() {
    let seg = Seg::new("toolarge");
    let ring = ShmRing::<u64>::create(&seg.name, 4, ShmOptions::default()).unwrap();
    let mut p = ring.producer().unwrap();
    assert!(matches!(
        p.claim(5),
        Err(ClaimError::TooLarge {
            requested: 5,
            capacity: 4
        })
    ));
    assert!(matches!(p.claim(0), Err(ClaimError::Zero)));
}

#[test]
fn dropped_claim_is_published_as_it_stands() {
    let seg = Seg::new("dropclaim");
    let ring = ShmRing::<u64>::create(&seg.name, 4, multi()).unwrap();
    let mut c = ring.consumer("c").unwrap();
    let mut p = ring.producer().unwrap();
    {
        let mut claim = p.claim(2).unwrap();
        *claim.get_mut(0).unwrap() = 10;
        assert!(claim.get_mut(5).is_none());
    }
    assert_eq!(c.wait_for(0, LONG), Ok(1));
    assert_eq!(c.get(0), Ok(&10));
}

#[test]
fn lapped_subscriber_learns_how_many_it_missed() {
    let seg = Seg::new("lapped");
    let ring = ShmRing::<u64>::create(&seg.name, 8, multi()).unwrap();
    let other = ShmRing::<u64>::open(&seg.name, SHORT).unwrap();
    let mut sub = other.subscriber("lossy").unwrap();
    let mut p = ring.producer().unwrap();
    for i in 0..3 {
        p.publish(|e, _| *e = i).unwrap();
    }
    assert_eq!(sub.next_timeout(LONG), Ok((0, 0)));
    for i in 3..20 {
        p.publish(|e, _| *e = i).unwrap();
    }
    // Cursor 19, ring of 8: 12..=19 are still there; 1..=11 were overwritten.
    assert_eq!(
        sub.next_timeout(LONG),
        Err(ConsumeError::Lapped {
            missed: 11,
            resume_at: 12
        })
    );
    for i in 12..20 {
        assert_eq!(sub.next_timeout(LONG), Ok((i, i as u64)));
    }
    assert_eq!(sub.next_timeout(Some(SHORT)), Err(ConsumeError::Timeout));
    // The subscriber never held the producer back.
    assert!(!ring.inspect().consumers[0].gating);
}

#[test]
fn dependent_stage_only_sees_what_upstream_processed() {
    let seg = Seg::new("stages");
    let ring = ShmRing::<u64>::create(&seg.name, 16, ShmOptions::default()).unwrap();
    let other = ShmRing::<u64>::open(&seg.name, SHORT).unwrap();
    let mut decode = ring.consumer("decode").unwrap();
    let mut store = other.consumer_after("store", &["decode"]).unwrap();
    let mut p = ring.producer().unwrap();
    p.publish_batch(5, |e, s| *e = s as u64).unwrap();
    assert_eq!(store.wait_for(0, Some(SHORT)), Err(ConsumeError::Timeout));
    assert_eq!(decode.wait_for(0, LONG), Ok(4));
    decode.update_sequence(2).unwrap();
    assert_eq!(store.wait_for(0, LONG), Ok(2));
    assert!(store.get(3).is_err());
    // The upstream stage leaves: the downstream one is told instead of waiting forever.
    drop(decode);
    assert!(matches!(
        store.wait_for(3, LONG),
        Err(ConsumeError::UpstreamGone { ref upstream, .. }) if upstream == "decode"
    ));
}

#[test]
fn byte_slots_carry_variable_payloads() {
    let seg = Seg::new("bytes");
    let ring = ShmRing::<ByteSlot<64>>::create(&seg.name, 8, ShmOptions::default()).unwrap();
    let mut c = ring.consumer("c").unwrap();
    let mut p = ring.producer().unwrap();
    let msgs: [&[u8]; 3] = [b"", b"hello", &[7u8; 64]];
    for m in msgs {
        p.publish(|e, _| e.set(m).expect("fits")).unwrap();
    }
    let mut too_long = Ok(());
    p.publish(|e, _| too_long = e.set(&[0u8; 65])).unwrap();
    assert!(too_long.is_err());
    let mut got = Vec::new();
    while got.len() < 4 {
        c.poll_batch(LONG, |e, _, _| got.push(e.as_bytes().to_vec()))
            .unwrap();
    }
    assert_eq!(got[0], b"");
    assert_eq!(got[1], b"hello");
    assert_eq!(got[2], vec![7u8; 64]);
}

#[test]
fn stale_segment_is_detected_and_removable() {
    let seg = Seg::new("stale");
    let ring = ShmRing::<u64>::create(&seg.name, 8, ShmOptions::default()).unwrap();
    let creator = std::process::id();
    // Everybody detaches without removing the name: what a crashed run leaves behind.
    drop(ring);
    let info = inspect(&seg.name).unwrap();
    assert!(!info.attached);
    assert_eq!(info.header.creator_pid, creator);
    match ShmRing::<u64>::create(&seg.name, 8, ShmOptions::default()) {
        Err(ShmError::Stale { creator_pid, .. }) => assert_eq!(creator_pid, creator),
        other => panic!("{other:?}"),
    }
    // An explicit option removes it and creates afresh.
    let ring = ShmRing::<u64>::create(
        &seg.name,
        8,
        ShmOptions {
            remove_stale: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(
        !remove_if_stale(&seg.name).unwrap(),
        "live segments are not removed"
    );
    drop(ring);
    assert!(remove_if_stale(&seg.name).unwrap());
    assert!(matches!(
        remove_if_stale(&seg.name),
        Err(ShmError::NotFound { .. })
    ));
}

#[test]
fn segment_removed_underneath_keeps_working() {
    let seg = Seg::new("removed");
    let ring = ShmRing::<u64>::create(&seg.name, 8, ShmOptions::default()).unwrap();
    let mut c = ring.consumer("c").unwrap();
    let mut p = ring.producer().unwrap();
    p.publish(|e, _| *e = 1).unwrap();
    remove(&seg.name).unwrap();
    assert!(ring.is_unlinked());
    assert!(matches!(
        ShmRing::<u64>::open(&seg.name, SHORT),
        Err(ShmError::NotFound { .. })
    ));
    assert!(matches!(inspect(&seg.name), Err(ShmError::NotFound { .. })));
    // The existing mapping still works for those attached...
    p.publish(|e, _| *e = 2).unwrap();
    assert_eq!(c.wait_for(0, LONG), Ok(1));
    assert_eq!((c.get(0), c.get(1)), (Ok(&1), Ok(&2)));
    // ...and a new segment of the same name is a different one.
    let fresh = ShmRing::<u64>::create(&seg.name, 8, ShmOptions::default()).unwrap();
    assert_eq!(fresh.published(), -1);
    assert!(
        matches!(ring.unlink(), Err(ShmError::NotFound { .. })),
        "never unlinks a successor"
    );
    assert!(!fresh.is_unlinked());
}

#[test]
fn registry_limits_are_typed_errors() {
    let seg = Seg::new("limits");
    let ring = ShmRing::<u64>::create(
        &seg.name,
        8,
        ShmOptions {
            max_consumers: 2,
            max_pools: 1,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(matches!(
        ring.consumer(&"x".repeat(49)),
        Err(ShmError::LabelTooLong {
            len: 49,
            max: 48,
            ..
        })
    ));
    let a = ring.consumer("a").unwrap();
    let w = ring.worker("pool-1").unwrap();
    assert!(matches!(
        ring.consumer("c"),
        Err(ShmError::ConsumersFull { max: 2, .. })
    ));
    drop(a);
    // The only pool slot holds a pool with a worker.
    assert!(matches!(
        ring.worker("pool-2"),
        Err(ShmError::PoolsFull { max: 1, .. })
    ));
    // Without its worker, the pool's slot goes to the next pool name.
    drop(w);
    let _w2 = ring.worker("pool-2").unwrap();
    let pools = pool_names(&ring);
    assert_eq!(pools, vec!["pool-2".to_string()]);
    assert!(matches!(
        ring.consumer_after("d", &["nobody"]),
        Err(ShmError::UnknownConsumer { .. })
    ));
}

#[test]
fn inspection_reports_sequences_lag_and_liveness() {
    let seg = Seg::new("inspect");
    let ring = ShmRing::<u64>::create(&seg.name, 8, multi()).unwrap();
    let mut fast = ring.consumer("fast").unwrap();
    let _slow = ring.consumer("slow").unwrap();
    let _sub = ring.subscriber("sub").unwrap();
    let mut p = ring.producer().unwrap();
    p.publish_batch(5, |e, s| *e = s as u64).unwrap();
    fast.wait_for(0, LONG).unwrap();
    fast.update_sequence(4).unwrap();
    let info = inspect(&seg.name).unwrap();
    assert_eq!((info.cursor, info.published), (4, 4));
    let by_name = |n: &str| info.consumers.iter().find(|c| c.name == n).unwrap().clone();
    assert_eq!((by_name("fast").sequence, by_name("fast").lag), (4, 0));
    assert_eq!((by_name("slow").sequence, by_name("slow").lag), (-1, 5));
    assert!(by_name("slow").alive && by_name("slow").gating);
    assert!(!by_name("sub").gating);
    assert_eq!(info.producers.len(), 1);
    assert_eq!(info.producers[0].state, "idle");
    let text = info.to_string();
    assert!(
        text.contains("fast") && text.contains("slow") && text.contains(&seg.name),
        "{text}"
    );
}

#[test]
fn futex_wait_wakes_a_waiter_in_another_attachment() {
    let seg = Seg::new("futex");
    let ring = ShmRing::<u64>::create(
        &seg.name,
        64,
        ShmOptions {
            wait: WaitKind::Futex,
            ..Default::default()
        },
    )
    .unwrap();
    let other = ShmRing::<u64>::open(&seg.name, SHORT).unwrap();
    let mut c = other.consumer("c").unwrap();
    let t = std::thread::spawn(move || {
        let mut sum = 0;
        let mut n = 0;
        while n < 1000 {
            n += c.poll_batch(LONG, |e, _, _| sum += *e).unwrap();
        }
        sum
    });
    let mut p = ring.producer().unwrap();
    for i in 0..1000u64 {
        p.publish(|e, _| *e = i).unwrap();
        if i % 100 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    assert_eq!(t.join().unwrap(), 999 * 1000 / 2);
    assert_eq!(ring.inspect().futex_waiters, 0);
}

#[test]
fn halt_stops_a_blocked_claim_and_a_wait() {
    let seg = Seg::new("halt");
    let ring = ShmRing::<u64>::create(&seg.name, 2, ShmOptions::default()).unwrap();
    let mut c = ring.consumer("c").unwrap();
    let mut p = ring.producer().unwrap();
    p.publish_batch(2, |e, _| *e = 0).unwrap();
    let r2 = ring.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        r2.halt();
    });
    assert_eq!(p.publish(|e, _| *e = 1), Err(ClaimError::Halted));
    t.join().unwrap();
    assert_eq!(c.wait_for(5, None), Err(ConsumeError::Alerted));
    assert_eq!(
        c.wait_for(0, None),
        Ok(1),
        "available events still come out when halted"
    );
}

#[test]
fn handles_can_move_to_other_threads() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<ShmRing<u64>>();
    sync::<ShmRing<u64>>();
    send::<seqflow_shm::ShmProducer<u64>>();
    send::<seqflow_shm::ShmConsumer<u64>>();
    send::<seqflow_shm::ShmSubscriber<u64>>();
    send::<seqflow_shm::ShmWorker<u64>>();
    sync::<seqflow_shm::ShmSequencer>();
}

/// `open_or_create` never silently takes an existing segment made with other parameters.
#[test]
fn open_or_create_refuses_different_parameters() {
    let seg = Seg::new("mismatch");
    let options = ShmOptions {
        declared_consumers: vec!["audit".into()],
        ..ShmOptions::default()
    };
    let wait = Duration::from_secs(1);
    let _a = ShmRing::<u64>::open_or_create(&seg.name, 8, options.clone(), wait).unwrap();
    let _b = ShmRing::<u64>::open_or_create(&seg.name, 8, options.clone(), wait).unwrap();
    let field = |r: Result<ShmRing<u64>, ShmError>| match r {
        Err(ShmError::OptionsMismatch { field, .. }) => field,
        other => panic!("expected OptionsMismatch, got {other:?}"),
    };
    assert_eq!(
        field(ShmRing::open_or_create(
            &seg.name,
            16,
            options.clone(),
            wait
        )),
        "capacity"
    );
    let multi = ShmOptions {
        producer: ProducerMode::MultiCas,
        ..options.clone()
    };
    assert_eq!(
        field(ShmRing::open_or_create(&seg.name, 8, multi, wait)),
        "producer"
    );
    let undeclared = ShmOptions::default();
    assert_eq!(
        field(ShmRing::open_or_create(&seg.name, 8, undeclared, wait)),
        "declared_consumers"
    );
}

/// The names of the ring's pools, as `inspect` lists them.
fn pool_names(ring: &ShmRing<u64>) -> Vec<String> {
    ring.inspect()
        .pools
        .iter()
        .map(|p| p.name.clone())
        .collect()
}

/// `inspect` shows the stage graph: who runs after whom.
#[test]
fn inspect_shows_who_runs_after_whom() {
    let seg = Seg::new("graph");
    let ring = ShmRing::<u64>::create(&seg.name, 8, ShmOptions::default()).unwrap();
    let _journal = ring.consumer("journal").unwrap();
    let _audit = ring.consumer("audit").unwrap();
    let _broadcast = ring
        .consumer_after("broadcast", &["journal", "audit"])
        .unwrap();
    let info = ring.inspect();
    let broadcast = info
        .consumers
        .iter()
        .find(|c| c.name == "broadcast")
        .unwrap();
    assert_eq!(
        broadcast.after,
        vec!["journal".to_string(), "audit".to_string()]
    );
    assert!(info.to_string().contains("after journal, audit"), "{info}");
    let journal = info.consumers.iter().find(|c| c.name == "journal").unwrap();
    assert!(journal.after.is_empty());

    // After a pool of two workers: the pool is named once, not once per worker.
    let _w0 = ring.worker("pool").unwrap();
    let _w1 = ring.worker("pool").unwrap();
    let _settle = ring.consumer_after("settle", &["pool"]).unwrap();
    let info = ring.inspect();
    let settle = info.consumers.iter().find(|c| c.name == "settle").unwrap();
    assert_eq!(settle.after, vec!["pool".to_string()]);
}

/// Pools with no worker left give their slots to new pool names (the case of a job per pool
/// name), and a stage that followed a pool whose slot was taken over ends with `UpstreamGone`
/// instead of following the new pool's workers.
#[test]
fn a_pool_without_workers_gives_its_slot_to_a_new_name() {
    use seqflow_shm::ConsumeError;
    let seg = Seg::new("poolreuse");
    let options = ShmOptions {
        max_pools: 2,
        ..Default::default()
    };
    let ring = ShmRing::<u64>::create(&seg.name, 8, options).unwrap();
    let mut producer = ring.producer().unwrap();
    let w = ring.worker("job-0").unwrap();
    let mut after = ring.consumer_after("after-job-0", &["job-0"]).unwrap();
    drop(w);
    for job in 1..6 {
        let worker = ring.worker(&format!("job-{job}"));
        assert!(worker.is_ok(), "job-{job}: {:?}", worker.map(|_| ()));
    }
    // The newest pools hold the two slots.
    let pools = pool_names(&ring);
    assert_eq!(pools.len(), 2, "{pools:?}");
    assert!(!pools.contains(&"job-0".to_string()), "{pools:?}");
    // A worker of the newest pool handles an event; the stage after job-0 never sees it.
    let mut w5 = ring.worker("job-5").unwrap();
    producer.publish(|e, _| *e = 7).unwrap();
    let long = Some(std::time::Duration::from_secs(10));
    assert_eq!(
        w5.process(long, |e, _| assert_eq!(*e, 7)).map(|_| ()),
        Ok(())
    );
    match after.poll_batch(long, |_, _, _| panic!("followed a pool it never named")) {
        Err(ConsumeError::UpstreamGone { upstream, .. }) => assert_eq!(upstream, "job-0"),
        other => panic!("{other:?}"),
    }
    drop(w5);

    // A declared pool keeps its slot, worker or not.
    let seg = Seg::new("poolkeep");
    let options = ShmOptions {
        max_pools: 1,
        declared_pools: vec!["kept".into()],
        ..Default::default()
    };
    let ring = ShmRing::<u64>::create(&seg.name, 8, options).unwrap();
    assert!(matches!(
        ring.worker("other"),
        Err(ShmError::PoolsFull { max: 1, .. })
    ));
}

/// A file that is not a seqflow segment is never removed or reused, whatever its contents.
#[test]
fn foreign_files_are_never_removed() {
    for contents in [Vec::new(), vec![0u8; 4096], vec![0xA5u8; 8192]] {
        let seg = Seg::new("foreign");
        let path = format!("/dev/shm{}", seg.name);
        std::fs::write(&path, &contents).unwrap();
        assert!(matches!(
            seqflow_shm::remove_if_stale(&seg.name),
            Err(ShmError::NotSeqflow { .. })
        ));
        let options = ShmOptions {
            remove_stale: true,
            ..ShmOptions::default()
        };
        assert!(matches!(
            ShmRing::<u64>::create(&seg.name, 8, options),
            Err(ShmError::NotSeqflow { .. })
        ));
        assert_eq!(
            std::fs::read(&path).unwrap(),
            contents,
            "the file was touched"
        );
    }
}

/// The segment's gating table is reachable through the public `Sequencer` trait (a producer's
/// `claimer().sequencer()`, `ring.sequencer()`), but taking a slot there, bypassing the
/// registry, is refused: the reaper would free such a slot while it is in use, and a consumer
/// reading through it would not hold the producer back.
#[test]
fn the_segment_gating_table_refuses_registrations_outside_the_registry() {
    use seqflow_sequencer::{Claimer, RegisterError, Sequencer};
    let seg = Seg::new("managed-gating");
    let ring = ShmRing::<u64>::create(&seg.name, 8, ShmOptions::default()).unwrap();
    let producer = ring.producer().unwrap();
    let via_ring = Sequencer::gating(&**ring.sequencer()).register(true, || -1);
    assert!(matches!(via_ring, Err(RegisterError::Managed)));
    let via_producer = producer
        .claimer()
        .sequencer()
        .gating()
        .register(false, || -1);
    assert!(matches!(via_producer, Err(RegisterError::Managed)));
    // Registration through the ring is unaffected.
    let consumer = ring.consumer("c").unwrap();
    assert_eq!(ring.inspect().consumers.len(), 1);
    drop(consumer);
}

/// Names are printed by `inspect` and `seqflow ls`: empty consumer names, control characters
/// (terminal escapes) and format or invisible characters (a name shown as another) are
/// refused with typed errors, in ring names and consumer names alike.
#[test]
fn empty_names_and_control_characters_are_refused() {
    for bad in [
        "/ring\nname",
        "/ring\u{1b}[2J",
        "/tab\there",
        "/gnir\u{202e}orders",
    ] {
        assert!(
            matches!(
                ShmRing::<u64>::create(bad, 8, ShmOptions::default()),
                Err(ShmError::InvalidName { .. })
            ),
            "{bad:?}"
        );
    }
    let seg = Seg::new("labels");
    let ring = ShmRing::<u64>::create(&seg.name, 8, ShmOptions::default()).unwrap();
    for bad in [
        "",
        "a\nb",
        "\u{1b}[31mred",
        "audit\u{2067}tixe",
        "\u{200f}x",
        "au\u{200d}dit",
        "or\u{200b}ders",
        "\u{feff}x",
        "a\u{2028}b",
    ] {
        assert!(
            matches!(ring.consumer(bad), Err(ShmError::InvalidLabel { .. })),
            "{bad:?}"
        );
        assert!(
            matches!(ring.worker(bad), Err(ShmError::InvalidLabel { .. })),
            "{bad:?}"
        );
    }
    assert!(ring.consumer("audit-ü").is_ok());
}

/// Declared names are checked like attached ones: a declared consumer or pool that could never
/// attach (control characters) is refused at creation.
#[test]
fn declared_names_with_control_characters_are_refused_at_creation() {
    for (consumers, pools) in [(vec!["a\u{1b}[2Jb"], vec![]), (vec![], vec!["p\nq"])] {
        let seg = Seg::new("decl-ctl");
        let options = ShmOptions {
            declared_consumers: consumers.iter().map(|s| s.to_string()).collect(),
            declared_pools: pools.iter().map(|s| s.to_string()).collect(),
            ..ShmOptions::default()
        };
        assert!(matches!(
            ShmRing::<u64>::create(&seg.name, 8, options),
            Err(ShmError::InvalidOptions { .. })
        ));
    }
}

/// Declared consumers and pools share one namespace (`release_declared` takes a name): a name
/// declared twice, or as both, is refused at creation.
#[test]
fn a_name_declared_twice_or_as_consumer_and_pool_is_refused() {
    for (consumers, pools, says) in [
        (vec!["a", "a"], vec![], "declared twice"),
        (vec![], vec!["p", "p"], "declared twice"),
        (vec!["same"], vec!["same"], "both a consumer and a pool"),
    ] {
        let seg = Seg::new("decl-dup");
        let options = ShmOptions {
            declared_consumers: consumers.iter().map(|s| s.to_string()).collect(),
            declared_pools: pools.iter().map(|s| s.to_string()).collect(),
            max_pools: 2,
            ..ShmOptions::default()
        };
        match ShmRing::<u64>::create(&seg.name, 8, options) {
            Err(ShmError::InvalidOptions { reason, .. }) => {
                assert!(reason.contains(says), "{reason}")
            }
            other => panic!("{consumers:?} {pools:?}: {:?}", other.map(|_| ())),
        }
    }
}

/// An empty file under a ring's name (what a creator killed before sizing its segment leaves)
/// can be removed; a non-empty file without seqflow's header cannot.
#[test]
fn remove_takes_an_empty_file_but_never_a_foreign_one() {
    let seg = Seg::new("empty");
    let path = format!("/dev/shm{}", seg.name);
    std::fs::write(&path, b"").unwrap();
    remove(&seg.name).unwrap();
    assert!(!std::path::Path::new(&path).exists());
    std::fs::write(&path, b"somebody's data").unwrap();
    assert!(matches!(
        remove(&seg.name),
        Err(ShmError::NotSeqflow { .. })
    ));
    assert!(std::path::Path::new(&path).exists());
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_created_ring_has_every_page_allocated() {
    // The slots are preallocated, as a ring in one process is: the first lap takes no page
    // allocation, and a filesystem without room says so at `create` (`ShmError::NoSpace`)
    // instead of a later write dying of SIGBUS.
    use std::os::unix::fs::MetadataExt;
    let seg = Seg::new("allocated");
    let ring = ShmRing::<[u64; 512]>::create(&seg.name, 256, ShmOptions::default()).unwrap();
    let path = format!("/dev/shm{}", seg.name);
    let meta = std::fs::metadata(&path).unwrap();
    assert!(meta.len() >= 256 * 4096, "{} bytes", meta.len());
    assert!(
        meta.blocks() * 512 >= meta.len(),
        "{} of {} bytes allocated",
        meta.blocks() * 512,
        meta.len()
    );
    drop(ring);
}

#[test]
fn opening_a_file_that_is_not_a_ring_allocates_none_of_it() {
    // Only a validated segment has its pages mapped ahead: a sparse file of another program
    // (here 256 MiB with no header) is refused without being filled in.
    use std::os::unix::fs::MetadataExt;
    let seg = Seg::new("notaring");
    let path = format!("/dev/shm{}", seg.name);
    std::fs::File::create(&path)
        .unwrap()
        .set_len(256 << 20)
        .unwrap();
    let before = std::fs::metadata(&path).unwrap().blocks() * 512;
    assert!(ShmRing::<u64>::open(&seg.name, Duration::from_millis(50)).is_err());
    let after = std::fs::metadata(&path).unwrap().blocks() * 512;
    assert!(
        after <= before + (1 << 20),
        "a refused open allocated {} MiB of the file",
        (after - before) >> 20
    );
}
