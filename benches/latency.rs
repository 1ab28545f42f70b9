//! Ping-pong round trip of seqflow against std mpsc, crossbeam-channel and the `disruptor`
//! crate (the code of `seqflow compare --scenario latency`): two threads, two rings or
//! channels; busy-spin for the rings (2 threads on 2 CPUs), blocking for the channels.
//!
//! One criterion iteration is one round trip; each sample runs a fresh pair of rings.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use seqflow_bench::latency::{round_trip_times, THREADS};
use seqflow_bench::peers::Implementation;
use seqflow_bench::wait::Wait;
use std::time::Duration;

fn latency(c: &mut Criterion) {
    // `cargo test --benches` runs each benchmark once: no busy-spinning there.
    let wait = if std::env::args().any(|a| a == "--bench") {
        Wait::auto(THREADS)
    } else {
        Wait::Yielding
    };
    let mut group = c.benchmark_group(format!("ping-pong/{wait}-{THREADS}thr"));
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for implementation in Implementation::ALL {
        if implementation == Implementation::SeqflowLock {
            continue;
        }
        group.bench_function(BenchmarkId::from_parameter(implementation.name()), |b| {
            b.iter_custom(|iters| {
                round_trip_times(implementation, iters, 64, wait)
                    .unwrap_or_else(|e| panic!("{}: {e}", implementation.name()))
                    .iter()
                    .sum::<Duration>()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, latency);
criterion_main!(benches);
