//! Type-erased handles over `ShmRing<Slot<N>>` for each slot class: the binding's Python
//! classes hold `Arc<dyn AnyRing>` and boxed ends, so the class is chosen at run time while
//! every hot path underneath is monomorphised for its `N`.
//!
//! Nothing here creates a reference into a slot that outlives a call: payloads are copied in
//! (under a claim, which no consumer can read yet) and copied out (under a consumer's gate or a
//! worker's claim, which no producer can overwrite yet). Zero-copy views are made on the Python
//! side over a Python `mmap` of the same segment (see `seqflow/_ring.py`), never from these.

use crate::errors::Fail;
use crate::slot::{fingerprint, Role, Slot};
use seqflow_shm::{
    ClaimError, ConsumeError, ConsumerKind, OpenOptions, ProducerMode, SequenceRange, ShmClaim,
    ShmConsumer, ShmOptions, ShmProducer, ShmRing, ShmSubscriber, ShmWorker, UnlinkGuard,
};
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;

/// The worker pool every `seqflow.Queue` uses.
pub const QUEUE_POOL: &str = "queue";

/// Whether queues are created with their pool declared (`ShmOptions::declared_pools`: the pool
/// gates from the first sequence whether or not a worker is attached, so nothing put before a
/// consumer attaches is lost). With `false`, `seqflow.Queue` falls back to a producer-held
/// anchor worker (see `queue.rs`, "anchor").
pub const DECLARED_POOLS: bool = true;

/// How to create a segment.
#[derive(Debug, Clone)]
pub struct CreateSpec {
    /// Queue or Ring (fingerprint, pool declaration).
    pub role: Role,
    /// Payload class.
    pub class: usize,
    /// Slots (a power of two).
    pub capacity: usize,
    /// Multi producer (CAS) or single.
    pub multi: bool,
    /// Consumer slots.
    pub max_consumers: usize,
    /// Producer slots (multi producer).
    pub max_producers: usize,
    /// Remove a stale segment of the same name first.
    pub remove_stale: bool,
}

/// One ring, whatever its class.
pub trait AnyRing: Send + Sync {
    /// The segment name.
    fn name(&self) -> &str;
    /// Slots.
    fn capacity(&self) -> usize;
    /// Payload bytes per slot.
    fn class(&self) -> usize;
    /// Whether many producers may publish.
    fn multi(&self) -> bool;
    /// The highest sequence up to which everything is published.
    fn published(&self) -> i64;
    /// A producer handle.
    fn producer(&self) -> Result<Box<dyn ProducerEnd>, Fail>;
    /// A worker of `pool`.
    fn worker(&self, pool: &str) -> Result<Box<dyn WorkerEnd>, Fail>;
    /// A gating consumer after `after`.
    fn consumer(&self, name: &str, after: &[&str]) -> Result<Box<dyn ConsumerEnd>, Fail>;
    /// A lossy subscriber.
    fn subscriber(&self, name: &str) -> Result<Box<dyn SubscriberEnd>, Fail>;
    /// Live workers of `pool` (in any process), and the pool's work cursor (if the pool exists).
    fn pool_status(&self, pool: &str) -> (usize, Option<i64>);
    /// Remove the name now.
    fn unlink(&self) -> Result<(), Fail>;
    /// The creator-side guard (unlinks when dropped in this process).
    fn unlink_guard(&self) -> UnlinkGuard;
    /// Stop this process's waits on the ring.
    fn halt(&self);
    /// Halt the ring in every process (`ShmRing::halt_all`).
    fn halt_all(&self);
    /// End the stream in every process (`ShmRing::close`); the last sequence.
    fn end_stream(&self) -> i64;
    /// The last sequence if the stream was ended.
    fn ended_at(&self) -> Option<i64>;
    /// A snapshot of the segment (what `seqflow inspect` prints).
    fn inspection(&self) -> seqflow_shm::Inspection;
}

struct Ring<const N: usize>(ShmRing<Slot<N>>);

/// Create a segment for `spec`.
pub fn create(name: &str, spec: &CreateSpec) -> Result<Arc<dyn AnyRing>, Fail> {
    let options = ShmOptions {
        producer: if spec.multi {
            ProducerMode::MultiCas
        } else {
            ProducerMode::Single
        },
        max_consumers: spec.max_consumers,
        max_producers: spec.max_producers,
        fingerprint: Some(fingerprint(spec.role, spec.class)),
        remove_stale: spec.remove_stale,
        declared_pools: if spec.role == Role::Queue {
            vec![QUEUE_POOL.to_owned()]
        } else {
            Vec::new()
        },
        ..Default::default()
    };
    crate::dispatch_class!(spec.class, N => {
        let () = Slot::<N>::LAYOUT_OK;
        let ring = ShmRing::<Slot<N>>::create(name, spec.capacity, options)?;
        Ok(Arc::new(Ring::<N>(ring)) as Arc<dyn AnyRing>)
    }, _ => Err(Fail::Value(format!("no slot class of {} bytes", spec.class))))
}

