//! [`Registration`]: a consumer's hold on a gating slot and its registry entry, with the lock
//! byte that proves it alive.
//!
//! Registering happens under the registry lock: resolve the stages to follow (or the pool),
//! register in the gating table (which picks slot `i` and sets its sequence race-free against
//! running producers), fill registry entry `i` (REGISTERING, then ACTIVE) and take lock byte
//! `2^20 + i` through a description of its own. A process that dies mid-way leaves a
//! REGISTERING entry, which the next reaper (holding the same lock) releases.

use crate::liveness::{current_pid, holder_alive, CONSUMER_BASE};
use crate::lock::{self, HeldLock, LockKind};
use crate::pool_members::{any_live, note_members_changed, pool_members, PoolFollow};
use crate::registry::{
    ConsumerKind, ACTIVE, DECLARED, DORMANT, FREE, LABEL_MAX, MAX_UPSTREAM, POOL_ACTIVE, POOL_FREE,
    REGISTERING,
};
use crate::ring::RingInner;
use crate::sanity::check_sequence;
use crate::ShmError;
use seqflow_sequence::sync::atomic::Ordering;
use seqflow_sequence::{OwnedRef, ReadOnlySequence, Sequence};
use seqflow_sequencer::RegisterError;
use std::sync::Arc;

/// Where a new consumer starts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Start<'a> {
    /// After the producer cursor.
    Cursor,
    /// After every live consumer with one of these names (it follows them).
    After(&'a [&'a str]),
    /// As a worker of the named pool (created if needed).
    Pool(&'a str),
}

/// A stage a consumer follows: its slot, which registration of it, and its sequence.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    pub index: usize,
    pub generation: u64,
    pub label: String,
    pub sequence: OwnedRef<ReadOnlySequence>,
    /// Whether the upstream holds the producer back (a lossy subscriber does not).
    pub gating: bool,
    /// A declared consumer: followed across restarts of whoever attaches as it.
    pub declared: bool,
    /// For a worker followed as part of its pool: the pool's index (`pool_members.rs`).
    pub pool: Option<usize>,
}

impl Upstream {
    /// Follow the consumer in slot `index` of `ring`, named `label` (`pool`: a worker followed
    /// as part of that pool); `None` for a slot outside the gating table.
    pub fn of_slot(
        ring: &RingInner,
        index: usize,
        label: &str,
        pool: Option<usize>,
    ) -> Option<Self> {
        let segment = &ring.segment;
        let slot = segment.gating.slots().get(index)?;
        let entry = segment.registry.get(index)?;
        // SAFETY: the sequence lives in the gating region of the mapping, which the `OwnedRef`
        // keeps alive through the mapping's `Arc`; it is only read through it.
        let sequence = unsafe {
            OwnedRef::from_raw(
                std::ptr::NonNull::from(slot.sequence()),
                segment.map.clone(),
            )
        };
        Some(Self {
            index,
            generation: entry.generation.load(Ordering::Relaxed),
            label: label.to_owned(),
            sequence,
            gating: slot.is_gating(),
            declared: entry.is_declared(),
            pool,
        })
    }
}

/// A held consumer slot; released on drop (in the registering process only).
pub(crate) struct Registration {
    pub ring: Arc<RingInner>,
    pub index: usize,
    pub generation: u64,
    pub label: String,
    pub sequence: OwnedRef<Sequence>,
    owner_pid: u32,
    /// The fork epoch when registered: a different one means an inherited copy.
    epoch: u64,
    lock: Option<HeldLock>,
}

/// What registering produced besides the registration.
pub(crate) struct Registered {
    pub registration: Registration,
    pub upstream: Vec<Upstream>,
    /// The pools among `upstream`, followed as pools.
    pub follow: PoolFollow,
    /// The pool index, for workers.
    pub pool: Option<usize>,
}

fn check_label(ring: &RingInner, label: &str) -> Result<(), ShmError> {
    if let Some(reason) = crate::registry::label_problem(label) {
        return Err(ShmError::InvalidLabel {
            name: ring.segment.name().to_string(),
            label: label.to_owned(),
            reason,
        });
    }
    if label.len() > LABEL_MAX {
        return Err(ShmError::LabelTooLong {
            name: ring.segment.name().to_string(),
            label: label.to_owned(),
            len: label.len(),
            max: LABEL_MAX,
        });
    }
    Ok(())
}

