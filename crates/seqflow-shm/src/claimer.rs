//! [`ShmClaimer`]: the claimer of a shared ring's producers. It owns a slot of the segment's
//! producer table and a claimer of the shared sequencer, and implements the same `Claimer`
//! trait as the in-process claimers, so a shared ring's producer is the pipeline's `Producer`
//! and its claims are the pipeline's `ClaimGuard`s (see `producer.rs`).
//!
//! Around every claim it records what it claims in its producer slot (see `producer_slot.rs` for
//! the protocol), so that consumers can tell when it died between claim and publish. While the
//! ring is full it checks, every liveness interval, whether a gating consumer died, and releases
//! dead consumers' slots so it can go on. It refuses claims on a closed or halted ring, and in a
//! forked child that inherited it.

use crate::liveness::{current_pid, holder_alive, PRODUCER_BASE};
use crate::lock::HeldLock;
use crate::producer_slot::{ProducerSlot, ABANDONED, CLAIMED, CLAIMING, IDLE};
use crate::ring::RingInner;
use crate::sanity::check_sequence;
use crate::sequencer::AnyClaimer;
use crate::{reaper, ProducerMode, ShmError, ShmSequencer};
use seqflow_sequence::sync::atomic::{fence, Ordering};
use seqflow_sequence::{Deadline, INITIAL_SEQUENCE};
use seqflow_sequencer::{ClaimError, Claimer, PublishError, SequenceRange};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The claimer of a shared ring's producer (`ShmProducer<E>` is the pipeline's
/// `Producer<E, ShmClaimer>`): a slot of the segment's producer table plus a claimer of the
/// shared sequencer. Dropping it frees the slot (only in the process that took it: a forked
/// child's copy frees nothing, and refuses to claim with [`ClaimError::ForkedHandle`]).
///
/// ```
/// # use seqflow_shm::{ShmOptions, ShmRing};
/// # let name = format!("/seqflow-doc-claimer-{}", std::process::id());
/// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
/// # let _guard = ring.unlink_on_drop();
/// let producer = ring.producer().unwrap();
/// assert_eq!(producer.claimer().slot_index(), 0);
/// assert_eq!(producer.claimer().ring_name(), name);
/// ```
pub struct ShmClaimer {
    inner: Arc<RingInner>,
    claimer: AnyClaimer,
    slot: usize,
    lock: Option<HeldLock>,
    owner_pid: u32,
    /// The fork epoch when attached: a different one means an inherited copy.
    epoch: u64,
}

impl ShmClaimer {
    /// Take a free producer slot of the ring.
    pub(crate) fn attach(inner: &Arc<RingInner>) -> Result<Self, ShmError> {
        let segment = &inner.segment;
        let name = segment.name().as_str();
        let fd = segment.map.fd();
        let pid = current_pid();
        let _registry = inner.lock_registry()?;
        // Claims do unchecked arithmetic on the cursor: refuse a corrupt one (see `sanity`).
        check_sequence(name, "cursor", inner.sequencer.cursor_word())?;
        let mut holder = 0;
        for (index, slot) in segment.producers.iter().enumerate() {
            let owner = slot.owner.load(Ordering::Acquire);
            if owner != 0 {
                if holder_alive(fd, PRODUCER_BASE + index as u64, owner) {
                    holder = owner;
                    continue;
                }
                if segment.mode == ProducerMode::MultiCas && !reusable(inner, slot) {
                    continue;
                }
            }
            let Some(lock) = HeldLock::try_exclusive(fd, PRODUCER_BASE + index as u64)
                .map_err(|e| ShmError::std_io(name, "fcntl(F_OFD_SETLK)", e))?
            else {
                // A forked child of the dead owner still holds the lock byte.
                holder = owner;
                continue;
            };
            let Some(claimer) = inner.sequencer.claimer() else {
                // This process's single-producer claimer was taken through `sequencer()`.
                return Err(ShmError::ProducerTaken {
                    name: name.to_owned(),
                    pid,
                });
            };
            slot.generation.fetch_add(1, Ordering::Relaxed);
            if segment.mode == ProducerMode::MultiCas {
                slot.start.store(INITIAL_SEQUENCE, Ordering::Relaxed);
                slot.end.store(INITIAL_SEQUENCE, Ordering::Relaxed);
            }
            // Single producer: `end` stays, it only grows (lossy readers rely on it).
            slot.state.store(IDLE, Ordering::Relaxed);
            slot.owner.store(pid, Ordering::Release);
            tracing::debug!(segment = %name, slot = index, pid, "producer attached");
            return Ok(Self {
                inner: Arc::clone(inner),
                claimer,
                slot: index,
                lock: Some(lock),
                owner_pid: pid,
                epoch: crate::fork_guard::epoch_for_new_handle(),
            });
        }
        Err(match segment.mode {
            ProducerMode::Single => ShmError::ProducerTaken {
                name: name.to_owned(),
                pid: holder,
            },
            ProducerMode::MultiCas => ShmError::ProducersFull {
                name: name.to_owned(),
                max: segment.producers.len(),
            },
        })
    }

