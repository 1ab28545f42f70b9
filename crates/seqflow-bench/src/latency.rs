//! The ping-pong latency scenario: two rings (or two channels) between two threads; one thread
//! sends a value, the other sends it straight back; the round trip is timed.

use crate::peers::{
    channel, crossbeam::Crossbeam, disruptor_rs, seqflow, std_mpsc::StdMpsc, Implementation,
};
use crate::wait::Wait;
use crate::BenchError;
use serde::Serialize;
use std::time::Duration;

/// Threads the ping-pong scenario uses.
pub const THREADS: usize = 2;

/// Round-trip statistics of one implementation.
///
/// ```
/// use seqflow_bench::latency::LatencyStats;
/// use std::time::Duration;
/// let samples: Vec<Duration> = (1..=100).map(Duration::from_nanos).collect();
/// let s = LatencyStats::from_samples(samples);
/// assert_eq!((s.median_ns, s.p99_ns, s.round_trips), (51, 100, 100));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencyStats {
    /// Round trips measured.
    pub round_trips: u64,
    /// Median round trip, in nanoseconds.
    pub median_ns: u64,
    /// 99th percentile round trip, in nanoseconds.
    pub p99_ns: u64,
}

impl LatencyStats {
    /// Statistics of `samples` (at least one).
    pub fn from_samples(mut samples: Vec<Duration>) -> LatencyStats {
        samples.sort_unstable();
        let n = samples.len().max(1);
        let at = |q: usize| {
            samples
                .get((n * q / 100).min(n - 1))
                .map_or(0, |d| d.as_nanos() as u64)
        };
        LatencyStats {
            round_trips: samples.len() as u64,
            median_ns: at(50),
            p99_ns: at(99),
        }
    }
}

/// Time `round_trips` round trips with `implementation` and return their statistics
/// (`seqflow-lock` has no ping-pong of its own: a ping-pong has one producer per ring).
///
/// ```
/// use seqflow_bench::latency::ping_pong;
/// use seqflow_bench::peers::Implementation;
/// use seqflow_bench::wait::Wait;
/// let s = ping_pong(Implementation::Crossbeam, 100, 64, Wait::Yielding)?;
/// assert_eq!(s.round_trips, 100);
/// assert!(s.median_ns <= s.p99_ns);
/// # Ok::<(), seqflow_bench::BenchError>(())
/// ```
pub fn ping_pong(
    implementation: Implementation,
    round_trips: u64,
    capacity: usize,
    wait: Wait,
) -> Result<LatencyStats, BenchError> {
    Ok(LatencyStats::from_samples(round_trip_times(
        implementation,
        round_trips.max(1),
        capacity,
        wait,
    )?))
}

/// The time of each of `round_trips` round trips with `implementation` (what a criterion bench
/// sums with `iter_custom`).
pub fn round_trip_times(
    implementation: Implementation,
    round_trips: u64,
    capacity: usize,
    wait: Wait,
) -> Result<Vec<Duration>, BenchError> {
    match implementation {
        Implementation::Seqflow | Implementation::SeqflowLock => {
            seqflow::ping_pong(round_trips, capacity, wait)
        }
        Implementation::Disruptor => disruptor_rs::ping_pong(round_trips, capacity, wait),
        Implementation::Crossbeam => channel::ping_pong::<Crossbeam>(round_trips, capacity),
        Implementation::StdMpsc => channel::ping_pong::<StdMpsc>(round_trips, capacity),
    }
}
