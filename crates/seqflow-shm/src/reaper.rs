//! Cleaning up after dead processes: releasing dead consumers' gating slots, and releasing the
//! claims of producers that died between claim and publish.
//!
//! Both run under the registry lock, so at most one process repairs at a time and no
//! registration interleaves. Neither runs on a hot path: producers reap only while blocked on a
//! full ring, consumers repair only when a wait slice expired.

use crate::liveness::{holder_alive, RegistryLock, CONSUMER_BASE, PRODUCER_BASE};
use crate::producer_slot::{ABANDONED, CLAIMED, CLAIMING, IDLE, REFUSED};
use crate::registry::{ACTIVE, FREE, REGISTERING};
use crate::ring::RingInner;
use crate::segment::Segment;
use crate::{ProducerMode, ShmError};
use seqflow_sequence::sync::atomic::Ordering;
use seqflow_sequence::{Cursor, WaitStrategy};
use seqflow_sequencer::{AvailabilityBuffer, SequenceRange};

/// Release the gating slots of dead consumers. `blocking`: wait for the registry lock (else
/// give up at once if somebody holds it). Returns how many slots were released.
pub(crate) fn reap_dead_consumers(ring: &RingInner, blocking: bool) -> Result<usize, ShmError> {
    let segment = &ring.segment;
    let name = segment.name().as_str();
    let fd = segment.map.fd();
    let _lock = if blocking {
        ring.lock_registry()?
    } else {
        match RegistryLock::try_acquire(fd)
            .map_err(|e| ShmError::std_io(name, "fcntl(F_OFD_SETLK)", e))?
        {
            Some(lock) => lock,
            None => return Ok(0),
        }
    };
    Ok(reap_dead_consumers_locked(ring))
}

/// [`reap_dead_consumers`] for a caller that holds the registry lock (and is not itself
/// between marking an entry REGISTERING and ACTIVE).
pub(crate) fn reap_dead_consumers_locked(ring: &RingInner) -> usize {
    let segment = &ring.segment;
    let name = segment.name().as_str();
    let fd = segment.map.fd();
    let mut released = 0;
    for (index, entry) in segment.registry.iter().enumerate() {
        let dead = match entry.state.load(Ordering::Acquire) {
            FREE => false,
            // We hold the registry lock, which every registrant holds until it is ACTIVE: a
            // REGISTERING entry belongs to a process that died mid-registration.
            REGISTERING => true,
            ACTIVE => {
                let pid = entry.pid.load(Ordering::Relaxed);
                !holder_alive(fd, CONSUMER_BASE + index as u64, pid)
            }
            _ => false,
        };
        if dead {
            let pid = entry.pid.load(Ordering::Relaxed);
            // A pool worker killed while handling loses what it had claimed and not handled
            // (the count comes from another process's memory: at most a ring's worth).
            let lost = entry.handling.swap(0, Ordering::Relaxed);
            if lost > 0 {
                let lost = lost.min(segment.capacity() as u64);
                segment
                    .header
                    .status
                    .lost_pool_events
                    .fetch_add(lost, Ordering::Relaxed);
                tracing::warn!(segment = %name, slot = index, pid, lost, "a pool worker died while handling events: they are lost");
            }
            // The holder is dead (its lock byte is free, or it died mid-registration under the
            // registry lock we hold): declared entries go back to DORMANT, others are freed.
            crate::registration::release_entry(ring, index);
            segment
                .header
                .status
                .reaped_consumers
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(segment = %name, slot = index, pid, consumer = %entry.label.load(), "released the slot of a dead consumer");
            released += 1;
        }
    }
    released += release_orphan_slots(segment);
    if released > 0 {
        ring.sequencer.wait_strategy().signal_all();
    }
    released
}

