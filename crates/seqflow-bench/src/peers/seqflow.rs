//! seqflow itself: the pipeline's builder DSL, its producers, and its pollers for ping-pong.

use super::{run_producers, Measurement, RunConfig};
use crate::payload::Payload;
use crate::scenario::{Scenario, Shape};
use crate::verify::{Sinks, Tally};
use crate::wait::Wait;
use crate::BenchError;
use seqflow_pipeline::{Disruptor, DisruptorBuilder, Pacing, Producer, ProducerSequencer, Stages};
use seqflow_sequence::{BlockingWait, BusySpinWait, SleepingWait, WaitStrategy, YieldingWait};
use seqflow_sequencer::{Claimer, MultiProducerMode};
use std::ops::Range;
use std::time::Duration;

/// Run `scenario` on a seqflow disruptor: the single-producer sequencer for one producer,
/// `mode` for several.
pub fn run<P: Payload>(
    scenario: Scenario,
    cfg: &RunConfig,
    mode: MultiProducerMode,
) -> Result<Measurement, BenchError> {
    match cfg.wait {
        Wait::BusySpin => run_with::<P, BusySpinWait>(scenario, cfg, mode),
        Wait::Yielding => run_with::<P, YieldingWait>(scenario, cfg, mode),
        Wait::Sleeping => run_with::<P, SleepingWait>(scenario, cfg, mode),
        Wait::Blocking => run_with::<P, BlockingWait>(scenario, cfg, mode),
    }
}

fn run_with<P: Payload, W: WaitStrategy + Default>(
    scenario: Scenario,
    cfg: &RunConfig,
    mode: MultiProducerMode,
) -> Result<Measurement, BenchError> {
    let total = scenario.total_events(cfg.events, cfg.batch);
    let batch = scenario.batch(cfg.batch);
    let config = Disruptor::builder(cfg.capacity, P::zero).wait_strategy(W::default());
    let mut sinks = Sinks::default();
    let elapsed = if scenario.shape.producers() == 1 {
        let mut builder = config.single_producer()?;
        wire(
            &mut builder,
            scenario.shape,
            &mut sinks,
            cfg.pacing.pacing(),
            cfg.check_order,
        );
        let (disruptor, producer) = builder.start()?;
        let start = run_producers(vec![producer], total, |mut p, values| {
            publish(&mut p, values, batch)
        })?;
        disruptor.shutdown()?;
        start.elapsed()
    } else {
        let mut builder = config.multi_producer(mode)?;
        wire(
            &mut builder,
            scenario.shape,
            &mut sinks,
            cfg.pacing.pacing(),
            cfg.check_order,
        );
        let (disruptor, producer) = builder.start()?;
        let mut producers = vec![producer];
        while producers.len() < scenario.shape.producers() {
            producers.push(producers[0].clone());
        }
        let start = run_producers(producers, total, |mut p, values| {
            publish(&mut p, values, batch)
        })?;
        disruptor.shutdown()?;
        start.elapsed()
    };
    sinks.check(&Tally::expected(total))?;
    Ok(Measurement {
        events: total,
        elapsed,
        threads: scenario.shape.threads(),
    })
}

/// Add the consumer stages of `shape`, each counting into a sink and paced with `p` (`None`:
/// the ring's default pacing, see `Pacing::ring_default`). With `in_order`, the consumer of a
/// one-to-one shape also counts events out of order (`RunConfig::check_order`).
fn wire<P: Payload, S: ProducerSequencer>(
    builder: &mut DisruptorBuilder<P, S>,
    shape: Shape,
    sinks: &mut Sinks,
    p: Option<Pacing>,
    in_order: bool,
) {
    let mut stage = |name: &str| {
        let mut sink = sinks.sink(name);
        move |event: &P, _seq: i64, _end_of_batch: bool| sink.observe(event)
    };
    match shape {
        Shape::OneToOne if in_order => {
            let mut sink = sinks.sink("C");
            let stage =
                move |event: &P, _seq: i64, _end_of_batch: bool| sink.observe_in_order(event);
            paced(p, builder.handle_events_with(stage));
        }
        Shape::OneToOne | Shape::TwoToOne | Shape::ThreeToOne => {
            paced(p, builder.handle_events_with(stage("C")));
        }
        Shape::Pipeline => {
            let (a, b, c) = (stage("A"), stage("B"), stage("C"));
            let a = paced(p, builder.handle_events_with(a));
            let b = paced(p, a.then(b));
            paced(p, b.then(c));
        }
        Shape::Multicast => {
            let (a, b, c) = (stage("A"), stage("B"), stage("C"));
            let a = paced(p, builder.handle_events_with(a));
            let b = paced(p, a.and(b));
            paced(p, b.and(c));
        }
        Shape::Diamond => {
            let (a, b, c) = (stage("A"), stage("B"), stage("C"));
            let a = paced(p, builder.handle_events_with(a));
            let ab = paced(p, a.and(b)).group();
            paced(p, builder.after(&[&ab]).handle_events_with(c));
        }
    }
}

