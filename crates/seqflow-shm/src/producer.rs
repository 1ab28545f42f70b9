//! [`ShmProducer`]: a producer slot of the segment plus a claimer of the shared sequencer.
//!
//! Around every claim the producer records what it claims in its slot of the producer table
//! (see `producer_slot.rs` for the protocol), so that consumers can tell when it died between
//! claim and publish. While the ring is full it checks, every liveness interval, whether a
//! gating consumer died, and releases dead consumers' slots so it can go on.

use crate::liveness::{current_pid, holder_alive, PRODUCER_BASE};
use crate::lock::HeldLock;
use crate::producer_slot::{ProducerSlot, ABANDONED, CLAIMED, CLAIMING, IDLE};
use crate::sanity::check_sequence;
use crate::sequencer::AnyClaimer;
use crate::{reaper, ProducerMode, ShmError, ShmEvent, ShmRing};
use seqflow_ring::RingBuffer;
use seqflow_sequence::sync::atomic::{fence, Ordering};
use seqflow_sequence::INITIAL_SEQUENCE;
use seqflow_sequencer::{ClaimError, SequenceRange};
use std::time::{Duration, Instant};

/// A producer of a shared ring: claim slots, write events in place, publish.
///
/// Single-producer rings have exactly one across all processes; multi-producer rings one per
/// producer slot. Dropping the handle frees the slot (only in the process that took it: a
/// forked child's copy frees nothing).
///
/// ```
/// use seqflow_shm::{ShmOptions, ShmRing};
/// use std::time::Duration;
/// # let name = format!("/seqflow-doc-prod-{}", std::process::id());
/// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
/// # let _guard = ring.unlink_on_drop();
/// let mut consumer = ring.consumer("c").unwrap();
/// let mut producer = ring.producer().unwrap();
/// assert_eq!(producer.publish(|e, _seq| *e = 7).unwrap(), 0);
/// let range = producer.publish_batch(3, |e, seq| *e = seq as u64).unwrap();
/// assert_eq!((range.start(), range.end()), (1, 3));
/// assert_eq!(consumer.wait_for(0, Some(Duration::from_secs(1))), Ok(3));
/// ```
pub struct ShmProducer<E: ?Sized + ShmEvent> {
    ring: ShmRing<E>,
    events: RingBuffer<E>,
    claimer: AnyClaimer,
    slot: usize,
    lock: Option<HeldLock>,
    owner_pid: u32,
    /// The fork epoch when attached: a different one means an inherited copy.
    epoch: u64,
}

impl<E: ?Sized + ShmEvent> ShmProducer<E> {
    /// Take a producer slot of `ring` (see [`ShmRing::producer`]).
    pub(crate) fn attach(ring: ShmRing<E>) -> Result<Self, ShmError> {
        let inner = ring.inner().clone();
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
                if segment.mode == ProducerMode::MultiCas && !reusable(&inner, slot) {
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
                events: ring.ring(),
                ring,
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

    fn slot(&self) -> &ProducerSlot {
        &self.ring.inner().segment.producers[self.slot]
    }

    /// The producer slot index in the segment (always 0 for a single producer).
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing};
    /// # let name = format!("/seqflow-doc-slotidx-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// assert_eq!(ring.producer().unwrap().slot_index(), 0);
    /// ```
    pub fn slot_index(&self) -> usize {
        self.slot
    }

    /// The ring.
    pub fn ring(&self) -> &ShmRing<E> {
        &self.ring
    }

    /// Claim, write and publish one event, waiting while the ring is full (releasing the slots of
    /// dead consumers meanwhile); returns its sequence. The same contract as the in-process
    /// `Producer::publish`.
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing};
    /// # let name = format!("/seqflow-doc-publish-{}", std::process::id());
    /// let ring = ShmRing::<[u8; 4]>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let mut p = ring.producer().unwrap();
    /// assert_eq!(p.publish(|event, _seq| *event = *b"ping").unwrap(), 0);
    /// ```
    pub fn publish(&mut self, write: impl FnOnce(&mut E, i64)) -> Result<i64, ClaimError> {
        self.publish_until(None, write)
    }

