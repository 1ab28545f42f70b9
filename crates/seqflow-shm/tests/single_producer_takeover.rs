//! A single producer of a shared ring records only its claim's end, and a new producer takes
//! over the slot of one that died mid-claim. Kills mid-claim with live consumers, stages and
//! lossy readers; replacements that die idle or claim less; closes after kills; corrupt slot
//! words. `harness = false`: forks from a single-threaded main.

mod common;

use common::{fork_child, Pipe, Seg};
use seqflow_sequencer::SequenceRange;
use seqflow_shm::{ConsumeError, ProducerMode, ShmOptions, ShmRing, WaitKind};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ATTACH: Duration = Duration::from_secs(5);
const READY: Duration = Duration::from_secs(5);
const LONG: Option<Duration> = Some(Duration::from_secs(3));
const SHORT: Option<Duration> = Some(Duration::from_millis(300));

fn opts() -> ShmOptions {
    ShmOptions {
        producer: ProducerMode::Single,
        wait: WaitKind::Futex,
        liveness_interval: Duration::from_millis(10),
        ..Default::default()
    }
}

/// Fork a single producer on `name` that publishes `published` events (value `seq * 10`),
/// claims `claim` more, writes 999 into them, and waits to be killed. Returns it and its pid.
fn dying_producer(name: &str, published: usize, claim: usize) -> (common::Child, u32) {
    let ready = Pipe::new();
    let child = fork_child(|| {
        let ring = ShmRing::<u64>::open(name, ATTACH).map_err(|e| e.to_string())?;
        let mut p = ring.producer().map_err(|e| e.to_string())?;
        if published > 0 {
            p.publish_batch(published, |e, s| *e = s as u64 * 10)
                .map_err(|e| e.to_string())?;
        }
        let mut c = p.claim(claim).map_err(|e| e.to_string())?;
        for e in c.iter_mut() {
            *e = 999;
        }
        ready.send(b"r");
        let _hold = c;
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    assert!(ready.recv(1, READY).is_some(), "the producer claimed");
    let pid = child.pid as u32;
    (child, pid)
}

/// Fork a single producer on `name` (capacity 8) that publishes 0..=7 (value `seq * 10`) and
/// says so on the first pipe; on the third pipe's word publishes 8..=9, claims 10..=13 (the
/// slots of 2..=5), writes 999 into them, says so on the second pipe and waits to be killed.
fn wrapping_producer(name: &str) -> (common::Child, Pipe, Pipe, Pipe) {
    let (a, b, go) = (Pipe::new(), Pipe::new(), Pipe::new());
    let child = fork_child(|| {
        let ring = ShmRing::<u64>::open(name, ATTACH).map_err(|e| e.to_string())?;
        let mut p = ring.producer().map_err(|e| e.to_string())?;
        p.publish_batch(8, |e, s| *e = s as u64 * 10)
            .map_err(|e| e.to_string())?;
        a.send(b"a");
        go.recv(1, READY).ok_or("no go")?;
        p.publish_batch(2, |e, s| *e = s as u64 * 10)
            .map_err(|e| e.to_string())?;
        let mut claim = p.claim(4).map_err(|e| e.to_string())?;
        for e in claim.iter_mut() {
            *e = 999;
        }
        b.send(b"b");
        let _hold = claim;
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    (child, a, b, go)
}

/// Store `value` into the word at `field` (16: `start`, the inherited mark; 24: `end`) of
/// producer slot 0, as a corrupt or foreign writer would.
fn poke_slot0(name: &str, field: u64, value: i64) {
    use seqflow_shm::testing::{poke_header, Field};
    let off = poke_header(name, Field::Offset(4), 0).unwrap();
    poke_header(name, Field::Offset(4), off).unwrap();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/dev/shm{name}"))
        .unwrap();
    // ProducerSlot: owner u32, state u32, generation u64, start i64, end i64.
    file.write_all_at(&value.to_ne_bytes(), off + field)
        .unwrap();
}

/// Killed mid-claim on a wrapped ring (the claim overwrites slots a lossy reader has not read
/// yet): the consumer, the subscriber, a stage and a lossy stage are each told once, the
/// subscriber skips the overwritten slots (the recorded end), nobody reads the dead claim's
/// bytes, and a replacement producer carries on from the cursor.
fn killed_mid_claim_on_a_wrapped_ring() {
    let seg = Seg::new("adv3-wrap");
    let ring = ShmRing::<u64>::create(&seg.name, 8, opts()).unwrap();
    let mut c = ring.consumer("c").unwrap();
    let mut s = ring.subscriber("s").unwrap();
    let staged = Arc::new(Mutex::new(Vec::new()));
    let lossy = Arc::new(Mutex::new(Vec::new()));
    let (st, ls) = (Arc::clone(&staged), Arc::clone(&lossy));
    let stage = ring
        .stage("st")
        .spawn(move |e: &u64, seq: i64, _: bool| st.lock().unwrap().push((seq, *e)))
        .unwrap();
    let lstage = ring
        .subscriber_stage("ls")
        .spawn(move |e: &u64, seq: i64, _: bool| ls.lock().unwrap().push((seq, *e)))
        .unwrap();
    let (mut child, a, b, go) = wrapping_producer(&seg.name);
    assert!(a.recv(1, READY).is_some());
    assert_eq!(c.wait_for(0, LONG), Ok(7));
    c.update_sequence(7).unwrap();
    go.send(b"g");
    assert!(b.recv(1, READY).is_some());
    let pid = child.pid as u32;
    child.kill();
    let dead = SequenceRange::new(10, 13);

    let info = ring.inspect();
    let p = &info.producers[0];
    assert_eq!(
        (p.state, p.claimed, p.alive),
        ("claimed", dead, false),
        "{info}"
    );

    assert_eq!(c.wait_for(8, LONG), Ok(9));
    c.update_sequence(9).unwrap();
    assert_eq!(
        c.wait_for(10, LONG),
        Err(ConsumeError::ProducerDied {
            pid,
            seq: 10,
            claimed: dead
        })
    );
    assert_eq!(
        c.wait_for(10, SHORT),
        Err(ConsumeError::Timeout),
        "told once"
    );

    assert_eq!(
        s.next_timeout(LONG),
        Err(ConsumeError::Lapped {
            missed: 6,
            resume_at: 6
        }),
        "the recorded end says slots of 2..=5 are being overwritten"
    );
    for seq in 6..10 {
        assert_eq!(s.next_timeout(LONG), Ok((seq, seq as u64 * 10)));
    }
    assert!(matches!(
        s.next_timeout(LONG),
        Err(ConsumeError::ProducerDied { claimed, .. }) if claimed == dead
    ));
    assert_eq!(s.next_timeout(SHORT), Err(ConsumeError::Timeout));

    // A replacement carries on from the cursor.
    let mut p = ring.producer().unwrap();
    assert_eq!(p.publish(|e, _| *e = 100), Ok(10));
    assert_eq!(c.wait_for(10, LONG), Ok(10));
    assert_eq!(c.get(10), Ok(&100));
    c.update_sequence(10).unwrap();
    assert_eq!(s.next_timeout(LONG), Ok((10, 100)));
    assert_eq!(c.wait_for(11, SHORT), Err(ConsumeError::Timeout));
    let info = ring.inspect();
    assert_eq!(
        (info.producers[0].state, info.producers[0].claimed),
        ("idle", None),
        "{info}"
    );

    let deadline = Instant::now() + Duration::from_secs(3);
    while staged.lock().unwrap().len() < 11 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    stage.stop();
    lstage.stop();
    stage.join().unwrap();
    lstage.join().unwrap();
    let staged = staged.lock().unwrap().clone();
    let want: Vec<(i64, u64)> = (0..10)
        .map(|s| (s, s as u64 * 10))
        .chain([(10, 100)])
        .collect();
    assert_eq!(staged, want);
    let lossy = lossy.lock().unwrap().clone();
    assert!(
        lossy
            .iter()
            .all(|&(s, e)| e != 999 && (e == s as u64 * 10 || (s, e) == (10, 100))),
        "{lossy:?}"
    );
}

/// A producer replaces one that died mid-claim, and is itself killed before claiming anything:
/// it held no claim, so nobody may be told it died holding one (layout 6 reset the slot's state
/// at attach; layout 7 derives "claimed" from the stale end of the first producer's claim).
fn replacement_killed_before_claiming_is_not_reported() {
    let seg = Seg::new("adv3-repl");
    let ring = ShmRing::<u64>::create(&seg.name, 8, opts()).unwrap();
    let mut c = ring.consumer("c").unwrap();
    let (mut a, a_pid) = dying_producer(&seg.name, 3, 2);
    a.kill();
    assert!(matches!(
        c.wait_for(3, LONG),
        Err(ConsumeError::ProducerDied { pid, .. }) if pid == a_pid
    ));
    let ready = Pipe::new();
    let name = seg.name.clone();
    let mut b = fork_child(|| {
        let ring = ShmRing::<u64>::open(&name, ATTACH).map_err(|e| e.to_string())?;
        let _p = ring.producer().map_err(|e| e.to_string())?;
        ready.send(b"r");
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    assert!(ready.recv(1, READY).is_some());
    let info = ring.inspect();
    eprintln!("live replacement, no claim yet:\n{info}");
    let live = (info.producers[0].state, info.producers[0].claimed);
    b.kill();
    let mut late = ring.consumer("late").unwrap();
    let got = (c.wait_for(3, SHORT), late.wait_for(3, SHORT));
    assert_eq!(
        got,
        (Err(ConsumeError::Timeout), Err(ConsumeError::Timeout)),
        "pid {} never claimed",
        b.pid
    );
    assert_eq!(live, ("idle", None), "a live producer with no claim");
}

/// A single producer killed mid-claim, a replacement attached (idle), then the ring closed:
/// nobody can publish the dead claim (claims on a closed ring are refused), so consumers must
/// get `Closed` at the cursor, not wait while the idle replacement lives.
fn close_after_kill_with_an_idle_replacement() {
    for close_first in [false, true] {
        let seg = Seg::new("adv3-close-repl");
        let ring = ShmRing::<u64>::create(&seg.name, 8, opts()).unwrap();
        let mut c = ring.consumer("c").unwrap();
        let (mut a, _) = dying_producer(&seg.name, 3, 2);
        a.kill();
        // Closed before the replacement attaches, the end covers the dead claim (3..=4); the
        // live replacement can publish nothing more, so readers must still end at 2.
        let early = close_first.then(|| ring.close());
        let mut p = ring.producer().unwrap();
        let end = early.unwrap_or_else(|| ring.close());
        assert_eq!(
            p.publish(|e, _| *e = 1),
            Err(seqflow_sequencer::ClaimError::Closed)
        );
        assert_eq!(c.wait_for(0, LONG), Ok(2));
        c.update_sequence(2).unwrap();
        let t = Instant::now();
        let mut outcomes = Vec::new();
        while t.elapsed() < Duration::from_secs(2) {
            match c.wait_for(3, SHORT) {
                Err(ConsumeError::Closed { end }) => {
                    outcomes.push(format!("Closed({end})"));
                    break;
                }
                other => outcomes.push(format!("{other:?}")),
            }
        }
        assert_eq!(
            outcomes.last().map(String::as_str),
            Some("Closed(2)"),
            "close first: {close_first}; close() said {end}; {outcomes:?}"
        );
        assert_eq!(ring.closed_at(), Some(2), "close first: {close_first}");
    }
}

/// A corrupt `end` (far past any claim) when a replacement takes over must not leave lossy
/// readers lapped for ever: once the replacement publishes, they read again.
fn a_corrupt_end_does_not_blind_lossy_readers_for_ever() {
    for bad in [i64::MAX, 1 << 40] {
        let seg = Seg::new("adv3-corrupt-sticky");
        let ring = ShmRing::<u64>::create(&seg.name, 8, opts()).unwrap();
        let (mut a, _) = dying_producer(&seg.name, 3, 2);
        a.kill();
        poke_slot0(&seg.name, 24, bad);
        let mut p = ring.producer().unwrap();
        let mut s = ring.subscriber("s").unwrap();
        let mut got = Vec::new();
        for i in 0..40u64 {
            p.publish(|e, _| *e = i).unwrap();
            match s.next_timeout(SHORT) {
                Ok((seq, _)) => got.push(seq),
                Err(ConsumeError::Lapped { .. }) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        assert!(
            got.len() > 20,
            "end {bad}: 40 events over 5 laps, read only {got:?}; read_last = {:?}",
            ring.read_last()
        );
        assert!(ring.read_last().is_some());
        // A corrupt mark written while the producer runs is ignored too.
        poke_slot0(&seg.name, 16, bad);
        let before = got.len();
        for i in 0..8u64 {
            p.publish(|e, _| *e = i).unwrap();
            if let Ok((seq, _)) = s.next_timeout(SHORT) {
                got.push(seq);
            }
        }
        assert!(
            got.len() > before,
            "mark {bad}: nothing read after it was written"
        );
    }
}

/// Corrupt `end` and `start` words (i64::MAX, negative) in a dead single producer's slot:
/// inspection, consumers, subscribers, a replacement producer and a close must not panic.
fn corrupt_end_words() {
    for (field, bad) in [16, 24]
        .into_iter()
        .flat_map(|f| [i64::MAX, i64::MAX - 3, -5, i64::MIN].map(|v| (f, v)))
    {
        let seg = Seg::new("adv3-corrupt");
        let ring = ShmRing::<u64>::create(&seg.name, 8, opts()).unwrap();
        let mut c = ring.consumer("c").unwrap();
        let mut s = ring.subscriber("s").unwrap();
        let (mut a, _) = dying_producer(&seg.name, 3, 2);
        a.kill();
        poke_slot0(&seg.name, field, bad);
        let info = ring.inspect();
        eprintln!("word {field} = {bad}: {:?}", info.producers);
        let _ = format!("{info}");
        assert_eq!(c.wait_for(0, LONG), Ok(2));
        c.update_sequence(2).unwrap();
        let r = c.wait_for(3, SHORT);
        eprintln!("  consumer: {r:?}");
        for _ in 0..6 {
            let got = s.next_timeout(SHORT);
            eprintln!("  subscriber: {got:?}");
            // A corrupt word may lap the reader, never past what can still be published.
            if let Err(ConsumeError::Lapped { resume_at, .. }) = got {
                assert!(
                    resume_at <= ring.published() + 1,
                    "word {field} = {bad}: {got:?}"
                );
            }
        }
        let _ = ring.is_full();
        let _ = ring.read_last();
        if let Ok(mut p) = ring.producer() {
            let _ = p.try_publish(|e, _| *e = 1);
        }
        for _ in 0..3 {
            eprintln!("  subscriber: {:?}", s.next_timeout(SHORT));
        }
        let end = ring.close();
        eprintln!("  close: {end}; consumer then {:?}", c.wait_for(3, SHORT));
    }
}

/// A lossy reader behind a dead producer's partly written claim: the claim overwrote slots the
/// reader has not read yet. After a replacement's first (shorter) claim, the recorded end falls
/// back below the dead claim's end, and the reader must still not take the dead producer's
/// bytes for the old events (the inherited mark keeps them covered).
fn lossy_reader_after_a_replacement_never_reads_the_dead_claims_bytes() {
    let seg = Seg::new("adv3-tear");
    let ring = ShmRing::<u64>::create(&seg.name, 8, opts()).unwrap();
    let mut c = ring.consumer("c").unwrap();
    let mut s = ring.subscriber("s").unwrap();
    let (mut child, a, b, go) = wrapping_producer(&seg.name);
    assert!(a.recv(1, READY).is_some());
    for seq in 0..3 {
        assert_eq!(s.next_timeout(LONG), Ok((seq, seq as u64 * 10)));
    }
    assert_eq!(c.wait_for(0, LONG), Ok(7));
    c.update_sequence(7).unwrap();
    go.send(b"g");
    assert!(b.recv(1, READY).is_some());
    child.kill();
    let mut p = ring.producer().unwrap();
    assert_eq!(p.publish(|e, _| *e = 100), Ok(10));
    let mut read = Vec::new();
    loop {
        match s.next_timeout(SHORT) {
            Ok(got) => read.push(format!("{got:?}")),
            Err(ConsumeError::Timeout) => break,
            Err(e) => read.push(format!("{e:?}")),
        }
    }
    assert!(!read.iter().any(|r| r.contains("999")), "{read:?}");
}

fn main() {
    common::run_cases(&[
        (
            "killed_mid_claim_on_a_wrapped_ring",
            killed_mid_claim_on_a_wrapped_ring,
        ),
        (
            "replacement_killed_before_claiming_is_not_reported",
            replacement_killed_before_claiming_is_not_reported,
        ),
        (
            "close_after_kill_with_an_idle_replacement",
            close_after_kill_with_an_idle_replacement,
        ),
        (
            "a_corrupt_end_does_not_blind_lossy_readers_for_ever",
            a_corrupt_end_does_not_blind_lossy_readers_for_ever,
        ),
        ("corrupt_end_words", corrupt_end_words),
        (
            "lossy_reader_after_a_replacement_never_reads_the_dead_claims_bytes",
            lossy_reader_after_a_replacement_never_reads_the_dead_claims_bytes,
        ),
    ]);
}