/// Release gating slots held with no registry entry: a registrant killed after taking its
/// gating slot and before marking its entry (or inside the gating table's own registration)
/// leaves one. Every registrant holds the registry lock from before it takes a slot until its
/// entry is ACTIVE, and the caller holds that lock now, so no live process is in that window.
fn release_orphan_slots(segment: &Segment) -> usize {
    let mut released = 0;
    for (index, slot) in segment.gating.slots().iter().enumerate() {
        let entry_free = segment
            .registry
            .get(index)
            .is_none_or(|entry| entry.state.load(Ordering::Acquire) == FREE);
        if slot.is_in_use() && entry_free {
            // SAFETY: no registry entry accounts for the slot and no registration is under way
            // (we hold the registry lock): its holder died mid-registration, before anybody
            // could read on its strength.
            if unsafe { segment.gating.__internal_force_release(index) } {
                tracing::warn!(segment = %segment.name(), slot = index, "released a gating slot orphaned by a registrant that died");
                released += 1;
            }
        }
    }
    released
}

/// A dead producer's claim, as consumers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeadClaim {
    pub slot: usize,
    pub generation: u64,
    pub pid: u32,
    pub range: Option<SequenceRange>,
}

/// Producer slots whose owner is dead while holding a claim (state CLAIMING or CLAIMED, as
/// [`ProducerSlot::observed`](crate::producer_slot::ProducerSlot::observed) reads it: a single
/// producer records only its claim's end).
pub(crate) fn dead_claims(segment: &Segment) -> Vec<DeadClaim> {
    let fd = segment.map.fd();
    let mut dead = Vec::new();
    for (slot, p) in segment.producers.iter().enumerate() {
        let pid = p.owner.load(Ordering::Acquire);
        if pid == 0 {
            continue;
        }
        let (state, range) = p.observed(segment.mode, || segment.cursor.get());
        if state != CLAIMING && state != CLAIMED {
            continue;
        }
        if holder_alive(fd, PRODUCER_BASE + slot as u64, pid) {
            continue;
        }
        dead.push(DeadClaim {
            slot,
            generation: p.generation.load(Ordering::Relaxed),
            pid,
            range,
        });
    }
    dead
}

/// Claims of dead producers that were released (state ABANDONED).
pub(crate) fn abandoned_claims(segment: &Segment) -> Vec<DeadClaim> {
    segment
        .producers
        .iter()
        .enumerate()
        .filter(|(_, p)| p.state.load(Ordering::Acquire) == ABANDONED)
        .map(|(slot, p)| DeadClaim {
            slot,
            generation: p.generation.load(Ordering::Relaxed),
            pid: p.owner.load(Ordering::Relaxed),
            range: p.range(),
        })
        .collect()
}

/// The ranges the producer table of a multi-producer ring records as published without (all of)
/// their events written: claims of dead producers released as they stood (`abandoned`, until
/// the slot is reused; the producer may have written part of its claim before it died) and
/// claims refused for a halt ([`refused_ranges`]). None for a single producer, which publishes
/// nothing unwritten; none longer than the ring (no claim is).
pub(crate) fn unwritten_ranges(segment: &Segment) -> Vec<SequenceRange> {
    recorded_ranges(segment, &[ABANDONED, REFUSED])
}

/// The claims a multi producer refused for a halt (`refused`, kept for good): published, and
/// nothing was ever written into them.
pub(crate) fn refused_ranges(segment: &Segment) -> Vec<SequenceRange> {
    recorded_ranges(segment, &[REFUSED])
}

/// The ranges of the multi-producer table's slots in one of `states` (see
/// [`unwritten_ranges`]).
fn recorded_ranges(segment: &Segment, states: &[u32]) -> Vec<SequenceRange> {
    if segment.mode != ProducerMode::MultiCas {
        return Vec::new();
    }
    segment
        .producers
        .iter()
        .filter(|p| states.contains(&p.state.load(Ordering::Acquire)))
        .filter_map(|p| p.range())
        .filter(|r| r.len() <= segment.capacity())
        .collect()
}

