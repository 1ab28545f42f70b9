//! Whether other processes competed for the CPUs while a benchmark ran.
//!
//! A throughput ratio is only worth reading when the implementations it compares had the CPUs to
//! themselves: a 2-thread busy-spin run on a 2-CPU machine loses whole timeslices to any other
//! runnable task. [`LoadMonitor`] samples the machine when a benchmark starts and when it ends:
//!
//! - the load averages and the runnable task count of `/proc/loadavg`;
//! - the machine's CPU time (`/proc/stat`: busy, idle, steal) and this process's own CPU time,
//!   its reaped child processes included (`/proc/self/stat`), so that the CPU time *other*
//!   processes used during the run is known, in cores.
//!
//! [`assess`] turns the samples into warnings with a stated rule (see its documentation); the
//! rule is also described in `docs/benchmarks.md`. Off Linux (no `/proc`) the samples are
//! missing and no warning is raised.

use serde::Serialize;

/// The first line of `/proc/loadavg`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LoadAverage {
    /// The 1-minute load average (runnable and uninterruptible tasks, exponentially averaged).
    pub one: f64,
    /// The 5-minute load average.
    pub five: f64,
    /// The 15-minute load average.
    pub fifteen: f64,
    /// Tasks runnable at the moment of the sample (the reading thread included).
    pub runnable: u32,
    /// Tasks in all.
    pub tasks: u32,
}

/// Parse `/proc/loadavg` (`"0.52 0.58 0.59 2/467 12345"`).
///
/// ```
/// use seqflow_bench::load::parse_loadavg;
/// let l = parse_loadavg("2.32 2.39 2.09 3/120 18818\n").unwrap();
/// assert_eq!((l.one, l.runnable, l.tasks), (2.32, 3, 120));
/// assert!(parse_loadavg("garbage").is_none());
/// ```
pub fn parse_loadavg(text: &str) -> Option<LoadAverage> {
    let mut fields = text.split_whitespace();
    let one = fields.next()?.parse().ok()?;
    let five = fields.next()?.parse().ok()?;
    let fifteen = fields.next()?.parse().ok()?;
    let (runnable, tasks) = fields.next()?.split_once('/')?;
    Some(LoadAverage {
        one,
        five,
        fifteen,
        runnable: runnable.parse().ok()?,
        tasks: tasks.parse().ok()?,
    })
}

/// CPU time of the whole machine and of this process, in clock ticks (one unit for both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTimes {
    /// Ticks every CPU spent running anything (user, nice, system, irq, softirq).
    pub busy: u64,
    /// Ticks the hypervisor gave this machine's virtual CPUs to someone else.
    pub steal: u64,
    /// All ticks of every CPU (busy, idle, iowait and steal).
    pub total: u64,
    /// Ticks this process (all its threads) and its reaped children ran.
    pub own: u64,
}

/// Parse the aggregate `cpu` line of `/proc/stat` into `(busy, steal, total)`.
///
/// ```
/// use seqflow_bench::load::parse_proc_stat;
/// let (busy, steal, total) = parse_proc_stat("cpu  100 5 40 800 10 1 2 7 0 0\ncpu0 1 2").unwrap();
/// assert_eq!((busy, steal, total), (148, 7, 965));
/// ```
pub fn parse_proc_stat(text: &str) -> Option<(u64, u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal (guest time is already counted in user).
    let busy = at(0) + at(1) + at(2) + at(5) + at(6);
    let steal = at(7);
    let total = busy + at(3) + at(4) + steal;
    (v.len() >= 4).then_some((busy, steal, total))
}

/// Parse `/proc/self/stat` into the ticks this process and its reaped children ran
/// (utime + stime + cutime + cstime).
///
/// ```
/// use seqflow_bench::load::parse_self_stat;
/// let line = "42 (seq flow) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 20 0 1";
/// assert_eq!(parse_self_stat(line), Some(11 + 12 + 13 + 14));
/// ```
pub fn parse_self_stat(text: &str) -> Option<u64> {
    // The command name is in parentheses and may hold spaces: count fields after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ')' come field 3 (state) onwards; utime, stime, cutime, cstime are fields 14-17.
    let tick = |i: usize| f.get(i)?.parse::<u64>().ok();
    Some(tick(11)? + tick(12)? + tick(13)? + tick(14)?)
}

