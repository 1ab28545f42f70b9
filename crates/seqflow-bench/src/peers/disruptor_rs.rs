//! The `disruptor` crate (4.x), the closest Rust peer: its builder for every shape, and its
//! event poller for ping-pong.
//!
//! Its consumers take a wait strategy (busy-spin, busy-spin with a spin hint, sleep); it has no
//! yielding or blocking one, so [`Yield`] is added here, and `blocking` falls back to it. Its
//! producers busy-spin while the ring is full; where the scenario does not busy-spin, the
//! producers here use `try_publish` and wait between tries as seqflow's producers do (spin 100
//! tries then yield, or sleep), so that they do not starve the consumers on a machine with fewer
//! cores than threads.

use super::{run_producers, Measurement, RunConfig};
use crate::payload::Payload;
use crate::scenario::{Scenario, Shape};
use crate::verify::{Sink, Sinks, Tally};
use crate::wait::Wait;
use crate::BenchError;
use disruptor::wait_strategies::WaitStrategy;
use disruptor::{
    build_multi_producer, build_single_producer, BusySpinWithSpinLoopHint, Polling, Producer,
    Sequence, Sleep,
};
use std::ops::Range;
use std::time::{Duration, Instant};

/// A consumer wait strategy for the `disruptor` crate that behaves as seqflow's `YieldingWait`:
/// spin [`SPIN_TRIES`] polls for a sequence, then yield the CPU between polls. The crate calls
/// `wait_for` once per unsuccessful poll and its strategies are stateless `Copy` values, so the
/// poll count lives in a thread-local, reset whenever a new sequence is waited for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Yield;

/// Polls spent spinning before yielding (seqflow's `YieldingWait::default()` spins 100).
pub const SPIN_TRIES: u32 = 100;

thread_local! {
    /// The sequence this thread waits for, and how many polls it has spent on it.
    static POLLS: std::cell::Cell<(Sequence, u32)> = const { std::cell::Cell::new((-1, 0)) };
}

impl WaitStrategy for Yield {
    #[inline]
    fn wait_for(&self, sequence: Sequence) {
        let (waiting_for, polls) = POLLS.get();
        let polls = if waiting_for == sequence { polls } else { 0 };
        if polls < SPIN_TRIES {
            POLLS.set((sequence, polls + 1));
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// How long [`Sleep`] naps, as seqflow's `SleepingWait` does after its back-off.
const NAP: Duration = Duration::from_micros(50);

/// The strategy this peer uses for `wait`.
///
/// ```
/// use seqflow_bench::peers::disruptor_rs::wait_name;
/// use seqflow_bench::wait::Wait;
/// assert_eq!(wait_name(Wait::Blocking), "yielding (no blocking strategy)");
/// ```
pub fn wait_name(wait: Wait) -> &'static str {
    match wait {
        Wait::BusySpin => "busy-spin",
        Wait::Yielding => "yielding",
        Wait::Sleeping => "sleeping",
        Wait::Blocking => "yielding (no blocking strategy)",
    }
}

/// Run `scenario` on the `disruptor` crate.
pub fn run<P: Payload>(scenario: Scenario, cfg: &RunConfig) -> Result<Measurement, BenchError> {
    match cfg.wait {
        Wait::BusySpin => run_with::<P, _>(scenario, cfg, BusySpinWithSpinLoopHint),
        Wait::Sleeping => run_with::<P, _>(scenario, cfg, Sleep::new(NAP)),
        Wait::Yielding | Wait::Blocking => run_with::<P, _>(scenario, cfg, Yield),
    }
}

fn run_with<P: Payload, W: WaitStrategy + 'static>(
    scenario: Scenario,
    cfg: &RunConfig,
    wait: W,
) -> Result<Measurement, BenchError> {
    let total = scenario.total_events(cfg.events, cfg.batch);
    let full = FullPolicy::of(cfg.wait);
    let publisher = Publisher {
        batch: scenario.batch(cfg.batch),
        full,
    };
    let mut sinks = Sinks::default();
    let stage = |sinks: &mut Sinks, name: &str| {
        let mut sink: Sink = sinks.sink(name);
        move |event: &P, _seq: Sequence, _end_of_batch: bool| sink.observe(event)
    };
    let cap = cfg.capacity;
    // The producer handle is dropped at the end of its producer's work: that waits for the
    // consumers to process every published event and joins their threads.
    let start = match scenario.shape {
        Shape::OneToOne => {
            let p = build_single_producer(cap, P::zero, wait)
                .handle_events_with(stage(&mut sinks, "C"))
                .build();
            run_producers(vec![p], total, |p, v| publisher.run(p, v))?
        }
        Shape::Pipeline => {
            let p = build_single_producer(cap, P::zero, wait)
                .handle_events_with(stage(&mut sinks, "A"))
                .and_then()
                .handle_events_with(stage(&mut sinks, "B"))
                .and_then()
                .handle_events_with(stage(&mut sinks, "C"))
                .build();
            run_producers(vec![p], total, |p, v| publisher.run(p, v))?
        }
        Shape::Multicast => {
            let p = build_single_producer(cap, P::zero, wait)
                .handle_events_with(stage(&mut sinks, "A"))
                .handle_events_with(stage(&mut sinks, "B"))
                .handle_events_with(stage(&mut sinks, "C"))
                .build();
            run_producers(vec![p], total, |p, v| publisher.run(p, v))?
        }
        Shape::Diamond => {
            let p = build_single_producer(cap, P::zero, wait)
                .handle_events_with(stage(&mut sinks, "A"))
                .handle_events_with(stage(&mut sinks, "B"))
                .and_then()
                .handle_events_with(stage(&mut sinks, "C"))
                .build();
            run_producers(vec![p], total, |p, v| publisher.run(p, v))?
        }
        Shape::TwoToOne | Shape::ThreeToOne => {
            let p = build_multi_producer(cap, P::zero, wait)
                .handle_events_with(stage(&mut sinks, "C"))
                .build();
            let mut producers = vec![p];
            while producers.len() < scenario.shape.producers() {
                producers.push(producers[0].clone());
            }
            run_producers(producers, total, |p, v| publisher.run(p, v))?
        }
    };
    let elapsed = start.elapsed();
    sinks.check(&Tally::expected(total))?;
    Ok(Measurement {
        events: total,
        elapsed,
        threads: scenario.shape.threads(),
    })
}

/// What a producer does while the ring is full.
#[derive(Debug, Clone, Copy)]
enum FullPolicy {
    /// The crate's own `publish`/`batch_publish`: spin.
    Spin,
    /// `try_publish` and yield between tries.
    Yield,
    /// `try_publish` and nap between tries.
    Nap,
}

impl FullPolicy {
    fn of(wait: Wait) -> FullPolicy {
        match wait {
            Wait::BusySpin => FullPolicy::Spin,
            Wait::Yielding | Wait::Blocking => FullPolicy::Yield,
            Wait::Sleeping => FullPolicy::Nap,
        }
    }

