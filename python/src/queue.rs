//! `seqflow.Queue`: a `multiprocessing.Queue` drop-in over a shared ring of byte slots.
//!
//! The ring is multi producer (CAS); consumers are workers of one pool ([`QUEUE_POOL`]), so each
//! item goes to exactly one `get`. Each process takes its producer slot on its first `put` and
//! its worker on its first `get`, and takes new ones after a `fork` (see `fork.rs`).
//!
//! Payloads: `bytes` and `bytearray` are copied in as they are (kind byte in the slot header, no
//! pickling), `memoryview`s as bytes, anything else is pickled (highest protocol).
//!
//! # Nothing lost before the first `get`
//! Queues are created with their pool declared ([`DECLARED_POOLS`]): the pool gates the
//! producers from the first item whether or not a worker has attached, so a consumer that starts
//! later gets everything, and a producer that fills the ring blocks, as a bounded queue should.
//! With `DECLARED_POOLS = false` the older fallback applies: the first `put` of a handle that
//! finds no live worker registers the handle's own worker (the *anchor*) so that the pool
//! exists; it is released when a `put` finds the ring full while other workers are alive.

use crate::errors::{Fail, IntoPy};
use crate::fork;
use crate::handles::{self, CreateSpec, Producer, Ring, Worker, DECLARED_POOLS, QUEUE_POOL};
use crate::slot::{kind, Role};
use crate::wait::{deadline, sliced, SLICE};
use crate::SlotSize;
use parking_lot::{Mutex, MutexGuard};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyMemoryView, PyTuple};
use seqflow_shm::{ClaimError, ConsumeError, UnlinkGuard};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default capacity for `maxsize <= 0` (a shared ring is always bounded).
const DEFAULT_CAPACITY: usize = 8192;
/// The largest `maxsize` (a ring holds at most 2^30 slots).
const MAX_MAXSIZE: usize = 1 << 30;
/// Default payload bytes per slot.
const DEFAULT_SLOT: usize = 1024;
/// How often a blocked `put` looks for other live workers before releasing its anchor.
const ANCHOR_CHECK: Duration = Duration::from_millis(20);

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The ring of this process (re-opened by name after a fork when possible).
struct RingSlot {
    ring: Arc<Ring>,
    generation: u64,
}

struct ProducerSlot {
    generation: u64,
    producer: Option<Producer>,
    anchor_checked: bool,
    last_anchor_check: Option<Instant>,
}

struct WorkerSlot {
    generation: u64,
    worker: Option<Worker>,
    /// Items this process took from the pool and has not returned yet (a `get_many` whose
    /// decoding failed part way keeps the rest here; the next `get`/`get_many` serves them).
    held: std::collections::VecDeque<(u8, Py<PyBytes>)>,
}

/// What every handle of one queue in one process shares.
struct Shared {
    name: String,
    slot_size: usize,
    capacity: usize,
    ring: Mutex<RingSlot>,
    producer: Mutex<ProducerSlot>,
    worker: Mutex<WorkerSlot>,
    /// The creator-side unlink (anonymous queues only; acts only in the creating process).
    guard: crate::leftovers::NameGuard,
    closed: AtomicBool,
}

/// Queues of this process that hold items a failed `get_many` took (see
/// `Shared::hand_back_held`): handed back at interpreter exit if not closed before.
static HOLDING: Mutex<Vec<std::sync::Weak<Shared>>> = Mutex::new(Vec::new());

/// Whether a put may go on through a closed handle.
#[derive(Clone, Copy)]
enum Handle {
    /// Everything a user calls: a closed handle refuses, and a put waiting for room ends.
    MustBeOpen,
    /// Handing held items back, which `close` itself does.
    MayBeClosed,
}

/// How long handing held items back waits for room.
const HAND_BACK_WAIT: Duration = Duration::from_secs(1);

/// How long handing held items back waits for the worker side: a `get` blocked on it leaves
/// within a wait slice once the handle is closed, and otherwise holds nothing.
const HAND_BACK_LOCK_WAIT: Duration = Duration::from_millis(200);

impl Drop for Shared {
    /// The last handle of this queue in this process is gone (collected, not closed): the
    /// items it held go back to the queue. At interpreter exit `hand_back_at_exit` did it.
    fn drop(&mut self) {
        if self.closed.load(Ordering::Relaxed) || crate::exiting() {
            return;
        }
        let held = {
            let slot = self.worker.get_mut();
            if slot.generation != fork::generation() || slot.held.is_empty() {
                return;
            }
            std::mem::take(&mut slot.held)
        };
        Python::with_gil(|py| {
            if let Err(e) = self.hand_back(py, held.into_iter().collect()) {
                e.print(py);
            }
        });
    }
}

/// Remember that `shared` holds items, for [`hand_back_at_exit`].
fn note_holding(shared: &Arc<Shared>) {
    let mut all = HOLDING.lock();
    all.retain(|s| s.strong_count() > 0);
    if !all
        .iter()
        .any(|s| std::ptr::eq(s.as_ptr(), Arc::as_ptr(shared)))
    {
        all.push(Arc::downgrade(shared));
    }
}

