//! Creating a segment: `O_CREAT | O_EXCL`, lock, size, map, initialise, publish READY.
//!
//! Two creators racing resolve in the kernel: `shm_open` with `O_EXCL` succeeds for exactly one.
//! The winner takes the attach and init locks right away; the loser finds the name taken and
//! tells a live segment (somebody holds a lock) from a stale one (nobody does, even after a
//! grace period that covers the winner's few instructions between `shm_open` and its lock).

use crate::header::{HeaderFields, HEADER_SIZE, INITIALISING, LAYOUT_VERSION, MAGIC, READY};
use crate::layout::Params;
use crate::liveness::{current_pid, ATTACH_BYTE, INIT_BYTE};
use crate::lock::{self, LockKind};
use crate::mapping::Mapping;
use crate::registry::{ConsumerKind, DECLARED, DORMANT, LABEL_MAX, POOL_ACTIVE};
use crate::segment::Segment;
use crate::segment_file::{self, Access, FileError};
use crate::stale::{probe_existing, remove_stale_segment, Existing};
use crate::{ProducerMode, SegmentName, ShmError, WaitKind};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::Mode;
use rustix::io::Errno;
use rustix::shm;
use seqflow_sequence::sync::atomic::Ordering;
use seqflow_sequence::INITIAL_SEQUENCE;
use std::sync::Arc;

/// Everything a new segment is made from.
#[derive(Debug, Clone)]
pub(crate) struct CreateSpec {
    pub params: Params,
    pub mode: ProducerMode,
    pub wait: WaitKind,
    pub fingerprint: u64,
    pub permissions: u32,
    pub remove_stale: bool,
    pub declared_consumers: Vec<String>,
    pub declared_pools: Vec<String>,
}

/// Refuse declarations that cannot be honoured: names too long, empty or repeated, more than
/// the consumer or pool slots.
fn check_declarations(spec: &CreateSpec) -> Result<(), String> {
    let consumers = &spec.declared_consumers;
    let pools = &spec.declared_pools;
    let all = consumers.iter().chain(pools.iter());
    for name in all.clone() {
        if name.is_empty() || name.len() > LABEL_MAX {
            return Err(format!(
                "declared name {name:?} must be 1 to {LABEL_MAX} bytes"
            ));
        }
        if let Some(reason) = crate::registry::label_problem(name) {
            return Err(format!("declared name {name:?} is {reason}"));
        }
    }
    // One namespace for both: `release_declared(name)` must find exactly one of them.
    let names: Vec<&String> = all.collect();
    for (i, a) in names.iter().enumerate() {
        if names[..i].contains(a) {
            let what = if i < consumers.len() || !consumers.contains(a) {
                "is declared twice"
            } else {
                "is declared as both a consumer and a pool"
            };
            return Err(format!("{a:?} {what}"));
        }
    }
    if (consumers.len() + pools.len()) as u64 > spec.params.max_consumers {
        return Err(format!(
            "{} declared consumers and pools need more than max_consumers = {}",
            consumers.len() + pools.len(),
            spec.params.max_consumers
        ));
    }
    if pools.len() as u64 > spec.params.max_pools {
        return Err(format!(
            "{} declared pools need more than max_pools = {}",
            pools.len(),
            spec.params.max_pools
        ));
    }
    Ok(())
}

