//! `seqflow compare`: run the selected scenarios for every implementation in one process,
//! alternating implementations within each round, over several rounds; keep the median.

use crate::latency::{self, LatencyStats};
use crate::payload::PayloadKind;
use crate::peers::{self, Implementation, RunConfig};
use crate::scenario::{Publish, Scenario, Selection, Shape};
use crate::wait::{available_cores, Wait};
use crate::BenchError;
use serde::Serialize;
use std::time::Duration;

/// What to compare, and how hard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompareOptions {
    /// The scenarios (and whether to run ping-pong).
    pub selection: Selection,
    /// The implementations; rows exist only where an implementation supports the scenario.
    pub implementations: Vec<Implementation>,
    /// Events per run.
    pub events: u64,
    /// Rounds; the median of rounds is reported.
    pub rounds: usize,
    /// Ring size and channel bound.
    pub capacity: usize,
    /// Events per claim in burst scenarios.
    pub batch: usize,
    /// A wait strategy for every scenario, or `None` for [`Wait::auto`].
    pub wait: Option<Wait>,
    /// Round trips per ping-pong run.
    pub round_trips: u64,
    /// The shortest a timed run should last: an implementation whose calibration run (a quarter
    /// of `events`, not counted) is faster gets proportionally more events per run, so that
    /// scheduler noise does not dominate runs of a few milliseconds. Zero: exactly `events`.
    pub min_run: Duration,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            selection: crate::scenario::select(&[]).expect("the default selection is valid"),
            implementations: Implementation::ALL.to_vec(),
            events: 1_000_000,
            rounds: 3,
            capacity: 4096,
            batch: 100,
            wait: None,
            round_trips: 20_000,
            min_run: Duration::from_millis(50),
        }
    }
}

/// The result of a comparison: what was run, and the numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The knobs.
    pub config: ReportConfig,
    /// One entry per throughput scenario.
    pub throughput: Vec<ScenarioReport>,
    /// One entry per implementation, if ping-pong ran.
    pub latency: Vec<LatencyReport>,
}

/// The knobs of a comparison, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportConfig {
    /// Events requested per run.
    pub events: u64,
    /// Rounds.
    pub rounds: usize,
    /// Ring size and channel bound.
    pub capacity: usize,
    /// Events per claim in burst scenarios.
    pub batch: usize,
    /// Round trips per ping-pong run.
    pub round_trips: u64,
    /// CPUs available to the process.
    pub cpus: usize,
    /// `--wait`, if given.
    pub wait_override: Option<Wait>,
    /// The shortest a timed run should last, in milliseconds (see [`CompareOptions::min_run`]).
    pub min_run_ms: u64,
}

/// One throughput scenario across implementations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioReport {
    /// The scenario name.
    pub scenario: String,
    /// The stage graph.
    pub shape: Shape,
    /// The event type.
    pub payload: PayloadKind,
    /// Burst or one at a time.
    pub publish: Publish,
    /// Producer threads.
    pub producers: usize,
    /// Consumer threads.
    pub consumers: usize,
    /// Threads in all.
    pub threads: usize,
    /// The wait strategy asked for.
    pub wait: Wait,
    /// Events requested per run (rounded to whole batches per producer); fast implementations
    /// may run more, see [`ImplReport::events`].
    pub events: u64,
    /// One entry per implementation.
    pub results: Vec<ImplReport>,
}

impl ScenarioReport {
    /// The result of `implementation`, if it ran.
    pub fn result(&self, implementation: Implementation) -> Option<&ImplReport> {
        self.results
            .iter()
            .find(|r| r.implementation == implementation)
    }
}

/// One implementation in one scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImplReport {
    /// Which.
    pub implementation: Implementation,
    /// How it waited.
    pub wait: String,
    /// Events per timed run (at least the scenario's, more if calibration found runs too short).
    pub events: u64,
    /// Median over the rounds.
    pub median_events_per_sec: f64,
    /// Every round.
    pub rounds_events_per_sec: Vec<f64>,
    /// seqflow's median divided by this one (above 1: seqflow is faster); `None` when seqflow
    /// did not run.
    pub seqflow_ratio: Option<f64>,
    /// How the scenario is emulated, when the implementation has no native form of it.
    pub emulation: Option<String>,
}

