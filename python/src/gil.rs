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

/// Takes the GIL back when dropped, also when the work panicked.
struct Reacquire(*mut ffi::PyThreadState);

impl Drop for Reacquire {
    fn drop(&mut self) {
        let hang = HangOnThreadExit;
        // SAFETY: `self.0` is the thread state `PyEval_SaveThread` returned on this thread in
        // `released`, whose GIL this thread released and has not taken back since (a
        // `Reacquire` is made once per release and dropped once). If the interpreter is
        // finalizing, the call unwinds instead of returning; the unwind drops `hang` and stops
        // there, so it never reaches a frame that cannot take it.
        unsafe { restore_thread_may_exit(self.0) };
        std::mem::forget(hang);
    }
}

/// Run `work` with the GIL released and take the GIL back afterwards (see the module docs for
/// why not `Python::allow_threads`).
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
    // requires; `Reacquire` takes it back exactly once, when `work` returns or unwinds.
    let reacquire = Reacquire(unsafe { ffi::PyEval_SaveThread() });
    let out = work();
    drop(reacquire);
    out
}
