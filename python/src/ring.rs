//! The Rust half of `seqflow.Ring` (the Disruptor model): `_Ring` and its handles `_Producer`,
//! `_Consumer`, `_Subscriber`, `_Worker`. The Python half (`seqflow/_ring.py`) adds zero-copy
//! views over a Python `mmap` of the segment, numpy dtypes and iteration.
//!
//! Handles belong to the process (and thread) that made them: one inherited through `fork`
//! raises `RuntimeError` instead of acting on the parent's registration. A `_Ring` inherited
//! through `fork` re-attaches by name for the handles it makes in the child.

use crate::errors::{Fail, IntoPy};
use crate::fork;
use crate::handles::{self, Consumer, CreateSpec, Producer, Ring, Subscriber, Worker};
use crate::slot::{kind, Role};
use crate::wait::{deadline, sliced};
use crate::SlotSize;
use parking_lot::Mutex;
use pyo3::exceptions::{PyRuntimeError, PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use seqflow_shm::UnlinkGuard;
use std::sync::Arc;
use std::time::Duration;

fn inherited() -> PyErr {
    PyRuntimeError::new_err(
        "this handle was inherited through fork; make a new one in this process",
    )
}

fn check_gen(generation: u64) -> PyResult<()> {
    if generation == fork::generation() {
        Ok(())
    } else {
        Err(inherited())
    }
}

/// A ring of byte slots in a named shared-memory segment (low-level; see `seqflow.Ring`).
#[pyclass(module = "seqflow._seqflow")]
pub struct _Ring {
    /// Behind a lock, so that threads sharing the object can all make handles from it.
    state: Mutex<RingState>,
    guard: crate::leftovers::NameGuard,
    /// The ring as first attached: its name, sizes and file identity never change.
    first: Arc<Ring>,
}

/// This process's attachment and the fork generation it was made in.
struct RingState {
    ring: Arc<Ring>,
    generation: u64,
}

impl _Ring {
    fn new(ring: Arc<Ring>, guard: Option<UnlinkGuard>) -> Self {
        Self {
            state: Mutex::new(RingState {
                ring: ring.clone(),
                generation: fork::generation(),
            }),
            guard: crate::leftovers::name_guard(guard),
            first: ring,
        }
    }

    fn ring(&self) -> Arc<Ring> {
        let mut state = self.state.lock();
        let now = fork::generation();
        if state.generation != now {
            // A forked child attaches on its own, to the same segment only: the name may have
            // been unlinked and made anew (then the inherited mapping serves).
            if let Ok(r) = handles::open(self.first.name(), Role::Ring, Duration::from_secs(5)) {
                if r.file_id().is_some() && r.file_id() == self.first.file_id() {
                    state.ring = r;
                }
            }
            state.generation = now;
        }
        state.ring.clone()
    }
}

#[pymethods]
impl _Ring {
    /// Create a ring: `capacity` slots (a power of two) of `slot_size` payload bytes (1 to
    /// `MAX_SLOT_SIZE`, rounded up to a multiple of 8).
    #[staticmethod]
    #[pyo3(signature = (name, capacity, slot_size, multi, max_consumers = 64, max_producers = 16, remove_stale = false, unlink_on_close = false, declared_consumers = Vec::new(), declared_pools = Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        py: Python<'_>,
        name: String,
        capacity: usize,
        slot_size: SlotSize,
        multi: bool,
        max_consumers: usize,
        max_producers: usize,
        remove_stale: bool,
        unlink_on_close: bool,
        declared_consumers: Vec<String>,
        declared_pools: Vec<String>,
    ) -> PyResult<Self> {
        fork::install();
        let SlotSize(slot_size) = slot_size;
        let spec = CreateSpec {
            role: Role::Ring,
            slot_size,
            capacity,
            multi,
            max_consumers,
            max_producers,
            remove_stale,
            declared_consumers,
            declared_pools,
        };
        // SAFETY: the work touches only Rust values (the segment's name and spec, the ring
        // handle), nothing of Python.
        let ring =
            unsafe { crate::gil::released(py, || handles::create(&name, &spec)) }.py_err(py)?;
        let guard = unlink_on_close.then(|| ring.unlink_guard());
        Ok(Self::new(ring, guard))
    }

    /// Attach to an existing ring.
    #[staticmethod]
    #[pyo3(signature = (name, timeout = 5.0))]
    fn open(py: Python<'_>, name: String, timeout: f64) -> PyResult<Self> {
        fork::install();
        let timeout = Duration::try_from_secs_f64(timeout.max(0.0)).unwrap_or(Duration::MAX);
        // SAFETY: the work touches only Rust values (the segment's name and spec, the ring
        // handle), nothing of Python.
        let ring =
            unsafe { crate::gil::released(py, || handles::open(&name, Role::Ring, timeout)) }
                .py_err(py)?;
        Ok(Self::new(ring, None))
    }

    /// The segment name.
    #[getter]
    fn name(&self) -> String {
        self.first.name().to_owned()
    }
    /// Slots.
    #[getter]
    fn capacity(&self) -> usize {
        self.first.capacity()
    }
    /// Payload bytes per slot.
    #[getter]
    fn slot_size(&self) -> usize {
        self.first.slot_size()
    }
    /// The segment file's (device, inode), or `None`: tells whether a file found under the
    /// name is still this ring's.
    #[getter]
    fn file_id(&self) -> Option<(u64, u64)> {
        self.first.file_id()
    }
    /// Bytes per slot in the segment (8-byte header + payload).
    #[getter]
    fn event_size(&self) -> usize {
        self.first.slot_size() + 8
    }
    /// Whether many producers may publish.
    #[getter]
    fn multi(&self) -> bool {
        self.first.multi()
    }
    /// The highest sequence up to which everything is published.
    #[getter]
    fn published(&self) -> i64 {
        self.ring().published()
    }

    /// A producer handle (single producer: the only one across all processes).
    fn producer(&self, py: Python<'_>) -> PyResult<_Producer> {
        let ring = self.ring();
        // SAFETY: the work touches only Rust values (the segment's name and spec, the ring
        // handle), nothing of Python.
        let end = unsafe { crate::gil::released(py, || ring.producer()) }.py_err(py)?;
        Ok(_Producer {
            end: Mutex::new(end),
            slot_size: ring.slot_size(),
            generation: fork::generation(),
        })
    }

    /// A gating consumer named `name`, after the live consumers named in `after`.
    #[pyo3(signature = (name, after = Vec::new()))]
    fn consumer(&self, py: Python<'_>, name: String, after: Vec<String>) -> PyResult<_Consumer> {
        let ring = self.ring();
        let after: Vec<&str> = after.iter().map(String::as_str).collect();
        // SAFETY: the work touches only Rust values (the segment's name and spec, the ring
        // handle), nothing of Python.
        let end =
            unsafe { crate::gil::released(py, || ring.consumer(&name, &after)) }.py_err(py)?;
        Ok(_Consumer {
            end: Mutex::new(end),
            generation: fork::generation(),
        })
    }

    /// A lossy (non-gating) subscriber.
    fn subscriber(&self, py: Python<'_>, name: String) -> PyResult<_Subscriber> {
        let ring = self.ring();
        // SAFETY: the work touches only Rust values (the segment's name and spec, the ring
        // handle), nothing of Python.
        let end = unsafe { crate::gil::released(py, || ring.subscriber(&name)) }.py_err(py)?;
        Ok(_Subscriber {
            end: Mutex::new(end),
            generation: fork::generation(),
        })
    }

    /// A worker of the pool `pool`.
    fn worker(&self, py: Python<'_>, pool: String) -> PyResult<_Worker> {
        let ring = self.ring();
        // SAFETY: the work touches only Rust values (the segment's name and spec, the ring
        // handle), nothing of Python.
        let end = unsafe { crate::gil::released(py, || ring.worker(&pool)) }.py_err(py)?;
        Ok(_Worker {
            end: Mutex::new(end),
            generation: fork::generation(),
        })
    }

    /// Remove the name now.
    fn unlink(&self, py: Python<'_>) -> PyResult<()> {
        if let Some(g) = self.guard.lock().take() {
            std::mem::forget(g);
        }
        self.ring().unlink().py_err(py)
    }

    /// Drop the creator-side unlink guard (removes the name if this process created the ring
    /// with `unlink_on_close`).
    fn close(&self) {
        drop(self.guard.lock().take());
    }

    /// Stop this process's waits on the ring (they raise `seqflow.Halted`).
    fn halt(&self) {
        self.ring().halt()
    }

    /// Halt the ring in every process, for good (see `Ring.halt_all`).
    fn halt_all(&self) {
        self.ring().halt_all()
    }

    /// Release the dormant declared consumer or pool `name` (see `Ring.release_declared`).
    fn release_declared(&self, py: Python<'_>, name: String) -> PyResult<()> {
        let ring = self.ring();
        // SAFETY: the work touches only Rust values (the name, the ring handle), nothing of
        // Python.
        unsafe { crate::gil::released(py, || ring.release_declared(&name)) }.py_err(py)
    }

    /// End the stream in every process; the last sequence (see `Ring.end_stream`).
    fn end_stream(&self) -> i64 {
        self.ring().end_stream()
    }

    /// The last sequence if the stream was ended, else `None`.
    #[getter]
    fn ended_at(&self) -> Option<i64> {
        self.ring().ended_at()
    }

    /// A table of the segment.
    fn inspect(&self) -> String {
        self.ring().inspection().to_string()
    }
}

