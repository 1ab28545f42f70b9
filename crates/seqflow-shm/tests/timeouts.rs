//! Timed calls on a shared ring: a claim on a full ring times out (or, untimed, reports `Full`),
//! a poll of an empty ring answers at once, and a wait that meets a gap between producers keeps
//! one deadline. Checked by outcome, never by how long a call took.

mod common;

use common::Seg;
use seqflow_sequencer::ClaimError;
use seqflow_shm::{ConsumeError, ProducerMode, ShmOptions, ShmRing};
use std::time::{Duration, Instant};

/// Sleep until `t` (at once if it has passed).
fn sleep_until(t: Instant) {
    std::thread::sleep(t.saturating_duration_since(Instant::now()));
}

fn ring(tag: &str, producer: ProducerMode) -> (Seg, ShmRing<u64>) {
    let seg = Seg::new(tag);
    let options = ShmOptions {
        producer,
        ..Default::default()
    };
    let ring = ShmRing::<u64>::create(&seg.name, 4, options).unwrap();
    (seg, ring)
}

#[test]
fn timed_claims_on_a_full_ring_time_out() {
    for mode in [ProducerMode::Single, ProducerMode::MultiCas] {
        let (_seg, ring) = ring("full-claim", mode);
        let _stalled = ring.consumer("stalled").unwrap();
        let mut p = ring.producer().unwrap();
        p.publish_batch_timeout(4, Duration::ZERO, |e, s| *e = s as u64)
            .unwrap();
        assert!(matches!(
            p.try_publish(|_, _| {}),
            Err(ClaimError::Full { .. })
        ));
        for t in [Duration::ZERO, Duration::from_millis(5)] {
            let r = p.claim_timeout(1, t).map(|g| g.range());
            assert!(
                matches!(r, Err(ClaimError::Timeout { .. })),
                "{mode:?}: {r:?}"
            );
            let r = p.publish_batch_timeout(2, t, |_, _| {});
            assert!(
                matches!(r, Err(ClaimError::Timeout { .. })),
                "{mode:?}: {r:?}"
            );
            let r = p.publish_timeout(t, |_, _| {});
            assert!(
                matches!(r, Err(ClaimError::Timeout { .. })),
                "{mode:?}: {r:?}"
            );
        }
    }
}

#[test]
fn polling_an_empty_ring_answers_at_once() {
    let (_seg, ring) = ring("empty-poll", ProducerMode::MultiCas);
    let mut c = ring.consumer("c").unwrap();
    for _ in 0..100 {
        assert_eq!(c.poll(|_, _, _| {}), Ok(0));
    }
    ring.producer()
        .unwrap()
        .publish_timeout(Duration::ZERO, |e, _| *e = 9)
        .unwrap();
    let mut got = Vec::new();
    assert_eq!(c.poll(|e, s, _| got.push((s, *e))), Ok(1));
    assert_eq!(got, [(0, 9)]);
}

/// A consumer's wait that meets a gap (event 0 claimed by one producer, 1 by another) waits
/// again with what is left of its timeout, not a new one.
#[test]
fn a_wait_across_a_gap_keeps_one_deadline() {
    let (_seg, ring) = ring("gap", ProducerMode::MultiCas);
    let mut c = ring.consumer("c").unwrap();
    let mut a = ring.producer().unwrap();
    let mut b = ring.producer().unwrap();
    let zero = a.claim(1).unwrap();
    let one = b.claim(1).unwrap();
    let r = std::thread::scope(|s| {
        let (wait_starts_tx, wait_starts) = std::sync::mpsc::channel::<Instant>();
        s.spawn(move || {
            // Timed from when the wait starts, not from when this thread gets to run.
            let t0 = wait_starts.recv().unwrap();
            sleep_until(t0 + Duration::from_millis(380));
            drop(zero);
            // After the wait's deadline (400 ms), before a second full timeout would end.
            sleep_until(t0 + Duration::from_millis(600));
            drop(one);
        });
        // The wait's deadline is taken after this instant: 400 ms from it at the earliest.
        wait_starts_tx.send(Instant::now()).unwrap();
        c.wait_for(1, Some(Duration::from_millis(400)))
    });
    assert_eq!(r, Err(ConsumeError::Timeout));
    assert_eq!(c.wait_for(1, Some(Duration::ZERO)), Ok(1));
}

/// Take an exclusive OFD lock on the segment's attach byte (byte 0) through a descriptor of its
/// own, as a stopped `seqflow rm` (or any program locking the file) would hold it.
fn hold_attach_lock(seg: &Seg) -> std::fs::File {
    use std::os::fd::AsRawFd;
    let path = format!("/dev/shm/{}", seg.name.trim_start_matches('/'));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    // SAFETY: all-zero is a valid `struct flock` (plain integers; `l_pid` must be 0 for OFD).
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_len = 1;
    // SAFETY: a valid descriptor and an exclusively borrowed `struct flock`.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &mut fl) };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    file
}

/// Run `f` on a thread; its result, or `None` if it has not returned within 20 s (a hang).
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20)).ok()
}

#[test]
fn opening_gives_up_when_the_attach_lock_stays_held() {
    let seg = Seg::new("attach-locked");
    let ring = ShmRing::<u64>::create(&seg.name, 8, ShmOptions::default()).unwrap();
    drop(ring);
    let lock = hold_attach_lock(&seg);
    let name = seg.name.clone();
    let opened = bounded(move || ShmRing::<u64>::open(&name, Duration::from_millis(300)).err());
    match opened {
        Some(Some(seqflow_shm::ShmError::AttachLocked { name, .. })) => assert_eq!(name, seg.name),
        other => panic!("expected AttachLocked, got {other:?} (None: still blocked after 20 s)"),
    }
    let name = seg.name.clone();
    let halted = bounded(move || seqflow_shm::halt_all(&name));
    assert!(
        matches!(
            halted,
            Some(Err(seqflow_shm::ShmError::AttachLocked { .. }))
        ),
        "{halted:?}"
    );
    drop(lock);
    ShmRing::<u64>::open(&seg.name, Duration::from_secs(5)).expect("opens once the lock is gone");
}