/// Open the segment `name` made by the Python package as `role`, whatever its class.
pub fn open(name: &str, role: Role, timeout: Duration) -> Result<Arc<dyn AnyRing>, Fail> {
    let info = seqflow_shm::inspect(name)?;
    let class = info.header.event_size.saturating_sub(8) as usize;
    let options = OpenOptions {
        timeout,
        fingerprint: Some(fingerprint(role, class)),
        ..Default::default()
    };
    crate::dispatch_class!(class, N => {
        let () = Slot::<N>::LAYOUT_OK;
        let ring = ShmRing::<Slot<N>>::open_with(name, options)?;
        Ok(Arc::new(Ring::<N>(ring)) as Arc<dyn AnyRing>)
    }, _ => Err(Fail::Value(format!(
        "segment {name} holds {}-byte events: not a seqflow Python {role:?}",
        info.header.event_size
    ))))
}

impl<const N: usize> AnyRing for Ring<N> {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn capacity(&self) -> usize {
        self.0.capacity()
    }
    fn class(&self) -> usize {
        N
    }
    fn multi(&self) -> bool {
        self.0.producer_mode() == ProducerMode::MultiCas
    }
    fn published(&self) -> i64 {
        self.0.published()
    }
    fn producer(&self) -> Result<Box<dyn ProducerEnd>, Fail> {
        let producer = Box::new(self.0.producer()?);
        Ok(Box::new(Producer::<N> {
            claim: None,
            // Owned through the raw pointer from here on; freed in `Drop`.
            producer: NonNull::from(Box::leak(producer)),
        }))
    }
    fn worker(&self, pool: &str) -> Result<Box<dyn WorkerEnd>, Fail> {
        Ok(Box::new(Worker::<N> {
            worker: self.0.worker(pool)?,
            skip: Vec::new(),
        }))
    }
    fn consumer(&self, name: &str, after: &[&str]) -> Result<Box<dyn ConsumerEnd>, Fail> {
        let c = if after.is_empty() {
            self.0.consumer(name)?
        } else {
            self.0.consumer_after(name, after)?
        };
        Ok(Box::new(Consumer::<N>(c)))
    }
    fn subscriber(&self, name: &str) -> Result<Box<dyn SubscriberEnd>, Fail> {
        Ok(Box::new(Subscriber::<N>(self.0.subscriber(name)?)))
    }
    fn pool_status(&self, pool: &str) -> (usize, Option<i64>) {
        let info = self.0.inspect();
        let live = info
            .consumers
            .iter()
            .filter(|c| c.kind == Some(ConsumerKind::Worker) && c.name == pool && c.alive)
            .count();
        let cursor = info
            .pools
            .iter()
            .find(|p| p.name == pool)
            .map(|p| p.work_cursor);
        (live, cursor)
    }
    fn unlink(&self) -> Result<(), Fail> {
        Ok(self.0.unlink()?)
    }
    fn unlink_guard(&self) -> UnlinkGuard {
        self.0.unlink_on_drop()
    }
    fn halt(&self) {
        self.0.halt()
    }
    fn halt_all(&self) {
        self.0.halt_all()
    }
    fn end_stream(&self) -> i64 {
        self.0.close()
    }
    fn ended_at(&self) -> Option<i64> {
        self.0.closed_at()
    }
    fn inspection(&self) -> seqflow_shm::Inspection {
        self.0.inspect()
    }
}

/// A producer: publishes copies, or holds one open claim for in-place writes from Python.
pub trait ProducerEnd: Send {
    /// Claim `items.len()` slots (waiting up to `wait`; zero: only if free now), copy each item
    /// in with its kind and publish them together. `Ok(None)`: no room within `wait`.
    fn put(&mut self, items: &[(u8, &[u8])], wait: Duration) -> Result<Option<i64>, Fail>;
    /// Claim `n` slots for in-place writes, waiting up to `wait`. `Ok(None)`: no room.
    fn open_claim(&mut self, n: usize, wait: Duration) -> Result<Option<(i64, i64)>, Fail>;
    /// Set the header of each slot of the open claim (`lens[i]` bytes of `kind`) and publish it.
    fn close_claim(&mut self, lens: &[usize], kind: u8) -> Result<(), Fail>;
    /// Whether a claim is open.
    fn claim_open(&self) -> bool;
}

