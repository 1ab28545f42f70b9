//! One-byte availability marks across processes: a pool worker SIGSTOPped inside its wait for
//! sequence 0 of a 4-slot multi-producer ring while the other worker handles exactly 256*k laps
//! (plus `extra` slots), so that the marks it finds on waking are its own lap's mark again.
//! `harness = false`: forks from a single-threaded main.

mod common;

use common::{fork_child, Child, Pipe, Seg};
use seqflow_shm::{ProducerMode, ShmOptions, ShmRing, WaitKind};
use std::time::{Duration, Instant};

const NOW: Option<Duration> = Some(Duration::ZERO);

fn sig(child: &Child, s: i32) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.pid, s) };
}

fn stopped_worker_wakes_to_its_own_mark(k: u64, extra: u64) {
    let seg = Seg::new("marks-stopwait");
    let options = ShmOptions {
        producer: ProducerMode::MultiCas,
        wait: WaitKind::Futex,
        liveness_interval: Duration::from_millis(10),
        max_producers: 4,
        ..Default::default()
    };
    let ring = ShmRing::<u64>::create(&seg.name, 4, options).unwrap();
    let mut busy = ring.worker("pool").unwrap();
    let ready = Pipe::new();
    let result = Pipe::new();
    let name = seg.name.clone();
    let total = 1024 * k + extra; // events 0..total-1, then one more: `total`
    let mut child = fork_child(|| {
        let ring =
            ShmRing::<u64>::open(&name, Duration::from_secs(10)).map_err(|e| e.to_string())?;
        let mut w = ring.worker("pool").map_err(|e| e.to_string())?;
        ready.send(&[1]);
        let got = w.process(Some(Duration::from_secs(20)), |e, seq| (*e, seq));
        let ok = matches!(&got, Ok((seq, (v, s))) if *seq == total as i64 && *v == total && *s == total as i64);
        eprintln!("stopped worker (k {k}, extra {extra}) got {got:?}");
        result.send(&[u8::from(ok)]);
        Ok(())
    });
    ready.recv(1, Duration::from_secs(10)).expect("child ready");
    std::thread::sleep(Duration::from_millis(200)); // the child is inside its wait for 0
    sig(&child, libc::SIGSTOP);
    child.wait_stopped(Duration::from_secs(5));
    let mut producer = ring.producer().unwrap();
    let mut next = 0u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    while next < total {
        assert!(Instant::now() < deadline, "producer stuck at {next}");
        match producer.try_publish(|e, _| *e = next) {
            Ok(_) => next += 1,
            Err(_) => {
                while let Ok((s, v)) = busy.process(NOW, |e, s| (*e, s)) {
                    assert_eq!(v.0 as i64, v.1, "busy worker at {s}");
                }
            }
        }
    }
    while busy.process(NOW, |_, _| ()).is_ok() {}
    assert_eq!(busy.work_cursor(), total as i64 - 1);
    sig(&child, libc::SIGCONT);
    std::thread::sleep(Duration::from_millis(100));
    producer.publish(|e, _| *e = total).unwrap();
    let r = result.recv(1, Duration::from_secs(30));
    child.expect_success("stopped worker");
    assert_eq!(r, Some(vec![1]), "k {k} extra {extra}");
}

fn main() {
    let cases: &[(&str, fn())] = &[
        ("lap_256_plus_4", || {
            stopped_worker_wakes_to_its_own_mark(1, 4)
        }),
        ("lap_256_plus_1", || {
            stopped_worker_wakes_to_its_own_mark(1, 1)
        }),
        ("lap_512_plus_4", || {
            stopped_worker_wakes_to_its_own_mark(2, 4)
        }),
        ("lap_512_plus_2", || {
            stopped_worker_wakes_to_its_own_mark(2, 2)
        }),
    ];
    common::run_cases(cases);
}