    /// Wait before the next try; `tries` counts the failed tries so far (yielding spins
    /// [`SPIN_TRIES`] tries first, as seqflow's `YieldingWait` does).
    #[inline]
    fn pause(self, tries: &mut u32) {
        *tries += 1;
        match self {
            FullPolicy::Spin => std::hint::spin_loop(),
            FullPolicy::Yield if *tries <= SPIN_TRIES => std::hint::spin_loop(),
            FullPolicy::Yield => std::thread::yield_now(),
            FullPolicy::Nap => std::thread::sleep(NAP),
        }
    }
}

struct Publisher {
    batch: usize,
    full: FullPolicy,
}

impl Publisher {
    /// Publish `values` through `producer`, then drop it (which waits for the consumers).
    fn run<P: Payload, D: Producer<P>>(
        &self,
        mut producer: D,
        values: Range<u64>,
    ) -> Result<(), BenchError> {
        let spin = matches!(self.full, FullPolicy::Spin);
        if self.batch == 1 {
            for v in values {
                if spin {
                    producer.publish(|e| e.set(v));
                } else {
                    let mut tries = 0;
                    while producer.try_publish(|e| e.set(v)).is_err() {
                        self.full.pause(&mut tries);
                    }
                }
            }
        } else {
            let n = self.batch;
            let mut v = values.start;
            while v < values.end {
                // The batch iterator type is not exported, so the closures are written inline.
                if spin {
                    producer.batch_publish(n, |iter| {
                        for (k, e) in iter.enumerate() {
                            e.set(v + k as u64);
                        }
                    });
                } else {
                    let mut tries = 0;
                    while producer
                        .try_batch_publish(n, |iter| {
                            for (k, e) in iter.enumerate() {
                                e.set(v + k as u64);
                            }
                        })
                        .is_err()
                    {
                        self.full.pause(&mut tries);
                    }
                }
                v += n as u64;
            }
        }
        drop(producer);
        Ok(())
    }
}

/// Ping-pong over two `disruptor` rings with event pollers; returns each round trip.
pub fn ping_pong(
    round_trips: u64,
    capacity: usize,
    wait: Wait,
) -> Result<Vec<Duration>, BenchError> {
    let full = FullPolicy::of(wait);
    let (mut ping_poller, ping) =
        build_single_producer(capacity, || 0u64, BusySpinWithSpinLoopHint).new_event_poller();
    let mut ping_producer = ping.build();
    let (mut pong_poller, pong) =
        build_single_producer(capacity, || 0u64, BusySpinWithSpinLoopHint).new_event_poller();
    let mut pong_producer = pong.build();

    // Take the one event in flight; `None` once the ring is shut down.
    fn take(
        poller: &mut disruptor::EventPoller<u64, disruptor::SingleProducerBarrier>,
        full: FullPolicy,
    ) -> Option<u64> {
        let mut tries = 0;
        loop {
            match poller.poll() {
                Ok(mut events) => return (&mut events).last().copied(),
                Err(Polling::NoEvents) => full.pause(&mut tries),
                Err(Polling::Shutdown) => return None,
            }
        }
    }

    std::thread::scope(|s| {
        let echo = s.spawn(move || {
            while let Some(v) = take(&mut ping_poller, full) {
                pong_producer.publish(|e| *e = v);
            }
            // Dropping `pong_producer` shuts the pong ring down.
        });
        let mut samples = Vec::with_capacity(round_trips as usize);
        let mut result = Ok(());
        for i in 0..round_trips {
            let start = Instant::now();
            ping_producer.publish(|e| *e = i);
            let back = take(&mut pong_poller, full);
            samples.push(start.elapsed());
            if back != Some(i) {
                result = Err(BenchError::PingPong(format!("sent {i}, got {back:?} back")));
                break;
            }
        }
        drop(ping_producer);
        echo.join()
            .map_err(|_| BenchError::Panicked("ping-pong echo".into()))?;
        result.map(|()| samples)
    })
}
