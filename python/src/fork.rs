//! Fork awareness: a `Queue` or `Ring` inherited through `fork()` holds the parent's producer
//! slot and consumer registrations, which `seqflow-shm` refuses to use in the child. Each handle
//! remembers the fork epoch it was made in (`seqflow_shm::fork_epoch`) and, when the current one
//! differs, drops its inherited handles and takes new ones.

/// Make sure forks are counted from now on (the epoch of a handle about to be made).
pub fn install() {
    seqflow_shm::fork_epoch();
}

/// The current fork epoch.
#[inline]
pub fn generation() -> u64 {
    seqflow_shm::fork_epoch()
}
