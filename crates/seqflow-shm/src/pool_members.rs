//! A stage after a pool follows the pool: every worker it has when the stage registers and
//! every worker that joins later.
//!
//! A worker holds the event it took at its own gating sequence only. A stage that followed just
//! the workers it found at registration would read an event a later worker still handles as
//! soon as those had moved past it. So every change to a pool's workers (one joins, leaves,
//! dies and is reaped, or a declared pool's last one goes dormant) bumps the pool's `members`
//! count, under the registry lock and after the entry's state changed. A follower reads the
//! sequences it follows and then the count; when the count moved, it takes the pool's workers
//! again and polls again before it reads anything.
//!
//! Why that is enough. Say worker `W` joined after the follower last took the pool's workers,
//! and claimed event `e`. `W` bumped the count before it returned from registering, so before
//! its claim (a CAS on the pool's work sequence). For the follower to pass `e`, every worker it
//! follows must be at `e` or beyond. A worker's sequence gets there only by a store that comes
//! after an `Acquire` read of the work sequence at `e` or beyond (its own claim of a later
//! event, its own raise to the work sequence before a claim, or another worker's raise of an
//! idle worker, `idle_workers.rs`), and the work sequence only changes by read-modify-writes,
//! so that read synchronizes with `W`'s claim. The store is a `Release` (or a read-modify-write
//! that releases); the follower's `Acquire` load of it therefore happens after `W`'s bump, and
//! its later load of the count sees the bump. A worker that registers later than `W` bumps the
//! count after `W`'s, through the same chain. The rule needs no lock on the follower's side.

use crate::liveness::{holder_alive, CONSUMER_BASE};
use crate::registration::Upstream;
use crate::registry::{ConsumerEntry, ConsumerKind, ACTIVE, DORMANT};
use crate::ring::RingInner;
use crate::segment::Segment;
use crate::ConsumeError;
use seqflow_sequence::OwnedRef;
use std::sync::atomic::{AtomicU64, Ordering};

/// Record that a worker entry of some pool changed state. Called under the registry lock,
/// after the entry's state was stored; does nothing for other kinds of entry.
pub(crate) fn note_members_changed(segment: &Segment, entry: &ConsumerEntry) {
    if ConsumerKind::from_code(entry.kind.load(Ordering::Relaxed)) != Some(ConsumerKind::Worker) {
        return;
    }
    let pool = entry.pool.load(Ordering::Relaxed) as usize;
    if let Some(pool) = segment.pools.get(pool) {
        // `Release`: a follower that reads the new count also sees the entry's new state.
        pool.members.fetch_add(1, Ordering::AcqRel);
    }
}

/// What a follower takes of a pool: its workers, and the counts they were taken at.
pub(crate) struct PoolView {
    /// The membership count, read before the scan (a change during the scan shows up as a
    /// later change of the count).
    pub count: u64,
    /// How many times the pool restarted at the producer cursor.
    pub restarts: u64,
    /// The workers that gate: live or not yet reaped, and declared placeholders.
    pub members: Vec<Upstream>,
}

/// The workers of pool `pool` (named `label`), see [`PoolView`].
pub(crate) fn pool_members(ring: &RingInner, pool: usize, label: &str) -> PoolView {
    let segment = &ring.segment;
    let Some(pool_entry) = segment.pools.get(pool) else {
        return PoolView {
            count: 0,
            restarts: 0,
            members: Vec::new(),
        };
    };
    let count = pool_entry.members.load(Ordering::Acquire);
    let restarts = pool_entry.restarts.load(Ordering::Acquire);
    let mut members = Vec::new();
    for (index, entry) in segment.registry.iter().enumerate() {
        let state = entry.state.load(Ordering::Acquire);
        if !(state == ACTIVE || state == DORMANT)
            || ConsumerKind::from_code(entry.kind.load(Ordering::Relaxed))
                != Some(ConsumerKind::Worker)
            || entry.pool.load(Ordering::Relaxed) as usize != pool
        {
            continue;
        }
        members.extend(Upstream::of_slot(ring, index, label, Some(pool)));
    }
    PoolView {
        count,
        restarts,
        members,
    }
}

/// Whether `upstream` (a list of pool members) has a worker that is alive or a dormant
/// declared placeholder: a pool whose workers all died holds nothing that can be followed.
pub(crate) fn any_live(ring: &RingInner, upstream: &[Upstream]) -> bool {
    let segment = &ring.segment;
    upstream.iter().any(|u| {
        let entry = &segment.registry[u.index];
        match entry.state.load(Ordering::Acquire) {
            DORMANT => true,
            ACTIVE => holder_alive(
                segment.map.fd(),
                CONSUMER_BASE + u.index as u64,
                entry.pid.load(Ordering::Relaxed),
            ),
            _ => false,
        }
    })
}