/// At interpreter exit (and at the end of a `multiprocessing` child started by fork, which
/// skips `atexit`): every open queue of this process puts the items it holds back.
pub(crate) fn hand_back_at_exit(py: Python<'_>) {
    let holding: Vec<_> = HOLDING.lock().drain(..).collect();
    for shared in holding.iter().filter_map(std::sync::Weak::upgrade) {
        if shared.closed.load(Ordering::Relaxed) {
            continue;
        }
        if let Err(e) = shared.hand_back_held(py) {
            e.print(py);
        }
    }
}

impl Shared {
    fn new(ring: Arc<Ring>, guard: Option<UnlinkGuard>) -> Self {
        let generation = fork::generation();
        Self {
            name: ring.name().to_owned(),
            slot_size: ring.slot_size(),
            capacity: ring.capacity(),
            ring: Mutex::new(RingSlot { ring, generation }),
            producer: Mutex::new(ProducerSlot {
                generation,
                producer: None,
                anchor_checked: false,
                last_anchor_check: None,
            }),
            worker: Mutex::new(WorkerSlot {
                generation,
                worker: None,
                held: std::collections::VecDeque::new(),
            }),
            guard: crate::leftovers::name_guard(guard),
            closed: AtomicBool::new(false),
        }
    }

    /// This process's view of the ring.
    fn ring(&self) -> Arc<Ring> {
        let mut slot = self.ring.lock();
        let now = fork::generation();
        if slot.generation != now {
            // A forked child: attach on its own if the name is still there (otherwise the
            // inherited mapping serves as well: new handles record this process's pid).
            // Only the same segment: the name may have been unlinked and made anew.
            if let Ok(ring) = handles::open(&self.name, Role::Queue, Duration::from_secs(5)) {
                if ring.file_id().is_some() && ring.file_id() == slot.ring.file_id() {
                    slot.ring = ring;
                }
            }
            slot.generation = now;
        }
        slot.ring.clone()
    }

    fn check_open(&self) -> Result<(), Fail> {
        if self.closed.load(Ordering::Relaxed) {
            Err(Fail::Value(format!("Queue {} is closed", self.name)))
        } else {
            Ok(())
        }
    }

    /// `e` in Queue terms: the end of the stream (`end_stream`) as a queue's, not a ring's
    /// (the ring's message speaks of rings and sequences); any other error as it is.
    fn in_queue_terms(&self, e: Fail) -> Fail {
        let (what, end) = match e {
            Fail::Claim(ClaimError::Closed) => ("no more items can be put", None),
            Fail::Consume(ConsumeError::Closed { end }) => (
                "every item put before the end has been taken, no more will come",
                Some(end),
            ),
            e => return e,
        };
        Fail::Closed {
            message: format!(
                "queue '{}' is closed (end_stream was called): {what}",
                self.name
            ),
            end,
        }
    }

