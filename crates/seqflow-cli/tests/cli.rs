//! The `seqflow` binary: help text, output formats, perf runs, bad flags are clear errors.

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
        "line ns",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    assert!(
        text.contains("cache line round trip between two cores, per round: "),
        "{text}"
    );
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
    assert_eq!(v["config"]["passes"], 1);
    assert_eq!(v["config"]["pacing"], "default");
    // The machine's regime, probed before each round.
    let trips = v["rounds_line_round_trip_ns"].as_array().unwrap();
    assert_eq!(trips.len(), 2);
    assert!(trips.iter().all(|t| t.as_f64().unwrap() > 0.0), "{trips:?}");
    // And before each scenario's runs in each round: the regime of the row.
    for s in throughput {
        let trips = s["rounds_line_round_trip_ns"].as_array().unwrap();
        assert_eq!(trips.len(), 2, "{}", s["scenario"]);
        assert!(trips.iter().all(|t| t.as_f64().unwrap() > 0.0), "{trips:?}");
    }
    // What was seen of the machine, whatever it was.
    let env = &v["environment"];
    assert!(env["competing"].is_boolean());
    assert!(env["warnings"].is_array());
    assert_eq!(env["run_threads"], 3, "2p1c runs 3 threads");
    assert!(v["ipc"].is_null(), "ipc was not selected");
}

/// With `1p1c-u64` and `ipc` in one command, the 8-byte shm rows are set against seqflow in one
/// process: a ratio per mode in JSON and a line per mode in the table.
#[test]
fn compare_ipc_reports_the_ratio_to_one_process() {
    let args = [
        "compare",
        "--scenario",
        "1p1c-u64,ipc",
        "--impl",
        "seqflow",
        "--ipc-sizes",
        "8",
        "--events",
        "500",
        "--rounds",
        "1",
        "--round-trips",
        "20",
        "--min-run-ms",
        "0",
        "--wait",
        "yielding",
    ];
    let mut json = args.to_vec();
    json.push("--json");
    let o = seqflow(&json);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("valid JSON");
    let ratios = v["ipc"]["vs_in_process"].as_array().expect("vs_in_process");
    assert_eq!(ratios.len(), 2, "burst and single");
    for (r, mode) in ratios.iter().zip(["burst", "single"]) {
        assert_eq!(r["mode"], mode);
        assert_eq!(r["scenario"], format!("1p1c-u64-{mode}"));
        let (shm, local) = (
            r["shm_events_per_sec"].as_f64().unwrap(),
            r["in_process_events_per_sec"].as_f64().unwrap(),
        );
        assert!((r["ratio"].as_f64().unwrap() - shm / local).abs() < 1e-9);
    }
    let o = seqflow(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("x seqflow in one process (1p1c-u64-burst:"),
        "{text}"
    );
    assert!(
        text.contains("x seqflow in one process (1p1c-u64-single:"),
        "{text}"
    );
}

/// The cross-process section with one small event size: JSON rows for every transport in
/// both modes, ping-pong rows, and the same rows in CSV and in the chart.
#[test]
fn compare_ipc_in_json_csv_and_plot() {
    let args = [
        "compare",
        "--scenario",
        "ipc",
        "--ipc-sizes",
        "8",
        "--events",
        "500",
        "--rounds",
        "1",
        "--round-trips",
        "20",
        "--wait",
        "yielding",
    ];
    let mut json = args.to_vec();
    json.push("--json");
    let o = seqflow(&json);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("valid JSON");
    let rows = v["ipc"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 6, "3 transports × burst and single");
    for mode in ["burst", "single"] {
        for transport in ["seqflow-shm", "pipe", "unix-socket"] {
            let row = rows
                .iter()
                .find(|r| r["mode"] == mode && r["transport"] == transport)
                .unwrap_or_else(|| panic!("no {transport} {mode} row"));
            assert!(row["median_events_per_sec"].as_f64().unwrap() > 0.0);
            assert!(row["shm_ratio"].as_f64().unwrap() > 0.0);
            assert_eq!(row["bytes"], 8);
        }
    }
    let latency = v["ipc"]["latency"].as_array().unwrap();
    assert_eq!(latency.len(), 3);
    assert!(latency.iter().all(|l| l["median_ns"].as_u64().unwrap() > 0));
    assert!(v["throughput"].as_array().unwrap().is_empty());

    let mut csv_args = args.to_vec();
    csv_args.push("--csv");
    let o = seqflow(&csv_args);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let kinds: Vec<String> = reader.records().map(|r| r.unwrap()[0].to_owned()).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "ipc").count(), 6);
    assert_eq!(kinds.iter().filter(|k| *k == "ipc-latency").count(), 3);

    let path = std::env::temp_dir().join(format!("seqflow-ipc-test-{}.svg", std::process::id()));
    let mut plot = args.to_vec();
    plot.extend(["--plot", path.to_str().unwrap()]);
    let o = seqflow(&plot);
    assert!(o.status.success(), "{}", stderr(&o));
    let svg = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(svg.contains("seqflow-shm") && svg.contains("unix-socket"));
    let table = stdout(&o);
    assert!(table.contains("cross-process ping-pong"), "{table}");
    assert!(table.contains("load: 1-minute load average"), "{table}");
}

