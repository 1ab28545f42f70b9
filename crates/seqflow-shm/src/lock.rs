//! Open-file-description (OFD) byte-range locks: the OS-released locks that tell who is alive.
//!
//! An OFD lock (`F_OFD_SETLK`, Linux 3.15+) belongs to an open file description, not to a
//! process: it is released when the last descriptor of that description closes, which the
//! kernel does when the process dies, however it dies (SIGKILL included). Unlike classic
//! `F_SETLK` record locks, closing *another* descriptor of the same file does not drop it, and
//! two descriptions in one process conflict with each other, so one process can hold and test
//! locks for several handles independently.
//!
//! rustix only wraps whole-file `flock`-style locks, so this module calls `fcntl` through
//! `libc`. Locks may cover bytes past the end of the file; the segment uses such bytes purely as
//! lock identities (see `liveness` for the byte map).

use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::io;

/// Shared (read) or exclusive (write) lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockKind {
    Read,
    Write,
}

impl LockKind {
    fn raw(self) -> libc::c_short {
        match self {
            Self::Read => libc::F_RDLCK as libc::c_short,
            Self::Write => libc::F_WRLCK as libc::c_short,
        }
    }
}

fn flock_for(byte: u64, l_type: libc::c_short) -> io::Result<libc::flock> {
    // SAFETY: `libc::flock` is a plain C struct of integers; all-zero is a valid value (and
    // `l_pid` must be 0 for OFD locks).
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = l_type;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = libc::off_t::try_from(byte)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "lock byte out of range"))?;
    fl.l_len = 1;
    Ok(fl)
}

