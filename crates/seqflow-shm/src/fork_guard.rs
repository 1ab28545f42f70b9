//! Lock descriptions that a forked child must not keep.
//!
//! Liveness rests on OFD byte-range locks, which belong to an open file description and are
//! released only when the last descriptor of that description is closed. `fork()` copies every
//! descriptor into the child, so without care a child would keep its parent's consumer,
//! producer and registry locks alive after the parent died (a dead consumer would gate forever)
//! or keep the registry locked while a thread of the parent held it at the time of the fork.
//!
//! Every such descriptor is recorded here from the moment it is opened until it is closed, and
//! a `pthread_atfork` child handler points each of them at `/dev/null` (`dup2`, which is
//! async-signal-safe): the child keeps valid descriptor numbers (its copies of the handles close
//! them harmlessly) but no reference to the lock descriptions. The prepare handler takes the
//! table's lock, so a fork never happens between opening a descriptor and recording it.

use parking_lot::lock_api::RawMutex as _;
use parking_lot::Mutex;
use rustix::fd::{AsRawFd, OwnedFd, RawFd};
use std::io;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Once;

/// The recorded descriptors.
static TABLE: Mutex<Vec<RawFd>> = Mutex::new(Vec::new());
/// `/dev/null`, opened once, for the child handler.
static DEV_NULL: AtomicI32 = AtomicI32::new(-1);
static INSTALL: Once = Once::new();

fn install() {
    INSTALL.call_once(|| {
        match rustix::fs::open(
            "/dev/null",
            rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        ) {
            Ok(fd) => {
                DEV_NULL.store(fd.as_raw_fd(), Ordering::Relaxed);
                std::mem::forget(fd); // kept open for the life of the process
            }
            Err(e) => tracing::warn!(error = %e, "cannot open /dev/null; forked children keep lock descriptions"),
        }
        // SAFETY: the handlers are `extern "C"` functions that stay valid for the life of the
        // process; registering them has no other precondition.
        let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
        if rc != 0 {
            tracing::warn!(rc, "pthread_atfork failed; forked children keep lock descriptions");
        }
    });
}

extern "C" fn prepare() {
    // SAFETY: paired with `force_unlock` in `parent` and `child`, which run in this thread (or
    // its copy) right after the fork.
    unsafe { TABLE.raw().lock() };
}

extern "C" fn parent() {
    // SAFETY: `prepare` locked the table in this thread.
    unsafe { TABLE.force_unlock() };
}

extern "C" fn child() {
    let null = DEV_NULL.load(Ordering::Relaxed);
    // SAFETY: `prepare` locked the table before the fork and this is the only thread of the
    // child, so nothing else touches the vector; reading it allocates nothing.
    let fds = unsafe { &*TABLE.data_ptr() };
    if null >= 0 {
        for &fd in fds.iter() {
            // SAFETY: `dup2` is async-signal-safe; `fd` is open in the child (a copy of a
            // recorded descriptor) and `null` is our `/dev/null`.
            unsafe { libc::dup2(null, fd) };
        }
    }
    // SAFETY: `prepare` locked the table in the thread this child is a copy of.
    unsafe { TABLE.force_unlock() };
}

/// Open a new descriptor with `open` and record it, with no fork in between.
pub(crate) fn open_recorded(open: impl FnOnce() -> io::Result<OwnedFd>) -> io::Result<OwnedFd> {
    install();
    let mut table = TABLE.lock();
    let fd = open()?;
    table.push(fd.as_raw_fd());
    Ok(fd)
}

/// Forget `fd` (call before closing it, so that a fork never redirects a reused number).
pub(crate) fn forget(fd: RawFd) {
    TABLE.lock().retain(|&recorded| recorded != fd);
}
