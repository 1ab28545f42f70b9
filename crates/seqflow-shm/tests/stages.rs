//! Stages of a shared ring (`ShmRing::stage` / `pool_stage`): the pipeline's stage loop over a
//! segment. Threads stand in for processes here; `examples/multiproc_pipeline.rs` runs the same
//! API across real processes in CI.

use seqflow_shm::{
    fallible, EventError, EventHandler, PanicPolicy, ShmOptions, ShmRing, ShutdownError,
    StageError, WaitKind,
};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn ring(
    tag: &str,
    capacity: usize,
    options: ShmOptions,
) -> (ShmRing<u64>, seqflow_shm::UnlinkGuard) {
    let name = format!("/seqflow-test-stages-{tag}-{}", std::process::id());
    let ring = ShmRing::<u64>::create(
        &name,
        capacity,
        ShmOptions {
            wait: WaitKind::Futex,
            remove_stale: true,
            ..options
        },
    )
    .unwrap();
    let guard = ring.unlink_on_drop();
    (ring, guard)
}

fn declared(names: &[&str]) -> ShmOptions {
    ShmOptions {
        declared_consumers: names.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    }
}

/// Publish `1..=n` from a thread of its own, then close the ring.
fn publish_then_close(ring: &ShmRing<u64>, n: u64) -> std::thread::JoinHandle<i64> {
    let ring = ring.clone();
    std::thread::spawn(move || {
        let mut p = ring.producer().unwrap();
        for i in 1..=n {
            p.publish(|e, _| *e = i).unwrap();
        }
        ring.close()
    })
}

#[derive(Default)]
struct Recorder {
    started: bool,
    shut_down: bool,
    next: i64,
    batch: usize,
    largest_batch: usize,
    sum: u64,
}

impl EventHandler<u64> for Recorder {
    fn on_event(&mut self, event: &u64, seq: i64, end_of_batch: bool) {
        assert!(self.started && !self.shut_down);
        assert_eq!(seq, self.next, "in order, no gaps");
        self.next += 1;
        self.sum += *event;
        self.batch += 1;
        if end_of_batch {
            self.largest_batch = self.largest_batch.max(self.batch);
            self.batch = 0;
        }
    }
    fn on_start(&mut self) {
        self.started = true;
    }
    fn on_shutdown(&mut self) {
        self.shut_down = true;
    }
}

#[test]
fn stage_runs_hooks_and_batches_and_ends_at_close() {
    let (ring, _guard) = ring("hooks", 64, declared(&["rec"]));
    let producer = publish_then_close(&ring, 1000);
    let recorder = Arc::new(Mutex::new(Recorder::default()));
    struct Shared(Arc<Mutex<Recorder>>);
    impl EventHandler<u64> for Shared {
        fn on_event(&mut self, event: &u64, seq: i64, end: bool) {
            self.0.lock().unwrap().on_event(event, seq, end)
        }
        fn on_start(&mut self) {
            self.0.lock().unwrap().on_start()
        }
        fn on_shutdown(&mut self) {
            self.0.lock().unwrap().on_shutdown()
        }
    }
    let report = ring
        .stage("rec")
        .max_batch_size(16)
        .run(Shared(recorder.clone()))
        .unwrap();
    assert_eq!(producer.join().unwrap(), 999);
    let r = recorder.lock().unwrap();
    assert_eq!((report.sequence, report.failures), (999, 0));
    assert_eq!((r.sum, r.next), (500_500, 1000));
    assert!(r.shut_down && r.largest_batch <= 16 && r.largest_batch > 0);
}

