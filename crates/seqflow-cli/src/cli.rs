//! The command line, parsed with clap: `seqflow compare`, `perf`, `inspect` and `rm`. Every
//! numeric flag is checked by a parser here, so a bad value is a clear error before anything
//! runs; checks that need several flags are in the commands (see [`ArgError`](crate::ArgError)).

use clap::{Args, Parser, Subcommand};
use seqflow_bench::pacing::StagePacing;
use seqflow_bench::peers::Implementation;
use seqflow_bench::wait::Wait;
use std::path::PathBuf;

/// Compare seqflow with its peers, perf-test a ring, or look at shared-memory rings.
///
/// `seqflow compare` runs the scenario families 1p1c, 1p3c-pipeline, 1p3c-multicast, diamond,
/// 2p1c and 3p1c (throughput), latency (ping-pong round trips) and ipc (two processes over a
/// shared-memory ring, a pipe and a Unix socket), and prints events/s and seqflow/peer ratios
/// measured side by side in one run. `seqflow perf` runs one writer at a target rate against
/// several readers. `seqflow inspect NAME` shows a shared-memory ring; `seqflow rm NAME`
/// removes a stale one (nobody attached, nothing left unread by its consumers).
#[derive(Debug, Parser)]
#[command(name = "seqflow", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Throughput and latency of seqflow against std mpsc, crossbeam-channel and the disruptor
    /// crate in one process, and of a shared-memory ring against a pipe and a Unix socket
    /// between two processes.
    ///
    /// Scenario families: 1p1c, 1p3c-pipeline, 1p3c-multicast, diamond, 2p1c and 3p1c (each
    /// with u64 and 128-byte events, published in bursts or one at a time), latency (ping-pong)
    /// and ipc (cross-process). Every consumer verifies what it received. `--list` prints every
    /// scenario name.
    Compare(CompareArgs),
    /// The ring perf-test tool: one writer at a target rate, several readers that verify every
    /// byte and may burn CPU per slot; reports the achieved rate, late writes and each reader's
    /// lag.
    Perf(PerfArgs),
    /// List the shared-memory rings in /dev/shm: name, capacity, backlog, consumers, state
    /// (rings this user may not read are not listed).
    Ls(crate::shm_cmd::LsArgs),
    /// Show a shared-memory ring: header, cursor, each consumer's sequence, lag and liveness.
    Inspect(crate::shm_cmd::InspectArgs),
    /// Remove shared-memory rings (unless --force, only stale ones: nobody attached and no
    /// event left unread by their consumers).
    Rm(crate::shm_cmd::RmArgs),
    /// Halt a shared-memory ring in every process: stages stop without draining, waits and
    /// claims fail with a halt error. Permanent for that segment.
    Halt(crate::shm_cmd::HaltArgs),
    /// Stop a declared consumer or pool of a shared-memory ring from holding the producer back
    /// (for a declared name that no process will attach as again).
    Release(crate::shm_cmd::ReleaseArgs),
    /// The consumer process of the cross-process scenarios (started by `compare`).
    #[command(hide = true)]
    IpcConsumer(crate::ipc::IpcConsumerArgs),
    /// Run one in-process scenario once with one implementation and a fixed event count, no
    /// calibration (what `scripts/instructions` runs under callgrind).
    #[command(hide = true)]
    RunOne(RunOneArgs),
    /// A reader process of `seqflow perf --reader-processes` (started by `perf`).
    #[command(hide = true)]
    PerfReader(crate::perf::PerfReaderArgs),
}

/// Flags of the hidden `seqflow run-one` command.
#[derive(Debug, Args)]
pub struct RunOneArgs {
    /// The implementation.
    #[arg(long = "impl", value_enum)]
    pub implementation: Implementation,
    /// One full scenario name (see `seqflow compare --list`).
    #[arg(long)]
    pub scenario: String,
    /// Events to publish (rounded to whole batches per producer).
    #[arg(long, default_value_t = 100_000, allow_negative_numbers = true, value_parser = events)]
    pub events: u64,
    /// Ring size and channel bound (a power of two).
    #[arg(long, default_value_t = 4096, allow_negative_numbers = true, value_parser = capacity)]
    pub capacity: usize,
    /// Events per claim in burst scenarios (at most --capacity).
    #[arg(long, default_value_t = 100, allow_negative_numbers = true, value_parser = batch)]
    pub batch: usize,
    /// Wait strategy (yielding by default: under callgrind threads take turns, and a yield
    /// hands the CPU over at once).
    #[arg(long, value_enum, default_value_t = Wait::Yielding)]
    pub wait: Wait,
    /// Whether seqflow's stages pause after a batch of several events (see `compare --pacing`).
    #[arg(long, value_enum, default_value_t = StagePacing::Default)]
    pub pacing: StagePacing,
}

