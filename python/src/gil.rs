//! Running Rust work with the GIL released, in a way that survives the interpreter's exit.
//!
//! Before Python 3.14, a thread that takes the GIL back after the interpreter began finalizing
//! (a daemon thread still blocked in `Consumer.wait_for` or `Queue.get` when the main thread
//! returns) is ended with `pthread_exit`: a forced unwind from inside `PyEval_RestoreThread`.
//! Through `Python::allow_threads` that unwind reaches the `catch_unwind` every pyo3 method runs
//! in, which cannot stop it: glibc prints "FATAL: exception not rethrown" and the whole process
//! aborts (exit status 134) although the program itself ended normally.
//!
//! [`released`] takes the GIL back through a `C-unwind` declaration of `PyEval_RestoreThread`
//! with a guard on the stack whose destructor parks the thread for ever: the forced unwind runs
//! that destructor first and goes no further, so the thread hangs — as Python 3.14 does itself
//! — and the process exits when the main thread does. Nothing changes while the interpreter
//! runs normally.

use pyo3::ffi;
use pyo3::Python;

extern "C-unwind" {
    /// `PyEval_RestoreThread`, declared as able to unwind: before Python 3.14 it may end the
    /// calling thread with `pthread_exit` (a forced unwind) when the interpreter is exiting.
    #[link_name = "PyEval_RestoreThread"]
    fn restore_thread_may_exit(tstate: *mut ffi::PyThreadState);
}

/// Parks the thread for ever when dropped: dropped only by the forced unwind that ends a thread
/// taking the GIL back during finalization (the normal path forgets it).
struct HangOnThreadExit;

impl Drop for HangOnThreadExit {
    fn drop(&mut self) {
        loop {
            std::thread::park();
        }
    }
}

/// Take the GIL back on this thread, whose state `PyEval_SaveThread` returned as `tstate`.
///
/// Called as an ordinary function (never from a drop during unwinding, and never inlined into
/// one): a forced unwind starting in a call made from an unwinding path would skip the guard's
/// destructor and abort. The stop relies on the unwinder running the destructors of the frames
/// a forced unwind crosses, which Rust does today on Linux but does not promise.
///
/// # Safety
/// `tstate` is what `PyEval_SaveThread` returned on this thread, and the GIL has not been taken
/// back since.
#[inline(never)]
unsafe fn reacquire(tstate: *mut ffi::PyThreadState) {
    let hang = HangOnThreadExit;
    // SAFETY: the caller's contract. If the interpreter is finalizing, the call unwinds instead
    // of returning; the unwind drops `hang`, which never returns, so the unwind goes no
    // further than this frame.
    unsafe { restore_thread_may_exit(tstate) };
    std::mem::forget(hang);
}

/// Run `work` with the GIL released and take the GIL back afterwards (see the module docs for
/// why not `Python::allow_threads`). A panic in `work` is carried past the GIL's return and
/// then resumed, so the GIL is always taken back on the normal path.
///
/// # Safety
/// `work` must not touch Python at all: no Python object, no `Py<T>` dropped or cloned, no
/// `Python::with_gil`. pyo3 is not told that the GIL is released (its GIL count stays as it
/// was), so a Python operation inside `work` would run without the GIL. The `Send` bounds keep
/// `Python` and `Bound` out; `Py<T>`, which is `Send`, is on the caller.
pub unsafe fn released<T, F>(_py: Python<'_>, work: F) -> T
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    // SAFETY: the `Python` token proves this thread holds the GIL, which `PyEval_SaveThread`
    // requires.
    let tstate = unsafe { ffi::PyEval_SaveThread() };
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
    // SAFETY: `tstate` came from the `PyEval_SaveThread` just above, on this thread, and the
    // GIL is taken back here once, whether `work` returned or panicked.
    unsafe { reacquire(tstate) };
    match out {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
