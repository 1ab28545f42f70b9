//! The command line: `seqflow compare` and `seqflow perf`, parsed with clap. Flag values are
//! checked here, so a bad one is a clear error before anything runs.

use crate::peers::Implementation;
use crate::wait::WaitKind;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// `seqflow`: compare seqflow with its peers, or perf-test a ring.
///
/// ```
/// use clap::Parser;
/// use seqflow_cli::cli::{Cli, Command};
/// let cli = Cli::try_parse_from(["seqflow", "compare", "--events", "1000", "--scenario", "1p1c,latency"]).unwrap();
/// let Command::Compare(args) = cli.command else { panic!() };
/// assert_eq!(args.scenarios, ["1p1c", "latency"]);
/// assert!(Cli::try_parse_from(["seqflow", "perf", "--slots", "50"]).is_err());
/// ```
#[derive(Debug, Parser)]
#[command(name = "seqflow", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Throughput and latency of seqflow against std mpsc, crossbeam-channel and the disruptor
    /// crate, side by side in one process.
    Compare(CompareArgs),
    /// The ring perf-test tool: one writer at a target rate, several readers.
    Perf(PerfArgs),
    /// Show a shared-memory ring: header, cursor, each consumer's sequence, lag and liveness.
    Inspect(crate::shm_cmd::InspectArgs),
    /// Remove shared-memory rings (only stale ones unless --force).
    Rm(crate::shm_cmd::RmArgs),
    /// The consumer process of the cross-process scenarios (started by `compare`).
    #[command(hide = true)]
    IpcConsumer(crate::ipc::IpcConsumerArgs),
}

/// Flags of `seqflow compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Scenarios to run (repeatable or comma separated): `all`, `latency`, a family (1p1c,
    /// 1p3c-pipeline, 1p3c-multicast, diamond, 2p1c, 3p1c), optionally narrowed with
    /// -u64/-b128 and -burst/-single. Default: all.
    #[arg(long = "scenario", value_name = "NAME", value_delimiter = ',')]
    pub scenarios: Vec<String>,
    /// Implementations to run (repeatable or comma separated). Default: all.
    #[arg(long = "impl", value_name = "IMPL", value_delimiter = ',', value_enum)]
    pub implementations: Vec<Implementation>,
    /// Events per run.
    #[arg(long, default_value_t = 1_000_000, value_parser = positive_u64)]
    pub events: u64,
    /// Rounds; each implementation runs once per round, the median is reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub rounds: u64,
    /// Ring size (a power of two) and the bound of every channel.
    #[arg(long, default_value_t = 4096, value_parser = power_of_two)]
    pub capacity: usize,
    /// Events per claim in burst scenarios (at most --capacity).
    #[arg(long, default_value_t = 100, value_parser = positive_usize)]
    pub batch: usize,
    /// Wait strategy for every scenario. Default: busy-spin where a scenario has no more
    /// threads than CPUs, yielding otherwise.
    #[arg(long, value_enum)]
    pub wait: Option<WaitKind>,
    /// Round trips per ping-pong run.
    #[arg(long, default_value_t = 20_000, value_parser = positive_u64)]
    pub round_trips: u64,
    /// The shortest a timed run should last, in milliseconds: an implementation that would finish
    /// faster (seen in an uncounted calibration run) gets proportionally more events per run.
    /// 0 runs exactly --events.
    #[arg(long, default_value_t = 50)]
    pub min_run_ms: u64,
    /// Print the report as JSON instead of a table.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print the report as CSV instead of a table.
    #[arg(long)]
    pub csv: bool,
    /// Also draw a bar chart of events/s to FILE (SVG).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Say on stderr what runs (default: only when stderr is a terminal).
    #[arg(long)]
    pub progress: bool,
    /// List the scenario names and exit.
    #[arg(long)]
    pub list: bool,
}

