//! The shared-memory side of the `seqflow` binary: cross-process comparison (real second
//! processes), `inspect` and `rm`.

use seqflow_shm::{ShmOptions, ShmRing};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

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
        "--round-trips",
        "100",
        "--ipc-sizes",
        "8,128",
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
        "--round-trips",
        "100",
        "--ipc-sizes",
        "8,128",
        "--wait",
        "yielding",
        "--json",
    ]);
    assert!(json.status.success(), "stderr: {}", text(&json.stderr));
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("valid JSON");
    // 2 sizes × burst and one at a time × 3 transports; ping-pong for each transport.
    assert_eq!(value["ipc"]["rows"].as_array().map(Vec::len), Some(12));
    assert_eq!(value["ipc"]["latency"].as_array().map(Vec::len), Some(3));
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
    assert!(
        text(&o.stderr).contains("8, 64, 128"),
        "{}",
        text(&o.stderr)
    );
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
    assert!(
        detached(&name.0),
        "still attached after every handle was dropped"
    );
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

/// The pid `seqflow halt` printed.
fn o_pid(o: &Output) -> u32 {
    let out = text(&o.stdout);
    out.trim()
        .trim_end_matches(')')
        .rsplit(' ')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {out:?}"))
}

#[test]
fn namespaces_list_inspect_and_remove_one_runs_rings() {
    use seqflow_shm::SegmentName;
    let ns = format!("clitest-{}", std::process::id());
    let other = format!("clitest-other-{}", std::process::id());
    let names = [
        SegmentName::namespaced(&ns, "orders").unwrap(),
        SegmentName::namespaced(&ns, "fills").unwrap(),
        SegmentName::namespaced(&other, "orders").unwrap(),
    ];
    let _cleanup: Vec<Name> = names.iter().map(|n| Name(n.to_string())).collect();
    let rings: Vec<_> = names
        .iter()
        .map(|n| ShmRing::<u64>::create(n.as_str(), 16, ShmOptions::default()).unwrap())
        .collect();
    let mut c = rings[0].consumer("audit").unwrap();
    let mut p = rings[0].producer().unwrap();
    for i in 0..4 {
        p.publish(|e, _| *e = i).unwrap();
    }
    c.wait_for(0, None).unwrap();
    c.update_sequence(0).unwrap();

    let o = seqflow(&["ls", "--namespace", &ns]);
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    let out = text(&o.stdout);
    assert_eq!(
        out.lines().count(),
        3,
        "a header and this run's two rings:\n{out}"
    );
    assert!(out.contains(&format!("/{ns}:orders")) && out.contains(&format!("/{ns}:fills")));
    assert!(out.contains("3 (19%)"), "backlog of orders: 3 of 16\n{out}");
    assert!(!out.contains(&other), "{out}");
    let all = text(&seqflow(&["ls"]).stdout);
    assert!(all.contains(&other) && all.contains(&ns), "{all}");

    let o = seqflow(&["inspect", "--namespace", &ns, "orders"]);
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("backlog   3 of 16"),
        "{}",
        text(&o.stdout)
    );
    let bad = seqflow(&["ls", "--namespace", "no/slash"]);
    assert!(!bad.status.success());
    // `rm` of a whole namespace refuses one no ring can have, and says when it found none.
    let bad = seqflow(&["rm", "--namespace", "a:b"]);
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("--namespace"),
        "{}",
        text(&bad.stderr)
    );
    let none = seqflow(&["rm", "--namespace", &format!("{ns}-empty")]);
    assert!(none.status.success());
    assert!(
        text(&none.stdout).contains("no rings"),
        "{}",
        text(&none.stdout)
    );
    let o = seqflow(&["halt", "--namespace", &ns, "fills"]);
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    assert_eq!(rings[1].halted_by(), Some(o_pid(&o)));
    let ls = text(&seqflow(&["ls", "--namespace", &ns]).stdout);
    assert!(ls.contains("halted by pid"), "{ls}");
    // Nothing was published into `fills`: its published column says so instead of -1.
    let fills = ls.lines().find(|l| l.contains(":fills")).unwrap();
    assert!(fills.split_whitespace().nth(3) == Some("-"), "{fills}");
    // A second halt reports the first halter, and says it is not this one.
    let again = seqflow(&["halt", "--namespace", &ns, "fills"]);
    assert!(again.status.success());
    assert!(
        text(&again.stdout).contains("already halted"),
        "{}",
        text(&again.stdout)
    );
    assert_eq!(o_pid(&again), o_pid(&o));

    drop((c, p));
    drop(rings);
    for n in &names {
        assert!(
            detached(n.as_str()),
            "{n} still attached after every handle was dropped"
        );
    }
    let o = seqflow(&["rm", "--namespace", &ns]);
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    assert_eq!(text(&o.stdout).lines().count(), 2, "{}", text(&o.stdout));
    assert!(seqflow_shm::list(Some(&ns)).unwrap().is_empty());
    assert_eq!(seqflow_shm::list(Some(&other)).unwrap().len(), 1);
}

