//! [`Producer`] and [`ClaimGuard`]: writing events in place and publishing them.

use crate::prefetch_plan::PrefetchPlan;
use crate::{Disruptor, ProducerSequencer, ShutdownError};
use parking_lot::Mutex;
use seqflow_ring::{RingBuffer, Slot};
use seqflow_sequence::{Deadline, YieldingWait};
use seqflow_sequencer::{ClaimError, Claimer, SequenceRange, Sequencer, SingleClaimer};
use std::sync::Arc;
use std::time::Duration;

/// A producer handle: claims slots, lets you write the events in place, publishes them.
///
/// Multi-producer handles are `Clone + Send` (clone one per thread); the single-producer handle
/// is `Send` and unique. Nothing here allocates or locks (but for the lock-based sequencer).
///
/// ```
/// use seqflow_pipeline::Disruptor;
/// use seqflow_sequencer::MultiProducerMode;
/// let b = Disruptor::builder(16, || (0u32, 0u64)).multi_producer(MultiProducerMode::Cas).unwrap();
/// let (d, mut p) = b.start().unwrap();
/// let mut q = p.clone();
/// std::thread::spawn(move || q.publish(|e, _| *e = (2, 20)).unwrap()).join().unwrap();
/// p.publish(|e, seq| *e = (1, seq as u64)).unwrap();
/// let range = p.publish_batch(3, |e, seq| *e = (1, seq as u64)).unwrap();
/// assert_eq!(range.len(), 3);
/// d.shutdown().unwrap();
/// ```
pub struct Producer<E: ?Sized, C: Claimer = SingleClaimer<YieldingWait>> {
    claimer: C,
    ring: RingBuffer<E>,
    /// Which slot past its claim a one-at-a-time publish fetches for writing (see
    /// [`ClaimGuard::prefetch_ahead`]).
    prefetch: PrefetchPlan,
    /// For [`start_owned`](crate::DisruptorBuilder::start_owned): the disruptor, shut down when
    /// the last producer drops it. Declared after the claimer, so it is dropped after it.
    owner: Option<Arc<dyn Send + Sync>>,
}

/// Shuts the disruptor down (drain, stop, join) when the last producer that shares it drops.
struct ShutdownOnDrop<D: Shutdown>(Mutex<Option<D>>);

/// What `ShutdownOnDrop` needs of a disruptor.
trait Shutdown: Send {
    fn shutdown_now(self);
}

impl<E, S> Shutdown for Disruptor<E, S>
where
    E: Send + Sync + 'static,
    S: ProducerSequencer,
{
    fn shutdown_now(self) {
        match self.shutdown() {
            Ok(()) => {}
            // The last producer was dropped inside a handler: the shutdown goes on in the
            // background (and logs its own outcome).
            Err(ShutdownError::CalledFromStage { stage }) => {
                tracing::debug!(
                    stage,
                    "last producer dropped inside a stage: stopping in the background"
                );
            }
            Err(e) => {
                tracing::error!(error = %e, "disruptor stopped after its last producer was dropped");
            }
        }
    }
}

impl<D: Shutdown> Drop for ShutdownOnDrop<D> {
    fn drop(&mut self) {
        if let Some(disruptor) = self.0.get_mut().take() {
            disruptor.shutdown_now();
        }
    }
}

impl<E: ?Sized + Slot, C: Claimer> Producer<E, C> {
    pub(crate) fn new(claimer: C, ring: RingBuffer<E>) -> Self {
        Self {
            prefetch: PrefetchPlan::for_ring(&ring),
            claimer,
            ring,
            owner: None,
        }
    }