/// A producer handle (low-level).
#[pyclass(module = "seqflow._seqflow")]
pub struct _Producer {
    end: Mutex<Producer>,
    slot_size: usize,
    generation: u64,
}

#[pymethods]
impl _Producer {
    /// Copy `data` (bytes-like) into the next slot and publish it, waiting up to `timeout`
    /// seconds for room (`TimeoutError`). Returns its sequence.
    #[pyo3(signature = (data, timeout = None))]
    fn publish(
        &mut self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<i64> {
        self.publish_many(py, vec![data.clone()], timeout)
    }

    /// Publish every item of `items` (bytes-likes) in one claim; returns the last sequence.
    #[pyo3(signature = (items, timeout = None))]
    fn publish_many(
        &mut self,
        py: Python<'_>,
        items: Vec<Bound<'_, PyAny>>,
        timeout: Option<f64>,
    ) -> PyResult<i64> {
        check_gen(self.generation)?;
        let mut owned: Vec<Vec<u8>> = Vec::with_capacity(items.len());
        for item in &items {
            let bytes: Vec<u8> = if let Ok(b) = item.downcast::<PyBytes>() {
                b.as_bytes().to_vec()
            } else {
                // Any bytes-like object (buffer protocol): `memoryview` refuses an int or a
                // list with a `TypeError` (`bytes(5)` would make five zero bytes), and its
                // size is checked before anything is copied.
                let view = py
                    .import("builtins")?
                    .getattr("memoryview")?
                    .call1((item,))?;
                let size: usize = view.getattr("nbytes")?.extract()?;
                if size > self.slot_size {
                    return Err(PyValueError::new_err(format!(
                        "object of {size} bytes does not fit in a slot of {} bytes",
                        self.slot_size
                    )));
                }
                view.call_method0("tobytes")?.extract()?
            };
            if bytes.len() > self.slot_size {
                return Err(PyValueError::new_err(format!(
                    "object of {} bytes does not fit in a slot of {} bytes",
                    bytes.len(),
                    self.slot_size
                )));
            }
            owned.push(bytes);
        }
        let slices: Vec<(u8, &[u8])> = owned.iter().map(|v| (kind::RAW, v.as_slice())).collect();
        let until = deadline(timeout)?;
        let end = self.end.get_mut();
        if let Some(seq) = end.put(&slices, Duration::ZERO).py_err(py)? {
            return Ok(seq);
        }
        // SAFETY: the step works on the Rust handle and Rust buffers only, nothing of Python.
        match unsafe { sliced(py, until, |wait| end.put(&slices, wait)) }? {
            Some(seq) => Ok(seq),
            None => Err(PyTimeoutError::new_err("timed out waiting for free slots")),
        }
    }

    /// Claim `n` slots for in-place writes; returns `(first, last)` sequences. Write them
    /// through the views `seqflow.Ring` makes, then `commit`.
    #[pyo3(signature = (n, timeout = None))]
    fn claim(&mut self, py: Python<'_>, n: usize, timeout: Option<f64>) -> PyResult<(i64, i64)> {
        check_gen(self.generation)?;
        let until = deadline(timeout)?;
        let end = self.end.get_mut();
        if let Some(r) = end.open_claim(n, Duration::ZERO).py_err(py)? {
            return Ok(r);
        }
        // SAFETY: the step works on the Rust handle and Rust buffers only, nothing of Python.
        match unsafe { sliced(py, until, |wait| end.open_claim(n, wait)) }? {
            Some(r) => Ok(r),
            None => Err(PyTimeoutError::new_err(format!(
                "timed out waiting for {n} free slots"
            ))),
        }
    }

    /// Publish the open claim; `lens[i]` is the payload length of its i-th slot (default: the
    /// whole slot).
    #[pyo3(signature = (lens = Vec::new()))]
    fn commit(&mut self, py: Python<'_>, lens: Vec<usize>) -> PyResult<()> {
        check_gen(self.generation)?;
        self.end.lock().close_claim(&lens, kind::RAW).py_err(py)
    }

    /// Whether a claim is open.
    #[getter]
    fn claim_open(&self) -> bool {
        self.end.lock().claim_open()
    }
}

/// A gating consumer handle (low-level).
#[pyclass(module = "seqflow._seqflow")]
pub struct _Consumer {
    end: Mutex<Consumer>,
    generation: u64,
}

#[pymethods]
impl _Consumer {
    /// Wait up to `timeout` seconds (`None`: no limit) until `seq` is available; returns the
    /// highest available sequence (`>= seq`). `TimeoutError` on timeout.
    #[pyo3(signature = (seq, timeout = None))]
    fn wait_for(&mut self, py: Python<'_>, seq: i64, timeout: Option<f64>) -> PyResult<i64> {
        check_gen(self.generation)?;
        let until = deadline(timeout)?;
        let end = self.end.get_mut();
        if let Some(hi) = end.wait_for(seq, Duration::ZERO).py_err(py)? {
            return Ok(hi);
        }
        // SAFETY: the step works on the Rust handle and Rust buffers only, nothing of Python.
        match unsafe { sliced(py, until, |wait| end.wait_for(seq, wait)) }? {
            Some(hi) => Ok(hi),
            None => Err(PyTimeoutError::new_err(format!(
                "sequence {seq} not available in time"
            ))),
        }
    }