fn fcntl_lock(fd: BorrowedFd<'_>, cmd: libc::c_int, fl: &mut libc::flock) -> io::Result<()> {
    loop {
        // SAFETY: `fd` is a valid open descriptor for the duration of the borrow, and `fl` is a
        // valid, exclusively borrowed `struct flock`, which is what these commands read/write.
        let rc = unsafe { libc::fcntl(fd.as_raw_fd(), cmd, fl as *mut libc::flock) };
        if rc != -1 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

/// Take a lock on `byte` without waiting: `Ok(false)` if another description holds a
/// conflicting one.
pub(crate) fn try_lock(fd: BorrowedFd<'_>, byte: u64, kind: LockKind) -> io::Result<bool> {
    let mut fl = flock_for(byte, kind.raw())?;
    match fcntl_lock(fd, libc::F_OFD_SETLK, &mut fl) {
        Ok(()) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Release this description's lock on `byte` (no error if it held none).
pub(crate) fn unlock(fd: BorrowedFd<'_>, byte: u64) -> io::Result<()> {
    let mut fl = flock_for(byte, libc::F_UNLCK as libc::c_short)?;
    fcntl_lock(fd, libc::F_OFD_SETLK, &mut fl)
}

/// Whether another open file description holds a lock on `byte` that conflicts with `kind`
/// (`Write` finds readers and writers, `Read` finds writers). Locks held through `fd`'s own
/// description are not reported.
pub(crate) fn is_locked(fd: BorrowedFd<'_>, byte: u64, kind: LockKind) -> io::Result<bool> {
    let mut fl = flock_for(byte, kind.raw())?;
    fcntl_lock(fd, libc::F_OFD_GETLK, &mut fl)?;
    Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
}

/// A new open file description of the same file as `fd` (through `/proc/self/fd`, which works
/// even after the name was unlinked), close-on-exec. Locks taken through it are independent of
/// every other description, including `fd`'s.
pub(crate) fn reopen(fd: BorrowedFd<'_>) -> io::Result<LockFd> {
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let fd = crate::fork_guard::open_recorded(|| {
        rustix::fs::open(
            path.as_str(),
            rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(io::Error::from)
    })?;
    Ok(LockFd {
        fd: Some(fd),
        owner: crate::liveness::current_pid(),
    })
}

/// A descriptor of its own for one lock (an open file description of its own, so its OFD lock
/// conflicts with every other one). Recorded for forks (see `fork_guard`); dropping it releases
/// its locks in the process that opened it, and only there (a forked child's copy must not
/// release the parent's lock).
#[derive(Debug)]
pub(crate) struct LockFd {
    fd: Option<OwnedFd>,
    owner: u32,
}

impl LockFd {
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd
            .as_ref()
            .map(AsFd::as_fd)
            .expect("present until drop")
    }
}

impl Drop for LockFd {
    fn drop(&mut self) {
        if let Some(fd) = self.fd.take() {
            crate::fork_guard::forget(fd.as_raw_fd());
            if crate::liveness::current_pid() == self.owner {
                // Releases every lock of the description at once, even if a child forked
                // before the fork guard was installed still has a copy of it.
                let _ = unlock_all(fd.as_fd());
            }
            drop(fd);
        }
    }
}

/// Release every byte lock of `fd`'s description.
fn unlock_all(fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut fl = flock_for(0, libc::F_UNLCK as libc::c_short)?;
    fl.l_len = 0; // to the end of the file, whatever its size
    fcntl_lock(fd, libc::F_OFD_SETLK, &mut fl)
}

/// A lock on one byte held through a description of its own: released when this value drops
/// (or when the process dies).
#[derive(Debug)]
pub(crate) struct HeldLock {
    /// Holds the lock while open; dropping it releases the lock (in the owning process).
    _fd: LockFd,
}

impl HeldLock {
    /// Take an exclusive lock on `byte` through a fresh description of `file`, without waiting:
    /// `Ok(None)` if somebody else holds it.
    pub fn try_exclusive(file: BorrowedFd<'_>, byte: u64) -> io::Result<Option<Self>> {
        let fd = reopen(file)?;
        Ok(try_lock(fd.as_fd(), byte, LockKind::Write)?.then_some(Self { _fd: fd }))
    }

    /// Take an exclusive lock on `byte` through a fresh description of `file`, waiting at most
    /// `timeout` (polling with a short back-off: an OFD lock wait cannot time out); `Ok(None)`
    /// if somebody else still holds it then.
    pub fn exclusive_timeout(
        file: BorrowedFd<'_>,
        byte: u64,
        timeout: std::time::Duration,
    ) -> io::Result<Option<Self>> {
        let fd = reopen(file)?;
        let deadline = std::time::Instant::now().checked_add(timeout);
        let mut nap = std::time::Duration::from_micros(50);
        loop {
            if try_lock(fd.as_fd(), byte, LockKind::Write)? {
                return Ok(Some(Self { _fd: fd }));
            }
            let now = std::time::Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Ok(None);
            }
            let left = deadline.map_or(nap, |d| d.saturating_duration_since(now));
            std::thread::sleep(nap.min(left));
            nap = (nap * 2).min(std::time::Duration::from_millis(5));
        }
    }

    /// Wrap a description `fd` that already holds a lock.
    pub fn from_fd(fd: LockFd) -> Self {
        Self { _fd: fd }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file() -> OwnedFd {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("/seqflow-lock-unit-{}-{n}", std::process::id());
        let fd = rustix::shm::open(
            name.as_str(),
            rustix::shm::OFlags::CREATE | rustix::shm::OFlags::EXCL | rustix::shm::OFlags::RDWR,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
        )
        .unwrap();
        rustix::shm::unlink(name.as_str()).unwrap();
        fd
    }

    #[test]
    fn descriptions_conflict_within_one_process() {
        let file = temp_file();
        let held = HeldLock::try_exclusive(file.as_fd(), 7).unwrap().unwrap();
        assert!(is_locked(file.as_fd(), 7, LockKind::Write).unwrap());
        assert!(!is_locked(file.as_fd(), 8, LockKind::Write).unwrap());
        assert!(HeldLock::try_exclusive(file.as_fd(), 7).unwrap().is_none());
        drop(held);
        assert!(!is_locked(file.as_fd(), 7, LockKind::Write).unwrap());
    }

    #[test]
    fn readers_share_and_block_writers() {
        let file = temp_file();
        let a = reopen(file.as_fd()).unwrap();
        let b = reopen(file.as_fd()).unwrap();
        assert!(try_lock(a.as_fd(), 0, LockKind::Read).unwrap());
        assert!(try_lock(b.as_fd(), 0, LockKind::Read).unwrap());
        assert!(is_locked(file.as_fd(), 0, LockKind::Write).unwrap());
        assert!(!is_locked(file.as_fd(), 0, LockKind::Read).unwrap());
        assert!(!try_lock(file.as_fd(), 0, LockKind::Write).unwrap());
        unlock(a.as_fd(), 0).unwrap();
        drop(b);
        assert!(try_lock(file.as_fd(), 0, LockKind::Write).unwrap());
    }
}
