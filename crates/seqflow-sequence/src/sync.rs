//! The atomics, locks and thread hooks seqflow uses, switched to `loom`'s models under `cfg(loom)`.
//!
//! Every crate of the workspace takes its atomics from here so that the loom models in
//! `seqflow-sequencer/tests/loom_*.rs` explore the real algorithms, not copies of them.
//!
//! ```
//! use seqflow_sequence::sync::atomic::{AtomicI64, Ordering};
//! let a = AtomicI64::new(1);
//! assert_eq!(a.load(Ordering::Relaxed), 1);
//! ```

/// Atomic integer types and orderings (std's, or loom's under `cfg(loom)`).
pub mod atomic {
    #[cfg(loom)]
    pub use loom::sync::atomic::{
        fence, AtomicBool, AtomicI32, AtomicI64, AtomicI8, AtomicU32, AtomicUsize,
    };
    pub use std::sync::atomic::Ordering;
    #[cfg(not(loom))]
    pub use std::sync::atomic::{
        fence, AtomicBool, AtomicI32, AtomicI64, AtomicI8, AtomicU32, AtomicUsize,
    };
}

/// Yield the current thread (std's, or loom's under `cfg(loom)`).
///
/// ```
/// seqflow_sequence::sync::yield_now();
/// ```
#[inline]
pub fn yield_now() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::thread::yield_now();
}

/// A hint that we are spinning; under loom it yields so that models make progress.
///
/// ```
/// seqflow_sequence::sync::spin_loop();
/// ```
#[inline]
pub fn spin_loop() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}
