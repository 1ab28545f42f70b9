//! The features users of the LMAX Disruptor and the `disruptor` crate expect, each ported from
//! the intent of the peer's own test where there is one. Small rings and few events throughout
//! (yielding or blocking waits; no timing asserted).

use seqflow_pipeline::{
    fallible, BatchEvent, BuildError, Disruptor, EventError, EventHandler, ExceptionAction,
    ExceptionHandler, HandlerFailure, PanicPolicy, PhasedBackoffWait, PollError, ReleaseError,
    RewindPolicy, ShutdownError,
};
use seqflow_sequence::BlockingWait;
use seqflow_sequencer::MultiProducerMode;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(30);

/// Records every failure it is shown; answers with `action`.
struct Recorder {
    action: ExceptionAction,
    events: Mutex<Vec<(i64, u64, String)>>,
    starts: AtomicU64,
    shutdowns: AtomicU64,
}

impl Recorder {
    fn new(action: ExceptionAction) -> Arc<Self> {
        Arc::new(Self {
            action,
            events: Mutex::new(Vec::new()),
            starts: AtomicU64::new(0),
            shutdowns: AtomicU64::new(0),
        })
    }
}

impl ExceptionHandler<u64> for Recorder {
    fn handle_event_exception(&self, f: &HandlerFailure, seq: i64, e: &u64) -> ExceptionAction {
        self.events.lock().unwrap().push((seq, *e, f.to_string()));
        self.action
    }
    fn handle_on_start_exception(&self, _: &HandlerFailure) -> ExceptionAction {
        self.starts.fetch_add(1, SeqCst);
        ExceptionAction::Continue
    }
    fn handle_on_shutdown_exception(&self, _: &HandlerFailure) {
        self.shutdowns.fetch_add(1, SeqCst);
    }
}

// LMAX: `shouldCallExceptionHandlerOnUncaughtException` / the per-handler exception handler
// override of the DSL, with a default one for the other stages.
#[test]
fn stage_exception_handler_overrides_the_default_and_sees_errors_and_panics() {
    let default = Recorder::new(ExceptionAction::Continue);
    let own = Recorder::new(ExceptionAction::Continue);
    let mut b = Disruptor::builder(8, || 0u64)
        .exception_handler(default.clone())
        .single_producer()
        .unwrap();
    b.handle_events_with(fallible(|e: &u64, _, _| match *e {
        2 => Err(EventError::msg("two")),
        _ => Ok(()),
    }));
    b.handle_events_with(|e: &u64, _, _| assert_ne!(*e, 3, "three"))
        .exception_handler(own.clone());
    let (d, mut p) = b.start().unwrap();
    for i in 0..5 {
        p.publish(|e, _| *e = i).unwrap();
    }
    d.shutdown().unwrap();
    assert_eq!(
        *default.events.lock().unwrap(),
        vec![(2, 2, "two".to_owned())]
    );
    let own = own.events.lock().unwrap();
    assert_eq!((own.len(), own[0].0, own[0].1), (1, 3, 3));
    assert!(own[0].2.contains("three"));
}

struct FailingHooks;
impl EventHandler<u64> for FailingHooks {
    fn on_event(&mut self, _: &u64, _: i64, _: bool) {}
    fn on_start(&mut self) {
        panic!("start");
    }
    fn on_shutdown(&mut self) {
        panic!("stop");
    }
}

// LMAX: `shouldCallExceptionHandlerOnStartAndShutdownFailures` (handleOnStartException /
// handleOnShutdownException).
#[test]
fn on_start_and_on_shutdown_failures_reach_the_exception_handler() {
    let rec = Recorder::new(ExceptionAction::Continue);
    let mut b = Disruptor::builder(8, || 0u64).single_producer().unwrap();
    b.handle_events_with(FailingHooks)
        .exception_handler(rec.clone());
    let (d, mut p) = b.start().unwrap();
    p.publish(|e, _| *e = 1).unwrap();
    let metrics = d.metrics_handle();
    d.shutdown().unwrap();
    assert_eq!(
        (rec.starts.load(SeqCst), rec.shutdowns.load(SeqCst)),
        (1, 1)
    );
    assert_eq!(metrics.read().panics, 2);
}