    /// A copy of the payload at `seq` (available: waited for and not yet marked processed).
    fn read<'py>(&self, py: Python<'py>, seq: i64) -> PyResult<Bound<'py, PyBytes>> {
        check_gen(self.generation)?;
        let mut out = None;
        if self
            .end
            .lock()
            .read(seq, &mut |_, data| out = Some(PyBytes::new(py, data)))
        {
            out.ok_or_else(|| PyRuntimeError::new_err("slot vanished"))
        } else {
            Err(PyValueError::new_err(format!(
                "sequence {seq} is not available to this consumer (wait_for it first; sequences up to {} are already processed)",
                self.end.lock().sequence()
            )))
        }
    }

    /// The payload length at `seq`, or `None` if `seq` is not available to this consumer.
    fn payload_len(&self, seq: i64) -> Option<usize> {
        let mut len = None;
        self.end
            .lock()
            .read(seq, &mut |_, data| len = Some(data.len()));
        len
    }

    /// Mark everything up to `seq` processed: between the consumer's sequence and what
    /// `wait_for` returned (`ValueError` otherwise).
    fn update_sequence(&mut self, py: Python<'_>, seq: i64) -> PyResult<()> {
        check_gen(self.generation)?;
        self.end.lock().update_sequence(seq).py_err(py)
    }

    /// The last sequence marked processed.
    #[getter]
    fn sequence(&self) -> i64 {
        self.end.lock().sequence()
    }

    /// The consumer's name.
    #[getter]
    fn name(&self) -> String {
        self.end.lock().name()
    }
}