/// How many CPUs other processes keep busy now, on average over `window` (this process's own
/// CPU time left out); `None` where `/proc` cannot be read.
///
/// ```
/// let other = seqflow_bench::load::other_busy_cores(std::time::Duration::from_millis(20));
/// assert!(other.map_or(true, |cores| cores >= 0.0));
/// ```
pub fn other_busy_cores(window: std::time::Duration) -> Option<f64> {
    let a = read_cpu()?;
    std::thread::sleep(window);
    let b = read_cpu()?;
    let cpus = crate::wait::available_cores() as f64;
    let per_cpu = b.total.saturating_sub(a.total) as f64 / cpus;
    if per_cpu <= 0.0 {
        return None;
    }
    let other = b
        .busy
        .saturating_sub(a.busy)
        .saturating_sub(b.own.saturating_sub(a.own));
    Some(other as f64 / per_cpu)
}

fn read_load() -> Option<LoadAverage> {
    parse_loadavg(&std::fs::read_to_string("/proc/loadavg").ok()?)
}

fn read_cpu() -> Option<CpuTimes> {
    let (busy, steal, total) = parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)?;
    let own = parse_self_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
    Some(CpuTimes {
        busy,
        steal,
        total,
        own,
    })
}

/// What was seen of the machine during a benchmark, and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadReport {
    /// CPUs this process may use.
    pub cpus: usize,
    /// The most threads the benchmark itself ran at once.
    pub run_threads: usize,
    /// `/proc/loadavg` before the benchmark.
    pub load_start: Option<LoadAverage>,
    /// `/proc/loadavg` after it.
    pub load_end: Option<LoadAverage>,
    /// CPU time other processes used during the benchmark, in cores on average (machine busy
    /// time minus this process's own, divided by the elapsed time).
    pub other_cpu_cores: Option<f64>,
    /// Share of the machine's CPU time stolen by the hypervisor during the benchmark.
    pub steal_share: Option<f64>,
    /// Whether any rule of [`assess`] fired: the numbers of this run may be off.
    pub competing: bool,
    /// One sentence per rule that fired.
    pub warnings: Vec<String>,
}

/// Samples taken when a benchmark starts; [`finish`](Self::finish) samples again and judges.
///
/// ```
/// use seqflow_bench::load::LoadMonitor;
/// let monitor = LoadMonitor::start(2);
/// let report = monitor.finish();
/// assert_eq!(report.run_threads, 2);
/// assert_eq!(report.competing, !report.warnings.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct LoadMonitor {
    run_threads: usize,
    load: Option<LoadAverage>,
    cpu: Option<CpuTimes>,
}

impl LoadMonitor {
    /// Sample now, for a benchmark that runs at most `run_threads` threads at once.
    pub fn start(run_threads: usize) -> LoadMonitor {
        LoadMonitor {
            run_threads,
            load: read_load(),
            cpu: read_cpu(),
        }
    }

    /// The load average sampled at the start, if there is one.
    pub fn load_start(&self) -> Option<LoadAverage> {
        self.load
    }

    /// Sample again and judge the interval since [`start`](Self::start).
    pub fn finish(self) -> LoadReport {
        assess(
            crate::wait::available_cores(),
            self.run_threads,
            self.load,
            read_load(),
            self.cpu,
            read_cpu(),
        )
    }
}

/// The share of stolen CPU time above which a run is flagged.
pub const STEAL_LIMIT: f64 = 0.05;