#[test]
fn a_panic_under_halt_ends_the_stage_with_the_failure() {
    let (ring, _guard) = ring("halt", 16, declared(&["fragile"]));
    let producer = publish_then_close(&ring, 10);
    let result = ring.stage("fragile").run(|e: &u64, _seq, _| {
        assert_ne!(*e, 6, "six is unlucky");
    });
    match result {
        Err(StageError::Halted(ShutdownError::HandlerPanicked {
            stage,
            seq,
            message,
        })) => {
            assert_eq!((stage.as_str(), seq), ("fragile", 5));
            assert!(message.contains("unlucky"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // The declared stage keeps its place after the halt: a restart replays the failed batch
    // (a handler may finish its events only at the end of a batch) and goes on from there.
    let mut seen = Vec::new();
    let report = ring
        .stage("fragile")
        .run(|e: &u64, _, _| seen.push(*e))
        .unwrap();
    producer.join().unwrap();
    let first = seen[0];
    assert!(first <= 6, "{seen:?}");
    assert_eq!(seen, (first..=10).collect::<Vec<_>>());
    assert_eq!(report.sequence, 9);
}

#[test]
fn log_and_continue_skips_and_counts_failures() {
    let (ring, _guard) = ring("continue", 16, declared(&["lenient"]));
    let producer = publish_then_close(&ring, 100);
    let report = ring
        .stage("lenient")
        .panic_policy(PanicPolicy::LogAndContinue)
        .run(fallible(|e: &u64, _, _| {
            if e % 10 == 0 {
                Err(EventError::msg("multiple of ten"))
            } else {
                Ok(())
            }
        }))
        .unwrap();
    producer.join().unwrap();
    assert_eq!((report.sequence, report.failures), (99, 10));
}

#[test]
fn pool_stages_handle_each_event_exactly_once() {
    let options = ShmOptions {
        declared_pools: vec!["pool".into()],
        ..Default::default()
    };
    let (ring, _guard) = ring("pool", 64, options);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let seen = seen.clone();
            ring.pool_stage("pool")
                .spawn(move |e: &u64, _, _| seen.lock().unwrap().push(*e))
                .unwrap()
        })
        .collect();
    let n = if cfg!(miri) { 50 } else { 20_000 };
    let producer = publish_then_close(&ring, n);
    producer.join().unwrap();
    for w in workers {
        w.join().unwrap();
    }
    let seen = seen.lock().unwrap();
    let unique: HashSet<u64> = seen.iter().copied().collect();
    assert_eq!((seen.len() as u64, unique.len() as u64), (n, n));
}

#[test]
fn stop_signal_ends_a_stage_without_a_close() {
    let (ring, _guard) = ring("stop", 16, ShmOptions::default());
    let stage = ring.stage("idle").spawn(|_: &u64, _, _| {}).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    stage.stop();
    let report = stage.join().unwrap();
    assert_eq!(report.sequence, -1);
}

#[test]
fn a_stage_whose_upstream_leaves_is_halted_with_the_reason() {
    let options = ShmOptions {
        liveness_interval: Duration::from_millis(20),
        ..Default::default()
    };
    let (ring, _guard) = ring("gone", 16, options);
    let upstream = ring.consumer("upstream").unwrap();
    let stage = ring
        .stage("downstream")
        .after(&["upstream"])
        .spawn(|_: &u64, _, _| {})
        .unwrap();
    ring.producer().unwrap().publish(|e, _| *e = 1).unwrap();
    drop(upstream);
    match stage.join() {
        Err(StageError::Halted(ShutdownError::HandlerFailed { stage, message, .. })) => {
            assert_eq!(stage, "downstream");
            assert!(message.contains("upstream"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_upstream_is_an_attach_error() {
    let (ring, _guard) = ring("unknown", 16, ShmOptions::default());
    let err = ring
        .stage("x")
        .after(&["nobody"])
        .run(|_: &u64, _, _| {})
        .unwrap_err();
    assert!(matches!(err, StageError::Attach(_)), "{err:?}");
}

#[test]
fn a_stage_attaching_to_a_closed_ring_ends_at_once() {
    let (ring, _guard) = ring("late", 16, ShmOptions::default());
    ring.producer().unwrap().publish(|e, _| *e = 1).unwrap();
    assert_eq!(ring.close(), 0);
    assert_eq!(ring.inspect().closed_at, Some(0));
    let report = ring.stage("late").run(|_: &u64, _, _| {}).unwrap();
    assert_eq!(report.sequence, 0);
}

#[test]
fn subscriber_stage_runs_the_handler_in_batches_without_gating() {
    let (ring, _guard) = ring("lossy-stage", 64, ShmOptions::default());
    let stage = ring
        .subscriber_stage("ui")
        .max_batch_size(16)
        .spawn(Recorder::default())
        .unwrap();
    // The stage is attached (registered) before anything is published: it sees everything
    // unless lapped; 50 events in 64 slots cannot lap it.
    let end = publish_then_close(&ring, 50).join().unwrap();
    let report = stage.join().unwrap();
    assert_eq!((end, report.sequence, report.failures), (49, 49, 0));
    assert!(ring.inspect().consumers.iter().all(|c| !c.gating));
}

#[test]
fn a_lapped_subscriber_stage_skips_what_was_overwritten_and_counts_it() {
    let (ring, _guard) = ring("lossy-lapped", 8, ShmOptions::default());
    let (entered_tx, entered) = std::sync::mpsc::channel::<()>();
    let (go_tx, go) = std::sync::mpsc::channel::<()>();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let mut first = true;
    let stage = ring
        .subscriber_stage("ui")
        .spawn(move |e: &u64, seq: i64, _end: bool| {
            if first {
                first = false;
                entered_tx.send(()).unwrap();
                go.recv().unwrap(); // held while the producer laps the ring
            }
            assert_eq!(
                *e, seq as u64,
                "a copy is the whole event published at its sequence"
            );
            log.lock().unwrap().push(seq);
        })
        .unwrap();
    let mut p = ring.producer().unwrap();
    p.publish(|e, s| *e = s as u64).unwrap();
    entered.recv().unwrap();
    for _ in 0..40 {
        // Never blocks: the lossy stage does not gate.
        p.publish(|e, s| *e = s as u64).unwrap();
    }
    go_tx.send(()).unwrap();
    p.publish(|e, s| *e = s as u64).unwrap();
    drop(p);
    let end = ring.close();
    let report = stage.join().unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(end, 41);
    assert_eq!(report.sequence, end);
    assert!(report.failures >= 1, "the lap is counted: {report:?}");
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "in order, never twice: {seen:?}"
    );
    assert_eq!(seen.first(), Some(&0));
    assert_eq!(seen.last(), Some(&end));
    assert!(seen.len() < 42, "events were lost to the lap: {seen:?}");
}

#[test]
fn a_publish_racing_with_close_is_either_consumed_or_refused() {
    use seqflow_sequencer::ClaimError;
    // Producers on other threads (as other processes would) publish while the ring closes:
    // every publish that returned Ok must be consumed, and nothing else.
    for round in 0..80 {
        let single = round % 4 == 3;
        let options = ShmOptions {
            producer: if single {
                seqflow_shm::ProducerMode::Single
            } else {
                seqflow_shm::ProducerMode::MultiCas
            },
            max_producers: 4,
            ..Default::default()
        };
        let (ring, _guard) = ring(&format!("close-race-{round}"), 64, options);
        let consumer = {
            let ring = ring.clone();
            let mut c = ring.consumer("all").unwrap();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                loop {
                    match c.poll_batch(Some(Duration::from_secs(30)), |_, seq, _| got.push(seq)) {
                        Ok(_) => {}
                        Err(seqflow_shm::ConsumeError::Closed { end }) => return (got, end),
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        };
        let producers: Vec<_> = (0..if single { 1 } else { 3 })
            .map(|_| {
                let ring = ring.clone();
                std::thread::spawn(move || {
                    let mut p = ring.producer().unwrap();
                    let mut ok = Vec::new();
                    loop {
                        match p.publish(|e, s| *e = s as u64) {
                            Ok(seq) => ok.push(seq),
                            Err(ClaimError::Closed) => return ok,
                            Err(e) => panic!("{e}"),
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_micros(200 + 37 * round));
        let end = ring.close();
        let mut ok: Vec<i64> = producers
            .into_iter()
            .flat_map(|p| p.join().unwrap())
            .collect();
        ok.sort_unstable();
        let (got, closed_end) = consumer.join().unwrap();
        assert_eq!(closed_end, end);
        if got != ok {
            let extra: Vec<_> = got.iter().filter(|s| !ok.contains(s)).collect();
            let missing: Vec<_> = ok.iter().filter(|s| !got.contains(s)).collect();
            panic!("round {round}: end {end}, consumed but not Ok: {extra:?}, Ok but not consumed: {missing:?}");
        }
        assert_eq!(ok.last().copied().unwrap_or(-1), end, "round {round}");
        // A refused claim may be published unwritten past the end: never shown as the newest.
        assert!(
            ring.read_last().map_or(-1, |(seq, _)| seq) <= end,
            "round {round}"
        );
    }
}

#[test]
fn close_and_halt_all_reach_a_producer_waiting_for_room_and_halt_does_not_drain() {
    use seqflow_sequencer::ClaimError;
    for halt in [false, true] {
        // An absent declared consumer holds every event: the producer fills the ring and waits.
        let (ring, _guard) = ring(&format!("wait-room-{halt}"), 4, declared(&["absent"]));
        let mut reader = ring.consumer("reader").unwrap();
        let producer = {
            let ring = ring.clone();
            std::thread::spawn(move || {
                let mut p = ring.producer().unwrap();
                for i in 0.. {
                    if let Err(e) = p.publish(|e, _| *e = i) {
                        return e;
                    }
                }
                unreachable!()
            })
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while ring.published() < 3 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(ring.published(), 3, "the producer filled the ring");
        if halt {
            ring.halt_all();
            assert_eq!(producer.join().unwrap(), ClaimError::Halted);
            // Published events are not drained after a halt.
            assert_eq!(
                reader.wait_for(0, None),
                Err(seqflow_shm::ConsumeError::Alerted)
            );
        } else {
            ring.close();
            assert_eq!(producer.join().unwrap(), ClaimError::Closed);
            assert_eq!(reader.poll_batch(None, |_, _, _| {}), Ok(4));
        }
    }
}