/// Create and initialise a segment; READY when this returns.
pub(crate) fn create_segment(name: &SegmentName, spec: &CreateSpec) -> Result<Segment, ShmError> {
    let invalid = |reason: String| ShmError::InvalidOptions {
        name: name.to_string(),
        reason,
    };
    spec.params
        .check()
        .map_err(|e| invalid(format!("{} = {} is out of range", e.field, e.value)))?;
    check_declarations(spec).map_err(invalid)?;
    let layout = spec
        .params
        .layout()
        .ok_or_else(|| invalid("the segment would be larger than the address space".into()))?;
    let total = usize::try_from(layout.total)
        .map_err(|_| invalid("the segment would be larger than the address space".into()))?;

    let fd = open_exclusive(name, spec)?;
    // From here on the name is ours: remove it again if anything fails.
    let mut cleanup = UnlinkOnError { name, armed: true };
    let fail = |op: &'static str, e: Errno| ShmError::io(name.as_str(), op, e);

    // The attach lock first: from now on nobody takes this segment for stale.
    if !lock::try_lock(fd.as_fd(), ATTACH_BYTE, LockKind::Read)
        .map_err(|e| ShmError::std_io(name.as_str(), "fcntl(F_OFD_SETLK)", e))?
        || !lock::try_lock(fd.as_fd(), INIT_BYTE, LockKind::Write)
            .map_err(|e| ShmError::std_io(name.as_str(), "fcntl(F_OFD_SETLK)", e))?
    {
        return Err(ShmError::AlreadyExists {
            name: name.to_string(),
            creator_pid: 0,
        });
    }
    check_fits_filesystem(&fd, layout.total).map_err(invalid)?;
    rustix::fs::ftruncate(&fd, layout.total).map_err(|e| fail("ftruncate", e))?;
    allocate_pages(&fd, name, layout.total)?;
    let map = Arc::new(Mapping::map(fd, total, name.clone(), true)?);
    map.populate();
    let header = map.header().ok_or_else(|| ShmError::SizeMismatch {
        name: name.to_string(),
        expected: HEADER_SIZE as u64,
        found: total as u64,
    })?;
    header
        .ident
        .init_state
        .store(INITIALISING, Ordering::Relaxed);
    // The magic number first: from here on the file is recognisably ours, so a creator that
    // dies before READY leaves a segment `seqflow rm` may remove as stale.
    header.ident.magic.store(MAGIC, Ordering::Relaxed);

    let (wait_kind, wait_param) = spec.wait.encode();
    let fields = HeaderFields {
        magic: MAGIC,
        version: LAYOUT_VERSION,
        header_size: HEADER_SIZE as u32,
        total_size: layout.total,
        init_state: READY,
        producer_mode: spec.mode.code(),
        capacity: spec.params.capacity,
        event_size: spec.params.event_size,
        event_align: spec.params.event_align,
        fingerprint: spec.fingerprint,
        max_consumers: spec.params.max_consumers as u32,
        max_producers: spec.params.max_producers as u32,
        max_pools: spec.params.max_pools as u32,
        wait_kind,
        wait_param,
        creator_pid: current_pid(),
        created_unix_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        offsets: layout.offsets(),
    };
    header.write(&fields);
    let segment = Segment::from_validated(map, fields, layout, spec.mode, spec.wait)?;
    initialise(&segment);
    declare(&segment, spec)?;
    // Publish: an opener that loads READY (Acquire) sees every store above.
    segment
        .header
        .ident
        .init_state
        .store(READY, Ordering::Release);
    lock::unlock(segment.map.fd(), INIT_BYTE)
        .map_err(|e| ShmError::std_io(name.as_str(), "fcntl(F_OFD_SETLK unlock)", e))?;
    cleanup.armed = false;
    tracing::debug!(segment = %name, size = layout.total, mode = ?spec.mode, "created shared ring");
    Ok(segment)
}

/// `shm_open(O_CREAT | O_EXCL)`, removing a stale segment first when asked to.
fn open_exclusive(name: &SegmentName, spec: &CreateSpec) -> Result<OwnedFd, ShmError> {
    const ATTEMPTS: usize = 4;
    for _ in 0..ATTEMPTS {
        match segment_file::open(
            name.as_str(),
            Access::CreateNew(Mode::from_bits_truncate(spec.permissions)),
        ) {
            Ok(fd) => return Ok(fd),
            Err(FileError::Io(Errno::EXIST)) => match probe_existing(name)? {
                Existing::Gone => continue,
                Existing::Live { creator_pid } => {
                    return Err(ShmError::AlreadyExists {
                        name: name.to_string(),
                        creator_pid,
                    })
                }
                Existing::Stale { creator_pid, fd } => {
                    if !spec.remove_stale {
                        return Err(ShmError::Stale {
                            name: name.to_string(),
                            creator_pid,
                        });
                    }
                    tracing::warn!(segment = %name, creator_pid, "removing stale segment");
                    remove_stale_segment(name, fd)?;
                }
                Existing::Foreign => {
                    return Err(ShmError::NotSeqflow {
                        name: name.to_string(),
                    })
                }
            },
            Err(e) => return Err(e.into_shm(name.as_str(), "shm_open(O_CREAT|O_EXCL)")),
        }
    }
    Err(ShmError::AlreadyExists {
        name: name.to_string(),
        creator_pid: 0,
    })
}

/// Give every region its initial state. All-zero bytes (what `ftruncate` leaves) are already
/// right for the registry, producer table, pools and events (`E: Pod` is `Zeroable`); sequences
/// and the availability buffer start at -1, so they are written here.
fn initialise(segment: &Segment) {
    segment.cursor.set(INITIAL_SEQUENCE);
    // SAFETY: the segment is being created under O_EXCL and is not READY: nobody else sees it.
    unsafe { segment.gating.__internal_initialise() };
    for slot in segment.producers.iter() {
        slot.start.store(INITIAL_SEQUENCE, Ordering::Relaxed);
        slot.end.store(INITIAL_SEQUENCE, Ordering::Relaxed);
    }
    for pool in segment.pools.iter() {
        pool.work.set(INITIAL_SEQUENCE);
    }
    if let Some(available) = &segment.availability {
        for mark in available.iter() {
            mark.store(-1, Ordering::Relaxed);
        }
    }
}

