//! Real multi-process tests: forked (and one re-executed) processes attach to one segment.
//!
//! `harness = false`: forking from a multi-threaded test harness is unsafe (a child inherits
//! locks held by other threads), so this binary runs its cases one after another on its main
//! thread and prints a libtest-style summary. Run one case with
//! `cargo test -p seqflow-shm --test processes -- NAME`.

mod common;

use common::{fork_child, Pipe, Seg};
use seqflow_shm::testing::poke_producer_state;
use seqflow_shm::{inspect, ConsumeError, ProducerMode, ShmError, ShmOptions, ShmRing, WaitKind};
use std::time::Duration;

const LONG: Option<Duration> = Some(Duration::from_secs(30));
const ATTACH: Duration = Duration::from_secs(10);
const READY: Duration = Duration::from_secs(30);

/// A single-producer ring whose liveness checks run every 10 ms (kills are noticed fast).
fn single_fast_liveness() -> ShmOptions {
    ShmOptions {
        liveness_interval: Duration::from_millis(10),
        ..Default::default()
    }
}

fn multi(max_consumers: usize) -> ShmOptions {
    ShmOptions {
        producer: ProducerMode::MultiCas,
        max_consumers,
        max_producers: 4,
        wait: WaitKind::Futex,
        liveness_interval: Duration::from_millis(10),
        ..Default::default()
    }
}