    /// The producer slot index in the segment (always 0 for a single producer).
    pub fn slot_index(&self) -> usize {
        self.slot
    }

    /// The segment's name.
    pub fn ring_name(&self) -> &str {
        self.inner.segment.name().as_str()
    }

    fn slot(&self) -> &ProducerSlot {
        &self.inner.segment.producers[self.slot]
    }

    /// Claim `n` slots with the state recorded around the claim: wait (while the ring is full,
    /// in slices of one liveness interval, reaping dead consumers between them) until
    /// `deadline` when `block`, else try once.
    fn claim_recorded(
        &mut self,
        n: usize,
        deadline: Deadline,
        block: bool,
    ) -> Result<SequenceRange, ClaimError> {
        self.check_open()?;
        self.slot().state.store(CLAIMING, Ordering::Relaxed);
        let mut result = self.claimer.try_claim(n);
        if matches!(result, Err(ClaimError::Full { .. })) {
            if !block {
                if self.reap() > 0 {
                    result = self.claimer.try_claim(n);
                }
            } else {
                let interval = self.inner.liveness_interval;
                // The ring is full: the wait begins (a claim that finds room reads no clock).
                let deadline = deadline.resolve();
                result = loop {
                    let slice = slice_end(deadline, interval);
                    match self.claimer.claim_until(n, Some(slice)) {
                        Err(ClaimError::Timeout { .. }) if self.inner.halted_everywhere() => {
                            break Err(ClaimError::Halted);
                        }
                        // Closed while this producer waited for room (nothing is claimed yet).
                        Err(ClaimError::Timeout { .. }) if self.inner.closed_end().is_some() => {
                            break Err(ClaimError::Closed);
                        }
                        Err(ClaimError::Timeout { .. }) if before(deadline) => {
                            self.reap();
                        }
                        other => break other,
                    }
                };
            }
        }
        self.record_claim(result)
    }

    #[inline]
    fn check_open(&self) -> Result<(), ClaimError> {
        if self.epoch != crate::fork_guard::epoch() {
            return Err(ClaimError::ForkedHandle);
        }
        if self.inner.halted_everywhere() {
            return Err(ClaimError::Halted);
        }
        if self.inner.closed_end().is_some() {
            return Err(ClaimError::Closed);
        }
        Ok(())
    }

    fn record_claim(
        &mut self,
        result: Result<SequenceRange, ClaimError>,
    ) -> Result<SequenceRange, ClaimError> {
        let slot = self.slot();
        match result {
            Ok(range) => {
                slot.start.store(range.start(), Ordering::Relaxed);
                slot.end.store(range.end(), Ordering::Relaxed);
                slot.state.store(CLAIMED, Ordering::Release);
                // Seqlock writer side: the recorded claim is visible before any slot write. And
                // the producer half of the close handshake (`RingInner::settle_close`): after
                // this fence, either a closer's read of the claims sees this claim (the end
                // covers it), or the closed word read below is no longer open.
                fence(Ordering::SeqCst);
                if self.inner.halted_everywhere() {
                    // Halted while this producer waited: publish the claim as it stands (no
                    // hole) and refuse; nobody consumes any more.
                    self.publish_own(range);
                    return Err(ClaimError::Halted);
                }
                if let Some(end) = self.inner.closed_end() {
                    if range.start() > end {
                        // Claimed after the end: refused. The slots are published as they are
                        // (a claimer publishes what it claimed, so no hole is left), and no
                        // consumer reads them: every wait stops at the end.
                        self.publish_own(range);
                        return Err(ClaimError::Closed);
                    }
                }
                Ok(range)
            }
            Err(e) => {
                slot.state.store(IDLE, Ordering::Release);
                Err(e)
            }
        }
    }