    /// This process's producer, taken on first use; whether the handle is open is the
    /// caller's to check (handing held items back works on a closed one).
    fn producer<'a>(&self, slot: &'a mut ProducerSlot) -> Result<&'a mut Producer, Fail> {
        let now = fork::generation();
        if slot.generation != now {
            slot.producer = None;
            slot.anchor_checked = false;
            slot.generation = now;
        }
        if !DECLARED_POOLS && !slot.anchor_checked {
            slot.anchor_checked = true;
            self.anchor_if_orphan()?;
        }
        match &mut slot.producer {
            Some(p) => Ok(p),
            p @ None => Ok(p.insert(self.ring().producer()?)),
        }
    }

    /// Register this handle's worker if no live worker holds the pool.
    fn anchor_if_orphan(&self) -> Result<(), Fail> {
        let ring = self.ring();
        if ring.pool_status(QUEUE_POOL).0 > 0 {
            return Ok(());
        }
        // Another thread may hold the worker lock (blocked in `get`): then this handle already
        // has a worker.
        if let Some(mut w) = self.worker.try_lock() {
            self.worker(&mut w)?;
        }
        Ok(())
    }

    /// A blocked `put`: release this handle's idle worker if other workers are alive (they hold
    /// the pool; ours would only stall the producers).
    fn release_idle_anchor(&self, slot: &mut ProducerSlot) {
        if DECLARED_POOLS {
            return;
        }
        let now = Instant::now();
        if slot
            .last_anchor_check
            .is_some_and(|t| now.duration_since(t) < ANCHOR_CHECK)
        {
            return;
        }
        slot.last_anchor_check = Some(now);
        let Some(mut w) = self.worker.try_lock() else {
            return; // in use by a `get` of this process: not idle
        };
        if w.worker.is_some() && self.ring().pool_status(QUEUE_POOL).0 > 1 {
            w.worker = None;
        }
    }

    /// Put `items` (raw payloads) with one claim, waiting for room until `until` (or not at
    /// all, if `!block`); whether they were put.
    fn put_items(
        &self,
        py: Python<'_>,
        items: &[(u8, &[u8])],
        block: bool,
        until: Option<Instant>,
    ) -> PyResult<bool> {
        self.put_items_on(py, items, block, until, Handle::MustBeOpen)
    }

    /// [`put_items`](Self::put_items), on a handle that must be open (a wait ends when it is
    /// closed) or may be closed (handing held items back, see [`hand_back`](Self::hand_back)).
    fn put_items_on(
        &self,
        py: Python<'_>,
        items: &[(u8, &[u8])],
        block: bool,
        until: Option<Instant>,
        handle: Handle,
    ) -> PyResult<bool> {
        let shared = self;
        let check_open = || match handle {
            Handle::MustBeOpen => shared.check_open(),
            Handle::MayBeClosed => Ok(()),
        };
        check_open().py_err(py)?;
        let Some(mut slot) = lock_until(py, &shared.producer, block, until)? else {
            return Ok(false);
        };
        let producer = shared.producer(&mut slot).py_err(py)?;
        // Fast path with the GIL held: room now.
        let put = producer.put(items, Duration::ZERO);
        if put
            .map_err(|e| shared.in_queue_terms(e))
            .py_err(py)?
            .is_some()
        {
            return Ok(true);
        }
        if !block {
            return Ok(false);
        }
        let slot = &mut *slot;
        // SAFETY: the step works on the Rust handle and Rust buffers only, nothing of Python.
        let done = unsafe {
            sliced(py, until, |wait| {
                check_open()?;
                shared.release_idle_anchor(slot);
                let producer = shared.producer(slot)?;
                producer
                    .put(items, wait)
                    .map_err(|e| shared.in_queue_terms(e))
            })
        }?;
        Ok(done.is_some())
    }

    /// Put the items this process holds (see `get_many`) back at the queue's end, so that
    /// closing or leaving loses none of them (see [`hand_back`](Self::hand_back)).
    fn hand_back_held(&self, py: Python<'_>) -> PyResult<()> {
        let held: Vec<(u8, Py<PyBytes>)> = {
            // A `get` blocked waiting holds the worker side, and holds nothing: it serves the
            // held items before it waits, and leaves within a wait slice of a close.
            let busy_until = Instant::now().checked_add(HAND_BACK_LOCK_WAIT);
            let Some(mut slot) = lock_until(py, &self.worker, true, busy_until)? else {
                return Ok(());
            };
            if slot.generation != fork::generation() {
                return Ok(()); // a forked child's copy: the parent hands them back
            }
            slot.held.drain(..).collect()
        };
        self.hand_back(py, held)
    }

    /// Put `items` (raw payloads this process took) back at the queue's end, one per claim (a
    /// batch may be larger than the ring), waiting at most [`HAND_BACK_WAIT`] for room; on a
    /// closed handle too. What cannot go back (the stream was ended, no room, no free producer
    /// slot) is lost, and a `RuntimeWarning` says how much. A Ctrl-C stops it: the items not
    /// put yet are kept for a later hand-back unless the handle is closed (then they are
    /// counted in the warning), and the `KeyboardInterrupt` is returned.
    fn hand_back(&self, py: Python<'_>, items: Vec<(u8, Py<PyBytes>)>) -> PyResult<()> {
        if items.is_empty() {
            return Ok(());
        }
        let until = Instant::now().checked_add(HAND_BACK_WAIT);
        let mut back = 0;
        let mut failure = None;
        for (k, b) in &items {
            let item = (*k, b.as_bytes(py));
            let one = std::slice::from_ref(&item);
            match self.put_items_on(py, one, true, until, Handle::MayBeClosed) {
                Ok(true) => back += 1,
                Ok(false) => break,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if self.closed.load(Ordering::Relaxed) {
            // The producer was taken for this only: the closed handle gives its slot back.
            if let Some(mut side) = self.producer.try_lock() {
                side.producer = None;
            }
        }
        let interrupted = failure
            .as_ref()
            .filter(|e| e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py))
            .is_some();
        let mut lost = items.len() - back;
        if interrupted && !self.closed.load(Ordering::Relaxed) {
            let mut slot = lock(py, &self.worker)?;
            for (at, item) in items.into_iter().skip(back).enumerate() {
                slot.held.insert(at, item);
            }
            lost = 0;
        }
        if lost > 0 {
            let why = match &failure {
                Some(e) => e.to_string(),
                None => format!("no room within {HAND_BACK_WAIT:?}"),
            };
            let message = format!(
                "seqflow queue {}: {lost} item(s) taken by a get_many that failed part way could \
                 not be put back ({why}) and are lost",
                self.name,
            );
            PyErr::warn(
                py,
                &py.get_type::<pyo3::exceptions::PyRuntimeWarning>(),
                &std::ffi::CString::new(message).unwrap_or_default(),
                1,
            )?;
        }
        match failure {
            Some(e) if interrupted => Err(e),
            _ => Ok(()),
        }
    }

    /// This process's worker, registered on first use.
    fn worker<'a>(&self, slot: &'a mut WorkerSlot) -> Result<&'a mut Worker, Fail> {
        self.check_open()?;
        let now = fork::generation();
        if slot.generation != now {
            // A forked child: its parent still holds (and returns) the held items.
            slot.worker = None;
            slot.held.clear();
            slot.generation = now;
        }
        match &mut slot.worker {
            Some(w) => Ok(w),
            w @ None => Ok(w.insert(self.ring().worker(QUEUE_POOL)?)),
        }
    }
}