/// The most events one `compare` run may publish.
const MAX_EVENTS: u64 = 1_000_000_000_000;
/// The largest `compare` ring.
const MAX_CAPACITY: u64 = 1 << 22;

/// Flags of `seqflow compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Scenarios to run (repeatable or comma separated): all, latency, ipc, or a family
    /// (1p1c, 1p3c-pipeline, 1p3c-multicast, diamond, 2p1c, 3p1c), optionally narrowed with
    /// -u64/-b128 and -burst/-single. Default: all.
    #[arg(long = "scenario", value_name = "NAME", value_delimiter = ',')]
    pub scenarios: Vec<String>,
    /// Implementations to run (repeatable or comma separated) in the in-process scenarios and
    /// ping-pong; the ipc section always compares seqflow-shm, a pipe and a Unix socket.
    /// Default: all.
    #[arg(long = "impl", value_name = "IMPL", value_delimiter = ',', value_enum)]
    pub implementations: Vec<Implementation>,
    /// Events per run (1 to 10^12).
    #[arg(long, default_value_t = 1_000_000, allow_negative_numbers = true, value_parser = events)]
    pub events: u64,
    /// Rounds (1 to 1000); each implementation runs once per round, the median is reported.
    #[arg(long, default_value_t = 3, allow_negative_numbers = true, value_parser = rounds)]
    pub rounds: u64,
    /// Ring size (a power of two, at most 4194304) and the bound of every channel.
    #[arg(long, default_value_t = 4096, allow_negative_numbers = true, value_parser = capacity)]
    pub capacity: usize,
    /// Events per claim in burst scenarios (at most --capacity).
    #[arg(long, default_value_t = 100, allow_negative_numbers = true, value_parser = batch)]
    pub batch: usize,
    /// Wait strategy for every scenario. Default: busy-spin where a scenario has no more
    /// threads than the CPUs other processes leave idle (sampled as the command starts),
    /// yielding otherwise.
    #[arg(long, value_enum)]
    pub wait: Option<Wait>,
    /// Whether seqflow's stages that spin before they wait (busy-spin, yielding) pause after a
    /// small batch of several events (`Pacing` in the pipeline crate, on by default in every
    /// program);
    /// `off` shows what it changes. The other implementations have no such setting, and the
    /// cross-process section's in-process reference always runs with the default.
    #[arg(long, value_enum, default_value_t = StagePacing::Default)]
    pub pacing: StagePacing,
    /// Round trips per ping-pong run (1 to 10^9).
    #[arg(long, default_value_t = 20_000, allow_negative_numbers = true, value_parser = round_trips)]
    pub round_trips: u64,
    /// The shortest a timed run should last, in milliseconds (0 to 600000): an implementation
    /// that would finish faster (seen in an uncounted calibration run) gets proportionally more
    /// events per run; so do the cross-process shared-memory rows and their in-process
    /// reference (pipes and sockets run --events). 0 runs exactly --events.
    #[arg(long, default_value_t = 50, allow_negative_numbers = true, value_parser = min_run_ms)]
    pub min_run_ms: u64,
    /// Full passes (1 to 100): the whole selection runs N times (each pass with its own rounds
    /// and calibration); each row reports the median of the passes' medians, the median of the
    /// passes' seqflow ratios, and their spread (lowest and highest).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_parser = repeat)]
    pub repeat: u64,
    /// Event sizes of the cross-process payload sweep, in bytes (comma separated; each one of
    /// 8, 64, 128, 512, 4096, 65536, 1048576). Default: all of them.
    #[arg(long, value_name = "BYTES", value_delimiter = ',', allow_negative_numbers = true, value_parser = ipc_size)]
    pub ipc_sizes: Vec<usize>,
    /// Print the report as JSON instead of a table.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print the report as CSV instead of a table.
    #[arg(long)]
    pub csv: bool,
    /// Also draw a bar chart of events/s to FILE (SVG; its directory must exist).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Say on stderr what runs (default: only when stderr is a terminal).
    #[arg(long)]
    pub progress: bool,
    /// List the scenario names and exit.
    #[arg(long)]
    pub list: bool,
}

/// The largest slot `perf` allocates.
const MAX_SLOT_BYTES: u64 = 1 << 30;
/// The most slots `perf` accepts (before rounding up to a power of two).
const MAX_SLOTS: u64 = 1 << 30;
/// The longest `perf` run, in seconds (a week).
const MAX_DURATION_SECONDS: f64 = 7.0 * 24.0 * 3600.0;
/// The highest target rate (one write per nanosecond).
const MAX_WRITES_PER_SECOND: f64 = 1e9;
/// The most CPU a reader may burn per slot, in milliseconds.
const MAX_BURN_MS: f64 = 60_000.0;