    /// [`publish`](Self::publish), waiting at most `timeout` for a free slot.
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing};
    /// # use seqflow_sequencer::ClaimError;
    /// # use std::time::Duration;
    /// # let name = format!("/seqflow-doc-pubto-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 2, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let _slow = ring.consumer("slow").unwrap();
    /// let mut p = ring.producer().unwrap();
    /// p.publish(|e, _| *e = 1).unwrap();
    /// p.publish(|e, _| *e = 2).unwrap();
    /// let full = p.publish_timeout(Duration::from_millis(10), |e, _| *e = 3);
    /// assert_eq!(full, Err(ClaimError::Timeout { requested: 1 }));
    /// ```
    pub fn publish_timeout(
        &mut self,
        timeout: Duration,
        write: impl FnOnce(&mut E, i64),
    ) -> Result<i64, ClaimError> {
        self.publish_until(seqflow_sequence::deadline_after(Some(timeout)), write)
    }

    /// [`publish`](Self::publish) if a slot is free now; [`ClaimError::Full`] otherwise.
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing};
    /// # use seqflow_sequencer::ClaimError;
    /// # let name = format!("/seqflow-doc-trypub-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 1, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let _slow = ring.consumer("slow").unwrap();
    /// let mut p = ring.producer().unwrap();
    /// assert!(p.try_publish(|e, _| *e = 1).is_ok());
    /// assert!(matches!(p.try_publish(|e, _| *e = 2), Err(ClaimError::Full { .. })));
    /// ```
    pub fn try_publish(&mut self, write: impl FnOnce(&mut E, i64)) -> Result<i64, ClaimError> {
        let claim = self.try_claim(1)?;
        Ok(claim.write_first_and_commit(write))
    }

    fn publish_until(
        &mut self,
        deadline: Option<Instant>,
        write: impl FnOnce(&mut E, i64),
    ) -> Result<i64, ClaimError> {
        let claim = self.claim_until(1, deadline)?;
        Ok(claim.write_first_and_commit(write))
    }

    /// Claim `n` slots (waiting while the ring is full), fill each with `write`, publish them
    /// together.
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing};
    /// # let name = format!("/seqflow-doc-pubbatch-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let mut p = ring.producer().unwrap();
    /// assert_eq!(p.publish_batch(4, |e, seq| *e = seq as u64).unwrap().len(), 4);
    /// assert_eq!(ring.published(), 3);
    /// ```
    pub fn publish_batch(
        &mut self,
        n: usize,
        write: impl FnMut(&mut E, i64),
    ) -> Result<SequenceRange, ClaimError> {
        let claim = self.claim_until(n, None)?;
        Ok(claim.write_all_and_commit(write))
    }

    /// [`publish_batch`](Self::publish_batch), waiting at most `timeout` for `n` free slots.
    pub fn publish_batch_timeout(
        &mut self,
        n: usize,
        timeout: Duration,
        write: impl FnMut(&mut E, i64),
    ) -> Result<SequenceRange, ClaimError> {
        let claim = self.claim_until(n, seqflow_sequence::deadline_after(Some(timeout)))?;
        Ok(claim.write_all_and_commit(write))
    }

    /// Claim `n` slots, waiting while the ring is full. Write them through the returned
    /// [`ShmClaim`] (by offset in the claim, as the in-process `ClaimGuard`), then
    /// [`commit`](ShmClaim::commit) it (or drop it).
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing};
    /// # let name = format!("/seqflow-doc-claim-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let mut p = ring.producer().unwrap();
    /// let mut claim = p.claim(2).unwrap();
    /// for (i, event) in claim.iter_mut().enumerate() {
    ///     *event = 100 + i as u64;
    /// }
    /// assert_eq!(claim.commit().end(), 1);
    /// assert_eq!(ring.published(), 1);
    /// ```
    pub fn claim(&mut self, n: usize) -> Result<ShmClaim<'_, E>, ClaimError> {
        self.claim_until(n, None)
    }

    /// [`claim`](Self::claim), waiting at most `timeout` for `n` free slots.
    pub fn claim_timeout(
        &mut self,
        n: usize,
        timeout: Duration,
    ) -> Result<ShmClaim<'_, E>, ClaimError> {
        self.claim_until(n, seqflow_sequence::deadline_after(Some(timeout)))
    }

    /// Claim `n` slots if they are free now ([`ClaimError::Full`] otherwise).
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing};
    /// # let name = format!("/seqflow-doc-tryclaim-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let mut p = ring.producer().unwrap();
    /// let claim = p.try_claim(8).unwrap();
    /// assert_eq!(claim.range().len(), 8);
    /// claim.commit();
    /// ```
    pub fn try_claim(&mut self, n: usize) -> Result<ShmClaim<'_, E>, ClaimError> {
        self.check_open()?;
        self.record_claiming();
        let mut result = self.claimer.try_claim(n);
        if matches!(result, Err(ClaimError::Full { .. })) && self.reap() > 0 {
            result = self.claimer.try_claim(n);
        }
        self.record_claim(result)
    }

    fn claim_until(
        &mut self,
        n: usize,
        deadline: Option<Instant>,
    ) -> Result<ShmClaim<'_, E>, ClaimError> {
        self.check_open()?;
        self.record_claiming();
        let mut result = self.claimer.try_claim(n);
        if matches!(result, Err(ClaimError::Full { .. })) {
            let interval = self.ring.inner().liveness_interval;
            result = loop {
                let slice = slice_end(deadline, interval);
                match self.claimer.claim_until(n, Some(slice)) {
                    Err(ClaimError::Timeout { .. }) if self.ring.inner().halted_everywhere() => {
                        break Err(ClaimError::Halted);
                    }
                    // Closed while this producer waited for room (nothing is claimed yet).
                    Err(ClaimError::Timeout { .. }) if self.ring.inner().closed_end().is_some() => {
                        break Err(ClaimError::Closed);
                    }
                    Err(ClaimError::Timeout { .. }) if before(deadline) => {
                        self.reap();
                    }
                    other => break other,
                }
            };
        }
        self.record_claim(result)
    }

    /// Refuse a claim from a handle inherited through fork, on a ring halted everywhere, or on
    /// a closed ring.
    #[inline]
    fn check_open(&self) -> Result<(), ClaimError> {
        if self.epoch != crate::fork_guard::epoch() {
            return Err(ClaimError::ForkedHandle);
        }
        let ring = self.ring.inner();
        if ring.halted_everywhere() {
            return Err(ClaimError::Halted);
        }
        if ring.closed_end().is_some() {
            return Err(ClaimError::Closed);
        }
        Ok(())
    }

    /// The slot says "claiming" before the claim CAS (whose `Release` orders it before).
    fn record_claiming(&self) {
        self.slot().state.store(CLAIMING, Ordering::Relaxed);
    }

    fn record_claim(
        &mut self,
        result: Result<SequenceRange, ClaimError>,
    ) -> Result<ShmClaim<'_, E>, ClaimError> {
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
                if self.ring.inner().halted_everywhere() {
                    // Halted while this producer waited: publish the claim as it stands (no
                    // hole) and refuse; nobody consumes any more.
                    self.publish_range(range);
                    return Err(ClaimError::Halted);
                }
                if let Some(end) = self.ring.inner().closed_end() {
                    if range.start() > end {
                        // Claimed after the end: refused. The slots are published as they are
                        // (a claimer publishes what it claimed, so no hole is left), and no
                        // consumer reads them: every wait stops at the end.
                        self.publish_range(range);
                        return Err(ClaimError::Closed);
                    }
                }
                Ok(ShmClaim {
                    producer: self,
                    range,
                    published: false,
                })
            }
            Err(e) => {
                slot.state.store(IDLE, Ordering::Release);
                Err(e)
            }
        }
    }

    fn publish_range(&mut self, range: SequenceRange) {
        if let Err(e) = self.claimer.publish(range) {
            // Unreachable: a claim is published once, by its own `ShmClaim`.
            tracing::error!(error = %e, "publish of a shared-ring claim refused");
        }
        self.slot().state.store(IDLE, Ordering::Release);
    }

    /// Release dead consumers' slots (without waiting for the registry lock).
    fn reap(&self) -> usize {
        match reaper::reap_dead_consumers(self.ring.inner(), false) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "checking consumer liveness failed");
                0
            }
        }
    }
}