/// Judge the samples of a benchmark that used at most `run_threads` threads on `cpus` CPUs.
///
/// `spare` is the CPUs the benchmark leaves idle (`cpus - run_threads`, at least 0). The run is
/// flagged as competing when any of these holds:
///
/// 1. the 1-minute load average at the start is above `spare + 0.5`: before the run, other
///    tasks kept more than the spare CPUs (and half of one more) busy;
/// 2. the 1-minute load average at the end is above `spare + 0.5 + run_threads`: the run's own
///    threads account for at most `run_threads` of it;
/// 3. other processes used more than `spare + 0.25` cores on average during the run (measured
///    from CPU time, so it does not lag as the load average does);
/// 4. more than [`STEAL_LIMIT`] of the CPU time was stolen by the hypervisor.
///
/// The load average trails what happened in the last minutes (a build just before the run
/// keeps it high for a while), so when the CPU times were measured and show no competition
/// (3 and 4 do not hold), 1 and 2 are not counted: the run had the CPUs to itself.
///
/// ```
/// use seqflow_bench::load::{assess, CpuTimes, LoadAverage};
/// let load = |one| Some(LoadAverage { one, five: one, fifteen: one, runnable: 1, tasks: 100 });
/// let cpu = |busy, own, total| Some(CpuTimes { busy, steal: 0, total, own });
/// // Idle machine: this process ran 190 of 200 busy ticks out of 200 total (2 CPUs, 100 each).
/// let quiet = assess(2, 2, load(0.1), load(1.9), cpu(0, 0, 0), cpu(200, 190, 200));
/// assert!(!quiet.competing, "{:?}", quiet.warnings);
/// // Another process kept one CPU busy.
/// let busy = assess(2, 2, load(1.2), load(3.0), cpu(0, 0, 0), cpu(200, 100, 200));
/// assert!(busy.competing);
/// assert_eq!(busy.warnings.len(), 3);
/// // A build just finished: the load average is still high, but nobody else ran meanwhile.
/// let after_build = assess(2, 2, load(3.5), load(2.8), cpu(0, 0, 0), cpu(200, 195, 200));
/// assert!(!after_build.competing, "{:?}", after_build.warnings);
/// ```
pub fn assess(
    cpus: usize,
    run_threads: usize,
    load_start: Option<LoadAverage>,
    load_end: Option<LoadAverage>,
    cpu_start: Option<CpuTimes>,
    cpu_end: Option<CpuTimes>,
) -> LoadReport {
    let spare = cpus.saturating_sub(run_threads) as f64;
    let mut warnings = Vec::new();
    let mut load_warnings: Vec<String> = Vec::new();
    if let Some(l) = load_start {
        let limit = spare + 0.5;
        if l.one > limit {
            load_warnings.push(format!(
                "1-minute load average {:.2} at the start is above {limit:.2} (the {spare} CPU(s) \
                 the run leaves idle, plus 0.5): other tasks were already using the CPUs",
                l.one
            ));
        }
    }
    if let Some(l) = load_end {
        let limit = spare + 0.5 + run_threads as f64;
        if l.one > limit {
            load_warnings.push(format!(
                "1-minute load average {:.2} at the end is above {limit:.2} (the run's own {} \
                 thread(s) included): other tasks competed for the CPUs",
                l.one, run_threads
            ));
        }
    }
    let (mut other_cpu_cores, mut steal_share) = (None, None);
    if let (Some(a), Some(b)) = (cpu_start, cpu_end) {
        let total = b.total.saturating_sub(a.total);
        if total > 0 {
            let per_cpu = total as f64 / cpus.max(1) as f64;
            let busy = b.busy.saturating_sub(a.busy);
            let own = b.own.saturating_sub(a.own);
            let other = busy.saturating_sub(own) as f64 / per_cpu;
            let steal = b.steal.saturating_sub(a.steal) as f64 / total as f64;
            if other > spare + 0.25 {
                warnings.push(format!(
                    "other processes used {other:.2} CPU(s) on average during the run (more \
                     than {:.2}): the numbers are not those of an idle machine",
                    spare + 0.25
                ));
            }
            if steal > STEAL_LIMIT {
                warnings.push(format!(
                    "the hypervisor stole {:.1}% of the CPU time during the run",
                    steal * 100.0
                ));
            }
            other_cpu_cores = Some(other);
            steal_share = Some(steal);
        }
    }
    // CPU times measured and quiet: the load average only remembers earlier work.
    let quiet_cpu_times = other_cpu_cores.is_some() && warnings.is_empty();
    if !quiet_cpu_times {
        warnings.splice(0..0, load_warnings);
    }
    LoadReport {
        cpus,
        run_threads,
        load_start,
        load_end,
        other_cpu_cores,
        steal_share,
        competing: !warnings.is_empty(),
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_samples_raise_no_warning() {
        let r = assess(2, 4, None, None, None, None);
        assert!(!r.competing);
        assert!(r.other_cpu_cores.is_none());
    }

    #[test]
    fn steal_is_flagged() {
        let cpu = |busy, steal, total| {
            Some(CpuTimes {
                busy,
                steal,
                total,
                own: busy,
            })
        };
        let r = assess(2, 2, None, None, cpu(0, 0, 0), cpu(180, 20, 200));
        assert!(r.competing);
        assert!(r.warnings[0].contains("stole"), "{:?}", r.warnings);
        assert_eq!(r.steal_share, Some(0.1));
    }

    #[test]
    fn this_machine_can_be_sampled() {
        let r = LoadMonitor::start(1).finish();
        if std::path::Path::new("/proc/loadavg").exists() {
            assert!(r.load_start.is_some() && r.load_end.is_some());
        }
    }
}