/// A lossy subscriber handle (low-level).
#[pyclass(module = "seqflow._seqflow")]
pub struct _Subscriber {
    end: Mutex<Subscriber>,
    generation: u64,
}

#[pymethods]
impl _Subscriber {
    /// `(seq, payload copy)` of the next event; `seqflow.Lapped` when overwritten events were
    /// skipped (call again to go on), `TimeoutError` on timeout.
    #[pyo3(signature = (timeout = None))]
    fn next<'py>(
        &mut self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<(i64, Bound<'py, PyBytes>)> {
        check_gen(self.generation)?;
        let until = deadline(timeout)?;
        let end = self.end.get_mut();
        let got: Option<(i64, u8, Vec<u8>)> = match end.next(Duration::ZERO).py_err(py)? {
            Some(v) => Some(v),
            // SAFETY: the step works on the Rust handle and Rust buffers only, nothing of Python.
            None => unsafe { sliced(py, until, |wait| end.next(wait)) }?,
        };
        match got {
            Some((seq, _, data)) => Ok((seq, PyBytes::new(py, &data))),
            None => Err(PyTimeoutError::new_err("no event in time")),
        }
    }

    /// The sequence read next.
    #[getter]
    fn next_sequence(&self) -> i64 {
        self.end.lock().next_sequence()
    }
}