impl Registration {
    /// Register a consumer of `kind` named `label` (see the module docs).
    pub fn register(
        ring: &Arc<RingInner>,
        kind: ConsumerKind,
        label: &str,
        gating: bool,
        start: Start<'_>,
    ) -> Result<Registered, ShmError> {
        check_label(ring, label)?;
        let segment = &ring.segment;
        let name = segment.name().as_str();
        let fd = segment.map.fd();
        let io = |op, e| ShmError::std_io(name, op, e);
        // Opened before registering, so no system call separates the gating registration from
        // the registry entry that accounts for it.
        let lock_fd = lock::reopen(fd).map_err(|e| io("open(/proc/self/fd)", e))?;
        let _registry = ring.lock_registry()?;

        let mut follow = PoolFollow::default();
        let (upstream, pool) = match start {
            Start::Cursor => (Vec::new(), None),
            Start::After(names) => (resolve_upstream(ring, names, &mut follow)?, None),
            Start::Pool(pool) => (Vec::new(), Some(find_or_create_pool(ring, pool)?)),
        };
        // A declared consumer, or a declared pool's placeholder, with nobody attached: take
        // over its slot and carry on from its sequence.
        let declared = match (start, pool) {
            (Start::Cursor | Start::After(_), _) => find_declared(ring, kind, label, None)?,
            (Start::Pool(_), Some(p)) => find_declared(ring, kind, label, Some(p))?,
            _ => None,
        };
        if let Some(index) = declared {
            let registration = adopt(ring, index, lock_fd, label, &upstream)?;
            return Ok(Registered {
                registration,
                upstream,
                follow,
                pool,
            });
        }
        let sequencer = &ring.sequencer;
        // Where the consumer starts. `GatingTable::register` calls this once before the slot
        // gates and once after (behind a `SeqCst` fence): a start at or after the published
        // end read the second time can never be a slot a producer is overwriting (a producer
        // that cached its gating minimum without seeing this slot cached at most the published
        // end it read, which only grows). A start behind it is safe only when something already
        // gates there: a live gating upstream, or live workers of the same pool. Otherwise the
        // start moves up to the published end: nothing held those events, so they may be
        // overwritten already.
        // The published end, not the claim cursor of a multi-producer ring: the slot gates at
        // its start, so a start past a claim still being written would tell producers that
        // claim was handled, and they would claim its slot again a lap later while its first
        // producer is still writing it.
        // A declared pool is never an orphan: its placeholder, or the slots of workers that died
        // and are not reaped yet, still gate at its position.
        let orphan_pool = pool.filter(|&p| {
            segment.pools[p].flags.load(Ordering::Relaxed) & DECLARED == 0
                && !pool_has_live_worker(ring, p)
        });
        let lossy_upstream = upstream.iter().any(|u| !u.gating);
        let start_at = || match (pool, upstream.is_empty()) {
            (Some(p), _) => {
                let work = &segment.pools[p].work;
                if orphan_pool.is_some() {
                    let published = sequencer.published();
                    // Events published while the pool had no worker are skipped: stages that
                    // follow the pool learn it from the restart count (`pool_members.rs`).
                    if work.fetch_max(published) < published {
                        segment.pools[p].restarts.fetch_add(1, Ordering::AcqRel);
                    }
                }
                work.get()
            }
            (None, true) => sequencer.published(),
            (None, false) => {
                let after = upstream
                    .iter()
                    .fold(i64::MAX, |min, u| min.min(u.sequence.get()));
                if lossy_upstream {
                    after.max(sequencer.published())
                } else {
                    after
                }
            }
        };
        // Refuse corrupt sequence words before any arithmetic on them (see `sanity`).
        check_sequence(name, "cursor", sequencer.cursor_word())?;
        check_sequence(name, "start sequence", start_at())?;
        // SAFETY: the slot is recorded in the registry entry of the same index below (or
        // force-released at once if that fails), which is how the reaper accounts for it.
        let first = unsafe { segment.gating.__internal_register(gating, start_at) };
        let registration = match first {
            Ok(registration) => registration,
            // A full table may hold the slots of dead processes nobody released yet (a
            // producer releases them only when the ring is full): release them and try again.
            Err(_) if crate::reaper::reap_dead_consumers_locked(ring) > 0 => {
                // SAFETY: as above.
                unsafe { segment.gating.__internal_register(gating, start_at) }
                    .map_err(|_: RegisterError| full(ring))?
            }
            Err(_) => return Err(full(ring)),
        };
        let (index, sequence) = registration.__internal_leak();
        let Some(entry) = segment.registry.get(index) else {
            // SAFETY: the slot was taken a moment ago and nobody has read on its strength.
            unsafe { segment.gating.__internal_force_release(index) };
            return Err(ShmError::CorruptHeader {
                name: name.to_owned(),
                field: "max_consumers",
                found: index as u64,
            });
        };
        let pid = current_pid();
        entry.pid.store(pid, Ordering::Relaxed);
        entry.state.store(REGISTERING, Ordering::Release);
        entry.kind.store(kind.code(), Ordering::Relaxed);
        entry
            .pool
            .store(pool.map_or(u32::MAX, |p| p as u32), Ordering::Relaxed);
        entry.label.store(label);
        entry.handling.store(0, Ordering::Relaxed);
        record_upstream(entry, &upstream);
        // Wrapping: the word comes from shared memory and may hold anything.
        let generation = entry
            .generation
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1);
        let byte = CONSUMER_BASE + index as u64;
        let locked = lock::try_lock(lock_fd.as_fd(), byte, LockKind::Write);
        if !matches!(locked, Ok(true)) {
            // SAFETY: as above: registration failed before the slot was handed to anyone.
            unsafe { segment.gating.__internal_force_release(index) };
            entry.state.store(FREE, Ordering::Release);
            return Err(match locked {
                Err(e) => io("fcntl(F_OFD_SETLK)", e),
                _ => ShmError::SlotLocked {
                    name: name.to_owned(),
                    index,
                },
            });
        }
        entry.state.store(ACTIVE, Ordering::Release);
        note_members_changed(segment, entry);
        tracing::debug!(segment = %name, slot = index, pid, consumer = label, ?kind, "consumer registered");
        Ok(Registered {
            registration: Registration::held(ring, index, generation, label, sequence, lock_fd),
            upstream,
            follow,
            pool,
        })
    }
}

