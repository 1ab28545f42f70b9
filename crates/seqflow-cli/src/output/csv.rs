//! `--csv`: one line per implementation and scenario (throughput) and per implementation
//! (latency), with a header.

use seqflow_bench::compare::Report;
use std::fmt::Write;

/// The CSV header.
pub const HEADER: &str = "kind,scenario,implementation,producers,consumers,threads,wait,events,\
events_per_sec,seqflow_ratio,median_ns,p99_ns";

/// `report` as CSV. Empty fields where a column does not apply.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    out.push_str(HEADER);
    out.push('\n');
    for s in &report.throughput {
        for r in &s.results {
            let _ = writeln!(
                out,
                "throughput,{},{},{},{},{},{},{},{:.0},{},,",
                field(&s.scenario),
                r.implementation.name(),
                s.producers,
                s.consumers,
                s.threads,
                field(&r.wait),
                s.events,
                r.median_events_per_sec,
                r.seqflow_ratio.map_or(String::new(), |v| format!("{v:.4}")),
            );
        }
    }
    for l in &report.latency {
        let _ = writeln!(
            out,
            "latency,{},{},1,1,{},{},{},,{},{},{}",
            seqflow_bench::scenario::LATENCY,
            l.implementation.name(),
            l.threads,
            field(&l.wait),
            l.rounds.first().map_or(0, |r| r.round_trips),
            l.seqflow_speedup
                .map_or(String::new(), |v| format!("{v:.4}")),
            l.median_ns,
            l.p99_ns,
        );
    }
    out
}

/// Quote a field if it needs it (RFC 4180).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}