/// Flags of `seqflow perf`. Underscore spellings (`--slot_bytes=…`) are accepted too.
#[derive(Debug, Args)]
pub struct PerfArgs {
    /// Bytes per slot (8 to 1073741824; a slot starts with its 8-byte sequence number).
    #[arg(long, alias = "slot_bytes", default_value_t = 1_000_000, allow_negative_numbers = true, value_parser = slot_bytes)]
    pub slot_bytes: usize,
    /// Slots in the ring (1 to 1073741824); rounded up to a power of two, with a note.
    #[arg(long, default_value_t = 64, allow_negative_numbers = true, value_parser = slots)]
    pub slots: usize,
    /// How long the writer writes, in seconds (greater than 0, at most a week).
    #[arg(long, alias = "duration_seconds", default_value_t = 10.0, allow_negative_numbers = true, value_parser = duration_seconds)]
    pub duration_seconds: f64,
    /// The writer's target rate (greater than 0, at most 10^9), or max: unpaced, as fast as the
    /// readers allow (to compare the achieved bytes/s with the memcpy baseline).
    #[arg(long, alias = "writes_per_second", default_value = "24", allow_negative_numbers = true, value_parser = writes_per_second)]
    pub writes_per_second: f64,
    /// Readers (1 to 1024); each reads every slot.
    #[arg(long, default_value_t = 5, allow_negative_numbers = true, value_parser = readers)]
    pub readers: usize,
    /// Run each reader as a separate process attached to a shared-memory ring of byte slots
    /// (slots up to 268435456 bytes), instead of a thread on an in-process ring.
    #[arg(long, alias = "reader_processes")]
    pub reader_processes: bool,
    /// CPU time each reader burns per slot, in milliseconds (0 to 60000).
    #[arg(long, alias = "reader_burn_cpu_milliseconds", default_value_t = 0.0, allow_negative_numbers = true, value_parser = burn_ms)]
    pub reader_burn_cpu_milliseconds: f64,
    /// The writer fills each slot with a pattern and the readers check every byte (default).
    #[arg(long, alias = "verify_writes", overrides_with = "no_verify_writes")]
    pub verify_writes: bool,
    /// Write and check only each slot's sequence number (the slot is still filled).
    #[arg(long, alias = "no-verify_writes", overrides_with = "verify_writes")]
    pub no_verify_writes: bool,
    /// How readers wait for slots and the writer for free ones.
    #[arg(long, value_enum, default_value_t = Wait::Blocking)]
    pub wait: Wait,
    /// Print a progress line every second on stderr (default: only when stderr is a terminal).
    #[arg(long, alias = "debug")]
    pub progress: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Why a flag's value was refused (clap prints it after the flag and the value).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValueError {
    /// Not an integer.
    #[error("not a whole number")]
    NotWhole,
    /// Not a number at all.
    #[error("not a number")]
    NotANumber,
    /// NaN or infinite.
    #[error("must be a finite number")]
    NotFinite,
    /// Below the smallest value that works.
    #[error("must be at least {0}")]
    TooSmall(String),
    /// Zero or negative where only positive values work.
    #[error("must be greater than 0")]
    NotPositive,
    /// Above the largest value allowed.
    #[error("must be at most {0}")]
    TooLarge(String),
    /// Not one of the values that exist.
    #[error("must be one of {0}")]
    NotOneOf(String),
    /// Not a power of two.
    #[error("must be a power of two (rings find a slot by masking); try {0}")]
    NotPowerOfTwo(u64),
}

/// A whole number in `min..=max` (a negative one is "too small", not "not a number").
fn whole(s: &str, min: u64, max: u64) -> Result<u64, ValueError> {
    let v: i128 = s.trim().parse().map_err(|_| ValueError::NotWhole)?;
    if v < i128::from(min) {
        Err(if min == 1 {
            ValueError::NotPositive
        } else {
            ValueError::TooSmall(min.to_string())
        })
    } else if v > i128::from(max) {
        Err(ValueError::TooLarge(max.to_string()))
    } else {
        u64::try_from(v).map_err(|_| ValueError::TooLarge(max.to_string()))
    }
}

/// A finite number up to `max`: 0 or more if `zero_ok`, else greater than 0.
fn number(s: &str, zero_ok: bool, max: f64) -> Result<f64, ValueError> {
    let v: f64 = s.trim().parse().map_err(|_| ValueError::NotANumber)?;
    if !v.is_finite() {
        Err(ValueError::NotFinite)
    } else if v < 0.0 || (v == 0.0 && !zero_ok) {
        Err(if zero_ok {
            ValueError::TooSmall("0".into())
        } else {
            ValueError::NotPositive
        })
    } else if v > max {
        Err(ValueError::TooLarge(max.to_string()))
    } else {
        Ok(v)
    }
}