/// `rm --namespace` with one ring in use: the stale rings are still removed, the one in use is
/// kept and reported, and the exit status says not everything went.
#[test]
fn rm_of_a_namespace_removes_the_stale_rings_past_one_in_use() {
    use seqflow_shm::SegmentName;
    let ns = format!("clitest-busy-{}", std::process::id());
    let names: Vec<SegmentName> = ["a-live", "b-stale", "c-stale"]
        .iter()
        .map(|n| SegmentName::namespaced(&ns, n).unwrap())
        .collect();
    let _cleanup: Vec<Name> = names.iter().map(|n| Name(n.to_string())).collect();
    let live = ShmRing::<u64>::create(names[0].as_str(), 8, ShmOptions::default()).unwrap();
    for n in &names[1..] {
        drop(ShmRing::<u64>::create(n.as_str(), 8, ShmOptions::default()).unwrap());
        assert!(detached(n.as_str()), "{n} still attached");
    }
    let o = seqflow(&["rm", "--namespace", &ns]);
    assert!(!o.status.success(), "a ring in use was left: not a success");
    assert!(
        text(&o.stderr).contains(&format!("/{ns}:a-live is in use")),
        "{}",
        text(&o.stderr)
    );
    let left: Vec<String> = seqflow_shm::list(Some(&ns))
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(left, vec![names[0].to_string()], "the stale rings are gone");
    assert!(!live.is_unlinked());
}

#[test]
fn rm_force_removes_a_live_segment() {
    let name = Name::new("force");
    let ring = ShmRing::<u64>::create(&name.0, 8, ShmOptions::default()).unwrap();
    let o = seqflow(&["rm", "--force", &name.0]);
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    assert!(ring.is_unlinked());
}

/// `rm A B C` where B does not exist: A and C are removed all the same, B's error is
/// reported and the command fails.
#[test]
fn rm_goes_on_past_a_ring_it_cannot_remove() {
    let (a, missing, c) = (
        Name::new("rm-a"),
        Name::new("rm-missing"),
        Name::new("rm-c"),
    );
    for name in [&a, &c] {
        let ring = ShmRing::<u64>::create(&name.0, 8, ShmOptions::default()).unwrap();
        drop(ring);
        assert!(detached(&name.0), "{} still attached", name.0);
    }
    let o = seqflow(&["rm", &a.0, &missing.0, &c.0]);
    assert!(!o.status.success(), "stdout: {}", text(&o.stdout));
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert!(out.contains(&format!("removed {}", a.0)), "{out}");
    assert!(out.contains(&format!("removed {}", c.0)), "{out}");
    assert!(err.contains(&missing.0), "{err}");
    for name in [&a, &c] {
        assert!(
            !seqflow(&["inspect", &name.0]).status.success(),
            "{} left",
            name.0
        );
    }
}

/// Set in a child run of this test binary: [`hold_a_segment_until_killed`] then creates this
/// segment with a consumer and waits to be killed.
const HOLDER_ENV: &str = "SEQFLOW_CLI_TEST_HOLD_SEGMENT";

/// A no-op in a normal run; the creator process of [`inspect_after_sigkill_reports_the_creator_gone`].
#[test]
fn hold_a_segment_until_killed() {
    let Ok(name) = std::env::var(HOLDER_ENV) else {
        return;
    };
    let ring = ShmRing::<u64>::create(&name, 64, ShmOptions::default()).unwrap();
    let _consumer = ring.consumer("audit").unwrap();
    // Killed long before this ends; the bound only keeps a lost child from lingering.
    std::thread::sleep(Duration::from_secs(60));
}

