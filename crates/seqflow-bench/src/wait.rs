//! [`WaitKind`]: the wait strategy a scenario runs with, and the rule that picks one.

use clap::ValueEnum;
use serde::Serialize;

/// How waiting threads wait (consumers for events, producers for free slots).
///
/// ```
/// use seqflow_cli::wait::WaitKind;
/// assert_eq!(WaitKind::auto(2), WaitKind::BusySpin);
/// assert_eq!(WaitKind::auto(4), WaitKind::Yielding);
/// assert_eq!(WaitKind::Blocking.name(), "blocking");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WaitKind {
    /// Poll in a tight loop: one core per waiting thread.
    BusySpin,
    /// Spin briefly, then yield the CPU between polls.
    Yielding,
    /// Back off, then sleep between polls.
    Sleeping,
    /// Sleep on a condition variable until signalled.
    Blocking,
}

impl WaitKind {
    /// The strategy used when none is asked for: busy-spin only while every thread of the scenario
    /// can have a core of its own, yielding otherwise (spinning with more threads than cores
    /// collapses).
    pub fn auto(threads: usize) -> WaitKind {
        if threads <= available_cores() {
            WaitKind::BusySpin
        } else {
            WaitKind::Yielding
        }
    }

    /// The name shown in tables (the flag value).
    pub fn name(self) -> &'static str {
        match self {
            WaitKind::BusySpin => "busy-spin",
            WaitKind::Yielding => "yielding",
            WaitKind::Sleeping => "sleeping",
            WaitKind::Blocking => "blocking",
        }
    }
}

impl std::fmt::Display for WaitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The number of CPUs this process may run on (at least 1).
///
/// ```
/// assert!(seqflow_cli::wait::available_cores() >= 1);
/// ```
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
