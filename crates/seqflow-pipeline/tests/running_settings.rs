//! Stages and worker pools added to a running disruptor with a name and settings
//! (`StageSettings`): each setting takes effect, names are checked, and the defaults stay those
//! of the disruptor.

mod counting_wait;

use counting_wait::Counting;
use seqflow_pipeline::{
    fallible, BuildError, Disruptor, EventError, ExceptionAction, ExceptionHandler, HandlerFailure,
    StageSettings,
};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Records the sequences of failed events and goes on.
#[derive(Clone, Default)]
struct Skip(Arc<Mutex<Vec<i64>>>);

impl ExceptionHandler<u64> for Skip {
    fn handle_event_exception(&self, _: &HandlerFailure, seq: i64, _: &u64) -> ExceptionAction {
        self.0.lock().unwrap().push(seq);
        ExceptionAction::Continue
    }
}

#[test]
fn a_named_stage_uses_its_own_exception_handler_wait_and_batch_limit() {
    let (mut d, mut p) = Disruptor::builder(64, || 0u64)
        .single_producer()
        .unwrap()
        .start()
        .unwrap();
    let skipped = Skip::default();
    let wait = Counting::default();
    let batches = Arc::new(Mutex::new(Vec::new()));
    let handled = Arc::new(AtomicU64::new(0));
    let (b, h) = (batches.clone(), handled.clone());
    let mut run = 0usize;
    let settings = StageSettings::new()
        .named("audit")
        .exception_handler(skipped.clone())
        .wait_strategy(wait.clone())
        .max_batch_size(4)
        .thread_name("audit-thread");
    let name = d
        .handle_events_with_settings(
            fallible(move |e: &u64, _, end_of_batch| {
                assert_eq!(std::thread::current().name(), Some("audit-thread"));
                h.fetch_add(1, Relaxed);
                run += 1;
                if end_of_batch {
                    b.lock().unwrap().push(run);
                    run = 0;
                }
                if *e % 10 == 3 {
                    // A failure ends its batch: the next event starts a new one.
                    run = 0;
                    return Err(EventError::msg("unlucky"));
                }
                Ok(())
            }),
            settings,
        )
        .unwrap();
    assert_eq!(name, "audit");
    assert!(d.metrics().stages.iter().any(|s| s.name == "audit"));
    p.publish_batch(40, |e, seq| *e = seq as u64).unwrap();
    d.shutdown().unwrap();
    assert_eq!(
        handled.load(Relaxed),
        40,
        "the failures did not stop the stage"
    );
    assert_eq!(*skipped.0.lock().unwrap(), vec![3, 13, 23, 33]);
    assert!(
        batches.lock().unwrap().iter().all(|&n| n <= 4),
        "{batches:?}"
    );
    assert!(
        wait.waits.load(Relaxed) > 0,
        "the stage waited with its own strategy"
    );
}

#[test]
fn a_name_in_use_is_refused_and_pools_are_numbered_after_it() {
    let (mut d, mut p) = Disruptor::builder(16, || 0u64)
        .single_producer()
        .unwrap()
        .start()
        .unwrap();
    d.handle_events_with_settings(|_: &u64, _, _| {}, StageSettings::new().named("a"))
        .unwrap();
    let again = d.handle_events_with_settings(|_: &u64, _, _| {}, StageSettings::new().named("a"));
    assert!(
        matches!(&again, Err(BuildError::StageNameTaken { name }) if name == "a"),
        "{again:?}"
    );
    let counts: Vec<_> = (0..3).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let workers: Vec<_> = counts
        .iter()
        .map(|c| {
            let c = c.clone();
            move |_: &u64, _: i64, _: bool| {
                c.fetch_add(1, Relaxed);
            }
        })
        .collect();
    let names = d
        .handle_events_with_worker_pool_settings(workers, StageSettings::new().named("resize"))
        .unwrap();
    assert_eq!(names, ["resize-0", "resize-1", "resize-2"]);
    // A pool whose worker names would collide is refused whole, nothing started.
    let stages_before = d.metrics().stages.len();
    let clash = d.handle_events_with_worker_pool_settings(
        vec![|_: &u64, _: i64, _: bool| {}; 2],
        StageSettings::new().named("resize"),
    );
    assert!(
        matches!(&clash, Err(BuildError::StageNameTaken { name }) if name == "resize-0"),
        "{clash:?}"
    );
    assert_eq!(d.metrics().stages.len(), stages_before);
    // Unnamed stages keep their numbering.
    let unnamed = d
        .handle_events_with_settings(|_: &u64, _, _| {}, StageSettings::new())
        .unwrap();
    assert!(unnamed.starts_with("stage-"), "{unnamed}");
    for i in 0..100 {
        p.publish(|e, _| *e = i).unwrap();
    }
    d.remove_stage("resize-1").unwrap();
    for i in 0..100 {
        p.publish(|e, _| *e = i).unwrap();
    }
    d.shutdown().unwrap();
    let total: u64 = counts.iter().map(|c| c.load(Relaxed)).sum();
    assert_eq!(total, 200, "each event once across the pool");
}

