//! Adversarial review 2 (forks, late joiners, kills and stops, init races), across processes.
//! `harness = false`: forks from a single-threaded main (a case that starts a thread joins it
//! before it returns).

mod common;

use common::{fork_child, lcg, Pipe, Seg};
use seqflow_shm::{
    ClaimError, ConsumeError, ProducerMode, ShmError, ShmOptions, ShmRing, WaitKind,
};
use std::time::{Duration, Instant};

const ATTACH: Duration = Duration::from_secs(5);
const READY: Duration = Duration::from_secs(5);

fn opts(mode: ProducerMode) -> ShmOptions {
    ShmOptions {
        producer: mode,
        wait: WaitKind::Futex,
        liveness_interval: Duration::from_millis(10),
        max_producers: 4,
        ..Default::default()
    }
}

/// Drain `c` until the ring reports `Closed`, within `limit`; the sequences read, and how
/// many `ProducerDied` reports came. Panics if the consumer is still waiting at the deadline.
fn drain_until_closed(
    c: &mut seqflow_shm::ShmConsumer<u64>,
    limit: Duration,
) -> (Vec<i64>, usize, i64) {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    let mut died = 0;
    loop {
        assert!(
            Instant::now() < deadline,
            "consumer still waiting {limit:?} after the close: read {seen:?}, {died} ProducerDied"
        );
        match c.poll_batch(Some(Duration::from_millis(100)), |_, s, _| seen.push(s)) {
            Ok(_) | Err(ConsumeError::Timeout) => {}
            Err(ConsumeError::ProducerDied { .. }) => died += 1,
            Err(ConsumeError::Closed { end }) => return (seen, died, end),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
}

/// A single producer is SIGKILLed holding a claim; then the ring is closed. Consumers must read
/// what was published, be told of the death, and then get `Closed`: the dead claim will never
/// be published (no producer may claim on a closed ring), so waiting for it is waiting for ever.
fn single_producer_killed_mid_claim_then_closed() {
    let seg = Seg::new("adv2-sp-close");
    let ring = ShmRing::<u64>::create(&seg.name, 8, opts(ProducerMode::Single)).unwrap();
    let mut c = ring.consumer("c").unwrap();
    // A stage thread too: its run must end once the closed ring is drained.
    let stage = ring
        .stage("st")
        .spawn(|_: &u64, _: i64, _: bool| {})
        .unwrap();
    let ready = Pipe::new();
    let name = seg.name.clone();
    let mut child = fork_child(|| {
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
    child.kill();
    // Inspection shows the dead producer's pending claim (a single producer records only its
    // end; the claim is what lies between the cursor and it).
    let info = ring.inspect();
    let p = &info.producers[0];
    assert_eq!((p.state, p.alive), ("claimed", false), "{info}");
    assert_eq!(
        p.claimed,
        seqflow_sequencer::SequenceRange::new(3, 4),
        "{info}"
    );
    let end = ring.close();
    let (seen, died, closed_end) = drain_until_closed(&mut c, Duration::from_secs(3));
    assert_eq!(seen, vec![0, 1, 2]);
    assert_eq!(died, 1, "the death is reported once");
    eprintln!("close() said {end}, consumers were told {closed_end}");
    assert_eq!(closed_end, 2, "the dead claim (3..=4) is never published");
    assert_eq!(
        ring.closed_at(),
        Some(2),
        "closed_at agrees with what consumers are told"
    );
    let info = ring.inspect();
    assert_eq!(
        (info.closed_at, info.readers_end),
        (Some(end), Some(2)),
        "inspect shows the close's end and where readers stop: {info}"
    );
    assert_eq!(end, 4, "the close's end covers the recorded claim");
    assert!(info.to_string().contains("readers end at 2"), "{info}");
    let (tx, rx) = std::sync::mpsc::channel();
    let joiner = std::thread::spawn(move || tx.send(stage.join()).unwrap());
    match rx.recv_timeout(Duration::from_secs(3)) {
        Ok(report) => {
            let report = report.expect("the stage ends");
            assert_eq!(report.sequence, 2, "{report:?}");
            joiner.join().unwrap();
        }
        Err(_) => {
            // Leave the stuck thread behind (the test binary exits with the failure).
            panic!("the stage is still running 3 s after the close");
        }
    }
}

/// As above, but a new producer took over after the death and published one event before the
/// close: the dead claim's end stays recorded in producer slot 0, and must not become the end
/// of the closed ring.
fn single_producer_replaced_after_death_then_closed() {
    let seg = Seg::new("adv2-sp-replace");
    let ring = ShmRing::<u64>::create(&seg.name, 8, opts(ProducerMode::Single)).unwrap();
    let mut c = ring.consumer("c").unwrap();
    let ready = Pipe::new();
    let name = seg.name.clone();
    let mut child = fork_child(|| {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        let mut p = ring.producer().map_err(|e| e.to_string())?;
        p.publish_batch(3, |e, s| *e = s as u64)
            .map_err(|e| e.to_string())?;
        let _claim = p.claim(4).map_err(|e| e.to_string())?;
        ready.send(b"r");
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    assert!(ready.recv(1, READY).is_some());
    child.kill();
    let mut p = ring.producer().unwrap();
    assert_eq!(p.publish(|e, s| *e = s as u64), Ok(3));
    let end = ring.close();
    assert_eq!(
        p.publish(|e, s| *e = s as u64),
        Err(ClaimError::Closed),
        "closed"
    );
    let (seen, _died, closed_end) = drain_until_closed(&mut c, Duration::from_secs(3));
    assert_eq!(seen, vec![0, 1, 2, 3]);
    eprintln!("close() said {end}, consumers were told {closed_end}");
}

/// A process opening a segment while another creates it must wait for it (`open` with a
/// timeout), never report the live creator dead. The creator holds no lock for the few
/// instructions between its `shm_open` and its first `fcntl`.
fn open_racing_create_never_says_creator_died() {
    let mut creator_died = 0;
    let mut other = Vec::new();
    let rounds = 150;
    for round in 0..rounds {
        let seg = Seg::new("adv2-initrace");
        let go = Pipe::new();
        let done = Pipe::new();
        let name = seg.name.clone();
        let mut child = fork_child(|| {
            go.recv(1, READY).ok_or("no go")?;
            let ring = ShmRing::<u64>::create(&name, 1 << 12, opts(ProducerMode::MultiCas))
                .map_err(|e| e.to_string())?;
            done.recv(1, READY).ok_or("no done")?;
            drop(ring);
            Ok(())
        });
        go.send(b"g");
        let deadline = Instant::now() + READY;
        let outcome = loop {
            match ShmRing::<u64>::open(&seg.name, ATTACH) {
                Err(ShmError::NotFound { .. }) if Instant::now() < deadline => {
                    std::hint::spin_loop();
                }
                other => break other,
            }
        };
        match outcome {
            Ok(_) => {}
            Err(ShmError::CreatorDied { .. }) => creator_died += 1,
            Err(e) => other.push(format!("round {round}: {e}")),
        }
        done.send(b"d");
        child.expect_success("creator");
    }
    eprintln!("{creator_died} of {rounds} opens said CreatorDied; others: {other:?}");
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(creator_died, 0, "a live creator was reported dead");
}

/// The single producer is SIGSTOPped for good, once idle and once inside a claim: every
/// consumer, subscriber and worker wait with a timeout returns within it, a second producer is
/// refused at once, and a close is seen.
fn single_producer_stopped_for_good() {
    for in_claim in [false, true] {
        let seg = Seg::new("adv2-sp-stop");
        let ring = ShmRing::<u64>::create(&seg.name, 8, opts(ProducerMode::Single)).unwrap();
        let mut c = ring.consumer("c").unwrap();
        let mut s = ring.subscriber("s").unwrap();
        let mut w = ring.worker("pool").unwrap();
        let ready = Pipe::new();
        let name = seg.name.clone();
        let mut child = fork_child(|| {
            let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
            let mut p = ring.producer().map_err(|e| e.to_string())?;
            p.publish_batch(2, |e, s| *e = s as u64)
                .map_err(|e| e.to_string())?;
            let claim = if in_claim {
                Some(p.claim(1).map_err(|e| e.to_string())?)
            } else {
                None
            };
            ready.send(b"r");
            // SAFETY: stopping ourselves.
            unsafe { libc::raise(libc::SIGSTOP) };
            drop(claim);
            Ok(())
        });
        assert!(ready.recv(1, READY).is_some());
        child.wait_stopped(READY);
        let t = Instant::now();
        assert_eq!(c.wait_for(0, Some(Duration::from_millis(200))), Ok(1));
        c.update_sequence(1).unwrap();
        assert_eq!(
            c.wait_for(2, Some(Duration::from_millis(200))),
            Err(ConsumeError::Timeout)
        );
        assert_eq!(s.next_timeout(Some(Duration::from_millis(200))), Ok((0, 0)));
        assert_eq!(s.next_timeout(Some(Duration::from_millis(200))), Ok((1, 1)));
        assert_eq!(
            s.next_timeout(Some(Duration::from_millis(200))),
            Err(ConsumeError::Timeout)
        );
        assert!(w
            .process(Some(Duration::from_millis(200)), |_, _| ())
            .is_ok());
        assert!(w
            .process(Some(Duration::from_millis(200)), |_, _| ())
            .is_ok());
        assert_eq!(
            w.process(Some(Duration::from_millis(200)), |_, _| ())
                .map(|_| ()),
            Err(ConsumeError::Timeout)
        );
        assert!(matches!(
            ring.producer(),
            Err(ShmError::ProducerTaken { .. })
        ));
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        if !in_claim {
            ring.close();
            assert_eq!(
                c.wait_for(2, Some(Duration::from_millis(500))),
                Err(ConsumeError::Closed { end: 1 })
            );
        }
        child.kill();
    }
}

/// A multi-producer ring at full speed (two producer processes, a consumer keeping up): late
/// consumers, a stage after a late consumer and late subscribers join and leave over and over;
/// each sees, from where it started, every event of each producer in order with no gap.
///
/// It once stalled about 1 run in 20 (claim cursor a ring ahead of the published end, every
/// consumer waiting): newcomers started at the claim cursor, past claims still being written,
/// and let producers lap them (`tests/late_start.rs`). A round without progress for 10 s fails
/// with the ring's inspection.
fn late_joiners_on_a_running_multi_producer_ring() {
    let seg = Seg::new("adv2-late");
    let mut o = opts(ProducerMode::MultiCas);
    o.max_consumers = 16;
    let ring = ShmRing::<[u64; 2]>::create(&seg.name, 64, o).unwrap();
    let stop = Pipe::new();
    let mut producers = Vec::new();
    for id in 0..2u64 {
        let name = seg.name.clone();
        let stop_read = stop.read.try_clone().unwrap();
        producers.push(fork_child(move || {
            let ring = ShmRing::<[u64; 2]>::open(&name, ATTACH).map_err(|e| e.to_string())?;
            let mut p = ring.producer().map_err(|e| e.to_string())?;
            let mut n = 0u64;
            loop {
                match p.publish_timeout(Duration::from_millis(50), |e, _| *e = [id, n]) {
                    Ok(_) => n += 1,
                    Err(ClaimError::Timeout { .. }) => {}
                    Err(e) => return Err(format!("producer {id}: {e}")),
                }
                if n % 64 == 0 {
                    let mut pfd = libc::pollfd {
                        fd: std::os::fd::AsRawFd::as_raw_fd(&stop_read),
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    // SAFETY: one valid pollfd, no wait.
                    if unsafe { libc::poll(&mut pfd, 1, 0) } > 0 {
                        return Ok(());
                    }
                }
            }
        }));
    }
    // A consumer that keeps the ring moving, in the parent too (no wait here is long).
    let mut base = ring.consumer("base").unwrap();
    let mut k = 7u64;
    let started = Instant::now();
    let mut rounds = 0;
    while started.elapsed() < Duration::from_secs(4) {
        rounds += 1;
        let mut late = ring.consumer("late").unwrap();
        let mut after = ring.consumer_after("after-late", &["late"]).unwrap();
        let mut sub = ring.subscriber("sub").unwrap();
        let mut last = [None::<u64>; 2];
        let mut last_after = [None::<u64>; 2];
        let mut last_seq = None::<i64>;
        let n = 50 + lcg(&mut k) % 300;
        let mut got = 0;
        let round_deadline = Instant::now() + Duration::from_secs(10);
        while got < n {
            base.poll(|_, _, _| {}).unwrap();
            // A short wait: `base` runs on this thread too, and the producers fill the ring up
            // to it while `late` waits (a long wait here would wait on itself).
            let r = late.poll_batch(Some(Duration::from_millis(2)), |e, seq, _| {
                let [id, v] = *e;
                if let Some(prev) = last[id as usize] {
                    assert_eq!(v, prev + 1, "late consumer: producer {id} gap at {seq}");
                }
                last[id as usize] = Some(v);
                if let Some(p) = last_seq {
                    assert_eq!(seq, p + 1);
                }
                last_seq = Some(seq);
            });
            match r {
                Ok(k) => got += k as u64,
                Err(ConsumeError::Timeout) => {
                    assert!(
                        Instant::now() < round_deadline,
                        "late consumer made no progress for 10 s:\n{}",
                        ring.inspect()
                    );
                }
                Err(e) => panic!("late consumer: {e:?}"),
            }
            after
                .poll(|e, seq, _| {
                    let [id, v] = *e;
                    assert!(seq <= last_seq.unwrap(), "after overtook late");
                    if let Some(prev) = last_after[id as usize] {
                        assert_eq!(v, prev + 1, "after: producer {id} gap at {seq}");
                    }
                    last_after[id as usize] = Some(v);
                })
                .unwrap();
            match sub.try_next() {
                Ok(_) | Err(ConsumeError::Lapped { .. }) | Err(ConsumeError::Timeout) => {}
                Err(e) => panic!("subscriber: {e:?}"),
            }
        }
    }
    stop.send(b"ss");
    for mut p in producers {
        // Drain so that a producer waiting for room sees the stop.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            base.poll(|_, _, _| {}).unwrap();
            let mut status = 0;
            // SAFETY: plain waitpid on our child.
            if unsafe { libc::waitpid(p.pid, &mut status, libc::WNOHANG) } == p.pid {
                assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
                std::mem::forget(p);
                break;
            }
            assert!(Instant::now() < deadline, "producer did not stop");
            std::thread::sleep(Duration::from_millis(1));
            let _ = &mut p;
        }
    }
    eprintln!("{rounds} rounds of late joiners");
}

/// A declared consumer attached and detached over and over (dormant in between) while a
/// multi-producer child process publishes many laps: it reads every event exactly once, in
/// order, whoever attached as it.
fn declared_consumer_reattached_over_many_laps() {
    let seg = Seg::new("adv2-declared");
    let mut o = opts(ProducerMode::MultiCas);
    o.declared_consumers = vec!["d".into()];
    let ring = ShmRing::<u64>::create(&seg.name, 8, o).unwrap();
    let total = 3000u64;
    let name = seg.name.clone();
    let mut child = fork_child(move || {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        let mut p = ring.producer().map_err(|e| e.to_string())?;
        for i in 0..total {
            p.publish_timeout(Duration::from_secs(5), |e, _| *e = i)
                .map_err(|e| format!("{i}: {e}"))?;
        }
        Ok(())
    });
    let mut next = 0u64;
    let mut k = 3u64;
    let deadline = Instant::now() + Duration::from_secs(10);
    while next < total {
        assert!(Instant::now() < deadline, "stuck at {next}");
        let mut d = ring.consumer("d").unwrap();
        assert_eq!(d.sequence() + 1, next as i64);
        let budget = 1 + lcg(&mut k) % 12;
        let mut taken = 0;
        while taken < budget && next < total {
            let hi = match d.wait_for(next as i64, Some(Duration::from_millis(500))) {
                Ok(hi) => hi.min(next as i64 + (budget - taken) as i64 - 1),
                Err(ConsumeError::Timeout) => continue,
                Err(e) => panic!("{e:?}"),
            };
            for s in next as i64..=hi {
                assert_eq!(*d.get(s).unwrap(), s as u64);
            }
            d.update_sequence(hi).unwrap();
            taken += (hi + 1 - next as i64) as u64;
            next = hi as u64 + 1;
        }
        drop(d);
    }
    child.expect_success("producer");
}

/// A fork while another thread of the parent sleeps in a futex wait on the ring, and while the
/// main thread holds a claim, a consumer, a worker and a subscriber: the child's inherited
/// handles refuse to work (`ForkedHandle`), dropping them releases nothing, and the child can
/// register anew; the parent's waiting thread and claim are unaffected.
fn fork_with_a_waiting_thread_and_open_handles() {
    let seg = Seg::new("adv2-forkwait");
    let ring = ShmRing::<u64>::create(&seg.name, 8, opts(ProducerMode::MultiCas)).unwrap();
    let waiter_ring = ring.clone();
    let mut waiter_consumer = waiter_ring.consumer("waiter").unwrap();
    let waiter = std::thread::spawn(move || {
        // Blocks in the futex wait until the parent publishes 0.
        let r = waiter_consumer.wait_for(0, Some(Duration::from_secs(8)));
        (r, waiter_consumer.get(0).copied())
    });
    std::thread::sleep(Duration::from_millis(100));
    let mut c = ring.consumer("c").unwrap();
    let mut w = ring.worker("pool").unwrap();
    let mut s = ring.subscriber("s").unwrap();
    let mut p = ring.producer().unwrap();
    let mut claim = p.claim(1).unwrap();
    *claim.get_mut(0).unwrap() = 41;
    let name = seg.name.clone();
    // SAFETY: the other thread is parked in a futex wait; the child only uses seqflow handles
    // (whose fork handlers reset their locks) and exits with `_exit`.
    // SAFETY: see above.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let got_a_slot = claim.get_mut(0).is_some();
        drop(claim);
        let outcome = (move || -> Result<(), String> {
            let t = Instant::now();
            if got_a_slot {
                return Err("the child got a slot of the parent's claim".into());
            }
            if c.wait_for(0, Some(Duration::from_millis(10))) != Err(ConsumeError::ForkedHandle) {
                return Err("inherited consumer usable".into());
            }
            if w.process(Some(Duration::from_millis(10)), |_, _| ())
                .map(|_| ())
                != Err(ConsumeError::ForkedHandle)
            {
                return Err("inherited worker usable".into());
            }
            if s.next_timeout(Some(Duration::from_millis(10))).map(|_| ())
                != Err(ConsumeError::ForkedHandle)
            {
                return Err("inherited subscriber usable".into());
            }
            if p.try_publish(|e, _| *e = 99) != Err(ClaimError::ForkedHandle) {
                return Err("inherited producer usable".into());
            }
            drop((c, w, s, p));
            // New handles through the inherited ring and through a fresh open.
            let mut mine = ring.consumer("child").map_err(|e| e.to_string())?;
            let ring2 = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
            let mut p2 = ring2.producer().map_err(|e| e.to_string())?;
            let seq = p2.publish(|e, _| *e = 7).map_err(|e| e.to_string())?;
            // The parent's claim on 0 is still being written: the child's consumer started at
            // the published end (-1), so it waits for 0 and cannot reach its own event yet.
            if seq != 1 || mine.sequence() != -1 {
                return Err(format!(
                    "child published {seq}, consumer at {}",
                    mine.sequence()
                ));
            }
            match mine.wait_for(seq, Some(Duration::from_millis(100))) {
                Err(ConsumeError::Timeout) => {}
                other => {
                    return Err(format!(
                        "child consumer passed the parent's claim: {other:?}"
                    ))
                }
            }
            if t.elapsed() > Duration::from_secs(5) {
                return Err("slow child".into());
            }
            Ok(())
        })();
        if let Err(e) = &outcome {
            eprintln!("forked child: {e}");
        }
        // SAFETY: end the child without running the parent's destructors.
        unsafe { libc::_exit(i32::from(outcome.is_err())) }
    }
    let mut child = common::Child::adopt(pid);
    child.expect_success("forked child");
    // The parent: its claim and handles are intact.
    assert_eq!(claim.commit().start(), 0);
    let (r, v) = waiter.join().unwrap();
    assert!(matches!(r, Ok(hi) if hi >= 0), "{r:?}");
    assert_eq!(v, Ok(41));
    assert_eq!(
        c.wait_for(0, Some(Duration::from_secs(1))).map(|_| ()),
        Ok(())
    );
    assert_eq!(c.get(0), Ok(&41));
    assert_eq!(c.get(1), Ok(&7));
    assert!(w.process(Some(Duration::from_secs(1)), |e, _| *e).is_ok());
    assert!(p.try_publish(|e, _| *e = 2).is_ok());
    let info = ring.inspect();
    assert!(
        info.consumers.iter().all(|x| x.name != "child"),
        "the child's consumer was released: {info}"
    );
    assert!(info.consumers.iter().any(|x| x.name == "c" && x.alive));
}

/// A close interrupted halfway (the stopping mark set and the closed word left at CLOSING, as
/// by a closer SIGKILLed between its two steps) is finished by whoever looks next, and nothing
/// accepted is lost: consumers drain and get `Closed`.
/// - A single producer claims before it looks at the status line, so its claim is recorded
///   when it finishes the close: the close takes it in (`Ok`), and the next claim is refused.
/// - A multi producer looks first, finishes the close without its claim, and is refused.
fn close_interrupted_halfway() {
    const CLOSED_WORD: u64 = 384 + 32; // status block, fifth word
    const STOPPING_WORD: u64 = 384 + 48; // status block, seventh word: set before CLOSING
    for mode in [ProducerMode::Single, ProducerMode::MultiCas] {
        let seg = Seg::new("adv2-closing");
        let ring = ShmRing::<u64>::create(&seg.name, 8, opts(mode)).unwrap();
        let mut c = ring.consumer("c").unwrap();
        let mut p = ring.producer().unwrap();
        p.publish_batch(3, |e, s| *e = s as u64).unwrap();
        {
            use std::os::unix::fs::FileExt;
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(format!("/dev/shm{}", seg.name))
                .unwrap();
            f.write_all_at(&1u64.to_le_bytes(), STOPPING_WORD).unwrap();
            f.write_all_at(&u64::MAX.to_le_bytes(), CLOSED_WORD)
                .unwrap();
        }
        let end = match mode {
            ProducerMode::Single => {
                assert_eq!(p.try_publish(|e, _| *e = 9), Ok(3));
                3
            }
            _ => {
                assert_eq!(p.try_publish(|e, _| *e = 9), Err(ClaimError::Closed));
                2
            }
        };
        assert_eq!(p.try_publish(|e, _| *e = 10), Err(ClaimError::Closed));
        assert_eq!(p.publish(|e, _| *e = 11), Err(ClaimError::Closed));
        let (seen, died, drained_end) = drain_until_closed(&mut c, Duration::from_secs(2));
        assert_eq!(
            (seen, died, drained_end),
            ((0..=end).collect::<Vec<i64>>(), 0, end),
            "{mode:?}"
        );
        assert_eq!(ring.closed_at(), Some(end));
    }
}

/// A child halts the ring everywhere and is then killed; a multi producer child is SIGKILLed
/// while waiting for room in a full ring. Waits end with `Alerted`, claims with `Halted`.
fn halt_all_from_a_killed_child() {
    let seg = Seg::new("adv2-halt");
    let ring = ShmRing::<u64>::create(&seg.name, 4, opts(ProducerMode::MultiCas)).unwrap();
    let mut c = ring.consumer("c").unwrap();
    let name = seg.name.clone();
    let waiting = Pipe::new();
    let mut blocked = fork_child(|| {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        let mut p = ring.producer().map_err(|e| e.to_string())?;
        for i in 0..4 {
            p.publish(|e, _| *e = i).map_err(|e| e.to_string())?;
        }
        waiting.send(b"w");
        // Full: waits for room until the halt.
        match p.publish_timeout(Duration::from_secs(8), |e, _| *e = 4) {
            Err(ClaimError::Halted) => Ok(()),
            other => Err(format!("blocked producer: {other:?}")),
        }
    });
    assert!(waiting.recv(1, READY).is_some());
    let name = seg.name.clone();
    let mut halter = fork_child(|| {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        ring.halt_all();
        Ok(())
    });
    halter.expect_success("halter");
    let t = Instant::now();
    blocked.expect_success("blocked producer");
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(
        c.wait_for(0, Some(Duration::from_secs(1))),
        Err(ConsumeError::Alerted)
    );
    assert!(ring.halted_by().is_some());
}

/// A multi producer dies holding a claim while several consumer processes spin on the hole.
/// Whoever releases the claim marks its slots published: every consumer must be told
/// (`ProducerDied` with the range) before it reads them, never hand out their stale contents
/// as events. Consumers that see the marks before the report read an event that never was.
fn released_claim_is_reported_before_it_is_read() {
    let rounds: usize = std::env::var("SEQFLOW_ADV2_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let mut violations = Vec::new();
    for round in 0..rounds {
        let seg = Seg::new("adv2-release-order");
        let mut o = opts(ProducerMode::MultiCas);
        o.wait = WaitKind::BusySpin;
        o.liveness_interval = Duration::from_millis(1);
        let ring = ShmRing::<u64>::create(&seg.name, 16, o).unwrap();
        // Values: seq * 10 + 1 for a real event; what the slots held before is 0.
        let mut consumers = Vec::new();
        let report = Pipe::new();
        let ready = Pipe::new();
        for i in 0..3 {
            let name = seg.name.clone();
            let report_w = report.write.try_clone().unwrap();
            let ready = &ready;
            consumers.push(fork_child(move || {
                let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
                let mut c = ring.consumer(&format!("c{i}")).map_err(|e| e.to_string())?;
                ready.send(b"r");
                let mut told: Vec<(i64, i64)> = Vec::new();
                let mut bad = 0u8;
                let mut next = 0i64;
                let deadline = Instant::now() + Duration::from_secs(5);
                while next < 6 && Instant::now() < deadline {
                    match c.wait_for(next, Some(Duration::from_millis(50))) {
                        Ok(hi) => {
                            for s in next..=hi.min(5) {
                                let v = *c.get(s).map_err(|e| format!("{e:?}"))?;
                                let reported = told.iter().any(|&(a, b)| a <= s && s <= b);
                                if v != s as u64 * 10 + 1 && !reported {
                                    bad += 1;
                                }
                            }
                            c.update_sequence(hi.min(5)).map_err(|e| format!("{e:?}"))?;
                            next = hi.min(5) + 1;
                        }
                        Err(ConsumeError::ProducerDied {
                            claimed: Some(r), ..
                        }) => told.push((r.start(), r.end())),
                        Err(ConsumeError::Timeout) => {}
                        Err(e) => return Err(format!("{e:?}")),
                    }
                }
                let w = Pipe {
                    read: report_w.try_clone().unwrap(),
                    write: report_w,
                };
                w.send(&[bad, u8::from(next == 6)]);
                Ok(())
            }));
        }
        for _ in 0..3 {
            assert!(ready.recv(1, READY).is_some());
        }
        let name = seg.name.clone();
        let held = Pipe::new();
        let mut dying = fork_child(|| {
            let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
            let mut p = ring.producer().map_err(|e| e.to_string())?;
            p.publish_batch(2, |e, s| *e = s as u64 * 10 + 1)
                .map_err(|e| e.to_string())?;
            let _claim = p.claim(1).map_err(|e| e.to_string())?; // sequence 2
            held.send(b"h");
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        assert!(held.recv(1, READY).is_some());
        let mut p = ring.producer().unwrap();
        p.publish_batch(3, |e, s| *e = s as u64 * 10 + 1).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        dying.kill();
        for c in consumers.iter_mut() {
            c.expect_success("consumer");
        }
        for _ in 0..3 {
            let r = report.recv(2, READY).expect("consumer report");
            if r[0] > 0 || r[1] != 1 {
                violations.push(format!("round {round}: {r:?}"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "consumers read a released slot as an event before being told: {violations:?}"
    );
}

/// The window `open_racing_create_never_says_creator_died` aims at, made deterministic: the
/// name exists as an empty file with no lock (a creator between its `shm_open` and its first
/// `fcntl`); 200 ms later the "creator" takes its init lock and sizes the file, and stays
/// initialising. The opener must not have called it dead meanwhile: it waits out its timeout
/// (`NotReady`), as for any creator still initialising.
fn open_waits_for_a_creator_between_shm_open_and_its_lock() {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::FileExt;
    let seg = Seg::new("adv2-prelock");
    let path = format!("/dev/shm{}", seg.name);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .unwrap();
    let name = seg.name.clone();
    let opener = std::thread::spawn(move || {
        let t = Instant::now();
        let r = ShmRing::<u64>::open(&name, Duration::from_millis(1500));
        (r.map(|_| ()), t.elapsed())
    });
    std::thread::sleep(Duration::from_millis(200));
    // The creator's init lock (byte 1, exclusive, an OFD lock as seqflow takes it).
    // SAFETY: `flock` is a plain C struct; all-zero is valid (and `l_pid` must be 0).
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = 1;
    fl.l_len = 1;
    // SAFETY: a valid descriptor and a valid, exclusively borrowed `flock`.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &mut fl) };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    file.set_len(4096).unwrap();
    file.write_all_at(&u64::from_le_bytes(*b"SEQFLOW\x01").to_le_bytes(), 0)
        .unwrap();
    file.write_all_at(&1u32.to_le_bytes(), 24).unwrap(); // INITIALISING
    let (r, waited) = opener.join().unwrap();
    assert!(
        matches!(r, Err(ShmError::NotReady { .. })),
        "{r:?} after {waited:?}: a creator about to lock was called dead"
    );
    drop(file);
}

fn main() {
    common::run_cases(&[
        (
            "single_producer_killed_mid_claim_then_closed",
            single_producer_killed_mid_claim_then_closed,
        ),
        (
            "single_producer_replaced_after_death_then_closed",
            single_producer_replaced_after_death_then_closed,
        ),
        (
            "open_racing_create_never_says_creator_died",
            open_racing_create_never_says_creator_died,
        ),
        (
            "open_waits_for_a_creator_between_shm_open_and_its_lock",
            open_waits_for_a_creator_between_shm_open_and_its_lock,
        ),
        (
            "single_producer_stopped_for_good",
            single_producer_stopped_for_good,
        ),
        (
            "late_joiners_on_a_running_multi_producer_ring",
            late_joiners_on_a_running_multi_producer_ring,
        ),
        (
            "declared_consumer_reattached_over_many_laps",
            declared_consumer_reattached_over_many_laps,
        ),
        (
            "fork_with_a_waiting_thread_and_open_handles",
            fork_with_a_waiting_thread_and_open_handles,
        ),
        ("close_interrupted_halfway", close_interrupted_halfway),
        ("halt_all_from_a_killed_child", halt_all_from_a_killed_child),
        (
            "released_claim_is_reported_before_it_is_read",
            released_claim_is_reported_before_it_is_read,
        ),
    ]);
}
