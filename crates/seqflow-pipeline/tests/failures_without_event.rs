//! Failures a stage cannot show an event for (a handler that fails after releasing its event,
//! a panic in `on_timeout`): the stage's exception handler decides, as for any failure, so
//! `PanicPolicy::Halt` halts and `shutdown` reports it.

use seqflow_pipeline::{
    BatchEvent, Disruptor, EventError, EventHandler, PanicPolicy, ShutdownError,
};
use seqflow_sequence::BlockingWait;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

/// Releases each event, then fails on event 3 (with an error or a panic); counts the events
/// it saw.
#[derive(Clone)]
struct ReleaseThenFail {
    panics: bool,
    seen: Arc<AtomicU64>,
}

impl EventHandler<u64> for ReleaseThenFail {
    fn on_event(&mut self, _: &u64, _: i64, _: bool) {}

    fn on_event_releasing(&mut self, event: BatchEvent<'_, u64>) -> Result<(), EventError> {
        let seq = event.seq();
        event.release()?;
        self.seen.fetch_add(1, SeqCst);
        if seq == 3 {
            if self.panics {
                panic!("boom");
            }
            return Err(EventError::msg("boom"));
        }
        Ok(())
    }
}

fn run(policy: PanicPolicy, panics: bool, pool: bool) -> (Result<(), ShutdownError>, u64, u64) {
    let seen = Arc::new(AtomicU64::new(0));
    let after = Arc::new(AtomicU64::new(0));
    let handler = ReleaseThenFail {
        panics,
        seen: seen.clone(),
    };
    let mut b = Disruptor::builder(8, || 0u64)
        .wait_strategy(BlockingWait::default())
        .panic_policy(policy)
        .single_producer()
        .unwrap();
    let counted = after.clone();
    let count = move |_: &u64, _: i64, _: bool| {
        counted.fetch_add(1, SeqCst);
    };
    if pool {
        b.handle_events_with_worker_pool(vec![handler.clone(), handler])
            .then(count);
    } else {
        b.handle_events_with(handler).then(count);
    }
    let (d, mut p) = b.start().unwrap();
    for i in 0..10 {
        // Refused once the halt has stopped the stages and the ring filled up.
        if p.publish_timeout(Duration::from_secs(5), |e, _| *e = i)
            .is_err()
        {
            break;
        }
    }
    let result = d.shutdown_timeout(Duration::from_secs(10));
    (result, seen.load(SeqCst), after.load(SeqCst))
}

#[test]
fn a_failure_after_the_event_was_released_halts_under_halt() {
    for pool in [false, true] {
        for panics in [false, true] {
            let (result, _, _) = run(PanicPolicy::Halt, panics, pool);
            match result {
                Err(ShutdownError::HandlerPanicked { seq, .. }) if panics => assert_eq!(seq, 3),
                Err(ShutdownError::HandlerFailed { seq, .. }) if !panics => assert_eq!(seq, 3),
                other => panic!("pool {pool}, panics {panics}: {other:?}"),
            }
        }
    }
}

#[test]
fn a_failure_after_the_event_was_released_is_skipped_under_log_and_continue() {
    for pool in [false, true] {
        for panics in [false, true] {
            let (result, seen, after) = run(PanicPolicy::LogAndContinue, panics, pool);
            assert!(result.is_ok(), "pool {pool}, panics {panics}: {result:?}");
            assert_eq!((seen, after), (10, 10), "pool {pool}, panics {panics}");
        }
    }
}

/// `on_timeout` panics (in a stage, in pool workers): under `Halt` the stage stops and
/// `shutdown` reports it.
#[test]
fn a_panic_in_on_timeout_halts_under_halt() {
    struct T;
    impl EventHandler<u64> for T {
        fn on_event(&mut self, _: &u64, _: i64, _: bool) {}
        fn on_timeout(&mut self, _: i64) {
            panic!("timeout hook");
        }
    }
    let cases = [
        (PanicPolicy::Halt, true),
        (PanicPolicy::LogAndContinue, false),
    ];
    for ((policy, halts), pool) in cases.into_iter().flat_map(|c| [(c, false), (c, true)]) {
        let mut b = Disruptor::builder(8, || 0u64)
            .wait_strategy(BlockingWait::default())
            .panic_policy(policy)
            .single_producer()
            .unwrap();
        if pool {
            b.handle_events_with_worker_pool(vec![T, T])
                .timeout(Duration::from_millis(5));
        } else {
            b.handle_events_with(T).timeout(Duration::from_millis(5));
        }
        let (d, _p) = b.start().unwrap();
        // Until the stage (or a worker) has timed out and its hook has panicked at least once.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while d.metrics().panics == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(d.metrics().panics > 0, "pool {pool}: on_timeout never ran");
        let result = d.shutdown();
        if halts {
            assert!(
                matches!(result, Err(ShutdownError::HandlerPanicked { seq: -1, .. })),
                "pool {pool}: {result:?}"
            );
        } else {
            assert!(result.is_ok(), "pool {pool}: {result:?}");
        }
    }
}