/// Wait until nobody is attached to `name` (false after 20 s). Dropping this process's last
/// handle closes its descriptor at once, but a child that another test thread is starting at
/// that moment (`Command` forks or `posix_spawn`s) holds a copy of the descriptor, and with it
/// the segment's attach lock, until it execs; under load that can outlast a whole `seqflow rm`.
fn detached(name: &str) -> bool {
    eventually(|| seqflow_shm::inspect(name).is_ok_and(|i| !i.attached))
}

/// Poll `ready` every 10 ms until it holds; false after 20 s.
fn eventually(mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn inspect_after_sigkill_reports_the_creator_gone() {
    let name = Name::new("sigkill");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "hold_a_segment_until_killed", "--test-threads=1"])
        .env(HOLDER_ENV, &name.0)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let registered = eventually(|| {
        seqflow_shm::inspect(&name.0).is_ok_and(|i| i.consumers.iter().any(|c| c.name == "audit"))
    });
    assert!(registered, "the child never created its segment");
    child.kill().unwrap(); // SIGKILL; not reaped yet, so its pid lingers as a zombie
    assert!(
        eventually(|| seqflow_shm::inspect(&name.0).is_ok_and(|i| !i.attached)),
        "the kernel never released the child's locks"
    );
    let o = seqflow(&["inspect", &name.0]);
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains(&format!("pid {} (gone)", child.id())), "{out}");
    assert!(out.contains("DEAD"), "{out}");
    child.wait().unwrap();
    let o = seqflow(&["rm", &name.0]);
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    assert!(text(&o.stdout).contains("(stale)"));
}