#[test]
fn repeat_reports_the_median_of_passes_and_their_spread() {
    let o = seqflow(&[
        "compare",
        "--scenario",
        "1p1c-u64-single",
        "--impl",
        "seqflow,crossbeam",
        "--events",
        "500",
        "--rounds",
        "1",
        "--min-run-ms",
        "0",
        "--wait",
        "yielding",
        "--repeat",
        "3",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["config"]["passes"], 3);
    let results = v["throughput"][0]["results"].as_array().unwrap();
    for r in results {
        assert_eq!(r["passes_events_per_sec"].as_array().unwrap().len(), 3);
        assert_eq!(r["rounds_events_per_sec"].as_array().unwrap().len(), 3);
        let (lo, hi) = (
            r["spread"]["min"].as_f64().unwrap(),
            r["spread"]["max"].as_f64().unwrap(),
        );
        let median = r["median_events_per_sec"].as_f64().unwrap();
        assert!(lo <= median && median <= hi);
    }
    let crossbeam = &results[1];
    assert_eq!(
        crossbeam["passes_seqflow_ratio"].as_array().unwrap().len(),
        3
    );
    assert!(crossbeam["ratio_spread"]["min"].is_number());
}

/// `--pacing off` runs seqflow's stages unpaced, and says so in the JSON and the table; a value
/// that is neither is refused.
#[test]
fn compare_pacing_off_is_reported() {
    let base = [
        "compare",
        "--scenario",
        "1p1c-u64-single",
        "--impl",
        "seqflow",
        "--rounds",
        "1",
        "--events",
        "2000",
        "--min-run-ms",
        "0",
        "--wait",
        "yielding",
        "--pacing",
        "off",
    ];
    let mut args = base.to_vec();
    args.push("--json");
    let o = seqflow(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("valid JSON");
    assert_eq!(v["config"]["pacing"], "off");
    let o = seqflow(&base);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("seqflow stages unpaced (--pacing off)"),
        "{}",
        stdout(&o)
    );
    let mut bad = base.to_vec();
    *bad.last_mut().unwrap() = "sometimes";
    let o = seqflow(&bad);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("sometimes"), "{}", stderr(&o));
}

