//! Opening a segment: attach, wait for READY, and check every header field before use.
//!
//! Nothing read from the segment is trusted: the header is read with `pread` (never mapped)
//! and checked, with the file's size, before anything is mapped; the init state must be one of
//! three values, and every size and offset must equal what this build computes from the
//! header's own sizes. Each mismatch is its own [`ShmError`] variant, never a panic, and a
//! file of another program that shrinks meanwhile gives an error, not SIGBUS.

use crate::header::{
    HeaderCopy, HeaderFields, HEADER_SIZE, INITIALISING, LAYOUT_VERSION, MAGIC, OFFSET_NAMES,
    READY, UNINIT,
};
use crate::layout::{Layout, Params};
use crate::liveness::{ATTACH_BYTE, INIT_BYTE};
use crate::lock::{self, LockKind};
use crate::mapping::Mapping;
use crate::segment::Segment;
use crate::segment_file::{self, Access, FileError};
use crate::{ProducerMode, SegmentName, ShmError, WaitKind};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the opener's event type looks like; `None` to accept any (inspection).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expect {
    /// The slot size of a sized type; `None` when the segment chose it (any size `fits`
    /// accepts).
    pub size: Option<u64>,
    /// Whether slots of a size hold this type.
    pub fits: fn(usize) -> bool,
    pub align: u64,
    pub fingerprint: u64,
    pub type_name: &'static str,
}

/// Whether the opener attaches (takes the attach lock) or only looks (inspect).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attach {
    Yes,
    InspectOnly,
}

/// Open `name`, wait up to `timeout` for READY, validate, map.
pub(crate) fn open_segment(
    name: &SegmentName,
    timeout: Duration,
    expect: Option<Expect>,
    attach: Attach,
) -> Result<Segment, ShmError> {
    let started = Instant::now();
    let fd = open_fd(name, attach, started, timeout)?;
    wait_for_size(name, fd.as_fd(), started, timeout)?;
    // Read and checked with `pread` before anything is mapped: a file of another program
    // that shrinks under a mapping would kill this process (SIGBUS), a `pread` comes back
    // short. Once checked, the file is a seqflow segment; shrinking one under its processes
    // is a documented limit.
    let fields = wait_for_ready(name, fd.as_fd(), started, timeout)?;
    let size = file_size(name, fd.as_fd())?;
    let (layout, mode, wait) = validate(name, &fields, size, expect)?;
    let size = usize::try_from(size).map_err(|_| ShmError::SizeMismatch {
        name: name.to_string(),
        expected: fields.total_size,
        found: size,
    })?;
    let writable = attach == Attach::Yes;
    let map = Arc::new(Mapping::map(fd, size, name.clone(), writable)?);
    if writable {
        map.populate();
    }
    Segment::from_validated(map, fields, layout, mode, wait)
}

/// `shm_open` and, when attaching, the shared attach lock (waiting out a stale-segment
/// remover, then retrying by name if it removed the file). The wait for the lock ends at
/// `started + timeout`: a remover that was stopped (or any process holding the lock
/// exclusively) must not hang the opener.
fn open_fd(
    name: &SegmentName,
    attach: Attach,
    started: Instant,
    timeout: Duration,
) -> Result<OwnedFd, ShmError> {
    const ATTEMPTS: usize = 3;
    for _ in 0..ATTEMPTS {
        // Inspecting only loads: read-only, so it needs no write permission and cannot write.
        let access = match attach {
            Attach::Yes => Access::ReadWrite,
            Attach::InspectOnly => Access::Read,
        };
        let fd = match segment_file::open(name.as_str(), access) {
            Ok(fd) => fd,
            Err(FileError::Io(Errno::NOENT)) => {
                return Err(ShmError::NotFound {
                    name: name.to_string(),
                })
            }
            Err(e) => return Err(e.into_shm(name.as_str(), "shm_open")),
        };
        if attach == Attach::InspectOnly {
            return Ok(fd);
        }
        while !lock::try_lock(fd.as_fd(), ATTACH_BYTE, LockKind::Read)
            .map_err(|e| ShmError::std_io(name.as_str(), "fcntl(F_OFD_SETLK)", e))?
        {
            if started.elapsed() >= timeout {
                return Err(ShmError::AttachLocked {
                    name: name.to_string(),
                    waited: started.elapsed(),
                });
            }
            pause(started);
        }
        let stat = rustix::fs::fstat(&fd).map_err(|e| ShmError::io(name.as_str(), "fstat", e))?;
        if stat.st_nlink > 0 {
            return Ok(fd);
        }
        // Unlinked between our shm_open and our lock: look the name up again.
    }
    Err(ShmError::Removed {
        name: name.to_string(),
    })
}

