//! The text table `seqflow compare` prints by default.

use super::{millions, ratio, Document};
use seqflow_bench::compare::Report;
use seqflow_bench::load::LoadReport;
use seqflow_bench::peers::Implementation;
use std::collections::BTreeSet;
use std::fmt::Write;

/// Render `document` as tables: the machine's load, then events/s per implementation (median
/// of rounds), the ratio seqflow / each peer, the threads and wait strategy of each scenario,
/// the spread of the ratios over passes, ping-pong latency, the notes on emulations, and the
/// cross-process section.
pub fn render(document: &Document) -> String {
    let report = &document.report;
    let mut out = String::new();
    let c = &report.config;
    let _ = writeln!(
        out,
        "seqflow compare: {} events/run{}, {} round(s){}, median shown; ring/channel capacity \
         {}, burst = batches of {}; {} CPU(s){}",
        c.events,
        if c.min_run_ms > 0 {
            format!(
                " (more where a run would last < {} ms, calibrated every round)",
                c.min_run_ms
            )
        } else {
            String::new()
        },
        c.rounds,
        if c.passes > 1 {
            format!(" × {} passes (median of the passes)", c.passes)
        } else {
            String::new()
        },
        c.capacity,
        c.batch,
        c.cpus,
        match c.pacing {
            seqflow_bench::pacing::StagePacing::Default => "",
            seqflow_bench::pacing::StagePacing::Off => "; seqflow stages unpaced (--pacing off)",
        }
    );
    if !report.rounds_line_round_trip_ns.is_empty() {
        let trips: Vec<String> = report
            .rounds_line_round_trip_ns
            .iter()
            .map(|ns| format!("{ns:.0}"))
            .collect();
        let _ = writeln!(
            out,
            "cache line round trip between two cores, per round: {} ns",
            trips.join(", ")
        );
    }
    environment(&mut out, &document.environment);
    throughput(&mut out, report);
    if let Some(ipc) = &document.ipc {
        out.push('\n');
        out.push_str(&ipc.render());
    }
    out
}

/// The load lines, and every warning.
fn environment(out: &mut String, env: &LoadReport) {
    let load = |l: Option<seqflow_bench::load::LoadAverage>| {
        l.map_or("-".to_owned(), |l| format!("{:.2}", l.one))
    };
    let _ = write!(
        out,
        "load: 1-minute load average {} at the start, {} at the end",
        load(env.load_start),
        load(env.load_end)
    );
    if let Some(other) = env.other_cpu_cores {
        let _ = write!(
            out,
            "; other processes used {other:.2} CPU(s) on average during the run"
        );
    }
    if let Some(steal) = env.steal_share {
        let _ = write!(out, ", steal {:.1}%", steal * 100.0);
    }
    out.push('\n');
    for w in &env.warnings {
        let _ = writeln!(out, "WARNING: {w}");
    }
    if env.competing {
        let _ = writeln!(
            out,
            "WARNING: other processes competed for the CPUs: these numbers are not those of an \
             idle machine"
        );
    }
}

