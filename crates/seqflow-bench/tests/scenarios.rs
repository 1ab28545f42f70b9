//! Every scenario with every implementation, tiny event counts, yielding waits: each run must
//! pass its verification (every consumer saw every value exactly once).

use seqflow_bench::latency::ping_pong;
use seqflow_bench::peers::{run, Implementation, RunConfig};
use seqflow_bench::scenario::Scenario;
use seqflow_bench::verify::{Sinks, Tally};
use seqflow_bench::wait::Wait;

const EVENTS: u64 = 10_000;

fn cfg(wait: Wait) -> RunConfig {
    RunConfig {
        events: EVENTS,
        capacity: 1024,
        batch: 100,
        wait,
        pacing: Default::default(),
        check_order: false,
    }
}

/// The cross-process section's in-process reference: seqflow's one-to-one runs with the
/// consumer counting events out of order verify (none are), and a sink that saw one out of
/// order fails the check.
#[test]
fn one_to_one_runs_that_check_the_order_verify() {
    let cfg = RunConfig {
        check_order: true,
        ..cfg(Wait::Yielding)
    };
    for name in ["1p1c-u64-single", "1p1c-u64-burst", "1p1c-b128-single"] {
        let scenario = Scenario::all()
            .into_iter()
            .find(|s| s.name() == name)
            .unwrap();
        run(Implementation::Seqflow, scenario, &cfg).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let mut sinks = Sinks::default();
    let mut sink = sinks.sink("C");
    for v in [0u64, 2, 1, 3] {
        sink.observe_in_order(&v);
    }
    drop(sink);
    let err = sinks.check(&Tally::expected(4)).unwrap_err();
    assert_eq!(err.got.map(|t| t.out_of_order), Some(2), "{err}");
}

#[test]
fn every_scenario_every_implementation_verifies() {
    let cfg = cfg(Wait::Yielding);
    let mut runs = 0;
    for scenario in Scenario::all() {
        for implementation in Implementation::ALL {
            if !implementation.supports(scenario) {
                continue;
            }
            let m = run(implementation, scenario, &cfg)
                .unwrap_or_else(|e| panic!("{} / {}: {e}", implementation.name(), scenario.name()));
            assert_eq!(m.events, scenario.total_events(EVENTS, cfg.batch));
            assert_eq!(m.threads, scenario.shape.threads());
            assert!(m.events_per_sec() > 0.0);
            runs += 1;
        }
    }
    // 24 scenarios × 4 implementations, plus the lock sequencer in the 8 multi-producer ones.
    assert_eq!(runs, 24 * 4 + 8);
}

#[test]
fn seqflow_and_disruptor_with_other_wait_strategies() {
    let picks = seqflow_bench::scenario::select(&[
        "1p1c-b128-burst".to_string(),
        "diamond-u64-single".to_string(),
        "3p1c-u64-burst".to_string(),
    ])
    .unwrap();
    for wait in [Wait::Blocking, Wait::Sleeping] {
        for &scenario in &picks.scenarios {
            for implementation in [
                Implementation::Seqflow,
                Implementation::SeqflowLock,
                Implementation::Disruptor,
            ] {
                if implementation.supports(scenario) {
                    run(implementation, scenario, &cfg(wait)).unwrap_or_else(|e| {
                        panic!(
                            "{} / {} / {wait}: {e}",
                            implementation.name(),
                            scenario.name()
                        )
                    });
                }
            }
        }
    }
}

#[test]
fn ping_pong_every_implementation() {
    for implementation in Implementation::ALL {
        let stats = ping_pong(implementation, 300, 64, Wait::Yielding)
            .unwrap_or_else(|e| panic!("{}: {e}", implementation.name()));
        assert_eq!(stats.round_trips, 300);
        assert!(stats.median_ns <= stats.p99_ns);
    }
}

#[test]
fn a_missing_or_duplicated_event_fails_verification() {
    let expected = Tally::expected(100);
    let mut sinks = Sinks::default();
    let mut lossy = sinks.sink("lossy");
    for v in (0..100u64).filter(|v| *v != 42) {
        lossy.observe(&v);
    }
    lossy.observe(&41u64); // a duplicate in place of the lost event: same count
    drop(lossy);
    let err = sinks.check(&expected).unwrap_err();
    assert_eq!(err.stage, "lossy");
    assert_eq!(err.got.map(|t| t.count), Some(100));

    // A consumer that never reported (its thread died) fails too.
    let mut sinks = Sinks::default();
    let silent = sinks.sink("silent");
    std::mem::forget(silent);
    assert!(sinks.check(&expected).is_err());
}

#[test]
fn a_torn_128_byte_event_is_counted_bad() {
    use seqflow_bench::payload::{Bytes128, Payload};
    let mut sinks = Sinks::default();
    let mut sink = sinks.sink("C");
    let mut torn = Bytes128::new(0);
    torn.0[15] = 99;
    sink.observe(&torn);
    drop(sink);
    let err = sinks.check(&Tally::expected(1)).unwrap_err();
    assert_eq!(err.got.map(|t| t.bad), Some(1));
}

#[test]
fn calibration_gives_short_runs_more_events() {
    use seqflow_bench::compare::{compare, CompareOptions};
    use std::time::Duration;
    let opts = CompareOptions {
        selection: seqflow_bench::scenario::select(&["1p1c-u64-burst".to_string()]).unwrap(),
        implementations: vec![Implementation::Seqflow],
        events: 1_000,
        rounds: 1,
        wait: Some(Wait::Yielding),
        // Far longer than 1000 events can take even on a loaded machine, so the run is always
        // scaled up (to the cap): the test does not depend on how fast the machine is.
        min_run: Duration::from_secs(60),
        ..CompareOptions::default()
    };
    let report = compare(&opts, &mut |_| {}).unwrap();
    let result = &report.throughput[0].results[0];
    assert!(
        result.events > 1_000,
        "a 1000-event run lasts far less than 60 s"
    );
    assert_eq!(result.events % 100, 0, "whole batches");
    assert!(result.events <= 100_000, "scaled at most 100 times");
}

/// Calibration runs in every round: each counted round records its events and duration, and
/// never runs fewer events than asked for.
#[test]
fn every_round_is_calibrated_and_recorded() {
    use seqflow_bench::compare::{compare, CompareOptions};
    let opts = CompareOptions {
        selection: seqflow_bench::scenario::select(&["1p1c-u64-burst".to_string()]).unwrap(),
        implementations: vec![Implementation::Seqflow, Implementation::Crossbeam],
        events: 1_000,
        rounds: 3,
        min_run: std::time::Duration::from_millis(1),
        wait: Some(Wait::Yielding),
        ..CompareOptions::default()
    };
    let report = compare(&opts, &mut |_| {}).unwrap();
    for r in &report.throughput[0].results {
        assert_eq!(r.rounds_events.len(), 3);
        assert_eq!(r.rounds_ms.len(), 3);
        assert_eq!(r.rounds_events_per_sec.len(), 3);
        assert!(r.rounds_events.iter().all(|&e| e >= 1_000));
        assert!(r.short_rounds <= 3);
        assert_eq!(r.events, *r.rounds_events.iter().max().unwrap());
    }
}
