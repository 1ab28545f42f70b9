//! The cross-process part of `seqflow compare`: every transport with every event size of the
//! payload sweep handed over in batches, the small sizes also one event at a time, and a
//! cross-process ping-pong; several rounds alternating transports, medians and ratios
//! seqflow-shm / pipe and / socket.

use super::event::SIZES;
use super::{ping_pong, run_ipc, IpcConfig, Mode, Transport};
use crate::CliError;
use seqflow_bench::compare::{median, Spread};
use seqflow_bench::latency::LatencyStats;
use seqflow_bench::peers::{Implementation, Measurement};
use seqflow_bench::wait::Wait;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What to run.
#[derive(Debug, Clone)]
pub struct IpcOptions {
    /// Events per run, at most (see [`events_for`]).
    pub events: u64,
    /// Rounds (median reported).
    pub rounds: usize,
    /// Ring size of the shm transport, at most (see [`capacity_for`]).
    pub capacity: usize,
    /// Events per claim (shm) and per write (pipe, socket) in burst rows.
    pub batch: usize,
    /// How the shm consumers wait.
    pub wait: Wait,
    /// Round trips per ping-pong run; 0: no ping-pong.
    pub round_trips: u64,
    /// Event sizes in bytes (each one of [`SIZES`]).
    pub sizes: Vec<usize>,
    /// The shortest a counted shm run (and in-process reference run) should last: shorter
    /// ones run again with more events (`--min-run-ms`; zero runs the row's events).
    pub min_run: Duration,
}

/// The most events a burst row sends per run.
pub const BURST_EVENTS: u64 = 2_000_000;
/// The most events a one-at-a-time row sends per run (a pipe or socket makes a system call per
/// event).
pub const SINGLE_EVENTS: u64 = 200_000;
/// The most bytes a run sends (large events run fewer events).
pub const RUN_BYTES: u64 = 256 << 20;
/// The fewest events a run sends, however large they are.
pub const MIN_EVENTS: u64 = 256;
/// The most bytes of an shm ring (large events get fewer slots).
pub const RING_BYTES: usize = 64 << 20;
/// Sizes up to this many bytes also get a one-at-a-time row.
pub const SINGLE_MAX_BYTES: usize = 128;

/// Events per run of a row: `events`, at most [`BURST_EVENTS`] or [`SINGLE_EVENTS`] and at
/// most [`RUN_BYTES`] worth (but at least [`MIN_EVENTS`]).
///
/// ```ignore
/// assert_eq!(events_for(1_000_000, 1 << 20, Mode::Burst), 256);
/// ```
pub fn events_for(events: u64, bytes: usize, mode: Mode) -> u64 {
    let cap = match mode {
        Mode::Burst => BURST_EVENTS,
        Mode::Single => SINGLE_EVENTS,
    };
    let budget = (RUN_BYTES / bytes.max(1) as u64).max(MIN_EVENTS);
    events.min(cap).min(budget).max(1)
}

/// Slots of the shm ring for `bytes`-byte events: `capacity`, at most [`RING_BYTES`] worth
/// (a power of two, at least 2).
pub fn capacity_for(capacity: usize, bytes: usize) -> usize {
    let fit = (RING_BYTES / bytes.max(1)).max(2);
    let fit = if fit.is_power_of_two() {
        fit
    } else {
        fit.next_power_of_two() / 2
    };
    capacity.min(fit).max(2)
}

/// One row: a transport, an event size, a hand-over mode.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IpcRow {
    /// The transport.
    pub transport: Transport,
    /// Bytes per event.
    pub bytes: usize,
    /// Batches or one at a time.
    pub mode: Mode,
    /// Events per run.
    pub events: u64,
    /// Slots of the shm ring (shm only).
    pub capacity: Option<usize>,
    /// Events per claim or write (1 one at a time).
    pub batch: usize,
    /// Median events per second (over the rounds; over the passes' medians when combined).
    pub median_events_per_sec: f64,
    /// The median in bytes per second.
    pub median_bytes_per_sec: f64,
    /// Every round (of every pass).
    pub rounds_events_per_sec: Vec<f64>,
    /// The median of each pass.
    pub passes_events_per_sec: Vec<f64>,
    /// Lowest and highest of the passes' medians (of the rounds with one pass).
    pub spread: Option<Spread>,
    /// seqflow-shm's median divided by this one (above 1: shm is faster).
    pub shm_ratio: Option<f64>,
}

