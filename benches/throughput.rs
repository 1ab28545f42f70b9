//! Throughput of seqflow against std mpsc, crossbeam-channel and the `disruptor` crate, in the
//! scenarios of `seqflow compare` (the same code: `seqflow_bench::peers`).
//!
//! Each benchmark is one scenario × one implementation; one iteration publishes `EVENTS` events
//! and waits until every consumer has received (and verified) them. Only that part is timed
//! (`iter_custom`), not building the rings or spawning the consumer threads. The benchmark id
//! names the wait strategy and the thread count: busy-spin only where the scenario has no more
//! threads than CPUs, yielding otherwise.
//!
//! `cargo bench --bench throughput -- 1p1c-u64` runs a subset (criterion's filter).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use seqflow_bench::peers::{run, Implementation, RunConfig};
use seqflow_bench::scenario::Scenario;
use seqflow_bench::wait::Wait;
use std::time::Duration;

/// Events per iteration.
const EVENTS: u64 = 100_000;

/// Whether criterion is measuring (`cargo bench`), as opposed to checking that each benchmark
/// runs once (`cargo test --benches`), where nothing may busy-spin and runs stay small.
fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn throughput(c: &mut Criterion) {
    let measuring = benchmarking();
    for scenario in Scenario::all() {
        let threads = scenario.shape.threads();
        let wait = if measuring {
            Wait::auto(threads)
        } else {
            Wait::Yielding
        };
        let cfg = RunConfig {
            events: if measuring { EVENTS } else { 2_000 },
            capacity: 4096,
            batch: 100,
            wait,
            pacing: Default::default(),
            check_order: false,
        };
        let mut group = c.benchmark_group(format!("{}/{}-{}thr", scenario.name(), wait, threads));
        group
            .throughput(Throughput::Elements(
                scenario.total_events(EVENTS, cfg.batch),
            ))
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
        for implementation in Implementation::ALL {
            if !implementation.supports(scenario) {
                continue;
            }
            group.bench_function(BenchmarkId::from_parameter(implementation.name()), |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            run(implementation, scenario, &cfg)
                                .unwrap_or_else(|e| panic!("{}: {e}", implementation.name()))
                                .elapsed
                        })
                        .sum()
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, throughput);
criterion_main!(benches);
