//! A segment's file, opened by name: `/dev/shm/NAME`, and only if it is a regular file.
//!
//! `shm_open` follows a symbolic link and opens a FIFO or a device file found under the name;
//! a segment is always a regular file that seqflow created, so a link is not followed
//! (`O_NOFOLLOW`) and anything but a regular file is refused. A FIFO is opened non-blocking, so
//! that the look does not wait for a writer.

use crate::ShmError;
use rustix::fd::OwnedFd;
use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

/// How a segment's file is opened.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Access {
    /// Read only (looking at a segment).
    Read,
    /// Read and write (attaching, removing a stale one).
    ReadWrite,
    /// A new file (`O_CREAT | O_EXCL`) with exactly these permissions (the umask does not
    /// narrow them: a ring made for other users is one they can open).
    CreateNew(Mode),
}

/// Why a segment's file could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileError {
    /// The system call failed (`NOENT`: no such name; `EXIST`: the name is taken).
    Io(Errno),
    /// The name is a symbolic link, FIFO, device or directory: not a seqflow segment.
    NotRegular,
}

impl FileError {
    /// The error to report for `name`, where `op` is what was being done.
    pub(crate) fn into_shm(self, name: &str, op: &'static str) -> ShmError {
        match self {
            FileError::Io(e) => ShmError::io(name, op, e),
            FileError::NotRegular => ShmError::NotSeqflow {
                name: name.to_owned(),
            },
        }
    }
}

/// The path of segment `name` (with or without its leading `/`).
fn path(name: &str) -> String {
    format!("/dev/shm/{}", name.trim_start_matches('/'))
}

/// Open segment `name`'s file; a name that is not a regular file is [`FileError::NotRegular`].
pub(crate) fn open(name: &str, access: Access) -> Result<OwnedFd, FileError> {
    let rest = name.trim_start_matches('/');
    if rest.is_empty() || rest.contains('/') || rest == "." || rest == ".." {
        return Err(FileError::Io(Errno::INVAL));
    }
    let common = OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    let (flags, mode) = match access {
        Access::Read => (OFlags::RDONLY, Mode::empty()),
        Access::ReadWrite => (OFlags::RDWR, Mode::empty()),
        Access::CreateNew(mode) => (OFlags::RDWR | OFlags::CREATE | OFlags::EXCL, mode),
    };
    let fd = match rustix::fs::open(path(name), flags | common, mode) {
        Ok(fd) => fd,
        // `O_NOFOLLOW` on a symbolic link; a directory opened for writing.
        Err(Errno::LOOP | Errno::ISDIR) => return Err(FileError::NotRegular),
        Err(e) => return Err(FileError::Io(e)),
    };
    let stat = rustix::fs::fstat(&fd).map_err(FileError::Io)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(FileError::NotRegular);
    }
    if let Access::CreateNew(mode) = access {
        // Permission bits only: no setuid, setgid or sticky bit on a segment.
        let mode = Mode::from_bits_truncate(mode.bits() & 0o777);
        rustix::fs::fchmod(&fd, mode).map_err(FileError::Io)?;
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unique(tag: &str) -> String {
        format!("/seqflow-file-unit-{tag}-{}", std::process::id())
    }

    #[test]
    fn links_fifos_and_directories_are_not_segments() {
        let target = unique("target");
        let fd = open(&target, Access::CreateNew(Mode::from_bits_truncate(0o600))).unwrap();
        drop(fd);
        let link = unique("link");
        std::os::unix::fs::symlink(path(&target), path(&link)).unwrap();
        let fifo = unique("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            path(&fifo),
            FileType::Fifo,
            Mode::from_bits_truncate(0o600),
            0,
        )
        .unwrap();
        let dir = unique("dir");
        std::fs::create_dir(path(&dir)).unwrap();
        let mut refused = Vec::new();
        for name in [&link, &fifo, &dir] {
            for access in [Access::Read, Access::ReadWrite] {
                refused.push((name.clone(), open(name, access).err()));
            }
        }
        let target_opens = open(&target, Access::ReadWrite).is_ok();
        let absent = open(&unique("absent"), Access::Read).err();
        let create_over_link = open(&link, Access::CreateNew(Mode::empty())).err();
        for name in [&target, &link, &fifo] {
            std::fs::remove_file(path(name)).unwrap();
        }
        std::fs::remove_dir(path(&dir)).unwrap();
        for (name, error) in refused {
            assert_eq!(error, Some(FileError::NotRegular), "{name}");
        }
        assert!(target_opens);
        assert_eq!(absent, Some(FileError::Io(Errno::NOENT)));
        assert_eq!(create_over_link, Some(FileError::Io(Errno::EXIST)));
    }

    #[test]
    fn a_new_file_gets_the_permissions_asked_for_whatever_the_umask() {
        let name = unique("mode");
        let old = rustix::process::umask(Mode::from_bits_truncate(0o077));
        let created = open(&name, Access::CreateNew(Mode::from_bits_truncate(0o666)));
        rustix::process::umask(old);
        let stat = rustix::fs::fstat(created.unwrap()).unwrap();
        std::fs::remove_file(path(&name)).unwrap();
        assert_eq!(stat.st_mode & 0o777, 0o666);
    }
}