/// One transport's cross-process ping-pong.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IpcLatencyRow {
    /// The transport.
    pub transport: Transport,
    /// Median over the rounds (over the passes) of each round's median round trip, ns.
    pub median_ns: u64,
    /// Median over the rounds of each round's 99th percentile, ns.
    pub p99_ns: u64,
    /// Every round.
    pub rounds: Vec<LatencyStats>,
    /// The median of each pass, ns.
    pub passes_median_ns: Vec<u64>,
    /// This median divided by seqflow-shm's (above 1: shm is faster).
    pub shm_speedup: Option<f64>,
}

/// The cross-process results.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IpcSection {
    /// How the shm consumers waited.
    pub wait: &'static str,
    /// Rounds per row (per pass).
    pub rounds: usize,
    /// Passes combined (`--repeat`).
    pub passes: usize,
    /// Events per claim (shm) and per write (pipe, socket) in burst rows, at most.
    pub batch: usize,
    /// Every throughput row.
    pub rows: Vec<IpcRow>,
    /// Ping-pong, one row per transport (empty without ping-pong).
    pub latency: Vec<IpcLatencyRow>,
    /// The 8-byte shm rows against seqflow in one process, when both ran (see
    /// [`IpcSection::compare_with_in_process`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vs_in_process: Vec<InProcessRatio>,
}

/// One 8-byte seqflow-shm row against seqflow in one process with the same shape: one producer,
/// one consumer, `u64`-sized events, the same events, ring, batch and wait, and the same work
/// per event in both consumers (the tally and the order check). The in-process run
/// is made right after the shm run of every round, and the ratio is the median of the rounds'
/// ratios: both sides of a ratio ran under the same conditions.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InProcessRatio {
    /// Burst or one at a time.
    pub mode: Mode,
    /// The in-process scenario (`1p1c-u64-burst` or `1p1c-u64-single`).
    pub scenario: String,
    /// seqflow-shm, events/s (median).
    pub shm_events_per_sec: f64,
    /// seqflow in one process, events/s (median).
    pub in_process_events_per_sec: f64,
    /// shm / in-process: the median of [`rounds_ratio`](Self::rounds_ratio).
    pub ratio: f64,
    /// shm / in-process of each round (of every pass).
    pub rounds_ratio: Vec<f64>,
    /// seqflow in one process, events/s of each round (of every pass).
    pub rounds_in_process: Vec<f64>,
}