/// The registry (and gating table) has no free slot.
fn full(ring: &RingInner) -> ShmError {
    ShmError::ConsumersFull {
        name: ring.segment.name().to_string(),
        max: ring.segment.gating.max_consumers(),
    }
}

/// Every live consumer registered under each of `names`, and every worker of a pool of that
/// name (followed as the pool: recorded in `follow`); an error for a name with none.
fn resolve_upstream(
    ring: &RingInner,
    names: &[&str],
    follow: &mut PoolFollow,
) -> Result<Vec<Upstream>, ShmError> {
    let segment = &ring.segment;
    let fd = segment.map.fd();
    let mut upstream = Vec::new();
    for wanted in names {
        let before = upstream.len();
        for (index, entry) in segment.registry.iter().enumerate() {
            let state = entry.state.load(Ordering::Acquire);
            let worker = ConsumerKind::from_code(entry.kind.load(Ordering::Relaxed))
                == Some(ConsumerKind::Worker);
            if !(state == ACTIVE || state == DORMANT) || worker || !entry.label.is(wanted) {
                continue;
            }
            let pid = entry.pid.load(Ordering::Relaxed);
            // A dormant declared consumer still gates at its sequence: it can be followed.
            if state == ACTIVE && !holder_alive(fd, CONSUMER_BASE + index as u64, pid) {
                continue;
            }
            upstream.extend(Upstream::of_slot(ring, index, wanted, None));
        }
        // A pool of that name: every worker it has now, and those that join later.
        let pool = segment.pools.iter().position(|p| {
            p.state.load(Ordering::Acquire) == crate::registry::POOL_ACTIVE && p.label.is(wanted)
        });
        // A pool with no worker now is followed too (its next worker is followed from its
        // first claim), but only a live worker makes the name known.
        if let Some(pool) = pool {
            let view = pool_members(ring, pool, wanted);
            follow.add(ring, pool, &view, wanted);
            if any_live(ring, &view.members) {
                upstream.extend(view.members);
            }
        }
        if upstream.len() == before {
            return Err(ShmError::UnknownConsumer {
                name: segment.name().to_string(),
                consumer: (*wanted).to_owned(),
            });
        }
    }
    Ok(upstream)
}