/// Whether a multi-producer slot whose owner died can be taken: a claim it held is released
/// first, and a released claim's record is kept until every gating consumer has passed it (so
/// consumers still learn about it).
fn reusable(ring: &crate::ring::RingInner, slot: &ProducerSlot) -> bool {
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

/// Whether `deadline` (if any) is still ahead.
fn before(deadline: Option<Instant>) -> bool {
    match deadline {
        Some(d) => Instant::now() < d,
        None => true,
    }
}

impl<E: ?Sized + ShmEvent> Drop for ShmProducer<E> {
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

impl<E: ?Sized + ShmEvent> std::fmt::Debug for ShmProducer<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmProducer")
            .field("ring", &self.ring.name())
            .field("slot", &self.slot)
            .finish_non_exhaustive()
    }
}

/// Claimed, unpublished slots: write them, then [`commit`](Self::commit). Dropped without a
/// commit, the claim is published as it stands (the slots keep what was written, or their
/// previous contents), as an unpublished hole would stall every consumer. The same contract as
/// the in-process `ClaimGuard`: events are addressed by their offset in the claim.
///
/// ```
/// # use seqflow_shm::{ShmOptions, ShmRing};
/// # let name = format!("/seqflow-doc-shmclaim-{}", std::process::id());
/// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
/// # let _guard = ring.unlink_on_drop();
/// let mut p = ring.producer().unwrap();
/// let mut claim = p.claim(3).unwrap();
/// for i in 0..3 {
///     *claim.get_mut(i).unwrap() = i as u64;
/// }
/// assert!(claim.get_mut(3).is_none(), "not part of the claim");
/// claim.commit();
/// ```
pub struct ShmClaim<'a, E: ?Sized + ShmEvent> {
    producer: &'a mut ShmProducer<E>,
    range: SequenceRange,
    published: bool,
}

