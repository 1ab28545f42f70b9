//! [`Wait`]: the wait strategy a scenario runs with, and the rule that picks one.

use serde::Serialize;

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
    /// can have a core of its own, yielding otherwise (spinning with more threads than cores
    /// collapses).
    pub fn auto(threads: usize) -> Wait {
        if threads <= available_cores() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_spin_only_with_a_core_per_thread() {
        assert_eq!(Wait::auto(1), Wait::BusySpin);
        assert_eq!(Wait::auto(available_cores() + 1), Wait::Yielding);
    }
}