/// Run the cross-process section, this binary being the consumer process.
pub fn compare_ipc(
    opts: &IpcOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<IpcSection, CliError> {
    let exe = consumer_exe()?;
    let rounds = opts.rounds.max(1);
    let mut configs = Vec::new();
    for &bytes in &opts.sizes {
        let capacity = capacity_for(opts.capacity, bytes);
        for mode in Mode::ALL {
            if mode == Mode::Single && bytes > SINGLE_MAX_BYTES {
                continue;
            }
            configs.push(IpcConfig {
                events: events_for(opts.events, bytes, mode),
                bytes,
                capacity,
                batch: match mode {
                    Mode::Burst => opts.batch.min((capacity / 4).max(1)),
                    Mode::Single => 1,
                },
                mode,
                wait: opts.wait,
            });
        }
    }
    let n = Transport::ALL.len();
    let mut samples: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); n]; configs.len()];
    // Per config: seqflow in one process, run right after each round's shm run (8-byte rows).
    let mut local: Vec<Vec<f64>> = vec![Vec::new(); configs.len()];
    let mut local_events: Vec<u64> = configs.iter().map(|c| c.events).collect();
    // Per config: the shm run's events, grown until a run lasts `opts.min_run` (see
    // [`shm_calibrated`]); pipes and sockets are slower and run `cfg.events`.
    let mut shm_events: Vec<u64> = configs.iter().map(|c| c.events).collect();
    let mut latency: Vec<Vec<LatencyStats>> = vec![Vec::new(); n];
    for round in 0..rounds {
        for (ci, cfg) in configs.iter().enumerate() {
            for k in 0..n {
                // Each round (and each row) starts with a different transport.
                let ti = (k + round + ci) % n;
                let transport = Transport::ALL[ti];
                progress(&format!(
                    "ipc round {}/{rounds}: {} {} B {}: {} events",
                    round + 1,
                    transport.name(),
                    cfg.bytes,
                    cfg.mode.name(),
                    cfg.events
                ));
                let m = match transport {
                    Transport::Shm => shm_calibrated(&exe, cfg, opts.min_run, &mut shm_events[ci]),
                    _ => run_ipc(&exe, transport, cfg),
                }
                .map_err(|e| CliError::IpcRun {
                    transport: transport.name(),
                    scenario: format!("ipc-{}B-{}", cfg.bytes, cfg.mode.name()),
                    source: Box::new(e),
                })?;
                samples[ci][ti].push(m.events_per_sec());
                if transport == Transport::Shm && cfg.bytes == 8 {
                    progress(&format!(
                        "ipc round {}/{rounds}: seqflow in one process, 8 B {}",
                        round + 1,
                        cfg.mode.name()
                    ));
                    local[ci].push(in_process_reference(
                        cfg,
                        opts.min_run,
                        &mut local_events[ci],
                    )?);
                }
            }
        }
        if opts.round_trips > 0 {
            for k in 0..n {
                let ti = (k + round) % n;
                let transport = Transport::ALL[ti];
                progress(&format!(
                    "ipc round {}/{rounds}: ping-pong {}",
                    round + 1,
                    transport.name()
                ));
                let stats = ping_pong(&exe, transport, opts.round_trips, opts.capacity, opts.wait)
                    .map_err(|e| CliError::IpcRun {
                        transport: transport.name(),
                        scenario: "ipc-ping-pong".into(),
                        source: Box::new(e),
                    })?;
                latency[ti].push(stats);
            }
        }
    }
    let mut rows = Vec::new();
    for ((cfg, per_transport), shm_run) in configs.iter().zip(samples).zip(&shm_events) {
        for (transport, rates) in Transport::ALL.into_iter().zip(per_transport) {
            let med = median(&rates);
            rows.push(IpcRow {
                transport,
                bytes: cfg.bytes,
                mode: cfg.mode,
                events: match transport {
                    Transport::Shm => *shm_run,
                    _ => cfg.events,
                },
                capacity: (transport == Transport::Shm).then_some(cfg.capacity),
                batch: cfg.batch,
                median_events_per_sec: med,
                median_bytes_per_sec: med * cfg.bytes as f64,
                spread: Spread::of(&rates),
                rounds_events_per_sec: rates,
                passes_events_per_sec: vec![med],
                shm_ratio: None,
            });
        }
    }
    let latency = Transport::ALL
        .into_iter()
        .zip(latency)
        .filter(|(_, r)| !r.is_empty())
        .map(|(transport, rounds)| {
            let med = median_ns(rounds.iter().map(|r| r.median_ns));
            IpcLatencyRow {
                transport,
                median_ns: med,
                p99_ns: median_ns(rounds.iter().map(|r| r.p99_ns)),
                rounds,
                passes_median_ns: vec![med],
                shm_speedup: None,
            }
        })
        .collect();
    let vs_in_process = configs
        .iter()
        .zip(&local)
        .filter(|(_, local)| !local.is_empty())
        .filter_map(|(cfg, local)| {
            let shm = rows.iter().find(|r| {
                r.transport == Transport::Shm && r.bytes == cfg.bytes && r.mode == cfg.mode
            })?;
            Some(InProcessRatio::new(
                cfg.mode,
                shm.rounds_events_per_sec.clone(),
                local.clone(),
            ))
        })
        .collect();
    let mut section = IpcSection {
        wait: opts.wait.name(),
        rounds,
        passes: 1,
        batch: opts.batch,
        rows,
        latency,
        vs_in_process,
    };
    section.ratios();
    Ok(section)
}