#[test]
fn an_empty_or_control_character_name_is_refused_before_anything_starts() {
    let (mut d, mut p) = Disruptor::builder(16, || 0u64)
        .single_producer()
        .unwrap()
        .start()
        .unwrap();
    for bad in ["", "tab\there", "bell\u{7}", "load\u{202e}txt"] {
        let stage =
            d.handle_events_with_settings(|_: &u64, _, _| {}, StageSettings::new().named(bad));
        assert!(
            matches!(&stage, Err(BuildError::InvalidStageName { name, .. }) if name == bad),
            "{stage:?}"
        );
        // A pool's own name is checked, not only the workers' `name-N`.
        let pool = d.handle_events_with_worker_pool_settings(
            vec![|_: &u64, _: i64, _: bool| {}; 2],
            StageSettings::new().named(bad),
        );
        assert!(
            matches!(&pool, Err(BuildError::InvalidStageName { name, .. }) if name == bad),
            "{pool:?}"
        );
    }
    let message = d
        .handle_events_with_settings(|_: &u64, _, _| {}, StageSettings::new().named(""))
        .unwrap_err()
        .to_string();
    assert!(message.contains("empty"), "{message}");
    assert!(d.metrics().stages.is_empty(), "nothing was started");
    // The disruptor goes on as before.
    let ok = d
        .handle_events_with_settings(|_: &u64, _, _| {}, StageSettings::new().named("fine"))
        .unwrap();
    assert_eq!(ok, "fine");
    p.publish(|e, _| *e = 1).unwrap();
    d.shutdown().unwrap();
}

#[test]
fn a_builder_stage_with_an_empty_name_is_refused_at_start() {
    let mut b = Disruptor::builder(16, || 0u64).single_producer().unwrap();
    b.handle_events_with(|_: &u64, _, _| {}).named("");
    let started = b.start();
    assert!(
        matches!(&started, Err(BuildError::InvalidStageName { name, reason: "empty" }) if name.is_empty()),
        "{:?}",
        started.as_ref().err()
    );
}

