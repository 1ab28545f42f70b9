//! Adversarial review 2: foreign and damaged files under `/dev/shm`. Truncated, empty, random,
//! other-version and plain text files, and real segments whose consumer registry, producer
//! table and pool table hold random bytes (the header left valid). Opening, inspecting, listing
//! and using them must end in a typed error or a usable ring: no panic, no hang, no fault.
//! Each case runs in a forked child with a deadline. `harness = false`.

mod common;

use common::{fork_child, lcg, Seg};
use seqflow_shm::{inspect, list, remove_if_stale, ProducerMode, ShmOptions, ShmRing, WaitKind};
use std::os::unix::fs::FileExt;
use std::time::Duration;

const OP: Duration = Duration::from_millis(50);

fn path(seg: &Seg) -> String {
    format!("/dev/shm{}", seg.name)
}

/// Every read-only look and an attach, in a child that must exit 0 within 20 s.
fn look_at(name: &str, what: &str) {
    let name = name.to_owned();
    let what_owned = what.to_owned();
    let mut child = fork_child(move || {
        if let Ok(info) = inspect(&name) {
            let _ = info.to_string();
            let _ = (info.backlog(), info.utilisation());
        }
        for listing in list(None).map_err(|e| e.to_string())? {
            if let Ok(info) = &listing.inspection {
                let _ = info.to_string();
            }
        }
        if let Ok(ring) = ShmRing::<u64>::open(&name, OP) {
            exercise(&ring);
        }
        let _ = remove_if_stale(&name).map(|_| ());
        let _ = what_owned;
        Ok(())
    });
    let code = child.wait(Duration::from_secs(20));
    assert_eq!(
        code,
        Some(0),
        "{what}: the child panicked, failed or was killed"
    );
}

fn exercise(ring: &ShmRing<u64>) {
    let _ = ring.inspect().to_string();
    let _ = (ring.len(), ring.is_full(), ring.published(), ring.claimed());
    if let Ok(mut c) = ring.consumer("adv2-c") {
        let next = c.sequence().saturating_add(1);
        if let Ok(hi) = c.wait_for(next, Some(OP)) {
            let _ = c.get(hi);
            let _ = c.update_sequence(hi);
        }
    }
    for after in [&["d0"][..], &["pool"][..], &["c1", "pool"][..]] {
        if let Ok(mut c) = ring.consumer_after("adv2-after", after) {
            let _ = c.poll_batch(Some(OP), |_, _, _| {});
        }
    }
    if let Ok(mut w) = ring.worker("pool") {
        let _ = w.process(Some(OP), |e, _| *e);
    }
    if let Ok(mut w) = ring.worker("adv2-pool") {
        let _ = w.process(Some(OP), |e, _| *e);
    }
    if let Ok(mut s) = ring.subscriber("adv2-s") {
        let _ = s.next_timeout(Some(OP));
    }
    if let Ok(mut p) = ring.producer() {
        let _ = p.try_publish(|e, s| *e = s as u64);
        let _ = p.publish_timeout(OP, |e, s| *e = s as u64);
    }
    if let Ok(mut c) = ring.consumer("d0") {
        let _ = c.poll_batch(Some(OP), |_, _, _| {});
    }
    let _ = ring.read_last();
    let _ = ring.reap_dead_consumers();
    let _ = ring.release_declared("d1");
    let _ = ring.release_declared("dpool");
    let _ = ring.inspect().to_string();
}

fn write_file(seg: &Seg, bytes: &[u8]) {
    std::fs::write(path(seg), bytes).unwrap();
}

fn random_bytes(k: &mut u64, n: usize) -> Vec<u8> {
    (0..n).map(|_| lcg(k) as u8).collect()
}

/// Files that are not (or no longer) segments.
fn foreign_files() {
    let mut k = 11u64;
    let header_magic = u64::from_le_bytes(*b"SEQFLOW\x01").to_le_bytes();
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("one byte", vec![0]),
        ("511 random", random_bytes(&mut k, 511)),
        ("512 random", random_bytes(&mut k, 512)),
        ("4096 random", random_bytes(&mut k, 4096)),
        ("text", b"hello, this is not a ring\n".repeat(200)),
        ("4096 zeros", vec![0; 4096]),
    ];
    for n in [8usize, 64, 512, 4096, 65536] {
        let mut v = random_bytes(&mut k, n);
        v[..8].copy_from_slice(&header_magic);
        cases.push(("magic + random", v));
        let mut v = vec![0u8; n];
        v[..8].copy_from_slice(&header_magic);
        cases.push(("magic + zeros", v));
        let mut v = vec![0xffu8; n];
        v[..8].copy_from_slice(&header_magic);
        cases.push(("magic + ones", v));
    }
    let mut removed = Vec::new();
    for (what, bytes) in cases {
        let seg = Seg::new("adv2-foreign");
        write_file(&seg, &bytes);
        look_at(&seg.name, what);
        // A file that starts with seqflow's magic number is seqflow's (documented): only
        // those may be removed as stale.
        if !bytes.starts_with(&header_magic) && !std::path::Path::new(&path(&seg)).exists() {
            removed.push(format!("{what} ({} bytes)", bytes.len()));
        }
    }
    assert!(
        removed.is_empty(),
        "foreign files removed as stale segments: {removed:?}"
    );
}