fn to_usize(v: u64) -> Result<usize, ValueError> {
    usize::try_from(v).map_err(|_| ValueError::TooLarge(usize::MAX.to_string()))
}

fn events(s: &str) -> Result<u64, ValueError> {
    whole(s, 1, MAX_EVENTS)
}

fn rounds(s: &str) -> Result<u64, ValueError> {
    whole(s, 1, 1000)
}

fn capacity(s: &str) -> Result<usize, ValueError> {
    let v = whole(s, 1, MAX_CAPACITY)?;
    if v.is_power_of_two() {
        to_usize(v)
    } else {
        Err(ValueError::NotPowerOfTwo(v.next_power_of_two()))
    }
}

fn batch(s: &str) -> Result<usize, ValueError> {
    to_usize(whole(s, 1, MAX_CAPACITY)?)
}

fn repeat(s: &str) -> Result<u64, ValueError> {
    whole(s, 1, 100)
}

fn ipc_size(s: &str) -> Result<usize, ValueError> {
    let v = to_usize(whole(s, 1, 1 << 20)?)?;
    if crate::ipc::SIZES.contains(&v) {
        Ok(v)
    } else {
        Err(ValueError::NotOneOf(
            crate::ipc::SIZES.map(|b| b.to_string()).join(", "),
        ))
    }
}

fn round_trips(s: &str) -> Result<u64, ValueError> {
    whole(s, 1, 1_000_000_000)
}

fn min_run_ms(s: &str) -> Result<u64, ValueError> {
    whole(s, 0, 600_000)
}

fn slot_bytes(s: &str) -> Result<usize, ValueError> {
    to_usize(whole(s, 8, MAX_SLOT_BYTES)?)
}

fn slots(s: &str) -> Result<usize, ValueError> {
    to_usize(whole(s, 1, MAX_SLOTS)?)
}

fn duration_seconds(s: &str) -> Result<f64, ValueError> {
    number(s, false, MAX_DURATION_SECONDS)
}

/// A rate, or `max` (infinity: the unpaced writer).
fn writes_per_second(s: &str) -> Result<f64, ValueError> {
    if s.trim().eq_ignore_ascii_case("max") {
        return Ok(f64::INFINITY);
    }
    number(s, false, MAX_WRITES_PER_SECOND)
}

fn readers(s: &str) -> Result<usize, ValueError> {
    to_usize(whole(s, 1, 1024)?)
}

fn burn_ms(s: &str) -> Result<f64, ValueError> {
    number(s, true, MAX_BURN_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers() {
        assert_eq!(whole("5", 1, 10), Ok(5));
        assert_eq!(whole("0", 1, 10), Err(ValueError::NotPositive));
        assert_eq!(whole("-1", 1, 10), Err(ValueError::NotPositive));
        assert_eq!(whole("4", 8, 10), Err(ValueError::TooSmall("8".into())));
        assert_eq!(whole("11", 1, 10), Err(ValueError::TooLarge("10".into())));
        assert_eq!(whole("1.5", 1, 10), Err(ValueError::NotWhole));
        assert_eq!(
            whole("99999999999999999999999999999999999999999", 1, 10),
            Err(ValueError::NotWhole)
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(number("0.5", false, 10.0), Ok(0.5));
        assert_eq!(number("1e-300", false, 10.0), Ok(1e-300));
        assert_eq!(number("0", false, 10.0), Err(ValueError::NotPositive));
        assert_eq!(number("0", true, 10.0), Ok(0.0));
        assert_eq!(
            number("-1", true, 10.0),
            Err(ValueError::TooSmall("0".into()))
        );
        assert_eq!(number("nan", false, 10.0), Err(ValueError::NotFinite));
        assert_eq!(number("inf", false, 10.0), Err(ValueError::NotFinite));
        assert_eq!(number("1e400", false, 10.0), Err(ValueError::NotFinite));
        assert_eq!(
            number("11", false, 10.0),
            Err(ValueError::TooLarge("10".into()))
        );
        assert_eq!(number("x", false, 10.0), Err(ValueError::NotANumber));
    }

    #[test]
    fn capacity_is_a_power_of_two() {
        assert_eq!(capacity("64"), Ok(64));
        assert_eq!(capacity("50"), Err(ValueError::NotPowerOfTwo(64)));
    }

    #[test]
    fn every_flag_parses_its_defaults() {
        let cli = Cli::try_parse_from(["seqflow", "perf"]).unwrap();
        assert!(matches!(cli.command, Command::Perf(_)));
        let cli =
            Cli::try_parse_from(["seqflow", "compare", "--scenario", "1p1c,latency"]).unwrap();
        let Command::Compare(args) = cli.command else {
            panic!("compare parses as compare");
        };
        assert_eq!(args.scenarios, ["1p1c", "latency"]);
    }
}
