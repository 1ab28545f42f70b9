//! [`UnlinkGuard`]: the creator-side cleanup that removes a segment's name on drop.

use crate::liveness::current_pid;

/// Unlinks a segment name when dropped, but only in the process that made the guard: a forked
/// child dropping its copy (or exiting) leaves the name alone. Made by
/// [`ShmRing::unlink_on_drop`](crate::ShmRing::unlink_on_drop).
///
/// ```
/// use seqflow_shm::{ShmOptions, ShmRing, UnlinkGuard};
/// let name = format!("/seqflow-doc-unlinkguard-{}", std::process::id());
/// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
/// let guard = UnlinkGuard::new(&name);
/// assert_eq!(guard.name(), name);
/// drop(guard);
/// assert!(ring.is_unlinked());
/// ```
#[derive(Debug)]
pub struct UnlinkGuard {
    name: String,
    pid: u32,
    /// (device, inode) of the segment the name referred to when the guard was made: a name that
    /// now refers to another segment is left alone.
    file: Option<(u64, u64)>,
    armed: bool,
}

fn file_id(name: &str) -> Option<(u64, u64)> {
    let fd = crate::segment_file::open(name, crate::segment_file::Access::Read).ok()?;
    let stat = rustix::fs::fstat(&fd).ok()?;
    Some((stat.st_dev as u64, stat.st_ino as u64))
}

impl UnlinkGuard {
    /// A guard for `name`, owned by the calling process.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            pid: current_pid(),
            file: file_id(name),
            armed: true,
        }
    }

    /// The guarded name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Keep the name after all (the guard does nothing when dropped).
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing};
    /// # let name = format!("/seqflow-doc-disarm-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// ring.unlink_on_drop().disarm();
    /// assert!(!ring.is_unlinked());
    /// # ring.unlink().unwrap();
    /// ```
    pub fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for UnlinkGuard {
    fn drop(&mut self) {
        if self.armed && current_pid() == self.pid {
            if self.file.is_some() && file_id(&self.name) != self.file {
                return;
            }
            match rustix::shm::unlink(self.name.as_str()) {
                Ok(()) | Err(rustix::io::Errno::NOENT) => {}
                Err(e) => tracing::warn!(segment = %self.name, error = %e, "shm_unlink failed"),
            }
        }
    }
}
