//! Every header mismatch on open is a typed error: write bad bytes into a real segment, open it,
//! check the variant and what it reports. Also: open while initialising, creator gone before
//! READY, files that are not seqflow segments at all.

mod common;

use common::Seg;
use seqflow_shm::testing::{poke_header, Field};
use seqflow_shm::{ShmError, ShmOptions, ShmRing};
use std::time::Duration;

const SHORT: Duration = Duration::from_millis(30);

/// A live u64 ring named by `seg`, kept attached so the segment is never stale.
fn ring(seg: &Seg) -> ShmRing<u64> {
    ShmRing::<u64>::create(&seg.name, 16, ShmOptions::default()).unwrap()
}

fn open(seg: &Seg) -> Result<ShmRing<u64>, ShmError> {
    ShmRing::<u64>::open(&seg.name, SHORT)
}

#[test]
fn wrong_magic() {
    let seg = Seg::new("magic");
    let _r = ring(&seg);
    let old = poke_header(&seg.name, Field::Magic, 0xdead_beef).unwrap();
    match open(&seg) {
        Err(ShmError::BadMagic {
            name,
            expected,
            found,
        }) => {
            assert_eq!(name, seg.name);
            assert_eq!(expected, old);
            assert_eq!(found, 0xdead_beef);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn wrong_version() {
    let seg = Seg::new("version");
    let _r = ring(&seg);
    poke_header(&seg.name, Field::Version, 99).unwrap();
    assert!(matches!(
        open(&seg),
        Err(ShmError::VersionMismatch {
            expected: 10,
            found: 99,
            ..
        })
    ));
}

#[test]
fn wrong_header_size() {
    let seg = Seg::new("hsize");
    let _r = ring(&seg);
    poke_header(&seg.name, Field::HeaderSize, 4096).unwrap();
    assert!(matches!(
        open(&seg),
        Err(ShmError::HeaderSizeMismatch {
            expected: 512,
            found: 4096,
            ..
        })
    ));
}

#[test]
fn total_size_in_header_differs_from_layout() {
    let seg = Seg::new("tsize");
    let _r = ring(&seg);
    poke_header(&seg.name, Field::TotalSize, 1 << 40).unwrap();
    assert!(matches!(
        open(&seg),
        Err(ShmError::OffsetMismatch { field: "total_size", found, .. }) if found == 1 << 40
    ));
}

#[test]
fn file_size_differs_from_header() {
    let seg = Seg::new("fsize");
    let r = ring(&seg);
    let size = seqflow_shm::inspect(&seg.name).unwrap().header.total_size;
    let fd = rustix::shm::open(
        seg.name.as_str(),
        rustix::shm::OFlags::RDWR,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    rustix::fs::ftruncate(&fd, size + 4096).unwrap();
    match open(&seg) {
        Err(ShmError::SizeMismatch {
            expected, found, ..
        }) => {
            assert_eq!((expected, found), (size, size + 4096));
        }
        other => panic!("{other:?}"),
    }
    drop(r);
}

#[test]
fn capacity_not_a_power_of_two() {
    let seg = Seg::new("cap");
    let _r = ring(&seg);
    poke_header(&seg.name, Field::Capacity, 12).unwrap();
    assert!(matches!(
        open(&seg),
        Err(ShmError::BadCapacity { found: 12, .. })
    ));
    poke_header(&seg.name, Field::Capacity, 0).unwrap();
    assert!(matches!(
        open(&seg),
        Err(ShmError::BadCapacity { found: 0, .. })
    ));
    poke_header(&seg.name, Field::Capacity, u64::MAX).unwrap();
    assert!(matches!(open(&seg), Err(ShmError::BadCapacity { .. })));
}

#[test]
fn capacity_power_of_two_but_not_what_the_file_holds() {
    let seg = Seg::new("cap2");
    let _r = ring(&seg);
    poke_header(&seg.name, Field::Capacity, 1 << 20).unwrap();
    // The layout computed from the header no longer matches the recorded total size.
    assert!(matches!(
        open(&seg),
        Err(ShmError::OffsetMismatch {
            field: "total_size",
            ..
        })
    ));
}

#[test]
fn wrong_event_type_size() {
    let seg = Seg::new("esize");
    let _r = ring(&seg);
    match ShmRing::<u32>::open(&seg.name, SHORT) {
        Err(ShmError::EventLayoutMismatch {
            expected_size,
            found_size,
            expected_align,
            found_align,
            ..
        }) => {
            assert_eq!((expected_size, expected_align), (4, 4));
            assert_eq!((found_size, found_align), (8, 8));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn wrong_event_type_same_size() {
    let seg = Seg::new("etype");
    let _r = ring(&seg);
    match ShmRing::<i64>::open(&seg.name, SHORT) {
        Err(ShmError::FingerprintMismatch {
            expected,
            found,
            type_name,
            ..
        }) => {
            assert_eq!(expected, seqflow_shm::fingerprint::<i64>());
            assert_eq!(found, seqflow_shm::fingerprint::<u64>());
            assert_eq!(type_name, "i64");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn corrupt_event_size_field() {
    let seg = Seg::new("esize2");
    let _r = ring(&seg);
    poke_header(&seg.name, Field::EventSize, 12).unwrap();
    // 12 is not a multiple of the alignment (8): refused before any layout is computed.
    assert!(matches!(
        open(&seg),
        Err(ShmError::CorruptHeader {
            field: "event_size",
            found: 12,
            ..
        })
    ));
    poke_header(&seg.name, Field::EventSize, 8).unwrap();
    poke_header(&seg.name, Field::EventAlign, 3).unwrap();
    assert!(matches!(
        open(&seg),
        Err(ShmError::CorruptHeader {
            field: "event_align",
            found: 3,
            ..
        })
    ));
}

#[test]
fn unsupported_producer_mode() {
    let seg = Seg::new("mode");
    let _r = ring(&seg);
    // 3 would be the lock-based mode, which is process-local.
    poke_header(&seg.name, Field::ProducerMode, 3).unwrap();
    assert!(matches!(
        open(&seg),
        Err(ShmError::UnsupportedProducerMode { found: 3, .. })
    ));
}

#[test]
fn corrupt_offsets() {
    let seg = Seg::new("offsets");
    let _r = ring(&seg);
    for (k, field) in [
        "cursor",
        "high_water",
        "gating",
        "registry",
        "producers",
        "pools",
        "events",
    ]
    .iter()
    .enumerate()
    .map(|(i, f)| (if i == 6 { 7 } else { i }, f))
    {
        let old = poke_header(&seg.name, Field::Offset(k), 8).unwrap();
        match open(&seg) {
            Err(ShmError::OffsetMismatch {
                field: f,
                expected,
                found,
                ..
            }) => {
                assert_eq!(f, *field);
                assert_eq!((expected, found), (old, 8));
            }
            other => panic!("offset {field}: {other:?}"),
        }
        poke_header(&seg.name, Field::Offset(k), old).unwrap();
    }
    assert!(open(&seg).is_ok(), "restored header opens again");
}

#[test]
fn corrupt_counts_and_wait_kind() {
    let seg = Seg::new("counts");
    let _r = ring(&seg);
    let old = poke_header(&seg.name, Field::MaxConsumers, u64::from(u32::MAX)).unwrap();
    assert!(matches!(
        open(&seg),
        Err(ShmError::CorruptHeader {
            field: "max_consumers",
            ..
        })
    ));
    poke_header(&seg.name, Field::MaxConsumers, old).unwrap();
    poke_header(&seg.name, Field::WaitKind, 77).unwrap();
    assert!(matches!(
        open(&seg),
        Err(ShmError::CorruptHeader {
            field: "wait_kind",
            found: 77,
            ..
        })
    ));
}

#[test]
fn garbage_init_state() {
    let seg = Seg::new("state");
    let _r = ring(&seg);
    poke_header(&seg.name, Field::InitState, 7).unwrap();
    assert!(matches!(
        open(&seg),
        Err(ShmError::CorruptHeader {
            field: "init_state",
            found: 7,
            ..
        })
    ));
}

#[test]
fn open_while_initialising_times_out_then_succeeds() {
    let seg = Seg::new("init");
    let _r = ring(&seg);
    // The creator (this process, still attached) appears to be initialising.
    poke_header(&seg.name, Field::InitState, 1).unwrap();
    match open(&seg) {
        Err(ShmError::NotReady { state, .. }) => assert_eq!(state, 1),
        other => panic!("{other:?}"),
    }
    // It finishes while an opener waits.
    let name = seg.name.clone();
    let opener = std::thread::spawn(move || {
        ShmRing::<u64>::open(&name, Duration::from_secs(30)).map(|_| ())
    });
    std::thread::sleep(Duration::from_millis(20));
    poke_header(&seg.name, Field::InitState, 2).unwrap();
    opener.join().unwrap().unwrap();
}

/// A file made by hand: no creator, no locks.
fn raw_segment(seg: &Seg, size: u64) {
    let fd = rustix::shm::open(
        seg.name.as_str(),
        rustix::shm::OFlags::CREATE | rustix::shm::OFlags::EXCL | rustix::shm::OFlags::RDWR,
        rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
    )
    .unwrap();
    rustix::fs::ftruncate(&fd, size).unwrap();
}

#[test]
fn creator_died_before_sizing_the_file() {
    let seg = Seg::new("empty");
    raw_segment(&seg, 0);
    assert!(matches!(
        open(&seg),
        Err(ShmError::CreatorDied { state: 0, .. })
    ));
}

#[test]
fn creator_died_while_initialising() {
    let seg = Seg::new("halfinit");
    raw_segment(&seg, 8192);
    // All zero: init state 0, nobody holds a lock.
    assert!(matches!(
        open(&seg),
        Err(ShmError::CreatorDied { state: 0, .. })
    ));
    poke_header(&seg.name, Field::InitState, 1).unwrap();
    assert!(matches!(
        open(&seg),
        Err(ShmError::CreatorDied { state: 1, .. })
    ));
}

#[test]
fn not_a_segment_at_all() {
    let seg = Seg::new("tiny");
    raw_segment(&seg, 100);
    assert!(matches!(open(&seg), Err(ShmError::NotSeqflow { .. })));
    // Garbage in the init state and the magic: not seqflow's (rather than a corrupt one).
    let seg = Seg::new("random");
    raw_segment(&seg, 4096);
    poke_header(&seg.name, Field::InitState, 0x6d2f_3a99).unwrap();
    poke_header(&seg.name, Field::Magic, 0x0123_4567_89ab_cdef).unwrap();
    assert!(matches!(open(&seg), Err(ShmError::NotSeqflow { .. })));
    assert!(matches!(
        seqflow_shm::inspect(&seg.name),
        Err(ShmError::NotSeqflow { .. })
    ));
    // A big file of garbage that claims to be READY.
    let seg = Seg::new("garbage");
    raw_segment(&seg, 1 << 16);
    poke_header(&seg.name, Field::InitState, 2).unwrap();
    poke_header(&seg.name, Field::Magic, 0x0123_4567_89ab_cdef).unwrap();
    assert!(matches!(open(&seg), Err(ShmError::BadMagic { .. })));
    assert!(matches!(
        seqflow_shm::inspect(&seg.name),
        Err(ShmError::BadMagic { .. })
    ));
}

#[test]
fn invalid_names_and_capacities() {
    assert!(matches!(
        ShmRing::<u64>::create("/a/b", 8, ShmOptions::default()),
        Err(ShmError::InvalidName { .. })
    ));
    let seg = Seg::new("badcap");
    for cap in [0usize, 3, 1000, 1 << 31] {
        assert!(matches!(
            ShmRing::<u64>::create(&seg.name, cap, ShmOptions::default()),
            Err(ShmError::Capacity { .. })
        ));
    }
    assert!(matches!(
        ShmRing::<u64>::create(
            &seg.name,
            8,
            ShmOptions {
                max_consumers: 0,
                ..Default::default()
            }
        ),
        Err(ShmError::InvalidOptions { .. })
    ));
    assert!(matches!(
        ShmRing::<()>::create(&seg.name, 8, ShmOptions::default()),
        Err(ShmError::InvalidOptions { .. })
    ));
    // Nothing was left behind by the refused creations.
    assert!(matches!(
        ShmRing::<u64>::open(&seg.name, Duration::ZERO),
        Err(ShmError::NotFound { .. })
    ));
}