#[test]
fn run_one_prints_one_verified_run() {
    let o = seqflow(&[
        "run-one",
        "--impl",
        "disruptor",
        "--scenario",
        "1p1c-u64-single",
        "--events",
        "1000",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let line = stdout(&o);
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[..3], ["1p1c-u64-single", "disruptor", "1000"]);
    assert!(fields[3].parse::<u64>().is_ok(), "{line}");
    rejects(
        &["run-one", "--impl", "seqflow", "--scenario", "1p1c"],
        "one full name",
    );
}

#[test]
fn perf_reader_processes_and_the_memcpy_baseline() {
    let o = seqflow(&[
        "perf",
        "--slot-bytes",
        "300",
        "--slots",
        "4",
        "--duration-seconds",
        "0.2",
        "--writes-per-second",
        "200",
        "--readers",
        "2",
        "--reader-processes",
        "--wait",
        "yielding",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["reader_processes"], true);
    let writes = v["writes"].as_u64().unwrap();
    assert!(writes > 0);
    for r in v["readers"].as_array().unwrap() {
        assert_eq!(r["events"].as_u64().unwrap(), writes);
        assert_eq!(r["errors"], 0);
    }
    assert!(v["memcpy"]["bytes_per_second"].as_f64().unwrap() > 0.0);
    assert_eq!(v["memcpy"]["bytes"], 300);
    assert!(v["memcpy_ratio"].as_f64().unwrap() > 0.0);
}

#[test]
fn perf_unpaced_writer() {
    let o = seqflow(&[
        "perf",
        "--slot-bytes=4096",
        "--slots=8",
        "--duration-seconds=0.1",
        "--writes-per-second=max",
        "--readers=1",
        "--wait=yielding",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("unpaced"), "{text}");
    assert!(text.contains("writer/memcpy"), "{text}");
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
            "throughput" => {
                assert!(r[8].parse::<f64>().unwrap() > 0.0);
                assert_eq!(&headers[17], "line_round_trip_ns");
                assert!(r[17].parse::<f64>().unwrap() > 0.0, "{r:?}");
            }
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
fn perf_text_report_and_underscore_flag_spellings() {
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
    rejects(&["perf", "--slots", "-1"], "greater than 0");
    rejects(&["perf", "--slots", "1.5"], "not a whole number");
    rejects(&["perf", "--readers", "0"], "--readers");
    rejects(&["perf", "--readers", "1025"], "at most 1024");
    rejects(&["perf", "--slot-bytes", "4"], "at least 8");
    rejects(&["perf", "--duration-seconds", "0"], "greater than 0");
    rejects(&["perf", "--duration-seconds", "-1"], "greater than 0");
    rejects(&["perf", "--duration-seconds", "1e12"], "at most");
    rejects(&["perf", "--duration-seconds", "nan"], "finite");
    rejects(&["perf", "--writes-per-second=-3"], "greater than 0");
    rejects(&["perf", "--writes-per-second=inf"], "finite");
    rejects(&["perf", "--writes-per-second=1e10"], "at most");
    rejects(
        &["perf", "--reader-burn-cpu-milliseconds", "x"],
        "not a number",
    );
    rejects(
        &["perf", "--reader-burn-cpu-milliseconds", "-1"],
        "at least 0",
    );
    rejects(
        &["perf", "--slots", "1048576", "--slot-bytes", "1000000"],
        "the limit is",
    );
    rejects(&["compare", "--events", "-5"], "greater than 0");
    rejects(&["compare", "--round-trips", "0"], "greater than 0");
    rejects(&["compare", "--min-run-ms", "-1"], "at least 0");
    rejects(
        &["perf", "--wait", "busy-spin", "--readers", "8"],
        "busy-spin",
    );
    rejects(&["compare", "--events", "0"], "greater than 0");
    rejects(&["compare", "--rounds", "0"], "--rounds");
    rejects(&["compare", "--rounds", "1001"], "at most 1000");
    rejects(&["compare", "--capacity", "1000"], "try 1024");
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
    rejects(&["compare", "--repeat", "0"], "greater than 0");
    rejects(&["compare", "--repeat", "101"], "at most 100");
    rejects(&["compare", "--ipc-sizes", "100"], "must be one of 8, 64");
    rejects(&["perf", "--writes-per-second", "fast"], "not a number");
    rejects(
        &[
            "perf",
            "--reader-processes",
            "--slot-bytes",
            "300000000",
            "--slots",
            "2",
        ],
        "at most 268435456",
    );
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
    assert_eq!(names.len(), 26);
    assert!(names.contains(&"3p1c-b128-single".to_string()));
    assert!(names.contains(&"latency".to_string()));
    assert!(names.contains(&"ipc".to_string()));
}

/// The scenario families `--scenario` accepts: every stage graph, then latency and ipc.
fn families() -> Vec<&'static str> {
    let mut all: Vec<&str> = seqflow_bench::scenario::Shape::ALL
        .iter()
        .map(|s| s.name())
        .collect();
    all.extend(["latency", "ipc"]);
    all
}

#[test]
fn help_has_no_code_and_names_every_scenario_family() {
    let subcommands: &[&[&str]] = &[
        &[],
        &["compare"],
        &["perf"],
        &["inspect"],
        &["rm"],
        &["release"],
        &["ipc-consumer"],
    ];
    for sub in subcommands {
        for flag in ["--help", "-h"] {
            let mut args = sub.to_vec();
            args.push(flag);
            let o = seqflow(&args);
            assert!(o.status.success(), "{args:?}: {}", stderr(&o));
            let help = stdout(&o);
            assert!(
                !help.contains("```"),
                "{args:?} shows a code fence:\n{help}"
            );
            for leak in ["assert", "unwrap()", "use clap", "seqflow_cli"] {
                assert!(
                    !help.contains(leak),
                    "{args:?} shows code ({leak}):\n{help}"
                );
            }
        }
    }
    // The top-level help and compare's help name every family `--scenario` takes.
    for args in [&["--help"][..], &["compare", "--help"]] {
        let help = stdout(&seqflow(args));
        for family in families() {
            assert!(
                help.contains(family),
                "{args:?} does not name {family}:\n{help}"
            );
        }
    }
    // And every family is a scenario `--list` knows.
    let list = stdout(&seqflow(&["compare", "--list"]));
    for family in families() {
        assert!(
            list.lines()
                .any(|l| l == family || l.starts_with(&format!("{family}-"))),
            "{family} is not in --list"
        );
    }
}

#[test]
fn a_bad_plot_path_fails_before_the_benchmark_runs() {
    let missing = std::env::temp_dir()
        .join(format!("seqflow-no-such-dir-{}", std::process::id()))
        .join("chart.svg");
    // A million events per run and a hundred rounds would take minutes: failing at once shows
    // that nothing ran.
    let o = seqflow(&[
        "compare",
        "--scenario",
        "1p1c",
        "--rounds",
        "100",
        "--plot",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
    let dir = std::env::temp_dir();
    let o = seqflow(&["compare", "--plot", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = seqflow(&["compare", "--scenario", "latency", "--plot", "x.svg"]);
    assert!(
        stderr(&o).contains("at least one throughput scenario"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn perf_rounds_any_slot_count_up_to_a_power_of_two() {
    for (asked, ring) in [("3", 4), ("10", 16), ("50", 64)] {
        let o = seqflow(&[
            "perf",
            "--slot-bytes",
            "64",
            "--slots",
            asked,
            "--duration-seconds",
            "0.1",
            "--writes-per-second",
            "100",
            "--readers",
            "1",
            "--json",
        ]);
        assert!(o.status.success(), "--slots {asked}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(&format!("--slots {asked} rounded up to {ring}")),
            "{}",
            stderr(&o)
        );
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(v["slots"], ring);
    }
}

#[test]
fn perf_with_a_vanishing_rate_writes_once_and_does_not_panic() {
    let o = seqflow(&[
        "perf",
        "--writes-per-second=1e-300",
        "--duration-seconds=0.1",
        "--slot-bytes=64",
        "--readers=1",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["writes"], 1);
    assert_eq!(v["fell_behind"], false);
    assert_eq!(v["kept_pace"], true);
}

#[test]
fn a_reader_that_stops_reading_ends_the_command_quietly() {
    use std::process::Stdio;
    // `seqflow compare --list 2>&1 | head -0`: stdout and stderr are one pipe whose reader has
    // already left, so the first write fails with a broken pipe.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = Command::new(env!("CARGO_BIN_EXE_seqflow"))
        .args(["compare", "--list"])
        .stdout(writer.try_clone().unwrap())
        .stderr(writer)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    // Not a panic (101) nor an error (1): a quiet, successful end.
    assert!(status.success(), "{status:?}");
}

#[test]
fn perf_slots_that_do_not_fit_in_memory_are_an_error_not_an_abort() {
    // 16 slots of 256 MiB (4 GiB) under a 2 GB address-space limit.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v 2000000 && exec '{}' perf --slot-bytes 268435456 --slots 16 \
             --duration-seconds 1 --readers 1",
            env!("CARGO_BIN_EXE_seqflow")
        ))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("could not allocate"),
        "{}",
        stderr(&out)
    );
}