    /// A producer that claims with `claimer` and writes into `ring`: how the shared-memory
    /// layer makes its producers (its claimer records each claim in the segment for crash
    /// recovery), so that they are this type, with these claim guards. Internal; not part of the
    /// public API.
    ///
    /// # Safety
    /// `ring` must be the ring whose slots `claimer`'s sequencer hands out (same capacity, read
    /// by consumers gated by that sequencer): a claim then gives exclusive access to its slots.
    #[doc(hidden)]
    pub unsafe fn __internal_from_parts(claimer: C, ring: RingBuffer<E>) -> Self {
        Self::new(claimer, ring)
    }

    /// This producer, owning `disruptor` (see `start_owned`).
    pub(crate) fn owning<S>(mut self, disruptor: Disruptor<E, S>) -> Self
    where
        E: Sized + Send + Sync + 'static,
        S: ProducerSequencer,
    {
        self.owner = Some(Arc::new(ShutdownOnDrop(Mutex::new(Some(disruptor)))));
        self
    }

    /// Whether `n` events could be published now without waiting (LMAX's
    /// `hasAvailableCapacity`); a snapshot, other producers may take the room first.
    ///
    /// ```
    /// use seqflow_pipeline::Disruptor;
    /// let mut b = Disruptor::builder(4, || 0u8).single_producer().unwrap();
    /// let _poller = b.poller().unwrap(); // gates, and never consumes here
    /// let (d, mut p) = b.start().unwrap();
    /// p.publish_batch(3, |e, _| *e = 1).unwrap();
    /// assert!(p.has_available_capacity(1));
    /// assert!(!p.has_available_capacity(2));
    /// # drop(_poller); d.shutdown().unwrap();
    /// ```
    pub fn has_available_capacity(&self, n: usize) -> bool {
        self.claimer.sequencer().has_available_capacity(n)
    }

