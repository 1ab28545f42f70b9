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

use crate::header::Status;
use crate::liveness::{current_pid, holder_alive, PRODUCER_BASE};
use crate::lock::HeldLock;
use crate::producer_slot::{ProducerSlot, ABANDONED, CLAIMED, CLAIMING, IDLE, REFUSED};
use crate::ring::RingInner;
use crate::sanity::check_sequence;
use crate::sequencer::AnyClaimer;
use crate::wait::ShmWait;
use crate::{reaper, ProducerMode, ShmError, ShmSequencer};
use seqflow_sequence::sync::atomic::{fence, Ordering};
use seqflow_sequence::{Cursor, Deadline, OwnedRef, WaitError, WaitStrategy, INITIAL_SEQUENCE};
use seqflow_sequencer::{
    ClaimError, Claimer, PublishError, SequenceRange, Sequencer, SingleClaimer,
};
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
    /// The producer slot itself, `slot` of the segment's table: every claim and publish writes
    /// it, and a reference of its own is one load away rather than a walk through the ring
    /// and a bounds check each time.
    slot_ref: OwnedRef<ProducerSlot>,
    /// The header's status line (the stopping mark, closed, halted), read after each claim (a
    /// multi producer's also before it): a reference of its own for the same reason.
    status: OwnedRef<Status>,
    lock: Option<HeldLock>,
    owner_pid: u32,
    /// The fork epoch when attached: a different one means an inherited copy.
    epoch: u64,
    /// The fork epoch a claim must see to go ahead without a look at the status line: `epoch`,
    /// or [`CLAIMS_REFUSED`] for a single producer that attached to a stopping ring, whose
    /// claims then all take the out-of-line check that refuses them (`claim_gate_shut`).
    claim_gate: u64,
    /// The fork epoch a paired claim must see to take the single producer's shortest path:
    /// `claim_gate` for a single producer in a process registered for the closers'
    /// `membarrier`, [`CLAIMS_REFUSED`] otherwise. One compare then stands for three tests
    /// (the gate, the claimer's kind, the fence's kind); any other case takes the general
    /// path, which tests each. Shut with `claim_gate` ([`shut_claim_gate`](Self::shut_claim_gate)).
    fast_claim_gate: u64,
    /// The fork epoch a paired publish must see to take the single producer's shortest path:
    /// `epoch` for a single producer on a ring whose waiters are never signalled (every wait
    /// kind but futex), [`CLAIMS_REFUSED`] otherwise. One compare stands for the fork check,
    /// the claimer's kind and the wait kind's test.
    fast_publish_gate: u64,
    /// This process is registered for the closers' `membarrier`: a recorded claim needs only
    /// a release fence before the status read (see `membarrier.rs`), not a full one.
    asymmetric_fence: bool,
    /// The ring has several producers: each claim's state and range are recorded for the
    /// release of a dead producer's claim. A single producer records only its claim's end
    /// (see `producer_slot.rs`).
    multi: bool,
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
        // Claims look only at the stopping mark: make it agree with the closed and halted words.
        segment.header.status.mark_if_stopped();
        let mut holder = 0;
        for (index, slot) in segment.producers.iter().enumerate() {
            // A claim refused for a halt stays recorded for good (`keep_refused`).
            if segment.mode == ProducerMode::MultiCas
                && slot.state.load(Ordering::Acquire) == REFUSED
            {
                continue;
            }
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
            match segment.mode {
                ProducerMode::MultiCas => {
                    slot.start.store(INITIAL_SEQUENCE, Ordering::Relaxed);
                    slot.end.store(INITIAL_SEQUENCE, Ordering::Relaxed);
                }
                ProducerMode::Single => inherit_single_claim(inner, slot),
            }
            slot.state.store(IDLE, Ordering::Relaxed);
            slot.owner.store(pid, Ordering::Release);
            tracing::debug!(segment = %name, slot = index, pid, "producer attached");
            let epoch = crate::fork_guard::epoch_for_new_handle();
            // A single producer claims before it looks at the status line (the look after the
            // claim refuses a claim past a close's end). A close settled before this attach
            // may end past the cursor, covering a dead predecessor's claim, which this
            // producer claims again: such claims must be refused before they are made. The
            // attach's fence (`inherit_single_claim`) orders this read after the lowered claim
            // end, so a close that begins later ends at the cursor.
            let single = segment.mode == ProducerMode::Single;
            let stopped_at_attach = single && segment.header.status.stopping();
            let claim_gate = if stopped_at_attach {
                CLAIMS_REFUSED
            } else {
                epoch
            };
            let asymmetric_fence = crate::membarrier::producer_fence_is_asymmetric();
            return Ok(Self {
                inner: Arc::clone(inner),
                claimer,
                slot: index,
                slot_ref: segment.producers.clone().map(|slots| &slots[index]),
                status: segment.header.clone().map(|header| &header.status),
                lock: Some(lock),
                owner_pid: pid,
                epoch,
                claim_gate,
                fast_claim_gate: if single && asymmetric_fence {
                    claim_gate
                } else {
                    CLAIMS_REFUSED
                },
                fast_publish_gate: if single && !inner.sequencer.wait_strategy().signals() {
                    epoch
                } else {
                    CLAIMS_REFUSED
                },
                asymmetric_fence,
                multi: segment.mode == ProducerMode::MultiCas,
            });
        }
        Err(match segment.mode {
            ProducerMode::Single => ShmError::ProducerTaken {
                name: name.to_owned(),
                pid: holder,
            },
            ProducerMode::MultiCas => match segment.header.status.halted_by() {
                Some(by) => ShmError::HaltedEverywhere {
                    name: name.to_owned(),
                    by,
                },
                None => ShmError::ProducersFull {
                    name: name.to_owned(),
                    max: segment.producers.len(),
                },
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

    #[inline]
    fn slot(&self) -> &ProducerSlot {
        &self.slot_ref
    }

    /// Record `state` in the producer slot (`CLAIMING` relaxed, as the claim itself orders it;
    /// the others with `Release`, after the stores they follow), if this ring records states:
    /// a multi producer's. A single producer's slot stays IDLE while it is attached.
    #[inline(always)]
    fn record_state(&self, state: u32) {
        if self.multi {
            let order = if state == CLAIMING {
                Ordering::Relaxed
            } else {
                Ordering::Release
            };
            self.slot().state.store(state, order);
        }
    }

    /// Claim `n` slots with the state recorded around the claim: wait (while the ring is full,
    /// in slices of one liveness interval, reaping dead consumers between them) until
    /// `deadline` when `block`, else try once. `pairing` says which of the inner claimer's
    /// paths claims (and so which one publishes).
    ///
    /// The fast path (room in the ring, the ring open) is inlined into the caller: one check
    /// of the fork epoch (the claim gate), the recorded claim and its fence, one look at the
    /// status line. Every rare case (full, halted, closed, refused) is out of line, and records
    /// its claim there: the fast path's claim stays in registers.
    ///
    /// A multi producer also looks at the status line before it claims: its claim moves the
    /// shared cursor. A single producer's claim is its own until published, so it does not:
    /// on a closed ring the look after the claim refuses it, as every claim it makes after a
    /// close settled starts past the close's end (the end covers every recorded claim, and this
    /// producer's next claim starts after its last). The one exception, a producer attaching
    /// after such a close to reclaim a dead predecessor's claim, has its claim gate shut.
    #[inline(always)]
    fn claim_recorded(
        &mut self,
        n: usize,
        deadline: Deadline,
        block: bool,
        pairing: Pairing,
    ) -> Result<SequenceRange, ClaimError> {
        // One load of the epoch for both gates: a multi producer pays one compare more.
        let epoch = crate::fork_guard::epoch();
        if matches!(pairing, Pairing::Paired) && self.fast_claim_gate == epoch {
            return self.claim_single_paired::<true>(n, deadline, block);
        }
        if self.claim_gate != epoch {
            self.claim_gate_shut()?;
        }
        if matches!(
            (&self.claimer, pairing),
            (AnyClaimer::Single(_), Pairing::Paired)
        ) {
            return self.claim_single_paired::<false>(n, deadline, block);
        }
        if self.status.stopping() {
            self.check_open()?;
        }
        self.record_state(CLAIMING);
        let claimed = match self.claim_inner(n, Deadline::NEVER, false, pairing) {
            Ok(range) => self.record_claim(range, pairing),
            Err(e) => self.claim_slow(e, n, deadline.__internal_for_slow_path(), block, pairing),
        };
        // Rebuilt rather than returned as it is: the out-of-line paths above write their
        // result to memory, and returning that place directly makes the single-producer path's
        // result go through it too (5 instructions more per shared publish, callgrind).
        match claimed {
            Ok(range) => Ok(range),
            Err(e) => Err(e),
        }
    }

    /// Record the claim `range` in the producer slot, fence, and refuse it if the ring was
    /// halted or closed meanwhile.
    #[inline(always)]
    fn record_claim(
        &mut self,
        range: SequenceRange,
        pairing: Pairing,
    ) -> Result<SequenceRange, ClaimError> {
        let slot = self.slot();
        // The end with `Release` (a plain store on x86): a lossy reader that sees it sees the
        // cursor the claim was made from (`RingInner::written_high` bounds the word by it). A
        // multi producer records its range and state too (`record_state`, written out so the
        // fast path tests `multi` once); a single producer records only the end.
        if self.multi {
            slot.start.store(range.start(), Ordering::Relaxed);
            slot.end.store(range.end(), Ordering::Release);
            slot.state.store(CLAIMED, Ordering::Release);
        } else {
            slot.end.store(range.end(), Ordering::Release);
        }
        self.order_record_before_status();
        if self.status.stopping() {
            return self.refuse_if_stopped(range, pairing);
        }
        Ok(range)
    }

    /// Between recording a claim and reading the status line. Seqlock writer side: the recorded
    /// claim is visible before any slot write (the release fence). And the producer half of
    /// the close handshake (`RingInner::settle_close`): either a closer's read of the claims
    /// sees this claim (the end covers it), or the status read that follows is no longer open.
    /// That takes a store-load barrier: a full fence here, or, in a process registered for the
    /// closers' `membarrier`, the barrier the closer forces on this thread (`membarrier.rs`) —
    /// then only the compiler must keep the status read after the stores.
    #[inline(always)]
    fn order_record_before_status(&self) {
        if self.asymmetric_fence {
            Self::asymmetric_order_record_before_status();
        } else {
            full_fence();
        }
    }

    /// [`order_record_before_status`](Self::order_record_before_status) in a process
    /// registered for the closers' `membarrier`.
    #[inline(always)]
    fn asymmetric_order_record_before_status() {
        fence(Ordering::Release);
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
    }

    /// The single producer's claimer, without a test of its kind.
    ///
    /// # Safety
    ///
    /// `fast_claim_gate` or `fast_publish_gate` equals the fork epoch now. Both are set once,
    /// in [`attach`](Self::attach), to a fork epoch only for a single producer's claimer (a
    /// multi producer's are `CLAIMS_REFUSED`, which no epoch equals: `fork_guard::MAX_EPOCH`),
    /// later only shut (`shut_claim_gate`), and the claimer's kind never changes.
    #[inline(always)]
    unsafe fn single_on_fast_gate(&mut self) -> &mut SingleClaimer<ShmWait> {
        match &mut self.claimer {
            AnyClaimer::Single(single) => single,
            // SAFETY: the caller's contract: a gate that only a single producer's claimer
            // opens matched the epoch, so the claimer is `Single`.
            AnyClaimer::Multi(_) => unsafe { std::hint::unreachable_unchecked() },
        }
    }

    /// Shut the claim gates for good: every later claim takes the out-of-line check, which
    /// refuses it.
    fn shut_claim_gate(&mut self) {
        self.claim_gate = CLAIMS_REFUSED;
        self.fast_claim_gate = CLAIMS_REFUSED;
    }

    /// A single producer's claim guard, the common case, on a path of its own. The claimer's
    /// kind is tested once (or not at all, `FAST`), where the general path tests it at each
    /// step. The rare cases (full, stopping) are out of line and end in `?`: the fast path's
    /// claim stays in registers.
    ///
    /// `FAST`: called on the fast claim gate (`fast_claim_gate`), which stands for the claim
    /// gate's test, this claimer's kind and a fence made asymmetric by `membarrier`.
    #[inline(always)]
    fn claim_single_paired<const FAST: bool>(
        &mut self,
        n: usize,
        deadline: Deadline,
        block: bool,
    ) -> Result<SequenceRange, ClaimError> {
        let single = if FAST {
            // SAFETY: `FAST` callers passed the fast claim gate, which only a single
            // producer's claimer opens.
            unsafe { self.single_on_fast_gate() }
        } else {
            let AnyClaimer::Single(single) = &mut self.claimer else {
                unreachable!("called for a single producer's claimer")
            };
            single
        };
        let range = match single.__internal_claim_paired(n, Deadline::NEVER, false) {
            Ok(range) => range,
            Err(first) => {
                self.claim_single_after(first, n, deadline.__internal_for_slow_path(), block)?
            }
        };
        self.slot().end.store(range.end(), Ordering::Release);
        if FAST {
            Self::asymmetric_order_record_before_status();
        } else {
            self.order_record_before_status();
        }
        if self.status.stopping() {
            self.refuse_if_stopped(range, Pairing::Paired)?;
        }
        Ok(range)
    }

    /// A single producer's first claim failed with `first`: make room as
    /// [`room_for_single`](Self::room_for_single) says and claim, until a claim succeeds or
    /// the error that ends the wait. Out of line, so the fast path's claim stays in registers.
    #[cold]
    #[inline(never)]
    fn claim_single_after(
        &mut self,
        mut first: ClaimError,
        n: usize,
        deadline: Deadline,
        block: bool,
    ) -> Result<SequenceRange, ClaimError> {
        loop {
            self.room_for_single(first, n, deadline, block)?;
            let AnyClaimer::Single(single) = &mut self.claimer else {
                unreachable!("called for a single producer's claimer")
            };
            match single.__internal_claim_paired(n, Deadline::NEVER, false) {
                Ok(range) => return Ok(range),
                Err(again) => first = again,
            }
        }
    }

    /// A single producer's claim found no room: `Ok` when there is room now, by the claimer's
    /// own test (the caller claims again and finds it: nobody else claims), the error to
    /// return otherwise. As [`claim_slow`](Self::claim_slow): without `block`, one attempt to
    /// make room (dead consumers' slots, idle pool workers); with it, waits in slices of one
    /// liveness interval until `deadline`, making room between them.
    #[cold]
    #[inline(never)]
    fn room_for_single(
        &mut self,
        first: ClaimError,
        n: usize,
        deadline: Deadline,
        block: bool,
    ) -> Result<(), ClaimError> {
        // The fast path claims without looking at the status line first (the look after the
        // claim refuses it): a claim that failed on a halted or closed ring answers that, not
        // `Full` or a size error (as a multi producer's, which looks first).
        if self.status.stopping() {
            self.check_open()?;
        }
        if !matches!(first, ClaimError::Full { .. }) {
            return Err(first);
        }
        if !block {
            if self.make_room() == 0 {
                return Err(first);
            }
            let AnyClaimer::Single(single) = &mut self.claimer else {
                unreachable!("called for a single producer's claimer")
            };
            return single.__internal_wait_for_room(n, Deadline::NEVER, false);
        }
        // Idle pool workers may be all that holds the ring full: raise them before the first
        // slice (dead consumers are looked for after it).
        crate::idle_workers::raise_all_idle_workers(&self.inner);
        // The ring is full: the wait begins (a claim that finds room reads no clock).
        let until = deadline.resolve();
        loop {
            let slice = slice_end(until, self.inner.liveness_interval);
            let AnyClaimer::Single(single) = &mut self.claimer else {
                unreachable!("called for a single producer's claimer")
            };
            // The claimer's own test of room, which counts every claim it made (a claim guard
            // leaked unpublished too): the claim that follows cannot find the ring full again.
            match single.__internal_wait_for_room(n, Some(slice).into(), true) {
                Err(timeout @ ClaimError::Timeout { .. }) => {
                    if let Some(end) = self.after_slice(timeout, until) {
                        return Err(end);
                    }
                }
                other => return other,
            }
        }
    }

    /// A slice of a wait for room ended with `timeout`: the error that ends the wait (the ring
    /// halted or closed meanwhile, nothing being claimed yet; or `deadline` passed), or `None`
    /// to wait another slice, after releasing dead consumers' slots and raising idle workers.
    fn after_slice(&self, timeout: ClaimError, deadline: Option<Instant>) -> Option<ClaimError> {
        if self.inner.halted_everywhere() {
            Some(ClaimError::Halted)
        } else if self.inner.closed_end().is_some() {
            Some(ClaimError::Closed)
        } else if before(deadline) {
            self.make_room();
            None
        } else {
            Some(timeout)
        }
    }

    /// Wait until `n` slots are free or `until` (`Timeout`), or the ring is halted (`Halted`).
    /// For a multi producer, whose claims all count in the shared claimed cursor.
    fn wait_for_room(&self, n: usize, until: Instant) -> Result<(), ClaimError> {
        let sequencer = &self.inner.sequencer;
        sequencer
            .wait_strategy()
            .wait_until(
                || sequencer.has_available_capacity(n).then_some(()),
                sequencer.alert(),
                Some(until),
            )
            .map_err(|e| match e {
                WaitError::Timeout => ClaimError::Timeout { requested: n },
                WaitError::Alerted => ClaimError::Halted,
            })
    }

    /// The first try found no room (or failed): try again after reaping dead consumers and raising
    /// idle pool workers (`!block`), or wait for room in slices, doing so between them. Records
    /// the claim as the fast path does, or the slot idle on failure.
    #[cold]
    #[inline(never)]
    fn claim_slow(
        &mut self,
        first: ClaimError,
        n: usize,
        deadline: Deadline,
        block: bool,
        pairing: Pairing,
    ) -> Result<SequenceRange, ClaimError> {
        let mut result = Err(first);
        if matches!(result, Err(ClaimError::Full { .. })) {
            if !block {
                if self.make_room() > 0 {
                    result = self.claim_inner(n, Deadline::NEVER, false, pairing);
                }
            } else {
                // Idle pool workers may be all that holds the ring full: raise them before the
                // first slice (dead consumers are looked for after it).
                crate::idle_workers::raise_all_idle_workers(&self.inner);
                let interval = self.inner.liveness_interval;
                // The ring is full: the wait begins (a claim that finds room reads no clock).
                let deadline = deadline.resolve();
                let multi = self.inner.segment.mode == ProducerMode::MultiCas;
                result = loop {
                    let slice = slice_end(deadline, interval);
                    let claimed = if multi {
                        self.wait_for_room_then_claim(n, slice, pairing)
                    } else {
                        self.claim_inner(n, Some(slice).into(), true, pairing)
                    };
                    match claimed {
                        Err(timeout @ ClaimError::Timeout { .. }) => {
                            if let Some(end) = self.after_slice(timeout, deadline) {
                                break Err(end);
                            }
                        }
                        other => break other,
                    }
                };
            }
        }
        match result {
            Ok(range) => self.record_claim(range, pairing),
            Err(e) => {
                self.record_state(IDLE);
                Err(e)
            }
        }
    }

    /// One slice of a multi producer's wait for room, then one try to claim. The producer waits
    /// IDLE, not CLAIMING: it has taken nothing yet, and while any live producer is CLAIMING the
    /// release of a hole left by a producer that died between its claim and recording it is
    /// put off (the hole could be that producer's claim, about to be recorded). Waiting as
    /// CLAIMING would put it off for as long as the ring stays full — for ever when the hole is
    /// what keeps the ring full. CLAIMING is set again right before the claim, as on the fast
    /// path. `Timeout` when there was no room within the slice.
    fn wait_for_room_then_claim(
        &mut self,
        n: usize,
        until: Instant,
        pairing: Pairing,
    ) -> Result<SequenceRange, ClaimError> {
        loop {
            self.record_state(IDLE);
            self.wait_for_room(n, until)?;
            self.record_state(CLAIMING);
            match self.claim_inner(n, Deadline::NEVER, false, pairing) {
                // Another producer took the room first: wait again, within the same slice.
                Err(ClaimError::Full { .. }) if Instant::now() < until => continue,
                Err(ClaimError::Full { .. }) => return Err(ClaimError::Timeout { requested: n }),
                other => return other,
            }
        }
    }

    /// One claim through the inner claimer's path for `pairing`: the paired claim, or the
    /// checked `claim_until` (`block`) / `try_claim`.
    #[inline]
    fn claim_inner(
        &mut self,
        n: usize,
        deadline: Deadline,
        block: bool,
        pairing: Pairing,
    ) -> Result<SequenceRange, ClaimError> {
        match (pairing, block) {
            (Pairing::Paired, _) => self.claimer.claim_paired(n, deadline, block),
            (Pairing::Checked, true) => self.claimer.claim_until(n, deadline.resolve()),
            (Pairing::Checked, false) => self.claimer.try_claim(n),
        }
    }

    /// The claim gate is shut (see `claim_gate`): the handle was inherited through `fork`
    /// (`ForkedHandle`), or it attached to a stopping ring ([`check_open`](Self::check_open):
    /// `Ok` only when the mark was set with neither a close nor a halt, by something else
    /// than this protocol).
    #[cold]
    #[inline(never)]
    fn claim_gate_shut(&self) -> Result<(), ClaimError> {
        if self.epoch != crate::fork_guard::epoch() {
            return Err(ClaimError::ForkedHandle);
        }
        self.check_open()
    }

    /// The reasons a claim is refused before it is made: an inherited handle, a ring halted
    /// everywhere, a closed ring.
    #[cold]
    #[inline(never)]
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

    /// The ring was halted or closed around a claim that succeeded: refuse the claim if it was
    /// made after the halt, or after the close's end.
    #[cold]
    #[inline(never)]
    fn refuse_if_stopped(
        &mut self,
        range: SequenceRange,
        pairing: Pairing,
    ) -> Result<SequenceRange, ClaimError> {
        if self.inner.halted_everywhere() {
            if self.multi {
                self.keep_refused(range, pairing);
            } else {
                self.undo_refused(range, pairing);
            }
            return Err(ClaimError::Halted);
        }
        if let Some(end) = self.inner.closed_end() {
            if range.start() > end {
                self.undo_refused(range, pairing);
                return Err(ClaimError::Closed);
            }
        }
        Ok(range)
    }

    /// Leave no trace of the refused claim `range` (nothing was written into it):
    /// - a single producer's claim is its own: taken back, with the recorded end back where it
    ///   was, so the cursor never passes a closed ring's end, and no slot a reader can reach is
    ///   handed out unwritten (a leaked claim guard's, say). A stop is for good, so the claim
    ///   gate shuts: later claims are refused before they are recorded, and a producer that
    ///   keeps trying does not keep a refused claim showing in the slot;
    /// - a multi producer's claim refused at a close moved the shared cursor: published as it
    ///   stands, so no hole is left, and nobody consumes it (every wait stops at the close's
    ///   end). One refused for a halt is kept recorded ([`keep_refused`](Self::keep_refused)).
    ///
    /// A claim refused for a halt may have been counted by a close that came after the halt
    /// and read the recorded end before it was lowered. It is taken back all the same: the
    /// ring is read no more, and readers' end is the last published sequence
    /// (`Segment::reachable_end`), not an unwritten slot published to match the close.
    fn undo_refused(&mut self, range: SequenceRange, pairing: Pairing) {
        let AnyClaimer::Single(single) = &mut self.claimer else {
            self.publish_own(range, pairing);
            return;
        };
        // SAFETY: `range` is this claimer's last claim, made just now (the caller refuses it
        // right after recording it), unpublished, and nothing was or will be written into its
        // slots: the claim is refused before any guard or `publish` hands them out.
        unsafe { single.__internal_take_back(range) };
        // The single producer's claims are contiguous: the end recorded before this claim was
        // the sequence before it.
        self.slot().end.store(range.start() - 1, Ordering::Release);
        self.shut_claim_gate();
    }

    /// A multi producer's claim refused for a halt (nothing was written into it): published as
    /// it stands, so no hole is left below later claims, and recorded in the producer slot as
    /// REFUSED for good, so that a reader of the ring's last event (`ShmRing::read_last`) walks
    /// below it. The state is stored before the publish: whoever sees the range published and
    /// then reads the slot (`Acquire`) finds it REFUSED. A halt is permanent, so the claim gate
    /// shuts (no later claim overwrites the record) and the slot is never reused (`reusable`).
    fn keep_refused(&mut self, range: SequenceRange, pairing: Pairing) {
        let slot = self.slot();
        slot.start.store(range.start(), Ordering::Relaxed);
        slot.end.store(range.end(), Ordering::Relaxed);
        slot.state.store(REFUSED, Ordering::Release);
        if let Err(e) = self.publish_unwritten(range, pairing) {
            tracing::error!(error = %e, "publish of a refused shared-ring claim refused");
        }
        self.shut_claim_gate();
    }

    /// Publish `range` (the pending checked claim) and record the slot idle.
    fn publish_recorded(&mut self, range: SequenceRange) -> Result<(), PublishError> {
        let published = self.claimer.publish(range);
        if published.is_ok() {
            self.record_state(IDLE);
        }
        published
    }

    /// Publish this claimer's own claim `range`, made through `pairing`'s path (it cannot be
    /// refused; logged if it ever is).
    fn publish_own(&mut self, range: SequenceRange, pairing: Pairing) {
        match self.publish_unwritten(range, pairing) {
            Ok(()) => self.record_state(IDLE),
            Err(e) => tracing::error!(error = %e, "publish of a shared-ring claim refused"),
        }
    }

    /// Publish this claimer's own claim `range`, made through `pairing`'s path just now, with
    /// nothing written into it; the producer slot is left as it is.
    fn publish_unwritten(
        &mut self,
        range: SequenceRange,
        pairing: Pairing,
    ) -> Result<(), PublishError> {
        match pairing {
            Pairing::Paired => {
                // SAFETY: `range` is what the last paired claim returned (the caller just made
                // it), unpublished, and no checked claim was made since; its slots hold whole
                // events (the initial ones or earlier ones: nothing was written yet).
                unsafe { self.claimer.publish_paired(range) };
                Ok(())
            }
            Pairing::Checked => self.claimer.publish(range),
        }
    }

    /// What a full ring may be waiting for: release the slots of dead consumers and raise the
    /// idle workers of every pool (`idle_workers.rs`); how many slots were released or raised.
    fn make_room(&self) -> usize {
        let reaped = match reaper::reap_dead_consumers(&self.inner, false) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "checking consumer liveness failed");
                0
            }
        };
        reaped + crate::idle_workers::raise_all_idle_workers(&self.inner)
    }
}

