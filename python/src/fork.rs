//! Fork awareness: a process-wide generation counter bumped in every forked child.
//!
//! A `Queue` or `Ring` inherited through `fork()` holds the parent's producer slot and consumer
//! registrations. `seqflow-shm` makes those copies inert in the child (their `Drop` checks the
//! pid), but the child must not *use* them: it needs its own. Each handle remembers the
//! generation it was made in and, when the current one differs, drops its inherited handles and
//! takes new ones. The check is one relaxed atomic load on every call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

static GENERATION: AtomicU64 = AtomicU64::new(0);
static REGISTER: Once = Once::new();

extern "C" fn in_child() {
    // Only the forking thread exists in the child; nothing else reads the counter concurrently.
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Register the `pthread_atfork` child handler (once per process; inherited by children).
pub fn install() {
    REGISTER.call_once(|| {
        // SAFETY: `in_child` is an `extern "C" fn()` that only touches an atomic, which is
        // async-signal-safe as `pthread_atfork` child handlers must be.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
        if rc != 0 {
            // Without the handler, `pid` checks below still catch forks.
            PID_FALLBACK.store(true, Ordering::Relaxed);
        }
    });
}

static PID_FALLBACK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The current fork generation (mixed with the pid if the handler could not be installed).
#[inline]
pub fn generation() -> u64 {
    let g = GENERATION.load(Ordering::Relaxed);
    if PID_FALLBACK.load(Ordering::Relaxed) {
        g ^ (u64::from(std::process::id()) << 32)
    } else {
        g
    }
}