/// One pool a consumer follows.
#[derive(Debug)]
struct Followed {
    pool: usize,
    label: String,
    /// The membership count its workers in the consumer's list were taken at.
    seen: u64,
    /// The pool's restart count then: a restart skipped events the pool never handled.
    restarts: u64,
    /// The pool's membership count, in the segment.
    count: OwnedRef<AtomicU64>,
}

/// The pools a consumer follows, with the membership count its list of their workers is from.
#[derive(Debug, Default)]
pub(crate) struct PoolFollow {
    pools: Vec<Followed>,
}

impl PoolFollow {
    /// Follow pool `pool` of `ring`, named `label`, whose workers were taken as `view` says.
    pub fn add(&mut self, ring: &RingInner, pool: usize, view: &PoolView, label: &str) {
        let segment = &ring.segment;
        let Some(entry) = segment.pools.get(pool) else {
            return;
        };
        if self.pools.iter().any(|f| f.pool == pool) {
            return;
        }
        // SAFETY: the count lives in the pools region of the mapping, which the `OwnedRef`
        // keeps alive through the mapping's `Arc`; it is only read through it.
        let count = unsafe {
            OwnedRef::from_raw(std::ptr::NonNull::from(&entry.members), segment.map.clone())
        };
        self.pools.push(Followed {
            pool,
            label: label.to_owned(),
            seen: view.count,
            restarts: view.restarts,
            count,
        });
    }

    /// Whether this consumer follows no pool.
    pub fn is_empty(&self) -> bool {
        self.pools.is_empty()
    }

    /// Whether some followed pool's workers changed since they were last taken. To be called
    /// after reading the followed sequences (see the module docs).
    #[inline]
    pub fn changed(&self) -> bool {
        !self.pools.is_empty() && self.changed_slow()
    }

    fn changed_slow(&self) -> bool {
        self.pools
            .iter()
            .any(|f| f.count.load(Ordering::Acquire) != f.seen)
    }

    /// Raise the idle workers of the followed pools (`idle_workers.rs`): before this consumer
    /// blocks, so that a worker that stopped asking for events (its process busy elsewhere)
    /// does not hold it back on events the pool finished. Returns how many moved.
    pub fn raise_idle_workers(&self, ring: &RingInner) -> usize {
        self.pools
            .iter()
            .filter_map(|f| Some((f.pool, &ring.segment.pools.get(f.pool)?.work)))
            .map(|(pool, work)| {
                crate::idle_workers::raise_idle_workers(ring, pool, usize::MAX, work)
            })
            .sum()
    }

    /// Take the workers of every pool whose membership changed again, replacing them in
    /// `upstream`. A pool left with nothing to follow (every worker gone, not declared), or
    /// restarted at the producer cursor since, is [`ConsumeError::UpstreamGone`], as a plain
    /// upstream stage that leaves.
    ///
    /// `Ok(false)` when a pool that looks empty could not be decided: another process held the
    /// registry lock past the registry timeout (one stopped inside a registration, say). Its
    /// workers stay as they were and the count stays unseen, so every poll is interrupted
    /// (nothing is handed out) until a later refresh decides.
    #[cold]
    pub fn refresh(
        &mut self,
        ring: &RingInner,
        upstream: &mut Vec<Upstream>,
    ) -> Result<bool, ConsumeError> {
        for followed in &mut self.pools {
            if followed.count.load(Ordering::Acquire) == followed.seen {
                continue;
            }
            let pool = followed.pool;
            let mut view = pool_members(ring, pool, &followed.label);
            let mut live = any_live(ring, &view.members);
            if !live {
                // Lock-free, the scan can miss a worker adopting a declared placeholder
                // (REGISTERING) or see a leaving one ACTIVE after its lock is gone: decide
                // emptiness under the registry lock, and only under it.
                let Ok(_registry) = ring.lock_registry() else {
                    return Ok(false);
                };
                view = pool_members(ring, pool, &followed.label);
                live = any_live(ring, &view.members);
            }
            // A pool that was left empty and restarted at the producer cursor skipped the
            // events published meanwhile: they must not reach this consumer as handled.
            if !live || view.restarts != followed.restarts {
                let index = upstream
                    .iter()
                    .find(|u| u.pool == Some(pool))
                    .map_or(0, |u| u.index);
                return Err(ConsumeError::UpstreamGone {
                    upstream: followed.label.clone(),
                    index,
                });
            }
            followed.seen = view.count;
            upstream.retain(|u| u.pool != Some(pool));
            upstream.extend(view.members);
        }
        Ok(true)
    }
}