/// The most bytes a calibrated shm run sends.
const CALIBRATED_RUN_BYTES: u64 = 4 << 30;

/// Run `run` with `events`, and while a run lasts less than `min_run` (at most four tries,
/// and at most `most` events) again with more, rounded by `round`; the short runs only
/// calibrate. `events` keeps what the next round starts with.
///
/// A run of a millisecond or two measures the threads' (or the consumer process's) start and
/// the end-of-run report more than the ring: 68 M events/s where a calibrated in-process run
/// measured 1 G, 650 M where a 50 ms shm run measured 780 M.
fn run_at_least(
    events: &mut u64,
    min_run: Duration,
    most: u64,
    round: impl Fn(u64) -> u64,
    mut run: impl FnMut(u64) -> Result<Measurement, CliError>,
) -> Result<Measurement, CliError> {
    let mut tries = 0;
    loop {
        let m = run(*events)?;
        tries += 1;
        if m.elapsed >= min_run || *events >= most || tries == 4 {
            return Ok(m);
        }
        let factor = 1.5 * min_run.as_secs_f64() / m.elapsed.as_secs_f64().max(1e-6);
        let want = ((*events as f64 * factor) as u64).clamp(*events, most);
        *events = round(want).max(*events);
    }
}

/// One shm run of `cfg`'s row, with `events` calibrated as [`run_at_least`] does (at most 100
/// times the row's events and [`CALIBRATED_RUN_BYTES`] worth): the shm ring moves small events
/// so fast that a run of the row's events lasts a millisecond or two.
fn shm_calibrated(
    exe: &Path,
    cfg: &IpcConfig,
    min_run: Duration,
    events: &mut u64,
) -> Result<Measurement, CliError> {
    let most = cfg
        .events
        .saturating_mul(100)
        .min(CALIBRATED_RUN_BYTES / cfg.bytes.max(1) as u64)
        .max(cfg.events);
    run_at_least(
        events,
        min_run,
        most,
        |n| n,
        |n| {
            let run = IpcConfig { events: n, ..*cfg };
            run_ipc(exe, Transport::Shm, &run)
        },
    )
}

/// seqflow in one process on the shape of an 8-byte row (`1p1c-u64-burst` or `-single`, the
/// same ring, batch and wait), its consumer doing the consumer process's work (the tally and
/// the order check, `RunConfig::check_order`): events per second, with `events` calibrated as
/// [`run_at_least`] does (at most 100 times the row's).
fn in_process_reference(
    cfg: &IpcConfig,
    min_run: Duration,
    events: &mut u64,
) -> Result<f64, CliError> {
    let name = format!("1p1c-u64-{}", cfg.mode.name());
    let scenario = seqflow_bench::scenario::Scenario::all()
        .into_iter()
        .find(|s| s.name() == name)
        .ok_or_else(|| CliError::Ipc(format!("no in-process scenario {name}")))?;
    let most = cfg.events.saturating_mul(100);
    let round = |want| scenario.total_events(want, cfg.batch);
    let m = run_at_least(events, min_run, most, round, |n| {
        let run = seqflow_bench::peers::RunConfig {
            events: n,
            capacity: cfg.capacity,
            batch: cfg.batch,
            wait: cfg.wait,
            // The reference is what a program gets by default, whatever `--pacing` says.
            pacing: Default::default(),
            // The consumer process checks the order of the events too: the same work.
            check_order: true,
        };
        Ok(seqflow_bench::peers::run(
            Implementation::Seqflow,
            scenario,
            &run,
        )?)
    })?;
    Ok(m.events_per_sec())
}

