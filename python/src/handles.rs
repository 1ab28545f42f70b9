//! The binding's handles over one ring type, `ShmRing<DynByteSlot>`: byte slots whose payload
//! size is chosen when the segment is made (see `slot.rs`), so every queue and ring, whatever
//! its slot size, is the same Rust type and the same compiled code.
//!
//! Nothing here creates a reference into a slot that outlives a call: payloads are copied in
//! (under a claim, which no consumer can read yet) and copied out (under a consumer's gate or a
//! worker's claim, which no producer can overwrite yet). Zero-copy views are made on the Python
//! side over a Python `mmap` of the same segment (see `seqflow/_ring.py`), never from these.

use crate::errors::Fail;
use crate::slot::{fingerprint, slot_size_of_event, Role};
use seqflow_shm::{
    ClaimError, ConsumeError, ConsumerKind, DynByteSlot, OpenOptions, ProducerMode, SequenceRange,
    ShmClaim, ShmConsumer, ShmError, ShmOptions, ShmProducer, ShmRing, ShmSubscriber, ShmWorker,
    UnlinkGuard,
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
    /// Payload bytes per slot (from `slot::slot_size_for`: a multiple of 8).
    pub slot_size: usize,
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
    /// Consumers that gate from the first sequence before they attach (rings only).
    pub declared_consumers: Vec<String>,
    /// Worker pools that gate from the first sequence before a worker attaches (rings only;
    /// a queue always declares its one pool).
    pub declared_pools: Vec<String>,
}

/// One ring of byte slots made (or opened) by the Python package.
pub struct Ring(ShmRing<DynByteSlot>);

/// Create a segment for `spec`.
pub fn create(name: &str, spec: &CreateSpec) -> Result<Arc<Ring>, Fail> {
    let options = ShmOptions {
        producer: if spec.multi {
            ProducerMode::MultiCas
        } else {
            ProducerMode::Single
        },
        max_consumers: spec.max_consumers,
        max_producers: spec.max_producers,
        fingerprint: Some(fingerprint(spec.role, spec.slot_size)),
        remove_stale: spec.remove_stale,
        declared_pools: if spec.role == Role::Queue {
            vec![QUEUE_POOL.to_owned()]
        } else {
            spec.declared_pools.clone()
        },
        declared_consumers: spec.declared_consumers.clone(),
        max_pools: ShmOptions::default()
            .max_pools
            .max(spec.declared_pools.len()),
        ..Default::default()
    };
    let ring = ShmRing::<DynByteSlot>::create_bytes(name, spec.capacity, spec.slot_size, options)?;
    // `slot_size` is a multiple of 8, so the ring holds exactly that: the fingerprint above
    // is the one `open` computes from the segment's event size.
    debug_assert_eq!(ring.max_payload(), spec.slot_size);
    Ok(Arc::new(Ring(ring)))
}

/// Open the segment `name` made by the Python package as `role`, whatever its slot size.
pub fn open(name: &str, role: Role, timeout: Duration) -> Result<Arc<Ring>, Fail> {
    let info = inspect_when_ready(name, timeout)?;
    let event_size = info.header.event_size;
    let Some(slot_size) = slot_size_of_event(event_size) else {
        return Err(Fail::Mismatch(format!(
            "segment {name} holds {event_size}-byte events: not a seqflow Python {role:?}"
        )));
    };
    let options = OpenOptions {
        timeout,
        fingerprint: Some(fingerprint(role, slot_size)),
        ..Default::default()
    };
    match ShmRing::<DynByteSlot>::open_with(name, options) {
        Ok(ring) => Ok(Arc::new(Ring(ring))),
        Err(ShmError::FingerprintMismatch { found, .. }) => {
            Err(Fail::Mismatch(role_mismatch(name, role, slot_size, found)))
        }
        Err(e) => Err(e.into()),
    }
}