fn check(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

/// 2 producer processes and 2 consumer processes: every consumer sees every event exactly once,
/// in per-producer order.
fn two_producers_two_consumers() {
    const PER_PRODUCER: u64 = 20_000;
    let seg = Seg::new("mpmc");
    let ring = ShmRing::<[u64; 2]>::create(&seg.name, 64, multi(4)).unwrap();
    let ready = Pipe::new();
    let name = seg.name.clone();
    let consumer = |id: u8| {
        let name = name.clone();
        let ready = &ready;
        fork_child(move || {
            let ring = ShmRing::<[u64; 2]>::open(&name, ATTACH).map_err(|e| e.to_string())?;
            let mut c = ring
                .consumer(&format!("consumer-{id}"))
                .map_err(|e| e.to_string())?;
            ready.send(&[id]);
            let mut next = [0u64; 2];
            let mut seen = 0;
            while seen < 2 * PER_PRODUCER {
                let mut err = None;
                let n = c
                    .poll_batch(LONG, |e, seq, _| {
                        let [producer, value] = *e;
                        let p = producer as usize;
                        if p > 1 || value != next[p] {
                            err.get_or_insert(format!(
                                "seq {seq}: producer {producer} value {value}, expected {:?}",
                                next
                            ));
                        } else {
                            next[p] += 1;
                        }
                    })
                    .map_err(|e| e.to_string())?;
                if let Some(e) = err {
                    return Err(e);
                }
                seen += n as u64;
            }
            check(next == [PER_PRODUCER; 2], || format!("counts {next:?}"))
        })
    };
    let mut consumers = [consumer(1), consumer(2)];
    assert!(ready.recv(2, READY).is_some(), "consumers did not attach");
    let producer = |id: u64| {
        let name = name.clone();
        fork_child(move || {
            let ring = ShmRing::<[u64; 2]>::open(&name, ATTACH).map_err(|e| e.to_string())?;
            let mut p = ring.producer().map_err(|e| e.to_string())?;
            let mut i = 0;
            while i < PER_PRODUCER {
                let n = (PER_PRODUCER - i).min(1 + i % 7);
                p.publish_batch(n as usize, |e, _| {
                    *e = [id, i];
                    i += 1;
                })
                .map_err(|e| e.to_string())?;
            }
            Ok(())
        })
    };
    let mut producers = [producer(0), producer(1)];
    for p in &mut producers {
        p.expect_success("producer");
    }
    for c in &mut consumers {
        c.expect_success("consumer");
    }
    assert_eq!(ring.published(), 2 * PER_PRODUCER as i64 - 1);
}

/// A consumer process is SIGKILLed while the ring is full: the producer detects it and goes on.
fn sigkill_consumer_producer_continues() {
    let seg = Seg::new("killcons");
    let ring = ShmRing::<u64>::create(&seg.name, 8, single_fast_liveness()).unwrap();
    let mut live = ring.consumer("live").unwrap();
    let ready = Pipe::new();
    let name = seg.name.clone();
    let mut victim = fork_child(|| {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        let _c = ring.consumer("victim").map_err(|e| e.to_string())?;
        ready.send(b"r");
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    assert!(ready.recv(1, READY).is_some());
    let mut p = ring.producer().unwrap();
    let mut seen = Vec::new();
    p.publish_batch(8, |e, s| *e = s as u64).unwrap();
    live.poll_batch(LONG, |e, _, _| seen.push(*e)).unwrap();
    // Full: the victim has processed nothing.
    assert!(p
        .publish_timeout(Duration::from_millis(30), |e, _| *e = 8)
        .is_err());
    victim.kill();
    for i in 8..100 {
        p.publish_timeout(Duration::from_secs(30), |e, _| *e = i)
            .unwrap();
        live.poll_batch(LONG, |e, _, _| seen.push(*e)).unwrap();
    }
    assert_eq!(seen, (0..100).collect::<Vec<u64>>());
    let info = inspect(&seg.name).unwrap();
    assert_eq!(info.reaped_consumers, 1);
    assert!(info.consumers.iter().all(|c| c.name != "victim"));
}

/// The single producer's process is SIGKILLed between claim and publish: consumers get a typed
/// error in bounded time, and a new producer takes over from the cursor.
fn sigkill_single_producer_mid_claim() {
    let seg = Seg::new("killsp");
    let ring = ShmRing::<u64>::create(&seg.name, 8, single_fast_liveness()).unwrap();
    let mut c = ring.consumer("c").unwrap();
    let ready = Pipe::new();
    let name = seg.name.clone();
    let mut producer = fork_child(|| {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        let mut p = ring.producer().map_err(|e| e.to_string())?;
        p.publish_batch(3, |e, s| *e = s as u64)
            .map_err(|e| e.to_string())?;
        let _claim = p.claim(2).map_err(|e| e.to_string())?;
        ready.send(b"r");
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    assert!(ready.recv(1, READY).is_some());
    assert_eq!(c.wait_for(0, LONG), Ok(2));
    c.update_sequence(2).unwrap();
    assert!(matches!(
        ring.producer(),
        Err(ShmError::ProducerTaken { .. })
    ));
    assert_eq!(
        c.wait_for(3, Some(Duration::from_millis(50))),
        Err(ConsumeError::Timeout),
        "alive: just slow"
    );
    let pid = producer.pid as u32;
    producer.kill();
    match c.wait_for(3, LONG) {
        Err(ConsumeError::ProducerDied {
            pid: dead,
            seq: 3,
            claimed,
        }) => {
            assert_eq!(dead, pid);
            assert_eq!(claimed.map(|r| (r.start(), r.end())), Some((3, 4)));
        }
        other => panic!("{other:?}"),
    }
    // Reported once; then a new producer takes over where the cursor is.
    let mut p = ring.producer().unwrap();
    p.publish(|e, _| *e = 33).unwrap();
    assert_eq!(c.wait_for(3, LONG), Ok(3));
    assert_eq!(c.get(3), Ok(&33));
}

/// A multi producer dies holding a claim (recorded, or only half-recorded): consumers get
/// `ProducerDied` with the claimed range, which is released so later events flow.
fn sigkill_multi_producer_mid_claim(recorded: bool) {
    let seg = Seg::new(if recorded {
        "killmp"
    } else {
        "killmp-claiming"
    });
    let ring = ShmRing::<u64>::create(&seg.name, 16, multi(4)).unwrap();
    let mut c = ring.consumer("c").unwrap();
    let other = ShmRing::<u64>::open(&seg.name, ATTACH).unwrap();
    let mut c2 = other.consumer("c2").unwrap();
    let ready = Pipe::new();
    let name = seg.name.clone();
    let mut dying = fork_child(|| {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        // Never dropped: the process is killed with its claim outstanding.
        let mut p = ring.producer().map_err(|e| e.to_string())?;
        if recorded {
            let claim = p.claim(2).map_err(|e| e.to_string())?;
            ready.send(b"r");
            std::mem::forget(claim);
        } else {
            // Die as if killed right after the claim CAS, before recording the range.
            poke_producer_state(&name, p.claimer().slot_index(), 1).map_err(|e| e.to_string())?;
            seqflow_shm::testing::abandon_raw_claim(&ring, 2)
                .ok_or("not multi")?
                .map_err(|e| e.to_string())?;
            ready.send(b"r");
        }
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    assert!(ready.recv(1, READY).is_some());
    let mut p = ring.producer().unwrap();
    p.publish_batch(3, |e, s| *e = s as u64).unwrap(); // sequences 2..=4
    assert_eq!(
        c.wait_for(0, Some(Duration::from_millis(50))),
        Err(ConsumeError::Timeout)
    );
    let pid = dying.pid as u32;
    dying.kill();
    for consumer in [&mut c, &mut c2] {
        match consumer.wait_for(0, LONG) {
            Err(ConsumeError::ProducerDied {
                pid: dead,
                seq: 0,
                claimed,
            }) => {
                assert_eq!(dead, pid);
                assert_eq!(claimed.map(|r| (r.start(), r.end())), Some((0, 1)));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            consumer.wait_for(0, LONG),
            Ok(4),
            "released: later events flow"
        );
        assert_eq!(consumer.get(4), Ok(&4));
    }
    let info = inspect(&seg.name).unwrap();
    assert_eq!(info.abandoned_claims, 1);
    assert!(info
        .producers
        .iter()
        .any(|p| p.state == "abandoned" && !p.alive));
}

fn sigkill_multi_producer_mid_claim_recorded() {
    sigkill_multi_producer_mid_claim(true);
}

fn sigkill_multi_producer_while_claiming() {
    sigkill_multi_producer_mid_claim(false);
}

/// Producer processes killed at arbitrary points of their claim/publish loop: consumers never
/// hang, and every event outside the reported dead claims is exactly what was written.
fn sigkill_producers_at_random_points() {
    const ROUNDS: u64 = 12;
    let seg = Seg::new("randomkill");
    let opts = ShmOptions {
        liveness_interval: Duration::from_millis(5),
        ..multi(2)
    };
    let ring = ShmRing::<u64>::create(&seg.name, 64, opts).unwrap();
    let mut c = ring.consumer("c").unwrap();
    let mut lost: Vec<seqflow_sequencer::SequenceRange> = Vec::new();
    let mut seen: Vec<(i64, u64)> = Vec::new();
    let mut take = |c: &mut seqflow_shm::ShmConsumer<u64>,
                    timeout,
                    lost: &mut Vec<_>|
     -> Result<(), ConsumeError> {
        let from = c.sequence() + 1;
        match c.wait_for(from, Some(timeout)) {
            Ok(hi) => {
                for s in from..=hi {
                    seen.push((s, *c.get(s).unwrap()));
                }
                c.update_sequence(hi).unwrap();
                Ok(())
            }
            Err(ConsumeError::ProducerDied {
                claimed: Some(r), ..
            }) => {
                lost.push(r);
                Ok(())
            }
            Err(e) => Err(e),
        }
    };
    let name = seg.name.clone();
    for round in 0..ROUNDS {
        let ready = Pipe::new();
        let mut child = fork_child(|| {
            let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
            let mut p = ring.producer().map_err(|e| e.to_string())?;
            ready.send(b"r");
            for k in 0.. {
                p.publish_batch(1 + k % 3, |e, s| *e = s as u64)
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        });
        assert!(ready.recv(1, READY).is_some());
        let until = std::time::Instant::now() + Duration::from_micros(300 + round * 900);
        while std::time::Instant::now() < until {
            match take(&mut c, Duration::from_millis(1), &mut lost) {
                Ok(()) | Err(ConsumeError::Timeout) => {}
                Err(e) => panic!("round {round} while running: {e:?}"),
            }
        }
        child.kill();
        let target = ring.published();
        while c.sequence() < target {
            if let Err(e) = take(&mut c, Duration::from_secs(10), &mut lost) {
                panic!("round {round}: {e:?} at {} (cursor {target})", c.sequence());
            }
        }
    }
    assert!(!seen.is_empty());
    for (seq, value) in &seen {
        if !lost.iter().any(|r| r.contains(*seq)) {
            assert_eq!(
                *value, *seq as u64,
                "seq {seq} outside the lost claims {lost:?}"
            );
        }
    }
    let reported: usize = lost.iter().map(|r| r.len()).sum();
    println!(
        "    ({} events in {ROUNDS} rounds, {} claims lost to kills, {reported} events)",
        seen.len(),
        lost.len()
    );
}

/// The creator is SIGKILLed: its segment is stale for the next run.
fn stale_segment_after_crash() {
    let seg = Seg::new("crash");
    let ready = Pipe::new();
    let name = seg.name.clone();
    let mut creator = fork_child(|| {
        let ring =
            ShmRing::<u64>::create(&name, 8, ShmOptions::default()).map_err(|e| e.to_string())?;
        let _c = ring.consumer("c").map_err(|e| e.to_string())?;
        ready.send(b"r");
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    assert!(ready.recv(1, READY).is_some());
    assert!(matches!(
        ShmRing::<u64>::create(&seg.name, 8, ShmOptions::default()),
        Err(ShmError::AlreadyExists { .. })
    ));
    let pid = creator.pid as u32;
    creator.kill();
    let info = inspect(&seg.name).unwrap();
    assert!(!info.attached && !info.header.creator_alive);
    assert!(!info.consumers[0].alive);
    match ShmRing::<u64>::create(&seg.name, 8, ShmOptions::default()) {
        Err(ShmError::Stale { creator_pid, .. }) => assert_eq!(creator_pid, pid),
        other => panic!("{other:?}"),
    }
    let ring = ShmRing::<u64>::create(
        &seg.name,
        8,
        ShmOptions {
            remove_stale: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(ring.inspect().consumers.len(), 0);
}

/// Several processes create the same name at once: exactly one wins, the others get
/// `AlreadyExists`; with `open_or_create` they all end up on the one segment.
fn racing_creators() {
    const N: usize = 4;
    let seg = Seg::new("race");
    let start = Pipe::new();
    let results = Pipe::new();
    let done = Pipe::new();
    let name = seg.name.clone();
    let mut children: Vec<_> = (0..N)
        .map(|_| {
            fork_child(|| {
                start.recv(1, READY).ok_or("no start")?;
                let code = match ShmRing::<u64>::create(&name, 8, ShmOptions::default()) {
                    Ok(ring) => {
                        results.send(b"C");
                        done.recv(1, READY).ok_or("no done")?;
                        drop(ring);
                        return Ok(());
                    }
                    Err(ShmError::AlreadyExists { .. }) => b"A",
                    Err(e) => {
                        results.send(b"E");
                        return Err(e.to_string());
                    }
                };
                results.send(code);
                done.recv(1, READY).ok_or("no done")?;
                Ok(())
            })
        })
        .collect();
    start.send(&[0; N]);
    let mut got = results.recv(N, READY).expect("results");
    got.sort_unstable();
    done.send(&[0; N]);
    for c in &mut children {
        c.expect_success("racing creator");
    }
    let mut expected = vec![b'A'; N - 1];
    expected.push(b'C');
    assert_eq!(got, expected, "exactly one creator wins");
    seqflow_shm::remove(&seg.name).unwrap();

    // open_or_create: everybody attaches to the winner's segment and publishes once.
    let opts = ShmOptions {
        producer: ProducerMode::MultiCas,
        max_producers: N,
        ..Default::default()
    };
    let mut children: Vec<_> = (0..N)
        .map(|_| {
            let opts = opts.clone();
            fork_child(|| {
                start.recv(1, READY).ok_or("no start")?;
                let ring = ShmRing::<u64>::open_or_create(&name, 8, opts, ATTACH)
                    .map_err(|e| e.to_string())?;
                ring.producer()
                    .map_err(|e| e.to_string())?
                    .publish(|e, _| *e = 1)
                    .map_err(|e| e.to_string())?;
                results.send(b"o");
                done.recv(1, READY).ok_or("no done")?;
                Ok(())
            })
        })
        .collect();
    start.send(&[0; N]);
    assert!(results.recv(N, READY).is_some());
    let ring = ShmRing::<u64>::open(&seg.name, ATTACH).unwrap();
    assert_eq!(
        ring.published(),
        N as i64 - 1,
        "all {N} published into one segment"
    );
    done.send(&[0; N]);
    for c in &mut children {
        c.expect_success("open_or_create");
    }
}

/// A forked child drops every handle it inherited (ring, producer, consumer, unlink guard):
/// the parent's segment, registration and producer are untouched.
fn forked_child_drops_its_handles() {
    let seg = Seg::new("forkdrop");
    let ring = ShmRing::<u64>::create(&seg.name, 8, ShmOptions::default()).unwrap();
    let guard = ring.unlink_on_drop();
    let mut consumer = ring.consumer("parent").unwrap();
    let mut producer = ring.producer().unwrap();
    producer.publish(|e, _| *e = 1).unwrap();
    // SAFETY: this binary runs its cases on one thread; the child ends with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        drop(consumer);
        drop(producer);
        drop(guard);
        drop(ring);
        // SAFETY: end the child without running the parent's destructors.
        unsafe { libc::_exit(0) }
    }
    let mut child = common::Child::adopt(pid);
    child.expect_success("child dropping handles");
    assert!(!ring.is_unlinked(), "the child must not unlink the segment");
    assert!(ShmRing::<u64>::open(&seg.name, ATTACH).is_ok());
    let info = ring.inspect();
    assert_eq!(info.consumers.len(), 1);
    assert!(info.consumers[0].alive);
    assert_eq!(info.producers.len(), 1);
    assert!(matches!(
        ring.producer(),
        Err(ShmError::ProducerTaken { .. })
    ));
    producer.publish(|e, _| *e = 2).unwrap();
    assert_eq!(consumer.wait_for(0, LONG), Ok(1));
    assert_eq!((consumer.get(0), consumer.get(1)), (Ok(&1), Ok(&2)));
    drop(guard);
    assert!(ring.is_unlinked(), "the creator's guard does unlink");
}

/// A claim guard alive at a fork: the child's copy writes nothing (its slots are the parent's,
/// which publishes them and whose consumer may be reading them) and publishes nothing.
fn forked_copy_of_a_claim_guard_writes_nothing() {
    let seg = Seg::new("forkclaim");
    let ring = ShmRing::<u64>::create(&seg.name, 8, ShmOptions::default()).unwrap();
    let mut consumer = ring.consumer("c").unwrap();
    let mut producer = ring.producer().unwrap();
    let mut guard = producer.claim(2).unwrap();
    *guard.get_mut(0).unwrap() = 1;
    *guard.get_mut(1).unwrap() = 2;
    let go = Pipe::new();
    let answer = Pipe::new();
    // SAFETY: this binary runs its cases on one thread; the child ends with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let _ = go.recv(1, READY);
        let mut wrote = guard.get_mut(0).map(|slot| *slot = 666).is_some();
        for slot in guard.iter_mut() {
            *slot = 777;
            wrote = true;
        }
        drop(guard);
        answer.send(if wrote { b"w" } else { b"n" });
        // SAFETY: end the child without running the parent's destructors.
        unsafe { libc::_exit(0) }
    }
    let mut child = common::Child::adopt(pid);
    guard.commit();
    assert_eq!(consumer.wait_for(1, LONG), Ok(1));
    go.send(b"g");
    let reply = answer.recv(1, READY);
    child.expect_success("child writing through its copy of the claim");
    assert_eq!(
        reply.as_deref(),
        Some(&b"n"[..]),
        "the child's copy gave out a slot"
    );
    // Still held by the consumer (not released): exactly what the parent wrote.
    assert_eq!((consumer.get(0), consumer.get(1)), (Ok(&1), Ok(&2)));
    assert_eq!(
        ring.inspect().published,
        1,
        "the child's copy published nothing more"
    );
}

/// Stages in different processes: "store" runs after "decode" and never overtakes it.
fn dependent_stages_across_processes() {
    const N: u64 = 5_000;
    let seg = Seg::new("stages");
    let ring = ShmRing::<u64>::create(
        &seg.name,
        32,
        ShmOptions {
            wait: WaitKind::Futex,
            ..Default::default()
        },
    )
    .unwrap();
    let ready = Pipe::new();
    let finish = Pipe::new();
    let name = seg.name.clone();
    let mut decode = fork_child(|| {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        let mut c = ring.consumer("decode").map_err(|e| e.to_string())?;
        ready.send(b"d");
        let mut sum = 0;
        while c.sequence() < N as i64 - 1 {
            c.poll_batch(LONG, |e, _, _| sum += *e)
                .map_err(|e| e.to_string())?;
        }
        check(sum == N * (N - 1) / 2, || format!("decode sum {sum}"))?;
        // Stay registered until "store" is done, so it can compare against our sequence.
        finish.recv(1, READY).ok_or("no finish")?;
        Ok(())
    });
    assert!(ready.recv(1, READY).is_some());
    let mut store = fork_child(|| {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        let mut c = ring
            .consumer_after("store", &["decode"])
            .map_err(|e| e.to_string())?;
        ready.send(b"s");
        let mut expected = 0;
        while c.sequence() < N as i64 - 1 {
            let hi = c
                .wait_for(c.sequence() + 1, LONG)
                .map_err(|e| e.to_string())?;
            let decode_at = ring
                .inspect()
                .consumers
                .iter()
                .find(|x| x.name == "decode")
                .map(|x| x.sequence);
            check(decode_at.is_some_and(|d| d >= hi), || {
                format!("store at {hi} overtook decode at {decode_at:?}")
            })?;
            for s in c.sequence() + 1..=hi {
                check(c.get(s) == Ok(&expected), || format!("store seq {s}"))?;
                expected += 1;
            }
            c.update_sequence(hi).unwrap();
        }
        Ok(())
    });
    assert!(ready.recv(1, READY).is_some());
    let mut p = ring.producer().unwrap();
    for i in 0..N {
        p.publish(|e, _| *e = i).unwrap();
    }
    store.expect_success("store");
    finish.send(b"f");
    decode.expect_success("decode");
}

/// A worker pool across two processes: each event is handled by exactly one worker.
fn worker_pool_across_processes() {
    const N: u64 = 3_000;
    const POISON: u64 = u64::MAX;
    let seg = Seg::new("pool");
    let ring = ShmRing::<u64>::create(
        &seg.name,
        64,
        ShmOptions {
            wait: WaitKind::Futex,
            ..Default::default()
        },
    )
    .unwrap();
    let ready = Pipe::new();
    let name = seg.name.clone();
    let worker = |out: &Pipe| {
        let name = name.clone();
        let ready = &ready;
        let out_fd = &out;
        fork_child(move || {
            let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
            let mut w = ring.worker("resize").map_err(|e| e.to_string())?;
            ready.send(b"w");
            let mut handled = Vec::new();
            loop {
                let (seq, value) = w.process(LONG, |e, _| *e).map_err(|e| e.to_string())?;
                if value == POISON {
                    break;
                }
                check(value == seq as u64, || format!("seq {seq} holds {value}"))?;
                handled.extend_from_slice(&value.to_le_bytes());
            }
            handled.extend_from_slice(&POISON.to_le_bytes());
            out_fd.send(&handled);
            Ok(())
        })
    };
    let outs = [Pipe::new(), Pipe::new()];
    let mut workers = [worker(&outs[0]), worker(&outs[1])];
    assert!(ready.recv(2, READY).is_some());
    let mut p = ring.producer().unwrap();
    for i in 0..N {
        p.publish(|e, _| *e = i).unwrap();
    }
    p.publish_batch(2, |e, _| *e = POISON).unwrap();
    let mut all = Vec::new();
    // How the events split between the workers is up to the scheduler: a worker that waits
    // while it is not scheduled is raised by the other and may get none.
    for out in &outs {
        loop {
            let word = out.recv(8, READY).expect("worker output");
            let v = u64::from_le_bytes(word.try_into().unwrap());
            if v == POISON {
                break;
            }
            all.push(v);
        }
    }
    for w in &mut workers {
        w.expect_success("worker");
    }
    all.sort_unstable();
    assert_eq!(all, (0..N).collect::<Vec<_>>(), "each event exactly once");
}

/// `halt_all` in one process stops a stage running in another (without draining) and a
/// producer blocked on a full ring in a third; both learn it was a halt.
fn halt_all_stops_every_process() {
    let seg = Seg::new("haltall");
    let options = ShmOptions {
        wait: WaitKind::Futex,
        producer: ProducerMode::MultiCas,
        max_producers: 4,
        // Holds every event: the producer child fills the ring and blocks.
        declared_consumers: vec!["absent".into()],
        ..Default::default()
    };
    let ring = ShmRing::<u64>::create(&seg.name, 8, options).unwrap();
    let ready = Pipe::new();
    let name = seg.name.clone();
    let mut stage = {
        let (name, ready) = (name.clone(), &ready);
        fork_child(move || {
            let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
            let handled = std::sync::atomic::AtomicU64::new(0);
            ready.send(b"s");
            let report = ring
                .stage("journal")
                .run(|_: &u64, _: i64, _: bool| {
                    handled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                })
                .map_err(|e| e.to_string())?;
            check(report.sequence < 8, || {
                format!("stage went past the ring: {report:?}")
            })
        })
    };
    let mut producer = {
        let (name, ready) = (name.clone(), &ready);
        fork_child(move || {
            let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
            let mut p = ring.producer().map_err(|e| e.to_string())?;
            ready.send(b"p");
            for i in 0.. {
                match p.publish(|e, _| *e = i) {
                    Ok(_) => {}
                    Err(seqflow_sequencer::ClaimError::Halted) => return Ok(()),
                    Err(e) => return Err(format!("publish {i}: {e}")),
                }
            }
            Err("unreachable".into())
        })
    };
    assert!(ready.recv(2, READY).is_some());
    // Let the producer fill the ring and block on the absent declared consumer.
    let deadline = std::time::Instant::now() + READY;
    while ring.published() < 7 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(ring.published(), 7, "the producer child filled the ring");
    ring.halt_all();
    stage.expect_success("stage child");
    producer.expect_success("producer child");
    assert_eq!(ring.inspect().halted_by, Some(std::process::id()));
    assert!(ring.inspect().to_string().contains("halted"));
}

/// A stage with `halt_ring_on_failure` whose handler panics in one process halts the ring in
/// every process: the stage after it (another process) stops, and the producer (this process)
/// gets `Halted`, as a halt in a one-process disruptor stops all its stages.
fn a_stage_failure_can_halt_every_process() {
    let seg = Seg::new("failhalt");
    let options = ShmOptions {
        wait: WaitKind::Futex,
        declared_consumers: vec!["fragile".into(), "after".into()],
        ..Default::default()
    };
    let ring = ShmRing::<u64>::create(&seg.name, 8, options).unwrap();
    let name = seg.name.clone();
    let mut fragile = {
        let name = name.clone();
        fork_child(move || {
            // This child's handler panics on purpose (the failure under test): say so where
            // the panic message is printed, without a backtrace that reads like a failure.
            let quiet = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if info.to_string().contains("twenty is unlucky") {
                    eprintln!(
                        "(expected: the `fragile` stage panics on event 20, as this test wants)"
                    );
                } else {
                    quiet(info);
                }
            }));
            let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
            let result = ring
                .stage("fragile")
                .halt_ring_on_failure(true)
                .run(|e: &u64, _: i64, _: bool| assert_ne!(*e, 20, "twenty is unlucky"));
            match result {
                Err(seqflow_shm::StageError::Halted(e)) if e.to_string().contains("unlucky") => {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        })
    };
    let mut after = {
        let name = name.clone();
        fork_child(move || {
            let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
            let report = ring
                .stage("after")
                .after(&["fragile"])
                .run(|_: &u64, _: i64, _: bool| {})
                .map_err(|e| e.to_string())?;
            check(report.sequence < 20, || {
                format!("went past the failure: {report:?}")
            })
        })
    };
    let mut p = ring.producer().unwrap();
    let mut refused = None;
    for i in 0..10_000u64 {
        if let Err(e) = p.publish_timeout(Duration::from_secs(30), |e, _| *e = i) {
            refused = Some(e);
            break;
        }
    }
    assert_eq!(refused, Some(seqflow_sequencer::ClaimError::Halted));
    fragile.expect_success("fragile stage child");
    after.expect_success("downstream stage child");
    assert_eq!(ring.halted_by(), Some(fragile.pid as u32));
}

/// A separately started process (this binary re-executed) attaches by name and consumes.
fn spawned_process_attaches_by_name() {
    const N: u64 = 1_000;
    let seg = Seg::new("spawn");
    let ring = ShmRing::<u64>::create(&seg.name, 16, ShmOptions::default()).unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .env(ROLE_VAR, "spawned-consumer")
        .env("SEQFLOW_TEST_SEGMENT", &seg.name)
        .env("SEQFLOW_TEST_N", N.to_string())
        .spawn()
        .unwrap();
    // Wait until it registered, then publish.
    let deadline = std::time::Instant::now() + READY;
    while ring.inspect().consumers.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "spawned consumer did not attach"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut p = ring.producer().unwrap();
    for i in 0..N {
        p.publish(|e, _| *e = i * 3).unwrap();
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "spawned consumer failed: {status}");
}

const ROLE_VAR: &str = "SEQFLOW_SHM_TEST_ROLE";

fn spawned_consumer_role() -> Result<(), String> {
    let name = std::env::var("SEQFLOW_TEST_SEGMENT").map_err(|e| e.to_string())?;
    let n: u64 = std::env::var("SEQFLOW_TEST_N")
        .map_err(|e| e.to_string())?
        .parse()
        .map_err(|e: std::num::ParseIntError| e.to_string())?;
    let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
    let mut c = ring.consumer("spawned").map_err(|e| e.to_string())?;
    let mut expected = 0;
    while expected < n {
        let mut bad = None;
        c.poll_batch(LONG, |e, s, _| {
            if *e != expected * 3 {
                bad.get_or_insert(format!("seq {s}: {e}"));
            }
            expected += 1;
        })
        .map_err(|e| e.to_string())?;
        if let Some(b) = bad {
            return Err(b);
        }
    }
    Ok(())
}

fn main() {
    if let Ok(role) = std::env::var(ROLE_VAR) {
        let result = match role.as_str() {
            "spawned-consumer" => spawned_consumer_role(),
            other => Err(format!("unknown role {other}")),
        };
        if let Err(e) = &result {
            eprintln!("{role}: {e}");
        }
        std::process::exit(i32::from(result.is_err()));
    }
    let cases: &[(&str, fn())] = &[
        ("two_producers_two_consumers", two_producers_two_consumers),
        (
            "sigkill_consumer_producer_continues",
            sigkill_consumer_producer_continues,
        ),
        (
            "sigkill_single_producer_mid_claim",
            sigkill_single_producer_mid_claim,
        ),
        (
            "sigkill_multi_producer_mid_claim_recorded",
            sigkill_multi_producer_mid_claim_recorded,
        ),
        (
            "sigkill_multi_producer_while_claiming",
            sigkill_multi_producer_while_claiming,
        ),
        (
            "sigkill_producers_at_random_points",
            sigkill_producers_at_random_points,
        ),
        ("stale_segment_after_crash", stale_segment_after_crash),
        ("racing_creators", racing_creators),
        (
            "forked_child_drops_its_handles",
            forked_child_drops_its_handles,
        ),
        (
            "forked_copy_of_a_claim_guard_writes_nothing",
            forked_copy_of_a_claim_guard_writes_nothing,
        ),
        (
            "dependent_stages_across_processes",
            dependent_stages_across_processes,
        ),
        ("worker_pool_across_processes", worker_pool_across_processes),
        ("halt_all_stops_every_process", halt_all_stops_every_process),
        (
            "a_stage_failure_can_halt_every_process",
            a_stage_failure_can_halt_every_process,
        ),
        (
            "spawned_process_attaches_by_name",
            spawned_process_attaches_by_name,
        ),
    ];
    common::run_cases(cases);
}
