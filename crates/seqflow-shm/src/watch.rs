//! [`Watch`]: how a consumer waits across processes without ever waiting forever on the dead.
//!
//! A wait is cut into slices of the liveness interval. Each slice is an ordinary wait of the
//! segment's wait strategy on the consumer's condition; when one expires before the caller's
//! deadline, the consumer looks at the other side: a stage it follows that died or left
//! ([`ConsumeError::UpstreamGone`]), a producer that died between claim and publish
//! ([`ConsumeError::ProducerDied`]: multi producer, its claim is released so the ring goes on;
//! single producer, reported once per producer). Released claims are reported to every consumer
//! whose next batch overlaps them, once, through the segment's abandoned-claims epoch (one
//! `Acquire` load per batch while nothing was released).

use crate::liveness::{holder_alive, CONSUMER_BASE};
use crate::reaper::{self, DeadClaim};
use crate::registration::Upstream;
use crate::registry::{ACTIVE, DORMANT, REGISTERING};
use crate::ring::RingInner;
use crate::{ConsumeError, ProducerMode};
use seqflow_sequence::sync::atomic::Ordering;
use seqflow_sequence::{Cursor, Deadline, WaitError, WaitStrategy};
use std::sync::Arc;
use std::time::Instant;

/// How many times a consumer whose wait spins first polls (a spin hint before each) after a miss before
/// its wait begins: about as long as a few events take to come from a streaming producer.
const POLLS_BEFORE_WAIT: u32 = 64;

/// One consumer's view of the liveness of the others.
pub(crate) struct Watch {
    ring: Arc<RingInner>,
    upstream: Vec<Upstream>,
    seen_epoch: u64,
    abandoned: Vec<DeadClaim>,
    /// (producer slot, generation) of dead claims already reported to this consumer.
    reported: Vec<(usize, u64)>,
    /// Whether some released claim may still overlap a later batch.
    pending: bool,
    /// When liveness was last checked: waits shorter than the liveness interval (polls with a
    /// short timeout) check it once an interval has passed since, so they too get past a dead
    /// upstream or pool worker.
    last_check: Instant,
}

impl Watch {
    /// A watch for a consumer that follows `upstream` (empty: only the producer) and has
    /// handled everything up to `sequence`. Claims of dead producers that end at or before
    /// `sequence` are not reported to it (it starts after them); those still ahead of it are,
    /// when its batches reach them: a declared consumer that attaches late, behind the cursor,
    /// must hear of a dead producer's claim like one that was attached all along.
    pub fn new(ring: Arc<RingInner>, upstream: Vec<Upstream>, sequence: i64) -> Self {
        let seen_epoch = ring
            .segment
            .header
            .status
            .abandoned_epoch
            .load(Ordering::Acquire);
        let abandoned = reaper::abandoned_claims(&ring.segment);
        // A claim whose range was never recorded (a producer that died between its claim and
        // recording it) lies somewhere below the claim cursor: behind this consumer only if
        // the consumer starts at that cursor (consumers start at the published end, so only
        // when nothing below it is unpublished). Otherwise it is reported once released.
        let claimed = ring.sequencer.cursor_word();
        let behind = |range: Option<seqflow_sequencer::SequenceRange>| match range {
            Some(r) => r.end() <= sequence,
            None => sequence >= claimed,
        };
        let mut reported: Vec<(usize, u64)> = abandoned
            .iter()
            .filter(|a| behind(a.range))
            .map(|a| (a.slot, a.generation))
            .collect();
        reported.extend(
            reaper::dead_claims(&ring.segment)
                .iter()
                .filter(|d| behind(d.range))
                .map(|d| (d.slot, d.generation)),
        );
        let pending = abandoned.iter().any(|a| !behind(a.range));
        Self {
            ring,
            upstream,
            seen_epoch,
            abandoned,
            reported,
            pending,
            last_check: Instant::now(),
        }
    }

