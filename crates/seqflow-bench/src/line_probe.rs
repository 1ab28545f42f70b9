//! How long a cache line takes to go from one core to another and back, measured before each
//! round of `seqflow compare`.
//!
//! A ring hands events over through cache lines, so the cost of moving a line between the two
//! threads' cores bounds every one-at-a-time row. On a virtual machine that cost is not fixed:
//! the host may run the virtual CPUs on cores that share a cache one moment and on cores that do
//! not the next, for seconds at a time, and every row moves with it (a 1P-1C one-at-a-time run
//! here measured about 150 M events/s with a 160 ns round trip and 35 M with a 500 ns one).
//! Rates from rounds in different regimes are not comparable, so the comparison records the
//! round trip of each round and says when it varied.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Round trips per timed batch, and batches per probe: about a millisecond in all at this
/// machine's slowest.
const ROUND_TRIPS: u64 = 100;
const BATCHES: usize = 21;

/// A round trip that varies more than this factor between rounds makes [`regime_warning`] warn.
pub const REGIME_FACTOR: f64 = 1.8;

/// One word alone on its cache line (and the next, against adjacent-line prefetch).
#[repr(align(128))]
struct Line(AtomicU64);

/// A cache line's round trip between two threads, in nanoseconds: one thread writes an odd
/// value to a line, the other answers with the next even one. The median of [`BATCHES`]
/// batches of [`ROUND_TRIPS`] round trips, so that the echo thread's start and a migration
/// in the middle (the two threads briefly sharing a CPU) do not count. Both threads spin (two
/// threads: they fit the two cores this tool is written for); with a single CPU they yield, and
/// the probe measures thread switches, which still shows a change of regime.
///
/// ```
/// let ns = seqflow_bench::line_probe::round_trip_ns();
/// assert!(ns > 0.0 && ns.is_finite());
/// ```
pub fn round_trip_ns() -> f64 {
    let spin = crate::wait::available_cores() > 1;
    let total = ROUND_TRIPS * BATCHES as u64;
    let line = Arc::new(Line(AtomicU64::new(0)));
    let echo = {
        let line = Arc::clone(&line);
        std::thread::spawn(move || {
            for i in 0..total {
                let ping = 2 * i + 1;
                while line.0.load(Ordering::Acquire) != ping {
                    spin_or_yield(spin);
                }
                line.0.store(ping + 1, Ordering::Release);
            }
        })
    };
    let mut batches = [0.0; BATCHES];
    for (b, batch) in batches.iter_mut().enumerate() {
        let start = Instant::now();
        for i in 0..ROUND_TRIPS {
            let ping = 2 * (b as u64 * ROUND_TRIPS + i) + 1;
            line.0.store(ping, Ordering::Release);
            while line.0.load(Ordering::Acquire) != ping + 1 {
                spin_or_yield(spin);
            }
        }
        *batch = start.elapsed().as_nanos() as f64 / ROUND_TRIPS as f64;
    }
    echo.join().expect("the probe's echo thread does not panic");
    crate::compare::median(&batches)
}

/// Spin (`spin`: there is more than one CPU), or give the CPU up where there is only one
/// (spinning there would wait for the other thread's time slice).
#[inline]
fn spin_or_yield(spin: bool) {
    if spin {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

/// A warning when the round trips of a run's rounds (`rounds_ns`) differ by more than
/// [`REGIME_FACTOR`]: the rates of its rounds then come from different machines, in effect.
///
/// ```
/// use seqflow_bench::line_probe::regime_warning;
/// assert!(regime_warning(&[160.0, 170.0, 155.0]).is_none());
/// let w = regime_warning(&[160.0, 510.0, 158.0]).unwrap();
/// assert!(w.contains("158") && w.contains("510"), "{w}");
/// ```
pub fn regime_warning(rounds_ns: &[f64]) -> Option<String> {
    let min = rounds_ns.iter().copied().fold(f64::INFINITY, f64::min);
    let max = rounds_ns.iter().copied().fold(0.0, f64::max);
    (min.is_finite() && min > 0.0 && max / min > REGIME_FACTOR).then(|| {
        format!(
            "a cache line's round trip between the two threads' cores varied from {min:.0} to \
             {max:.0} ns between rounds (`rounds_line_round_trip_ns`): the host moved the \
             virtual CPUs, and rates from rounds in different regimes differ several-fold for \
             every implementation. Each ratio pairs rounds run back to back; read the rounds of \
             one regime together, or run again"
        )
    })
}