fn file_size(name: &SegmentName, fd: BorrowedFd<'_>) -> Result<u64, ShmError> {
    let stat = rustix::fs::fstat(fd).map_err(|e| ShmError::io(name.as_str(), "fstat", e))?;
    Ok(u64::try_from(stat.st_size).unwrap_or(0))
}

/// Whether the creator is still at work (init lock) or anybody else is attached.
fn creator_or_peer_alive(fd: BorrowedFd<'_>) -> bool {
    let held = |byte| lock::is_locked(fd, byte, LockKind::Write).unwrap_or(true);
    held(INIT_BYTE) || held(ATTACH_BYTE)
}

fn pause(started: Instant) {
    // Back off from 100 µs to 5 ms: creators are quick, but nobody should spin here.
    let waited = started.elapsed();
    std::thread::sleep((waited / 8).clamp(Duration::from_micros(100), Duration::from_millis(5)));
}

/// Wait for the creator's `ftruncate` (a new file is empty).
fn wait_for_size(
    name: &SegmentName,
    fd: BorrowedFd<'_>,
    started: Instant,
    timeout: Duration,
) -> Result<(), ShmError> {
    loop {
        let size = file_size(name, fd)?;
        if size >= HEADER_SIZE as u64 {
            return Ok(());
        }
        // A creator sizes the file once, from 0 to its full size: a file smaller than a header
        // is not a seqflow segment.
        if size != 0 {
            return Err(ShmError::NotSeqflow {
                name: name.to_string(),
            });
        }
        if !creator_or_peer_alive(fd) {
            // An empty file that nobody holds a lock on: its creator died before sizing it, or
            // is in the few instructions between its `shm_open` and its first lock. Watched
            // for up to `stale::GRACE` (within the timeout) before it is called dead, as a
            // racing creator does (`stale::probe_existing`).
            if started.elapsed() >= timeout.min(crate::stale::GRACE) {
                return Err(ShmError::CreatorDied {
                    name: name.to_string(),
                    state: UNINIT,
                });
            }
        } else if started.elapsed() >= timeout {
            return Err(ShmError::NotReady {
                name: name.to_string(),
                state: UNINIT,
                waited: started.elapsed(),
            });
        }
        pause(started);
    }
}

/// Wait for the init state to be READY; then read the header. Every look is a `pread` copy
/// of the header (`HeaderCopy`), never a mapping.
fn wait_for_ready(
    name: &SegmentName,
    fd: BorrowedFd<'_>,
    started: Instant,
    timeout: Duration,
) -> Result<HeaderFields, ShmError> {
    let read = || {
        HeaderCopy::read(fd)
            .map_err(|e| ShmError::std_io(name.as_str(), "pread", e))?
            .ok_or_else(|| ShmError::SizeMismatch {
                name: name.to_string(),
                expected: HEADER_SIZE as u64,
                found: file_size(name, fd).unwrap_or(0),
            })
    };
    loop {
        let copy = read()?;
        let header = copy.header();
        match header.init_state() {
            // Read again: the copy that showed READY may hold fields copied before the
            // creator's last stores (the kernel copies in no promised order); one read after
            // READY was seen holds them all.
            READY => return Ok(read()?.header().read()),
            state @ (UNINIT | INITIALISING) => {
                if !creator_or_peer_alive(fd) {
                    return Err(ShmError::CreatorDied {
                        name: name.to_string(),
                        state,
                    });
                }
                if started.elapsed() >= timeout {
                    return Err(ShmError::NotReady {
                        name: name.to_string(),
                        state,
                        waited: started.elapsed(),
                    });
                }
                pause(started);
            }
            // Not a state seqflow writes: without seqflow's magic, not a seqflow segment at all.
            _ if header.read().magic != MAGIC => {
                return Err(ShmError::NotSeqflow {
                    name: name.to_string(),
                })
            }
            other => {
                return Err(ShmError::CorruptHeader {
                    name: name.to_string(),
                    field: "init_state",
                    found: u64::from(other),
                })
            }
        }
    }
}

