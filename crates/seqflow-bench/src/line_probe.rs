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
use std::time::{Duration, Instant};

/// Round trips per timed batch, and batches per probe: about a millisecond in all at this
/// machine's slowest.
const ROUND_TRIPS: u64 = 100;
const BATCHES: usize = 21;

/// The most a probe may take: where the two threads must share a CPU (another process holds
/// the other one), each round trip costs a time slice, and the probe stops at what it has.
const BUDGET: Duration = Duration::from_millis(20);

/// Spins on the line before each yield of the CPU: several round trips between two running
/// threads, far less than a time slice.
const SPINS_BEFORE_YIELD: u32 = 200;

/// Round trips before the timed batches (at most [`WARM_UP`] of them): a new thread may start
/// on its creator's CPU and be moved to the idle one only a little later.
const WARM_UP_ROUND_TRIPS: u64 = 2_000;
const WARM_UP: Duration = Duration::from_millis(5);

/// Written to the line to end the echo thread.
const STOP: u64 = u64::MAX;

/// Two round trips further apart than this factor (with no probe between them) lie in different
/// regimes: [`fast_regime_limit`], [`regime_warning`].
pub const REGIME_FACTOR: f64 = 1.8;

/// One word alone on its cache line (and the next, against adjacent-line prefetch).
#[repr(align(128))]
struct Line(AtomicU64);

/// A cache line's round trip between two threads, in nanoseconds: one thread writes an odd
/// value to a line, the other answers with the next even one. The median of 21
/// batches of 100 round trips, so that the echo thread's start and a migration
/// in the middle do not count, after a warm-up of a few milliseconds at most. The two threads
/// are new ones, pinned to the first two CPUs the process may use. They spin, and
/// yield the CPU now and then, so two threads on one CPU still make progress; a probe that
/// runs past 20 ms ends with the batches it finished (or the one it was in).
///
/// ```
/// let ns = seqflow_bench::line_probe::round_trip_ns();
/// assert!(ns > 0.0 && ns.is_finite());
/// ```
pub fn round_trip_ns() -> f64 {
    let cpus = allowed_cpus();
    let line = Arc::new(Line(AtomicU64::new(0)));
    let echo = {
        let line = Arc::clone(&line);
        let cpu = cpus.get(1).copied();
        std::thread::spawn(move || {
            pin(cpu);
            let mut answered = 0;
            loop {
                let seen = wait_while(&line, |v| v == answered);
                if seen == STOP {
                    return;
                }
                answered = seen + 1;
                line.0.store(answered, Ordering::Release);
            }
        })
    };
    // The timing thread is a new one too, so that pinning it leaves the caller's CPUs alone.
    let timer = {
        let line = Arc::clone(&line);
        let cpu = cpus.first().copied();
        std::thread::spawn(move || {
            pin(cpu);
            let median = time_round_trips(&line);
            line.0.store(STOP, Ordering::Release);
            median
        })
    };
    let median = timer
        .join()
        .expect("the probe's timing thread does not panic");
    echo.join().expect("the probe's echo thread does not panic");
    median
}

/// The timing side of [`round_trip_ns`]: the warm-up, then the batches within the budget.
fn time_round_trips(line: &Line) -> f64 {
    let mut ping = 1;
    let warm_up_end = Instant::now() + WARM_UP;
    for _ in 0..WARM_UP_ROUND_TRIPS {
        line.0.store(ping, Ordering::Release);
        wait_while(line, |v| v == ping);
        ping += 2;
        if Instant::now() > warm_up_end {
            break;
        }
    }
    let deadline = Instant::now() + BUDGET;
    let mut batches = Vec::with_capacity(BATCHES);
    'probe: for _ in 0..BATCHES {
        let start = Instant::now();
        for done in 1..=ROUND_TRIPS {
            line.0.store(ping, Ordering::Release);
            wait_while(line, |v| v == ping);
            ping += 2;
            if Instant::now() > deadline {
                let elapsed = start.elapsed().as_nanos() as f64;
                batches.push(elapsed / done as f64);
                break 'probe;
            }
        }
        batches.push(start.elapsed().as_nanos() as f64 / ROUND_TRIPS as f64);
    }
    crate::compare::median(&batches)
}