fn throughput(out: &mut String, report: &Report) {
    let impls: Vec<Implementation> = Implementation::ALL
        .into_iter()
        .filter(|i| report.throughput.iter().any(|s| s.result(*i).is_some()))
        .collect();
    if !report.throughput.is_empty() {
        let has_seqflow = impls.contains(&Implementation::Seqflow);
        let peers: Vec<Implementation> = impls
            .iter()
            .copied()
            .filter(|i| *i != Implementation::Seqflow)
            .collect();
        let _ = writeln!(
            out,
            "\nthroughput, million events/s (median of the rounds){}",
            if has_seqflow {
                "; sf/X = seqflow / X (above 1: seqflow is faster), the median of the rounds' \
                 ratios (each round runs both back to back), so it can differ from the ratio of \
                 the two medians shown"
            } else {
                ""
            }
        );
        let _ = writeln!(
            out,
            "thr = threads; line ns = a cache line's round trip between the two cores before the \
             scenario; - = not run (seqflow-lock: multi-producer rows only)"
        );
        let _ = write!(
            out,
            "{:<28} {:>3} {:<10} {:>8}",
            "scenario", "thr", "wait", "line ns"
        );
        for i in &impls {
            let _ = write!(out, " {:>12}", i.name());
        }
        if has_seqflow {
            for p in &peers {
                let _ = write!(out, " {:>14}", format!("sf/{}", p.name()));
            }
        }
        out.push('\n');
        let fast_limit = run_fast_limit(report);
        for s in &report.throughput {
            let _ = write!(
                out,
                "{:<28} {:>3} {:<10} {:>8}",
                s.scenario,
                s.threads,
                s.wait.name(),
                line_cell(&s.rounds_line_round_trip_ns, fast_limit)
            );
            for i in &impls {
                let v = s.result(*i).map(|r| r.median_events_per_sec);
                let _ = write!(out, " {:>12}", millions(v));
            }
            if has_seqflow {
                for p in &peers {
                    let v = s.result(*p).and_then(|r| r.seqflow_ratio);
                    let _ = write!(out, " {:>14}", ratio(v));
                }
            }
            out.push('\n');
        }
    }
    if !report.latency.is_empty() {
        let _ = writeln!(
            out,
            "\nping-pong round trip, ns ({} threads; X/sf = X's median / seqflow's, above 1: \
             seqflow is faster)",
            seqflow_bench::latency::THREADS
        );
        let _ = writeln!(
            out,
            "{:<14} {:<32} {:>10} {:>10} {:>8}",
            "implementation", "wait", "median", "p99", "X/sf"
        );
        for l in &report.latency {
            let _ = writeln!(
                out,
                "{:<14} {:<32} {:>10} {:>10} {:>8}",
                l.implementation.name(),
                l.wait,
                l.median_ns,
                l.p99_ns,
                ratio(l.seqflow_speedup)
            );
        }
    }
    spreads(out, report);
    by_regime(out, report);
    let fast_limit = run_fast_limit(report);
    let mixed: Vec<String> = report
        .throughput
        .iter()
        .filter(|s| spans_regimes(&s.rounds_line_round_trip_ns, fast_limit))
        .map(|s| {
            let ns = &s.rounds_line_round_trip_ns;
            let min = ns.iter().copied().fold(f64::INFINITY, f64::min);
            let max = ns.iter().copied().fold(0.0, f64::max);
            format!("{} ({min:.0}-{max:.0} ns)", s.scenario)
        })
        .collect();
    if !mixed.is_empty() {
        let _ = writeln!(
            out,
            "\n* line ns: the median cache line round trip measured before the row's rounds; \
             these rows ran rounds in different regimes, so their medians mix them: {}",
            mixed.join(", ")
        );
    }
    let notes = notes(report);
    if !notes.is_empty() {
        out.push_str("\nnotes:\n");
        for n in notes {
            let _ = writeln!(out, "- {n}");
        }
    }
}

/// The highest probe of the run's fastest regime (infinite without probes: no row spans
/// regimes then).
fn run_fast_limit(report: &Report) -> f64 {
    seqflow_bench::line_probe::fast_regime_limit(report.line_round_trips()).unwrap_or(f64::INFINITY)
}

/// Whether a row's rounds lie in the run's fastest regime and outside it.
fn spans_regimes(ns: &[f64], fast_limit: f64) -> bool {
    seqflow_bench::line_probe::spans_regimes(ns, fast_limit)
}

/// A row's regime: the median of the line round trips measured before its rounds, with `*`
/// when some lie in the run's fastest regime and some do not (as the ratios by regime count
/// them: its medians then mix regimes).
fn line_cell(ns: &[f64], fast_limit: f64) -> String {
    if ns.is_empty() {
        return "-".to_owned();
    }
    let mixed = spans_regimes(ns, fast_limit);
    format!(
        "{:.0}{}",
        seqflow_bench::compare::median(ns),
        if mixed { "*" } else { "" }
    )
}

/// The implementations other than seqflow that ran in some throughput scenario.
fn peers(report: &Report) -> Vec<Implementation> {
    Implementation::ALL
        .into_iter()
        .filter(|i| *i != Implementation::Seqflow)
        .filter(|i| report.throughput.iter().any(|s| s.result(*i).is_some()))
        .collect()
}

/// With several passes: the lowest and highest of the passes' seqflow ratios, per scenario and
/// peer.
fn spreads(out: &mut String, report: &Report) {
    if report.config.passes < 2 || report.throughput.is_empty() {
        return;
    }
    let peers = peers(report);
    let _ = writeln!(
        out,
        "\nspread of sf/X over {} passes (lowest-highest of the passes' ratios)",
        report.config.passes
    );
    let _ = write!(out, "{:<28}", "scenario");
    for p in &peers {
        let _ = write!(out, " {:>16}", format!("sf/{}", p.name()));
    }
    out.push('\n');
    for s in &report.throughput {
        let _ = write!(out, "{:<28}", s.scenario);
        for p in &peers {
            let cell = s
                .result(*p)
                .and_then(|r| r.ratio_spread)
                .map_or("-".to_owned(), |sp| format!("{:.2}-{:.2}", sp.min, sp.max));
            let _ = write!(out, " {:>16}", cell);
        }
        out.push('\n');
    }
}