/// Check every header field against this build and the file; return the layout.
pub(crate) fn validate(
    name: &SegmentName,
    f: &HeaderFields,
    file_size: u64,
    expect: Option<Expect>,
) -> Result<(Layout, ProducerMode, WaitKind), ShmError> {
    let name_s = || name.to_string();
    if f.magic != MAGIC {
        return Err(ShmError::BadMagic {
            name: name_s(),
            expected: MAGIC,
            found: f.magic,
        });
    }
    if f.version != LAYOUT_VERSION {
        return Err(ShmError::VersionMismatch {
            name: name_s(),
            expected: LAYOUT_VERSION,
            found: f.version,
        });
    }
    if f.header_size != HEADER_SIZE as u32 {
        return Err(ShmError::HeaderSizeMismatch {
            name: name_s(),
            expected: HEADER_SIZE as u32,
            found: f.header_size,
        });
    }
    let mode = ProducerMode::from_code(f.producer_mode).ok_or_else(|| {
        ShmError::UnsupportedProducerMode {
            name: name_s(),
            found: f.producer_mode,
        }
    })?;
    if usize::try_from(f.capacity).map_or(true, |c| seqflow_ring::Capacity::new(c).is_err()) {
        return Err(ShmError::BadCapacity {
            name: name_s(),
            found: f.capacity,
        });
    }
    let params = Params::from_header(f, mode == ProducerMode::MultiCas);
    params.check().map_err(|e| ShmError::CorruptHeader {
        name: name_s(),
        field: e.field,
        found: e.value,
    })?;
    let layout = params.layout().ok_or_else(|| ShmError::CorruptHeader {
        name: name_s(),
        field: "total_size",
        found: f.total_size,
    })?;
    if f.total_size != layout.total {
        return Err(ShmError::OffsetMismatch {
            name: name_s(),
            field: "total_size",
            expected: layout.total,
            found: f.total_size,
        });
    }
    if file_size != f.total_size {
        return Err(ShmError::SizeMismatch {
            name: name_s(),
            expected: f.total_size,
            found: file_size,
        });
    }
    for ((field, expected), found) in OFFSET_NAMES.iter().zip(layout.offsets()).zip(f.offsets) {
        if expected != found {
            return Err(ShmError::OffsetMismatch {
                name: name_s(),
                field,
                expected,
                found,
            });
        }
    }
    let wait =
        WaitKind::decode(f.wait_kind, f.wait_param).ok_or_else(|| ShmError::CorruptHeader {
            name: name_s(),
            field: "wait_kind",
            found: u64::from(f.wait_kind),
        })?;
    if let Some(e) = expect {
        let expected_size = e.size.unwrap_or(f.event_size);
        if (expected_size, e.align) != (f.event_size, f.event_align) {
            return Err(ShmError::EventLayoutMismatch {
                name: name_s(),
                expected_size,
                expected_align: e.align,
                found_size: f.event_size,
                found_align: f.event_align,
            });
        }
        if e.fingerprint != f.fingerprint {
            return Err(ShmError::FingerprintMismatch {
                name: name_s(),
                expected: e.fingerprint,
                found: f.fingerprint,
                type_name: e.type_name,
            });
        }
        if !usize::try_from(f.event_size).is_ok_and(e.fits) {
            return Err(ShmError::SlotSizeMismatch {
                name: name_s(),
                found_size: f.event_size,
                type_name: e.type_name,
            });
        }
    }
    Ok((layout, mode, wait))
}
