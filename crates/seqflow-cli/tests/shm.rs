//! The shared-memory side of the `seqflow` binary: cross-process comparison (real second
//! processes), `inspect` and `rm`.

use seqflow_shm::{ShmOptions, ShmRing};
use std::process::{Command, Output};

fn seqflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_seqflow"))
        .args(args)
        .output()
        .expect("the seqflow binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A segment name unique to this test process, removed when dropped (even on failure).
struct Name(String);

impl Name {
    fn new(tag: &str) -> Self {
        Self(format!("/seqflow-cli-test-{tag}-{}", std::process::id()))
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = seqflow_shm::remove(&self.0);
    }
}

#[test]
fn compare_ipc_runs_every_transport_in_a_second_process() {
    let o = seqflow(&[
        "compare",
        "--scenario",
        "ipc",
        "--events",
        "20000",
        "--rounds",
        "1",
        "--wait",
        "yielding",
    ]);
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    let out = text(&o.stdout);
    for column in [
        "seqflow-shm",
        "pipe",
        "unix-socket",
        "shm/pipe",
        "8 B",
        "128 B",
    ] {
        assert!(out.contains(column), "missing {column} in:\n{out}");
    }
    let json = seqflow(&[
        "compare",
        "--scenario",
        "ipc",
        "--events",
        "5000",
        "--rounds",
        "1",
        "--wait",
        "yielding",
        "--json",
    ]);
    assert!(json.status.success(), "stderr: {}", text(&json.stderr));
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("valid JSON");
    assert_eq!(value["rows"].as_array().map(Vec::len), Some(6));
}

#[test]
fn ipc_consumer_rejects_a_bad_event_size() {
    let o = seqflow(&[
        "ipc-consumer",
        "--transport",
        "pipe",
        "--events",
        "1",
        "--bytes",
        "7",
    ]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("8 or 128"), "{}", text(&o.stderr));
}

#[test]
fn inspect_shows_the_ring_and_rm_removes_only_stale_ones() {
    let name = Name::new("inspect");
    let ring = ShmRing::<u64>::create(&name.0, 64, ShmOptions::default()).unwrap();
    let mut consumer = ring.consumer("audit").unwrap();
    ring.producer().unwrap().publish(|e, _| *e = 1).unwrap();
    consumer.wait_for(0, None).unwrap();

    let o = seqflow(&["inspect", &name.0]);
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("64"), "capacity missing:\n{out}");
    assert!(out.contains("audit"), "consumer missing:\n{out}");

    let busy = seqflow(&["rm", &name.0]);
    assert!(
        !busy.status.success(),
        "a live segment must not be removed without --force"
    );
    assert!(
        text(&busy.stderr).contains("in use"),
        "{}",
        text(&busy.stderr)
    );

    drop(consumer);
    drop(ring);
    let o = seqflow(&["rm", &name.0]);
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    assert!(text(&o.stdout).contains("removed"));
    let gone = seqflow(&["inspect", &name.0]);
    assert!(!gone.status.success());
    assert!(
        text(&gone.stderr).contains("shared memory"),
        "{}",
        text(&gone.stderr)
    );
}

#[test]
fn rm_force_removes_a_live_segment() {
    let name = Name::new("force");
    let ring = ShmRing::<u64>::create(&name.0, 8, ShmOptions::default()).unwrap();
    let o = seqflow(&["rm", "--force", &name.0]);
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    assert!(ring.is_unlinked());
}