#[test]
fn a_pool_with_settings_gives_each_worker_the_exception_handler_and_timeout() {
    let (mut d, mut p) = Disruptor::builder(16, || 0u64)
        .single_producer()
        .unwrap()
        .start()
        .unwrap();
    let skipped = Skip::default();
    let timeouts = Arc::new(AtomicU64::new(0));
    struct Worker(Arc<AtomicU64>);
    impl seqflow_pipeline::EventHandler<u64> for Worker {
        fn on_event(&mut self, _: &u64, _: i64, _: bool) {}
        fn try_on_event(&mut self, e: &u64, _: i64, _: bool) -> Result<(), EventError> {
            if *e % 2 == 1 {
                return Err(EventError::msg("odd"));
            }
            Ok(())
        }
        fn on_timeout(&mut self, _: i64) {
            self.0.fetch_add(1, Relaxed);
        }
    }
    let settings = StageSettings::new()
        .exception_handler(skipped.clone())
        .timeout(Duration::from_millis(5));
    let names = d
        .handle_events_with_worker_pool_settings(
            vec![Worker(timeouts.clone()), Worker(timeouts.clone())],
            settings,
        )
        .unwrap();
    assert!(names[0].starts_with("pool-"), "{names:?}");
    for i in 0..20 {
        p.publish(|e, _| *e = i).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while timeouts.load(Relaxed) < 2 {
        assert!(Instant::now() < deadline, "no on_timeout call");
        std::thread::sleep(Duration::from_millis(1));
    }
    d.shutdown().unwrap();
    let mut failed = skipped.0.lock().unwrap().clone();
    failed.sort_unstable();
    assert_eq!(failed, (0..20).filter(|s| s % 2 == 1).collect::<Vec<i64>>());
}

/// A stage added after start behind a running stage (`StageSettings::after`): it sees every
/// event, in order, only once the stage it follows has processed it; that stage stops gating
/// the producers (the new one gates in its place) and cannot be removed while followed. After
/// the follower is removed it gates again and can go.
#[test]
fn a_stage_added_after_a_running_stage_follows_it() {
    let mut b = Disruptor::builder(8, || 0u64).single_producer().unwrap();
    let validated = Arc::new(AtomicU64::new(0));
    let v = Arc::clone(&validated);
    b.handle_events_with(move |e: &u64, _, _| {
        // Slow enough that the follower would overtake it if it did not wait for it.
        std::thread::yield_now();
        v.store(*e + 1, Relaxed);
    })
    .named("validate");
    let (mut d, mut p) = b.start().unwrap();
    p.publish(|e, _| *e = 0).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let overtaken = Arc::new(AtomicU64::new(0));
    let (s, o, v) = (
        Arc::clone(&seen),
        Arc::clone(&overtaken),
        Arc::clone(&validated),
    );
    let settings = StageSettings::new().named("journal").after(&["validate"]);
    let follower = move |e: &u64, _: i64, _: bool| {
        if v.load(Relaxed) <= *e {
            o.fetch_add(1, Relaxed);
        }
        s.lock().unwrap().push(*e);
    };
    assert_eq!(
        d.handle_events_with_settings(follower, settings).unwrap(),
        "journal"
    );
    let gating: Vec<(String, bool)> = d
        .metrics()
        .stages
        .iter()
        .map(|s| (s.name.clone(), s.gating))
        .collect();
    assert_eq!(
        gating,
        [("validate".to_owned(), false), ("journal".to_owned(), true)]
    );
    for i in 1..200 {
        p.publish(|e, _| *e = i).unwrap();
    }
    assert!(matches!(
        d.remove_stage("validate"),
        Err(seqflow_pipeline::RemoveStageError::HasDependents { .. })
    ));
    // Drain the follower, then take it out: the stage it followed gates again.
    while seen.lock().unwrap().last() != Some(&199) {
        std::thread::yield_now();
    }
    d.remove_stage("journal").unwrap();
    assert!(d.metrics().stages[0].gating, "validate gates again");
    for i in 200..220 {
        p.publish(|e, _| *e = i).unwrap();
    }
    d.remove_stage("validate").unwrap();
    d.shutdown().unwrap();
    let seen = seen.lock().unwrap();
    // It started where `validate` was when it joined: 0 or 1 (the first event may or may not
    // have been validated by then), then every later event in order.
    let first = seen[0];
    assert!(first <= 1, "{first}");
    assert_eq!(*seen, (first..200).collect::<Vec<_>>());
    assert_eq!(
        overtaken.load(Relaxed),
        0,
        "saw an event before validate finished it"
    );
}

/// `after` names running stages: an unknown name is a typed error and adds nothing; a worker
/// pool added after a pool's every worker sees each event once, after the first pool did.
#[test]
fn after_checks_names_and_follows_every_worker_of_a_pool() {
    let (mut d, mut p) = Disruptor::builder(16, || 0u64)
        .single_producer()
        .unwrap()
        .start()
        .unwrap();
    let err = d
        .handle_events_with_settings(|_: &u64, _, _| {}, StageSettings::new().after(&["nobody"]))
        .unwrap_err();
    assert!(
        matches!(err, BuildError::UnknownStage { ref name } if name == "nobody"),
        "{err}"
    );
    assert!(d.metrics().stages.is_empty());
    let first = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let f = Arc::clone(&first);
            move |e: &u64, _: i64, _: bool| f.lock().unwrap().push(*e)
        })
        .collect();
    let names = d
        .handle_events_with_worker_pool_settings(workers, StageSettings::new().named("resize"))
        .unwrap();
    let second = Arc::new(Mutex::new(Vec::new()));
    let (f, s) = (Arc::clone(&first), Arc::clone(&second));
    let after: Vec<&str> = names.iter().map(String::as_str).collect();
    d.handle_events_with_settings(
        move |e: &u64, _: i64, _: bool| {
            assert!(f.lock().unwrap().contains(e), "{e} before the pool had it");
            s.lock().unwrap().push(*e);
        },
        StageSettings::new().named("store").after(&after),
    )
    .unwrap();
    for i in 0..100 {
        p.publish(|e, _| *e = i).unwrap();
    }
    d.shutdown().unwrap();
    let mut first = first.lock().unwrap().clone();
    first.sort_unstable();
    assert_eq!(
        first,
        (0..100).collect::<Vec<_>>(),
        "each event once in the pool"
    );
    assert_eq!(*second.lock().unwrap(), (0..100).collect::<Vec<_>>());
}