impl Claimer for ShmClaimer {
    type Sequencer = ShmSequencer;

    fn claim_until(
        &mut self,
        n: usize,
        deadline: Option<Instant>,
    ) -> Result<SequenceRange, ClaimError> {
        self.claim_recorded(n, deadline.into(), true, Pairing::Checked)
    }

    fn try_claim(&mut self, n: usize) -> Result<SequenceRange, ClaimError> {
        self.claim_recorded(n, Deadline::NEVER, false, Pairing::Checked)
    }

    fn publish(&mut self, range: SequenceRange) -> Result<(), PublishError> {
        self.publish_recorded(range)
    }

    fn pending(&self) -> Option<SequenceRange> {
        self.claimer.pending()
    }

    // Always inlined: the claim guard's caller then keeps the claim in registers (no
    // `Result` through memory, no register saves), as with the in-process claimers.
    #[inline(always)]
    fn __internal_claim_paired(
        &mut self,
        n: usize,
        deadline: Deadline,
        block: bool,
    ) -> Result<SequenceRange, ClaimError> {
        self.claim_recorded(n, deadline, block, Pairing::Paired)
    }

    #[inline(always)]
    unsafe fn __internal_publish_paired(&mut self, range: SequenceRange) {
        // A single producer records no state: its publish is the inner claimer's alone. Its
        // fast gate stands for the fork check and the claimer's kind.
        let epoch = crate::fork_guard::epoch();
        if self.fast_publish_gate == epoch {
            // SAFETY: `single_on_fast_gate`'s contract holds: `fast_publish_gate` equals the
            // fork epoch, as just tested.
            let single = unsafe { self.single_on_fast_gate() };
            // The gate opens only on a ring whose wait strategy signals nobody (`attach`).
            // SAFETY: the caller's contract (`range`: this claimer's last paired claim, which is
            // the inner claimer's, unpublished, no checked claim since, whole events).
            unsafe { single.__internal_publish_paired_unsignalled(range) };
            return;
        }
        if self.epoch != epoch {
            // A forked child's copy of a claim guard: the claim is the parent's to publish
            // (one relaxed load, not a `getpid` call per publish).
            forked_copy_not_published(self.ring_name());
            return;
        }
        // A single producer records no state: its publish is the inner claimer's alone.
        if let AnyClaimer::Single(single) = &mut self.claimer {
            // SAFETY: the caller's contract: `range` is the last paired claim's range (this
            // claimer's paired claim is its inner claimer's paired claim), unpublished, with
            // no checked claim since, and its slots hold whole events.
            unsafe { single.__internal_publish_paired(range) };
            return;
        }
        // SAFETY: as above.
        unsafe { self.claimer.publish_paired(range) };
        self.record_state(IDLE);
    }