/// The CPUs this process may run on (empty where that cannot be read).
#[cfg(target_os = "linux")]
fn allowed_cpus() -> Vec<usize> {
    use rustix::thread::{sched_getaffinity, CpuSet};
    sched_getaffinity(None)
        .map(|set| (0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect())
        .unwrap_or_default()
}

#[cfg(not(target_os = "linux"))]
fn allowed_cpus() -> Vec<usize> {
    Vec::new()
}

/// Pin the calling thread to `cpu` (if any): two probe threads left to the scheduler sometimes
/// share one CPU for the whole probe (a new thread starts next to its creator), and would time
/// thread switches instead of a line's transfer. Best effort: an unpinned probe still ends.
#[cfg(target_os = "linux")]
fn pin(cpu: Option<usize>) {
    use rustix::thread::{sched_setaffinity, CpuSet};
    if let Some(cpu) = cpu {
        let mut set = CpuSet::new();
        set.set(cpu);
        let _ = sched_setaffinity(None, &set);
    }
}

#[cfg(not(target_os = "linux"))]
fn pin(_cpu: Option<usize>) {}

/// Wait while the line's value satisfies `unchanged`: spin, yielding the CPU every
/// [`SPINS_BEFORE_YIELD`] spins. The value that ended the wait.
#[inline]
fn wait_while(line: &Line, unchanged: impl Fn(u64) -> bool) -> u64 {
    let mut spins = 0;
    loop {
        let v = line.0.load(Ordering::Acquire);
        if !unchanged(v) {
            return v;
        }
        spins += 1;
        if spins == SPINS_BEFORE_YIELD {
            spins = 0;
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// A warning when the round trips measured during a run (`rounds_ns`: before each round and
/// before each scenario) lie in more than one regime ([`regimes_differ`]): the rates of its
/// rounds then come from different machines, in effect.
///
/// ```
/// use seqflow_bench::line_probe::regime_warning;
/// assert!(regime_warning(&[160.0, 170.0, 155.0]).is_none());
/// let w = regime_warning(&[160.0, 510.0, 158.0]).unwrap();
/// assert!(w.contains("158") && w.contains("510"), "{w}");
/// ```
pub fn regime_warning(rounds_ns: &[f64]) -> Option<String> {
    let (min, max) = regimes_differ(rounds_ns)?;
    Some(format!(
        "a cache line's round trip between the two threads' cores varied from {min:.0} to \
             {max:.0} ns during the run (`rounds_line_round_trip_ns`, per round and per \
             scenario): the host moved the virtual CPUs, or another process took one of the \
             cores, and rates from rounds in different regimes differ several-fold for every \
             implementation. Each ratio pairs runs made back to back; rows marked * ran rounds \
             in different regimes; read the rounds of one regime together, or run again"
    ))
}

/// The lowest and highest of `ns` (round trips of one run or one row) when they lie in more
/// than one regime (see [`fast_regime_limit`]); `None` when they lie in one (or there are none).
///
/// ```
/// use seqflow_bench::line_probe::regimes_differ;
/// assert_eq!(regimes_differ(&[120.0, 130.0]), None);
/// assert_eq!(regimes_differ(&[120.0, 330.0, 125.0]), Some((120.0, 330.0)));
/// // A chain of nearby probes is one regime, even when its ends lie far apart.
/// assert_eq!(regimes_differ(&[70.0, 100.0, 130.0]), None);
/// assert_eq!(regimes_differ(&[]), None);
/// ```
pub fn regimes_differ(ns: &[f64]) -> Option<(f64, f64)> {
    let limit = fast_regime_limit(ns.iter().copied())?;
    let min = ns
        .iter()
        .copied()
        .filter(|n| *n > 0.0)
        .fold(f64::INFINITY, f64::min);
    let max = ns.iter().copied().fold(0.0, f64::max);
    (max > limit).then_some((min, max))
}

/// The highest round trip of the fastest regime among `ns`: sorted, the probes from the
/// fastest on, each within [`REGIME_FACTOR`] of the one before (the first gap wider than that
/// starts the next regime). `None` when there is no positive probe.
///
/// A chain rather than a fixed multiple of the fastest: a run's probes spread within a regime,
/// and the host may place the two threads in more than two ways (one run measured 56-107 ns in
/// a few rounds and 112-131 ns in most), so a fixed multiple of one unusually quick probe would
/// cut a regime in two.
///
/// ```
/// use seqflow_bench::line_probe::fast_regime_limit;
/// assert_eq!(fast_regime_limit([330.0, 120.0, 125.0].into_iter()), Some(125.0));
/// assert_eq!(fast_regime_limit([70.0, 125.0, 130.0, 340.0].into_iter()), Some(130.0));
/// assert_eq!(fast_regime_limit([0.0].into_iter()), None);
/// ```
pub fn fast_regime_limit(ns: impl Iterator<Item = f64>) -> Option<f64> {
    let mut sorted: Vec<f64> = ns.filter(|n| *n > 0.0 && n.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let mut limit = *sorted.first()?;
    for n in &sorted[1..] {
        if *n > limit * REGIME_FACTOR {
            break;
        }
        limit = *n;
    }
    Some(limit)
}

/// Whether a row's probes `ns` lie on both sides of `fast_limit` (the whole run's
/// [`fast_regime_limit`]): some of its rounds then ran in the run's fastest regime and some
/// did not, and its medians mix them. Judged against the run, as the ratios by regime are.
///
/// ```
/// use seqflow_bench::line_probe::spans_regimes;
/// assert!(spans_regimes(&[120.0, 330.0], 131.0));
/// assert!(!spans_regimes(&[56.0, 120.0], 131.0), "one regime of the run");
/// assert!(!spans_regimes(&[310.0, 330.0], 131.0), "all outside the fastest");
/// ```
pub fn spans_regimes(ns: &[f64], fast_limit: f64) -> bool {
    ns.iter().any(|n| *n > 0.0 && *n <= fast_limit) && ns.iter().any(|n| *n > fast_limit)
}
