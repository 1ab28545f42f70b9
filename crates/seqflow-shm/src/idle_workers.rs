//! Idle pool workers stop holding producers back: a worker that is about to wait raises the
//! gating sequences of the other workers of its pool that have nothing in hand to the pool's
//! work sequence.
//!
//! A worker's gating sequence stays where its last claim left it until it claims again. A
//! process that takes one event from a queue and then works for a minute without asking for
//! another would otherwise stop every producer a ring's worth of events later, while the other
//! workers sit idle with nothing published to take. Raising it is safe because every event at
//! or below the work sequence is claimed, and a claimed event is held back by its claimer's own
//! sequence until it is handled (`GatingTable::__internal_raise_idle_worker` gives the full
//! argument; the loom model `loom_idle_worker.rs` checks it). The same holds for a stage after
//! the pool, which follows every worker of the pool, those that join later included
//! (`pool_members.rs`): a raised worker tells it nothing about an event another worker holds.

use crate::liveness::RegistryLock;
use crate::registry::{ConsumerKind, ACTIVE};
use crate::ring::RingInner;
use seqflow_sequence::{OwnedRef, Sequence};
use std::sync::atomic::Ordering;

/// Raise the idle workers of pool `pool` (other than slot `own`) that are behind its work
/// sequence `work`; returns how many moved. Looks without the registry lock first, and takes it
/// (without waiting) only if some worker is worth raising: the raise needs the entries to stay
/// put, which only the lock guarantees (a freed slot may be re-registered for a consumer whose
/// sequence must not be touched).
pub(crate) fn raise_idle_workers(
    ring: &RingInner,
    pool: usize,
    own: usize,
    work: &Sequence,
) -> usize {
    let segment = &ring.segment;
    let claimed = work.get();
    let used = segment.gating.used_slots().len();
    let behind = |index: usize| {
        let Some(entry) = segment.registry.get(index) else {
            return false;
        };
        index != own
            && entry.state.load(Ordering::Acquire) == ACTIVE
            && ConsumerKind::from_code(entry.kind.load(Ordering::Relaxed))
                == Some(ConsumerKind::Worker)
            && entry.pool.load(Ordering::Relaxed) as usize == pool
            && entry.handling.load(Ordering::Acquire) == 0
            && segment.gating.used_slots()[index].sequence().get() < claimed
    };
    if !(0..used).any(behind) {
        return 0;
    }
    let Ok(Some(_lock)) = RegistryLock::try_acquire(segment.map.fd()) else {
        // Somebody is registering or reaping: the next wait tries again.
        return 0;
    };
    let mut raised = 0;
    for index in 0..segment.gating.used_slots().len() {
        if !behind(index) {
            continue;
        }
        // Workers claim through `claim_from_pool`, which raises their sequence (never lower)
        // to the work sequence it read before its CAS, stores the claim's size in `handling`
        // (`Release`, `note_unhandled`) before that CAS and zero only after the last claimed
        // event was handled; their waits end once their own sequence reaches what they wait
        // for (`ShmFeed::wait`). A dead worker not yet reaped has nothing in hand (raising it
        // loses nothing) or a count (left for the reaper).
        let entry = &segment.registry[index];
        // SAFETY: the registry lock keeps slot `index` held by the ACTIVE worker of this pool
        // that `behind` saw (work sequence `work`), and that worker follows the protocol above,
        // which is what the raise requires.
        let moved = unsafe {
            segment
                .gating
                .__internal_raise_idle_worker(index, work, || {
                    entry.handling.load(Ordering::Acquire) == 0
                })
        };
        raised += usize::from(moved);
    }
    raised
}

/// A pool worker's feed's side of raising the other idle workers of its pool: before a wait
/// that would block, and every half ring of sequences asked for.
pub(crate) struct IdleRaise {
    work: OwnedRef<Sequence>,
    /// The next sequence whose wait raises even if events are there.
    next: i64,
    half_ring: i64,
}

impl IdleRaise {
    /// For a worker of the pool whose work sequence is `work`, on a ring of `capacity` slots.
    pub fn new(work: OwnedRef<Sequence>, capacity: usize) -> Self {
        Self {
            work,
            next: 0,
            half_ring: (capacity as i64 / 2).max(1),
        }
    }

    /// Before the worker in slot `own` of pool `pool` waits for `seq`: raise the pool's idle
    /// workers if the wait would block (`blocks`) or a half ring was asked for since the last
    /// time. Returns whether any moved (producers waiting for room should then be woken).
    pub fn before_wait(
        &mut self,
        ring: &RingInner,
        pool: usize,
        own: usize,
        seq: i64,
        blocks: bool,
    ) -> bool {
        if !blocks && seq < self.next {
            return false;
        }
        self.next = seq.saturating_add(self.half_ring);
        raise_idle_workers(ring, pool, own, &self.work) > 0
    }
}

/// Raise the idle workers of every pool of the ring (a producer that finds the ring full: the
/// workers that would raise them may all be busy); returns how many moved.
pub(crate) fn raise_all_idle_workers(ring: &RingInner) -> usize {
    let segment = &ring.segment;
    segment
        .pools
        .iter()
        .enumerate()
        .filter(|(_, pool)| pool.state.load(Ordering::Acquire) == crate::registry::POOL_ACTIVE)
        .map(|(index, pool)| raise_idle_workers(ring, index, usize::MAX, &pool.work))
        .sum()
}