/// Lock `m`, waiting with the GIL released and signals checked between slices.
fn lock<'a, T: Send>(py: Python<'_>, m: &'a Mutex<T>) -> PyResult<MutexGuard<'a, T>> {
    loop {
        // Without a deadline `lock_until` returns only with the lock (or an error).
        if let Some(g) = lock_until(py, m, true, None)? {
            return Ok(g);
        }
    }
}

/// Lock `m` as a call with `block` and deadline `until` waits: not at all if `!block`, else
/// until `until` (`None`: no limit), with the GIL released and signals checked between slices.
/// `None` if the lock stayed taken (another thread of this process is in a `get` / `put` on
/// this queue): the caller then reports `queue.Empty` / `queue.Full`, as for a queue with
/// nothing to take or no room.
fn lock_until<'a, T: Send>(
    py: Python<'_>,
    m: &'a Mutex<T>,
    block: bool,
    until: Option<Instant>,
) -> PyResult<Option<MutexGuard<'a, T>>> {
    if let Some(g) = m.try_lock() {
        return Ok(Some(g));
    }
    if !block {
        return Ok(None);
    }
    loop {
        let slice = match until {
            None => SLICE,
            Some(d) => d.saturating_duration_since(Instant::now()).min(SLICE),
        };
        // SAFETY: the work is a Rust mutex's timed lock, nothing of Python.
        if let Some(g) = unsafe { crate::gil::released(py, || m.try_lock_for(slice)) } {
            return Ok(Some(g));
        }
        if slice < SLICE {
            return Ok(None);
        }
        py.check_signals()?;
        if crate::exiting() {
            // A thread stopped at interpreter exit (a daemon thread parked by `gil.rs`) may
            // hold this side for good: waiting on would hang the exit.
            return Err(PyRuntimeError::new_err(
                "the interpreter is exiting and a thread stopped at exit holds this queue",
            ));
        }
    }
}

fn pickle<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    static DUMPS: GILOnceCell<Py<PyAny>> = GILOnceCell::new();
    static LOADS: GILOnceCell<Py<PyAny>> = GILOnceCell::new();
    let cell = if name == "dumps" { &DUMPS } else { &LOADS };
    let f = cell.get_or_try_init(py, || py.import("pickle")?.getattr(name).map(Bound::unbind))?;
    Ok(f.bind(py).clone())
}

fn queue_exc(py: Python<'_>, name: &str) -> PyErr {
    match py.import("queue").and_then(|m| m.getattr(name)) {
        Ok(cls) => match cls.call0() {
            Ok(obj) => PyErr::from_value(obj),
            Err(e) => e,
        },
        Err(e) => e,
    }
}

/// An encoded item: its kind and bytes (borrowed from a `bytes` object, or owned).
pub(crate) enum Payload<'py> {
    /// A `bytes` object (the item itself, or its pickle).
    Bytes(u8, Bound<'py, PyBytes>),
    /// A copy (of a `bytearray`).
    Owned(u8, Vec<u8>),
}

impl Payload<'_> {
    pub(crate) fn kind(&self) -> u8 {
        match self {
            Payload::Bytes(k, _) | Payload::Owned(k, _) => *k,
        }
    }
    pub(crate) fn data(&self) -> &[u8] {
        match self {
            Payload::Bytes(_, b) => b.as_bytes(),
            Payload::Owned(_, v) => v,
        }
    }
}

/// Encode `obj` for a slot of `slot_size` bytes: the fast path for bytes-likes, pickle
/// otherwise.
pub(crate) fn encode<'py>(obj: &Bound<'py, PyAny>, slot_size: usize) -> PyResult<Payload<'py>> {
    let py = obj.py();
    let payload = if let Ok(b) = obj.downcast_exact::<PyBytes>() {
        Payload::Bytes(kind::BYTES, b.clone())
    } else if let Ok(b) = obj.downcast_exact::<PyByteArray>() {
        Payload::Owned(kind::BYTEARRAY, b.to_vec())
    } else if obj.is_instance_of::<PyMemoryView>() {
        let b = py
            .import("builtins")?
            .getattr("bytes")?
            .call1((obj,))?
            .downcast_into::<PyBytes>()?;
        Payload::Bytes(kind::BYTES, b)
    } else {
        let b = pickle(py, "dumps")?
            .call1((obj, -1))?
            .downcast_into::<PyBytes>()?;
        Payload::Bytes(kind::PICKLE, b)
    };
    let len = payload.data().len();
    if len > slot_size {
        let what = if payload.kind() == kind::PICKLE {
            "pickled object"
        } else {
            "object"
        };
        return Err(PyValueError::new_err(format!(
            "{what} of {len} bytes does not fit in a slot of {slot_size} bytes (create the queue with a larger slot_size)"
        )));
    }
    Ok(payload)
}