/// `ShmProducer<Slot<N>>` plus the claim borrowed from it, if one is open.
struct Producer<const N: usize> {
    /// Borrows `*producer`; declared first so that it is dropped (and published) first.
    claim: Option<ShmClaim<'static, Slot<N>>>,
    /// The producer, owned (made from a `Box`, freed in `Drop`). Held as a raw pointer so that
    /// moving `Self` asserts nothing about the memory `claim` borrows.
    producer: NonNull<ShmProducer<Slot<N>>>,
}

// SAFETY: `ShmProducer` and `ShmClaim` are `Send` (checked by `assert_send` below); the pointer
// is uniquely owned by this value, so sending the value sends the producer with it.
unsafe impl<const N: usize> Send for Producer<N> {}

fn assert_send<T: Send>() {}
#[allow(dead_code)]
fn send_checks() {
    assert_send::<ShmProducer<Slot<64>>>();
    assert_send::<ShmClaim<'static, Slot<64>>>();
}

impl<const N: usize> Producer<N> {
    fn producer(&mut self) -> Result<&mut ShmProducer<Slot<N>>, Fail> {
        if self.claim.is_some() {
            return Err(Fail::State(
                "a claim is open on this producer: publish it (leave its `with` block) first"
                    .into(),
            ));
        }
        // SAFETY: the pointer comes from `Box::leak` and is freed only in `Drop`; no claim
        // borrows the producer (checked above), and `&mut self` makes this the only reference.
        Ok(unsafe { self.producer.as_mut() })
    }

