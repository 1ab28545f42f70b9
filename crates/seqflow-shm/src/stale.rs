//! Stale segments: telling a live segment from one a crashed run left behind, and removing it.
//!
//! A segment is live while anybody holds its attach lock (every attached mapping does) or its
//! init lock (the creator, while initialising). Both are OFD locks, released by the kernel when
//! the holder dies, so "no lock held" means the creator and every attached process are gone.
//! One case needs care: a creator holds no lock for the few instructions between its
//! `shm_open` and its first `fcntl`. A READY segment cannot be in that window (its creator took
//! the locks before READY), so it is stale at once; a segment that is not READY is watched for
//! up to [`GRACE`] for a lock to appear before it is called stale.

use crate::header::{HeaderCopy, MAGIC, READY};
use crate::liveness::{anyone_attached, ATTACH_BYTE};
use crate::lock::{self, LockKind};
use crate::segment_file::{self, Access, FileError};
use crate::{SegmentName, ShmError};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::shm;
use seqflow_sequence::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How long an uninitialised segment may go without a lock before it counts as stale (its
/// creator may have been descheduled between `shm_open` and `fcntl`).
pub(crate) const GRACE: Duration = Duration::from_secs(1);

/// What a name refers to.
#[derive(Debug)]
pub(crate) enum Existing {
    /// Nothing (any more).
    Gone,
    /// A segment somebody is attached to.
    Live { creator_pid: u32 },
    /// A segment nobody is attached to; `fd` is a fresh description of it.
    Stale { creator_pid: u32, fd: OwnedFd },
    /// Nobody holds its locks, but it does not carry a seqflow header: never removed.
    Foreign,
}

/// Open `name` without attaching (no lock taken) and classify it.
pub(crate) fn probe_existing(name: &SegmentName) -> Result<Existing, ShmError> {
    let fd = match segment_file::open(name.as_str(), Access::ReadWrite) {
        Ok(fd) => fd,
        Err(FileError::Io(Errno::NOENT)) => return Ok(Existing::Gone),
        Err(FileError::NotRegular) => return Ok(Existing::Foreign),
        Err(e) => return Err(e.into_shm(name.as_str(), "shm_open")),
    };
    let attached = |fd: BorrowedFd<'_>| {
        anyone_attached(fd).map_err(|e| ShmError::std_io(name.as_str(), "fcntl(F_OFD_GETLK)", e))
    };
    let (creator_pid, state, _) = read_header_words(fd.as_fd());
    if attached(fd.as_fd())? {
        return Ok(Existing::Live { creator_pid });
    }
    if state != READY {
        let deadline = Instant::now() + GRACE;
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
            if attached(fd.as_fd())? {
                return Ok(Existing::Live {
                    creator_pid: read_header_words(fd.as_fd()).0,
                });
            }
        }
    }
    // Only a file that carries our magic number is ever taken for a stale seqflow segment: an
    // empty file, or one with other contents, may belong to another program.
    if read_header_words(fd.as_fd()).2 != MAGIC {
        return Ok(Existing::Foreign);
    }
    Ok(Existing::Stale { creator_pid, fd })
}

/// Unlink a segment found stale through `fd`: take its attach lock exclusively (so nobody
/// attaches meanwhile: openers wait for it), check the name still names this very file, unlink.
/// Returns whether it removed it; `false` when somebody attached in between or the name now
/// names another segment.
pub(crate) fn remove_stale_segment(name: &SegmentName, fd: OwnedFd) -> Result<bool, ShmError> {
    let io = |op, e| ShmError::std_io(name.as_str(), op, e);
    if !lock::try_lock(fd.as_fd(), ATTACH_BYTE, LockKind::Write).map_err(|e| io("fcntl", e))? {
        return Ok(false);
    }
    if !still_named(name, fd.as_fd())? {
        return Ok(false);
    }
    match shm::unlink(name.as_str()) {
        Ok(()) | Err(Errno::NOENT) => Ok(true),
        Err(e) => Err(ShmError::io(name.as_str(), "shm_unlink", e)),
    }
    // `fd` closes here, releasing the exclusive lock; waiting openers then see the file
    // unlinked (`st_nlink == 0`) and retry by name.
}

/// Whether `name` still names the file `fd` was opened from (same device and inode): checked
/// right before unlinking by name, so that a file swapped in under the name after `fd`'s checks
/// is not the one removed. (Linux has no unlink by descriptor; this narrows the window to the
/// two calls.)
pub(crate) fn still_named(name: &SegmentName, fd: BorrowedFd<'_>) -> Result<bool, ShmError> {
    let ours = rustix::fs::fstat(fd).map_err(|e| ShmError::io(name.as_str(), "fstat", e))?;
    let current = match segment_file::open(name.as_str(), Access::Read) {
        Ok(current) => current,
        Err(FileError::Io(Errno::NOENT) | FileError::NotRegular) => return Ok(false),
        Err(e) => return Err(e.into_shm(name.as_str(), "shm_open")),
    };
    let theirs =
        rustix::fs::fstat(&current).map_err(|e| ShmError::io(name.as_str(), "fstat", e))?;
    Ok((ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino))
}

/// The creator pid, the init state and the magic number in the header; zeros if the file is
/// too small or cannot be read. Read with `pread`, never mapped: the file may be another
/// program's, shrinking as it is read (`HeaderCopy`).
pub(crate) fn read_header_words(fd: BorrowedFd<'_>) -> (u32, u32, u64) {
    match HeaderCopy::read(fd) {
        Ok(Some(copy)) => {
            let header = copy.header();
            (
                header.ident.creator_pid.load(Ordering::Relaxed),
                header.init_state(),
                header.ident.magic.load(Ordering::Relaxed),
            )
        }
        Ok(None) | Err(_) => (0, 0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_swapped_in_under_the_name_is_not_still_named() {
        let name = SegmentName::new(&format!("/seqflow-unit-swap-{}", std::process::id())).unwrap();
        let create = || {
            shm::open(
                name.as_str(),
                shm::OFlags::CREATE | shm::OFlags::RDWR,
                rustix::fs::Mode::from_raw_mode(0o600),
            )
            .unwrap()
        };
        let first = create();
        assert!(still_named(&name, first.as_fd()).unwrap());
        shm::unlink(name.as_str()).unwrap();
        assert!(!still_named(&name, first.as_fd()).unwrap(), "gone");
        let second = create();
        assert!(!still_named(&name, first.as_fd()).unwrap(), "another file");
        assert!(still_named(&name, second.as_fd()).unwrap());
        shm::unlink(name.as_str()).unwrap();
    }
}
