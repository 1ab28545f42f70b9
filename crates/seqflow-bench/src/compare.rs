//! `seqflow compare`: run the selected scenarios for every implementation in one process,
//! alternating implementations within each round, over several rounds; keep the median.

use crate::latency::{self, LatencyStats};
use crate::pacing::StagePacing;
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
    /// Whether seqflow's stages pace themselves ([`StagePacing::Default`] unless set).
    pub pacing: StagePacing,
    /// Round trips per ping-pong run.
    pub round_trips: u64,
    /// The shortest a timed run should last, so that scheduler noise does not dominate runs of a
    /// few milliseconds. Calibrated in every round: each implementation starts from an uncounted
    /// warm-up run (a quarter of `events`); every counted run sets the events of the next round
    /// from its own rate, aiming at 1.5 × `min_run`; and a run that still lasted less than
    /// `min_run` is not counted but re-run (at most [`MAX_RETRIES`] times) with events scaled
    /// from its own rate. Never fewer than `events`, never more than [`MAX_SCALE`] × `events`.
    /// Zero: exactly `events`, no warm-up.
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
            pacing: StagePacing::Default,
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
    /// A cache line's round trip between two threads' cores, in nanoseconds, measured before
    /// each round ([`line_probe`](crate::line_probe)): a change between rounds is a change of
    /// the machine's regime, which moves every row.
    pub rounds_line_round_trip_ns: Vec<f64>,
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
    /// `--pacing` of seqflow's stages.
    pub pacing: StagePacing,
    /// The shortest a timed run should last, in milliseconds (see [`CompareOptions::min_run`]).
    pub min_run_ms: u64,
    /// Full passes combined by [`combine`] (1 for a single [`compare`]).
    pub passes: usize,
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
    /// A cache line's round trip between two cores, in nanoseconds, measured right before this
    /// scenario's runs in each round (of each pass): the regime its rounds ran in. When they
    /// differ by more than [`REGIME_FACTOR`](crate::line_probe::REGIME_FACTOR), the row's
    /// medians mix regimes (its ratios still pair runs made back to back).
    pub rounds_line_round_trip_ns: Vec<f64>,
    /// One entry per implementation.
    pub results: Vec<ImplReport>,
}

impl Report {
    /// Every line round trip the run measured: before each round, then before each scenario of
    /// each round.
    pub fn line_round_trips(&self) -> impl Iterator<Item = f64> + '_ {
        self.rounds_line_round_trip_ns.iter().copied().chain(
            self.throughput
                .iter()
                .flat_map(|s| s.rounds_line_round_trip_ns.iter().copied()),
        )
    }
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
    /// The most events a counted run published (at least the scenario's, more where
    /// calibration found runs too short); each round's are in [`rounds_events`](Self::rounds_events).
    pub events: u64,
    /// Median over the rounds (over the passes' medians when passes were combined).
    pub median_events_per_sec: f64,
    /// Every counted round (of every pass, in order).
    pub rounds_events_per_sec: Vec<f64>,
    /// The events of every counted round.
    pub rounds_events: Vec<u64>,
    /// How long every counted round lasted, in milliseconds.
    pub rounds_ms: Vec<f64>,
    /// Counted rounds shorter than the minimum run time (the events hit [`MAX_SCALE`] or
    /// [`MAX_RETRIES`] retries were spent).
    pub short_rounds: usize,
    /// Runs discarded because they were shorter than the minimum run time, then re-run.
    pub retried_rounds: usize,
    /// seqflow's rate divided by this one's (above 1: seqflow is faster), as the median of the
    /// rounds' ratios: in each round the implementations run one after the other on the same
    /// scenario, so a round's ratio compares runs made under the same conditions. `None` when
    /// seqflow did not run. With several passes: the median of the passes' ratios.
    pub seqflow_ratio: Option<f64>,
    /// The median events/s of each pass.
    pub passes_events_per_sec: Vec<f64>,
    /// The seqflow ratio of each pass.
    pub passes_seqflow_ratio: Vec<f64>,
    /// Lowest and highest of [`passes_events_per_sec`](Self::passes_events_per_sec) (of the
    /// rounds when there is one pass).
    pub spread: Spread,
    /// Lowest and highest of [`passes_seqflow_ratio`](Self::passes_seqflow_ratio).
    pub ratio_spread: Option<Spread>,
    /// [`seqflow_ratio`](Self::seqflow_ratio) over the rounds of each regime of the machine
    /// (every pass's rounds; [`regime`](crate::regime)). `None` when seqflow did not run.
    pub seqflow_ratio_by_regime: Option<crate::regime::RegimeRatios>,
    /// How the scenario is emulated, when the implementation has no native form of it.
    pub emulation: Option<String>,
}