/// Reserve a registry entry and a gating slot at -1 for every declared consumer and pool
/// (entries DORMANT until a process attaches). Nobody sees the segment yet.
fn declare(segment: &Segment, spec: &CreateSpec) -> Result<(), ShmError> {
    let name = segment.name().to_string();
    let reserve = |label: &str, kind: ConsumerKind, pool: u32| -> Result<(), ShmError> {
        // SAFETY: the slot's registry entry (same index) is made DORMANT for the declared
        // consumer below, before anybody sees the segment.
        let registration = unsafe {
            segment
                .gating
                .__internal_register(true, || INITIAL_SEQUENCE)
        }
        .map_err(|_| ShmError::ConsumersFull {
            name: name.clone(),
            max: segment.registry.len(),
        })?;
        let (index, _sequence) = registration.__internal_leak();
        let entry = &segment.registry[index];
        entry.kind.store(kind.code(), Ordering::Relaxed);
        entry.pool.store(pool, Ordering::Relaxed);
        entry.label.store(label);
        entry.flags.store(DECLARED, Ordering::Relaxed);
        entry.state.store(DORMANT, Ordering::Release);
        Ok(())
    };
    for consumer in &spec.declared_consumers {
        reserve(consumer, ConsumerKind::Consumer, u32::MAX)?;
    }
    for (p, pool) in spec.declared_pools.iter().enumerate() {
        let entry = &segment.pools[p];
        entry.label.store(pool);
        entry.flags.store(DECLARED, Ordering::Relaxed);
        entry.state.store(POOL_ACTIVE, Ordering::Release);
        reserve(pool, ConsumerKind::Worker, p as u32)?;
    }
    Ok(())
}

/// Unlinks the name on drop while armed (a creation that failed half-way).
struct UnlinkOnError<'a> {
    name: &'a SegmentName,
    armed: bool,
}

impl Drop for UnlinkOnError<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = shm::unlink(self.name.as_str());
        }
    }
}

/// Allocate every page of the segment now rather than as each is first written: the ring is
/// preallocated, as one in a single process is, so its first lap pays no page allocations (1 MiB
/// events across processes moved 2-4 times slower through a fresh ring), and a filesystem
/// without room for it fails here, with [`ShmError::NoSpace`], instead of killing a later
/// writer with `SIGBUS`. A filesystem that cannot preallocate leaves the pages to be allocated
/// as they are first written, as before.
fn allocate_pages(fd: &OwnedFd, name: &SegmentName, size: u64) -> Result<(), ShmError> {
    loop {
        return match rustix::fs::fallocate(fd, rustix::fs::FallocateFlags::empty(), 0, size) {
            Ok(()) | Err(Errno::OPNOTSUPP | Errno::NOSYS) => Ok(()),
            Err(Errno::INTR) => continue,
            // No room left in the filesystem, or in the memory (cgroup) its pages are charged to.
            Err(Errno::NOSPC | Errno::NOMEM) => Err(ShmError::NoSpace {
                name: name.to_string(),
                bytes: size,
            }),
            Err(e) => Err(ShmError::io(name.as_str(), "fallocate", e)),
        };
    }
}

/// Refuse a segment larger than the whole shared-memory filesystem that holds it: its pages are
/// allocated as they are first written, and a write that finds the filesystem full kills the
/// process with `SIGBUS`, so such a ring is bound to crash once it has gone round. (A segment
/// that fits the filesystem may still meet a full one, because other files share it; that is
/// the operator's to size, and `seqflow ls` shows what the rings take.) A filesystem that
/// reports no size (some report 0 blocks) is not checked.
fn check_fits_filesystem(fd: &OwnedFd, size: u64) -> Result<(), String> {
    let Ok(fs) = rustix::fs::fstatvfs(fd) else {
        return Ok(());
    };
    let capacity = fs.f_blocks.saturating_mul(fs.f_frsize);
    if capacity == 0 || size <= capacity {
        return Ok(());
    }
    Err(format!(
        "the segment needs {size} bytes but the shared-memory filesystem holds {capacity} in \
         all: filling it would crash with SIGBUS (make the ring or its slots smaller, or give \
         /dev/shm more room)"
    ))
}