/// Decode a payload already copied into a `bytes` object (no second copy for `bytes` items).
fn decode_bytes(py: Python<'_>, k: u8, b: Bound<'_, PyBytes>) -> PyResult<PyObject> {
    Ok(match k {
        kind::BYTEARRAY => PyByteArray::new(py, b.as_bytes()).into_any().unbind(),
        kind::PICKLE => pickle(py, "loads")?.call1((b,))?.unbind(),
        _ => b.into_any().unbind(),
    })
}

/// A multi-producer, multi-consumer FIFO queue across processes over a named shared-memory
/// ring: the `multiprocessing.Queue` API (`put`, `get`, `put_nowait`, `get_nowait`, `qsize`,
/// `empty`, `full`, `close`), plus `put_many` / `get_many` and `open` / `unlink` by name.
///
/// `Queue(maxsize=0, slot_size=1024, name=None)`: `maxsize` is rounded up to a power of two
/// (`<= 0`: 8192); `slot_size` is the largest item in bytes (after pickling): 1 to
/// `MAX_SLOT_SIZE` (1 GiB - 8), rounded up to a multiple of 8; the segment takes about
/// `maxsize * (slot_size + 8)` bytes of shared memory (pages are used as they are written);
/// `name=None` generates a name and removes it when the creating process closes or drops the
/// queue. Pass the queue to `multiprocessing.Process` (fork: inherited; spawn/forkserver:
/// pickled by name).
#[pyclass(module = "seqflow", frozen)]
pub struct Queue {
    shared: Arc<Shared>,
}

impl Queue {
    /// Take up to `max` items with one claim, waiting for the first until `until` (or not at
    /// all, if `!block`); the raw payloads in order, empty when none came.
    fn take<'py>(
        &self,
        py: Python<'py>,
        max: usize,
        block: bool,
        until: Option<Instant>,
    ) -> PyResult<Vec<(u8, Bound<'py, PyBytes>)>> {
        let shared = &self.shared;
        shared.check_open().py_err(py)?;
        let Some(mut slot) = lock_until(py, &shared.worker, block, until)? else {
            return Ok(Vec::new());
        };
        shared.worker(&mut slot).py_err(py)?;
        if !slot.held.is_empty() {
            let n = max.min(slot.held.len());
            return Ok(slot
                .held
                .drain(..n)
                .map(|(k, b)| (k, b.into_bound(py)))
                .collect());
        }
        let worker = shared.worker(&mut slot).py_err(py)?;
        // Fast path with the GIL held: items there now become `bytes` straight from the slots.
        let mut out = Vec::new();
        worker
            .take(max, Duration::ZERO, &mut |_, k, data| {
                out.push((k, PyBytes::new(py, data)));
            })
            .map_err(|e| shared.in_queue_terms(e))
            .py_err(py)?;
        if !out.is_empty() || !block {
            return Ok(out);
        }
        let slot = &mut *slot;
        // SAFETY: the step works on the Rust handle and Rust buffers only, nothing of Python.
        let got = unsafe {
            sliced(py, until, |wait| {
                let worker = shared.worker(slot)?;
                let mut copied: Vec<(u8, Vec<u8>)> = Vec::new();
                worker
                    .take(max, wait, &mut |_, k, data| copied.push((k, data.to_vec())))
                    .map_err(|e| shared.in_queue_terms(e))?;
                Ok((!copied.is_empty()).then_some(copied))
            })
        }?;
        Ok(got
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, PyBytes::new(py, &v)))
            .collect())
    }

    fn work_cursor(&self) -> Option<i64> {
        if let Some(slot) = self.shared.worker.try_lock() {
            if slot.generation == fork::generation() {
                if let Some(w) = &slot.worker {
                    return Some(w.work_cursor());
                }
            }
        }
        self.shared.ring().pool_status(QUEUE_POOL).1
    }
}

fn generated_name() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("/seqflow-py-{}-{n}-{t:08x}", std::process::id())
}