/// The lowest and highest of a set of measurements, and how far apart they are.
///
/// ```
/// use seqflow_bench::compare::Spread;
/// let s = Spread::of(&[2.0, 1.0, 4.0]).unwrap();
/// assert_eq!((s.min, s.max, s.relative), (1.0, 4.0, 1.5));
/// assert!(Spread::of(&[]).is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// The lowest value.
    pub min: f64,
    /// The highest value.
    pub max: f64,
    /// `(max - min) / median`: 0.1 means the values lie within 10% of the median.
    pub relative: f64,
}

impl Spread {
    /// The spread of `values`; `None` if there are none.
    pub fn of(values: &[f64]) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let m = median(values);
        Some(Spread {
            min,
            max,
            relative: if m != 0.0 { (max - min) / m } else { 0.0 },
        })
    }
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
    /// Every round (of every pass).
    pub rounds: Vec<LatencyStats>,
    /// This median divided by seqflow's (above 1: seqflow is faster); with several passes the
    /// median of the passes' speedups.
    pub seqflow_speedup: Option<f64>,
    /// The median round trip of each pass, in nanoseconds.
    pub passes_median_ns: Vec<u64>,
}

/// The most a calibration multiplies the events of a run by.
pub const MAX_SCALE: f64 = 100.0;

/// How often a round's run may be discarded for being too short and run again.
pub const MAX_RETRIES: usize = 3;

/// The run length calibration aims at, as a multiple of the minimum: a little above it, so that
/// a slightly faster next round still lasts long enough.
const AIM: f64 = 1.5;

/// Events for a run that should last `aim` when `events` took `elapsed`: at least `base`, at most
/// `MAX_SCALE × base`, a whole number of batches per producer.
fn scaled(
    scenario: Scenario,
    batch: usize,
    base: u64,
    events: u64,
    elapsed: Duration,
    aim: Duration,
) -> u64 {
    let factor = aim.as_secs_f64() / elapsed.as_secs_f64().max(1e-9);
    let want = (events as f64 * factor).clamp(base as f64, base as f64 * MAX_SCALE);
    scenario.total_events(want as u64, batch)
}

/// The rounds of one implementation in one scenario, as they are collected.
#[derive(Debug)]
struct Samples {
    implementation: Implementation,
    /// The events the next round starts with.
    next_events: u64,
    rates: Vec<f64>,
    events: Vec<u64>,
    ms: Vec<f64>,
    short: usize,
    retried: usize,
}