/// `seqflow_shm::inspect(name)` once the segment is initialised: a segment its creator is
/// still making (`NotReady`) is looked at again until `timeout`, as `ShmRing::open` waits for
/// it; an empty file without a lock (`CreatorDied`) for up to a second of it, since its creator
/// may be between its `shm_open` and its first lock (the grace `ShmRing::open` gives it too).
fn inspect_when_ready(name: &str, timeout: Duration) -> Result<seqflow_shm::Inspection, Fail> {
    let started = std::time::Instant::now();
    loop {
        let waited = started.elapsed();
        match seqflow_shm::inspect(name) {
            Err(ShmError::NotReady { .. }) if waited < timeout => {}
            Err(ShmError::CreatorDied { .. }) if waited < timeout.min(Duration::from_secs(1)) => {}
            other => return Ok(other?),
        }
        std::thread::sleep(
            (waited / 8).clamp(Duration::from_micros(100), Duration::from_millis(5)),
        );
    }
}

/// What to tell a Python user whose `open` as `role` found a segment of `slot_size`-byte
/// slots with the fingerprint `found`: the other class, when the Python package made the
/// segment as that one (the Rust error's fingerprints and type name say nothing they can act
/// on), else a segment some other program made.
fn role_mismatch(name: &str, role: Role, slot_size: usize, found: u64) -> String {
    let other = match role {
        Role::Queue => Role::Ring,
        Role::Ring => Role::Queue,
    };
    if found != fingerprint(other, slot_size) {
        return format!(
            "segment '{name}' holds {slot_size}-byte slots of another kind (not made by \
             seqflow.Queue or seqflow.Ring: a program with its own event type?), not a {role:?}"
        );
    }
    match role {
        Role::Ring => format!(
            "segment '{name}' was created by a seqflow Queue (pickled items), not a Ring; \
             open it with seqflow.Queue.open({name:?})"
        ),
        Role::Queue => format!(
            "segment '{name}' was created by a seqflow Ring (raw byte slots), not a Queue; \
             open it with seqflow.Ring.open({name:?})"
        ),
    }
}

impl Ring {
    /// The segment name.
    pub fn name(&self) -> &str {
        self.0.name()
    }
    /// The segment file's (device, inode).
    pub fn file_id(&self) -> Option<(u64, u64)> {
        self.0.file_id()
    }
    /// Slots.
    pub fn capacity(&self) -> usize {
        self.0.capacity()
    }
    /// Payload bytes per slot.
    pub fn slot_size(&self) -> usize {
        self.0.max_payload()
    }
    /// Whether many producers may publish.
    pub fn multi(&self) -> bool {
        self.0.producer_mode() == ProducerMode::MultiCas
    }
    /// The highest sequence up to which everything is published.
    pub fn published(&self) -> i64 {
        self.0.published()
    }
    /// A producer handle.
    pub fn producer(&self) -> Result<Producer, Fail> {
        let producer = Box::new(self.0.producer()?);
        Ok(Producer {
            claim: None,
            // Owned through the raw pointer from here on; freed in `Drop`.
            producer: NonNull::from(Box::leak(producer)),
            slot_size: self.slot_size(),
        })
    }
    /// A worker of `pool`.
    pub fn worker(&self, pool: &str) -> Result<Worker, Fail> {
        Ok(Worker {
            worker: self.0.worker(pool)?,
            skip: Vec::new(),
        })
    }
    /// A gating consumer after `after`.
    pub fn consumer(&self, name: &str, after: &[&str]) -> Result<Consumer, Fail> {
        let c = if after.is_empty() {
            self.0.consumer(name)?
        } else {
            self.0.consumer_after(name, after)?
        };
        Ok(Consumer(c))
    }
    /// A lossy subscriber.
    pub fn subscriber(&self, name: &str) -> Result<Subscriber, Fail> {
        Ok(Subscriber(self.0.subscriber(name)?))
    }
    /// Live workers of `pool` (in any process), and the pool's work cursor (if the pool exists).
    pub fn pool_status(&self, pool: &str) -> (usize, Option<i64>) {
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
    /// Remove the name now.
    pub fn unlink(&self) -> Result<(), Fail> {
        Ok(self.0.unlink()?)
    }
    /// The creator-side guard (unlinks when dropped in this process).
    pub fn unlink_guard(&self) -> UnlinkGuard {
        self.0.unlink_on_drop()
    }
    /// Stop this process's waits on the ring.
    pub fn halt(&self) {
        self.0.halt()
    }
    /// Halt the ring in every process (`ShmRing::halt_all`).
    pub fn halt_all(&self) {
        self.0.halt_all()
    }
    /// End the stream in every process (`ShmRing::close`); the last sequence.
    pub fn end_stream(&self) -> i64 {
        self.0.close()
    }
    /// The last sequence if the stream was ended.
    pub fn ended_at(&self) -> Option<i64> {
        self.0.closed_at()
    }
    /// A snapshot of the segment (what `seqflow inspect` prints).
    pub fn inspection(&self) -> seqflow_shm::Inspection {
        self.0.inspect()
    }
    /// Stop a dormant declared consumer or pool from gating (`ShmRing::release_declared`).
    pub fn release_declared(&self, name: &str) -> Result<(), Fail> {
        Ok(self.0.release_declared(name)?)
    }
}

/// A producer: publishes copies, or holds one open claim for in-place writes from Python.
pub struct Producer {
    /// Borrows `*producer`; declared first so that it is dropped (and published) first.
    claim: Option<ShmClaim<'static, DynByteSlot>>,
    /// The producer, owned (made from a `Box`, freed in `Drop`). Held as a raw pointer so that
    /// moving `Self` asserts nothing about the memory `claim` borrows.
    producer: NonNull<ShmProducer<DynByteSlot>>,
    /// Payload bytes per slot.
    slot_size: usize,
}

// SAFETY: `ShmProducer` and `ShmClaim` are `Send` (checked by `assert_send` below); the pointer
// is uniquely owned by this value, so sending the value sends the producer with it.
unsafe impl Send for Producer {}

fn assert_send<T: Send>() {}
#[allow(dead_code)]
fn send_checks() {
    assert_send::<ShmProducer<DynByteSlot>>();
    assert_send::<ShmClaim<'static, DynByteSlot>>();
}

impl Producer {
    fn producer(&mut self) -> Result<&mut ShmProducer<DynByteSlot>, Fail> {
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
    ) -> Result<Option<ShmClaim<'_, DynByteSlot>>, Fail> {
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