/// The declared entry of `kind` named `label` (for a pool worker: the placeholder of pool
/// `pool`) that nobody is attached as, if any; a typed error if a live process is attached as
/// that declared consumer. Called under the registry lock.
fn find_declared(
    ring: &RingInner,
    kind: ConsumerKind,
    label: &str,
    pool: Option<usize>,
) -> Result<Option<usize>, ShmError> {
    let segment = &ring.segment;
    if let Some(p) = pool {
        if segment.pools[p].flags.load(Ordering::Relaxed) & DECLARED == 0 {
            return Ok(None);
        }
    }
    for (index, entry) in segment.registry.iter().enumerate() {
        let matches = entry.is_declared()
            && ConsumerKind::from_code(entry.kind.load(Ordering::Relaxed)) == Some(kind)
            && match pool {
                Some(p) => entry.pool.load(Ordering::Relaxed) as usize == p,
                None => entry.label.is(label),
            };
        if !matches {
            continue;
        }
        match entry.state.load(Ordering::Acquire) {
            DORMANT => return Ok(Some(index)),
            ACTIVE if pool.is_none() => {
                let pid = entry.pid.load(Ordering::Relaxed);
                if holder_alive(segment.map.fd(), CONSUMER_BASE + index as u64, pid) {
                    return Err(ShmError::DeclaredInUse {
                        name: segment.name().to_string(),
                        consumer: label.to_owned(),
                        pid,
                    });
                }
                // Its holder died and nobody reaped it yet: it is ours to resume.
                release_entry(ring, index);
                return Ok(Some(index));
            }
            _ => {}
        }
    }
    Ok(None)
}

/// Record in `entry` which stages it follows (shown by `inspect`).
fn record_upstream(entry: &crate::registry::ConsumerEntry, upstream: &[Upstream]) {
    let recorded = upstream.len().min(MAX_UPSTREAM);
    for (word, up) in entry.upstream.iter().zip(upstream) {
        word.store(up.index as u32, Ordering::Relaxed);
    }
    entry.upstream_len.store(recorded as u32, Ordering::Relaxed);
}

/// Attach as the dormant declared entry `index`, following `upstream`: the slot (and its
/// sequence) carry over. Called under the registry lock.
fn adopt(
    ring: &Arc<RingInner>,
    index: usize,
    lock_fd: lock::LockFd,
    label: &str,
    upstream: &[Upstream],
) -> Result<Registration, ShmError> {
    let segment = &ring.segment;
    let name = segment.name().as_str();
    let entry = &segment.registry[index];
    let pid = current_pid();
    entry.pid.store(pid, Ordering::Relaxed);
    record_upstream(entry, upstream);
    // REGISTERING with the DECLARED flag: a process killed from here on leaves the entry for
    // the reaper, which puts it back to DORMANT (the slot stays held throughout).
    entry.state.store(REGISTERING, Ordering::Release);
    let generation = entry
        .generation
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_add(1);
    // SAFETY: the entry was DORMANT (nobody attached) and we hold the registry lock, so no
    // other process moves the slot's sequence; we become its only writer.
    let Some(sequence) = (unsafe { segment.gating.__internal_take_over(index) }) else {
        entry.state.store(DORMANT, Ordering::Release);
        return Err(ShmError::CorruptHeader {
            name: name.to_owned(),
            field: "declared consumer slot",
            found: index as u64,
        });
    };
    let byte = CONSUMER_BASE + index as u64;
    match lock::try_lock(lock_fd.as_fd(), byte, LockKind::Write) {
        Ok(true) => {}
        other => {
            entry.pid.store(0, Ordering::Relaxed);
            entry.state.store(DORMANT, Ordering::Release);
            return Err(match other {
                Err(e) => ShmError::std_io(name, "fcntl(F_OFD_SETLK)", e),
                _ => ShmError::SlotLocked {
                    name: name.to_owned(),
                    index,
                },
            });
        }
    }
    entry.state.store(ACTIVE, Ordering::Release);
    note_members_changed(segment, entry);
    tracing::debug!(segment = %name, slot = index, pid, consumer = label, "attached as a declared consumer");
    Ok(Registration::held(
        ring, index, generation, label, sequence, lock_fd,
    ))
}

