//! Running a parsed command line: each subcommand's flags become the options of the code that
//! does the work, checks that need several flags are made, and the report is written.

use crate::cli::{Cli, Command, CompareArgs, PerfArgs, RunOneArgs};
use crate::{ipc, output, perf, shm_cmd, ArgError, CliError};
use seqflow_bench::load::LoadMonitor;
use seqflow_bench::wait::Wait;
use seqflow_bench::{compare, peers, scenario};
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// Run a parsed command line, writing the report to `out` and progress lines to stderr.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<(), CliError> {
    match cli.command {
        Command::Compare(args) => run_compare(args, out),
        Command::Perf(args) => run_perf(args, out),
        Command::Ls(args) => shm_cmd::ls(&args, out),
        Command::Inspect(args) => shm_cmd::inspect(&args, out),
        Command::Rm(args) => shm_cmd::rm(&args, out),
        Command::Release(args) => shm_cmd::release(&args, out),
        Command::Halt(args) => shm_cmd::halt(&args, out),
        Command::IpcConsumer(args) => ipc::consume(&args, out),
        Command::RunOne(args) => run_one(args, out),
        Command::PerfReader(args) => perf::read_as_process(&args, out),
    }
}

fn progress_sink(forced: bool) -> impl FnMut(&str) {
    let show = forced || std::io::stderr().is_terminal();
    move |line: &str| {
        if show {
            crate::note!("{line}");
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
    // `ipc` (cross-process scenarios) is not an in-process scenario: it runs after the in-process
    // ones (by default, with `all`, or alone with `--scenario ipc`).
    let wants_ipc =
        args.scenarios.is_empty() || args.scenarios.iter().any(|s| s == IPC || s == "all");
    let in_process: Vec<String> = args
        .scenarios
        .iter()
        .filter(|s| *s != IPC)
        .cloned()
        .collect();
    let ipc_only = !args.scenarios.is_empty() && in_process.is_empty();
    let selection = if ipc_only {
        scenario::Selection {
            scenarios: Vec::new(),
            latency: false,
        }
    } else {
        scenario::select(&in_process)?
    };
    // Every check that can fail is made before the benchmark runs.
    if let Some(path) = &args.plot {
        output::plot::check_path(path)?;
        if selection.scenarios.is_empty() && !wants_ipc {
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
    // A selection none of the chosen implementations has a row for would print an empty table.
    if !selection.scenarios.is_empty()
        && !selection
            .scenarios
            .iter()
            .any(|&s| implementations.iter().any(|i| i.supports(s)))
    {
        return Err(ArgError::NoRows {
            implementations: implementations
                .iter()
                .map(|i| i.name())
                .collect::<Vec<_>>()
                .join(", "),
        }
        .into());
    }
    let opts = compare::CompareOptions {
        selection,
        implementations,
        events: args.events,
        rounds: args.rounds as usize,
        capacity: args.capacity,
        batch: args.batch,
        wait: args.wait,
        pacing: args.pacing,
        round_trips: args.round_trips,
        min_run: Duration::from_millis(args.min_run_ms),
    };
    // The most threads the run has at once: a scenario's threads, 2 for ping-pong and the
    // cross-process runs (one thread in each process).
    let run_threads = opts
        .selection
        .scenarios
        .iter()
        .map(|s| s.shape.threads())
        .chain((opts.selection.latency || wants_ipc).then_some(2))
        .max()
        .unwrap_or(1);
    let mut progress = progress_sink(args.progress);
    if args.wait.is_none() {
        let (idle, cpus) = (
            seqflow_bench::wait::idle_cores(),
            seqflow_bench::wait::available_cores(),
        );
        if idle < cpus && run_threads > idle {
            crate::note!(
                "seqflow: note: other processes keep {} of the {cpus} CPU(s) busy: scenarios with \
                 more threads than the {idle} idle one(s) wait yielding instead of busy-spinning \
                 (--wait busy-spin forces it)",
                cpus - idle
            );
        }
    }
    let monitor = LoadMonitor::start(run_threads);
    if let Some(start) = &monitor.load_start() {
        progress(&format!(
            "load average at the start: {:.2} {:.2} {:.2}",
            start.one, start.five, start.fifteen
        ));
    }
    let repeat = args.repeat.max(1) as usize;
    let mut reports = Vec::with_capacity(repeat);
    let mut sections = Vec::with_capacity(repeat);
    for pass in 0..repeat {
        if repeat > 1 {
            progress(&format!("pass {}/{repeat}", pass + 1));
        }
        if !ipc_only {
            reports.push(compare::compare(&opts, &mut progress)?);
        }
        if wants_ipc {
            sections.push(ipc::compare_ipc(&ipc_options(&args), &mut progress)?);
        }
    }
    let mut environment = monitor.finish();
    let mut report = compare::combine(reports).unwrap_or_else(|| empty_report(&opts));
    report.config.passes = repeat;
    let probes: Vec<f64> = report.line_round_trips().collect();
    environment
        .warnings
        .extend(seqflow_bench::line_probe::regime_warning(&probes));
    // The table prints the warnings itself; JSON and CSV carry them as fields, which a reader
    // of the terminal would not see, so they go to stderr too.
    let machine_readable = args.json || args.csv;
    for w in environment.warnings.iter().filter(|_| machine_readable) {
        crate::note!("seqflow: WARNING: {w}");
    }
    if environment.competing && machine_readable {
        crate::note!(
            "seqflow: WARNING: other processes competed for the CPUs: read these numbers with \
             care, or run again on an idle machine"
        );
    }
    let ipc = ipc::IpcSection::combine(sections);
    let document = output::Document {
        environment,
        report,
        ipc,
    };
    if let Some(path) = &args.plot {
        output::plot::draw(&document, path)?;
    }
    let text = if args.json {
        output::json::render(&document)
    } else if args.csv {
        output::csv::render(&document)
    } else {
        output::table::render(&document)
    };
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        writeln!(out)?;
    }
    Ok(())
}

/// The report of a run without in-process scenarios (`--scenario ipc`).
fn empty_report(opts: &compare::CompareOptions) -> compare::Report {
    compare::Report {
        config: compare::ReportConfig {
            events: opts.events,
            rounds: opts.rounds.max(1),
            capacity: opts.capacity,
            batch: opts.batch,
            round_trips: opts.round_trips,
            cpus: seqflow_bench::wait::available_cores(),
            wait_override: opts.wait,
            pacing: opts.pacing,
            min_run_ms: opts.min_run.as_millis() as u64,
            passes: 1,
        },
        throughput: Vec::new(),
        latency: Vec::new(),
        rounds_line_round_trip_ns: Vec::new(),
    }
}

/// The cross-process runs `compare` makes: the same events (fewer for large events), capacity
/// and batch as in-process, ping-pong with the same round trips.
fn ipc_options(args: &CompareArgs) -> ipc::IpcOptions {
    ipc::IpcOptions {
        events: args.events,
        rounds: args.rounds as usize,
        capacity: args.capacity,
        batch: args.batch,
        wait: args.wait.unwrap_or(Wait::auto(2)),
        round_trips: args.round_trips,
        min_run: std::time::Duration::from_millis(args.min_run_ms),
        sizes: if args.ipc_sizes.is_empty() {
            ipc::all_sizes()
        } else {
            let mut sizes = args.ipc_sizes.clone();
            sizes.sort_unstable();
            sizes.dedup();
            sizes
        },
    }
}

/// `seqflow run-one`: one verified run, printed as `scenario implementation events elapsed_ns`.
fn run_one(args: RunOneArgs, out: &mut dyn Write) -> Result<(), CliError> {
    if args.batch > args.capacity {
        return Err(ArgError::BatchOverCapacity {
            batch: args.batch,
            capacity: args.capacity,
        }
        .into());
    }
    let Some(scenario) = scenario::Scenario::all()
        .into_iter()
        .find(|s| s.name() == args.scenario)
    else {
        return Err(ArgError::UnknownScenario(args.scenario.clone()).into());
    };
    let cfg = peers::RunConfig {
        events: args.events,
        capacity: args.capacity,
        batch: args.batch,
        wait: args.wait,
        pacing: args.pacing,
        check_order: false,
    };
    let m = peers::run(args.implementation, scenario, &cfg)?;
    writeln!(
        out,
        "{} {} {} {}",
        scenario.name(),
        args.implementation.name(),
        m.events,
        m.elapsed.as_nanos()
    )?;
    Ok(())
}

fn run_perf(args: PerfArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let slots = perf::ring_slots(args.slots)?;
    if slots != args.slots {
        crate::note!(
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
        reader_processes: args.reader_processes,
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
