//! [`CliError`]: everything that can make a `seqflow` command fail, and [`ArgError`], the flag
//! values and combinations that cannot work.

use seqflow_bench::BenchError;
use seqflow_pipeline::{BuildError, ShutdownError};
use seqflow_sequencer::ClaimError;
use seqflow_shm::ShmError;
use std::path::PathBuf;

/// Why a command failed. [`exit_code`](Self::exit_code) maps it to the process exit status.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A flag value or combination that cannot work.
    #[error("invalid argument: {0}")]
    InvalidArgument(#[from] ArgError),
    /// A comparison run failed (or its selection was bad).
    #[error(transparent)]
    Bench(#[from] BenchError),
    /// Memory for the perf ring's slots or the memcpy baseline's buffers could not be had.
    #[error("could not allocate {bytes} bytes for {what}: lower --slots or --slot-bytes")]
    OutOfMemory {
        /// What the memory was for.
        what: &'static str,
        /// The allocation that failed.
        bytes: usize,
    },
    /// A shared-memory ring could not be created, opened, inspected or removed. The source tells
    /// a missing segment ([`ShmError::NotFound`]) from a stale or mismatched one.
    #[error("shared memory: {0}")]
    Shm(#[from] ShmError),
    /// `seqflow rm` without `--force` found a process still attached.
    #[error(
        "{} in use by a live process; not removed (use --force to remove the name anyway)",
        if names.len() == 1 { format!("{} is", names[0]) } else { format!("{} are", names.join(", ")) }
    )]
    InUse {
        /// The segments left in place (every other one named was removed).
        names: Vec<String>,
    },
    /// `seqflow rm` without `--force` found nobody attached, but events the ring's consumers
    /// have not read yet (a named queue whose users all exited for now): removing the ring
    /// would lose them.
    #[error(
        "{name} holds {unread} event(s) its consumers have not read; not removed (nobody is \
         attached now: use --force to remove it with them)"
    )]
    HoldsUnread {
        /// The ring left in place.
        name: String,
        /// Its events not read by the slowest consumer when looked at.
        unread: usize,
    },
    /// `seqflow rm` with several rings: some could not be removed (every other one named was).
    #[error("{}", not_removed(errors, in_use, unread))]
    NotRemoved {
        /// Why each failed ring could not be removed, in the order named.
        errors: Vec<ShmError>,
        /// The rings left in place because a live process is attached (without `--force`).
        in_use: Vec<String>,
        /// The rings left in place because they hold unread events (without `--force`), with
        /// how many.
        unread: Vec<(String, usize)>,
    },
    /// The perf test's disruptor could not be built.
    #[error("could not build the disruptor: {0}")]
    Build(#[from] BuildError),
    /// A claim of the perf-test writer failed.
    #[error("claim failed: {0}")]
    Claim(#[from] ClaimError),
    /// The perf test's readers did not shut down cleanly.
    #[error("shutdown failed: {0}")]
    Shutdown(#[from] ShutdownError),
    /// The consumer process of a cross-process run misbehaved.
    #[error("{0}")]
    Ipc(String),
    /// A cross-process run of one transport failed.
    #[error("{transport} in {scenario}: {source}")]
    IpcRun {
        /// The transport.
        transport: &'static str,
        /// The scenario (`ipc-8B`, `ipc-128B`).
        scenario: String,
        /// What went wrong.
        source: Box<CliError>,
    },
    /// The chart could not be drawn.
    #[error("could not draw the chart {}: {message}", path.display())]
    Plot {
        /// The file asked for.
        path: PathBuf,
        /// What the drawing library said.
        message: String,
    },
    /// The perf test found bad or missing slots.
    #[error("perf test failed: {0}")]
    PerfFailed(String),
    /// Reading or writing failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl CliError {
    /// 2 for a bad argument (as for clap's own errors), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::InvalidArgument(_) | CliError::Bench(BenchError::UnknownScenario { .. }) => 2,
            CliError::IpcRun { source, .. } => source.exit_code(),
            _ => 1,
        }
    }
}