/// Let go of registry entry `index` (its holder detached or died; the caller holds the
/// registry lock). A declared consumer, and the last worker of a declared pool, become
/// DORMANT: the gating slot stays held at its sequence, so the producer keeps their events.
/// Anything else is freed.
pub(crate) fn release_entry(ring: &RingInner, index: usize) {
    let segment = &ring.segment;
    let entry = &segment.registry[index];
    // A worker entry flagged as declared is the pool's placeholder, taken over by whoever
    // joined first: what matters is whether another worker still gates for the pool.
    let is_worker =
        ConsumerKind::from_code(entry.kind.load(Ordering::Relaxed)) == Some(ConsumerKind::Worker);
    let keep = if is_worker {
        last_worker_of_declared_pool(ring, index)
    } else {
        entry.is_declared()
    };
    entry.pid.store(0, Ordering::Relaxed);
    if keep {
        entry.flags.fetch_or(DECLARED, Ordering::Relaxed);
        entry.state.store(DORMANT, Ordering::Release);
    } else {
        // SAFETY: the entry's holder is gone (dead, or dropping its only handle) and the caller
        // holds the registry lock, so nobody reads on the strength of this slot any more.
        unsafe { segment.gating.__internal_force_release(index) };
        entry.flags.store(0, Ordering::Relaxed);
        entry.state.store(FREE, Ordering::Release);
    }
    note_members_changed(segment, entry);
}

/// Whether entry `index` is a worker of a declared pool and no other worker of that pool (live
/// or dormant) would still gate for it.
fn last_worker_of_declared_pool(ring: &RingInner, index: usize) -> bool {
    let segment = &ring.segment;
    let entry = &segment.registry[index];
    if ConsumerKind::from_code(entry.kind.load(Ordering::Relaxed)) != Some(ConsumerKind::Worker) {
        return false;
    }
    let pool = entry.pool.load(Ordering::Relaxed) as usize;
    let Some(pool_entry) = segment.pools.get(pool) else {
        return false;
    };
    if pool_entry.flags.load(Ordering::Relaxed) & DECLARED == 0 {
        return false;
    }
    let fd = segment.map.fd();
    !segment.registry.iter().enumerate().any(|(other, e)| {
        other != index
            && e.pool.load(Ordering::Relaxed) as usize == pool
            && ConsumerKind::from_code(e.kind.load(Ordering::Relaxed)) == Some(ConsumerKind::Worker)
            && match e.state.load(Ordering::Acquire) {
                DORMANT => true,
                ACTIVE => holder_alive(
                    fd,
                    CONSUMER_BASE + other as u64,
                    e.pid.load(Ordering::Relaxed),
                ),
                _ => false,
            }
    })
}

/// Whether a live worker (its lock byte held) is registered in pool `pool`. Called under the
/// registry lock, so the answer holds until the caller's own registration is complete.
fn pool_has_live_worker(ring: &RingInner, pool: usize) -> bool {
    let segment = &ring.segment;
    let fd = segment.map.fd();
    segment.registry.iter().enumerate().any(|(index, entry)| {
        entry.state.load(Ordering::Acquire) == ACTIVE
            && ConsumerKind::from_code(entry.kind.load(Ordering::Relaxed))
                == Some(ConsumerKind::Worker)
            && entry.pool.load(Ordering::Relaxed) as usize == pool
            && holder_alive(
                fd,
                CONSUMER_BASE + index as u64,
                entry.pid.load(Ordering::Relaxed),
            )
    })
}

