//! Pinning a stage's thread to one core (Linux: `sched_setaffinity` through `rustix`).

/// Whether `core` can be pinned to here: `Err(reason)` if not.
pub(crate) fn check_core(core: usize) -> Result<(), String> {
    imp::check_core(core)
}

/// Pin the calling thread to `core`.
pub(crate) fn pin_current_thread(core: usize) -> Result<(), String> {
    imp::pin(core)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod imp {
    use rustix::thread::{sched_getaffinity, sched_setaffinity, CpuSet};

    pub fn check_core(core: usize) -> Result<(), String> {
        if core >= CpuSet::MAX_CPU {
            return Err(format!("core ids go up to {}", CpuSet::MAX_CPU - 1));
        }
        let allowed = sched_getaffinity(None).map_err(|e| e.to_string())?;
        if allowed.is_set(core) {
            Ok(())
        } else {
            Err("the process may not run on that core".to_owned())
        }
    }

    pub fn pin(core: usize) -> Result<(), String> {
        check_core(core)?;
        let mut set = CpuSet::new();
        set.set(core);
        sched_setaffinity(None, &set).map_err(|e| e.to_string())
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod imp {
    pub fn check_core(_core: usize) -> Result<(), String> {
        Err("pinning threads is supported on Linux only".to_owned())
    }

    pub fn pin(core: usize) -> Result<(), String> {
        check_core(core)
    }
}
