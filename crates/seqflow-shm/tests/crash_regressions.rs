//! Regression tests for the multi-process bugs found with real processes: kills during
//! registration, pools whose workers all left, consumers after a lapped subscriber, pool
//! workers whose wait timed out, and extreme option values.
//!
//! `harness = false` (like `processes`): cases fork, so they run one after another on the main
//! thread. `SEQFLOW_KILL_ITERATIONS` sets how many random kills the kill tests make (default
//! 150).

mod common;

use common::{fork_child, Pipe, Seg};
use seqflow_shm::{ConsumeError, ProducerMode, ShmConsumer, ShmOptions, ShmRing, WaitKind};
use std::time::{Duration, Instant};

const LONG: Option<Duration> = Some(Duration::from_secs(30));
const ATTACH: Duration = Duration::from_secs(10);

fn options(producer: ProducerMode) -> ShmOptions {
    ShmOptions {
        producer,
        max_consumers: 8,
        max_producers: 4,
        wait: WaitKind::Futex,
        liveness_interval: Duration::from_millis(5),
        ..Default::default()
    }
}

fn kill_iterations() -> usize {
    std::env::var("SEQFLOW_KILL_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150)
}

/// A small xorshift generator: kill delays that differ from run to run (its starting value is
/// printed with the case).
struct Rng(u64);

impl Rng {
    fn from_time() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            | 1;
        println!("  (seed {seed})");
        Self(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Kill a process that registers and drops consumers, subscribers and pool workers in a loop,
/// at random instants, many times. Afterwards nothing it held may still gate the producer: the
/// producer publishes two laps with no live consumer.
fn sigkill_during_registration_leaks_no_slot() {
    for mode in [ProducerMode::Single, ProducerMode::MultiCas] {
        let seg = Seg::new("regkill");
        let ring = ShmRing::<u64>::create(&seg.name, 8, options(mode)).unwrap();
        let mut rng = Rng::from_time();
        for i in 0..kill_iterations() {
            let ready = Pipe::new();
            let name = seg.name.clone();
            let mut child = fork_child(|| {
                let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
                ready.send(b"r");
                for n in 0.. {
                    match n % 3 {
                        0 => drop(ring.consumer("victim")),
                        1 => drop(ring.subscriber("victim-sub")),
                        _ => drop(ring.worker("victim-pool")),
                    }
                }
                Ok(())
            });
            assert!(ready.recv(1, ATTACH).is_some(), "child {i} did not start");
            std::thread::sleep(Duration::from_micros(rng.below(3_000)));
            child.kill();
            ring.reap_dead_consumers().unwrap();
            let mut producer = ring.producer().unwrap();
            for _ in 0..16 {
                producer
                    .publish_timeout(Duration::from_secs(5), |e, s| *e = s as u64)
                    .unwrap_or_else(|e| {
                        panic!(
                            "iteration {i}: the producer is held back by a dead registrant: {e}\n{}",
                            ring.inspect()
                        )
                    });
            }
            let held: Vec<_> = ring
                .inspect()
                .consumers
                .into_iter()
                .filter(|c| c.pid != 0)
                .collect();
            assert!(held.is_empty(), "iteration {i}: slots still held: {held:?}");
        }
    }
}

/// A worker joining a pool whose workers all left starts at an event still in the ring, never
/// at the pool's old position (whose slots were overwritten meanwhile).
fn pool_rejoin_after_workers_left_reads_no_overwritten_slot() {
    let seg = Seg::new("rejoin");
    let ring = ShmRing::<u64>::create(&seg.name, 8, options(ProducerMode::MultiCas)).unwrap();
    let mut producer = ring.producer().unwrap();
    {
        let mut first = ring.worker("pool").unwrap();
        for i in 0..5u64 {
            producer.publish(|e, _| *e = i).unwrap();
        }
        for _ in 0..5 {
            first
                .process(LONG, |e, s| assert_eq!(*e, s as u64))
                .unwrap();
        }
        producer.publish(|e, _| *e = 5).unwrap();
    }
    // A worker process killed with events pending, then reaped: the same situation.
    let name = seg.name.clone();
    let ready = Pipe::new();
    let mut child = fork_child(|| {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        let _w = ring.worker("pool").map_err(|e| e.to_string())?;
        ready.send(b"r");
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    assert!(ready.recv(1, ATTACH).is_some());
    child.kill();
    ring.reap_dead_consumers().unwrap();
    // Nobody holds the pool now: the producer laps the ring many times.
    for i in 6..=101u64 {
        producer.publish(|e, _| *e = i).unwrap();
    }
    let mut late = ring.worker("pool").unwrap();
    for i in 102..110u64 {
        producer.publish(|e, _| *e = i).unwrap();
    }
    let mut seen = Vec::new();
    while let Ok((seq, value)) = late.process(Some(Duration::from_millis(50)), |e, _| *e) {
        assert_eq!(
            value, seq as u64,
            "sequence {seq} handed out holding event {value}"
        );
        seen.push(seq);
    }
    assert_eq!(seen, (102..110).collect::<Vec<i64>>());
}

/// A consumer registered after a lossy subscriber that the producer lapped starts where no slot
/// can be overwritten under it, and reads only what was published at each sequence.
fn consumer_after_lapped_subscriber_reads_no_overwritten_slot() {
    for mode in [ProducerMode::Single, ProducerMode::MultiCas] {
        let seg = Seg::new("aftersub");
        let ring = ShmRing::<u64>::create(&seg.name, 8, options(mode)).unwrap();
        let _sub = ring.subscriber("fanout").unwrap();
        let mut producer = ring.producer().unwrap();
        for i in 0..100u64 {
            producer.publish(|e, _| *e = i).unwrap();
        }
        let mut after = ring.consumer_after("audit", &["fanout"]).unwrap();
        let start = after.sequence();
        assert!(
            start >= 99 - 8,
            "{mode:?}: starts at {start}, behind the ring"
        );
        let mut sub = ring.subscriber("late").unwrap();
        for i in 100..104u64 {
            producer.publish(|e, _| *e = i).unwrap();
        }
        let _ = sub.next_timeout(Some(Duration::from_millis(1)));
        let mut next = start + 1;
        while next <= 103 {
            match after.wait_for(next, Some(Duration::from_millis(50))) {
                Ok(hi) => {
                    for seq in next..=hi {
                        assert_eq!(after.get(seq).copied(), Ok(seq as u64));
                    }
                    after.update_sequence(hi).unwrap();
                    next = hi + 1;
                }
                // It follows the subscriber, which has not read past what it read.
                Err(ConsumeError::Timeout) => break,
                Err(e) => panic!("{mode:?}: {e}"),
            }
        }
    }
}

/// A worker whose wait timed out holds no claim: another worker gets the next event at once,
/// and a worker killed while idle loses nothing.
fn timed_out_or_idle_worker_hides_nothing() {
    let seg = Seg::new("idleworker");
    let ring = ShmRing::<u64>::create(&seg.name, 8, options(ProducerMode::MultiCas)).unwrap();
    let mut a = ring.worker("pool").unwrap();
    let mut b = ring.worker("pool").unwrap();
    assert!(matches!(
        a.process(Some(Duration::from_millis(10)), |_, s| s),
        Err(ConsumeError::Timeout)
    ));
    let mut producer = ring.producer().unwrap();
    producer.publish(|e, _| *e = 0).unwrap();
    assert_eq!(
        b.process(Some(Duration::from_secs(5)), |e, s| (*e, s))
            .unwrap()
            .1,
        (0, 0),
        "the event went to the worker that is waiting"
    );
    drop(a);
    // A worker process waiting (idle) when it is killed.
    let name = seg.name.clone();
    let ready = Pipe::new();
    let mut child = fork_child(|| {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        let mut w = ring.worker("pool").map_err(|e| e.to_string())?;
        ready.send(b"r");
        let _ = w.process(Some(Duration::from_secs(60)), |_, s| s);
        Ok(())
    });
    assert!(ready.recv(1, ATTACH).is_some());
    std::thread::sleep(Duration::from_millis(20));
    child.kill();
    for i in 1..=20u64 {
        producer
            .publish_timeout(Duration::from_secs(5), |e, _| *e = i)
            .unwrap();
        let (seq, value) = b
            .process(Some(Duration::from_secs(5)), |e, s| (s, *e))
            .unwrap()
            .1;
        assert_eq!((seq, value), (i as i64, i));
    }
    assert_eq!(ring.inspect().lost_pool_events, 0);
}

/// A worker process SIGKILLed inside its handler loses what it had claimed and not handled
/// (one event with `process`, the rest of the batch with `process_batch`), and `inspect` counts
/// exactly that once the worker is reaped; the other workers go on with the rest.
fn sigkill_while_handling_is_counted_as_lost() {
    // (how the child handles, batch size): `process`, `process_batch(5)`, a pool stage.
    for (how, batch) in [("process", 1usize), ("batch", 5), ("stage", 1)] {
        let seg = Seg::new("lostcount");
        let ring = ShmRing::<u64>::create(&seg.name, 16, options(ProducerMode::MultiCas)).unwrap();
        let mut survivor = ring.worker("pool").unwrap();
        let mut producer = ring.producer().unwrap();
        producer.publish_batch(8, |e, s| *e = s as u64).unwrap();
        let name = seg.name.clone();
        let ready = Pipe::new();
        let mut child = fork_child(|| {
            let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
            // Handles the first event of its claim, then hangs in the second (or the only) one.
            let mut handled = 0;
            let mut handle = |_: &u64| {
                handled += 1;
                if handled == batch.min(2) {
                    ready.send(b"h");
                    std::thread::sleep(Duration::from_secs(60));
                }
            };
            if how == "stage" {
                let _ = ring
                    .pool_stage("pool")
                    .run(move |e: &u64, _: i64, _: bool| handle(e));
            } else {
                let mut w = ring.worker("pool").map_err(|e| e.to_string())?;
                let _ = w.process_batch(batch, Some(Duration::from_secs(60)), |e, _, _| handle(e));
            }
            Ok(())
        });
        assert!(ready.recv(1, ATTACH).is_some());
        child.kill();
        // The survivor takes what the dead worker had not claimed; the reaper (a producer that
        // finds the ring full) releases the dead worker's slot and counts its loss.
        let mut rest = Vec::new();
        while let Ok((_, v)) = survivor.process(Some(Duration::from_millis(50)), |e, _| *e) {
            rest.push(v);
        }
        assert_eq!(rest.len(), 8 - batch, "{how}: {rest:?}");
        for i in 0..16u64 {
            producer
                .publish_timeout(Duration::from_secs(5), |e, _| *e = i)
                .unwrap();
            survivor
                .process(Some(Duration::from_secs(5)), |_, _| ())
                .unwrap();
        }
        // Handled before the kill: one (batch of 5: the first); lost: the rest of its claim.
        let lost = if batch == 1 { 1 } else { batch as u64 - 1 };
        assert_eq!(ring.inspect().lost_pool_events, lost, "{how}");
    }
}

/// `Duration::MAX` and other extreme liveness intervals are clamped, never a panic.
fn extreme_liveness_intervals_do_not_panic() {
    for interval in [Duration::MAX, Duration::ZERO, Duration::from_secs(u64::MAX)] {
        let seg = Seg::new("extreme");
        let ring = ShmRing::<u64>::create(
            &seg.name,
            2,
            ShmOptions {
                liveness_interval: interval,
                ..Default::default()
            },
        )
        .unwrap();
        let mut consumer = ring.consumer("c").unwrap();
        let started = Instant::now();
        assert_eq!(
            consumer.wait_for(0, Some(Duration::from_millis(10))),
            Err(ConsumeError::Timeout)
        );
        assert!(started.elapsed() < Duration::from_secs(60));
        let mut producer = ring.producer().unwrap();
        producer.publish(|e, _| *e = 1).unwrap();
        producer.publish(|e, _| *e = 2).unwrap();
        assert!(producer
            .publish_timeout(Duration::from_millis(10), |e, _| *e = 3)
            .is_err());
    }
}

/// Fork while another thread of the parent registers and unregisters consumers (so holds the
/// registry lock at random instants): every child registers within the registry timeout, never
/// deadlocks on a lock description it inherited.
fn fork_while_another_thread_registers() {
    let seg = Seg::new("forkreg");
    let opts = ShmOptions {
        registry_timeout: Duration::from_secs(10),
        ..options(ProducerMode::MultiCas)
    };
    let ring = ShmRing::<u64>::create(&seg.name, 8, opts).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let (ring, stop) = (ring.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                drop(ring.consumer("churn"));
                drop(ring.worker("churn-pool"));
            }
        })
    };
    let forks = kill_iterations() / 2;
    for i in 0..forks {
        let inherited = ring.clone();
        let mut child = fork_child(move || {
            let c = inherited.consumer("child").map_err(|e| e.to_string())?;
            drop(c);
            Ok(())
        });
        let code = child.wait(Duration::from_secs(30));
        assert_eq!(code, Some(0), "fork {i}: the child could not register");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    churn.join().unwrap();
}

/// A process stopped while holding the registry lock makes registrations fail with a typed
/// error after the registry timeout (never a hang); once it runs again, they succeed.
fn sigstopped_registry_holder_is_a_timeout_not_a_hang() {
    let seg = Seg::new("stopreg");
    let opts = ShmOptions {
        registry_timeout: Duration::from_millis(200),
        ..options(ProducerMode::Single)
    };
    let ring = ShmRing::<u64>::create(&seg.name, 8, opts).unwrap();
    let ready = Pipe::new();
    let name = seg.name.clone();
    let mut child = fork_child(|| {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        let held = seqflow_shm::testing::hold_registry_lock(&ring).map_err(|e| e.to_string())?;
        ready.send(b"r");
        // SAFETY: stopping ourselves; the parent continues us.
        unsafe { libc::raise(libc::SIGSTOP) };
        drop(held);
        Ok(())
    });
    assert!(ready.recv(1, ATTACH).is_some());
    // Stopped for sure before the SIGCONT below (one sent before the stop would be lost).
    child.wait_stopped(ATTACH);
    let started = Instant::now();
    match ring.consumer("blocked") {
        Err(seqflow_shm::ShmError::RegistryBusy { .. }) => {}
        other => panic!("expected RegistryBusy, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(30));
    // SAFETY: continuing our own stopped child.
    unsafe { libc::kill(child.pid, libc::SIGCONT) };
    assert_eq!(child.wait(Duration::from_secs(30)), Some(0));
    ring.consumer("after").unwrap();
}

/// A consumer process stopped by SIGSTOP is alive, not dead: the producer times out on the full
/// ring (nothing is released or lost), and after SIGCONT the consumer receives every event.
fn sigstopped_consumer_holds_the_producer_then_gets_everything() {
    let seg = Seg::new("stopcons");
    let ring = ShmRing::<u64>::create(&seg.name, 8, options(ProducerMode::Single)).unwrap();
    let ready = Pipe::new();
    let name = seg.name.clone();
    let mut child = fork_child(|| {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        let mut c = ring.consumer("sleepy").map_err(|e| e.to_string())?;
        ready.send(b"r");
        // SAFETY: stopping ourselves; the parent continues us.
        unsafe { libc::raise(libc::SIGSTOP) };
        let mut expected = 0u64;
        while expected < 20 {
            let hi = c
                .wait_for(expected as i64, LONG)
                .map_err(|e| e.to_string())?;
            for seq in expected as i64..=hi {
                let v = *c.get(seq).map_err(|_| "not available")?;
                if v != seq as u64 {
                    return Err(format!("sequence {seq} holds {v}"));
                }
            }
            c.update_sequence(hi).unwrap();
            expected = hi as u64 + 1;
        }
        Ok(())
    });
    assert!(ready.recv(1, ATTACH).is_some());
    // Stopped for sure before the SIGCONT below (one sent before the stop would be lost, and
    // the child would stay stopped).
    child.wait_stopped(ATTACH);
    let mut producer = ring.producer().unwrap();
    for i in 0..8u64 {
        producer.publish(|e, _| *e = i).unwrap();
    }
    assert!(
        producer
            .publish_timeout(Duration::from_millis(200), |e, _| *e = 8)
            .is_err(),
        "a stopped consumer still gates"
    );
    assert_eq!(ring.inspect().reaped_consumers, 0);
    // SAFETY: continuing our own stopped child.
    unsafe { libc::kill(child.pid, libc::SIGCONT) };
    for i in 8..20u64 {
        producer
            .publish_timeout(Duration::from_secs(30), |e, _| *e = i)
            .unwrap();
    }
    assert_eq!(child.wait(Duration::from_secs(60)), Some(0));
}

/// A consumer's process dies while a child it forked lives on: the child's copies of the
/// descriptors do not keep the dead consumer's lock, so the producer releases its slot.
fn dead_consumer_with_a_living_forked_child_is_released() {
    let seg = Seg::new("forkheir");
    let ring = ShmRing::<u64>::create(&seg.name, 8, options(ProducerMode::Single)).unwrap();
    let ready = Pipe::new();
    let heir = Pipe::new();
    let name = seg.name.clone();
    let mut parent = fork_child(|| {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        let _c = ring.consumer("mortal").map_err(|e| e.to_string())?;
        let kid = fork_child(|| {
            std::thread::sleep(Duration::from_secs(60));
            Ok(())
        });
        heir.send(&kid.pid.to_le_bytes());
        std::mem::forget(kid);
        ready.send(b"r");
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let kid_pid = i32::from_le_bytes(heir.recv(4, ATTACH).unwrap().try_into().unwrap());
    let mut kid = common::Child::adopt(kid_pid);
    assert!(ready.recv(1, ATTACH).is_some());
    // Killed but not reaped: its pid still exists (a zombie), so only the lock tells.
    // SAFETY: signalling our own child.
    unsafe { libc::kill(parent.pid, libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(100));
    let mut producer = ring.producer().unwrap();
    for i in 0..32u64 {
        producer
            .publish_timeout(Duration::from_secs(5), |e, _| *e = i)
            .unwrap_or_else(|e| panic!("event {i}: the dead consumer still gates: {e}"));
    }
    parent.kill();
    kid.kill();
}

/// A `try_publish` that finds the ring full because of a dead consumer releases its slot and
/// publishes, without waiting; once a live consumer holds the ring full, it is `Full`.
fn try_publish_on_a_ring_held_full_by_the_dead_releases_it() {
    for mode in [ProducerMode::Single, ProducerMode::MultiCas] {
        let seg = Seg::new("tryfull");
        let ring = ShmRing::<u64>::create(&seg.name, 4, options(mode)).unwrap();
        let ready = Pipe::new();
        let name = seg.name.clone();
        let mut child = fork_child(|| {
            let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
            let _c = ring.consumer("mortal").map_err(|e| e.to_string())?;
            ready.send(b"r");
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        assert!(ready.recv(1, ATTACH).is_some());
        let mut producer = ring.producer().unwrap();
        for i in 0..4u64 {
            producer.try_publish(|e, _| *e = i).unwrap();
        }
        assert!(
            matches!(
                producer.try_publish(|_, _| {}),
                Err(seqflow_sequencer::ClaimError::Full { .. })
            ),
            "{mode:?}: the live consumer gates"
        );
        child.kill();
        for i in 4..12u64 {
            producer
                .try_publish(|e, _| *e = i)
                .unwrap_or_else(|e| panic!("{mode:?}, event {i}: the dead consumer gates: {e}"));
        }
        let _live = ring.consumer("live").unwrap();
        for i in 12..16u64 {
            producer.try_publish(|e, _| *e = i).unwrap();
        }
        assert!(
            matches!(
                producer.try_publish(|_, _| {}),
                Err(seqflow_sequencer::ClaimError::Full { .. })
            ),
            "{mode:?}: a live consumer holds the ring full"
        );
    }
}

fn declared(consumers: &[&str], pools: &[&str]) -> ShmOptions {
    ShmOptions {
        declared_consumers: consumers.iter().map(|s| s.to_string()).collect(),
        declared_pools: pools.iter().map(|s| s.to_string()).collect(),
        ..options(ProducerMode::MultiCas)
    }
}

/// Read `count` events as the declared consumer `name` in a child process, checking each holds
/// its sequence; exits non-zero otherwise.
fn read_as(name: &str, seg: &str, count: i64, ready: &Pipe) -> common::Child {
    let (name, seg) = (name.to_owned(), seg.to_owned());
    fork_child(move || {
        let ring = ShmRing::<u64>::open(&seg, ATTACH).map_err(|e| e.to_string())?;
        let mut c = ring.consumer(&name).map_err(|e| e.to_string())?;
        ready.send(b"r");
        let mut next = c.sequence() + 1;
        let end = next + count;
        while next < end {
            let hi = c
                .wait_for(next, LONG)
                .map_err(|e| e.to_string())?
                .min(end - 1);
            for seq in next..=hi {
                let v = *c.get(seq).map_err(|_| "not available")?;
                if v != seq as u64 {
                    return Err(format!("sequence {seq} holds {v}"));
                }
            }
            c.update_sequence(hi).unwrap();
            next = hi + 1;
        }
        Ok(())
    })
}

/// Events published before a declared consumer attaches wait for it: nothing is lost.
fn declared_consumer_gets_what_was_published_before_it_attached() {
    let seg = Seg::new("declared");
    let ring = ShmRing::<u64>::create(&seg.name, 8, declared(&["audit"], &[])).unwrap();
    let mut producer = ring.producer().unwrap();
    for i in 0..8u64 {
        producer.publish(|e, _| *e = i).unwrap();
    }
    assert!(
        producer.try_publish(|e, _| *e = 8).is_err(),
        "the absent declared consumer gates"
    );
    let shown = ring.inspect().consumers;
    assert!(
        shown
            .iter()
            .any(|c| c.name == "audit" && c.absent && c.declared),
        "{shown:?}"
    );
    let ready = Pipe::new();
    let mut child = read_as("audit", &seg.name, 16, &ready);
    assert!(ready.recv(1, ATTACH).is_some());
    for i in 8..16u64 {
        producer
            .publish_timeout(Duration::from_secs(30), |e, _| *e = i)
            .unwrap();
    }
    assert_eq!(child.wait(Duration::from_secs(60)), Some(0));
}

/// A declared consumer killed mid-way keeps gating at its position; the next process to attach
/// as it resumes there, so every event is read and none twice. An operator can release it.
fn declared_consumer_killed_resumes_where_it_stopped() {
    let seg = Seg::new("declkill");
    let ring = ShmRing::<u64>::create(&seg.name, 8, declared(&["audit"], &[])).unwrap();
    let mut producer = ring.producer().unwrap();
    for i in 0..8u64 {
        producer.publish(|e, _| *e = i).unwrap();
    }
    let ready = Pipe::new();
    let mut first = read_as("audit", &seg.name, 5, &ready);
    assert!(ready.recv(1, ATTACH).is_some());
    assert_eq!(first.wait(Duration::from_secs(30)), Some(0)); // read 0..=4 and left
    let name = seg.name.clone();
    let killed_ready = Pipe::new();
    let mut killed = fork_child(|| {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        let _c = ring.consumer("audit").map_err(|e| e.to_string())?;
        killed_ready.send(b"r");
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    assert!(killed_ready.recv(1, ATTACH).is_some());
    assert!(matches!(
        ring.release_declared("audit"),
        Err(seqflow_shm::ShmError::DeclaredInUse { .. })
    ));
    killed.kill();
    ring.reap_dead_consumers().unwrap();
    let audit = ring
        .inspect()
        .consumers
        .into_iter()
        .find(|c| c.name == "audit")
        .expect("still declared");
    assert!(audit.absent && audit.sequence == 4, "{audit:?}");
    for i in 8..13u64 {
        producer.publish(|e, _| *e = i).unwrap(); // 5 free slots
    }
    assert!(
        producer.try_publish(|e, _| *e = 13).is_err(),
        "still gating after the kill"
    );
    let ready = Pipe::new();
    let mut resumed = read_as("audit", &seg.name, 8, &ready); // 5..=12
    assert!(ready.recv(1, ATTACH).is_some());
    assert_eq!(resumed.wait(Duration::from_secs(30)), Some(0));
    ring.release_declared("audit").unwrap();
    for i in 13..40u64 {
        producer.try_publish(|e, _| *e = i).unwrap();
    }
    assert!(matches!(
        ring.release_declared("audit"),
        Err(seqflow_shm::ShmError::NotDeclared { .. })
    ));
}

/// A declared pool gates from the first sequence: events published before any worker, and
/// across the death of workers (idle ones), are each handled exactly once.
fn declared_pool_handles_everything_exactly_once() {
    let seg = Seg::new("declpool");
    let ring = ShmRing::<u64>::create(&seg.name, 8, declared(&[], &["jobs"])).unwrap();
    let mut producer = ring.producer().unwrap();
    // Published before any worker exists: they wait for the pool.
    for i in 0..3u64 {
        producer.publish(|e, _| *e = i).unwrap();
    }
    let results = Pipe::new();
    let ready = Pipe::new();
    let name = seg.name.clone();
    // A worker that handles three events, then idles until it is killed.
    let mut first = fork_child(|| {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        let mut w = ring.worker("jobs").map_err(|e| e.to_string())?;
        for _ in 0..3 {
            let (_, v) = w.process(LONG, |e, _| *e).map_err(|e| e.to_string())?;
            results.send(&[v as u8]);
        }
        ready.send(b"r");
        let _ = w.process(Some(Duration::from_secs(60)), |e, _| *e);
        Ok(())
    });
    assert!(ready.recv(1, Duration::from_secs(30)).is_some());
    first.kill();
    ring.reap_dead_consumers().unwrap();
    for i in 3..11u64 {
        producer
            .publish_timeout(Duration::from_secs(5), |e, _| *e = i)
            .unwrap();
    }
    let name = seg.name.clone();
    let mut second = fork_child(|| {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        let mut w = ring.worker("jobs").map_err(|e| e.to_string())?;
        while let Ok((_, v)) = w.process(Some(Duration::from_millis(300)), |e, _| *e) {
            results.send(&[v as u8]);
        }
        Ok(())
    });
    assert_eq!(second.wait(Duration::from_secs(60)), Some(0));
    let mut seen = results
        .recv(11, Duration::from_secs(5))
        .expect("11 results");
    seen.sort_unstable();
    assert_eq!(seen, (0..11).collect::<Vec<u8>>());
}

/// Kill a process attaching and detaching as a declared consumer at random instants: the name
/// is never lost, never duplicated, and its position never goes back.
fn sigkill_while_attaching_as_declared() {
    let seg = Seg::new("declrace");
    let ring = ShmRing::<u64>::create(&seg.name, 8, declared(&["audit"], &[])).unwrap();
    let mut rng = Rng::from_time();
    let mut last = -1;
    for i in 0..kill_iterations() / 2 {
        let ready = Pipe::new();
        let name = seg.name.clone();
        let mut child = fork_child(|| {
            let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
            ready.send(b"r");
            loop {
                if let Ok(mut c) = ring.consumer("audit") {
                    let s = c.sequence();
                    if let Ok(hi) = c.wait_for(s + 1, Some(Duration::ZERO)) {
                        c.update_sequence(hi.min(s + 1)).unwrap();
                    }
                }
            }
        });
        assert!(ready.recv(1, ATTACH).is_some());
        let mut producer = ring.producer().unwrap();
        let _ = producer.try_publish(|e, s| *e = s as u64);
        drop(producer);
        std::thread::sleep(Duration::from_micros(rng.below(3_000)));
        child.kill();
        ring.reap_dead_consumers().unwrap();
        let audits: Vec<_> = ring
            .inspect()
            .consumers
            .into_iter()
            .filter(|c| c.name == "audit")
            .collect();
        assert_eq!(audits.len(), 1, "iteration {i}: {audits:?}");
        assert!(audits[0].absent, "iteration {i}: {audits:?}");
        assert!(audits[0].sequence >= last, "iteration {i}: went back");
        last = audits[0].sequence;
    }
    ring.consumer("audit").unwrap();
}

/// Handles inherited through fork are refused with a typed error in the child, and a child
/// cannot move its parent's position; the parent's handles keep working.
fn inherited_handles_are_refused_in_a_forked_child() {
    let seg = Seg::new("inherited");
    let ring = ShmRing::<u64>::create(&seg.name, 8, options(ProducerMode::MultiCas)).unwrap();
    let mut consumer = ring.consumer("parent").unwrap();
    let mut worker = ring.worker("pool").unwrap();
    let mut producer = ring.producer().unwrap();
    producer.publish(|e, _| *e = 0).unwrap();
    assert_eq!(consumer.wait_for(0, LONG), Ok(0));
    // The closure borrows the handles: the child works on its copies, the parent keeps them.
    let mut child = fork_child(|| {
        if consumer.wait_for(0, Some(Duration::ZERO)) != Err(ConsumeError::ForkedHandle) {
            return Err("inherited consumer was usable".into());
        }
        if consumer.get(0) != Err(ConsumeError::ForkedHandle) {
            return Err("inherited consumer could read".into());
        }
        if consumer.update_sequence(0) != Err(ConsumeError::ForkedHandle) {
            return Err("inherited consumer could release".into());
        }
        if !matches!(
            worker.process(Some(Duration::ZERO), |_, s| s),
            Err(ConsumeError::ForkedHandle)
        ) {
            return Err("inherited worker was usable".into());
        }
        if !matches!(
            producer.try_publish(|e, _| *e = 1),
            Err(seqflow_sequencer::ClaimError::ForkedHandle)
        ) {
            return Err("inherited producer was usable".into());
        }
        Ok(())
    });
    assert_eq!(child.wait(Duration::from_secs(30)), Some(0));
    let parent = ring
        .inspect()
        .consumers
        .into_iter()
        .find(|c| c.name == "parent")
        .unwrap();
    assert_eq!(parent.sequence, -1, "the child moved the parent's consumer");
    consumer.update_sequence(0).unwrap();
    assert_eq!(consumer.sequence(), 0);
    producer.publish(|e, _| *e = 1).unwrap();
    assert_eq!(worker.process(LONG, |e, s| (s, *e)).unwrap().1, (0, 0));
}

/// Supervised workers: forked and spawned workers report how each ended, and one that fails
/// is named while the others are killed.
fn supervised_workers_report_failures() {
    // SAFETY: this test binary runs its cases on its main thread only.
    let ok = unsafe { seqflow_shm::Workers::fork(3, |_| Ok(())) }.unwrap();
    assert_eq!(
        ok.wait(Duration::from_secs(30)).unwrap(),
        vec![seqflow_shm::WorkerEnd::Exited(0); 3]
    );
    // SAFETY: as above.
    let bad = unsafe {
        seqflow_shm::Workers::fork(3, |i| {
            if i == 1 {
                return Err("worker one fails".into());
            }
            std::thread::sleep(Duration::from_secs(60));
            Ok(())
        })
    }
    .unwrap();
    match bad.wait(Duration::from_secs(30)) {
        Err(seqflow_shm::SuperviseError::Failed { index: 1, end, .. }) => {
            assert_eq!(end, seqflow_shm::WorkerEnd::Exited(1));
        }
        other => panic!("expected worker 1 to fail, got {other:?}"),
    }
    let spawned = seqflow_shm::Workers::spawn(2, &["--spawned-worker"]).unwrap();
    match spawned.wait(Duration::from_secs(30)) {
        Err(seqflow_shm::SuperviseError::Failed { index: 1, end, .. }) => {
            assert_eq!(end, seqflow_shm::WorkerEnd::Exited(3));
        }
        other => panic!("expected spawned worker 1 to exit with 3, got {other:?}"),
    }
}

/// With `SIGCHLD` ignored the kernel discards exit statuses: starting workers is refused with a
/// typed error. A worker whose status another waiter took is `StatusLost`, a failure, not a
/// hang or a made-up exit code.
fn workers_whose_status_cannot_be_known_are_reported() {
    use seqflow_shm::{SuperviseError, WorkerEnd, Workers};
    // SAFETY: this test binary runs its cases on its main thread only; the old action is put
    // back below.
    let old = unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    // SAFETY: as above.
    let forked = unsafe { Workers::fork(1, |_| Ok(())) };
    let spawned = Workers::spawn(1, &["--spawned-worker"]);
    // SAFETY: restoring the action read above.
    unsafe { libc::signal(libc::SIGCHLD, old) };
    assert!(matches!(forked, Err(SuperviseError::ChildStatusIgnored)));
    assert!(matches!(spawned, Err(SuperviseError::ChildStatusIgnored)));
    // SAFETY: as above.
    let workers = unsafe { Workers::fork(1, |_| Ok(())) }.unwrap();
    let pid = workers.pids()[0] as i32;
    let mut status = 0;
    // SAFETY: reaping our own child, as another part of the program might.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    match workers.wait(Duration::from_secs(30)) {
        Err(SuperviseError::Failed { index: 0, end, .. }) => assert_eq!(end, WorkerEnd::StatusLost),
        other => panic!("expected the lost status to be reported, got {other:?}"),
    }
    let spawned = Workers::spawn(1, &["--spawned-worker"]).unwrap();
    let pid = spawned.pids()[0] as i32;
    // SAFETY: as above.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    match spawned.wait(Duration::from_secs(30)) {
        Err(SuperviseError::Failed { index: 0, end, .. }) => assert_eq!(end, WorkerEnd::StatusLost),
        other => panic!("expected the lost status to be reported, got {other:?}"),
    }
}

/// A worker joining a declared pool whose only worker died and is not reaped yet starts at the
/// pool's position (the dead worker's slot still gates), never at the cursor.
fn declared_pool_joined_before_the_dead_worker_is_reaped() {
    let seg = Seg::new("declunreaped");
    let ring = ShmRing::<u64>::create(&seg.name, 8, declared(&[], &["jobs"])).unwrap();
    let mut producer = ring.producer().unwrap();
    producer.publish(|e, _| *e = 0).unwrap();
    let ready = Pipe::new();
    let name = seg.name.clone();
    let mut child = fork_child(|| {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        let mut w = ring.worker("jobs").map_err(|e| e.to_string())?;
        w.process(LONG, |_, _| ()).map_err(|e| e.to_string())?;
        ready.send(b"r");
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    assert!(ready.recv(1, ATTACH).is_some());
    child.kill(); // not reaped by the ring yet
    producer.publish(|e, _| *e = 1).unwrap();
    let mut late = ring.worker("jobs").unwrap();
    assert_eq!(
        late.process(Some(Duration::from_secs(5)), |e, s| (s, *e))
            .unwrap()
            .1,
        (1, 1),
        "the event published after the death must not be skipped"
    );
    // Once the dead worker is reaped, the live one alone gates: the producer goes on.
    ring.reap_dead_consumers().unwrap();
    for i in 2..30u64 {
        producer
            .publish_timeout(Duration::from_secs(5), |e, _| *e = i)
            .unwrap_or_else(|e| panic!("event {i}: a released worker still gates: {e}"));
        assert_eq!(
            late.process(Some(Duration::from_secs(5)), |e, _| *e)
                .unwrap()
                .1,
            i
        );
    }
}

/// A declared stage process killed mid-run (SIGKILL, inside its handler or between batches)
/// loses nothing: the next process to run the stage resumes after the last batch the dead one
/// finished, so every event is handled, and only the batch in flight (at most the maximum
/// batch size) is handled twice.
fn sigkill_of_a_stage_process_resumes_without_loss() {
    use std::io::Write;
    const EVENTS: u64 = 400;
    const MAX_BATCH: usize = 4;
    let seg = Seg::new("stagekill");
    let ring = ShmRing::<u64>::create(&seg.name, 16, declared(&["journal"], &[])).unwrap();
    let dir = std::env::temp_dir().join(format!("seqflow-stagekill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run_stage = |log: std::path::PathBuf, pause: Duration| {
        let name = seg.name.clone();
        fork_child(move || {
            let mut out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
            let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
            ring.stage("journal")
                .max_batch_size(MAX_BATCH)
                .run(|e: &u64, seq: i64, _| {
                    assert_eq!(*e, seq as u64);
                    writeln!(out, "{seq}").expect("log");
                    std::thread::sleep(pause);
                })
                .map_err(|e| e.to_string())?;
            Ok(())
        })
    };
    let mut first = run_stage(dir.join("first"), Duration::from_millis(1));
    let mut producer = ring.producer().unwrap();
    let mut second = None;
    for i in 0..EVENTS {
        producer.publish(|e, _| *e = i).unwrap();
        if i == EVENTS / 3 {
            first.kill();
            second = Some(run_stage(dir.join("second"), Duration::ZERO));
        }
    }
    ring.close();
    let mut second = second.expect("started");
    assert_eq!(second.wait(Duration::from_secs(60)), Some(0));
    let read = |file: &str| -> Vec<i64> {
        std::fs::read_to_string(dir.join(file))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.parse().ok())
            .collect()
    };
    let (a, b) = (read("first"), read("second"));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        !a.is_empty() && !b.is_empty(),
        "{} then {}",
        a.len(),
        b.len()
    );
    let resumed_at = b[0];
    let last_of_first = *a.last().unwrap();
    assert!(
        resumed_at <= last_of_first + 1 && last_of_first + 1 - resumed_at <= MAX_BATCH as i64,
        "first handled through {last_of_first}, second resumed at {resumed_at}"
    );
    assert_eq!(b, (resumed_at..EVENTS as i64).collect::<Vec<_>>());
    assert_eq!(a, (0..=last_of_first).collect::<Vec<_>>());
}

/// Releasing a declared consumer whose process was SIGKILLed works at once: the release reaps
/// the dead holder first instead of calling it attached.
fn releasing_a_killed_declared_consumer_needs_no_reap_first() {
    let seg = Seg::new("declrelease");
    let ring = ShmRing::<u64>::create(&seg.name, 8, declared(&["journal"], &[])).unwrap();
    let mut producer = ring.producer().unwrap();
    let name = seg.name.clone();
    let ready = Pipe::new();
    let mut killed = fork_child(|| {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        let _c = ring.consumer("journal").map_err(|e| e.to_string())?;
        ready.send(b"r");
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    assert!(ready.recv(1, ATTACH).is_some());
    assert!(matches!(
        ring.release_declared("journal"),
        Err(seqflow_shm::ShmError::DeclaredInUse { .. })
    ));
    killed.kill();
    ring.release_declared("journal").unwrap();
    for i in 0..40u64 {
        producer.try_publish(|e, _| *e = i).unwrap();
    }
}

/// Multi-producer options with `declared` consumers and a short liveness interval.
fn multi_declared(declared: &[&str]) -> ShmOptions {
    ShmOptions {
        declared_consumers: declared.iter().map(|s| s.to_string()).collect(),
        ..options(ProducerMode::MultiCas)
    }
}

/// Poll `c` until it has handled `upto`: the events as (sequence, value) and the errors met.
fn drain_through(c: &mut ShmConsumer<u64>, upto: i64) -> (Vec<(i64, u64)>, Vec<ConsumeError>) {
    let (mut got, mut errors) = (Vec::new(), Vec::new());
    let start = Instant::now();
    while c.sequence() < upto && start.elapsed() < Duration::from_secs(30) {
        if let Err(e) = c.poll_batch(Some(Duration::from_millis(200)), |e, seq, _| {
            got.push((seq, *e))
        }) {
            errors.push(e);
        }
    }
    (got, errors)
}

/// Fork a producer of the ring `name` that claims 3 slots (recorded in its producer slot) and
/// kill it before it publishes them.
fn kill_a_producer_holding_a_claim_of_3(name: &str) {
    let claimed = Pipe::new();
    let mut child = fork_child(|| {
        let ring = ShmRing::<u64>::open(name, ATTACH).map_err(|e| e.to_string())?;
        let mut p = ring.producer().map_err(|e| e.to_string())?;
        let _claim = p.claim(3).map_err(|e| e.to_string())?;
        claimed.send(b"c");
        std::thread::sleep(Duration::from_secs(60));
        Ok(())
    });
    claimed.recv(1, ATTACH).expect("the child claimed");
    child.kill();
}

/// A child claims 3 slots of a multi-producer ring and is killed before publishing them; the
/// parent publishes 3 more. A declared consumer that attaches only now starts behind the dead
/// claim and must be told of it, as one attached all along is, whether or not another
/// consumer has already had the claim released.
fn declared_consumer_attaching_after_a_death_is_told_of_the_dead_claim() {
    for released_first in [false, true] {
        let seg = Seg::new("late-declared");
        let ring =
            ShmRing::<u64>::create(&seg.name, 8, multi_declared(&["journal", "audit"])).unwrap();
        kill_a_producer_holding_a_claim_of_3(&seg.name);
        let mut p = ring.producer().unwrap();
        for _ in 0..3 {
            p.publish(|e, seq| *e = 100 + seq as u64).unwrap();
        }
        if released_first {
            let mut audit = ring.consumer("audit").unwrap();
            let (_, errors) = drain_through(&mut audit, 5);
            assert!(errors
                .iter()
                .any(|e| matches!(e, ConsumeError::ProducerDied { .. })));
        }
        let mut journal = ring.consumer("journal").unwrap();
        let (got, errors) = drain_through(&mut journal, 5);
        let told = errors.iter().any(|e| {
            matches!(e, ConsumeError::ProducerDied { claimed: Some(r), .. }
                if r.start() == 0 && r.end() == 2)
        });
        assert!(
            told,
            "released first: {released_first}; errors {errors:?}, events {got:?}"
        );
        let after: Vec<_> = got.iter().filter(|(seq, _)| *seq > 2).copied().collect();
        assert_eq!(after, vec![(3, 103), (4, 104), (5, 105)]);
    }
}

/// A child claims 3 slots of a multi-producer ring and is killed before writing them; a
/// consumer has the claim released (its slots published as they stood). `read_last` is the
/// newest event a producer wrote, never a released slot, before and after the next publish.
fn read_last_skips_a_dead_producers_released_claim() {
    let seg = Seg::new("last-released");
    let ring = ShmRing::<u64>::create(&seg.name, 8, options(ProducerMode::MultiCas)).unwrap();
    let mut c = ring.consumer("c").unwrap();
    let mut p = ring.producer().unwrap();
    for _ in 0..3 {
        p.publish(|e, seq| *e = 100 + seq as u64).unwrap();
    }
    kill_a_producer_holding_a_claim_of_3(&seg.name);
    let (got, errors) = drain_through(&mut c, 5);
    // The consumer is told, then handed the released slots as they stand (as an in-process
    // claim dropped unpublished is).
    assert_eq!(got[..3], [(0, 100), (1, 101), (2, 102)], "{errors:?}");
    assert!(
        errors.iter().any(|e| matches!(
            e,
            ConsumeError::ProducerDied { claimed: Some(r), .. } if (r.start(), r.end()) == (3, 5)
        )),
        "{errors:?}"
    );
    assert_eq!(ring.published(), 5, "released: published as it stood");
    assert_eq!(ring.read_last(), Some((2, 102)));
    p.publish(|e, seq| *e = 100 + seq as u64).unwrap();
    assert_eq!(ring.read_last(), Some((6, 106)));
}

/// Fork a producer of the multi-producer ring `name` that claims 2 slots and is killed right
/// after its claim, before recording it: a hole nobody owns, not released yet.
fn leave_a_hole(name: &str) {
    let claimed = Pipe::new();
    let mut dying = fork_child(|| {
        let ring = ShmRing::<u64>::open(name, ATTACH).map_err(|e| e.to_string())?;
        let p = ring.producer().map_err(|e| e.to_string())?;
        // Claim 2 slots as a producer killed right after its claim, before recording it.
        seqflow_shm::testing::poke_producer_state(name, p.claimer().slot_index(), 1)
            .map_err(|e| e.to_string())?;
        seqflow_shm::testing::abandon_raw_claim(&ring, 2)
            .ok_or("not a multi-producer ring")?
            .map_err(|e| e.to_string())?;
        std::mem::forget(p);
        claimed.send(b"c");
        std::thread::sleep(Duration::from_secs(60));
        Ok(())
    });
    claimed.recv(1, ATTACH).expect("the dying producer claimed");
    dying.kill();
}

/// A producer dies between its claim and recording it (a hole nobody has released yet), and a
/// declared consumer attaches behind the hole before anyone released it: it is told once the
/// hole is released, as a consumer attached all along is.
fn declared_consumer_attaching_before_a_hole_is_released_is_told_of_it() {
    let seg = Seg::new("late-hole");
    let ring = ShmRing::<u64>::create(&seg.name, 8, multi_declared(&["journal", "audit"])).unwrap();
    // The live producer attaches first (its attach would otherwise release the hole).
    let mut p = ring.producer().unwrap();
    leave_a_hole(&seg.name);
    for _ in 0..3 {
        p.publish(|e, seq| *e = 100 + seq as u64).unwrap();
    }
    let mut journal = ring.consumer("journal").unwrap();
    let (got, errors) = drain_through(&mut journal, 4);
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, ConsumeError::ProducerDied { .. })),
        "journal was never told: errors {errors:?}, events {got:?}"
    );
    let after: Vec<_> = got.iter().filter(|(seq, _)| *seq > 1).copied().collect();
    assert_eq!(after, vec![(2, 102), (3, 103), (4, 104)]);
}

/// A producer dies between its claim and recording it (a hole nobody owns) while another,
/// live producer waits for room in a full ring. The hole must still be released: the waiting
/// producer must not look like one about to record a claim. Then every event arrives.
fn hole_is_released_while_a_live_producer_waits_for_room() {
    let seg = Seg::new("hole-full");
    let ring = ShmRing::<u64>::create(&seg.name, 8, options(ProducerMode::MultiCas)).unwrap();
    let mut c = ring.consumer("c").unwrap();
    let (attached, go, finished) = (Pipe::new(), Pipe::new(), Pipe::new());
    let name = seg.name.clone();
    let mut live = fork_child(|| {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        let mut p = ring.producer().map_err(|e| e.to_string())?;
        attached.send(b"a");
        go.recv(1, ATTACH).ok_or("no go")?;
        for i in 0..20u64 {
            p.publish_timeout(Duration::from_secs(30), |e, _| *e = 1000 + i)
                .map_err(|e| e.to_string())?;
        }
        finished.send(b"f");
        Ok(())
    });
    attached
        .recv(1, ATTACH)
        .expect("the live producer attached");
    leave_a_hole(&seg.name);
    go.send(b"g");
    let (got, errors) = drain_through(&mut c, 21);
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, ConsumeError::ProducerDied { .. })),
        "the hole was reported: {errors:?}"
    );
    let values: Vec<u64> = got
        .iter()
        .filter(|(seq, _)| *seq >= 2)
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(
        values,
        (1000..1020).collect::<Vec<_>>(),
        "consumer at {}",
        c.sequence()
    );
    assert!(
        finished.recv(1, ATTACH).is_some(),
        "the live producer finished"
    );
    live.expect_success("live producer");
}

/// A hostile write moves a single producer's cursor far ahead (below any plausibility bound
/// on sequences): a consumer's wait reports the segment inconsistent instead of handing out
/// one batch of billions of events, several laps of the same 8 slots.
fn a_cursor_far_ahead_is_an_inconsistent_segment_not_an_endless_batch() {
    use std::os::unix::fs::FileExt;
    let seg = Seg::new("cursor-far");
    let ring = ShmRing::<u64>::create(&seg.name, 8, ShmOptions::default()).unwrap();
    let mut c = ring.consumer("c").unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/dev/shm{}", seg.name))
        .unwrap();
    // The header's table of region offsets starts at byte 128; the cursor's comes first.
    let mut word = [0u8; 8];
    file.read_exact_at(&mut word, 128).unwrap();
    file.write_all_at(&(1i64 << 31).to_le_bytes(), u64::from_le_bytes(word))
        .unwrap();
    let mut handled = 0u64;
    let result = c.poll_batch(Some(Duration::from_millis(10)), |_, _, _| handled += 1);
    assert_eq!(handled, 0);
    assert_eq!(
        result,
        Err(ConsumeError::Inconsistent {
            seq: 0,
            available: 1 << 31,
            capacity: 8
        })
    );
}

fn main() {
    if let Some(index) = seqflow_shm::worker_index() {
        // A spawned worker of `supervised_workers_report_failures`: worker 1 fails.
        std::process::exit(if index == 1 { 3 } else { 0 });
    }
    type Case = (&'static str, fn());
    let cases: &[Case] = &[
        (
            "workers_whose_status_cannot_be_known_are_reported",
            workers_whose_status_cannot_be_known_are_reported,
        ),
        (
            "try_publish_on_a_ring_held_full_by_the_dead_releases_it",
            try_publish_on_a_ring_held_full_by_the_dead_releases_it,
        ),
        (
            "releasing_a_killed_declared_consumer_needs_no_reap_first",
            releasing_a_killed_declared_consumer_needs_no_reap_first,
        ),
        (
            "sigkill_during_registration_leaks_no_slot",
            sigkill_during_registration_leaks_no_slot,
        ),
        (
            "sigkill_while_handling_is_counted_as_lost",
            sigkill_while_handling_is_counted_as_lost,
        ),
        (
            "pool_rejoin_after_workers_left_reads_no_overwritten_slot",
            pool_rejoin_after_workers_left_reads_no_overwritten_slot,
        ),
        (
            "consumer_after_lapped_subscriber_reads_no_overwritten_slot",
            consumer_after_lapped_subscriber_reads_no_overwritten_slot,
        ),
        (
            "timed_out_or_idle_worker_hides_nothing",
            timed_out_or_idle_worker_hides_nothing,
        ),
        (
            "extreme_liveness_intervals_do_not_panic",
            extreme_liveness_intervals_do_not_panic,
        ),
        (
            "fork_while_another_thread_registers",
            fork_while_another_thread_registers,
        ),
        (
            "sigstopped_registry_holder_is_a_timeout_not_a_hang",
            sigstopped_registry_holder_is_a_timeout_not_a_hang,
        ),
        (
            "sigstopped_consumer_holds_the_producer_then_gets_everything",
            sigstopped_consumer_holds_the_producer_then_gets_everything,
        ),
        (
            "dead_consumer_with_a_living_forked_child_is_released",
            dead_consumer_with_a_living_forked_child_is_released,
        ),
        (
            "declared_consumer_gets_what_was_published_before_it_attached",
            declared_consumer_gets_what_was_published_before_it_attached,
        ),
        (
            "declared_consumer_killed_resumes_where_it_stopped",
            declared_consumer_killed_resumes_where_it_stopped,
        ),
        (
            "declared_pool_handles_everything_exactly_once",
            declared_pool_handles_everything_exactly_once,
        ),
        (
            "sigkill_while_attaching_as_declared",
            sigkill_while_attaching_as_declared,
        ),
        (
            "declared_consumer_attaching_after_a_death_is_told_of_the_dead_claim",
            declared_consumer_attaching_after_a_death_is_told_of_the_dead_claim,
        ),
        (
            "declared_consumer_attaching_before_a_hole_is_released_is_told_of_it",
            declared_consumer_attaching_before_a_hole_is_released_is_told_of_it,
        ),
        (
            "hole_is_released_while_a_live_producer_waits_for_room",
            hole_is_released_while_a_live_producer_waits_for_room,
        ),
        (
            "a_cursor_far_ahead_is_an_inconsistent_segment_not_an_endless_batch",
            a_cursor_far_ahead_is_an_inconsistent_segment_not_an_endless_batch,
        ),
        (
            "inherited_handles_are_refused_in_a_forked_child",
            inherited_handles_are_refused_in_a_forked_child,
        ),
        (
            "supervised_workers_report_failures",
            supervised_workers_report_failures,
        ),
        (
            "declared_pool_joined_before_the_dead_worker_is_reaped",
            declared_pool_joined_before_the_dead_worker_is_reaped,
        ),
        (
            "sigkill_of_a_stage_process_resumes_without_loss",
            sigkill_of_a_stage_process_resumes_without_loss,
        ),
        (
            "read_last_skips_a_dead_producers_released_claim",
            read_last_skips_a_dead_producers_released_claim,
        ),
    ];
    common::run_cases(cases);
}