    /// Claim `n` slots for a [`ClaimGuard`], which publishes them exactly once: the producer's
    /// claims are always paired with their publish, so the claimer's pending-claim checks are
    /// not needed here. `HELD`: the guard goes to the caller, who may hold it a while, so the
    /// claim counts in the ring's remaining capacity at once (a single producer's one-event
    /// publish, which holds it only while its closure runs, skips that store).
    #[inline(always)]
    fn claim_guarded<const HELD: bool>(
        &mut self,
        n: usize,
        deadline: Deadline,
        block: bool,
    ) -> Result<ClaimGuard<'_, E, C>, ClaimError> {
        let range = self.claimer.__internal_claim_paired(n, deadline, block)?;
        if HELD {
            self.claimer.__internal_count_claim(range);
        }
        Ok(ClaimGuard::new(self, range))
    }

    /// Claim one slot (waiting while the ring is full), let `write` fill the event in place,
    /// publish it; returns its sequence. Errors only if the disruptor was halted.
    // The one-event publishes are inlined however large the caller: only then does the claim's
    // bookkeeping stay in the caller's registers across its loop; a call keeps it in memory.
    // With a shared ring's claimer, whose inlined fast path is larger, the compiler stopped
    // inlining a plain `publish_timeout` loop's call, which then ran at half the rate
    // (docs/benchmarks.md, section 32).
    #[inline(always)]
    pub fn publish<F: FnOnce(&mut E, i64)>(&mut self, write: F) -> Result<i64, ClaimError> {
        let mut guard = self.claim_guarded::<false>(1, Deadline::NEVER, true)?;
        let seq = guard.range.start();
        guard.prefetch_ahead();
        write(guard.slot(0), seq);
        guard.publish_now();
        Ok(seq)
    }

    /// As [`publish`](Self::publish), but [`ClaimError::Full`] instead of waiting.
    #[inline(always)]
    pub fn try_publish<F: FnOnce(&mut E, i64)>(&mut self, write: F) -> Result<i64, ClaimError> {
        let mut guard = self.claim_guarded::<false>(1, Deadline::NEVER, false)?;
        let seq = guard.range.start();
        guard.prefetch_ahead();
        write(guard.slot(0), seq);
        guard.publish_now();
        Ok(seq)
    }

    /// As [`publish`](Self::publish), waiting at most `timeout` for a free slot.
    #[inline(always)]
    pub fn publish_timeout<F: FnOnce(&mut E, i64)>(
        &mut self,
        timeout: Duration,
        write: F,
    ) -> Result<i64, ClaimError> {
        // The clock is read only if the ring is full.
        let mut guard = self.claim_guarded::<false>(1, Deadline::after(timeout), true)?;
        let seq = guard.range.start();
        guard.prefetch_ahead();
        write(guard.slot(0), seq);
        guard.publish_now();
        Ok(seq)
    }

    /// Claim `n` slots at once, fill each with `write`, publish them together.
    #[inline]
    pub fn publish_batch<F: FnMut(&mut E, i64)>(
        &mut self,
        n: usize,
        mut write: F,
    ) -> Result<SequenceRange, ClaimError> {
        let mut guard = self.claim(n)?;
        guard.write_each(&mut write);
        Ok(guard.publish_now())
    }

    /// As [`publish_batch`](Self::publish_batch), waiting at most `timeout` for `n` free slots.
    ///
    /// ```
    /// use seqflow_pipeline::Disruptor;
    /// use seqflow_sequencer::ClaimError;
    /// use std::time::Duration;
    /// let mut b = Disruptor::builder(4, || 0u32).single_producer().unwrap();
    /// let _poller = b.poller().unwrap(); // never consumes: the ring fills
    /// let (d, mut p) = b.start().unwrap();
    /// p.publish_batch_timeout(4, Duration::from_millis(5), |e, _| *e = 1).unwrap();
    /// let full = p.publish_batch_timeout(1, Duration::from_millis(5), |e, _| *e = 2);
    /// assert_eq!(full, Err(ClaimError::Timeout { requested: 1 }));
    /// # drop(_poller); d.shutdown().unwrap();
    /// ```
    #[inline]
    pub fn publish_batch_timeout<F: FnMut(&mut E, i64)>(
        &mut self,
        n: usize,
        timeout: Duration,
        mut write: F,
    ) -> Result<SequenceRange, ClaimError> {
        let mut guard = self.claim_timeout(n, timeout)?;
        guard.write_each(&mut write);
        Ok(guard.publish_now())
    }

    /// As [`claim`](Self::claim), waiting at most `timeout` for `n` free slots.
    #[inline]
    pub fn claim_timeout(
        &mut self,
        n: usize,
        timeout: Duration,
    ) -> Result<ClaimGuard<'_, E, C>, ClaimError> {
        // The clock is read only if the ring is full.
        self.claim_guarded::<true>(n, Deadline::after(timeout), true)
    }

    /// Reserve `n` slots (waiting while the ring is full). Write them through the guard; they
    /// are published by [`ClaimGuard::commit`] or when the guard is dropped (also on panic, so
    /// consumers never wait on a hole).
    #[inline]
    pub fn claim(&mut self, n: usize) -> Result<ClaimGuard<'_, E, C>, ClaimError> {
        self.claim_guarded::<true>(n, Deadline::NEVER, true)
    }

    /// As [`claim`](Self::claim), but [`ClaimError::Full`] instead of waiting.
    #[inline]
    pub fn try_claim(&mut self, n: usize) -> Result<ClaimGuard<'_, E, C>, ClaimError> {
        self.claim_guarded::<true>(n, Deadline::NEVER, false)
    }

    /// The claimer underneath (sequencer access, remaining capacity).
    pub fn claimer(&self) -> &C {
        &self.claimer
    }
}

impl<E: ?Sized, C: Claimer + Clone> Clone for Producer<E, C> {
    /// Another producer on the same ring (multi-producer sequencers only).
    fn clone(&self) -> Self {
        Self {
            claimer: self.claimer.clone(),
            ring: self.ring.clone(),
            prefetch: self.prefetch,
            owner: self.owner.clone(),
        }
    }
}