/// `stages` paced with `p`; given no pacing, they keep the ring's.
fn paced<'a, P: Payload, S: ProducerSequencer>(
    p: Option<Pacing>,
    stages: Stages<'a, P, S>,
) -> Stages<'a, P, S> {
    match p {
        Some(p) => stages.pacing(p),
        None => stages,
    }
}

/// Publish `values` in claims of `batch` (`values` is a whole number of batches).
fn publish<P: Payload, C: Claimer>(
    producer: &mut Producer<P, C>,
    values: Range<u64>,
    batch: usize,
) -> Result<(), BenchError> {
    if batch == 1 {
        for v in values {
            producer.publish(|e, _| e.set(v))?;
        }
    } else {
        // Written as the `disruptor` peer writes its batches (the value is the batch's first
        // plus the event's index in it), so that both compile the event writes alike.
        let mut v = values.start;
        while v < values.end {
            let mut k = 0;
            producer.publish_batch(batch, |e, _| {
                e.set(v + k);
                k += 1;
            })?;
            v += batch as u64;
        }
    }
    Ok(())
}

/// Ping-pong: this thread publishes `i` on one ring, a second thread polls it and publishes it
/// back on another; returns each round trip's duration.
pub fn ping_pong(
    round_trips: u64,
    capacity: usize,
    wait: Wait,
) -> Result<Vec<Duration>, BenchError> {
    match wait {
        Wait::BusySpin => ping_pong_with::<BusySpinWait>(round_trips, capacity),
        Wait::Yielding => ping_pong_with::<YieldingWait>(round_trips, capacity),
        Wait::Sleeping => ping_pong_with::<SleepingWait>(round_trips, capacity),
        Wait::Blocking => ping_pong_with::<BlockingWait>(round_trips, capacity),
    }
}

fn ping_pong_with<W: WaitStrategy + Default>(
    round_trips: u64,
    capacity: usize,
) -> Result<Vec<Duration>, BenchError> {
    let mut ping = Disruptor::builder(capacity, || 0u64)
        .wait_strategy(W::default())
        .single_producer()?;
    let mut ping_poller = ping.poller()?;
    let (ping_disruptor, mut ping_producer) = ping.start()?;
    let mut pong = Disruptor::builder(capacity, || 0u64)
        .wait_strategy(W::default())
        .single_producer()?;
    let mut pong_poller = pong.poller()?;
    let (pong_disruptor, mut pong_producer) = pong.start()?;

    let samples = std::thread::scope(|s| -> Result<Vec<Duration>, BenchError> {
        let echo = s.spawn(move || -> Result<(), BenchError> {
            for i in 0..round_trips as i64 {
                ping_poller.wait_for(i, None)?;
                let v = *ping_poller.get(i)?;
                ping_poller.update_sequence(i)?;
                pong_producer.publish(|e, _| *e = v)?;
            }
            Ok(())
        });
        let mut samples = Vec::with_capacity(round_trips as usize);
        for i in 0..round_trips as i64 {
            let start = std::time::Instant::now();
            ping_producer.publish(|e, _| *e = i as u64)?;
            pong_poller.wait_for(i, None)?;
            let v = *pong_poller.get(i)?;
            pong_poller.update_sequence(i)?;
            samples.push(start.elapsed());
            if v != i as u64 {
                return Err(BenchError::PingPong(format!("sent {i}, got {v} back")));
            }
        }
        echo.join()
            .map_err(|_| BenchError::Panicked("ping-pong echo".into()))??;
        Ok(samples)
    })?;
    drop(pong_poller);
    drop(ping_producer);
    ping_disruptor.shutdown()?;
    pong_disruptor.shutdown()?;
    Ok(samples)
}