    #[inline]
    fn __internal_count_claim(&mut self, range: SequenceRange) {
        if let AnyClaimer::Single(single) = &mut self.claimer {
            single.__internal_count_claim(range);
        }
    }

    fn sequencer(&self) -> &Arc<ShmSequencer> {
        &self.inner.sequencer
    }

    #[inline]
    fn __internal_claims_are_ours(&self) -> bool {
        self.epoch == crate::fork_guard::epoch()
    }
}

/// A claim gate no fork epoch opens (epochs count forks from 0).
const CLAIMS_REFUSED: u64 = u64::MAX;
const _: () = assert!(CLAIMS_REFUSED > crate::fork_guard::MAX_EPOCH);

/// Which of the inner claimer's paths a claim goes through: the pipeline's claim guards pair
/// every claim with one publish (no pending-claim bookkeeping); the `Claimer` trait's public
/// methods are checked (a wrong range or a second claim is an error).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Pairing {
    Paired,
    Checked,
}

/// The full fence of a process not registered for the closers' `membarrier` (see
/// `ShmClaimer::order_record_before_status`), out of line so that the registered case, the
/// common one, falls through on the fast path.
#[cold]
#[inline(never)]
fn full_fence() {
    fence(Ordering::SeqCst);
}

#[cold]
fn forked_copy_not_published(ring: &str) {
    tracing::warn!(segment = %ring, "a forked child's copy of a claim is not published");
}

