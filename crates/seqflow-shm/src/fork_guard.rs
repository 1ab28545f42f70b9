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

use rustix::fd::{AsRawFd, OwnedFd, RawFd};
use std::cell::UnsafeCell;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Once;

/// The recorded descriptors, behind a spin lock: the child handler must be able to reset the
/// lock with a plain store (a parking mutex could have waiters whose threads do not exist in
/// the child, and unlocking it there would try to wake them).
struct Table {
    locked: AtomicBool,
    fds: UnsafeCell<Vec<RawFd>>,
}

// SAFETY: `fds` is only touched by the thread that holds `locked` (taken with `Acquire`,
// released with `Release`), so accesses never overlap.
unsafe impl Sync for Table {}

impl Table {
    fn lock(&self) {
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::thread::yield_now();
        }
    }

    fn unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }

    /// Run `f` on the descriptors under the lock.
    fn with<R>(&self, f: impl FnOnce(&mut Vec<RawFd>) -> R) -> R {
        self.lock();
        // SAFETY: we hold the lock (see the `Sync` impl).
        let out = f(unsafe { &mut *self.fds.get() });
        self.unlock();
        out
    }
}

static TABLE: Table = Table {
    locked: AtomicBool::new(false),
    fds: UnsafeCell::new(Vec::new()),
};
/// Bumped in every forked child: a handle made under another epoch was inherited.
static EPOCH: AtomicU64 = AtomicU64::new(0);
/// The highest epoch: `u64::MAX` is never one (see `child`).
pub(crate) const MAX_EPOCH: u64 = u64::MAX - 1;
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
    TABLE.lock();
}

extern "C" fn parent() {
    TABLE.unlock();
}

extern "C" fn child() {
    // Never `u64::MAX`: handles keep that value for "no epoch opens this gate" (a shut claim
    // gate), which must never match. The child is single-threaded here, so load and store do.
    let epoch = EPOCH.load(Ordering::Relaxed);
    EPOCH.store(epoch.saturating_add(1).min(MAX_EPOCH), Ordering::Relaxed);
    let null = DEV_NULL.load(Ordering::Relaxed);
    // SAFETY: `prepare` took the lock before the fork and this is the only thread of the child,
    // so nothing else touches the vector; reading it allocates nothing.
    let fds = unsafe { &*TABLE.fds.get() };
    if null >= 0 {
        for &fd in fds.iter() {
            // SAFETY: `dup2` is async-signal-safe; `fd` is open in the child (a copy of a
            // recorded descriptor) and `null` is our `/dev/null`.
            unsafe { libc::dup2(null, fd) };
        }
    }
    TABLE.unlock();
}

/// Open a new descriptor with `open` and record it, with no fork in between.
pub(crate) fn open_recorded(open: impl FnOnce() -> io::Result<OwnedFd>) -> io::Result<OwnedFd> {
    install();
    TABLE.with(|fds| {
        let fd = open()?;
        fds.push(fd.as_raw_fd());
        Ok(fd)
    })
}

/// Forget `fd` (call before closing it, so that a fork never redirects a reused number).
pub(crate) fn forget(fd: RawFd) {
    TABLE.with(|fds| fds.retain(|&recorded| recorded != fd));
}

/// The fork epoch for a handle being made now: installs the fork handlers (so that a fork after
/// this call is seen) and returns the epoch the handle records.
pub(crate) fn epoch_for_new_handle() -> u64 {
    install();
    EPOCH.load(Ordering::Relaxed)
}

/// The fork epoch of this process: a handle whose recorded epoch differs was inherited through
/// `fork()`. One relaxed load, cheap enough for every call on a handle.
#[inline]
pub(crate) fn epoch() -> u64 {
    EPOCH.load(Ordering::Relaxed)
}
