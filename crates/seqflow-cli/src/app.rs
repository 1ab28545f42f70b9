//! The `seqflow` command, as a library so that its scenarios can be tested and reused by the
//! workspace's criterion benches.
//!
//! - `seqflow compare`: standard scenarios (1P-1C, 1P-3C pipeline and multicast, diamond, 2P-1C,
//!   3P-1C; `u64` and 128-byte events; burst and one-at-a-time publishing) for seqflow and for
//!   `std::sync::mpsc::sync_channel`, `crossbeam-channel` and the `disruptor` crate, in one
//!   process, alternating implementations within each round; a ping-pong latency scenario;
//!   table, JSON, CSV and SVG chart output. Every consumer verifies what it received.
//! - `seqflow perf`: the ring perf-test tool: a writer at a target rate, readers that verify
//!   and burn CPU, achieved rate and lag.
//!
//! ```
//! use seqflow_cli::peers::{run, Implementation, RunConfig};
//! use seqflow_cli::scenario::select;
//! use seqflow_cli::wait::WaitKind;
//! let cfg = RunConfig { events: 2_000, capacity: 256, batch: 10, wait: WaitKind::Yielding };
//! for scenario in select(&["diamond-b128".to_string()]).unwrap().scenarios {
//!     for implementation in Implementation::ALL {
//!         if implementation.supports(scenario) {
//!             let m = run(implementation, scenario, &cfg).unwrap(); // verified
//!             assert!(m.events_per_sec() > 0.0);
//!         }
//!     }
//! }
//! ```
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod cli;
pub mod compare;
mod error;
pub mod ipc;
pub mod latency;
pub mod output;
pub mod payload;
pub mod peers;
pub mod perf;
pub mod scenario;
pub mod shm_cmd;
pub mod verify;
pub mod wait;

pub use error::CliError;

use cli::{Cli, Command, CompareArgs, PerfArgs};
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// Run a parsed command line, writing the report to `out` and progress lines to stderr.
///
/// ```
/// use clap::Parser;
/// let cli = seqflow_cli::cli::Cli::parse_from(["seqflow", "compare", "--list"]);
/// let mut out = Vec::new();
/// seqflow_cli::run(cli, &mut out).unwrap();
/// assert!(String::from_utf8(out).unwrap().contains("1p1c-u64-burst"));
/// ```
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<(), CliError> {
    match cli.command {
        Command::Compare(args) => run_compare(args, out),
        Command::Perf(args) => run_perf(args, out),
        Command::Inspect(args) => shm_cmd::inspect(&args, out),
        Command::Rm(args) => shm_cmd::rm(&args, out),
        Command::IpcConsumer(args) => ipc::consume(&args, out),
    }
}

fn progress_sink(forced: bool) -> impl FnMut(&str) {
    let show = forced || std::io::stderr().is_terminal();
    move |line: &str| {
        if show {
            eprintln!("{line}");
        }
    }
}

fn run_compare(args: CompareArgs, out: &mut dyn Write) -> Result<(), CliError> {
    if args.list {
        for s in scenario::Scenario::all() {
            writeln!(out, "{}", s.name())?;
        }
        writeln!(out, "{}", scenario::LATENCY)?;
        return Ok(());
    }
    if args.batch > args.capacity {
        return Err(CliError::InvalidArgument(format!(
            "--batch {} is larger than --capacity {}: a claim cannot exceed the ring",
            args.batch, args.capacity
        )));
    }
    // `ipc` (cross-process scenarios) is not an in-process scenario: run it separately, after
    // the in-process ones (by default, or alone with `--scenario ipc`).
    let wants_ipc =
        args.scenarios.is_empty() || args.scenarios.iter().any(|s| s == "ipc" || s == "all");
    let in_process: Vec<String> = args
        .scenarios
        .iter()
        .filter(|s| *s != "ipc")
        .cloned()
        .collect();
    let ipc_only = !args.scenarios.is_empty() && in_process.is_empty();
    if ipc_only {
        let section = ipc::compare_ipc(&ipc_options(&args), &mut progress_sink(args.progress))?;
        out.write_all(section.render(args.json, args.csv).as_bytes())?;
        return Ok(());
    }
    let mut implementations = if args.implementations.is_empty() {
        peers::Implementation::ALL.to_vec()
    } else {
        args.implementations.clone()
    };
    implementations.sort_by_key(|i| peers::Implementation::ALL.iter().position(|a| a == i));
    implementations.dedup();
    let opts = compare::CompareOptions {
        selection: scenario::select(&in_process)?,
        implementations,
        events: args.events,
        rounds: args.rounds as usize,
        capacity: args.capacity,
        batch: args.batch,
        wait: args.wait,
        round_trips: args.round_trips,
        min_run: Duration::from_millis(args.min_run_ms),
    };
    let report = compare::compare(&opts, &mut progress_sink(args.progress))?;
    if let Some(path) = &args.plot {
        output::plot::draw(&report, path)?;
    }
    let text = if args.json {
        output::json::render(&report)
    } else if args.csv {
        output::csv::render(&report)
    } else {
        output::table::render(&report)
    };
    out.write_all(text.as_bytes())?;
    if !args.json && !text.ends_with('\n') {
        writeln!(out)?;
    }
    // The cross-process table follows the in-process one (text output only, so JSON and CSV
    // stay one document; `--scenario ipc --json` gives it as JSON).
    if wants_ipc && !args.json && !args.csv {
        let section = ipc::compare_ipc(&ipc_options(&args), &mut progress_sink(args.progress))?;
        writeln!(out)?;
        out.write_all(section.render(false, false).as_bytes())?;
    }
    Ok(())
}

/// The cross-process runs `compare` makes: the same events, capacity and batch as in-process,
/// at most 2 000 000 events per run (pipes and sockets are slow enough that this is plenty).
fn ipc_options(args: &CompareArgs) -> ipc::IpcOptions {
    ipc::IpcOptions {
        events: args.events.min(2_000_000),
        rounds: args.rounds as usize,
        capacity: args.capacity,
        batch: args.batch,
        wait: args.wait.unwrap_or(wait::WaitKind::BusySpin),
    }
}

fn run_perf(args: PerfArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let cfg = perf::PerfConfig {
        slot_bytes: args.slot_bytes,
        slots: args.slots,
        duration: Duration::try_from_secs_f64(args.duration_seconds)
            .map_err(|e| CliError::InvalidArgument(format!("--duration-seconds: {e}")))?,
        writes_per_second: args.writes_per_second,
        readers: args.readers as usize,
        reader_burn: Duration::try_from_secs_f64(args.reader_burn_cpu_milliseconds / 1e3).map_err(
            |e| CliError::InvalidArgument(format!("--reader-burn-cpu-milliseconds: {e}")),
        )?,
        verify_writes: !args.no_verify_writes,
        wait: args.wait,
        progress: args.progress || std::io::stderr().is_terminal(),
    };
    let report = perf::run(&cfg, &mut progress_sink(true))?;
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&report).expect("the report is plain data")
        )?;
    } else {
        out.write_all(report.render().as_bytes())?;
    }
    let problems = report.problems();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CliError::PerfFailed(problems.join("; ")))
    }
}