/// Real segments (a creator attached, or gone), of other layout versions or truncated.
fn damaged_real_segments() {
    for (what, edit) in [
        ("version 4", (4u64, 4u8, 4u64)),
        ("version 5", (4, 4, 5)),
        ("version 7", (4, 4, 7)),
        ("version max", (4, 4, u64::from(u32::MAX))),
    ] {
        let seg = Seg::new("adv2-version");
        let ring = ShmRing::<u64>::create(&seg.name, 8, ShmOptions::default()).unwrap();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path(&seg))
            .unwrap();
        let (off, width, value) = edit;
        f.write_all_at(&value.to_le_bytes()[..width as usize], off)
            .unwrap();
        look_at(&seg.name, what);
        drop(ring);
        look_at(&seg.name, what);
    }
    for keep in [0u64, 100, 512, 700, 4096] {
        let seg = Seg::new("adv2-trunc");
        let ring = ShmRing::<u64>::create(&seg.name, 8, ShmOptions::default()).unwrap();
        drop(ring); // nothing attached: truncating cannot fault anybody
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path(&seg))
            .unwrap();
        f.set_len(keep).unwrap();
        look_at(&seg.name, &format!("truncated to {keep}"));
    }
}

/// The region offsets recorded in a segment's header.
fn offsets(seg: &Seg) -> [u64; 8] {
    let f = std::fs::File::open(path(seg)).unwrap();
    let mut out = [0u64; 8];
    for (i, o) in out.iter_mut().enumerate() {
        let mut b = [0u8; 8];
        f.read_exact_at(&mut b, 128 + 8 * i as u64).unwrap();
        *o = u64::from_le_bytes(b);
    }
    out
}

/// A ring with something in every table: declared consumers and a declared pool, a live
/// consumer and a stage after it, a pool with a worker, a subscriber, a producer.
fn populated(seg: &Seg, mode: ProducerMode) -> ShmRing<u64> {
    let ring = ShmRing::<u64>::create(
        &seg.name,
        16,
        ShmOptions {
            producer: mode,
            wait: WaitKind::Futex,
            liveness_interval: Duration::from_millis(5),
            max_consumers: 8,
            max_producers: 2,
            max_pools: 2,
            declared_consumers: vec!["d0".into(), "d1".into()],
            declared_pools: vec!["dpool".into()],
            registry_timeout: Duration::from_millis(200),
            ..Default::default()
        },
    )
    .unwrap();
    {
        let mut p = ring.producer().unwrap();
        let _c1 = ring.consumer("c1").unwrap();
        let _a = ring.consumer_after("a1", &["c1", "d0"]).unwrap();
        let _w = ring.worker("pool").unwrap();
        let _s = ring.subscriber("s1").unwrap();
        p.publish_batch(5, |e, s| *e = s as u64).unwrap();
        // Dropped: entries freed, but their bytes stay; the garbage below brings them back.
    }
    ring
}

/// Random bytes over the registry, producer and pool tables (and the gating slots' states),
/// with the header valid: a segment some other program scribbled on.
fn garbage_tables() {
    let cases: u64 = std::env::var("SEQFLOW_ADV2_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    for case in 0..cases {
        let mode = if case % 2 == 0 {
            ProducerMode::MultiCas
        } else {
            ProducerMode::Single
        };
        let seg = Seg::new("adv2-garbage");
        let ring = populated(&seg, mode);
        let [_cursor, high_water, gating, registry, producers, pools, _avail, _events] =
            offsets(&seg);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path(&seg))
            .unwrap();
        let mut k = 0x5eed_0000 + case;
        let regions = [
            (registry, 8 * 128u64),
            (producers, 2 * 128),
            (pools, 2 * 256),
            (gating, 8 * 256),
            (high_water, 4),
        ];
        let writes = 1 + lcg(&mut k) % 40;
        for _ in 0..writes {
            let (base, len) = regions[(lcg(&mut k) % regions.len() as u64) as usize];
            let at = base + lcg(&mut k) % len;
            let width = [1u64, 4, 8][(lcg(&mut k) % 3) as usize];
            let value: u64 = match lcg(&mut k) % 6 {
                0 => u64::MAX,
                1 => lcg(&mut k) % 5,
                2 => u64::from(std::process::id()),
                3 => (lcg(&mut k) << 32) | lcg(&mut k),
                4 => u64::from(u32::MAX) - lcg(&mut k) % 4,
                _ => 0x8000_0000_0000_0000,
            };
            let bytes = value.to_le_bytes();
            let _ = f.write_all_at(&bytes[..width as usize], at);
        }
        drop(f);
        look_at(&seg.name, &format!("garbage case {case} ({mode:?})"));
        // The creator too, which has the ring mapped from before.
        let name = seg.name.clone();
        let mut child = fork_child(move || {
            exercise(&ring);
            let _ = name;
            Ok(())
        });
        let code = child.wait(Duration::from_secs(20));
        assert_eq!(code, Some(0), "garbage case {case}: the creator's ring");
    }
}

