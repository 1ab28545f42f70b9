//! The `seqflow` binary: output formats parse, perf runs, bad flags are clear errors.

use std::process::{Command, Output};

fn seqflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_seqflow"))
        .args(args)
        .output()
        .expect("the seqflow binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A small, fast comparison: two scenarios, ping-pong, one round, yielding waits.
const SMALL: &[&str] = &[
    "compare",
    "--events",
    "5000",
    "--rounds",
    "2",
    "--round-trips",
    "200",
    "--min-run-ms",
    "0",
    "--wait",
    "yielding",
    "--scenario",
    "1p1c-u64-burst,2p1c-b128-single",
    "--scenario",
    "latency",
];

#[test]
fn compare_table() {
    let o = seqflow(SMALL);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for needle in [
        "1p1c-u64-burst",
        "2p1c-b128-single",
        "seqflow-lock",
        "sf/disruptor",
        "ping-pong",
        "yielding",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}

#[test]
fn compare_json_parses() {
    let mut args = SMALL.to_vec();
    args.push("--json");
    let o = seqflow(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("valid JSON");
    let throughput = v["throughput"].as_array().unwrap();
    assert_eq!(throughput.len(), 2);
    assert_eq!(throughput[0]["scenario"], "1p1c-u64-burst");
    assert_eq!(throughput[0]["threads"], 2);
    assert_eq!(throughput[0]["wait"], "yielding");
    let results = throughput[1]["results"].as_array().unwrap();
    assert_eq!(results.len(), 5, "2p1c has the lock sequencer too");
    for r in results {
        assert!(r["median_events_per_sec"].as_f64().unwrap() > 0.0);
        assert_eq!(r["rounds_events_per_sec"].as_array().unwrap().len(), 2);
        assert!(r["seqflow_ratio"].as_f64().unwrap() > 0.0);
        // --min-run-ms 0: exactly the requested events (rounded to whole batches per producer).
        assert_eq!(r["events"], throughput[1]["events"]);
    }
    assert_eq!(v["latency"].as_array().unwrap().len(), 4);
    assert_eq!(v["config"]["rounds"], 2);
}

#[test]
fn compare_csv_parses() {
    let mut args = SMALL.to_vec();
    args.push("--csv");
    let o = seqflow(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(&headers[0], "kind");
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    // 4 + 5 throughput rows, 4 latency rows.
    assert_eq!(records.len(), 13);
    for r in &records {
        assert_eq!(r.len(), headers.len());
        match &r[0] {
            "throughput" => assert!(r[8].parse::<f64>().unwrap() > 0.0),
            "latency" => assert!(r[10].parse::<u64>().unwrap() > 0),
            other => panic!("unexpected kind {other}"),
        }
    }
}

#[test]
fn compare_plot_writes_svg() {
    let path = std::env::temp_dir().join(format!("seqflow-test-{}.svg", std::process::id()));
    let path_s = path.to_str().unwrap();
    let o = seqflow(&[
        "compare",
        "--events",
        "2000",
        "--rounds",
        "1",
        "--wait",
        "yielding",
        "--scenario",
        "1p1c-u64",
        "--impl",
        "seqflow,crossbeam",
        "--plot",
        path_s,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let svg = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(svg.contains("1p1c-u64-burst"));
    assert!(svg.contains("crossbeam"));
    assert!(!svg.contains("std-mpsc"), "only the chosen implementations");
}

#[test]
fn perf_runs_a_one_second_tiny_config() {
    let o = seqflow(&[
        "perf",
        "--slot-bytes",
        "4096",
        "--slots",
        "8",
        "--duration-seconds",
        "1",
        "--writes-per-second",
        "200",
        "--readers",
        "3",
        "--reader-burn-cpu-milliseconds",
        "0.1",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let writes = v["writes"].as_u64().unwrap();
    assert!(writes > 0);
    assert_eq!(v["expected_writes"], 200);
    let readers = v["readers"].as_array().unwrap();
    assert_eq!(readers.len(), 3);
    for r in readers {
        assert_eq!(r["events"].as_u64().unwrap(), writes);
        assert_eq!(r["errors"], 0);
        assert!(
            r["max_lag"].as_u64().unwrap() <= 8,
            "lag is bounded by the ring"
        );
    }
}

#[test]
fn perf_text_report_and_seed_flag_spellings() {
    let o = seqflow(&[
        "perf",
        "--slot_bytes=1000",
        "--slots=4",
        "--duration_seconds=0.3",
        "--writes_per_second=50",
        "--readers=2",
        "--no-verify_writes",
        "--wait=yielding",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("verify off"), "{text}");
    assert!(text.contains("writes/s"), "{text}");
    assert!(text.contains("max lag"), "{text}");
}

/// Run with bad flags: a non-zero exit and a message naming the problem.
fn rejects(args: &[&str], needle: &str) {
    let o = seqflow(args);
    assert!(!o.status.success(), "{args:?} was accepted");
    let err = stderr(&o);
    assert!(
        err.contains(needle),
        "{args:?}: expected {needle:?} in:\n{err}"
    );
}

#[test]
fn bad_flags_are_clear_errors() {
    rejects(&["perf", "--slots", "0"], "greater than 0");
    rejects(&["perf", "--slots", "50"], "power of two");
    rejects(&["perf", "--slots", "50"], "try 64");
    rejects(&["perf", "--readers", "0"], "--readers");
    rejects(&["perf", "--slot-bytes", "4"], "at least 8");
    rejects(&["perf", "--duration-seconds", "0"], "greater than 0");
    rejects(&["perf", "--writes-per-second=-3"], "greater than 0");
    rejects(
        &["perf", "--reader-burn-cpu-milliseconds", "x"],
        "not a number",
    );
    rejects(
        &["perf", "--wait", "busy-spin", "--readers", "8"],
        "busy-spin",
    );
    rejects(&["compare", "--events", "0"], "greater than 0");
    rejects(&["compare", "--rounds", "0"], "--rounds");
    rejects(&["compare", "--capacity", "1000"], "power of two");
    rejects(
        &["compare", "--capacity", "64", "--batch", "100"],
        "--batch",
    );
    rejects(
        &["compare", "--scenario", "bogus"],
        "unknown scenario 'bogus'",
    );
    rejects(&["compare", "--wait", "lazy"], "--wait");
    rejects(&["compare", "--impl", "kafka"], "--impl");
    rejects(&["compare", "--json", "--csv"], "cannot be used with");
    rejects(
        &[
            "compare",
            "--events",
            "1000",
            "--scenario",
            "1p1c-u64-single",
            "--rounds",
            "1",
            "--wait",
            "yielding",
            "--plot",
            "chart.png",
        ],
        "only SVG",
    );
}

#[test]
fn list_names_every_scenario() {
    let o = seqflow(&["compare", "--list"]);
    assert!(o.status.success());
    let names: Vec<String> = stdout(&o).lines().map(str::to_owned).collect();
    assert_eq!(names.len(), 25);
    assert!(names.contains(&"3p1c-b128-single".to_string()));
    assert!(names.contains(&"latency".to_string()));
}