/// The pool named `pool`, created (work cursor at the producer cursor) if it does not exist.
fn find_or_create_pool(ring: &RingInner, pool: &str) -> Result<usize, ShmError> {
    check_label(ring, pool)?;
    let segment = &ring.segment;
    let pools = &segment.pools;
    if let Some(index) = pools
        .iter()
        .position(|p| p.state.load(Ordering::Acquire) == POOL_ACTIVE && p.label.is(pool))
    {
        return Ok(index);
    }
    let free = pools
        .iter()
        .position(|p| p.state.load(Ordering::Acquire) == POOL_FREE);
    let index = match free.or_else(|| abandoned_pool(ring)) {
        Some(index) => index,
        None => {
            return Err(ShmError::PoolsFull {
                name: segment.name().to_string(),
                max: pools.len(),
            })
        }
    };
    let entry = &pools[index];
    if entry.state.load(Ordering::Acquire) == POOL_ACTIVE {
        // A pool taken over: a stage that still follows the old one must not take the new
        // workers for its own. The restart ends it with `UpstreamGone` at its next look
        // (`PoolFollow::refresh`), which the membership change makes it take. Both come before
        // the new name, so a process killed in between leaves the old pool ended, not a new
        // one that its followers could take for the old.
        entry.restarts.fetch_add(1, Ordering::AcqRel);
        entry.members.fetch_add(1, Ordering::AcqRel);
    }
    entry.label.store(pool);
    // The published end, as any consumer's start (see `Registration::register`). A process
    // killed before this leaves an older work sequence, which the first worker to join moves
    // up (the pool has no live worker: `Registration::register`'s orphan pool).
    entry.work.set(ring.sequencer.published());
    entry.state.store(POOL_ACTIVE, Ordering::Release);
    Ok(index)
}

/// A pool entry that can be taken over by a new pool name (called under the registry lock,
/// when no entry is free): one not declared, with no worker in the registry at all (live,
/// registering, dormant, or dead and not yet reaped). Nothing can join or follow it by its old
/// name any more without creating it anew, and a stage that followed it ended, or ends at its
/// next look, with `UpstreamGone`.
fn abandoned_pool(ring: &RingInner) -> Option<usize> {
    let segment = &ring.segment;
    segment.pools.iter().enumerate().position(|(index, p)| {
        p.state.load(Ordering::Acquire) == POOL_ACTIVE
            && p.flags.load(Ordering::Relaxed) & DECLARED == 0
            && !segment.registry.iter().any(|entry| {
                entry.state.load(Ordering::Acquire) != FREE
                    && ConsumerKind::from_code(entry.kind.load(Ordering::Relaxed))
                        == Some(ConsumerKind::Worker)
                    && entry.pool.load(Ordering::Relaxed) as usize == index
            })
    })
}

impl Registration {
    /// The handle of a slot this process now holds: entry `index` is ACTIVE with our pid and
    /// `lock_fd` holds its lock byte.
    fn held(
        ring: &Arc<RingInner>,
        index: usize,
        generation: u64,
        label: &str,
        sequence: OwnedRef<Sequence>,
        lock_fd: lock::LockFd,
    ) -> Self {
        Self {
            ring: ring.clone(),
            index,
            generation,
            label: label.to_owned(),
            sequence,
            owner_pid: current_pid(),
            epoch: crate::fork_guard::epoch_for_new_handle(),
            lock: Some(HeldLock::from_fd(lock_fd)),
        }
    }

    /// Whether the calling process is the one that registered (not a forked child).
    pub fn is_owner(&self) -> bool {
        current_pid() == self.owner_pid
    }

    /// As [`is_owner`](Self::is_owner), without a system call: for every read and write.
    #[inline]
    pub fn usable(&self) -> bool {
        self.epoch == crate::fork_guard::epoch()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if !self.is_owner() {
            // A forked child's copy: the slot belongs to the parent. Closing our copy of the
            // lock description does not release the parent's lock.
            return;
        }
        let segment = &self.ring.segment;
        let registry = self.ring.lock_registry();
        if let Err(e) = &registry {
            tracing::warn!(segment = %segment.name(), error = %e, "registry lock failed; releasing anyway");
        }
        let entry = &segment.registry[self.index];
        // Only if the slot is still ours (a reaper may have taken it for dead and reused it).
        if entry.state.load(Ordering::Acquire) == ACTIVE
            && entry.generation.load(Ordering::Relaxed) == self.generation
            && entry.pid.load(Ordering::Relaxed) == self.owner_pid
        {
            release_entry(&self.ring, self.index);
        }
        // The lock byte goes before the registry lock, so the next registrant of the slot can
        // take it.
        self.lock.take();
        drop(registry);
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("index", &self.index)
            .field("label", &self.label)
            .field("sequence", &*self.sequence)
            .finish()
    }
}