/// Flags of `seqflow perf` (named as in the ring buffer's `perf_test_ringbuffer.py`).
#[derive(Debug, Args)]
pub struct PerfArgs {
    /// Bytes per slot (at least 8).
    #[arg(long, alias = "slot_bytes", default_value_t = 1_000_000, value_parser = positive_usize)]
    pub slot_bytes: usize,
    /// Slots in the ring (a power of two).
    #[arg(long, default_value_t = 64, value_parser = power_of_two)]
    pub slots: usize,
    /// How long the writer writes, in seconds.
    #[arg(long, alias = "duration_seconds", default_value_t = 10.0, value_parser = positive_f64)]
    pub duration_seconds: f64,
    /// The writer's target rate.
    #[arg(long, alias = "writes_per_second", default_value_t = 24.0, value_parser = positive_f64)]
    pub writes_per_second: f64,
    /// Reader threads; each reads every slot.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub readers: u64,
    /// CPU time each reader burns per slot, in milliseconds.
    #[arg(long, alias = "reader_burn_cpu_milliseconds", default_value_t = 0.0, value_parser = non_negative_f64)]
    pub reader_burn_cpu_milliseconds: f64,
    /// The writer fills each slot with a pattern and the readers check every byte (default).
    #[arg(long, alias = "verify_writes", overrides_with = "no_verify_writes")]
    pub verify_writes: bool,
    /// Write and check only each slot's sequence number (the slot is still filled).
    #[arg(long, alias = "no-verify_writes", overrides_with = "verify_writes")]
    pub no_verify_writes: bool,
    /// How readers wait for slots and the writer for free ones.
    #[arg(long, value_enum, default_value_t = WaitKind::Blocking)]
    pub wait: WaitKind,
    /// Print a progress line every second on stderr (default: only when stderr is a terminal).
    #[arg(long, alias = "debug")]
    pub progress: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// A `u64` greater than 0.
///
/// ```
/// assert!(seqflow_cli::cli::positive_u64("0").is_err());
/// assert_eq!(seqflow_cli::cli::positive_u64("5"), Ok(5));
/// ```
pub fn positive_u64(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) => Err("must be greater than 0".into()),
        Ok(v) => Ok(v),
        Err(e) => Err(format!("not a whole number: {e}")),
    }
}

/// A `usize` greater than 0.
///
/// ```
/// assert!(seqflow_cli::cli::positive_usize("-1").is_err());
/// ```
pub fn positive_usize(s: &str) -> Result<usize, String> {
    positive_u64(s).and_then(|v| usize::try_from(v).map_err(|e| e.to_string()))
}

/// A power of two greater than 0.
///
/// ```
/// use seqflow_cli::cli::power_of_two;
/// assert_eq!(power_of_two("64"), Ok(64));
/// assert!(power_of_two("50").unwrap_err().contains("try 64"));
/// assert!(power_of_two("0").is_err());
/// ```
pub fn power_of_two(s: &str) -> Result<usize, String> {
    let v = positive_usize(s)?;
    if v.is_power_of_two() {
        Ok(v)
    } else {
        Err(format!(
            "must be a power of two (seqflow rings index by masking); try {}",
            v.checked_next_power_of_two().unwrap_or(v)
        ))
    }
}

/// A finite number greater than 0.
///
/// ```
/// assert!(seqflow_cli::cli::positive_f64("0").is_err());
/// assert_eq!(seqflow_cli::cli::positive_f64("0.5"), Ok(0.5));
/// ```
pub fn positive_f64(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(_) => Err("must be a number greater than 0".into()),
        Err(e) => Err(format!("not a number: {e}")),
    }
}

/// A finite number, 0 or more.
///
/// ```
/// assert!(seqflow_cli::cli::non_negative_f64("-1").is_err());
/// assert_eq!(seqflow_cli::cli::non_negative_f64("0"), Ok(0.0));
/// ```
pub fn non_negative_f64(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Ok(_) => Err("must be a number, 0 or more".into()),
        Err(e) => Err(format!("not a number: {e}")),
    }
}