impl<E: ?Sized + ShmEvent> ShmClaim<'_, E> {
    /// The claimed sequences.
    pub fn range(&self) -> SequenceRange {
        self.range
    }

    /// The `i`-th claimed event (0-based), or `None` past the claim.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut E> {
        if i >= self.range.len() {
            return None;
        }
        // SAFETY: the sequence is claimed by this producer and not yet published, so nobody
        // else reads or writes its slot until the commit; `&mut self` makes the reference unique.
        Some(unsafe { self.producer.events.get_mut(self.range.start() + i as i64) })
    }

    /// Every claimed event, in sequence order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut E> + '_ {
        let events = &self.producer.events;
        self.range.iter().map(move |seq| {
            // SAFETY: as in `get_mut`; each sequence is visited once, so the references are
            // disjoint, and they all borrow `self` mutably.
            unsafe { events.get_mut(seq) }
        })
    }

    /// Write the first claimed event with `write(event, seq)`, then commit; its sequence.
    fn write_first_and_commit(self, write: impl FnOnce(&mut E, i64)) -> i64 {
        let seq = self.range.start();
        // SAFETY: as in `get_mut`: claimed by this producer and unpublished.
        write(unsafe { self.producer.events.get_mut(seq) }, seq);
        self.commit();
        seq
    }

    /// Write every claimed event with `write(event, seq)`, then commit.
    fn write_all_and_commit(self, mut write: impl FnMut(&mut E, i64)) -> SequenceRange {
        let events = &self.producer.events;
        for seq in self.range {
            // SAFETY: as in `get_mut`: claimed by this producer, unpublished, one at a time.
            write(unsafe { events.get_mut(seq) }, seq);
        }
        self.commit()
    }

    /// Make the claimed events visible to consumers; the claimed sequences.
    pub fn commit(mut self) -> SequenceRange {
        self.published = true;
        let range = self.range;
        self.producer.publish_range(range);
        range
    }
}

impl<E: ?Sized + ShmEvent> Drop for ShmClaim<'_, E> {
    fn drop(&mut self) {
        if !self.published && current_pid() == self.producer.owner_pid {
            self.producer.publish_range(self.range);
        }
    }
}

impl<E: ?Sized + ShmEvent> std::fmt::Debug for ShmClaim<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmClaim")
            .field("range", &self.range)
            .finish()
    }
}

/// The end of the next wait slice: `interval` from now (liveness is checked between slices),
/// or the deadline if that comes first. Never overflows: a slice too far to represent ends at
/// the deadline, or (without one) after an hour.
pub(crate) fn slice_end(deadline: Option<Instant>, interval: Duration) -> Instant {
    let now = Instant::now();
    let end = now
        .checked_add(interval)
        .or_else(|| now.checked_add(Duration::from_secs(3600)))
        .unwrap_or(now);
    deadline.map_or(end, |d| d.min(end))
}