impl InProcessRatio {
    /// The ratio of `mode`'s 8-byte shm row to seqflow in one process, from the rounds' rates
    /// of both (round `r` of one paired with round `r` of the other).
    fn new(mode: Mode, shm_rounds: Vec<f64>, in_process_rounds: Vec<f64>) -> Self {
        let rounds_ratio: Vec<f64> = shm_rounds
            .iter()
            .zip(&in_process_rounds)
            .filter(|(_, l)| **l > 0.0)
            .map(|(s, l)| s / l)
            .collect();
        Self {
            mode,
            scenario: format!("1p1c-u64-{}", mode.name()),
            shm_events_per_sec: median(&shm_rounds),
            in_process_events_per_sec: median(&in_process_rounds),
            ratio: median(&rounds_ratio),
            rounds_ratio,
            rounds_in_process: in_process_rounds,
        }
    }
}

fn median_ns(values: impl Iterator<Item = u64>) -> u64 {
    let v: Vec<f64> = values.map(|x| x as f64).collect();
    let m = median(&v);
    if m.is_finite() {
        m.round() as u64
    } else {
        0
    }
}

/// The `seqflow` binary to start as the consumer: `SEQFLOW_EXE` if set (tests), else this
/// executable.
fn consumer_exe() -> Result<PathBuf, CliError> {
    match std::env::var_os("SEQFLOW_EXE") {
        Some(path) => Ok(PathBuf::from(path)),
        None => Ok(std::env::current_exe()?),
    }
}

impl IpcSection {
    /// The shm row with the size and mode of `row`.
    fn shm_of(&self, bytes: usize, mode: Mode) -> Option<&IpcRow> {
        self.rows
            .iter()
            .find(|r| r.transport == Transport::Shm && r.bytes == bytes && r.mode == mode)
    }

    /// Fill in every row's ratio to shm and every ping-pong's speedup.
    fn ratios(&mut self) {
        let shm: Vec<Option<f64>> = self
            .rows
            .iter()
            .map(|r| {
                self.shm_of(r.bytes, r.mode)
                    .map(|s| s.median_events_per_sec)
            })
            .collect();
        for (row, shm) in self.rows.iter_mut().zip(shm) {
            row.shm_ratio = shm
                .filter(|_| row.median_events_per_sec > 0.0)
                .map(|s| s / row.median_events_per_sec);
        }
        let shm = self
            .latency
            .iter()
            .find(|l| l.transport == Transport::Shm)
            .map(|l| l.median_ns);
        for l in &mut self.latency {
            l.shm_speedup = shm.map(|s| l.median_ns as f64 / s.max(1) as f64);
        }
    }

    /// Combine passes of the same options (`--repeat`): per row the median of the passes'
    /// medians and their spread; ratios recomputed from the combined medians. `None` if
    /// `passes` is empty.
    pub fn combine(passes: Vec<IpcSection>) -> Option<IpcSection> {
        let mut passes = passes.into_iter();
        let mut out = passes.next()?;
        for pass in passes {
            out.passes += 1;
            for row in &mut out.rows {
                if let Some(other) = pass.rows.iter().find(|o| {
                    o.transport == row.transport && o.bytes == row.bytes && o.mode == row.mode
                }) {
                    row.rounds_events_per_sec
                        .extend_from_slice(&other.rounds_events_per_sec);
                    row.passes_events_per_sec
                        .extend_from_slice(&other.passes_events_per_sec);
                }
            }
            for l in &mut out.latency {
                if let Some(other) = pass.latency.iter().find(|o| o.transport == l.transport) {
                    l.rounds.extend_from_slice(&other.rounds);
                    l.passes_median_ns
                        .extend_from_slice(&other.passes_median_ns);
                }
            }
            for v in &mut out.vs_in_process {
                if let Some(other) = pass.vs_in_process.iter().find(|o| o.mode == v.mode) {
                    v.rounds_ratio.extend_from_slice(&other.rounds_ratio);
                    v.rounds_in_process
                        .extend_from_slice(&other.rounds_in_process);
                }
            }
        }
        if out.passes > 1 {
            for row in &mut out.rows {
                row.median_events_per_sec = median(&row.passes_events_per_sec);
                row.median_bytes_per_sec = row.median_events_per_sec * row.bytes as f64;
                row.spread = Spread::of(&row.passes_events_per_sec);
            }
            for l in &mut out.latency {
                l.median_ns = median_ns(l.passes_median_ns.iter().copied());
                l.p99_ns = median_ns(l.rounds.iter().map(|r| r.p99_ns));
            }
            out.ratios();
        }
        for v in &mut out.vs_in_process {
            v.ratio = median(&v.rounds_ratio);
            v.in_process_events_per_sec = median(&v.rounds_in_process);
            if let Some(shm) = out
                .rows
                .iter()
                .find(|r| r.transport == Transport::Shm && r.bytes == 8 && r.mode == v.mode)
            {
                v.shm_events_per_sec = shm.median_events_per_sec;
            }
        }
        Some(out)
    }

