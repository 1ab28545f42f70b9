//! The text table `seqflow compare` prints by default.

use super::{millions, ratio};
use seqflow_bench::compare::Report;
use seqflow_bench::peers::Implementation;
use std::collections::BTreeSet;
use std::fmt::Write;

/// Render `report` as a table: events/s per implementation (median of rounds), the ratio
/// seqflow / each peer, the threads and wait strategy of each scenario, then ping-pong latency
/// and the notes on emulations.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let c = &report.config;
    let _ = writeln!(
        out,
        "seqflow compare: {} events/run{}, {} round(s), median shown; ring/channel capacity {}, \
         burst = batches of {}; {} CPU(s)",
        c.events,
        if c.min_run_ms > 0 {
            format!(" (more where a run would last < {} ms)", c.min_run_ms)
        } else {
            String::new()
        },
        c.rounds,
        c.capacity,
        c.batch,
        c.cpus
    );
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
            "\nthroughput, million events/s{}",
            if has_seqflow {
                "; sf/X = seqflow / X (above 1: seqflow is faster)"
            } else {
                ""
            }
        );
        let _ = write!(out, "{:<28} {:>3} {:<10}", "scenario", "thr", "wait");
        for i in &impls {
            let _ = write!(out, " {:>12}", i.name());
        }
        if has_seqflow {
            for p in &peers {
                let _ = write!(out, " {:>14}", format!("sf/{}", p.name()));
            }
        }
        out.push('\n');
        for s in &report.throughput {
            let _ = write!(
                out,
                "{:<28} {:>3} {:<10}",
                s.scenario,
                s.threads,
                s.wait.name()
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
    let notes = notes(report);
    if !notes.is_empty() {
        out.push_str("\nnotes:\n");
        for n in notes {
            let _ = writeln!(out, "- {n}");
        }
    }
    out
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