#[pymethods]
impl Queue {
    #[new]
    #[pyo3(signature = (maxsize = 0, slot_size = SlotSize(DEFAULT_SLOT), name = None, *, namespace = None, max_consumers = 64, max_producers = 64, remove_stale = false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        maxsize: isize,
        slot_size: SlotSize,
        name: Option<String>,
        namespace: Option<String>,
        max_consumers: usize,
        max_producers: usize,
        remove_stale: bool,
    ) -> PyResult<Self> {
        crate::fork::install();
        let SlotSize(slot_size) = slot_size;
        let capacity = if maxsize <= 0 {
            DEFAULT_CAPACITY
        } else {
            (maxsize as usize)
                .checked_next_power_of_two()
                .filter(|&c| c <= MAX_MAXSIZE)
                .ok_or_else(|| {
                    PyValueError::new_err(format!(
                        "maxsize {maxsize} is too large: at most {MAX_MAXSIZE} (2^30)"
                    ))
                })?
        };
        if let Some(name) = &name {
            crate::leftovers::refuse_reserved(name, "queue")?;
        }
        let anonymous = name.is_none();
        if anonymous {
            crate::leftovers::reap_once();
        }
        let name = crate::full_name(
            py,
            namespace.as_deref(),
            &name.unwrap_or_else(generated_name),
        )?;
        let spec = CreateSpec {
            role: Role::Queue,
            slot_size,
            capacity,
            multi: true,
            max_consumers,
            max_producers,
            remove_stale,
            declared_consumers: Vec::new(),
            declared_pools: Vec::new(),
        };
        // SAFETY: the work touches only Rust values (the segment's name and spec, the ring
        // handle), nothing of Python.
        let ring =
            unsafe { crate::gil::released(py, || handles::create(&name, &spec)) }.py_err(py)?;
        let guard = anonymous.then(|| ring.unlink_guard());
        Ok(Self {
            shared: Arc::new(Shared::new(ring, guard)),
        })
    }

    /// Attach to the existing queue `name` (in `namespace`, if given), waiting up to `timeout`
    /// seconds for its creator to finish initialising it.
    #[staticmethod]
    #[pyo3(signature = (name, timeout = 5.0, *, namespace = None))]
    fn open(
        py: Python<'_>,
        name: String,
        timeout: f64,
        namespace: Option<String>,
    ) -> PyResult<Self> {
        crate::fork::install();
        let name = crate::full_name(py, namespace.as_deref(), &name)?;
        let timeout = Duration::try_from_secs_f64(timeout.max(0.0)).unwrap_or(Duration::MAX);
        // SAFETY: the work touches only Rust values (the segment's name and spec, the ring
        // handle), nothing of Python.
        let ring =
            unsafe { crate::gil::released(py, || handles::open(&name, Role::Queue, timeout)) }
                .py_err(py)?;
        Ok(Self {
            shared: Arc::new(Shared::new(ring, None)),
        })
    }

    /// The segment name (pass it to `Queue.open` in another program).
    #[getter]
    fn name(&self) -> &str {
        &self.shared.name
    }

    /// The number of items the queue holds when full (`maxsize` rounded up to a power of two).
    #[getter]
    fn maxsize(&self) -> usize {
        self.shared.capacity
    }

    /// The largest item, in bytes (after pickling): the `slot_size` asked for, rounded up to a
    /// multiple of 8.
    #[getter]
    fn slot_size(&self) -> usize {
        self.shared.slot_size
    }

    /// Put `obj`, waiting (if `block`) up to `timeout` seconds for room; `queue.Full` otherwise.
    #[pyo3(signature = (obj, block = true, timeout = None))]
    fn put(
        &self,
        py: Python<'_>,
        obj: &Bound<'_, PyAny>,
        block: bool,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        let payload = encode(obj, self.shared.slot_size)?;
        // As `multiprocessing.Queue`: without `block` the timeout is ignored.
        let until = deadline(if block { timeout } else { None })?;
        if self
            .shared
            .put_items(py, &[(payload.kind(), payload.data())], block, until)?
        {
            Ok(())
        } else {
            Err(queue_exc(py, "Full"))
        }
    }

    /// `put(obj, block=False)`.
    fn put_nowait(&self, py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<()> {
        self.put(py, obj, false, None)
    }

    /// Put every item of `items` (published in batches: one claim for up to half the queue).
    /// Every item is encoded first, so an oversized one raises `ValueError` before anything is
    /// put. With a `timeout`, `queue.Full` says the batch containing the deadline was not put
    /// (earlier batches were).
    #[pyo3(signature = (items, timeout = None))]
    fn put_many(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        let slot_size = self.shared.slot_size;
        let mut payloads = Vec::new();
        for (index, item) in items.try_iter()?.enumerate() {
            let payload = encode(&item?, slot_size).map_err(|e| {
                if e.is_instance_of::<PyValueError>(py) {
                    // Which item: the message alone does not say in a long list.
                    PyValueError::new_err(format!("put_many item {index}: {}", e.value(py)))
                } else {
                    e
                }
            })?;
            payloads.push(payload);
        }
        let slices: Vec<(u8, &[u8])> = payloads.iter().map(|p| (p.kind(), p.data())).collect();
        let until = deadline(timeout)?;
        let chunk = (self.shared.capacity / 2).max(1);
        for batch in slices.chunks(chunk) {
            if !self.shared.put_items(py, batch, true, until)? {
                return Err(queue_exc(py, "Full"));
            }
        }
        Ok(())
    }

    /// Remove and return an item, waiting (if `block`) up to `timeout` seconds; `queue.Empty`
    /// otherwise.
    #[pyo3(signature = (block = true, timeout = None))]
    fn get(&self, py: Python<'_>, block: bool, timeout: Option<f64>) -> PyResult<PyObject> {
        // As `multiprocessing.Queue`: without `block` the timeout is ignored.
        let until = deadline(if block { timeout } else { None })?;
        match self.take(py, 1, block, until)?.pop() {
            Some((k, b)) => decode_bytes(py, k, b),
            None => Err(queue_exc(py, "Empty")),
        }
    }

    /// `get(block=False)`.
    fn get_nowait(&self, py: Python<'_>) -> PyResult<PyObject> {
        self.get(py, false, None)
    }

    /// Wait up to `timeout` seconds (`None`: no limit) for one item, then take up to
    /// `max_items` in all without waiting more; a list of at least one item, or `queue.Empty`.
    #[pyo3(signature = (max_items, timeout = None))]
    fn get_many<'py>(
        &self,
        py: Python<'py>,
        max_items: i64,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let Ok(max_items) = usize::try_from(max_items) else {
            return Err(PyValueError::new_err(format!(
                "max_items must be 0 or more, not {max_items}"
            )));
        };
        let until = deadline(timeout)?;
        if max_items == 0 {
            return Ok(PyList::empty(py));
        }
        let taken = self.take(py, max_items, true, until)?;
        if taken.is_empty() {
            return Err(queue_exc(py, "Empty"));
        }
        // Decoded after the worker is released (unpickling runs arbitrary code). If an item
        // fails to decode (or Ctrl-C interrupts), its error is raised and every other item of
        // the batch is kept, in order, for the next get: none is lost with it.
        let mut items = Vec::with_capacity(taken.len());
        for (i, (k, b)) in taken.iter().enumerate() {
            match decode_bytes(py, *k, b.clone()) {
                Ok(item) => items.push(item),
                Err(e) => {
                    let keep: Vec<(u8, Py<PyBytes>)> = taken
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| *j != i)
                        .map(|(_, (k, b))| (*k, b.clone().unbind()))
                        .collect();
                    // Kept, in order, for this handle's next get, unless the handle was closed
                    // meanwhile or another thread's get waits on it: then back to the queue's
                    // end at once (that get may well receive them).
                    let busy_until = Instant::now().checked_add(Duration::from_millis(50));
                    let slot = lock_until(py, &self.shared.worker, true, busy_until)?;
                    match slot {
                        Some(mut slot)
                            if !self.shared.closed.load(Ordering::Relaxed)
                                && slot.generation == fork::generation() =>
                        {
                            for (at, item) in keep.into_iter().enumerate() {
                                slot.held.insert(at, item);
                            }
                            drop(slot);
                            note_holding(&self.shared);
                        }
                        slot => {
                            drop(slot);
                            // A Ctrl-C while handing back is the more urgent error.
                            self.shared.hand_back(py, keep)?;
                        }
                    }
                    return Err(e);
                }
            }
        }
        PyList::new(py, items)
    }

    /// End the stream for every process: later `put`s raise `seqflow.Closed`; consumers get
    /// every item put before the end, then `seqflow.Closed` (instead of waiting for ever).
    /// Returns the last sequence; ending twice keeps the first end. Unlike `close()` (this
    /// process's handle, as in `multiprocessing`), this is seen by every process.
    fn end_stream(&self, py: Python<'_>) -> PyResult<i64> {
        self.shared.check_open().py_err(py)?;
        Ok(self.shared.ring().end_stream())
    }

    /// The last sequence if the stream was ended (`end_stream`), else `None`.
    #[getter]
    fn ended_at(&self) -> Option<i64> {
        self.shared.ring().ended_at()
    }

    /// The number of items put and not yet taken (a snapshot: other processes move it),
    /// counting the items this process kept after a `get_many` that failed part way (its next
    /// `get` returns them first).
    fn qsize(&self) -> PyResult<usize> {
        self.shared
            .check_open()
            .map_err(|e| Python::with_gil(|py| e.into_pyerr(py)))?;
        let ring = self.shared.ring();
        // A put refused at `end_stream` may be published unwritten past the end: not an item.
        let published = ring
            .ended_at()
            .map_or(ring.published(), |end| ring.published().min(end));
        let taken = self.work_cursor().unwrap_or(-1);
        let queued = published
            .saturating_sub(taken)
            .clamp(0, self.shared.capacity as i64) as usize;
        // Not waited for: a `get` of another thread holds the slot while it waits, and then
        // there is nothing kept (it serves kept items before it waits).
        let kept = self.shared.worker.try_lock().map_or(0, |slot| {
            if slot.generation == fork::generation() {
                slot.held.len()
            } else {
                0
            }
        });
        Ok(queued + kept)
    }

    /// `qsize() == 0`.
    fn empty(&self) -> PyResult<bool> {
        Ok(self.qsize()? == 0)
    }

    /// `qsize() >= maxsize`.
    fn full(&self) -> PyResult<bool> {
        Ok(self.qsize()? >= self.shared.capacity)
    }

    /// Release this process's producer slot and worker; further calls raise `ValueError`, and
    /// so do calls of other threads blocked in `get` / `put` on this queue (within 50 ms). The
    /// creating process of a queue made without a name also removes the name.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        // Closed first: other threads' gets leave the worker side, and a get_many failing from
        // now on hands its items back itself. Its outcome (a warning made an error, a Ctrl-C)
        // is raised once the handle is closed.
        let handed_back = if self.shared.closed.swap(true, Ordering::Relaxed) {
            Ok(())
        } else {
            self.shared.hand_back_held(py)
        };
        // The name first: its lock is never held across a wait.
        drop(lock(py, &self.shared.guard)?.take());
        // A blocked `get` / `put` holds its lock while it waits, and sees `closed` between two
        // wait slices: wait for it with the GIL released (it needs the GIL to return). At
        // interpreter exit a thread parked there keeps it for good; the process's end then
        // releases what it held.
        let exiting = crate::exiting();
        match lock(py, &self.shared.producer) {
            Ok(mut side) => side.producer = None,
            Err(_) if exiting => {}
            Err(e) => return Err(e),
        }
        match lock(py, &self.shared.worker) {
            Ok(mut side) => side.worker = None,
            Err(_) if exiting => {}
            Err(e) => return Err(e),
        }
        handed_back
    }

    /// Remove the name now: processes attached keep working, new `open`s fail.
    fn unlink(&self, py: Python<'_>) -> PyResult<()> {
        // The name is going now: the creator-side guard has nothing left to do.
        if let Some(guard) = self.shared.guard.lock().take() {
            std::mem::forget(guard);
        }
        self.shared.ring().unlink().py_err(py)
    }

    /// For `multiprocessing.Queue` compatibility: nothing to wait for (no feeder thread).
    fn join_thread(&self) {}

    /// For `multiprocessing.Queue` compatibility: nothing to cancel (no feeder thread).
    fn cancel_join_thread(&self) {}

    /// A table of the segment: cursor, consumers (workers) with their lag and liveness.
    fn inspect(&self) -> String {
        self.shared.ring().inspection().to_string()
    }

    /// Counters for monitoring, as a dict: `qsize`, `maxsize`, `utilisation` (0.0 to 1.0),
    /// `put` and `got` (items put and taken since creation, by every process), `consumers` and
    /// `producers` (live processes attached as such), `lost` (items whose consumer died while
    /// holding them), `ended_at` (see `end_stream`), `slot_size` and `name`.
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.shared.check_open().py_err(py)?;
        let info = self.shared.ring().inspection();
        let published = info
            .closed_at
            .map_or(info.published, |end| info.published.min(end));
        let taken = info
            .pools
            .iter()
            .find(|p| p.name == QUEUE_POOL)
            .map_or(-1, |p| p.work_cursor);
        let qsize = published
            .saturating_sub(taken)
            .clamp(0, self.shared.capacity as i64);
        let d = PyDict::new(py);
        d.set_item("name", &self.shared.name)?;
        d.set_item("maxsize", self.shared.capacity)?;
        d.set_item("slot_size", self.shared.slot_size)?;
        d.set_item("qsize", qsize)?;
        d.set_item("utilisation", qsize as f64 / self.shared.capacity as f64)?;
        d.set_item("put", published + 1)?;
        d.set_item("got", taken + 1)?;
        d.set_item(
            "consumers",
            info.consumers
                .iter()
                .filter(|c| c.alive && c.name == QUEUE_POOL && !c.absent)
                .count(),
        )?;
        d.set_item(
            "producers",
            info.producers.iter().filter(|p| p.alive).count(),
        )?;
        d.set_item("lost", info.lost_pool_events)?;
        d.set_item("ended_at", info.closed_at)?;
        Ok(d)
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let open = py.import("seqflow._seqflow")?.getattr("_open_queue")?;
        PyTuple::new(
            py,
            [
                open,
                PyTuple::new(py, [self.shared.name.as_str()])?.into_any(),
            ],
        )
    }

    fn __repr__(&self) -> String {
        format!(
            "seqflow.Queue(name={:?}, maxsize={}, slot_size={})",
            self.shared.name, self.shared.capacity, self.shared.slot_size
        )
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: PyObject,
        _exc: PyObject,
        _tb: PyObject,
    ) -> PyResult<()> {
        self.close(py)
    }
}

/// Unpickling: attach to the queue by name.
#[pyfunction]
pub fn _open_queue(py: Python<'_>, name: String) -> PyResult<Queue> {
    Queue::open(py, name, 5.0, None)
}
