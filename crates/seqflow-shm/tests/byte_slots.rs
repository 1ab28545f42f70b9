//! Byte slots sized at run time (`ShmRing::<DynByteSlot>::create_bytes`): payloads up to 1 MiB
//! through every kind of reader in other processes (a stage, a poller, a pool worker, a lossy
//! subscriber), and every bad input a typed error.
//!
//! `harness = false`: the cases fork, which is only safe from a single-threaded parent; they run
//! one after another on the main thread. Run one with
//! `cargo test -p seqflow-shm --test byte_slots -- NAME`.

mod common;

use common::{fork_child, run_cases, Pipe, Seg};
use seqflow_shm::testing::{poke_header, Field};
use seqflow_shm::{
    fingerprint, ConsumeError, DynByteSlot, OpenOptions, ShmError, ShmOptions, ShmRing, TooLong,
    WaitKind,
};
use std::time::Duration;

const MAX_PAYLOAD: usize = 1 << 20;
const EVENTS: i64 = 48;
const LONG: Option<Duration> = Some(Duration::from_secs(30));
const ATTACH: Duration = Duration::from_secs(10);

/// The payload length of event `seq`: every fourth one large (up to exactly 1 MiB), the others
/// small, one empty.
fn len_of(seq: i64) -> usize {
    match seq {
        0 => 0,
        1 => MAX_PAYLOAD,
        s if s % 4 == 0 => (s as usize * 104_729) % MAX_PAYLOAD,
        s => (s as usize * 7919) % 4096,
    }
}

/// Byte `i` of event `seq`'s payload.
fn byte_of(seq: i64, i: usize) -> u8 {
    (seq as u8).wrapping_mul(31).wrapping_add((i % 251) as u8)
}

fn payload(seq: i64) -> Vec<u8> {
    (0..len_of(seq)).map(|i| byte_of(seq, i)).collect()
}

/// Whether `bytes` is exactly event `seq`'s payload.
fn check_payload(seq: i64, bytes: &[u8]) -> Result<(), String> {
    if bytes.len() != len_of(seq) {
        return Err(format!(
            "seq {seq}: {} bytes, want {}",
            bytes.len(),
            len_of(seq)
        ));
    }
    match bytes
        .iter()
        .enumerate()
        .find(|&(i, &b)| b != byte_of(seq, i))
    {
        Some((i, b)) => Err(format!("seq {seq}: byte {i} is {b}")),
        None => Ok(()),
    }
}

fn options() -> ShmOptions {
    ShmOptions {
        declared_consumers: vec!["stage".into(), "poller".into()],
        declared_pools: vec!["pool".into()],
        wait: WaitKind::Futex,
        liveness_interval: Duration::from_millis(20),
        ..Default::default()
    }
}