    fn claim_range(
        &mut self,
        n: usize,
        wait: Duration,
    ) -> Result<Option<ShmClaim<'_, Slot<N>>>, Fail> {
        let producer = self.producer()?;
        let claimed = if wait.is_zero() {
            producer.try_claim(n)
        } else {
            producer.claim_timeout(n, wait)
        };
        match claimed {
            Ok(c) => Ok(Some(c)),
            Err(ClaimError::Full { .. } | ClaimError::Timeout { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

impl<const N: usize> ProducerEnd for Producer<N> {
    fn put(&mut self, items: &[(u8, &[u8])], wait: Duration) -> Result<Option<i64>, Fail> {
        let Some(mut claim) = self.claim_range(items.len(), wait)? else {
            return Ok(None);
        };
        for (slot, (k, data)) in claim.iter_mut().zip(items) {
            slot.set(*k, data);
        }
        Ok(Some(claim.commit().end()))
    }

    fn open_claim(&mut self, n: usize, wait: Duration) -> Result<Option<(i64, i64)>, Fail> {
        let Some(claim) = self.claim_range(n, wait)? else {
            return Ok(None);
        };
        let range = claim.range();
        // The claim borrows `*self.producer`, which lives at a fixed heap address (only the
        // pointer moves) until `Drop`, where `claim` is dropped first. While `claim` is `Some`,
        // `producer()` refuses to hand out the producer; `close_claim` and `Drop` end it.
        // SAFETY: so extending the borrow to 'static never outlives or aliases the producer.
        let claim: ShmClaim<'static, Slot<N>> = unsafe { std::mem::transmute(claim) };
        self.claim = Some(claim);
        Ok(Some((range.start(), range.end())))
    }

    fn close_claim(&mut self, lens: &[usize], k: u8) -> Result<(), Fail> {
        let Some(mut claim) = self.claim.take() else {
            return Err(Fail::State("no claim is open".into()));
        };
        for (i, slot) in claim.iter_mut().enumerate() {
            slot.set_header(k, lens.get(i).copied().unwrap_or(N));
        }
        claim.commit();
        Ok(())
    }

    fn claim_open(&self) -> bool {
        self.claim.is_some()
    }
}

impl<const N: usize> Drop for Producer<N> {
    fn drop(&mut self) {
        // An open claim is published as it stands (an unpublished hole would stall everyone).
        drop(self.claim.take());
        // SAFETY: made by `Box::leak` in `AnyRing::producer`, freed once, here; the claim that
        // borrowed it is gone.
        drop(unsafe { Box::from_raw(self.producer.as_ptr()) });
    }
}

/// A pool worker.
pub trait WorkerEnd: Send {
    /// Take up to `max` of the pool's next items with one claim, waiting up to `wait` for the
    /// first (zero: only if one is there), and hand `sink(seq, kind, payload)` each slot while
    /// this worker holds it; returns how many were handed over (0: none within `wait`). Items of
    /// a claim whose producer died are skipped (their slots hold stale data).
    fn take(
        &mut self,
        max: usize,
        wait: Duration,
        sink: &mut dyn FnMut(i64, u8, &[u8]),
    ) -> Result<usize, Fail>;
    /// The pool's work cursor.
    fn work_cursor(&self) -> i64;
}

struct Worker<const N: usize> {
    worker: ShmWorker<Slot<N>>,
    /// Ranges reported abandoned by a dead producer: their slots were released unwritten.
    skip: Vec<SequenceRange>,
}

impl<const N: usize> WorkerEnd for Worker<N> {
    fn take(
        &mut self,
        max: usize,
        wait: Duration,
        sink: &mut dyn FnMut(i64, u8, &[u8]),
    ) -> Result<usize, Fail> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let skip = &self.skip;
            let mut handed = 0;
            let got = self.worker.process_batch(max, Some(left), |slot, seq, _| {
                if skip.is_empty() || !skip.iter().any(|r| r.contains(seq)) {
                    sink(seq, slot.kind(), slot.payload());
                    handed += 1;
                }
            });
            match got {
                Ok((_, last)) => {
                    self.skip.retain(|r| r.end() > last);
                    if handed > 0 {
                        return Ok(handed);
                    }
                }
                Err(ConsumeError::Timeout) => return Ok(0),
                Err(ConsumeError::ProducerDied {
                    claimed: Some(range),
                    ..
                }) => self.skip.push(range),
                Err(ConsumeError::ProducerDied { claimed: None, .. }) => {}
                Err(e) => return Err(e.into()),
            }
            if left.is_zero() && std::time::Instant::now() >= deadline {
                return Ok(0);
            }
        }
    }

    fn work_cursor(&self) -> i64 {
        self.worker.work_cursor()
    }
}

/// A gating consumer.
pub trait ConsumerEnd: Send {
    /// `ShmConsumer::wait_for`, `Ok(None)` on timeout.
    fn wait_for(&mut self, seq: i64, wait: Duration) -> Result<Option<i64>, Fail>;
    /// Copy the payload at `seq` out with `sink(kind, payload)`; `false` if `seq` is not
    /// available to this consumer (not waited for, or already marked processed).
    fn read(&self, seq: i64, sink: &mut dyn FnMut(u8, &[u8])) -> bool;
    /// Mark everything up to `seq` processed (between the sequence and what was waited for).
    fn update_sequence(&mut self, seq: i64) -> Result<(), Fail>;
    /// The last sequence marked processed.
    fn sequence(&self) -> i64;
    /// The consumer's name.
    fn name(&self) -> String;
}

struct Consumer<const N: usize>(ShmConsumer<Slot<N>>);

impl<const N: usize> ConsumerEnd for Consumer<N> {
    fn wait_for(&mut self, seq: i64, wait: Duration) -> Result<Option<i64>, Fail> {
        match self.0.wait_for(seq, Some(wait)) {
            Ok(hi) => Ok(Some(hi)),
            Err(ConsumeError::Timeout) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
    fn read(&self, seq: i64, sink: &mut dyn FnMut(u8, &[u8])) -> bool {
        match self.0.get(seq) {
            Ok(slot) => {
                sink(slot.kind(), slot.payload());
                true
            }
            Err(_) => false,
        }
    }
    fn update_sequence(&mut self, seq: i64) -> Result<(), Fail> {
        Ok(self.0.update_sequence(seq)?)
    }
    fn sequence(&self) -> i64 {
        self.0.sequence()
    }
    fn name(&self) -> String {
        self.0.name().to_owned()
    }
}

/// A lossy subscriber.
pub trait SubscriberEnd: Send {
    /// The next event's sequence, kind and payload copy; `Ok(None)` on timeout.
    fn next(&mut self, wait: Duration) -> Result<Option<(i64, u8, Vec<u8>)>, Fail>;
    /// The sequence read next.
    fn next_sequence(&self) -> i64;
}

struct Subscriber<const N: usize>(ShmSubscriber<Slot<N>>);

impl<const N: usize> SubscriberEnd for Subscriber<N> {
    fn next(&mut self, wait: Duration) -> Result<Option<(i64, u8, Vec<u8>)>, Fail> {
        match self.0.next_timeout(Some(wait)) {
            Ok((seq, slot)) => Ok(Some((seq, slot.kind(), slot.payload().to_vec()))),
            Err(ConsumeError::Timeout) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
    fn next_sequence(&self) -> i64 {
        self.0.position()
    }
}