    /// The ring this watch is on.
    #[inline]
    pub fn ring(&self) -> &RingInner {
        &self.ring
    }

    /// The stages this consumer follows.
    pub fn upstream(&self) -> &[Upstream] {
        &self.upstream
    }

    /// The stages this consumer follows, to replace the workers of a followed pool.
    pub fn upstream_mut(&mut self) -> &mut Vec<Upstream> {
        &mut self.upstream
    }

    /// The ring this watch is on, shared.
    pub fn ring_arc(&self) -> &Arc<RingInner> {
        &self.ring
    }

    /// Poll `ready` until it yields, checking liveness between slices; waiting `seq` (for
    /// error reports) until `deadline`, which starts (`Deadline::begin`) only if `ready` does
    /// not yield at once.
    pub fn wait<T>(
        &mut self,
        seq: i64,
        deadline: &mut Deadline,
        mut ready: impl FnMut() -> Option<T>,
    ) -> Result<T, ConsumeError> {
        if let Some(value) = ready() {
            return Ok(value);
        }
        // A consumer whose wait spins first (busy-spin, yielding) behind a streaming producer
        // misses often and finds the next event a few polls later. Those polls come before the
        // wait is set up, which reads the clock twice: per miss, that would cost more than
        // handling an event.
        let sequencer = &self.ring.sequencer;
        if sequencer.wait_strategy().spins_first() && !deadline.is_now() {
            for _ in 0..POLLS_BEFORE_WAIT {
                seqflow_sequence::sync::spin_loop();
                if let Some(value) = ready() {
                    return Ok(value);
                }
                if sequencer.alert().is_raised() {
                    break;
                }
            }
        }
        // The wait begins (a timeout too far to represent means no limit).
        let deadline = deadline.begin();
        let interval = self.ring.liveness_interval;
        loop {
            let slice = crate::claimer::slice_end(deadline, interval);
            let waited = {
                let ring = &*self.ring;
                // A closed ring ends the wait for anything past its end.
                let mut ready = || match ready() {
                    Some(value) => Some(Ok(value)),
                    None if ring.halted_everywhere() => Some(Err(ConsumeError::Alerted)),
                    None => match ring.closed_end() {
                        Some(end) if seq > end => Some(Err(ConsumeError::Closed { end })),
                        _ => None,
                    },
                };
                let sequencer = &ring.sequencer;
                sequencer
                    .wait_strategy()
                    .wait_until(&mut ready, sequencer.alert(), Some(slice))
            };
            match waited {
                Ok(value) => return value,
                Err(WaitError::Alerted) => return Err(ConsumeError::Alerted),
                Err(WaitError::Timeout) => {
                    let now = Instant::now();
                    if deadline.is_some_and(|d| now >= d) {
                        if now.duration_since(self.last_check) >= interval {
                            self.last_check = now;
                            self.check_liveness(seq)?;
                        }
                        return Err(ConsumeError::Timeout);
                    }
                    self.last_check = now;
                    self.check_liveness(seq)?;
                }
            }
        }
    }

    /// Report (once) a released claim of a dead producer overlapping `seq..=hi`.
    #[inline]
    pub fn check_abandoned(&mut self, seq: i64, hi: i64) -> Result<(), ConsumeError> {
        let epoch = self
            .ring
            .segment
            .header
            .status
            .abandoned_epoch
            .load(Ordering::Acquire);
        if epoch != self.seen_epoch {
            self.refresh(epoch);
        }
        if !self.pending {
            return Ok(());
        }
        self.report_overlap(seq, hi)
    }

    #[cold]
    fn refresh(&mut self, epoch: u64) {
        self.seen_epoch = epoch;
        self.abandoned = reaper::abandoned_claims(&self.ring.segment);
        self.pending = true;
    }