/// One implementation's ping-pong.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyReport {
    /// Which.
    pub implementation: Implementation,
    /// How it waited.
    pub wait: String,
    /// Threads (2).
    pub threads: usize,
    /// Median over rounds of each round's median.
    pub median_ns: u64,
    /// Median over rounds of each round's 99th percentile.
    pub p99_ns: u64,
    /// Every round.
    pub rounds: Vec<LatencyStats>,
    /// This median divided by seqflow's (above 1: seqflow is faster).
    pub seqflow_speedup: Option<f64>,
}

/// The most a calibration multiplies the events of a run by.
const MAX_SCALE: f64 = 100.0;

/// The median of `values` (the mean of the middle two for an even count).
///
/// ```
/// assert_eq!(seqflow_bench::compare::median(&[3.0, 1.0, 2.0]), 2.0);
/// assert_eq!(seqflow_bench::compare::median(&[4.0, 1.0]), 2.5);
/// ```
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn median_u64(values: impl Iterator<Item = u64>) -> u64 {
    let v: Vec<f64> = values.map(|x| x as f64).collect();
    median(&v).round() as u64
}

/// Run the comparison. `progress` is told what runs next.
///
/// ```
/// use seqflow_bench::compare::{compare, CompareOptions};
/// use seqflow_bench::scenario::select;
/// let opts = CompareOptions {
///     selection: select(&["1p1c-u64-burst".to_string()]).unwrap(),
///     events: 2_000,
///     rounds: 1,
///     min_run: std::time::Duration::ZERO,
///     wait: Some(seqflow_bench::wait::Wait::Yielding),
///     ..CompareOptions::default()
/// };
/// let report = compare(&opts, &mut |_| {}).unwrap();
/// assert_eq!(report.throughput[0].results.len(), 4);
/// ```
pub fn compare(
    opts: &CompareOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Report, BenchError> {
    let scenarios = &opts.selection.scenarios;
    let rounds = opts.rounds.max(1);
    let cfg_of = |scenario: Scenario, events: u64| RunConfig {
        events,
        capacity: opts.capacity,
        batch: opts.batch,
        wait: opts.wait.unwrap_or(Wait::auto(scenario.shape.threads())),
    };
    let run_one = |implementation: Implementation, scenario: Scenario, events: u64| {
        peers::run(implementation, scenario, &cfg_of(scenario, events)).map_err(|e| {
            BenchError::Run {
                implementation: implementation.name().into(),
                scenario: scenario.name(),
                source: Box::new(e),
            }
        })
    };
    // (implementation, events per run, events/s of each round), per scenario.
    let mut samples: Vec<Vec<(Implementation, u64, Vec<f64>)>> = Vec::new();
    for &scenario in scenarios {
        let mut row = Vec::new();
        for &implementation in opts.implementations.iter().filter(|i| i.supports(scenario)) {
            let mut events = scenario.total_events(opts.events, opts.batch);
            if !opts.min_run.is_zero() {
                // Calibrate (and warm up) with a quarter of the events; not counted.
                progress(&format!(
                    "calibrating: {} {}",
                    scenario.name(),
                    implementation.name()
                ));
                let probe = run_one(implementation, scenario, (opts.events / 4).max(1))?;
                let projected = probe.elapsed.as_secs_f64() * events as f64 / probe.events as f64;
                let want = opts.min_run.as_secs_f64();
                if projected < want {
                    let factor = (want / projected.max(1e-9)).ceil().min(MAX_SCALE);
                    events = scenario.total_events((events as f64 * factor) as u64, opts.batch);
                }
            }
            row.push((implementation, events, Vec::new()));
        }
        samples.push(row);
    }
    let latency_impls: Vec<Implementation> = if opts.selection.latency {
        opts.implementations
            .iter()
            .copied()
            .filter(|&i| i != Implementation::SeqflowLock)
            .collect()
    } else {
        Vec::new()
    };
    let latency_wait = opts.wait.unwrap_or(Wait::auto(latency::THREADS));
    let mut latency_samples: Vec<Vec<LatencyStats>> = vec![Vec::new(); latency_impls.len()];

    for round in 0..rounds {
        for (si, &scenario) in scenarios.iter().enumerate() {
            let row = &mut samples[si];
            // Alternate: each round (and each scenario) starts with a different implementation.
            let n = row.len();
            for k in 0..n {
                let (implementation, events, values) = &mut row[(k + round + si) % n];
                progress(&format!(
                    "round {}/{rounds}: {} {} ({} events)",
                    round + 1,
                    scenario.name(),
                    implementation.name(),
                    events
                ));
                let m = run_one(*implementation, scenario, *events)?;
                values.push(m.events_per_sec());
            }
        }
        let n = latency_impls.len();
        for k in 0..n {
            let index = (k + round) % n;
            let implementation = latency_impls[index];
            progress(&format!(
                "round {}/{rounds}: ping-pong {}",
                round + 1,
                implementation.name()
            ));
            let stats = latency::ping_pong(
                implementation,
                opts.round_trips,
                opts.capacity,
                latency_wait,
            )
            .map_err(|e| BenchError::Run {
                implementation: implementation.name().into(),
                scenario: crate::scenario::LATENCY.into(),
                source: Box::new(e),
            })?;
            latency_samples[index].push(stats);
        }
    }

    let throughput = scenarios
        .iter()
        .zip(samples)
        .map(|(&scenario, row)| {
            let wait = opts.wait.unwrap_or(Wait::auto(scenario.shape.threads()));
            let medians: Vec<(Implementation, f64)> =
                row.iter().map(|(i, _, v)| (*i, median(v))).collect();
            let seqflow = medians
                .iter()
                .find(|(i, _)| *i == Implementation::Seqflow)
                .map(|(_, m)| *m);
            ScenarioReport {
                scenario: scenario.name(),
                shape: scenario.shape,
                payload: scenario.payload,
                publish: scenario.publish,
                producers: scenario.shape.producers(),
                consumers: scenario.shape.consumers(),
                threads: scenario.shape.threads(),
                wait,
                events: scenario.total_events(opts.events, opts.batch),
                results: row
                    .into_iter()
                    .zip(medians)
                    .map(|((implementation, events, values), (_, med))| ImplReport {
                        implementation,
                        wait: implementation.wait_used(wait).to_owned(),
                        events,
                        median_events_per_sec: med,
                        rounds_events_per_sec: values,
                        seqflow_ratio: seqflow.map(|s| s / med),
                        emulation: implementation.emulation(scenario).map(str::to_owned),
                    })
                    .collect(),
            }
        })
        .collect();

    let mut latency: Vec<LatencyReport> = latency_impls
        .iter()
        .zip(latency_samples)
        .map(|(&implementation, rounds)| LatencyReport {
            implementation,
            wait: implementation.wait_used(latency_wait).to_owned(),
            threads: latency::THREADS,
            median_ns: median_u64(rounds.iter().map(|r| r.median_ns)),
            p99_ns: median_u64(rounds.iter().map(|r| r.p99_ns)),
            rounds,
            seqflow_speedup: None,
        })
        .collect();
    if let Some(sf) = latency
        .iter()
        .find(|l| l.implementation == Implementation::Seqflow)
        .map(|l| l.median_ns)
    {
        for l in &mut latency {
            l.seqflow_speedup = Some(l.median_ns as f64 / sf.max(1) as f64);
        }
    }

    Ok(Report {
        config: ReportConfig {
            events: opts.events,
            rounds,
            capacity: opts.capacity,
            batch: opts.batch,
            round_trips: opts.round_trips,
            cpus: available_cores(),
            wait_override: opts.wait,
            min_run_ms: opts.min_run.as_millis() as u64,
        },
        throughput,
        latency,
    })
}