    /// Claim `items.len()` slots (waiting up to `wait`; zero: only if free now), copy each item
    /// in with its kind and publish them together. `Ok(None)`: no room within `wait`. An item
    /// longer than a slot is a `ValueError` before anything is claimed (callers check first,
    /// with messages of their own).
    pub fn put(&mut self, items: &[(u8, &[u8])], wait: Duration) -> Result<Option<i64>, Fail> {
        let max = self.slot_size;
        if let Some((_, data)) = items.iter().find(|(_, data)| data.len() > max) {
            return Err(Fail::Value(format!(
                "object of {} bytes does not fit in a slot of {max} bytes",
                data.len()
            )));
        }
        let Some(mut claim) = self.claim_range(items.len(), wait)? else {
            return Ok(None);
        };
        for (slot, (k, data)) in claim.iter_mut().zip(items) {
            // Every slot of the ring holds `max` bytes, checked above: this cannot fail. Were it
            // to, the slot is published empty rather than with a stale payload.
            if slot.set(data).is_err() {
                let _ = slot.set_len(0);
            }
            slot.set_tag(u32::from(*k));
        }
        Ok(Some(claim.commit().end()))
    }

    /// Claim `n` slots for in-place writes, waiting up to `wait`. `Ok(None)`: no room.
    pub fn open_claim(&mut self, n: usize, wait: Duration) -> Result<Option<(i64, i64)>, Fail> {
        let Some(claim) = self.claim_range(n, wait)? else {
            return Ok(None);
        };
        let range = claim.range();
        // The claim borrows `*self.producer`, which lives at a fixed heap address (only the
        // pointer moves) until `Drop`, where `claim` is dropped first. While `claim` is `Some`,
        // `producer()` refuses to hand out the producer; `close_claim` and `Drop` end it.
        // SAFETY: so extending the borrow to 'static never outlives or aliases the producer.
        let claim: ShmClaim<'static, DynByteSlot> = unsafe { std::mem::transmute(claim) };
        self.claim = Some(claim);
        Ok(Some((range.start(), range.end())))
    }