/// Multi producer: release the claims of dead producers so the ring goes on. Their claimed
/// slots are marked published as they stand (as an in-process claim dropped unpublished is);
/// the slots become ABANDONED with the released range recorded, and the abandoned epoch is
/// bumped so every consumer learns about it. Returns whether anything was released.
///
/// A claim whose range was recorded (CLAIMED) is released directly. A producer that died while
/// CLAIMING (after its cursor CAS, before recording the range) left a hole nobody owns: every
/// unpublished sequence in the last lap that no live producer has recorded. That scan is only
/// sound while no live producer is CLAIMING itself, so it is postponed otherwise (its window is
/// a few instructions).
pub(crate) fn release_dead_producers(ring: &RingInner) -> Result<bool, ShmError> {
    let segment = &ring.segment;
    if ring.sequencer.availability().is_none() || dead_claims(segment).is_empty() {
        return Ok(false);
    }
    let _lock = ring.lock_registry()?;
    // Re-read under the lock: another consumer may have released them meanwhile.
    Ok(release_dead_producers_locked(ring))
}

/// [`release_dead_producers`] for a caller that holds the registry lock.
pub(crate) fn release_dead_producers_locked(ring: &RingInner) -> bool {
    let segment = &ring.segment;
    let Some(available) = ring.sequencer.availability() else {
        return false;
    };
    let name = segment.name().as_str();
    let dead = dead_claims(segment);
    let mut released = false;
    let capacity = segment.capacity() as i64;
    // Every loss is recorded (the slot ABANDONED with its range) and announced (the abandoned
    // epoch bumped) *before* its slots are marked published: a consumer that sees a mark sees
    // the epoch bump (`Release` here, its `Acquire` loads there) and is told `ProducerDied`
    // before it reads the slot. Marked first, a consumer could read the stale slot as an event
    // between the mark and the bump.
    for claim in &dead {
        let Some(range) = claim.range else { continue };
        // Only the last lap can hold unpublished sequences (a range read from the segment is
        // never iterated beyond it, whatever it says).
        let (lo, hi) = last_lap(segment);
        let seqs = range.start().max(lo)..=range.end().min(hi);
        // Nothing unpublished: it died after publishing everything (before saying so); nothing
        // lost. Nobody else marks these sequences meanwhile (the dead producer cannot, and
        // releasers hold the registry lock).
        let lost = count_unpublished(segment, available, capacity, seqs.clone()) > 0;
        settle(segment, claim.slot, lost.then_some(range));
        if lost {
            announce_abandoned(segment);
            mark_unpublished(segment, available, capacity, seqs);
            tracing::warn!(segment = %name, pid = claim.pid, %range, "released the claim of a dead producer");
            released = true;
        }
    }
    let unknown: Vec<&DeadClaim> = dead.iter().filter(|c| c.range.is_none()).collect();
    if !unknown.is_empty() {
        if let Some(runs) = orphan_runs(segment, ring, available, &unknown) {
            // Runs in sequence order, one per dead claimer; any extra runs go to the last one.
            let last = unknown.len() - 1;
            let mut settled = Vec::new();
            for (i, claim) in unknown.iter().enumerate() {
                let range = if i < last {
                    runs.get(i).copied()
                } else {
                    match (runs.get(i), runs.last()) {
                        (Some(first), Some(end)) => SequenceRange::new(first.start(), end.end()),
                        _ => None,
                    }
                };
                settle(segment, claim.slot, range);
                if let Some(range) = range {
                    settled.push((claim.pid, range));
                }
            }
            if !runs.is_empty() {
                announce_abandoned(segment);
                for run in &runs {
                    mark_unpublished(segment, available, capacity, run.iter());
                }
            }
            for (pid, range) in settled {
                tracing::warn!(segment = %name, pid, %range, "released the claim of a producer that died while claiming");
                released = true;
            }
        }
    }
    if released {
        ring.sequencer.wait_strategy().signal_all();
    }
    released
}

/// Bump the abandoned-claims epoch: consumers read the producer table again (see
/// `watch.rs`). Called after the lost claims are recorded and before their slots are marked.
fn announce_abandoned(segment: &Segment) {
    segment
        .header
        .status
        .abandoned_epoch
        .fetch_add(1, Ordering::Release);
}