#[test]
fn a_returned_error_under_halt_is_reported_by_shutdown() {
    let mut b = Disruptor::builder(8, || 0u64)
        .panic_policy(PanicPolicy::Halt)
        .single_producer()
        .unwrap();
    b.handle_events_with(fallible(|_: &u64, _, _| Err(EventError::msg("broken"))))
        .named("sink");
    let (d, mut p) = b.start().unwrap();
    p.publish(|e, _| *e = 1).unwrap();
    let err = d.shutdown().unwrap_err();
    assert_eq!(
        err,
        ShutdownError::HandlerFailed {
            stage: "sink".into(),
            seq: 0,
            message: "broken".into()
        }
    );
}

/// Records `on_batch_start` calls and end-of-batch flags.
struct Batches {
    starts: mpsc::Sender<(i64, i64)>,
    ends: Arc<AtomicU64>,
}
impl EventHandler<u64> for Batches {
    fn on_event(&mut self, _: &u64, _: i64, end_of_batch: bool) {
        if end_of_batch {
            self.ends.fetch_add(1, SeqCst);
        }
    }
    fn on_batch_start(&mut self, batch_size: i64, queue_depth: i64) {
        self.starts.send((batch_size, queue_depth)).unwrap();
    }
}

// LMAX: `BatchEventProcessorTest.shouldLimitTheBatchSize` and `shouldNotifyOfBatchProcessorLifecycle`
// (onBatchStart with batch size and queue depth).
#[test]
fn max_batch_size_caps_batches_and_on_batch_start_reports_size_and_depth() {
    let (tx, starts) = mpsc::channel();
    let ends = Arc::new(AtomicU64::new(0));
    let mut b = Disruptor::builder(16, || 0u64).single_producer().unwrap();
    b.handle_events_with(Batches {
        starts: tx,
        ends: ends.clone(),
    })
    .max_batch_size(4);
    b.publish_before_start(|p| p.try_publish_batch_all(10))
        .unwrap();
    let (d, _p) = b.start().unwrap();
    d.shutdown().unwrap();
    let starts: Vec<_> = starts.try_iter().collect();
    // Published before start, so the stage finds all ten at once: 4, 4, 2.
    assert_eq!(starts, vec![(4, 10), (4, 6), (2, 2)]);
    assert_eq!(ends.load(SeqCst), 3);
}

/// Publish `n` events numbered by sequence, without waiting.
trait PublishAll {
    fn try_publish_batch_all(&mut self, n: usize);
}
impl<C: seqflow_sequencer::Claimer> PublishAll for seqflow_pipeline::Producer<u64, C> {
    fn try_publish_batch_all(&mut self, n: usize) {
        for _ in 0..n {
            self.try_publish(|e, seq| *e = seq as u64).unwrap();
        }
    }
}

/// Releases each event as soon as it has read it, then blocks on event 1 until told.
struct EarlyRelease {
    at_one: mpsc::Sender<()>,
    go: mpsc::Receiver<()>,
    errors: mpsc::Sender<ReleaseError>,
}
impl EventHandler<u64> for EarlyRelease {
    fn on_event(&mut self, _: &u64, _: i64, _: bool) {}
    fn on_event_releasing(&mut self, mut event: BatchEvent<'_, u64>) -> Result<(), EventError> {
        let seq = event.seq();
        if let Err(e) = event.release_through(seq) {
            self.errors.send(e).unwrap(); // past the finished events: refused
        }
        if seq > 0 {
            if let Err(e) = event.release_through(-5) {
                self.errors.send(e).unwrap(); // backwards: refused
            }
        }
        event.release()?;
        if seq == 1 {
            self.at_one.send(()).unwrap();
            self.go.recv().unwrap();
        }
        Ok(())
    }
}