/// A parent publishes 48 events of 0 bytes to 1 MiB into 16 slots of 1 MiB; a stage, a poller
/// and a pool of two workers in other processes each check every payload byte for byte (the
/// pool between its two workers), and a lossy subscriber checks every copy it gets.
fn every_reader_kind_across_processes() {
    let seg = Seg::new("bytes-all");
    let ring = ShmRing::<DynByteSlot>::create_bytes(&seg.name, 16, MAX_PAYLOAD, options()).unwrap();
    assert_eq!(ring.max_payload(), MAX_PAYLOAD);
    let ready = Pipe::new();
    let pool_counts = Pipe::new();
    let name = seg.name.clone();
    let open = move || ShmRing::<DynByteSlot>::open(&name, ATTACH).map_err(|e| e.to_string());

    let stage = {
        let (open, ready) = (open.clone(), &ready);
        fork_child(move || {
            let ring = open()?;
            ready.send(b"s");
            let mut next = 0;
            let mut failure = None;
            let report = ring
                .stage("stage")
                .max_batch_size(8)
                .run(|slot: &DynByteSlot, seq, _| {
                    if seq != next {
                        failure.get_or_insert(format!("stage got {seq}, want {next}"));
                    }
                    next = seq + 1;
                    if let Err(e) = check_payload(seq, slot.as_bytes()) {
                        failure.get_or_insert(e);
                    }
                })
                .map_err(|e| e.to_string())?;
            match failure {
                Some(e) => Err(e),
                None if report.sequence != EVENTS - 1 => Err(format!("stage {report:?}")),
                None => Ok(()),
            }
        })
    };
    let poller = {
        let (open, ready) = (open.clone(), &ready);
        fork_child(move || {
            let ring = open()?;
            let mut c = ring.consumer("poller").map_err(|e| e.to_string())?;
            ready.send(b"p");
            let mut seen = 0;
            loop {
                match c.poll_batch(LONG, |slot, seq, _| {
                    if check_payload(seq, slot.as_bytes()).is_ok() && seq == seen {
                        seen += 1;
                    }
                }) {
                    Ok(_) => {}
                    Err(ConsumeError::Closed { .. }) => break,
                    Err(e) => return Err(e.to_string()),
                }
            }
            if seen == EVENTS {
                Ok(())
            } else {
                Err(format!("poller checked {seen} in order"))
            }
        })
    };
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (open, ready, counts) = (open.clone(), &ready, &pool_counts);
            fork_child(move || {
                let ring = open()?;
                let mut w = ring.worker("pool").map_err(|e| e.to_string())?;
                ready.send(b"w");
                let mut handled = 0u8;
                loop {
                    let mut bad = None;
                    match w.process_batch(4, LONG, |slot, seq, _| {
                        handled += 1;
                        if let Err(e) = check_payload(seq, slot.as_bytes()) {
                            bad.get_or_insert(e);
                        }
                    }) {
                        Ok(_) => {}
                        Err(ConsumeError::Closed { .. }) => break,
                        Err(e) => return Err(e.to_string()),
                    }
                    if let Some(e) = bad {
                        return Err(e);
                    }
                }
                counts.send(&[handled]);
                Ok(())
            })
        })
        .collect();
    let lossy = {
        let (open, ready) = (open.clone(), &ready);
        fork_child(move || {
            let ring = open()?;
            let mut s = ring.subscriber("lossy").map_err(|e| e.to_string())?;
            ready.send(b"l");
            loop {
                match s.next_timeout(LONG) {
                    Ok((seq, copy)) => check_payload(seq, copy.as_bytes())?,
                    Err(ConsumeError::Lapped { .. }) => {}
                    Err(ConsumeError::Closed { .. }) => return Ok(()),
                    Err(e) => return Err(e.to_string()),
                }
            }
        })
    };
    let mut children = vec![stage, poller, lossy];
    children.extend(workers);
    ready
        .recv(children.len(), Duration::from_secs(30))
        .expect("readers attached");

    let mut producer = ring.producer().unwrap();
    for seq in 0..EVENTS {
        let bytes = payload(seq);
        let published = producer
            .publish(|slot, _| slot.set(&bytes).expect("at most MAX_PAYLOAD"))
            .unwrap();
        assert_eq!(published, seq);
    }
    let (last_seq, last) = ring.read_last().expect("published");
    assert_eq!(last_seq, EVENTS - 1);
    check_payload(last_seq, last.as_bytes()).unwrap();
    ring.close();
    for (child, what) in children
        .iter_mut()
        .zip(["stage", "poller", "lossy", "worker", "worker"])
    {
        child.expect_success(what);
    }
    let counts = pool_counts.recv(2, Duration::from_secs(5)).unwrap();
    assert_eq!(
        counts.iter().map(|&c| i64::from(c)).sum::<i64>(),
        EVENTS,
        "the pool handled each event once"
    );
}

