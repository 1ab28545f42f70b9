//! Asymmetric fences for the close handshake between a closer and the producers.
//!
//! A producer records its claim, then reads whether the ring is closing; a closer marks the
//! ring closing, then reads every recorded claim (`RingInner::settle_close`). Each side must see
//! the other's store: either the closer's end covers the claim, or the producer sees the close
//! and refuses the claim. That needs a store-load barrier on both sides (Dekker). A full fence
//! per claim costs the producer a wait for its store buffer to drain — on two cores, while the
//! consumer reads the lines it just wrote, about two thirds of a one-event publish.
//!
//! So the barrier is made asymmetric, as user-space RCU does: a producer whose process is
//! registered for `MEMBARRIER_CMD_GLOBAL_EXPEDITED` only keeps the compiler from reordering the
//! two accesses, and every close runs `membarrier(GLOBAL_EXPEDITED)` between its two, which
//! makes every running thread of every registered process execute a full barrier (a thread not
//! running has passed through a context switch, which is one). A producer whose registration
//! fails keeps the full fence, so a mix of processes is sound. A closer whose `membarrier`
//! fails (a seccomp filter that blocks it in that process only) falls back to
//! `MEMBARRIER_CMD_GLOBAL`, then to a short pause with a warning — best effort, not a
//! guarantee (see [`order_every_producer`]).

use std::sync::atomic::{AtomicU32, Ordering};

use rustix::thread::{membarrier, membarrier_query, MembarrierCommand};

/// The process that registered for `GLOBAL_EXPEDITED` (0: none yet), and the one that found it
/// unavailable. Kept by pid: a forked child inherits these words but must decide for itself
/// (whether the kernel carries the registration over a fork is not something to rely on).
static REGISTERED: AtomicU32 = AtomicU32::new(0);
static UNAVAILABLE: AtomicU32 = AtomicU32::new(0);

/// Whether this process's producers may skip the full fence after recording a claim: the
/// process is registered for `GLOBAL_EXPEDITED` (registered on the first call in each process;
/// a registration is permanent for the process). Called when a producer attaches.
pub(crate) fn producer_fence_is_asymmetric() -> bool {
    let pid = std::process::id();
    if REGISTERED.load(Ordering::Acquire) == pid {
        return true;
    }
    if UNAVAILABLE.load(Ordering::Acquire) == pid {
        return false;
    }
    let query = membarrier_query();
    let registered = query.contains_command(MembarrierCommand::RegisterGlobalExpedited)
        && query.contains_command(MembarrierCommand::GlobalExpedited)
        && membarrier(MembarrierCommand::RegisterGlobalExpedited).is_ok();
    let word = if registered {
        &REGISTERED
    } else {
        &UNAVAILABLE
    };
    word.store(pid, Ordering::Release);
    registered
}

/// The closer's half of the asymmetric barrier: every thread of every registered process
/// passes through a full barrier before this returns. Called after the closer's store and
/// full fence, before its loads.
pub(crate) fn order_every_producer() {
    if membarrier(MembarrierCommand::GlobalExpedited).is_ok()
        || membarrier(MembarrierCommand::Global).is_ok()
    {
        return;
    }
    // `membarrier` is blocked in this process only (it worked where a producer registered).
    // Best effort, not a guarantee: a store buffer drains within microseconds on its own, so
    // wait far longer than that.
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        tracing::warn!(
            "membarrier is unavailable to this process: a close orders registered producers              only by waiting 1 ms (best effort)"
        );
    });
    std::thread::sleep(std::time::Duration::from_millis(1));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_is_remembered_and_the_barrier_returns() {
        let first = producer_fence_is_asymmetric();
        assert_eq!(producer_fence_is_asymmetric(), first);
        order_every_producer();
    }
}