    /// Publish `range` (the pending claim) and record the slot idle.
    fn publish_recorded(&mut self, range: SequenceRange) -> Result<(), PublishError> {
        let published = self.claimer.publish(range);
        if published.is_ok() {
            self.slot().state.store(IDLE, Ordering::Release);
        }
        published
    }

    /// Publish this claimer's own pending claim `range` (it cannot be refused; logged if it
    /// ever is).
    fn publish_own(&mut self, range: SequenceRange) {
        if let Err(e) = self.publish_recorded(range) {
            tracing::error!(error = %e, "publish of a shared-ring claim refused");
        }
    }

    fn reap(&self) -> usize {
        match reaper::reap_dead_consumers(&self.inner, false) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "checking consumer liveness failed");
                0
            }
        }
    }
}

impl Claimer for ShmClaimer {
    type Sequencer = ShmSequencer;

    fn claim_until(
        &mut self,
        n: usize,
        deadline: Option<Instant>,
    ) -> Result<SequenceRange, ClaimError> {
        self.claim_recorded(n, deadline.into(), true)
    }

    fn try_claim(&mut self, n: usize) -> Result<SequenceRange, ClaimError> {
        self.claim_recorded(n, Deadline::NEVER, false)
    }

    fn publish(&mut self, range: SequenceRange) -> Result<(), PublishError> {
        self.publish_recorded(range)
    }

    fn pending(&self) -> Option<SequenceRange> {
        self.claimer.pending()
    }

    #[inline]
    fn __internal_claim_paired(
        &mut self,
        n: usize,
        deadline: Deadline,
        block: bool,
    ) -> Result<SequenceRange, ClaimError> {
        // The checked claim: its pending-claim bookkeeping is what the recorded protocol
        // publishes against.
        self.claim_recorded(n, deadline, block)
    }

    #[inline]
    unsafe fn __internal_publish_paired(&mut self, range: SequenceRange) {
        if self.epoch != crate::fork_guard::epoch() {
            // A forked child's copy of a claim guard: the claim is the parent's to publish
            // (one relaxed load, not a `getpid` call per publish).
            tracing::warn!(segment = %self.ring_name(), "a forked child's copy of a claim is not published");
            return;
        }
        self.publish_own(range);
    }

    fn sequencer(&self) -> &Arc<ShmSequencer> {
        &self.inner.sequencer
    }
}

fn reusable(ring: &RingInner, slot: &ProducerSlot) -> bool {
    let state = slot.state.load(Ordering::Acquire);
    if state == CLAIMING || state == CLAIMED {
        reaper::release_dead_producers_locked(ring);
    }
    if slot.state.load(Ordering::Acquire) != ABANDONED {
        return slot.state.load(Ordering::Acquire) == IDLE;
    }
    let passed = ring.segment.gating.minimum(i64::MAX);
    match slot.range() {
        Some(r) => r.end() <= passed,
        None => true,
    }
}

fn before(deadline: Option<Instant>) -> bool {
    match deadline {
        Some(d) => Instant::now() < d,
        None => true,
    }
}

/// The end of the next wait slice: one liveness interval from now, or `deadline` if sooner.
pub(crate) fn slice_end(deadline: Option<Instant>, interval: Duration) -> Instant {
    let now = Instant::now();
    let end = now
        .checked_add(interval)
        .or_else(|| now.checked_add(Duration::from_secs(3600)))
        .unwrap_or(now);
    deadline.map_or(end, |d| d.min(end))
}

impl Drop for ShmClaimer {
    fn drop(&mut self) {
        if current_pid() != self.owner_pid {
            // A forked child's copy: the slot belongs to the parent.
            return;
        }
        // Release the lock byte first, then the slot: a process attaching in between sees a
        // live pid without a lock, which counts as free.
        self.lock.take();
        self.slot().owner.store(0, Ordering::Release);
    }
}

impl std::fmt::Debug for ShmClaimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmClaimer")
            .field("ring", &self.ring_name())
            .field("slot", &self.slot)
            .finish_non_exhaustive()
    }
}