/// Targeted values in one registry entry: every state with a worker kind and a huge pool
/// index, a huge upstream count and indices, a label of invalid UTF-8 with a huge length.
fn targeted_registry_values() {
    let seg = Seg::new("adv2-targeted");
    let ring = populated(&seg, ProducerMode::MultiCas);
    let [_, _, _, registry, _, pools, _, _] = offsets(&seg);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path(&seg))
        .unwrap();
    let pid = std::process::id();
    for index in 0..8u64 {
        let e = registry + index * 128;
        for state in [0u32, 1, 2, 3, 4, u32::MAX] {
            f.write_all_at(&state.to_le_bytes(), e).unwrap();
            f.write_all_at(&pid.to_le_bytes(), e + 4).unwrap();
            f.write_all_at(&3u32.to_le_bytes(), e + 8).unwrap(); // worker
            f.write_all_at(&(u32::MAX - 1).to_le_bytes(), e + 12)
                .unwrap(); // pool
            f.write_all_at(&u32::MAX.to_le_bytes(), e + 24).unwrap(); // label len
            f.write_all_at(&[0xff, 0xfe, 0xc3, 0x28, 0x1b, b'[', b'2', b'J'], e + 32)
                .unwrap();
            // flags, upstream_len, upstream[..]: after the label (len, padding, 48 bytes) at 24.
            let after_label = e + 80;
            f.write_all_at(&u32::MAX.to_le_bytes(), after_label)
                .unwrap();
            f.write_all_at(&u32::MAX.to_le_bytes(), after_label + 4)
                .unwrap();
            for u in 0..8 {
                f.write_all_at(
                    &(u32::MAX - u).to_le_bytes(),
                    after_label + 8 + 4 * u as u64,
                )
                .unwrap();
            }
            look_at(&seg.name, &format!("entry {index} state {state}"));
        }
    }
    // Pools: huge label length, restarts and members at their maximum, work cursor extreme.
    for p in 0..2u64 {
        let e = pools + p * 256;
        f.write_all_at(&1u32.to_le_bytes(), e).unwrap();
        f.write_all_at(&u32::MAX.to_le_bytes(), e + 8).unwrap();
        let _ = f.write_all_at(&[0xffu8; 128], e + 60);
        f.write_all_at(&i64::MAX.to_le_bytes(), e + 128).unwrap();
        look_at(&seg.name, &format!("pool {p}"));
        f.write_all_at(&i64::MIN.to_le_bytes(), e + 128).unwrap();
        look_at(&seg.name, &format!("pool {p} min"));
    }
    drop(ring);
}

/// Another program shrinks and regrows its own file in `/dev/shm` while this one looks at
/// it: every read-only look and an attach (what `seqflow ls`, `inspect`, `rm` call) reads the
/// header with `pread`, never through a mapping whose page could vanish (SIGBUS, the looking
/// process dies). Each look runs for a while in a child that must exit 0.
fn a_foreign_file_resized_while_looked_at() {
    type Look = fn(&str);
    let looks: [(&str, Look); 5] = [
        ("list", |_| drop(list(None))),
        ("inspect", |n| drop(inspect(n))),
        ("remove_if_stale", |n| drop(remove_if_stale(n))),
        ("remove", |n| drop(seqflow_shm::remove(n))),
        ("open", |n| drop(ShmRing::<u64>::open(n, Duration::ZERO))),
    ];
    let seg = Seg::new("resized");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path(&seg))
        .unwrap();
    file.set_len(4096).unwrap();
    file.write_at(b"not seqflow", 0).unwrap();
    let mut owner = fork_child(move || loop {
        let _ = file.set_len(0);
        let _ = file.set_len(4096);
    });
    for (what, look) in looks {
        let name = seg.name.clone();
        let mut looker = fork_child(move || {
            let end = std::time::Instant::now() + Duration::from_millis(1500);
            while std::time::Instant::now() < end {
                look(&name);
            }
            Ok(())
        });
        assert_eq!(
            looker.wait(Duration::from_secs(30)),
            Some(0),
            "{what}: the looking process died (a signal) on a foreign file being resized"
        );
    }
    owner.kill();
}

fn main() {
    common::run_cases(&[
        ("foreign_files", foreign_files),
        (
            "a_foreign_file_resized_while_looked_at",
            a_foreign_file_resized_while_looked_at,
        ),
        ("damaged_real_segments", damaged_real_segments),
        ("garbage_tables", garbage_tables),
        ("targeted_registry_values", targeted_registry_values),
    ]);
}
