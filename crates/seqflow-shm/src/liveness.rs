//! Who is alive: the lock-byte map of a segment and the checks built on it.
//!
//! Lock bytes (on the segment's own file; past its end is fine):
//!
//! | byte | lock | held by |
//! |---|---|---|
//! | 0 | shared | every attached `ShmRing` (its mapping's description): "somebody is attached" |
//! | 1 | exclusive | the creator, until the segment is READY |
//! | 2 | exclusive | whoever changes the registry or producer table (a mutex the OS releases on death) |
//! | 2^16 + i | exclusive | the producer holding producer slot `i` |
//! | 2^20 + i | exclusive | the consumer holding consumer slot `i` |
//!
//! A holder counts as alive when its lock byte is held **and** its recorded pid exists. The
//! lock catches every death (the kernel releases it); the pid check catches a lock kept alive
//! only by a forked child that inherited the descriptor after its parent died. Both assume
//! every attached process runs in one pid namespace.

use crate::lock::{self, HeldLock, LockKind};
use rustix::fd::BorrowedFd;
use std::io;

/// Shared lock of every attached mapping.
pub(crate) const ATTACH_BYTE: u64 = 0;
/// Exclusive lock of the creator while it initialises.
pub(crate) const INIT_BYTE: u64 = 1;
/// The registry mutex.
pub(crate) const REGISTRY_BYTE: u64 = 2;
/// First producer-slot byte.
pub(crate) const PRODUCER_BASE: u64 = 1 << 16;
/// First consumer-slot byte.
pub(crate) const CONSUMER_BASE: u64 = 1 << 20;

/// Whether a process with this pid exists (zombies included; 0 and negative pids do not).
pub(crate) fn pid_exists(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
    }
}

/// Whether the holder of `byte` recorded as `pid` is alive (see the module docs). `file` must be
/// a description that does not itself hold `byte`. An error of the lock query counts as alive:
/// never release a slot on a doubt.
pub(crate) fn holder_alive(file: BorrowedFd<'_>, byte: u64, pid: u32) -> bool {
    match lock::is_locked(file, byte, LockKind::Write) {
        Ok(true) => pid_exists(pid),
        Ok(false) => false,
        Err(e) => {
            tracing::warn!(byte, pid, error = %e, "lock query failed; assuming the holder is alive");
            true
        }
    }
}

/// Whether any process is attached to (or creating) the segment behind `file`. `file` must be a
/// description holding no lock itself.
pub(crate) fn anyone_attached(file: BorrowedFd<'_>) -> io::Result<bool> {
    Ok(lock::is_locked(file, ATTACH_BYTE, LockKind::Write)?
        || lock::is_locked(file, INIT_BYTE, LockKind::Write)?)
}

/// The registry mutex, held through a description of its own (so it excludes other threads of
/// this process and forked children too) and released by the OS if the holder dies.
#[derive(Debug)]
pub(crate) struct RegistryLock {
    _held: HeldLock,
}

impl RegistryLock {
    /// Take the registry lock, waiting at most `timeout`; `Ok(None)` if it is still held then
    /// (a stopped or stuck holder).
    pub fn acquire(file: BorrowedFd<'_>, timeout: std::time::Duration) -> io::Result<Option<Self>> {
        Ok(HeldLock::exclusive_timeout(file, REGISTRY_BYTE, timeout)?
            .map(|held| Self { _held: held }))
    }

    /// Take the registry lock if nobody holds it.
    pub fn try_acquire(file: BorrowedFd<'_>) -> io::Result<Option<Self>> {
        Ok(HeldLock::try_exclusive(file, REGISTRY_BYTE)?.map(|held| Self { _held: held }))
    }
}

/// This process's pid.
pub(crate) fn current_pid() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_pid_exists_and_zero_does_not() {
        assert!(pid_exists(current_pid()));
        assert!(!pid_exists(0));
        assert!(!pid_exists(u32::MAX));
        assert_eq!(current_pid(), std::process::id());
    }
}