    /// Set the header of each slot of the open claim (`lens[i]` bytes, clamped to the slot,
    /// default the whole slot; tag `kind`) and publish it.
    pub fn close_claim(&mut self, lens: &[usize], k: u8) -> Result<(), Fail> {
        let Some(mut claim) = self.claim.take() else {
            return Err(Fail::State("no claim is open".into()));
        };
        for (i, slot) in claim.iter_mut().enumerate() {
            let len = lens
                .get(i)
                .copied()
                .unwrap_or(usize::MAX)
                .min(slot.capacity());
            // Clamped to the capacity: cannot fail.
            let _ = slot.set_len(len);
            slot.set_tag(u32::from(k));
        }
        claim.commit();
        Ok(())
    }

    /// Whether a claim is open.
    pub fn claim_open(&self) -> bool {
        self.claim.is_some()
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        // An open claim is published as it stands (an unpublished hole would stall everyone).
        drop(self.claim.take());
        // SAFETY: made by `Box::leak` in `Ring::producer`, freed once, here; the claim that
        // borrowed it is gone.
        drop(unsafe { Box::from_raw(self.producer.as_ptr()) });
    }
}

/// A pool worker.
pub struct Worker {
    worker: ShmWorker<DynByteSlot>,
    /// Ranges reported abandoned by a dead producer: their slots were released unwritten.
    skip: Vec<SequenceRange>,
}

impl Worker {
    /// Take up to `max` of the pool's next items with one claim, waiting up to `wait` for the
    /// first (zero: only if one is there), and hand `sink(seq, kind, payload)` each slot while
    /// this worker holds it; returns how many were handed over (0: none within `wait`). Items of
    /// a claim whose producer died are skipped (their slots hold stale data).
    pub fn take(
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
                    sink(seq, slot.tag() as u8, slot.as_bytes());
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

    /// The pool's work cursor.
    pub fn work_cursor(&self) -> i64 {
        self.worker.work_cursor()
    }
}

/// A gating consumer.
pub struct Consumer(ShmConsumer<DynByteSlot>);

impl Consumer {
    /// `ShmConsumer::wait_for`, `Ok(None)` on timeout.
    pub fn wait_for(&mut self, seq: i64, wait: Duration) -> Result<Option<i64>, Fail> {
        match self.0.wait_for(seq, Some(wait)) {
            Ok(hi) => Ok(Some(hi)),
            Err(ConsumeError::Timeout) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
    /// Copy the payload at `seq` out with `sink(kind, payload)`; `false` if `seq` is not
    /// available to this consumer (not waited for, or already marked processed).
    pub fn read(&self, seq: i64, sink: &mut dyn FnMut(u8, &[u8])) -> bool {
        match self.0.get(seq) {
            Ok(slot) => {
                sink(slot.tag() as u8, slot.as_bytes());
                true
            }
            Err(_) => false,
        }
    }
    /// Mark everything up to `seq` processed (between the sequence and what was waited for).
    pub fn update_sequence(&mut self, seq: i64) -> Result<(), Fail> {
        Ok(self.0.update_sequence(seq)?)
    }
    /// The last sequence marked processed.
    pub fn sequence(&self) -> i64 {
        self.0.sequence()
    }
    /// The consumer's name.
    pub fn name(&self) -> String {
        self.0.name().to_owned()
    }
}

/// A lossy subscriber.
pub struct Subscriber(ShmSubscriber<DynByteSlot>);

impl Subscriber {
    /// The next event's sequence, kind and payload copy; `Ok(None)` on timeout.
    pub fn next(&mut self, wait: Duration) -> Result<Option<(i64, u8, Vec<u8>)>, Fail> {
        match self.0.next_timeout(Some(wait)) {
            Ok((seq, copy)) => Ok(Some((seq, copy.tag() as u8, copy.into_vec()))),
            Err(ConsumeError::Timeout) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
    /// The sequence read next.
    pub fn next_sequence(&self) -> i64 {
        self.0.position()
    }
}
