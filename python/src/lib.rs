//! `seqflow._seqflow`: the native half of the `seqflow` Python package (pyo3, abi3).
//!
//! - `Queue` (`queue.rs`): a `multiprocessing.Queue` drop-in over a shared ring of byte slots.
//! - `_Ring` and its handles (`ring.rs`): the Disruptor model; `seqflow/_ring.py` wraps them.
//! - `handles.rs`: the handles over `ShmRing<DynByteSlot>`, the one ring type (slots: `slot.rs`).
//! - `wait.rs`: every blocking call releases the GIL and checks for signals every 50 ms.
//! - `gil.rs`: releasing the GIL so that a thread still waiting at interpreter exit hangs
//!   quietly instead of aborting the process.
//! - `errors.rs`: typed errors mapped to Python exceptions; nothing panics across the boundary.
//! - `leftovers.rs`: unnamed rings and queues a killed process left behind are removed by
//!   the next process that makes one.
//! - `fork.rs`: handles inherited through `fork()` are replaced (Queue) or refused (Ring handles).
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
// pyo3's `#[pymethods]` expand to code clippy would flag in user code.
#![allow(clippy::useless_conversion)]

mod errors;
mod fork;
mod gil;
mod handles;
mod leftovers;
mod queue;
mod ring;
pub mod slot;
mod wait;

use pyo3::exceptions::{PyOverflowError, PyValueError};
use pyo3::prelude::*;

/// `namespaced(namespace, name)`: the segment name of `name` inside the run namespace
/// `namespace` (`/<namespace>:<name>`), so that runs using the same queue names never collide;
/// `ValueError` for a namespace that is not 1 to 64 of `[A-Za-z0-9_.-]` or a bad name.
#[pyfunction]
fn namespaced(py: Python<'_>, namespace: &str, name: &str) -> PyResult<String> {
    use errors::IntoPy as _;
    seqflow_shm::SegmentName::namespaced(namespace, name)
        .map(|n| n.to_string())
        .map_err(errors::Fail::from)
        .py_err(py)
}

/// Remove the unnamed rings and queues that killed processes left in /dev/shm (once per
/// process; see `leftovers.rs`). `Ring()` without a name calls it.
#[pyfunction]
fn _reap_leftovers() {
    leftovers::reap_once();
}

/// Set by [`_at_exit`]: the interpreter is exiting.
static EXITING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the interpreter is exiting (its `atexit` hooks ran): a thread parked at exit may
/// then hold a queue's side for good, so waits for one give up instead of hanging the exit.
/// (`sys.is_finalizing()` cannot be asked reliably from a finalizer: `sys` may be gone.)
pub(crate) fn exiting() -> bool {
    EXITING.load(std::sync::atomic::Ordering::Relaxed)
}

/// What `seqflow` does at interpreter exit (`atexit`): put back the items queues hold after a
/// failed `get_many`, mark the exit, and remove the names of this process's unnamed rings and
/// queues still alive (see `leftovers.rs`).
#[pyfunction]
fn _at_exit(py: Python<'_>) {
    // Before the exit is marked: handing back may wait for room (a bounded wait).
    queue::hand_back_at_exit(py);
    EXITING.store(true, std::sync::atomic::Ordering::Relaxed);
    leftovers::release_at_exit();
}

/// Put back the items this process's queues hold after a failed `get_many` (see
/// `docs/python.md`): run at the end of a `multiprocessing` child started by fork, which ends
/// with `os._exit` and so skips `atexit`.
#[pyfunction]
fn _hand_back_held(py: Python<'_>) {
    queue::hand_back_at_exit(py);
}

/// The full segment name for an optional `namespace`.
pub(crate) fn full_name(py: Python<'_>, namespace: Option<&str>, name: &str) -> PyResult<String> {
    match namespace {
        Some(ns) => namespaced(py, ns, name),
        None => Ok(name.to_owned()),
    }
}

/// A `slot_size` argument: payload bytes per slot, 1 to [`slot::MAX_SLOT_SIZE`], rounded up to a
/// multiple of 8 (`slot::slot_size_for`); `ValueError` for anything else, however large the int.
pub(crate) struct SlotSize(pub usize);

impl<'py> FromPyObject<'py> for SlotSize {
    fn extract_bound(ob: &Bound<'py, PyAny>) -> PyResult<Self> {
        let requested = match ob.extract::<i64>() {
            Ok(n) => n,
            // An int beyond 64 bits: far outside the range either way.
            Err(e) if e.is_instance_of::<PyOverflowError>(ob.py()) => {
                return Err(PyValueError::new_err(if ob.lt(0)? {
                    format!("slot_size must be at least 1 byte, not {ob}")
                } else {
                    format!(
                        "slot_size {ob} is larger than the largest slot ({} bytes)",
                        slot::MAX_SLOT_SIZE
                    )
                }));
            }
            Err(e) => return Err(e),
        };
        slot::slot_size_for(requested)
            .map(SlotSize)
            .map_err(PyValueError::new_err)
    }
}

/// The extension module.
#[pymodule]
fn _seqflow(m: &Bound<'_, PyModule>) -> PyResult<()> {
    fork::install();
    m.add_class::<queue::Queue>()?;
    m.add_class::<ring::_Ring>()?;
    m.add_class::<ring::_Producer>()?;
    m.add_class::<ring::_Consumer>()?;
    m.add_class::<ring::_Subscriber>()?;
    m.add_class::<ring::_Worker>()?;
    m.add_function(wrap_pyfunction!(namespaced, m)?)?;
    m.add_function(wrap_pyfunction!(queue::_open_queue, m)?)?;
    m.add_function(wrap_pyfunction!(ring::_open_ring, m)?)?;
    m.add_function(wrap_pyfunction!(_reap_leftovers, m)?)?;
    m.add_function(wrap_pyfunction!(_at_exit, m)?)?;
    m.add_function(wrap_pyfunction!(_hand_back_held, m)?)?;
    m.add("MAX_SLOT_SIZE", slot::MAX_SLOT_SIZE)?;
    m.add("DECLARED_POOLS", handles::DECLARED_POOLS)?;
    m.add("QUEUE_POOL", handles::QUEUE_POOL)?;
    Ok(())
}
