//! [`Wait`]: the wait strategy a scenario runs with, and the rule that picks one.

use serde::Serialize;
use std::sync::OnceLock;
use std::time::Duration;

/// How waiting threads wait (consumers for events, producers for free slots).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Wait {
    /// Poll in a tight loop: one core per waiting thread.
    BusySpin,
    /// Spin briefly, then yield the CPU between polls.
    Yielding,
    /// Back off, then sleep between polls.
    Sleeping,
    /// Sleep on a condition variable until signalled.
    Blocking,
}

impl Wait {
    /// The strategy used when none is asked for: busy-spin only while every thread of the scenario
    /// can have a core of its own ([`idle_cores`]: the CPUs other processes left idle when the
    /// first scenario was set up), yielding otherwise (spinning with more threads than free
    /// cores collapses: a spinning thread and the thread it waits for take turns on one CPU).
    pub fn auto(threads: usize) -> Wait {
        if threads <= idle_cores() {
            Wait::BusySpin
        } else {
            Wait::Yielding
        }
    }

    /// The name shown in tables (the flag value).
    pub fn name(self) -> &'static str {
        match self {
            Wait::BusySpin => "busy-spin",
            Wait::Yielding => "yielding",
            Wait::Sleeping => "sleeping",
            Wait::Blocking => "blocking",
        }
    }
}

impl std::fmt::Display for Wait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The number of CPUs this process may run on (at least 1).
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The CPUs this process may run on minus those other processes kept busy (rounded), sampled
/// over 200 ms the first time it is asked and the same for the rest of the process; at least 1.
pub fn idle_cores() -> usize {
    static IDLE: OnceLock<usize> = OnceLock::new();
    *IDLE.get_or_init(|| {
        let other = crate::load::other_busy_cores(Duration::from_millis(200)).unwrap_or(0.0);
        let busy = other.round().max(0.0) as usize;
        available_cores().saturating_sub(busy).max(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_spin_only_with_a_core_per_thread() {
        assert_eq!(Wait::auto(1), Wait::BusySpin); // at least one core is always counted idle
        assert_eq!(Wait::auto(available_cores() + 1), Wait::Yielding);
    }
}