/// A new single producer takes over slot 0 (its predecessor is gone: the lock byte was free).
/// A predecessor that died mid-claim left its claim's end past the cursor, and may have written
/// into those slots. That end moves to the inherited mark (`start`), which lossy readers go on
/// treating as being written (`RingInner::written_high`), and `end` becomes the cursor: this
/// producer has claimed nothing, so inspection shows it idle, its death before a claim is no
/// `ProducerDied`, and a close now ends at the cursor. The mark is stored before `end` is
/// lowered (`Release`), so no reader sees neither; it is clamped to one lap past the cursor (no
/// claim reaches further; a larger word is corrupt and would otherwise stay).
///
/// Then a full fence, the attach's half of the close handshake: either a close that settles
/// later reads the lowered `end` (so its end does not cover the dead claim), or this producer
/// sees the stopping mark as it attaches and shuts its claim gate: it is refused every claim.
/// Either way a live producer with `end` at the cursor on a closed ring can publish nothing
/// more, which is what `RingInner::reachable_end` relies on.
fn inherit_single_claim(ring: &RingInner, slot: &ProducerSlot) {
    let cursor = ring.sequencer.cursor_word();
    let most = cursor.saturating_add(ring.segment.capacity() as i64);
    let left = slot.end.load(Ordering::Relaxed);
    let inherited = slot.start.load(Ordering::Relaxed).max(left).min(most);
    slot.start.store(inherited, Ordering::Relaxed);
    slot.end.store(cursor, Ordering::Release);
    fence(Ordering::SeqCst);
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

/// Whether `deadline` (none: never) is still ahead.
pub(crate) fn before(deadline: Option<Instant>) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ShmOptions, ShmRing};

    fn ring_with(tag: &str, options: ShmOptions) -> (ShmRing<u64>, crate::UnlinkGuard) {
        let name = format!("/seqflow-unit-claimer-{tag}-{}", std::process::id());
        let ring = ShmRing::<u64>::create(&name, 8, options).unwrap();
        let guard = ring.unlink_on_drop();
        (ring, guard)
    }

    fn ring(tag: &str) -> (ShmRing<u64>, crate::UnlinkGuard) {
        ring_with(tag, ShmOptions::default())
    }

    fn multi() -> ShmOptions {
        ShmOptions {
            producer: ProducerMode::MultiCas,
            max_producers: 2,
            ..Default::default()
        }
    }

    /// The producer slot as inspection sees it: state and claim.
    fn observed(ring: &ShmRing<u64>, claimer: &ShmClaimer) -> (u32, Option<SequenceRange>) {
        let inner = ring.inner();
        claimer
            .slot()
            .observed(inner.segment.mode, || inner.sequencer.cursor_word())
    }

    /// Claim and publish `n` events through the paired path.
    fn publish_paired(claimer: &mut ShmClaimer, n: usize) -> SequenceRange {
        let range = claimer
            .__internal_claim_paired(n, Deadline::NEVER, false)
            .unwrap();
        // SAFETY: the range the paired claim just returned, unpublished; its slots hold the
        // initial events.
        unsafe { claimer.__internal_publish_paired(range) };
        range
    }

    /// A producer killed between recording a claim on a closed ring and taking it back leaves
    /// the claim's end in its slot for good: nothing was written there. `is_full` and the
    /// readers' end count it only up to the close's end; lossy readers and `read_last`
    /// (`written_high`) do not trust the closed word that far: they see a lap, and `None`.
    #[test]
    fn a_refused_claim_left_recorded_counts_only_up_to_the_close() {
        let (ring, _guard) = ring("left-recorded");
        let mut claimer = ring.claimer_for_tests().unwrap();
        publish_paired(&mut claimer, 8);
        assert_eq!(ring.close(), 7);
        claimer.slot().end.store(15, Ordering::Release);
        let inner = ring.inner();
        assert_eq!((inner.claimed_high(), inner.written_high()), (7, 15));
        assert!(!ring.is_full());
        assert_eq!(ring.closed_at(), Some(7));
    }

    /// A claim refused for a halt that a close then counted (the close read the recorded end
    /// before it was taken back) is taken back all the same: nothing is published to match
    /// the close, and readers end at the last published event. Here the closed word is
    /// written by hand, past the claim.
    #[test]
    fn a_halt_refused_claim_a_close_counted_is_taken_back() {
        for fast in [false, true] {
            halt_refused_claim_a_close_counted_is_taken_back(fast);
        }
    }

    /// The single producer's claim path: on the fast claim gate (`FAST`) or not.
    fn claim_single(
        claimer: &mut ShmClaimer,
        fast: bool,
        n: usize,
    ) -> Result<SequenceRange, ClaimError> {
        if fast {
            claimer.claim_single_paired::<true>(n, Deadline::NEVER, false)
        } else {
            claimer.claim_single_paired::<false>(n, Deadline::NEVER, false)
        }
    }

    fn halt_refused_claim_a_close_counted_is_taken_back(fast: bool) {
        let (ring, _guard) = ring("halt-counted");
        let mut claimer = ring.claimer_for_tests().unwrap();
        publish_paired(&mut claimer, 2);
        let status = &ring.inner().segment.header.status;
        status.stopping.store(1, Ordering::SeqCst);
        status.halted.store(4242, Ordering::SeqCst);
        status.closed.store(4 + 2, Ordering::SeqCst);
        assert!(matches!(
            claim_single(&mut claimer, fast, 3),
            Err(ClaimError::Halted)
        ));
        assert_eq!(ring.sequencer().published(), 1, "nothing published");
        assert_eq!(observed(&ring, &claimer), (IDLE, None));
        assert_eq!(
            (ring.read_last(), ring.closed_at()),
            (Some((1, 0)), Some(1))
        );
        // The gate is shut: the next claim is refused before it is made.
        assert!(matches!(
            claimer.claim_recorded(1, Deadline::NEVER, false, Pairing::Paired),
            Err(ClaimError::Halted)
        ));
        assert_eq!(claimer.slot().end.load(Ordering::Relaxed), 1);
    }

    /// A closed word written by something else than a close, below a claim being written
    /// (the producer reads only the stopping mark, so it was not refused): lossy readers must
    /// not be told the slot under that claim holds the old event.
    #[test]
    fn a_foreign_closed_word_hides_no_claim_being_written() {
        let (ring, _guard) = ring("foreign-closed");
        let mut sub = ring.subscriber("s").unwrap();
        let mut p = ring.producer().unwrap();
        p.publish_batch(8, |e, s| *e = 100 + s as u64).unwrap();
        let mut claim = p.claim(8).unwrap();
        ring.inner()
            .segment
            .header
            .status
            .closed
            .store(7 + 2, Ordering::SeqCst);
        *claim.get_mut(0).unwrap() = 999;
        let got = sub.next_timeout(Some(std::time::Duration::from_millis(100)));
        assert!(
            matches!(got, Err(crate::ConsumeError::Lapped { .. })),
            "{got:?}"
        );
        drop(claim);
    }

    /// Refused for a halt with no close: taken back, nothing published.
    #[test]
    fn a_halt_refused_claim_is_taken_back() {
        for (pairing, fast) in [
            (Pairing::Paired, false),
            (Pairing::Paired, true),
            (Pairing::Checked, false),
        ] {
            let (ring, _guard) = ring("halt-back");
            let mut claimer = ring.claimer_for_tests().unwrap();
            publish_paired(&mut claimer, 2);
            let status = &ring.inner().segment.header.status;
            status.stopping.store(1, Ordering::SeqCst);
            status.halted.store(4242, Ordering::SeqCst);
            // The claims as made past the look at the status line that precedes a checked
            // claim: recorded, then refused.
            let claimed = match pairing {
                Pairing::Paired => claim_single(&mut claimer, fast, 3),
                Pairing::Checked => {
                    let range = claimer.claimer.try_claim(3).unwrap();
                    claimer.slot().end.store(range.end(), Ordering::Release);
                    claimer.refuse_if_stopped(range, Pairing::Checked)
                }
            };
            assert!(matches!(claimed, Err(ClaimError::Halted)), "{pairing:?}");
            assert_eq!(ring.sequencer().published(), 1, "{pairing:?}");
            assert_eq!(observed(&ring, &claimer), (IDLE, None), "{pairing:?}");
            assert_eq!(claimer.pending(), None, "{pairing:?}");
            assert_eq!(ring.inner().claimed_high(), 1, "{pairing:?}");
        }
    }

    /// A checked claim refused for a halt and taken back leaves no trace in the
    /// sequencer's `claimed` either, whatever its length (one event now stores `claimed` on
    /// the checked path: `SingleClaimer::claim_inner`).
    #[test]
    fn a_refused_checked_claim_leaves_claimed_at_the_cursor() {
        for n in [1usize, 3] {
            let (ring, _guard) = ring("claimed-back");
            let _consumer = ring.consumer("c").unwrap();
            let mut claimer = ring.claimer_for_tests().unwrap();
            publish_paired(&mut claimer, 2);
            let status = &ring.inner().segment.header.status;
            status.stopping.store(1, Ordering::SeqCst);
            status.halted.store(4242, Ordering::SeqCst);
            let range = claimer.claimer.try_claim(n).unwrap();
            claimer.slot().end.store(range.end(), Ordering::Release);
            let refused = claimer.refuse_if_stopped(range, Pairing::Checked);
            assert!(matches!(refused, Err(ClaimError::Halted)), "n={n}");
            assert_eq!(ring.sequencer().published(), 1, "n={n}");
            assert_eq!(
                (ring.claimed(), ring.sequencer().remaining_capacity()),
                (1, 6),
                "n={n}: the taken-back claim still counts in `claimed`"
            );
        }
    }

    /// A multi producer's claim made as the ring was halted everywhere, refused after the
    /// halt: published unwritten (no hole), recorded REFUSED for good, and never taken for the
    /// ring's last event, before or after a close. The gate is shut: the next claim is refused
    /// before it is made and leaves the record as it is.
    #[test]
    fn a_halt_refused_multi_claim_is_not_the_last_event() {
        for pairing in [Pairing::Paired, Pairing::Checked] {
            let (ring, _guard) = ring_with("halt-multi-last", multi());
            let mut p = ring.producer().unwrap();
            for i in 0..3u64 {
                p.publish(|e, _| *e = 100 + i).unwrap();
            }
            let mut claimer = ring.claimer_for_tests().unwrap();
            // A first lap of other events, so the refused slots hold something that looks
            // like an event.
            let stale = claimer.try_claim(5).unwrap();
            claimer.publish(stale).unwrap();
            for i in 0..3u64 {
                p.publish(|e, _| *e = 200 + i).unwrap();
            }
            assert_eq!(ring.read_last(), Some((10, 202)));
            // The claim passed the look at the status line, then the halt came.
            let range = match pairing {
                Pairing::Paired => claimer.__internal_claim_paired(2, Deadline::NEVER, false),
                Pairing::Checked => claimer.claimer.try_claim(2),
            }
            .unwrap();
            ring.halt_all();
            assert!(matches!(
                claimer.refuse_if_stopped(range, pairing),
                Err(ClaimError::Halted)
            ));
            assert_eq!(ring.published(), 12, "published unwritten: no hole");
            assert_eq!(observed(&ring, &claimer), (REFUSED, Some(range)));
            assert_eq!(ring.read_last(), Some((10, 202)), "{pairing:?}");
            assert!(matches!(
                claimer.claim_recorded(1, Deadline::NEVER, false, pairing),
                Err(ClaimError::Halted)
            ));
            assert_eq!(observed(&ring, &claimer), (REFUSED, Some(range)));
            ring.close();
            assert_eq!(ring.read_last(), Some((10, 202)), "{pairing:?}");
            // The refusing producer leaves; a new one does not take its slot.
            let (slot, record) = (claimer.slot, observed(&ring, &claimer));
            drop(claimer);
            drop(p);
            let again = ring.claimer_for_tests().unwrap();
            assert_ne!(again.slot, slot);
            let inner = ring.inner();
            let kept = inner.segment.producers[slot]
                .observed(inner.segment.mode, || inner.sequencer.cursor_word());
            assert_eq!(kept, record);
            assert_eq!(ring.read_last(), Some((10, 202)), "{pairing:?}");
        }
    }

    /// Closed, then halted: a claim refused at the close is published unwritten past its end;
    /// the close's end bounds `read_last`.
    #[test]
    fn closed_then_halted_reads_the_close_end() {
        let (ring, _guard) = ring_with("closed-halted", multi());
        let mut p = ring.producer().unwrap();
        for _ in 0..3 {
            p.publish(|e, seq| *e = 100 + seq as u64).unwrap();
        }
        assert_eq!(ring.close(), 2);
        let mut claimer = ring.claimer_for_tests().unwrap();
        // Past the look at the status line, then refused after the claim.
        let range = claimer.claimer.try_claim(2).unwrap();
        assert!(matches!(
            claimer.refuse_if_stopped(range, Pairing::Checked),
            Err(ClaimError::Closed)
        ));
        assert_eq!(ring.published(), 4, "published unwritten: no hole");
        ring.halt_all();
        assert_eq!(ring.read_last(), Some((2, 102)));
    }

    /// Foreign writes to the producer table (every slot ABANDONED or REFUSED with any range):
    /// `read_last` ends, does not panic, and never returns a sequence past the published end.
    /// A single producer's ring ignores the table (it publishes nothing unwritten), so its
    /// answer stays right; a multi producer's trusts it (a forged range can make it return an
    /// overwritten slot's newer event, as a forged cursor can for any lossy reader).
    #[test]
    fn read_last_survives_a_corrupt_producer_table() {
        let words: [i64; 9] = [i64::MIN, -2, -1, 0, 1, 2, 7, 8, i64::MAX];
        for (tag, options) in [("corrupt-1", ShmOptions::default()), ("corrupt-n", multi())] {
            let (ring, _guard) = ring_with(tag, options);
            let mut p = ring.producer().unwrap();
            for _ in 0..11 {
                p.publish(|e, seq| *e = 100 + seq as u64).unwrap();
            }
            let segment = &ring.inner().segment;
            for state in [ABANDONED, REFUSED] {
                for &start in &words {
                    for &end in &words {
                        for slot in segment.producers.iter() {
                            slot.start.store(start, Ordering::Relaxed);
                            slot.end.store(end, Ordering::Relaxed);
                            slot.state.store(state, Ordering::Release);
                        }
                        if let Some((seq, value)) = ring.read_last() {
                            assert!(seq <= 10, "{tag}: {seq}");
                            if tag == "corrupt-1" {
                                assert_eq!(value, 100 + seq as u64, "{tag}");
                            }
                        }
                    }
                }
            }
            // Leave the table as the producer's drop expects it.
            for slot in segment.producers.iter() {
                slot.state.store(IDLE, Ordering::Release);
            }
        }
    }

    /// An orphan-hole scan that runs while a multi producer refusing for a halt has
    /// stored REFUSED but not yet published its range takes that range for an unowned hole and
    /// gives it to a producer that died CLAIMING ("extra runs go to the last one"): the dead
    /// producer's ABANDONED range then spans a live producer's claim being written between
    /// the two runs, and `read_last` lowers its copy check's bound below that live claim.
    ///
    /// The halt race, on an 8-slot ring with 0..=6 published: X claims 7; D claims 8 and dies
    /// before recording it; L claims 9..=14 and passes its look at the status line; the halt
    /// comes; X refuses 7 (REFUSED, published); R, whose claim looked at the status line and
    /// the alert just before the halt, claims 15 (room since X's publish), stores REFUSED and,
    /// before it publishes, a consumer's repair runs. L is still writing 14 (6's slot).
    #[test]
    fn an_orphan_scan_in_a_refusal_window_does_not_hide_a_live_claim() {
        let options = ShmOptions {
            max_producers: 4,
            ..multi()
        };
        let (ring, _guard) = ring_with("orphan-refusal", options);
        let mut p = ring.producer().unwrap();
        for _ in 0..7 {
            p.publish(|e, seq| *e = 100 + seq as u64).unwrap();
        }
        let mut x = ring.claimer_for_tests().unwrap();
        let mut r = ring.claimer_for_tests().unwrap();
        let dying = ring.claimer_for_tests().unwrap();
        let dead_slot = dying.slot;
        drop(dying);
        let seven = x.claimer.try_claim(1).unwrap();
        assert_eq!(seven, SequenceRange::new(7, 7).unwrap());
        // D: a hole at 8 nobody recorded.
        assert_eq!(
            crate::testing::abandon_raw_claim(&ring, 1)
                .unwrap()
                .unwrap(),
            SequenceRange::new(8, 8).unwrap()
        );
        let inner = ring.inner();
        let dead = &inner.segment.producers[dead_slot];
        dead.owner.store(4_000_000, Ordering::Release); // no lock byte held: dead
        dead.state.store(CLAIMING, Ordering::Release);
        let mut live = p.claim(6).unwrap();
        assert_eq!(live.range(), SequenceRange::new(9, 14).unwrap());
        // X's refusal (its publish of 7 makes room for 15); R's claim checked the halt just
        // before the halt came, and claims 15.
        x.keep_refused(seven, Pairing::Checked);
        let fifteen = r.claimer.try_claim(1).unwrap();
        assert_eq!(fifteen, SequenceRange::new(15, 15).unwrap());
        ring.halt_all();
        let slot = r.slot();
        slot.start.store(fifteen.start(), Ordering::Relaxed);
        slot.end.store(fifteen.end(), Ordering::Relaxed);
        slot.state.store(REFUSED, Ordering::Release);
        // L writes 14, into 6's slot, while a consumer's repair runs and `read_last` reads.
        *live.get_mut(5).unwrap() = 999;
        {
            let _lock = inner.lock_registry().unwrap();
            reaper::release_dead_producers_locked(inner);
        }
        let recorded = dead.observed(inner.segment.mode, || inner.sequencer.cursor_word());
        let found = ring.read_last();
        if let Some((seq, value)) = found {
            assert_eq!(
                value,
                100 + seq as u64,
                "read_last: ({seq}, {value}); {recorded:?}"
            );
        }
        assert!(
            !matches!(recorded, (ABANDONED, Some(r)) if r.contains(9) || r.contains(14)),
            "the dead producer's released range covers the live claim 9..=14: {recorded:?}"
        );
        drop(live);
    }

    /// Two producers refusing for a halt claimed more than a lap past the last written
    /// event: `read_last` still finds it (its copy check's bound goes below the refused
    /// ranges). Deterministic: the racy `read_last_halts` catches this only now and then.
    #[test]
    fn refused_claims_of_more_than_a_lap_still_read_the_last_event() {
        let options = ShmOptions {
            max_producers: 3,
            ..multi()
        };
        let (ring, _guard) = ring_with("refused-lap", options);
        let mut p = ring.producer().unwrap();
        for _ in 0..3 {
            p.publish(|e, seq| *e = 100 + seq as u64).unwrap();
        }
        let mut a = ring.claimer_for_tests().unwrap();
        let mut b = ring.claimer_for_tests().unwrap();
        let first = a.claimer.try_claim(5).unwrap();
        // A's refusal (its publish makes room for B's claim, which looked just before the halt).
        a.keep_refused(first, Pairing::Checked);
        let second = b.claimer.try_claim(8).unwrap();
        assert_eq!(second, SequenceRange::new(8, 15).unwrap());
        ring.halt_all();
        assert!(matches!(
            b.refuse_if_stopped(second, Pairing::Checked),
            Err(ClaimError::Halted)
        ));
        assert_eq!(ring.published(), 15);
        assert_eq!(ring.read_last(), Some((2, 102)));
    }

    /// Every producer slot keeps a claim refused for a halt: attaching another producer is
    /// refused as a halt, not as a full table.
    #[test]
    fn attaching_when_every_slot_keeps_a_refused_claim() {
        let (ring, _guard) = ring_with("all-refused", multi());
        let mut a = ring.claimer_for_tests().unwrap();
        let mut b = ring.claimer_for_tests().unwrap();
        let (ra, rb) = (
            a.claimer.try_claim(1).unwrap(),
            b.claimer.try_claim(1).unwrap(),
        );
        ring.halt_all();
        for (claimer, range) in [(&mut a, ra), (&mut b, rb)] {
            assert!(matches!(
                claimer.refuse_if_stopped(range, Pairing::Checked),
                Err(ClaimError::Halted)
            ));
        }
        drop((a, b));
        let pid = std::process::id();
        assert!(matches!(
            ring.producer().err(),
            Some(ShmError::HaltedEverywhere { by, .. }) if by == pid
        ));
    }

    #[test]
    fn the_checked_path_keeps_its_bookkeeping() {
        for (tag, options) in [("checked-1", ShmOptions::default()), ("checked-n", multi())] {
            let (ring, _guard) = ring_with(tag, options);
            let mut claimer = ring.claimer_for_tests().unwrap();
            let range = claimer.try_claim(2).unwrap();
            assert_eq!(claimer.pending(), Some(range));
            assert_eq!(observed(&ring, &claimer), (CLAIMED, Some(range)), "{tag}");
            assert!(matches!(
                claimer.try_claim(1),
                Err(ClaimError::Pending { .. })
            ));
            let wrong = SequenceRange::new(5, 5).unwrap();
            assert!(claimer.publish(wrong).is_err());
            claimer.publish(range).unwrap();
            assert_eq!(claimer.pending(), None);
            assert_eq!(observed(&ring, &claimer).0, IDLE, "{tag}");
            assert_eq!(ring.sequencer().published(), range.end());
        }
    }

    /// A claim that finds the ring full and succeeds once a consumer frees room (the slow
    /// path) is recorded as the fast path records it.
    #[test]
    fn a_claim_made_after_waiting_for_room_is_recorded() {
        for (tag, options) in [("slow-1", ShmOptions::default()), ("slow-n", multi())] {
            let (ring, _guard) = ring_with(tag, options);
            let mut consumer = ring.consumer("c").unwrap();
            let mut claimer = ring.claimer_for_tests().unwrap();
            let full = claimer.try_claim(8).unwrap();
            claimer.publish(full).unwrap();
            assert!(matches!(claimer.try_claim(3), Err(ClaimError::Full { .. })));
            let range = std::thread::scope(|s| {
                s.spawn(|| {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    consumer.poll(|_, _, _| {}).unwrap();
                });
                let deadline = Instant::now() + Duration::from_secs(30);
                claimer.claim_until(3, Some(deadline)).unwrap()
            });
            assert_eq!((range.start(), range.end()), (8, 10), "{tag}");
            assert_eq!(observed(&ring, &claimer), (CLAIMED, Some(range)), "{tag}");
            claimer.publish(range).unwrap();
            assert_eq!(observed(&ring, &claimer).0, IDLE, "{tag}");
        }
    }

    #[test]
    fn a_single_producer_records_only_its_claims_end() {
        let (ring, _guard) = ring("end-only");
        let mut claimer = ring.claimer_for_tests().unwrap();
        for n in [3, 1, 4] {
            let range = claimer
                .__internal_claim_paired(n, Deadline::NEVER, false)
                .unwrap();
            let slot = claimer.slot();
            assert_eq!(slot.end.load(Ordering::Relaxed), range.end());
            assert_eq!(slot.state.load(Ordering::Relaxed), IDLE);
            // The highest sequence the producer may be writing covers the claim (lossy readers
            // and the close's end rely on it).
            assert_eq!(ring.inner().claimed_high(), range.end());
            assert_eq!(observed(&ring, &claimer), (CLAIMED, Some(range)));
            // SAFETY: the range the paired claim just returned, unpublished; its slots hold
            // whole events.
            unsafe { claimer.__internal_publish_paired(range) };
            assert_eq!(observed(&ring, &claimer), (IDLE, None));
        }
    }

    #[test]
    fn both_paths_refuse_a_closed_ring_and_leave_the_slot_idle() {
        for (tag, options) in [("closed-1", ShmOptions::default()), ("closed-n", multi())] {
            let (ring, _guard) = ring_with(tag, options);
            let mut claimer = ring.claimer_for_tests().unwrap();
            let range = claimer
                .__internal_claim_paired(3, Deadline::NEVER, false)
                .unwrap();
            // SAFETY: the range the paired claim just returned, unpublished; its slots hold the
            // initial events.
            unsafe { claimer.__internal_publish_paired(range) };
            assert_eq!(ring.close(), range.end());
            for pairing in [Pairing::Paired, Pairing::Checked] {
                assert!(matches!(
                    claimer.claim_recorded(1, Deadline::NEVER, false, pairing),
                    Err(ClaimError::Closed)
                ));
                assert_eq!(claimer.slot().state.load(Ordering::Relaxed), IDLE);
                assert_eq!(observed(&ring, &claimer), (IDLE, None), "{tag}");
            }
        }
    }

    #[test]
    fn a_full_ring_is_full_on_both_paths_and_the_slot_idle() {
        let name = format!("/seqflow-unit-claimer-full-{}", std::process::id());
        let options = ShmOptions {
            declared_consumers: vec!["slow".into()],
            ..Default::default()
        };
        let ring = ShmRing::<u64>::create(&name, 8, options).unwrap();
        let _guard = ring.unlink_on_drop();
        let mut claimer = ring.claimer_for_tests().unwrap();
        let range = claimer
            .__internal_claim_paired(8, Deadline::NEVER, false)
            .unwrap();
        // SAFETY: as above.
        unsafe { claimer.__internal_publish_paired(range) };
        for pairing in [Pairing::Paired, Pairing::Checked] {
            assert!(matches!(
                claimer.claim_recorded(1, Deadline::NEVER, false, pairing),
                Err(ClaimError::Full { .. })
            ));
            assert_eq!(claimer.slot().state.load(Ordering::Relaxed), IDLE);
            let soon = Deadline::after(Duration::from_millis(20));
            assert!(matches!(
                claimer.claim_recorded(1, soon, true, pairing),
                Err(ClaimError::Timeout { .. })
            ));
            assert_eq!(claimer.pending(), None);
        }
    }
}