    #[cold]
    fn report_overlap(&mut self, seq: i64, hi: i64) -> Result<(), ConsumeError> {
        let mut pending = false;
        for claim in &self.abandoned {
            let Some(range) = claim.range else { continue };
            let key = (claim.slot, claim.generation);
            if self.reported.contains(&key) || range.end() < seq {
                continue;
            }
            if range.start() <= hi {
                self.reported.push(key);
                return Err(ConsumeError::ProducerDied {
                    pid: claim.pid,
                    seq,
                    claimed: Some(range),
                });
            }
            pending = true;
        }
        self.pending = pending;
        Ok(())
    }

    /// A wait slice expired: look for gone upstream stages and dead producers.
    #[cold]
    fn check_liveness(&mut self, seq: i64) -> Result<(), ConsumeError> {
        let segment = &self.ring.segment;
        let fd = segment.map.fd();
        let mut dead_worker = false;
        for up in &self.upstream {
            let entry = &segment.registry[up.index];
            let state = entry.state.load(Ordering::Acquire);
            if up.pool.is_some() {
                // A followed pool's workers come and go: a worker that left is no longer
                // followed once the pool's membership count moved (`pool_members.rs`); one that
                // died is, once its slot is released, which this consumer does itself.
                let pid = entry.pid.load(Ordering::Relaxed);
                dead_worker |=
                    state == ACTIVE && !holder_alive(fd, CONSUMER_BASE + up.index as u64, pid);
                continue;
            }
            let gone = if up.declared {
                // A declared upstream keeps its slot across restarts; only a release ends it.
                !(entry.is_declared() && matches!(state, ACTIVE | DORMANT | REGISTERING))
            } else {
                let same =
                    state == ACTIVE && entry.generation.load(Ordering::Relaxed) == up.generation;
                let pid = entry.pid.load(Ordering::Relaxed);
                !same || !holder_alive(fd, CONSUMER_BASE + up.index as u64, pid)
            };
            if gone {
                return Err(ConsumeError::UpstreamGone {
                    upstream: up.label.clone(),
                    index: up.index,
                });
            }
        }
        if dead_worker {
            if let Err(e) = reaper::reap_dead_consumers(&self.ring, false) {
                tracing::warn!(error = %e, "releasing dead pool workers' slots failed");
            }
        }
        match segment.mode {
            ProducerMode::MultiCas => {
                // Released claims show up as published; `check_abandoned` reports them.
                if let Err(e) = reaper::release_dead_producers(&self.ring) {
                    tracing::warn!(error = %e, "releasing dead producers' claims failed");
                }
            }
            ProducerMode::Single => {
                let cursor = self.ring.sequencer.cursor_word();
                for dead in reaper::dead_claims(segment) {
                    let key = (dead.slot, dead.generation);
                    // A dead claim only matters to consumers waiting beyond the cursor.
                    if seq > cursor && !self.reported.contains(&key) {
                        self.reported.retain(|(slot, _)| *slot != dead.slot);
                        self.reported.push(key);
                        return Err(ConsumeError::ProducerDied {
                            pid: dead.pid,
                            seq,
                            claimed: dead.range,
                        });
                    }
                }
                self.check_closed_without_producer(seq)?;
            }
        }
        Ok(())
    }

    /// A closed single-producer ring whose producer is gone (dead, or detached): the end of
    /// the close may cover a claim that producer recorded and never published (it died holding
    /// it), and nobody can publish it any more. A wait beyond the cursor then ends with
    /// `Closed` at the end readers can reach (`RingInner::reachable_end`) instead of lasting
    /// for ever.
    #[cold]
    fn check_closed_without_producer(&self, seq: i64) -> Result<(), ConsumeError> {
        match self.ring.reachable_end() {
            Some(end) if seq > end => Err(ConsumeError::Closed { end }),
            _ => Ok(()),
        }
    }
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("upstream", &self.upstream.len())
            .field("reported", &self.reported.len())
            .finish()
    }
}
