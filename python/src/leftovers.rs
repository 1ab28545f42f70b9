//! Unnamed rings and queues that a killed process left in /dev/shm.
//!
//! A `Ring()` or `Queue()` made without a name gets a generated one (`seqflow-py-<pid>-…` for
//! queues, `seqflow-py-ring-<pid>-…` for rings) and is unlinked when its creator closes it or
//! exits; a creator killed with SIGKILL cannot, and its segment stays. The first unnamed ring or
//! queue a process makes removes such leftovers: a generated name whose creator pid is no
//! longer running, on a segment no process is attached to (`seqflow_shm::remove_if_stale`
//! checks the attachment locks, so a ring still used by the dead creator's children stays).

use parking_lot::Mutex;
use seqflow_shm::UnlinkGuard;
use std::path::Path;
use std::sync::{Arc, Once, Weak};

/// How every generated name starts (reserved: a named ring should not use it).
const PREFIX: &str = "seqflow-py-";

/// `ValueError` for a name a user chose that looks generated: such a segment would be removed
/// as a leftover by the next process that makes an unnamed ring or queue once its creator has
/// exited, items and all.
pub fn refuse_reserved(name: &str, what: &str) -> pyo3::PyResult<()> {
    if name.trim_start_matches('/').starts_with(PREFIX) {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "{what} names starting with '{PREFIX}' are reserved for generated names (whose \
             segments are removed once their creator has exited): choose another name"
        )));
    }
    Ok(())
}

/// The creator-side name guard of a ring or queue: taken (and dropped: the name goes) by
/// `close`, by garbage collection, or at interpreter exit.
pub type NameGuard = Arc<Mutex<Option<UnlinkGuard>>>;

/// The name guards of this process's unnamed rings and queues, for [`release_at_exit`].
static UNNAMED: Mutex<Vec<Weak<Mutex<Option<UnlinkGuard>>>>> = Mutex::new(Vec::new());

/// A name guard; an unnamed ring's (`Some`) is also dropped at interpreter exit.
pub fn name_guard(guard: Option<UnlinkGuard>) -> NameGuard {
    let unnamed = guard.is_some();
    let guard = Arc::new(Mutex::new(guard));
    if unnamed {
        let mut all = UNNAMED.lock();
        all.retain(|g| g.strong_count() > 0);
        all.push(Arc::downgrade(&guard));
    }
    guard
}

/// Remove the names of this process's unnamed rings and queues still alive (run at interpreter
/// exit): an object the interpreter does not collect at exit — one a daemon thread still
/// holds — would otherwise leave its segment behind. Only the names go; attached handles keep
/// working until the process ends. A guard is a no-op in a forked child (it checks the pid).
pub fn release_at_exit() {
    let guards: Vec<_> = UNNAMED.lock().drain(..).collect();
    for guard in guards.iter().filter_map(Weak::upgrade) {
        drop(guard.lock().take());
    }
}

/// Remove the leftovers, once per process (later calls do nothing).
pub fn reap_once() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        reap();
    });
}

/// Remove every stale leftover now; returns how many.
fn reap() -> usize {
    let Ok(entries) = std::fs::read_dir("/dev/shm") else {
        return 0;
    };
    let me = std::process::id();
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str().map(str::to_owned))
        .filter(|file| {
            creator_pid(file)
                .is_some_and(|pid| pid != me && !Path::new(&format!("/proc/{pid}")).exists())
        })
        .filter(|file| matches!(seqflow_shm::remove_if_stale(&format!("/{file}")), Ok(true)))
        .count()
}

/// The creator pid in a generated name, `None` for any other name.
fn creator_pid(file: &str) -> Option<u32> {
    let rest = file.strip_prefix(PREFIX)?;
    let rest = rest.strip_prefix("ring-").unwrap_or(rest);
    rest.split('-').next()?.parse().ok()
}