/// Claimed slots being written; published on [`commit`](Self::commit) or drop.
///
/// A guard that is leaked (`std::mem::forget`) never publishes its slots. On a multi-producer
/// ring that leaves a hole: the stages stop in front of it, events published after it are never
/// handled, and `shutdown` drains only up to it (the cursor it reports is the last sequence
/// with nothing missing before it). On a single-producer ring, the producer's next claim
/// publishes past it, and the leaked slots are handled with whatever was written into them.
/// Nothing unsound follows, but do not leak guards.
///
/// ```
/// use seqflow_pipeline::Disruptor;
/// let (d, mut p) = Disruptor::builder(8, || 0u32).single_producer().unwrap().start().unwrap();
/// let mut guard = p.claim(2).unwrap();
/// for (i, event) in guard.iter_mut().enumerate() {
///     *event = i as u32;
/// }
/// let range = guard.commit();
/// assert_eq!(range.start(), 0);
/// d.shutdown().unwrap();
/// ```
pub struct ClaimGuard<'a, E: ?Sized, C: Claimer> {
    producer: &'a mut Producer<E, C>,
    range: SequenceRange,
}

impl<'a, E: ?Sized + Slot, C: Claimer> ClaimGuard<'a, E, C> {
    fn new(producer: &'a mut Producer<E, C>, range: SequenceRange) -> Self {
        Self { producer, range }
    }

    /// A producer publishing one event at a time asks for the slot about 512 bytes past its
    /// claim, once per cache line, and for a slot's first two lines where it spans more
    /// ([`PrefetchPlan`], [`seqflow_ring::WritePrefetch`]): by
    /// the time it writes there the line is on this core, and the event's stores do not wait
    /// for the consumer's core to hand it over (docs/benchmarks.md, section 28). With several
    /// producers another one may write that line first and take it over, but this far ahead
    /// the line usually still sits where the consumers left it, and moving it early saves that
    /// hand-over (2p1c-b128-single two to three times as fast).
    #[inline(always)]
    fn prefetch_ahead(&self) {
        let end = self.range.end();
        self.producer.prefetch.fetch_after(&self.producer.ring, end);
    }

    /// The claimed sequences.
    pub fn range(&self) -> SequenceRange {
        self.range
    }

    /// The `i`-th claimed event (0-based), or `None` past the claim (or in a forked child's
    /// copy of a shared-memory claim: the slots are the parent's, which may publish them).
    #[inline]
    pub fn get_mut(&mut self, i: usize) -> Option<&mut E> {
        (i < self.range.len() && self.producer.claimer.__internal_claims_are_ours())
            .then(|| self.slot(i))
    }

    /// The `i`-th claimed event; `i` must be inside the claim (checked in debug builds).
    #[inline]
    fn slot(&mut self, i: usize) -> &mut E {
        debug_assert!(i < self.range.len());
        // SAFETY: the sequence is claimed by this producer and not yet published, so nobody else
        // touches the slot; `&mut self` makes the reference unique for its lifetime.
        unsafe { self.producer.ring.get_mut(self.range.start() + i as i64) }
    }

    /// Hand every claimed event to `write` with its sequence, in order. The claim spans at most
    /// two runs of consecutive slots (it may wrap once); each run is walked by offset from its
    /// first slot, so the slot index is not masked per event.
    #[inline]
    fn write_each<F: FnMut(&mut E, i64)>(&mut self, write: &mut F) {
        if !self.producer.claimer.__internal_claims_are_ours() {
            return;
        }
        let ring = &self.producer.ring;
        let prefetch = self.producer.prefetch;
        let fetch_ahead = prefetch.in_bursts::<E>();
        let (start, n) = (self.range.start(), self.range.len());
        let mut done = 0;
        while done < n {
            let first = start + done as i64;
            let run = ring.run(first, n - done);
            for offset in 0..run.len() {
                // `first + offset` is inside the claim, which this producer holds and has not
                // published, so nobody else touches the slot; `offset < run.len()`; each slot is
                // handed out once and the reference ends with the call.
                // SAFETY: so the slot is ours to write, inside the run.
                let slot = unsafe { run.get_mut(offset) };
                if fetch_ahead {
                    prefetch.fetch_after(ring, first + offset as i64);
                }
                write(slot, first + offset as i64);
            }
            done += run.len();
        }
    }