    fn row(&self, transport: Transport, bytes: usize, mode: Mode) -> Option<&IpcRow> {
        self.rows
            .iter()
            .find(|r| r.transport == transport && r.bytes == bytes && r.mode == mode)
    }

    /// The text table.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "cross-process: this process produces, a second process consumes and verifies; \
             median of {} round(s){}; burst = at most {} events handed over at a time (shm \
             claim, pipe/socket write), single = one claim / one write per event; seqflow-shm \
             consumers wait {}",
            self.rounds,
            if self.passes > 1 {
                format!(" × {} passes (median of the passes' medians)", self.passes)
            } else {
                String::new()
            },
            self.batch,
            self.wait
        );
        let _ = writeln!(
            s,
            "events/s (k = thousand, M = million); events = events per shm run (calibrated); \
             shm/X = seqflow-shm / X (above 1: seqflow is faster); MB/s of seqflow-shm"
        );
        let _ = writeln!(
            s,
            "{:<9} {:<7} {:>10} {:>12} {:>12} {:>12} {:>10} {:>11} {:>10}",
            "event",
            "mode",
            "events",
            "seqflow-shm",
            "pipe",
            "unix-socket",
            "shm/pipe",
            "shm/socket",
            "shm MB/s"
        );
        let mut keys: Vec<(usize, Mode)> = Vec::new();
        for r in &self.rows {
            if !keys.contains(&(r.bytes, r.mode)) {
                keys.push((r.bytes, r.mode));
            }
        }
        for (bytes, mode) in keys {
            let get = |t| self.row(t, bytes, mode);
            let rate = |t| get(t).map(|r| r.median_events_per_sec);
            let ratio = |t| {
                get(t)
                    .and_then(|r| r.shm_ratio)
                    .map_or("-".into(), |v| format!("{v:.2}x"))
            };
            let _ = writeln!(
                s,
                "{:<9} {:<7} {:>10} {:>12} {:>12} {:>12} {:>10} {:>11} {:>10}",
                size_name(bytes),
                mode.name(),
                get(Transport::Shm).map_or(0, |r| r.events),
                si(rate(Transport::Shm)),
                si(rate(Transport::Pipe)),
                si(rate(Transport::Socket)),
                ratio(Transport::Pipe),
                ratio(Transport::Socket),
                get(Transport::Shm).map_or("-".into(), |r| format!(
                    "{:.0}",
                    r.median_bytes_per_sec / 1e6
                )),
            );
        }
        for v in &self.vs_in_process {
            let _ = writeln!(
                s,
                "8 B {}: seqflow-shm {} events/s = {:.2}x seqflow in one process ({}: {}, its consumer checking the order as the consumer process does; median of the rounds' ratios, each round's in-process run right after its shm run)",
                v.mode.name(),
                si(Some(v.shm_events_per_sec)),
                v.ratio,
                v.scenario,
                si(Some(v.in_process_events_per_sec)),
            );
        }
        if !self.latency.is_empty() {
            let _ = writeln!(
                s,
                "\ncross-process ping-pong round trip, 8-byte events, ns (X/shm = X's median / \
                 seqflow-shm's, above 1: seqflow is faster)"
            );
            let _ = writeln!(
                s,
                "{:<14} {:>10} {:>10} {:>8}",
                "transport", "median", "p99", "X/shm"
            );
            for l in &self.latency {
                let _ = writeln!(
                    s,
                    "{:<14} {:>10} {:>10} {:>8}",
                    l.transport.name(),
                    l.median_ns,
                    l.p99_ns,
                    l.shm_speedup.map_or("-".into(), |v| format!("{v:.2}x"))
                );
            }
        }
        s
    }
}