/// Too long a payload, impossible sizes, the wrong type, another slot size, a damaged size
/// field: each a typed error, nothing panics, nothing changes.
fn bad_inputs_are_typed_errors() {
    let seg = Seg::new("bytes-bad");
    let ring = ShmRing::<DynByteSlot>::create_bytes(&seg.name, 4, 100, options()).unwrap();
    assert_eq!(ring.max_payload(), 104, "rounded up to whole words");

    // A payload too long for the slot: refused, the slot keeps what it had.
    let mut producer = ring.producer().unwrap();
    let mut refused = None;
    producer
        .publish(|slot, _| {
            slot.set(b"kept").unwrap();
            refused = Some(slot.set(&[0; 105]));
        })
        .unwrap();
    assert_eq!(refused, Some(Err(TooLong { len: 105, max: 104 })));
    assert_eq!(ring.read_last().unwrap().1.as_bytes(), b"kept");

    // Sizes that cannot be made.
    for (capacity, max_payload) in [(4, usize::MAX), (1 << 20, 1 << 30), (6, 8)] {
        let other = Seg::new("bytes-huge");
        let made = ShmRing::<DynByteSlot>::create_bytes(
            &other.name,
            capacity,
            max_payload,
            ShmOptions::default(),
        );
        assert!(
            matches!(made, Err(ShmError::Capacity { .. })),
            "{capacity} x {max_payload}: {made:?}"
        );
    }

    // A ring larger than the whole shared-memory filesystem would die of SIGBUS once it has
    // gone round: refused at creation (4096 slots of 1 GiB).
    let shm_fs = rustix::fs::statvfs("/dev/shm").unwrap();
    if shm_fs.f_blocks.saturating_mul(shm_fs.f_frsize) < 1 << 42 {
        let other = Seg::new("bytes-fs");
        let made = ShmRing::<DynByteSlot>::create_bytes(
            &other.name,
            4096,
            (1 << 30) - 8,
            ShmOptions::default(),
        );
        match made {
            Err(ShmError::InvalidOptions { reason, .. }) => {
                assert!(reason.contains("SIGBUS"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        assert!(
            !std::path::Path::new(&format!("/dev/shm{}", other.name)).exists(),
            "the refused segment is removed"
        );
    }

    // The wrong event type either way.
    assert!(matches!(
        ShmRing::<u64>::open(&seg.name, ATTACH),
        Err(ShmError::EventLayoutMismatch { .. })
    ));
    assert!(matches!(
        ShmRing::<[u64; 14]>::open(&seg.name, ATTACH),
        Err(ShmError::FingerprintMismatch { .. })
    ));
    let words = Seg::new("bytes-u64");
    let _words = ShmRing::<[u64; 4]>::create(&words.name, 4, ShmOptions::default()).unwrap();
    assert!(matches!(
        ShmRing::<DynByteSlot>::open(&words.name, ATTACH),
        Err(ShmError::FingerprintMismatch { .. })
    ));

    // Agreeing fingerprints but slots no byte slot can be (8-byte `u64` events).
    let eight = Seg::new("bytes-eight");
    let _eight = ShmRing::<u64>::create(&eight.name, 4, ShmOptions::default()).unwrap();
    let forced = ShmRing::<DynByteSlot>::open_with(
        &eight.name,
        OpenOptions {
            fingerprint: Some(fingerprint::<u64>()),
            timeout: ATTACH,
            ..Default::default()
        },
    );
    assert!(matches!(
        forced,
        Err(ShmError::SlotSizeMismatch { found_size: 8, .. })
    ));

    // Another slot size on open_or_create.
    let again = ShmRing::<DynByteSlot>::open_or_create_bytes(&seg.name, 4, 4096, options(), ATTACH);
    assert!(matches!(
        again,
        Err(ShmError::OptionsMismatch {
            field: "slot_bytes",
            ..
        })
    ));

    // A damaged size field: a size no byte slot has, or slots that overrun the file, is
    // refused; a plausible size within the same pages opens a ring that stays inside the
    // mapping and clamps every length it reads.
    for bad in [0, 8, 12, 100, 1 << 12, 1 << 40] {
        poke_header(&seg.name, Field::EventSize, bad).unwrap();
        let opened = ShmRing::<DynByteSlot>::open(&seg.name, Duration::from_millis(30));
        assert!(opened.is_err(), "event_size {bad} opened");
    }
    poke_header(&seg.name, Field::EventSize, 56).unwrap();
    let smaller = ShmRing::<DynByteSlot>::open(&seg.name, ATTACH).unwrap();
    assert_eq!(smaller.max_payload(), 48);
    assert!(smaller.read_last().unwrap().1.len() <= 48);
    drop(smaller);
    poke_header(&seg.name, Field::EventSize, 112).unwrap();
    let reopened = ShmRing::<DynByteSlot>::open(&seg.name, ATTACH).unwrap();
    assert_eq!(reopened.read_last().unwrap().1.as_bytes(), b"kept");
}

fn main() {
    run_cases(&[
        (
            "every_reader_kind_across_processes",
            every_reader_kind_across_processes,
        ),
        ("bad_inputs_are_typed_errors", bad_inputs_are_typed_errors),
    ]);
}
