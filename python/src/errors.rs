//! [`Fail`]: every error of the binding as an owned, `Send` value (so it can leave a closure run
//! with the GIL released), and its mapping to a Python exception.
//!
//! The Python exception classes live in `seqflow/_errors.py` (so that `Lapped` can carry
//! `missed`/`resume_at` attributes and segment errors can also be `FileNotFoundError` /
//! `FileExistsError`); `queue.Full` / `queue.Empty` are the stdlib's, `TimeoutError` and
//! `ValueError` are builtins. Nothing here panics.

use pyo3::exceptions::{PyRuntimeError, PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyType;
use seqflow_shm::{ClaimError, ConsumeError, ShmError};

/// Why an operation failed.
#[derive(Debug)]
pub enum Fail {
    /// Creating, opening or attaching to a segment.
    Shm(ShmError),
    /// A consumer's wait.
    Consume(ConsumeError),
    /// A producer's claim.
    Claim(ClaimError),
    /// A wrong argument (`ValueError`).
    Value(String),
    /// A segment that is not what was asked for (`SegmentMismatch`): another slot type, or
    /// replaced under its name.
    Mismatch(String),
    /// Misuse of a handle (`RuntimeError`), e.g. publishing while a claim is open.
    State(String),
    /// The end of a stream told in the caller's terms (`seqflow.Closed`): a `Queue`'s, where
    /// the ring's own message would speak of rings and sequences. `end` is the last sequence
    /// for a consumer that reached it, `None` for a producer refused.
    Closed {
        /// The message.
        message: String,
        /// The last sequence of the stream, if a consumer reached it.
        end: Option<i64>,
    },
}

impl From<ShmError> for Fail {
    fn from(e: ShmError) -> Self {
        Self::Shm(e)
    }
}

impl From<ConsumeError> for Fail {
    fn from(e: ConsumeError) -> Self {
        Self::Consume(e)
    }
}

impl From<ClaimError> for Fail {
    fn from(e: ClaimError) -> Self {
        Self::Claim(e)
    }
}

/// `seqflow._errors.<class_name>(*args)`, or a `RuntimeError` if that module cannot be loaded.
fn custom(py: Python<'_>, class_name: &str, args: impl for<'py> IntoPyObject<'py>) -> PyErr {
    let class = py
        .import("seqflow._errors")
        .and_then(|m| m.getattr(class_name))
        .and_then(|c| c.downcast_into::<PyType>().map_err(PyErr::from));
    match class {
        Ok(class) => match class.call1((args,)) {
            Ok(obj) => PyErr::from_value(obj),
            Err(e) => e,
        },
        Err(e) => e,
    }
}

/// Build `seqflow._errors.<class_name>` from its positional arguments.
fn custom_args<'py, A>(py: Python<'py>, class_name: &str, args: A) -> PyErr
where
    A: IntoPyObject<'py, Target = pyo3::types::PyTuple, Output = Bound<'py, pyo3::types::PyTuple>>,
    A::Error: Into<PyErr>,
{
    let made = args.into_pyobject(py).map_err(Into::into).and_then(|args| {
        py.import("seqflow._errors")
            .and_then(|m| m.getattr(class_name))
            .and_then(|c| c.call1(args))
    });
    match made {
        Ok(obj) => PyErr::from_value(obj),
        Err(e) => e,
    }
}

impl Fail {
    /// The Python exception for this failure.
    pub fn into_pyerr(self, py: Python<'_>) -> PyErr {
        match self {
            Fail::Value(msg) => PyValueError::new_err(msg),
            Fail::State(msg) => PyRuntimeError::new_err(msg),
            Fail::Mismatch(msg) => custom(py, "SegmentMismatch", msg),
            Fail::Closed { message, end } => custom_args(py, "Closed", (message, end)),
            Fail::Shm(e) => {
                let msg = e.to_string();
                let class = match &e {
                    ShmError::NotFound { .. } | ShmError::Removed { .. } => "SegmentNotFound",
                    ShmError::AlreadyExists { .. } | ShmError::Stale { .. } => "SegmentExists",
                    ShmError::EventLayoutMismatch { .. }
                    | ShmError::FingerprintMismatch { .. }
                    | ShmError::SlotSizeMismatch { .. }
                    | ShmError::BadMagic { .. }
                    | ShmError::VersionMismatch { .. }
                    | ShmError::HeaderSizeMismatch { .. } => "SegmentMismatch",
                    ShmError::InvalidName { .. }
                    | ShmError::Capacity { .. }
                    | ShmError::InvalidOptions { .. }
                    | ShmError::LabelTooLong { .. }
                    | ShmError::InvalidLabel { .. } => return PyValueError::new_err(msg),
                    ShmError::HaltedEverywhere { .. } => "Halted",
                    _ => "SegmentError",
                };
                custom(py, class, msg)
            }
            Fail::Consume(e) => {
                let msg = e.to_string();
                match e {
                    ConsumeError::Timeout => PyTimeoutError::new_err(msg),
                    ConsumeError::Alerted => custom(py, "Halted", msg),
                    ConsumeError::Lapped { missed, resume_at } => {
                        custom_args(py, "Lapped", (msg, missed, resume_at))
                    }
                    ConsumeError::ProducerDied { pid, seq, claimed } => {
                        let (start, end) =
                            claimed.map_or((None, None), |r| (Some(r.start()), Some(r.end())));
                        custom_args(py, "ProducerDied", (msg, pid, seq, start, end))
                    }
                    ConsumeError::UpstreamGone { .. } => custom(py, "UpstreamGone", msg),
                    ConsumeError::NotAvailable { .. } | ConsumeError::BadUpdate { .. } => {
                        PyValueError::new_err(msg)
                    }
                    ConsumeError::Closed { end } => custom_args(py, "Closed", (msg, end)),
                    _ => custom(py, "SeqflowError", msg),
                }
            }
            Fail::Claim(e) => {
                let msg = e.to_string();
                match e {
                    ClaimError::Timeout { .. } | ClaimError::Full { .. } => {
                        PyTimeoutError::new_err(msg)
                    }
                    ClaimError::Halted => custom(py, "Halted", msg),
                    ClaimError::Closed => custom(py, "Closed", msg),
                    ClaimError::Zero | ClaimError::TooLarge { .. } => PyValueError::new_err(msg),
                    _ => PyRuntimeError::new_err(msg),
                }
            }
        }
    }
}

/// `Result<T, Fail>` to `PyResult<T>`.
pub trait IntoPy<T> {
    /// Map the error to its Python exception.
    fn py_err(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPy<T> for Result<T, Fail> {
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| e.into_pyerr(py))
    }
}