/// `8 B`, `4 KiB`, `1 MiB`.
pub fn size_name(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1024 && bytes % 1024 == 0 {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} B")
    }
}

/// `216.4M`, `4.77k`, or `-`.
fn si(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v >= 1e6 => format!("{:.1}M", v / 1e6),
        Some(v) if v >= 1e3 => format!("{:.2}k", v / 1e3),
        Some(v) => format!("{v:.1}"),
    }
}

/// Every size of the payload sweep, as `--ipc-sizes` takes them.
pub fn all_sizes() -> Vec<usize> {
    SIZES.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_events_run_fewer_events_on_smaller_rings() {
        assert_eq!(events_for(1_000_000, 8, Mode::Burst), 1_000_000);
        assert_eq!(events_for(1_000_000, 8, Mode::Single), SINGLE_EVENTS);
        assert_eq!(events_for(1_000_000, 1 << 20, Mode::Burst), 256);
        assert_eq!(events_for(10, 1 << 20, Mode::Burst), 10);
        assert_eq!(capacity_for(4096, 8), 4096);
        assert_eq!(capacity_for(4096, 1 << 20), 64);
        assert_eq!(capacity_for(4096, 65536), 1024);
        assert!(capacity_for(4096, 3000).is_power_of_two());
    }

    #[test]
    fn sizes_are_named() {
        assert_eq!(size_name(8), "8 B");
        assert_eq!(size_name(4096), "4 KiB");
        assert_eq!(size_name(1 << 20), "1 MiB");
    }

    fn section(rate: f64) -> IpcSection {
        let row = |transport, r: f64| IpcRow {
            transport,
            bytes: 8,
            mode: Mode::Burst,
            events: 10,
            capacity: None,
            batch: 1,
            median_events_per_sec: r,
            median_bytes_per_sec: r * 8.0,
            rounds_events_per_sec: vec![r],
            passes_events_per_sec: vec![r],
            spread: None,
            shm_ratio: None,
        };
        let mut s = IpcSection {
            wait: "yielding",
            rounds: 1,
            passes: 1,
            batch: 1,
            rows: vec![row(Transport::Shm, rate), row(Transport::Pipe, 10.0)],
            latency: Vec::new(),
            vs_in_process: Vec::new(),
        };
        s.ratios();
        s
    }

    #[test]
    fn the_in_process_ratio_pairs_rounds() {
        // Round 2 ran in a slow phase of the machine for both sides: its ratio still counts as
        // 0.5, where medians taken apart would mix the phases.
        let v = InProcessRatio::new(
            Mode::Burst,
            vec![100.0, 10.0, 90.0],
            vec![200.0, 20.0, 100.0],
        );
        assert_eq!(v.rounds_ratio, [0.5, 0.5, 0.9]);
        assert_eq!(v.ratio, 0.5);
        assert_eq!(v.in_process_events_per_sec, 100.0);
    }

    #[test]
    fn passes_combine_into_medians_and_ratios() {
        let combined =
            IpcSection::combine(vec![section(10.0), section(30.0), section(40.0)]).unwrap();
        assert_eq!(combined.passes, 3);
        let shm = &combined.rows[0];
        assert_eq!(shm.passes_events_per_sec, [10.0, 30.0, 40.0]);
        assert_eq!(shm.median_events_per_sec, 30.0);
        assert_eq!(shm.spread.unwrap().max, 40.0);
        assert_eq!(combined.rows[1].shm_ratio, Some(3.0));
        assert!(combined.render().contains("3 passes"));
    }
}