// LMAX: `SequenceReportingCallbackTest.shouldReportProgressByUpdatingSequenceViaCallback`: the
// handler releases inside a batch, so the stage's sequence moves before the batch ends.
#[test]
fn early_release_moves_the_sequence_inside_a_batch_and_rejects_misuse() {
    let (at_one_tx, at_one) = mpsc::channel();
    let (go_tx, go) = mpsc::channel();
    let (errors_tx, errors) = mpsc::channel();
    let mut b = Disruptor::builder(4, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_with(EarlyRelease {
        at_one: at_one_tx,
        go,
        errors: errors_tx,
    });
    b.publish_before_start(|p| p.try_publish_batch_all(3))
        .unwrap();
    let (d, _p) = b.start().unwrap();
    at_one.recv_timeout(LONG).unwrap();
    // Inside the batch 0..=2, blocked on 1, which it released: the stage is at 1.
    assert_eq!(d.metrics().stages[0].sequence, 1);
    go_tx.send(()).unwrap();
    d.shutdown().unwrap();
    let errors: Vec<_> = errors.try_iter().collect();
    assert!(errors.contains(&ReleaseError::NotFinished { seq: 0, limit: -1 }));
    assert!(errors.contains(&ReleaseError::Backwards {
        seq: -5,
        released: 0
    }));
}

/// Asks for a rewind the first `fail` times it sees event 1 (of each batch).
struct Flaky {
    fail: u32,
    seen: Arc<Mutex<Vec<i64>>>,
    release_first: bool,
}
impl EventHandler<u64> for Flaky {
    fn on_event(&mut self, _: &u64, _: i64, _: bool) {}
    fn on_event_releasing(&mut self, event: BatchEvent<'_, u64>) -> Result<(), EventError> {
        let seq = event.seq();
        self.seen.lock().unwrap().push(seq);
        if self.release_first && seq == 0 {
            event.release()?;
            return Ok(());
        }
        if seq == 1 && self.fail > 0 {
            self.fail -= 1;
            return Err(EventError::Rewind);
        }
        Ok(())
    }
}

fn run_flaky(fail: u32, policy: RewindPolicy, release_first: bool) -> (Vec<i64>, Arc<Recorder>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rec = Recorder::new(ExceptionAction::Continue);
    let mut b = Disruptor::builder(8, || 0u64).single_producer().unwrap();
    b.handle_events_with(Flaky {
        fail,
        seen: seen.clone(),
        release_first,
    })
    .rewind_policy(policy)
    .exception_handler(rec.clone());
    b.publish_before_start(|p| p.try_publish_batch_all(3))
        .unwrap();
    let (d, _p) = b.start().unwrap();
    d.shutdown().unwrap();
    let seen = seen.lock().unwrap().clone();
    (seen, rec)
}

// LMAX: `RewindBatchEventProcessorTest.shouldRewindBatchAndSucceed` and
// `shouldRewindAndGiveUpAfterAttempts` (EventuallyGiveUpBatchRewindStrategy).
#[test]
fn rewind_replays_the_batch_within_the_policy_then_gives_up() {
    let (seen, rec) = run_flaky(2, RewindPolicy::up_to(3), false);
    assert_eq!(seen, vec![0, 1, 0, 1, 0, 1, 2]);
    assert!(rec.events.lock().unwrap().is_empty());

    let (seen, rec) = run_flaky(5, RewindPolicy::up_to(2), false);
    assert_eq!(seen, vec![0, 1, 0, 1, 0, 1, 2]);
    let failures = rec.events.lock().unwrap();
    assert_eq!((failures.len(), failures[0].0), (1, 1));
    assert!(
        failures[0].2.contains("after 2 attempts"),
        "{}",
        failures[0].2
    );

    let (seen, rec) = run_flaky(1, RewindPolicy::never(), false);
    assert_eq!(seen, vec![0, 1, 2]);
    assert_eq!(rec.events.lock().unwrap().len(), 1);
}

#[test]
fn no_rewind_once_part_of_the_batch_was_released() {
    let (seen, rec) = run_flaky(1, RewindPolicy::up_to(3), true);
    assert_eq!(seen, vec![0, 1, 2], "never replayed");
    let failures = rec.events.lock().unwrap();
    assert!(failures[0].2.contains("cannot replay"), "{}", failures[0].2);
}

// LMAX: `DisruptorTest.shouldSupportCustomProcessorsAsDependencies`; the `disruptor` crate's
// pollers after pollers, branching and joining.
#[test]
fn custom_processor_and_pollers_are_dependencies_of_later_stages() {
    let total = Arc::new(AtomicU64::new(0));
    let t = total.clone();
    let mut b = Disruptor::builder(8, || 0u64).single_producer().unwrap();
    let custom = b
        .handle_events_with_processor(|mut poller: seqflow_pipeline::Poller<u64, _>| loop {
            match poller.poll(|_, _, _| {}) {
                Ok(_) => std::thread::yield_now(),
                Err(PollError::Alerted) => return,
                Err(e) => panic!("{e}"),
            }
        })
        .group();
    let mut first = b.poller_after(&[&custom]).unwrap();
    let mut left = b.poller_after(&[&first.group()]).unwrap();
    let mut right = b.poller_after(&[&first.group()]).unwrap();
    b.after(&[&left.group(), &right.group()])
        .handle_events_with(move |e: &u64, _, _| {
            t.fetch_add(*e, SeqCst);
        });
    assert!(!first.is_gating());
    let (d, mut p) = b.start().unwrap();
    for i in 1..=20u64 {
        p.publish(|e, _| *e = i).unwrap();
        for poller in [&mut first, &mut left, &mut right] {
            // Each poller sees an event only after the one it follows did.
            let got = poller.wait_for(i as i64 - 1, Some(LONG)).unwrap();
            poller.update_sequence(got).unwrap();
        }
    }
    d.shutdown().unwrap();
    assert_eq!(total.load(SeqCst), 210);
}

// LMAX: `DisruptorTest.shouldAddEventHandlersToRunningDisruptor` (only what is published after it
// joins; it gates the producer from then on).
#[test]
fn handler_added_to_a_running_disruptor_sees_later_events_and_gates() {
    let (mut d, mut p) = Disruptor::builder(4, || 0u64)
        .multi_producer(MultiProducerMode::Cas)
        .unwrap()
        .start()
        .unwrap();
    for i in 0..10 {
        p.publish(|e, _| *e = i).unwrap(); // nobody gates yet
    }
    let (tx, seen) = mpsc::channel();
    d.handle_events_with(move |e: &u64, _, _| tx.send(*e).unwrap())
        .unwrap();
    for i in 10..20 {
        p.publish(|e, _| *e = i).unwrap();
    }
    assert_eq!(d.metrics().stages.len(), 1);
    d.shutdown().unwrap();
    assert_eq!(
        seen.try_iter().collect::<Vec<_>>(),
        (10..20).collect::<Vec<_>>()
    );
}

// LMAX: `SequencerTest.shouldClaimSpecificSequence` / publishing before start, for each kind.
#[test]
fn start_at_and_publish_before_start_for_every_sequencer() {
    fn check<S: seqflow_pipeline::ProducerSequencer>(
        mut b: seqflow_pipeline::DisruptorBuilder<u64, S>,
    ) {
        let (tx, seen) = mpsc::channel();
        b.handle_events_with(move |e: &u64, seq, _| tx.send((seq, *e)).unwrap());
        b.start_at(50).unwrap();
        let mut poller = b.poller().unwrap();
        b.publish_before_start(|p| {
            assert_eq!(p.try_publish(|e, _| *e = 1).unwrap(), 50);
            assert!(p.has_available_capacity(3));
            assert!(!p.has_available_capacity(4));
        })
        .unwrap();
        assert!(matches!(b.start_at(0), Err(BuildError::StartAt(_))));
        let (d, mut p) = b.start().unwrap();
        assert_eq!(p.publish(|e, _| *e = 2).unwrap(), 51);
        assert_eq!(poller.wait_for(51, Some(LONG)), Ok(51));
        assert_eq!(*poller.get(50).unwrap(), 1);
        drop(poller);
        d.shutdown().unwrap();
        assert_eq!(seen.try_iter().collect::<Vec<_>>(), vec![(50, 1), (51, 2)]);
    }
    check(Disruptor::builder(4, || 0u64).single_producer().unwrap());
    for mode in [MultiProducerMode::Cas, MultiProducerMode::Lock] {
        check(Disruptor::builder(4, || 0u64).multi_producer(mode).unwrap());
    }
}

/// A start whose lap, kept in 32 bits, equals the availability buffer's "never published" mark:
/// a poller must see nothing while the first event is claimed and unwritten, even with a later
/// one published.
#[test]
fn a_multi_producer_start_on_an_aliasing_lap_hands_out_no_unpublished_slot() {
    let next = ((1i64 << 32) - 1) * 8;
    for mode in [MultiProducerMode::Cas, MultiProducerMode::Lock] {
        let mut b = Disruptor::builder(8, || 0i64).multi_producer(mode).unwrap();
        let mut poller = b.poller().unwrap();
        b.start_at(next).unwrap();
        let (d, mut p) = b.start().unwrap();
        let mut q = p.clone();
        let held = p.claim(1).unwrap();
        q.publish(|e, _| *e = 42).unwrap();
        let mut seen = vec![];
        assert_eq!(poller.poll(|e, s, _| seen.push((s, *e))).unwrap(), 0);
        assert!(seen.is_empty(), "{mode:?}: {seen:?}");
        drop(held);
        assert_eq!(poller.poll(|e, s, _| seen.push((s, *e))).unwrap(), 2);
        assert_eq!(seen, vec![(next, 0), (next + 1, 42)]);
        drop(poller);
        d.shutdown().unwrap();
    }
}

// LMAX: `EventPollerTest.shouldPollForEvents` (IDLE, GATING, PROCESSING), for every sequencer;
// a claimed event not yet published is not "published" (IDLE), where LMAX, reading the claim
// cursor, would say GATING.
#[test]
fn poller_state_tells_idle_from_gating_from_processing() {
    fn check<S: seqflow_pipeline::ProducerSequencer>(
        mut b: seqflow_pipeline::DisruptorBuilder<u64, S>,
    ) {
        use seqflow_pipeline::PollState;
        let mut first = b.poller().unwrap();
        let group = first.group();
        let mut second = b.poller_after(&[&group]).unwrap();
        let (d, mut p) = b.start().unwrap();
        assert_eq!(
            (first.state(), second.state()),
            (PollState::Idle, PollState::Idle)
        );
        let claim = p.claim(1).unwrap();
        assert_eq!(
            (first.state(), second.state()),
            (PollState::Idle, PollState::Idle)
        );
        drop(claim); // published as it stands
        assert_eq!(first.state(), PollState::Processing);
        assert_eq!(second.state(), PollState::Gating);
        assert_eq!(first.poll(|_, _, _| {}), Ok(1));
        assert_eq!(
            (first.state(), second.state()),
            (PollState::Idle, PollState::Processing)
        );
        assert_eq!(second.poll(|_, _, _| {}), Ok(1));
        assert_eq!(second.state(), PollState::Idle);
        drop((first, second));
        d.shutdown().unwrap();
    }
    check(Disruptor::builder(4, || 0u64).single_producer().unwrap());
    for mode in [MultiProducerMode::Cas, MultiProducerMode::Lock] {
        check(Disruptor::builder(4, || 0u64).multi_producer(mode).unwrap());
    }
}

/// Lock mode: a producer blocked on a full ring holds the claim lock while it waits; making
/// another producer meanwhile must not wait for that lock (here the only thread that frees room
/// is the one making the producer).
#[test]
fn a_producer_is_made_while_another_waits_for_room_in_lock_mode() {
    let mut b = Disruptor::builder(4, || 0u64)
        .wait_strategy(BlockingWait::default())
        .multi_producer(MultiProducerMode::Lock)
        .unwrap();
    let mut poller = b.poller().unwrap();
    let (d, p) = b.start().unwrap();
    let keep = p.clone();
    let mut p = p;
    let blocked = std::thread::spawn(move || {
        for i in 0..5u64 {
            p.publish(|e, _| *e = i).unwrap();
        }
    });
    while seqflow_sequencer::Sequencer::claimed(&**d.sequencer()) < 3 {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(50));
    let another = keep.clone(); // would hang here if it took the claim lock
    drop(another);
    let mut n = 0;
    while n < 5 {
        n += poller.poll(|_, _, _| {}).unwrap();
    }
    blocked.join().unwrap();
    drop((poller, keep));
    d.shutdown().unwrap();
}

/// A lossy subscriber holds its first sequence: `start_at` after one was made is refused (it
/// would read the slots below the new start, never published), and works before.
#[test]
fn start_at_after_a_lossy_subscriber_is_refused() {
    let mut b = Disruptor::builder(8, || 7777u64).single_producer().unwrap();
    let _early = b
        .handle_events_with(|_: &u64, _, _| {})
        .then_lossy_subscriber();
    assert!(matches!(
        b.start_at(100),
        Err(BuildError::StartAtAfterSubscriber)
    ));
    let mut b = Disruptor::builder(8, || 7777u64)
        .multi_producer(MultiProducerMode::Cas)
        .unwrap();
    b.start_at(100).unwrap();
    let mut sub = b
        .handle_events_with(|_: &u64, _, _| {})
        .then_lossy_subscriber();
    let (d, mut p) = b.start().unwrap();
    p.publish(|e, _| *e = 1).unwrap();
    assert_eq!(sub.next_timeout(Some(LONG)), Ok((100, 1)));
    drop(p);
    d.shutdown().unwrap();
}

struct Timeouts(mpsc::Sender<i64>);
impl EventHandler<u64> for Timeouts {
    fn on_event(&mut self, _: &u64, _: i64, _: bool) {}
    fn on_timeout(&mut self, seq: i64) {
        let _ = self.0.send(seq);
    }
}

// LMAX: `TimeoutHandlerTest.shouldCallOnTimeout` (with a phased back-off strategy, as the
// LMAX test of `PhasedBackoffWaitStrategy` with a lock fallback).
#[test]
fn on_timeout_is_called_when_a_wait_times_out_under_phased_backoff() {
    let (tx, timeouts) = mpsc::channel();
    let mut b = Disruptor::builder(8, || 0u64)
        .wait_strategy(PhasedBackoffWait::with_lock(
            Duration::from_micros(50),
            Duration::from_micros(50),
        ))
        .single_producer()
        .unwrap();
    b.handle_events_with(Timeouts(tx))
        .timeout(Duration::from_millis(1));
    let (d, mut p) = b.start().unwrap();
    assert_eq!(timeouts.recv_timeout(LONG), Ok(-1));
    p.publish(|e, _| *e = 1).unwrap();
    while timeouts.recv_timeout(LONG).unwrap() != 0 {}
    d.shutdown().unwrap();
}

// The `disruptor` crate: consumers drain and stop when the last producer is dropped.
#[test]
fn dropping_the_last_producer_drains_and_stops() {
    let sum = Arc::new(AtomicI64::new(0));
    let s = sum.clone();
    let mut b = Disruptor::builder(8, || 0i64)
        .multi_producer(MultiProducerMode::Cas)
        .unwrap();
    b.handle_events_with(move |e: &i64, _, _| {
        s.fetch_add(*e, SeqCst);
    });
    let mut p = b.start_owned().unwrap();
    let mut q = p.clone();
    let t = std::thread::spawn(move || {
        for _ in 0..50 {
            q.publish(|e, _| *e = 1).unwrap();
        }
    });
    for _ in 0..50 {
        p.publish(|e, _| *e = 1).unwrap();
    }
    t.join().unwrap(); // `q` dropped: one producer left
    drop(p);
    assert_eq!(sum.load(SeqCst), 100);
}

// The `disruptor` crate: `pin_at_core`, `thread_name`, `handle_events_and_state_with`.
#[test]
fn thread_names_pinning_and_state_made_on_the_stage_thread() {
    let (tx, names) = mpsc::channel();
    let tx2 = tx.clone();
    let mut b = Disruptor::builder(8, || 0u64).single_producer().unwrap();
    b.handle_events_and_state_with(
        move |state: &mut std::rc::Rc<String>, _: &u64, _, _| {
            tx.send(format!("{state}")).unwrap();
        },
        || std::rc::Rc::new(std::thread::current().name().unwrap().to_owned()),
    )
    .thread_name("journal")
    .pin_to_core(0)
    .then(move |_: &u64, _, _| {
        tx2.send(std::thread::current().name().unwrap().to_owned())
            .unwrap();
    })
    .named("reply");
    let (d, mut p) = b.start().unwrap();
    p.publish(|e, _| *e = 1).unwrap();
    d.shutdown().unwrap();
    let mut names: Vec<_> = names.try_iter().collect();
    names.sort();
    assert_eq!(
        names,
        vec!["journal".to_owned(), "seqflow-reply".to_owned()]
    );

    let mut b = Disruptor::builder(8, || 0u64).single_producer().unwrap();
    b.handle_events_with(|_: &u64, _, _| {})
        .pin_to_core(usize::MAX / 2);
    assert!(matches!(b.start(), Err(BuildError::Pin { .. })));
}

// The `disruptor` crate: `poll()` guards with `take(n)`, and `Polling::Shutdown`.
#[test]
fn poll_guards_take_at_most_n_and_polling_reports_shutdown() {
    let mut b = Disruptor::builder(8, || 0u64).single_producer().unwrap();
    let mut poller = b.poller().unwrap();
    let mut p = b.start_owned().unwrap();
    assert!(matches!(poller.poll_events(), Err(PollError::Empty)));
    p.publish_batch(5, |e, seq| *e = seq as u64).unwrap();
    {
        let guard = poller.poll_take(3).unwrap();
        assert_eq!(guard.remaining(), 0..=2);
        let got: Vec<u64> = guard.iter().copied().collect();
        assert_eq!(got, vec![0, 1, 2]);
    }
    assert_eq!(poller.sequence(), 2);
    {
        let guard = poller.poll_events().unwrap();
        assert_eq!(guard.next_with_seq().map(|(s, e)| (s, *e)), Some((3, 3)));
    } // 4 was not iterated: released all the same
    assert_eq!(poller.sequence(), 4);
    p.publish(|e, _| *e = 5).unwrap();
    let t = std::thread::spawn(move || drop(p));
    let mut rest = Vec::new();
    let end = loop {
        match poller.poll(|e, _, _| rest.push(*e)) {
            Ok(_) => std::thread::yield_now(),
            Err(e) => break e,
        }
    };
    t.join().unwrap();
    assert_eq!((end, rest), (PollError::Alerted, vec![5]));
}

// LMAX: `getCursor`, `hasBacklog`, `getSequenceValueFor(handler)` (by stage name here).
#[test]
fn cursor_backlog_and_a_stage_sequence_by_name() {
    let (open, gate) = mpsc::channel::<()>();
    let mut b = Disruptor::builder(8, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_with(|_: &u64, _, _| {}).named("fast");
    b.handle_events_with(move |_: &u64, _, _| gate.recv().unwrap())
        .named("slow");
    let (d, mut p) = b.start().unwrap();
    assert_eq!(d.cursor(), -1);
    assert!(!d.has_backlog());
    for v in 0..3u64 {
        p.publish(|e, _| *e = v).unwrap();
    }
    assert_eq!(d.cursor(), 2);
    assert!(d.has_backlog(), "slow holds every event");
    assert_eq!(d.sequence_of("slow"), Some(-1));
    assert_eq!(d.sequence_of("missing"), None);
    for _ in 0..3 {
        open.send(()).unwrap();
    }
    let deadline = std::time::Instant::now() + LONG;
    while d.has_backlog() {
        assert!(std::time::Instant::now() < deadline, "never drained");
        std::thread::yield_now();
    }
    assert_eq!(
        (d.sequence_of("fast"), d.sequence_of("slow")),
        (Some(2), Some(2))
    );
    d.shutdown().unwrap();
}

/// LMAX's `EventPoller.Handler` returning `false`: `poll_while` stops after that event, which is
/// released with those before it; the rest come with the next poll. A handler that panics
/// releases only what it finished, and the event it panicked on comes again.
#[test]
fn poll_while_stops_where_the_handler_says_and_a_panic_keeps_the_rest() {
    let mut b = Disruptor::builder(16, || 0u64).single_producer().unwrap();
    let mut poller = b.poller().unwrap();
    let (d, mut p) = b.start().unwrap();
    p.publish_batch(6, |e, seq| *e = seq as u64).unwrap();
    let mut seen = Vec::new();
    let handled = poller.poll_while(|e, seq, end| {
        seen.push((*e, seq, end));
        *e < 2
    });
    assert_eq!(handled, Ok(3));
    assert_eq!(seen, [(0, 0, false), (1, 1, false), (2, 2, false)]);
    assert_eq!(
        poller.sequence(),
        2,
        "released through the event it stopped on"
    );

    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        poller.poll_while(|e, _, _| {
            assert!(*e != 4, "four");
            true
        })
    }));
    assert!(panicked.is_err());
    assert_eq!(
        poller.sequence(),
        3,
        "only the event finished before the panic"
    );

    let mut rest = Vec::new();
    assert_eq!(
        poller.poll_while(|e, _, end| {
            rest.push((*e, end));
            true
        }),
        Ok(2)
    );
    assert_eq!(rest, [(4, false), (5, true)]);
    assert_eq!(poller.poll_while(|_, _, _| true), Ok(0), "nothing left");
    drop(poller);
    d.shutdown().unwrap();
}