/// When some rounds ran in the slow regime: seqflow's ratios over the rounds of each regime,
/// per scenario and peer.
fn by_regime(out: &mut String, report: &Report) {
    let any_slow = report.throughput.iter().any(|s| {
        s.results.iter().any(|r| {
            r.seqflow_ratio_by_regime
                .is_some_and(|split| split.slow_rounds > 0)
        })
    });
    if !any_slow {
        return;
    }
    let peers = peers(report);
    let _ = writeln!(
        out,
        "\nsf/X by regime: median over the rounds whose line round trip lay in the run's fastest \
         regime (fast: probes from the fastest on, each within {}x of the one before) | over the \
         others (slow); rounds in brackets",
        seqflow_bench::line_probe::REGIME_FACTOR
    );
    let _ = write!(out, "{:<28}", "scenario");
    for p in &peers {
        let _ = write!(out, " {:>22}", format!("sf/{}", p.name()));
    }
    out.push('\n');
    let cell = |v: Option<f64>, n: usize| v.map_or("-".to_owned(), |v| format!("{v:.2} ({n})"));
    for s in &report.throughput {
        let _ = write!(out, "{:<28}", s.scenario);
        for p in &peers {
            let text = s.result(*p).and_then(|r| r.seqflow_ratio_by_regime).map_or(
                "-".to_owned(),
                |split| {
                    format!(
                        "{} | {}",
                        cell(split.fast, split.fast_rounds),
                        cell(split.slow, split.slow_rounds)
                    )
                },
            );
            let _ = write!(out, " {:>22}", text);
        }
        out.push('\n');
    }
}

/// How peers waited where they differ from seqflow, and how they emulate shapes; each note
/// once, with the implementations it is about.
fn notes(report: &Report) -> Vec<String> {
    use std::collections::BTreeMap;
    let mut notes: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    for s in &report.throughput {
        for r in &s.results {
            if r.wait != s.wait.name() {
                notes
                    .entry(format!(
                        "wait {} where seqflow waits {}",
                        r.wait,
                        s.wait.name()
                    ))
                    .or_default()
                    .insert(r.implementation.name());
            }
            if r.short_rounds > 0 {
                notes
                    .entry(format!(
                        "{}: {} counted run(s) lasted less than --min-run-ms (the events hit \
                         the 100x limit or the retries ran out)",
                        s.scenario, r.short_rounds
                    ))
                    .or_default()
                    .insert(r.implementation.name());
            }
            if let Some(e) = &r.emulation {
                notes
                    .entry(format!("{}: {e}", s.shape.name()))
                    .or_default()
                    .insert(r.implementation.name());
            }
        }
    }
    notes
        .into_iter()
        .map(|(note, impls)| {
            format!(
                "{}: {note}",
                impls.into_iter().collect::<Vec<_>>().join(", ")
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{line_cell, render};
    use crate::output::Document;
    use seqflow_bench::compare::{compare, CompareOptions};
    use seqflow_bench::load::LoadReport;
    use seqflow_bench::peers::Implementation;

    /// A small real run whose rounds are then placed in two regimes by hand.
    #[test]
    fn ratios_are_shown_per_regime_when_rounds_ran_in_both() {
        let opts = CompareOptions {
            selection: seqflow_bench::scenario::select(&["1p1c-u64-single".to_string()]).unwrap(),
            implementations: vec![Implementation::Seqflow, Implementation::Crossbeam],
            events: 500,
            rounds: 3,
            min_run: std::time::Duration::ZERO,
            wait: Some(seqflow_bench::wait::Wait::Yielding),
            ..CompareOptions::default()
        };
        let mut report = compare(&opts, &mut |_| {}).unwrap();
        // The real probes of this run depend on the machine's load: set them by hand.
        report.rounds_line_round_trip_ns = vec![120.0, 125.0, 130.0];
        report.throughput[0].rounds_line_round_trip_ns = vec![120.0, 125.0, 130.0];
        seqflow_bench::regime::split_by_regime(&mut report);
        let one_regime = render(&document(report.clone()));
        assert!(!one_regime.contains("by regime"), "{one_regime}");
        report.rounds_line_round_trip_ns = vec![120.0, 125.0, 400.0];
        report.throughput[0].rounds_line_round_trip_ns = vec![120.0, 410.0, 130.0];
        seqflow_bench::regime::split_by_regime(&mut report);
        let text = render(&document(report));
        assert!(text.contains("sf/X by regime"), "{text}");
        assert!(text.contains(" (2) | "), "two fast rounds: {text}");
        assert!(text.contains(" (1)\n"), "one slow round: {text}");
        assert!(
            text.contains("130*"),
            "the row's rounds span regimes: {text}"
        );
    }

    fn document(report: seqflow_bench::compare::Report) -> Document {
        Document {
            environment: LoadReport {
                cpus: 2,
                run_threads: 2,
                load_start: None,
                load_end: None,
                other_cpu_cores: None,
                steal_share: None,
                competing: false,
                warnings: Vec::new(),
            },
            report,
            ipc: None,
        }
    }

    #[test]
    fn a_row_whose_rounds_ran_in_different_regimes_is_marked() {
        assert_eq!(line_cell(&[120.0, 126.0, 131.0], 131.0), "126");
        assert_eq!(line_cell(&[120.0, 330.0, 126.0], 131.0), "126*");
        // Judged against the run: a row at 56 and 120 ns lies in the run's one fast regime.
        assert_eq!(line_cell(&[56.0, 120.0, 126.0], 131.0), "120");
        assert_eq!(line_cell(&[], 131.0), "-");
    }
}