/// A pool worker handle (low-level).
#[pyclass(module = "seqflow._seqflow")]
pub struct _Worker {
    end: Mutex<Worker>,
    generation: u64,
}

#[pymethods]
impl _Worker {
    /// Take the pool's next event: `(seq, payload copy)`; `TimeoutError` on timeout.
    #[pyo3(signature = (timeout = None))]
    fn process<'py>(
        &mut self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<(i64, Bound<'py, PyBytes>)> {
        check_gen(self.generation)?;
        let until = deadline(timeout)?;
        let end = self.end.get_mut();
        let mut fast = None;
        end.take(1, Duration::ZERO, &mut |seq, _, data| {
            fast = Some((seq, PyBytes::new(py, data)))
        })
        .py_err(py)?;
        if let Some(v) = fast {
            return Ok(v);
        }
        // SAFETY: the step works on the Rust handle and Rust buffers only, nothing of Python.
        let got = unsafe {
            sliced(py, until, |wait| {
                let mut out: Option<(i64, Vec<u8>)> = None;
                end.take(1, wait, &mut |seq, _, data| {
                    out = Some((seq, data.to_vec()))
                })?;
                Ok(out)
            })
        }?;
        match got {
            Some((seq, data)) => Ok((seq, PyBytes::new(py, &data))),
            None => Err(PyTimeoutError::new_err("no event in time")),
        }
    }

    /// The pool's work cursor.
    #[getter]
    fn work_cursor(&self) -> i64 {
        self.end.lock().work_cursor()
    }
}

/// Unpickling helper: attach to a ring by name.
#[pyfunction]
pub fn _open_ring(py: Python<'_>, name: String) -> PyResult<_Ring> {
    _Ring::open(py, name, 5.0)
}

/// Keep `PyTuple` in scope for signatures above.
#[allow(dead_code)]
fn _unused(_: &Bound<'_, PyTuple>) {}

/// Map a `Fail` outside a method (used by tests of the mapping).
#[allow(dead_code)]
pub(crate) fn fail(py: Python<'_>, f: Fail) -> PyErr {
    f.into_pyerr(py)
}