/// Settle a dead producer's slot: ABANDONED with the range it lost, or IDLE if it lost nothing
/// (died before its claim CAS, or after publishing everything).
fn settle(segment: &Segment, slot: usize, lost: Option<SequenceRange>) {
    let p = &segment.producers[slot];
    match lost {
        Some(range) => {
            p.start.store(range.start(), Ordering::Relaxed);
            p.end.store(range.end(), Ordering::Relaxed);
            p.state.store(ABANDONED, Ordering::Release);
            segment
                .header
                .status
                .abandoned_claims
                .fetch_add(1, Ordering::Relaxed);
        }
        None => p.state.store(IDLE, Ordering::Release),
    }
}

/// The sequences of the last lap, `(max(0, cursor - capacity + 1), cursor)`.
fn last_lap(segment: &Segment) -> (i64, i64) {
    let cursor = segment.cursor.get();
    let lo = cursor
        .saturating_sub(segment.capacity() as i64)
        .saturating_add(1)
        .max(0);
    (lo, cursor)
}

/// How many of `seqs` [`mark_unpublished`] would mark.
fn count_unpublished(
    segment: &Segment,
    available: &AvailabilityBuffer,
    capacity: i64,
    seqs: impl Iterator<Item = i64>,
) -> usize {
    seqs.filter(|&seq| {
        !available.is_available(seq) && segment.cursor.get() < seq.saturating_add(capacity)
    })
    .count()
}

/// Mark each sequence published unless it already is or its slot was reused by a later lap
/// (the cursor is re-read right before each mark: a later lap can only be claimed once every
/// gating consumer passed the sequence, which it cannot while the sequence is unpublished).
fn mark_unpublished(
    segment: &Segment,
    available: &AvailabilityBuffer,
    capacity: i64,
    seqs: impl Iterator<Item = i64>,
) -> usize {
    let mut marked = 0;
    for seq in seqs {
        if available.is_available(seq) || segment.cursor.get() >= seq.saturating_add(capacity) {
            continue;
        }
        // SAFETY: `seq` was claimed by a producer the caller found dead; nobody will write it.
        unsafe { available.__internal_mark_abandoned(seq) };
        marked += 1;
    }
    marked
}

/// The runs of unpublished sequences in the last lap that no live producer has recorded, or
/// `None` when a live producer is CLAIMING (try again later).
fn orphan_runs(
    segment: &Segment,
    ring: &RingInner,
    available: &AvailabilityBuffer,
    dead: &[&DeadClaim],
) -> Option<Vec<SequenceRange>> {
    // The cursor first: any claim made after this read starts above it (see the module docs of
    // `producer_slot`: a producer is CLAIMING before its CAS).
    let cursor = ring.sequencer.cursor_word();
    let fd = segment.map.fd();
    let mut live = Vec::new();
    for (slot, p) in segment.producers.iter().enumerate() {
        if dead.iter().any(|d| d.slot == slot) {
            continue;
        }
        let pid = p.owner.load(Ordering::Acquire);
        if pid == 0 {
            continue;
        }
        match p.state.load(Ordering::Acquire) {
            CLAIMING if holder_alive(fd, PRODUCER_BASE + slot as u64, pid) => return None,
            // A claim refused for a halt is recorded before its publish: not a hole either.
            CLAIMED | REFUSED => live.extend(p.range()),
            // Idle, abandoned, a dead claimer, or an unknown word: not a live claim.
            _ => {}
        }
    }
    let lo = cursor
        .saturating_sub(segment.capacity() as i64)
        .saturating_add(1)
        .max(0);
    let mut runs: Vec<SequenceRange> = Vec::new();
    for seq in lo..=cursor {
        if available.is_available(seq) || live.iter().any(|r| r.contains(seq)) {
            continue;
        }
        match runs.last_mut() {
            Some(run) if run.end() + 1 == seq => {
                *run = SequenceRange::new(run.start(), seq).unwrap_or(*run);
            }
            _ => runs.extend(SequenceRange::new(seq, seq)),
        }
    }
    Some(runs)
}