    /// Every claimed event, in sequence order (none in a forked child's copy of a
    /// shared-memory claim, see [`get_mut`](Self::get_mut)).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut E> + '_ {
        let ring = &self.producer.ring;
        let ours = self.producer.claimer.__internal_claims_are_ours();
        let n = if ours { self.range.len() } else { 0 };
        self.range.iter().take(n).map(move |seq| {
            // SAFETY: as in `get_mut`; each sequence is visited once, so the references are
            // disjoint, and they all borrow `self` mutably.
            unsafe { ring.get_mut(seq) }
        })
    }

    /// Publish the claimed events now.
    #[inline]
    pub fn commit(self) -> SequenceRange {
        self.publish_now()
    }
}

impl<E: ?Sized, C: Claimer> ClaimGuard<'_, E, C> {
    /// Publish the claim here, as dropping the guard would, but without the drop glue: the
    /// compiler may leave that glue out of line (a call per event on the one-at-a-time path,
    /// measured with a shared-memory claimer). A panic before this point still publishes
    /// through `Drop`.
    #[inline(always)]
    fn publish_now(self) -> SequenceRange {
        let mut guard = std::mem::ManuallyDrop::new(self);
        let range = guard.range;
        // SAFETY: as in `drop`: the guard holds the range of the producer's last paired claim,
        // published exactly once, here (the guard is never dropped, so `drop` does not publish
        // it again); every slot holds a whole event.
        unsafe { guard.producer.claimer.__internal_publish_paired(range) };
        range
    }
}

impl<E: ?Sized, C: Claimer> std::fmt::Debug for Producer<E, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.claimer.sequencer().capacity().get())
            .field("claimed", &self.claimer.sequencer().claimed())
            .finish_non_exhaustive()
    }
}

impl<E: ?Sized, C: Claimer> std::fmt::Debug for ClaimGuard<'_, E, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimGuard")
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

impl<E: ?Sized, C: Claimer> Drop for ClaimGuard<'_, E, C> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard holds the range of the producer's last paired claim (it borrows the
        // producer mutably, so no other claim came in between) and publishes it exactly once,
        // here; every slot holds a whole event (written through the guard, or left as it was).
        unsafe { self.producer.claimer.__internal_publish_paired(self.range) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Disruptor;
    use seqflow_sequencer::MultiProducerMode;

    /// One-at-a-time publishes land in order on rings where the prefetch distance is cut to
    /// half the ring, or to nothing; single and multi producers prefetch alike.
    #[test]
    fn every_event_lands_whatever_the_prefetch_distance() {
        for capacity in [1usize, 2, 4, 64] {
            let mut b = Disruptor::builder(capacity, || 0u64)
                .single_producer()
                .unwrap();
            let mut poller = b.poller().unwrap();
            let (d, mut p) = b.start().unwrap();
            assert_eq!(p.prefetch, PrefetchPlan::for_ring(&p.ring));
            let mut seen = Vec::new();
            for v in 0..3 * capacity as u64 {
                p.publish(|e, _| *e = v).unwrap();
                poller.poll(|e, _, _| seen.push(*e)).unwrap();
            }
            assert_eq!(seen, (0..3 * capacity as u64).collect::<Vec<_>>());
            drop(poller);
            d.shutdown().unwrap();
        }
        let b = Disruptor::builder(64, || 0u64)
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        let (d, p) = b.start().unwrap();
        assert_eq!(p.prefetch, PrefetchPlan::for_ring(&p.ring));
        assert_eq!(p.clone().prefetch, p.prefetch);
        d.shutdown().unwrap();
    }
}