/// [`CliError::NotRemoved`]'s message: each error, then the rings in use, then those holding
/// unread events.
fn not_removed(errors: &[ShmError], in_use: &[String], unread: &[(String, usize)]) -> String {
    let mut parts: Vec<String> = errors
        .iter()
        .map(|e| format!("shared memory: {e}"))
        .collect();
    if !in_use.is_empty() {
        parts.push(
            CliError::InUse {
                names: in_use.to_vec(),
            }
            .to_string(),
        );
    }
    parts.extend(unread.iter().map(|(name, unread)| {
        CliError::HoldsUnread {
            name: name.clone(),
            unread: *unread,
        }
        .to_string()
    }));
    parts.join("; ")
}

/// A flag value or a combination of flags that cannot work, found after parsing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArgError {
    /// `--batch` larger than `--capacity`.
    #[error(
        "--batch {batch} is larger than --capacity {capacity}: a claim cannot exceed the ring"
    )]
    BatchOverCapacity {
        /// `--batch`.
        batch: usize,
        /// `--capacity`.
        capacity: usize,
    },
    /// `--plot` names a file that is not `.svg`.
    #[error(
        "--plot {}: only SVG is supported (a PNG would need system fonts to draw text); give a \
         file name ending in .svg",
        path.display()
    )]
    PlotNotSvg {
        /// The file asked for.
        path: PathBuf,
    },
    /// `--plot` names a file in a directory that does not exist.
    #[error("--plot {}: directory {} does not exist", path.display(), dir.display())]
    PlotDirMissing {
        /// The file asked for.
        path: PathBuf,
        /// Its directory.
        dir: PathBuf,
    },
    /// `--plot` names a directory.
    #[error("--plot {}: is a directory; give a file name ending in .svg", path.display())]
    PlotIsDir {
        /// The path asked for.
        path: PathBuf,
    },
    /// `--impl` and `--scenario` that leave no row: `seqflow-lock` alone on one-producer
    /// scenarios.
    #[error(
        "none of --impl {implementations} runs the scenarios asked for (seqflow-lock runs only \
         the multi-producer ones: 2p1c, 3p1c)"
    )]
    NoRows {
        /// The implementations asked for.
        implementations: String,
    },
    /// `--plot` without a throughput scenario to draw.
    #[error("--plot needs at least one throughput scenario (not only latency or ipc)")]
    PlotWithoutThroughput,
    /// A numeric flag outside the range that can work.
    #[error("{flag} {value}: {reason}")]
    OutOfRange {
        /// The flag.
        flag: &'static str,
        /// The value given.
        value: String,
        /// The range that works, and why.
        reason: String,
    },
    /// The perf ring would not fit the allocation limit.
    #[error(
        "the ring would take {bytes} bytes (--slots {slots} × --slot-bytes {slot_bytes}); the \
         limit is {limit}"
    )]
    RingTooLarge {
        /// Slots (after rounding up to a power of two).
        slots: usize,
        /// Bytes per slot.
        slot_bytes: usize,
        /// Their product.
        bytes: u128,
        /// The limit.
        limit: u128,
    },
    /// Busy-spinning with more threads than CPUs.
    #[error(
        "--wait busy-spin with {threads} threads on {cpus} CPU(s) would collapse; use \
         yielding, sleeping or blocking"
    )]
    BusySpinOversubscribed {
        /// Threads the run needs.
        threads: usize,
        /// CPUs available.
        cpus: usize,
    },
    /// A cross-process event size that is not one of the payload sweep's.
    #[error("ipc events are 8, 64, 128, 512, 4096, 65536 or 1048576 bytes, not {0}")]
    IpcEventSize(usize),
    /// `run-one --scenario` that is not one full scenario name.
    #[error("unknown scenario '{0}': give one full name from `seqflow compare --list` (e.g. 1p1c-u64-single)")]
    UnknownScenario(String),
}
