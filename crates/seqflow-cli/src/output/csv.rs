//! `--csv`: one line per implementation and scenario (throughput), per implementation
//! (latency), per transport, event size and mode (cross-process) and per transport
//! (cross-process ping-pong), with a header.

use super::Document;
use std::fmt::Write;

/// The CSV header. `seqflow_ratio` is seqflow's (or seqflow-shm's) rate divided by the row's
/// (ping-pong: the row's round trip divided by seqflow's); `spread_min`/`spread_max` are the
/// lowest and highest of the passes' medians (of the rounds with one pass);
/// `line_round_trip_ns` is the median cache line round trip measured before a throughput row's
/// rounds (its regime).
pub const HEADER: &str = "kind,scenario,implementation,producers,consumers,threads,wait,events,\
events_per_sec,seqflow_ratio,median_ns,p99_ns,bytes,mode,spread_min,spread_max,passes,\
line_round_trip_ns";

/// `document` as CSV. Empty fields where a column does not apply.
pub fn render(document: &Document) -> String {
    let report = &document.report;
    let passes = report.config.passes;
    let mut out = String::new();
    out.push_str(HEADER);
    out.push('\n');
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
    for s in &report.throughput {
        for r in &s.results {
            let _ = writeln!(
                out,
                "throughput,{},{},{},{},{},{},{},{:.0},{},,,{},{},{:.0},{:.0},{passes},{}",
                field(&s.scenario),
                r.implementation.name(),
                s.producers,
                s.consumers,
                s.threads,
                field(&r.wait),
                r.events,
                r.median_events_per_sec,
                opt(r.seqflow_ratio),
                s.payload.size(),
                s.publish.name(),
                r.spread.min,
                r.spread.max,
                if s.rounds_line_round_trip_ns.is_empty() {
                    String::new()
                } else {
                    format!(
                        "{:.0}",
                        seqflow_bench::compare::median(&s.rounds_line_round_trip_ns)
                    )
                },
            );
        }
    }
    for l in &report.latency {
        let _ = writeln!(
            out,
            "latency,{},{},1,1,{},{},{},,{},{},{},8,,,,{passes},",
            seqflow_bench::scenario::LATENCY,
            l.implementation.name(),
            l.threads,
            field(&l.wait),
            l.rounds.first().map_or(0, |r| r.round_trips),
            opt(l.seqflow_speedup),
            l.median_ns,
            l.p99_ns,
        );
    }
    if let Some(ipc) = &document.ipc {
        for r in &ipc.rows {
            let _ = writeln!(
                out,
                "ipc,ipc-{}B-{},{},1,1,2,{},{},{:.0},{},,,{},{},{},{},{},",
                r.bytes,
                r.mode.name(),
                r.transport.name(),
                field(ipc.wait),
                r.events,
                r.median_events_per_sec,
                opt(r.shm_ratio),
                r.bytes,
                r.mode.name(),
                r.spread.map_or(String::new(), |s| format!("{:.0}", s.min)),
                r.spread.map_or(String::new(), |s| format!("{:.0}", s.max)),
                ipc.passes,
            );
        }
        for l in &ipc.latency {
            let _ = writeln!(
                out,
                "ipc-latency,ipc-ping-pong,{},1,1,2,{},{},,{},{},{},8,single,,,{},",
                l.transport.name(),
                field(ipc.wait),
                l.rounds.first().map_or(0, |r| r.round_trips),
                opt(l.shm_speedup),
                l.median_ns,
                l.p99_ns,
                ipc.passes,
            );
        }
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
