//! Blocking without holding the GIL, interruptible by Ctrl-C.
//!
//! Every blocking call of the package waits in slices of at most [`SLICE`] with the GIL released
//! ([`crate::gil::released`], which also survives the interpreter's exit), and between slices calls `Python::check_signals`, which runs the
//! Python signal handlers: SIGINT raises `KeyboardInterrupt` out of the wait within one slice
//! (50 ms, well under the 100 ms promised). The Rust waits underneath (futex, liveness checks)
//! all take a timeout, so a slice never overruns by more than a liveness check.

use crate::errors::Fail;
use pyo3::prelude::*;
use std::time::{Duration, Instant};

/// The longest the GIL is released in one go, and the longest between two signal checks.
pub const SLICE: Duration = Duration::from_millis(50);

/// The deadline for a Python timeout in seconds (`None`: no limit). Negative or NaN timeouts are
/// a `ValueError`, like the stdlib's `queue`.
pub fn deadline(timeout: Option<f64>) -> PyResult<Option<Instant>> {
    match timeout {
        None => Ok(None),
        Some(t) if t.is_nan() || t < 0.0 => Err(pyo3::exceptions::PyValueError::new_err(
            "'timeout' must be a non-negative number",
        )),
        Some(t) => Ok(Duration::try_from_secs_f64(t)
            .ok()
            .and_then(|d| Instant::now().checked_add(d))),
    }
}

/// Run `step(slice)` with the GIL released until it returns `Some`, an error, or `deadline`
/// passes (`Ok(None)`), checking for signals between slices. `step` gets the length of the slice
/// to wait (never more than [`SLICE`], zero once the deadline has passed: the last attempt).
///
/// # Safety
/// As [`crate::gil::released`]: `step` runs without the GIL and must not touch Python.
pub unsafe fn sliced<T: Send>(
    py: Python<'_>,
    deadline: Option<Instant>,
    mut step: impl FnMut(Duration) -> Result<Option<T>, Fail> + Send,
) -> PyResult<Option<T>> {
    loop {
        let slice = match deadline {
            None => SLICE,
            Some(d) => d.saturating_duration_since(Instant::now()).min(SLICE),
        };
        let last = slice.is_zero();
        // SAFETY: the caller's contract: `step` does not touch Python.
        match unsafe { crate::gil::released(py, || step(slice)) } {
            Ok(Some(v)) => return Ok(Some(v)),
            Ok(None) if last => return Ok(None),
            Ok(None) => {}
            Err(e) => return Err(e.into_pyerr(py)),
        }
        py.check_signals()?;
    }
}