/// The median over rounds of `seqflow[r] / other[r]` (rounds where both ran, with a positive
/// rate); `None` if there is none.
///
/// ```
/// use seqflow_bench::compare::paired_ratio;
/// // The machine slowed down in round 2 for both: the ratio of the rounds is 2 every time.
/// assert_eq!(paired_ratio(&[200.0, 50.0, 210.0], &[100.0, 25.0, 105.0]), Some(2.0));
/// assert_eq!(paired_ratio(&[], &[1.0]), None);
/// ```
pub fn paired_ratio(seqflow: &[f64], other: &[f64]) -> Option<f64> {
    let ratios: Vec<f64> = seqflow
        .iter()
        .zip(other)
        .filter(|(s, o)| **s > 0.0 && **o > 0.0)
        .map(|(s, o)| s / o)
        .collect();
    (!ratios.is_empty()).then(|| median(&ratios))
}

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
        pacing: opts.pacing,
        check_order: false,
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
    let min_run = opts.min_run;
    // Warm-up, and the first estimate of the events a run needs; not counted.
    let mut samples: Vec<Vec<Samples>> = Vec::new();
    for &scenario in scenarios {
        let mut row = Vec::new();
        for &implementation in opts.implementations.iter().filter(|i| i.supports(scenario)) {
            let base = scenario.total_events(opts.events, opts.batch);
            let mut next_events = base;
            if !min_run.is_zero() {
                progress(&format!(
                    "warming up: {} {}",
                    scenario.name(),
                    implementation.name()
                ));
                let probe = run_one(implementation, scenario, (opts.events / 4).max(1))?;
                next_events = scaled(
                    scenario,
                    opts.batch,
                    base,
                    probe.events,
                    probe.elapsed,
                    min_run.mul_f64(AIM),
                );
            }
            row.push(Samples {
                implementation,
                next_events,
                rates: Vec::new(),
                events: Vec::new(),
                ms: Vec::new(),
                short: 0,
                retried: 0,
            });
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

    let mut rounds_line_round_trip_ns = Vec::with_capacity(rounds);
    let mut scenario_line_round_trip_ns: Vec<Vec<f64>> = vec![Vec::new(); scenarios.len()];
    for round in 0..rounds {
        progress(&format!("round {}/{rounds}: line round trip", round + 1));
        rounds_line_round_trip_ns.push(crate::line_probe::round_trip_ns());
        for (si, &scenario) in scenarios.iter().enumerate() {
            // The regime this scenario's runs of this round start in: it changes within a round.
            scenario_line_round_trip_ns[si].push(if si == 0 {
                rounds_line_round_trip_ns[round]
            } else {
                crate::line_probe::round_trip_ns()
            });
            let row = &mut samples[si];
            // Alternate: each round (and each scenario) starts with a different implementation.
            let n = row.len();
            for k in 0..n {
                let sample = &mut row[(k + round + si) % n];
                let implementation = sample.implementation;
                let base = scenario.total_events(opts.events, opts.batch);
                let cap = scenario.total_events((base as f64 * MAX_SCALE) as u64, opts.batch);
                let mut events = sample.next_events;
                let mut retries = 0;
                let m = loop {
                    progress(&format!(
                        "round {}/{rounds}: {} {} ({} events)",
                        round + 1,
                        scenario.name(),
                        implementation.name(),
                        events
                    ));
                    let m = run_one(implementation, scenario, events)?;
                    let long_enough = min_run.is_zero() || m.elapsed >= min_run;
                    if long_enough || events >= cap || retries == MAX_RETRIES {
                        break m;
                    }
                    // Too short to be trusted: this run's own rate calibrates the retry.
                    retries += 1;
                    events = scaled(
                        scenario,
                        opts.batch,
                        base,
                        events,
                        m.elapsed,
                        min_run.mul_f64(AIM),
                    );
                };
                if !min_run.is_zero() {
                    if m.elapsed < min_run {
                        sample.short += 1;
                    }
                    // Calibrate the next round from this one.
                    sample.next_events = scaled(
                        scenario,
                        opts.batch,
                        base,
                        m.events,
                        m.elapsed,
                        min_run.mul_f64(AIM),
                    );
                }
                sample.retried += retries;
                sample.rates.push(m.events_per_sec());
                sample.events.push(m.events);
                sample.ms.push(m.elapsed.as_secs_f64() * 1e3);
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
        .zip(scenario_line_round_trip_ns)
        .map(|((&scenario, row), line_round_trip_ns)| {
            let wait = opts.wait.unwrap_or(Wait::auto(scenario.shape.threads()));
            let medians: Vec<(Implementation, f64)> = row
                .iter()
                .map(|r| (r.implementation, median(&r.rates)))
                .collect();
            let seqflow_rates = row
                .iter()
                .find(|r| r.implementation == Implementation::Seqflow)
                .map(|r| r.rates.clone());
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
                rounds_line_round_trip_ns: line_round_trip_ns,
                results: row
                    .into_iter()
                    .zip(medians)
                    .map(|(r, (implementation, med))| {
                        let ratio = seqflow_rates
                            .as_deref()
                            .and_then(|s| paired_ratio(s, &r.rates));
                        ImplReport {
                            implementation,
                            wait: implementation.wait_used(wait).to_owned(),
                            events: r.events.iter().copied().max().unwrap_or(0),
                            median_events_per_sec: med,
                            spread: Spread::of(&r.rates).unwrap_or(Spread {
                                min: med,
                                max: med,
                                relative: 0.0,
                            }),
                            rounds_events_per_sec: r.rates,
                            rounds_events: r.events,
                            rounds_ms: r.ms,
                            short_rounds: r.short,
                            retried_rounds: r.retried,
                            seqflow_ratio: ratio,
                            passes_events_per_sec: vec![med],
                            passes_seqflow_ratio: ratio.into_iter().collect(),
                            ratio_spread: ratio.map(|v| Spread {
                                min: v,
                                max: v,
                                relative: 0.0,
                            }),
                            emulation: implementation.emulation(scenario).map(str::to_owned),
                            seqflow_ratio_by_regime: None,
                        }
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
            passes_median_ns: vec![median_u64(rounds.iter().map(|r| r.median_ns))],
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

    let mut report = Report {
        config: ReportConfig {
            events: opts.events,
            rounds,
            capacity: opts.capacity,
            batch: opts.batch,
            round_trips: opts.round_trips,
            cpus: available_cores(),
            wait_override: opts.wait,
            pacing: opts.pacing,
            min_run_ms: opts.min_run.as_millis() as u64,
            passes: 1,
        },
        throughput,
        latency,
        rounds_line_round_trip_ns,
    };
    crate::regime::split_by_regime(&mut report);
    Ok(report)
}

/// Combine full passes of the same comparison (`seqflow compare --repeat N`) into one report:
/// per row, the median of the passes' medians and their [`Spread`], the median of the passes'
/// seqflow ratios (each measured within one pass) and its spread; every round is kept. `None`
/// if `passes` is empty. Rows are matched by scenario and implementation, so passes of the same
/// options combine row by row.
///
/// ```
/// use seqflow_bench::compare::{combine, compare, CompareOptions};
/// use seqflow_bench::scenario::select;
/// let opts = CompareOptions {
///     selection: select(&["1p1c-u64-single".to_string()]).unwrap(),
///     implementations: vec![seqflow_bench::peers::Implementation::Seqflow,
///                           seqflow_bench::peers::Implementation::Crossbeam],
///     events: 500,
///     rounds: 1,
///     min_run: std::time::Duration::ZERO,
///     wait: Some(seqflow_bench::wait::Wait::Yielding),
///     ..CompareOptions::default()
/// };
/// let passes = vec![compare(&opts, &mut |_| {})?, compare(&opts, &mut |_| {})?];
/// let report = combine(passes).unwrap();
/// assert_eq!(report.config.passes, 2);
/// let row = &report.throughput[0].results[1];
/// assert_eq!(row.passes_events_per_sec.len(), 2);
/// assert_eq!(row.passes_seqflow_ratio.len(), 2);
/// assert!(row.spread.min <= row.median_events_per_sec && row.median_events_per_sec <= row.spread.max);
/// # Ok::<(), seqflow_bench::BenchError>(())
/// ```
pub fn combine(passes: Vec<Report>) -> Option<Report> {
    let mut passes = passes.into_iter();
    let mut out = passes.next()?;
    let rest: Vec<Report> = passes.collect();
    out.config.passes = 1 + rest.len();
    for pass in &rest {
        out.rounds_line_round_trip_ns
            .extend_from_slice(&pass.rounds_line_round_trip_ns);
    }
    for scenario in &mut out.throughput {
        for pass in &rest {
            if let Some(other) = pass
                .throughput
                .iter()
                .find(|s| s.scenario == scenario.scenario)
            {
                scenario
                    .rounds_line_round_trip_ns
                    .extend_from_slice(&other.rounds_line_round_trip_ns);
            }
        }
        for row in &mut scenario.results {
            for pass in &rest {
                let Some(other) = pass
                    .throughput
                    .iter()
                    .find(|s| s.scenario == scenario.scenario)
                    .and_then(|s| s.result(row.implementation))
                else {
                    continue;
                };
                row.events = row.events.max(other.events);
                row.rounds_events_per_sec
                    .extend_from_slice(&other.rounds_events_per_sec);
                row.rounds_events.extend_from_slice(&other.rounds_events);
                row.rounds_ms.extend_from_slice(&other.rounds_ms);
                row.short_rounds += other.short_rounds;
                row.retried_rounds += other.retried_rounds;
                row.passes_events_per_sec
                    .extend_from_slice(&other.passes_events_per_sec);
                row.passes_seqflow_ratio
                    .extend_from_slice(&other.passes_seqflow_ratio);
            }
            if row.passes_events_per_sec.len() > 1 {
                row.median_events_per_sec = median(&row.passes_events_per_sec);
                if let Some(s) = Spread::of(&row.passes_events_per_sec) {
                    row.spread = s;
                }
            }
            if row.passes_seqflow_ratio.len() > 1 {
                row.seqflow_ratio = Some(median(&row.passes_seqflow_ratio));
                row.ratio_spread = Spread::of(&row.passes_seqflow_ratio);
            }
        }
    }
    let mut speedups: Vec<Vec<f64>> = vec![Vec::new(); out.latency.len()];
    for (l, s) in out.latency.iter().zip(&mut speedups) {
        s.extend(l.seqflow_speedup);
    }
    for pass in &rest {
        for (l, s) in out.latency.iter_mut().zip(&mut speedups) {
            if let Some(other) = pass
                .latency
                .iter()
                .find(|o| o.implementation == l.implementation)
            {
                l.rounds.extend_from_slice(&other.rounds);
                l.passes_median_ns
                    .extend_from_slice(&other.passes_median_ns);
                s.extend(other.seqflow_speedup);
            }
        }
    }
    for (l, s) in out.latency.iter_mut().zip(speedups) {
        l.median_ns = median_u64(l.passes_median_ns.iter().copied());
        l.p99_ns = median_u64(l.rounds.iter().map(|r| r.p99_ns));
        if !s.is_empty() {
            l.seqflow_speedup = Some(median(&s));
        }
    }
    crate::regime::split_by_regime(&mut out);
    Some(out)
}
