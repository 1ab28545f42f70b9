//! A shared-memory filesystem without room for a ring: creation fails with a typed error
//! (`NoSpace` when the filesystem is too full, `InvalidOptions` when the ring is larger than the
//! whole filesystem), leaves no file behind, and succeeds once there is room.
//!
//! Each case runs in a forked child with a mount namespace of its own, whose `/dev/shm` is a
//! small tmpfs: the machine's `/dev/shm` is never filled. That takes `CAP_SYS_ADMIN` (root in
//! CI); without it the case says it was skipped. `harness = false` (the children fork from a
//! single-threaded main).

mod common;

use common::fork_child;
use seqflow_shm::{ShmError, ShmOptions, ShmRing};
use std::ffi::CString;
use std::time::Duration;

/// Exit code of a child that could not make its own mount namespace.
const NO_NAMESPACE: i32 = 77;

/// A 4 KiB event: 1024 of them make a ring of 4 MiB plus its tables.
type Page = [u8; 4096];

/// In the calling (forked) process: a private mount namespace whose `/dev/shm` is a tmpfs of
/// `megabytes`. `Err(NO_NAMESPACE)` when the process may not make one.
fn private_dev_shm(megabytes: u32) -> Result<(), i32> {
    // SAFETY: `unshare` only changes this (single-threaded, forked) process's namespaces.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        return Err(NO_NAMESPACE);
    }
    let root = CString::new("/").unwrap();
    let target = CString::new("/dev/shm").unwrap();
    let fstype = CString::new("tmpfs").unwrap();
    let data = CString::new(format!("size={megabytes}m")).unwrap();
    // SAFETY: valid NUL-terminated strings that outlive the calls. The first call keeps the
    // mounts below from propagating to the parent's namespace (they would otherwise replace the
    // machine's /dev/shm).
    let mounted = unsafe {
        libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) == 0
            && libc::mount(
                fstype.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                0,
                data.as_ptr().cast(),
            ) == 0
    };
    if mounted {
        Ok(())
    } else {
        Err(NO_NAMESPACE)
    }
}

/// Run `body` in a child with an 8 MiB `/dev/shm` of its own; skipped (said so) where mount
/// namespaces are not allowed.
fn with_small_dev_shm(what: &str, body: fn() -> Result<(), String>) {
    let mut child = fork_child(move || match private_dev_shm(8) {
        Ok(()) => body(),
        // SAFETY: `_exit` ends the forked child at once, as `fork_child` does.
        Err(code) => unsafe { libc::_exit(code) },
    });
    match child.wait(Duration::from_secs(60)) {
        Some(0) => {}
        Some(NO_NAMESPACE) => {
            eprintln!("{what}: SKIPPED (no mount namespace: needs CAP_SYS_ADMIN)")
        }
        other => panic!("{what}: child exited with {other:?}"),
    }
}

fn segment_files() -> Vec<String> {
    std::fs::read_dir("/dev/shm")
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("seqflow-nospace"))
                .collect()
        })
        .unwrap_or_default()
}

/// A filesystem that has room in all, but not free now: `NoSpace`, with the size it needed;
/// no file left; the same ring fits once the filler is gone.
fn a_full_filesystem_is_no_space() {
    with_small_dev_shm("a_full_filesystem_is_no_space", || {
        let filler = "/dev/shm/filler";
        std::fs::write(filler, vec![1u8; 6 << 20]).map_err(|e| e.to_string())?;
        let name = "/seqflow-nospace-full";
        match ShmRing::<Page>::create(name, 1024, ShmOptions::default()) {
            Err(ShmError::NoSpace { name: n, bytes }) => {
                if n != name || bytes < 4 << 20 {
                    return Err(format!("NoSpace names {n} with {bytes} bytes"));
                }
            }
            Err(e) => return Err(format!("expected NoSpace, got {e}")),
            Ok(_) => return Err("a 4 MiB ring was created with 2 MiB free".into()),
        }
        if !segment_files().is_empty() {
            return Err(format!("left behind: {:?}", segment_files()));
        }
        std::fs::remove_file(filler).map_err(|e| e.to_string())?;
        let ring = ShmRing::<Page>::create(name, 1024, ShmOptions::default())
            .map_err(|e| format!("with the room back: {e}"))?;
        let mut producer = ring.producer().map_err(|e| e.to_string())?;
        producer
            .publish_batch(1024, |e, s| e[0] = s as u8)
            .map_err(|e| e.to_string())?;
        ring.unlink().map_err(|e| e.to_string())?;
        Ok(())
    });
}

/// A ring larger than the whole filesystem is refused up front (it would crash with `SIGBUS`
/// once it went round), with a message that says why; no file left.
fn a_ring_larger_than_the_filesystem_is_refused() {
    with_small_dev_shm("a_ring_larger_than_the_filesystem_is_refused", || {
        let name = "/seqflow-nospace-huge";
        match ShmRing::<Page>::create(name, 4096, ShmOptions::default()) {
            Err(e @ ShmError::InvalidOptions { .. }) if e.to_string().contains("SIGBUS") => {}
            Err(e) => return Err(format!("expected InvalidOptions naming SIGBUS, got {e}")),
            Ok(_) => return Err("a 16 MiB ring was created in an 8 MiB filesystem".into()),
        }
        if !segment_files().is_empty() {
            return Err(format!("left behind: {:?}", segment_files()));
        }
        Ok(())
    });
}

fn main() {
    common::run_cases(&[
        (
            "a_full_filesystem_is_no_space",
            a_full_filesystem_is_no_space,
        ),
        (
            "a_ring_larger_than_the_filesystem_is_refused",
            a_ring_larger_than_the_filesystem_is_refused,
        ),
    ]);
}
