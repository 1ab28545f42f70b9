//! Running a parsed command line: each subcommand's flags become the options of the code that
//! does the work, checks that need several flags are made, and the report is written.

use crate::cli::{Cli, Command, CompareArgs, PerfArgs};
use crate::{ipc, output, perf, shm_cmd, ArgError, CliError};
use seqflow_bench::wait::Wait;
use seqflow_bench::{compare, peers, scenario};
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// Run a parsed command line, writing the report to `out` and progress lines to stderr.
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

/// The name of the cross-process section in `--scenario`.
const IPC: &str = "ipc";

fn run_compare(args: CompareArgs, out: &mut dyn Write) -> Result<(), CliError> {
    if args.list {
        for s in scenario::Scenario::all() {
            writeln!(out, "{}", s.name())?;
        }
        writeln!(out, "{}", scenario::LATENCY)?;
        writeln!(out, "{IPC}")?;
        return Ok(());
    }
    if args.batch > args.capacity {
        return Err(ArgError::BatchOverCapacity {
            batch: args.batch,
            capacity: args.capacity,
        }
        .into());
    }
    // `ipc` (cross-process scenarios) is not an in-process scenario: run it separately, after
    // the in-process ones (by default, or alone with `--scenario ipc`).
    let wants_ipc =
        args.scenarios.is_empty() || args.scenarios.iter().any(|s| s == IPC || s == "all");
    let in_process: Vec<String> = args
        .scenarios
        .iter()
        .filter(|s| *s != IPC)
        .cloned()
        .collect();
    let ipc_only = !args.scenarios.is_empty() && in_process.is_empty();
    if ipc_only {
        if args.plot.is_some() {
            return Err(ArgError::PlotWithoutThroughput.into());
        }
        let section = ipc::compare_ipc(&ipc_options(&args), &mut progress_sink(args.progress))?;
        out.write_all(section.render(args.json, args.csv).as_bytes())?;
        return Ok(());
    }
    let selection = scenario::select(&in_process)?;
    // Every check that can fail is made before the benchmark runs.
    if let Some(path) = &args.plot {
        output::plot::check_path(path)?;
        if selection.scenarios.is_empty() {
            return Err(ArgError::PlotWithoutThroughput.into());
        }
    }
    let mut implementations = if args.implementations.is_empty() {
        peers::Implementation::ALL.to_vec()
    } else {
        args.implementations.clone()
    };
    implementations.sort_by_key(|i| peers::Implementation::ALL.iter().position(|a| a == i));
    implementations.dedup();
    let opts = compare::CompareOptions {
        selection,
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
        wait: args.wait.unwrap_or(Wait::BusySpin),
    }
}

fn run_perf(args: PerfArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let slots = perf::ring_slots(args.slots)?;
    if slots != args.slots {
        eprintln!(
            "seqflow: note: --slots {} rounded up to {slots} (a ring's size is a power of two: \
             a slot is found by masking the sequence)",
            args.slots
        );
    }
    let cfg = perf::PerfConfig {
        slot_bytes: args.slot_bytes,
        slots,
        duration: perf::seconds("--duration-seconds", args.duration_seconds)?,
        writes_per_second: args.writes_per_second,
        readers: args.readers,
        reader_burn: perf::seconds(
            "--reader-burn-cpu-milliseconds",
            args.reader_burn_cpu_milliseconds / 1e3,
        )?,
        verify_writes: !args.no_verify_writes,
        wait: args.wait,
        progress: args.progress || std::io::stderr().is_terminal(),
    };
    let report = perf::run(&cfg, &mut progress_sink(true))?;
    if args.json {
        let json = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::Io(std::io::Error::other(e)))?;
        writeln!(out, "{json}")?;
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