#[test]
fn a_missing_segment_is_told_apart() {
    let o = seqflow(&["inspect", "/seqflow-cli-test-no-such-segment"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("shared memory"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn inspect_shows_an_absent_declared_consumer_and_release_frees_it() {
    let name = Name::new("release");
    let options = ShmOptions {
        declared_consumers: vec!["audit".into()],
        ..ShmOptions::default()
    };
    let ring = ShmRing::<u64>::create(&name.0, 4, options).unwrap();
    let mut producer = ring.producer().unwrap();
    for i in 0..4 {
        producer.publish(|e, _| *e = i).unwrap();
    }
    assert!(producer.try_publish(|e, _| *e = 4).is_err());

    let o = seqflow(&["inspect", &name.0]);
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    assert!(text(&o.stdout).contains("ABSENT"), "{}", text(&o.stdout));

    let unknown = seqflow(&["release", &name.0, "nobody"]);
    assert!(!unknown.status.success());
    assert!(
        text(&unknown.stderr).contains("nobody"),
        "{}",
        text(&unknown.stderr)
    );

    let o = seqflow(&["release", &name.0, "audit"]);
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    assert!(producer.try_publish(|e, _| *e = 4).is_ok());
}

/// Files under a ring's name that seqflow did not make: a plain file, a symbolic link to a
/// segment-looking file elsewhere, a FIFO. `inspect`, `halt` and `rm` (with `--force`) refuse
/// each with an error, touch nothing, and never follow the link.
#[test]
fn foreign_files_and_links_are_never_followed_written_or_removed() {
    let pid = std::process::id();
    let plain = format!("/seqflow-cli-test-foreign-{pid}");
    let link = format!("/seqflow-cli-test-link-{pid}");
    let fifo = format!("/seqflow-cli-test-fifo-{pid}");
    // The link points at a real (stale) seqflow segment copied outside /dev/shm.
    let ring = Name::new("linktarget");
    drop(ShmRing::<u64>::create(&ring.0, 8, ShmOptions::default()).unwrap());
    let outside = std::env::temp_dir().join(format!("seqflow-cli-test-outside-{pid}"));
    std::fs::copy(format!("/dev/shm{}", ring.0), &outside).unwrap();
    let before = std::fs::read(&outside).unwrap();
    std::fs::write(format!("/dev/shm{plain}"), b"somebody else's data").unwrap();
    std::os::unix::fs::symlink(&outside, format!("/dev/shm{link}")).unwrap();
    let made_fifo = Command::new("mkfifo")
        .arg(format!("/dev/shm{fifo}"))
        .status()
        .is_ok_and(|s| s.success());
    let mut names = vec![plain.as_str(), link.as_str()];
    if made_fifo {
        names.push(fifo.as_str());
    }
    let mut outcomes = Vec::new();
    for name in &names {
        for args in [
            vec!["inspect", name],
            vec!["halt", name],
            vec!["rm", name],
            vec!["rm", "--force", name],
        ] {
            let o = seqflow(&args);
            outcomes.push((args.join(" "), o.status.code(), text(&o.stderr)));
        }
    }
    let survived: Vec<bool> = names
        .iter()
        .map(|n| std::fs::symlink_metadata(format!("/dev/shm{n}")).is_ok())
        .collect();
    let after = std::fs::read(&outside).unwrap();
    for n in &names {
        let _ = std::fs::remove_file(format!("/dev/shm{n}"));
    }
    let _ = std::fs::remove_file(&outside);
    for (args, code, stderr) in outcomes {
        assert_eq!(code, Some(1), "seqflow {args}: {stderr}");
        assert!(stderr.contains("not a seqflow"), "seqflow {args}: {stderr}");
    }
    assert!(survived.iter().all(|&s| s), "a foreign file was removed");
    assert_eq!(before, after, "the link's target was written through");
}

/// `seqflow` run as the unprivileged user `nobody` (only possible when the tests run as root),
/// from a copy in the temporary directory (the build directory may not be reachable by
/// `nobody`).
fn seqflow_as_nobody(args: &[&str]) -> Option<Output> {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    if !rustix::process::geteuid().is_root() {
        eprintln!("not root: cannot run as another user, the check is skipped");
        return None;
    }
    let exe = std::env::temp_dir().join(format!(
        "seqflow-as-nobody-{}-{}",
        std::process::id(),
        args.join("-").replace('/', "_")
    ));
    // Copied by a `cp` process, never through a descriptor of ours: a child that another test
    // thread forks while this process holds the copy open for writing keeps that descriptor
    // until it execs, and executing the copy meanwhile fails with ETXTBSY ("Text file busy").
    let copied = Command::new("cp")
        .arg(env!("CARGO_BIN_EXE_seqflow"))
        .arg(&exe)
        .status()
        .expect("cp runs");
    assert!(copied.success(), "cp failed: {copied}");
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = Command::new(&exe).args(args).uid(65534).gid(65534).output();
    let _ = std::fs::remove_file(&exe);
    Some(output.expect("the seqflow binary runs as nobody"))
}

/// A user who may read a segment but not write it can inspect it (read-only mapping), and gets
/// a typed error, not a panic or a change, from `halt` and `rm`.
#[test]
fn a_reader_without_write_permission_inspects_but_cannot_halt_or_remove() {
    let name = Name::new("readonly");
    let options = ShmOptions {
        mode: 0o644,
        ..Default::default()
    };
    let ring = ShmRing::<u64>::create(&name.0, 64, options).unwrap();
    let mut consumer = ring.consumer("audit").unwrap();
    ring.producer().unwrap().publish(|e, _| *e = 1).unwrap();
    consumer.wait_for(0, None).unwrap();

    let Some(o) = seqflow_as_nobody(&["inspect", &name.0]) else {
        return;
    };
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    assert!(text(&o.stdout).contains("audit"), "{}", text(&o.stdout));

    for args in [vec!["halt", &name.0], vec!["rm", "--force", &name.0]] {
        let o = seqflow_as_nobody(&args).unwrap();
        assert!(!o.status.success(), "{args:?} succeeded as nobody");
        let err = text(&o.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        // EACCES opening for writing (halt), EPERM unlinking another user's file in the
        // sticky /dev/shm (rm).
        assert!(
            err.contains("Permission denied") || err.contains("not permitted"),
            "{args:?}: {err}"
        );
    }
    assert!(ring.halted_by().is_none(), "halted by a reader");
    assert!(seqflow_shm::inspect(&name.0).is_ok(), "removed by a reader");
}

#[test]
fn a_killed_perf_run_with_reader_processes_leaves_no_segment() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_seqflow"))
        .args([
            "perf",
            "--reader-processes",
            "--progress",
            "--readers=1",
            "--slots=16",
            "--slot-bytes=1000",
            "--writes-per-second=1000",
            "--duration-seconds=60",
            "--wait=blocking",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let prefix = format!("seqflow-perf-{}-", child.id());
    // The first progress line comes once the writer writes, after every reader attached.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("writes") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "perf ended early");
    }
    // SIGKILL: no destructor runs, as with a Ctrl-C that ends the process.
    child.kill().unwrap();
    child.wait().unwrap();
    let left: Vec<String> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Options declaring the consumer `audit`: its unread events are kept while nobody is attached
/// as it.
fn declared_audit() -> ShmOptions {
    ShmOptions {
        declared_consumers: vec!["audit".into()],
        ..ShmOptions::default()
    }
}

/// A ring nobody is attached to that still holds events its declared consumer has not read (a
/// named queue between its users) is kept by `rm` without `--force`, shown as such by `ls` and
/// `inspect`, and removed with `--force`; once read, it is stale and goes.
#[test]
fn rm_keeps_a_detached_ring_with_unread_events_until_forced() {
    let name = Name::new("unread");
    let ring = ShmRing::<u64>::create(&name.0, 16, declared_audit()).unwrap();
    let consumer = ring.consumer("audit").unwrap();
    let mut p = ring.producer().unwrap();
    for v in 0..3 {
        p.publish(|e, _| *e = v).unwrap();
    }
    drop((p, consumer, ring));
    assert!(detached(&name.0), "still attached");

    let o = seqflow(&["rm", &name.0]);
    assert!(!o.status.success(), "unread events must not be removed");
    let err = text(&o.stderr);
    assert!(
        err.contains("holds 3 event(s)") && err.contains("--force"),
        "{err}"
    );
    let listed = text(&seqflow(&["ls"]).stdout);
    let line = listed
        .lines()
        .find(|l| l.contains(&name.0))
        .unwrap_or_default();
    assert!(line.ends_with("idle, unread kept"), "{listed}");
    let shown = text(&seqflow(&["inspect", &name.0]).stdout);
    assert!(shown.contains("unread events are kept"), "{shown}");

    // Its consumer comes back and reads them: nothing is kept any more.
    let ring = ShmRing::<u64>::open(&name.0, std::time::Duration::from_secs(1)).unwrap();
    let mut consumer = ring.consumer("audit").unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        consumer.poll(|e, _, _| seen.push(*e)).unwrap();
    }
    assert_eq!(seen, [0, 1, 2]);
    drop((consumer, ring));
    assert!(detached(&name.0), "still attached");
    let o = seqflow(&["rm", &name.0]);
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    assert!(text(&o.stdout).contains("(stale)"));
}

/// `--force` removes a detached ring with unread events; several names report each refusal.
#[test]
fn rm_force_removes_unread_events_and_several_names_report_each() {
    let kept = Name::new("unread-kept");
    let empty = Name::new("unread-empty");
    for n in [&kept, &empty] {
        let ring = ShmRing::<u64>::create(&n.0, 8, declared_audit()).unwrap();
        let c = ring.consumer("audit").unwrap();
        if n.0 == kept.0 {
            ring.producer().unwrap().publish(|e, _| *e = 7).unwrap();
        }
        drop((c, ring));
        assert!(detached(&n.0), "still attached");
    }
    let o = seqflow(&["rm", &kept.0, &empty.0]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("{} holds 1 event(s)", kept.0)),
        "{err}"
    );
    assert!(text(&o.stdout).contains(&format!("removed {} (stale)", empty.0)));
    let o = seqflow(&["rm", "--force", &kept.0]);
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    assert!(seqflow_shm::inspect(&kept.0).is_err(), "still there");
}

/// A declared pool's placeholder keeps its events too (what a named Python `Queue` is between
/// its users).
#[test]
fn rm_keeps_the_unread_events_of_a_declared_pool() {
    let name = Name::new("unread-pool");
    let options = ShmOptions {
        declared_pools: vec!["queue".into()],
        ..ShmOptions::default()
    };
    let ring = ShmRing::<u64>::create(&name.0, 8, options).unwrap();
    ring.producer().unwrap().publish(|e, _| *e = 1).unwrap();
    drop(ring);
    assert!(detached(&name.0), "still attached");
    let o = seqflow(&["rm", &name.0]);
    assert!(!o.status.success(), "the pool's event must be kept");
    assert!(
        text(&o.stderr).contains("holds 1 event(s)"),
        "{}",
        text(&o.stderr)
    );
    assert!(seqflow(&["rm", "--force", &name.0]).status.success());
}
