//! The implementations compared: seqflow (with its single, CAS and lock sequencers) and its
//! peers, each in its own module, all behind one [`run`] entry point.
//!
//! Every run publishes the values `0..total` (split evenly between the producers), and every
//! consumer checks what it received with a [`Sink`](crate::verify::Sink): a run whose consumers
//! did not each see every value exactly once fails with [`BenchError::Verify`].

pub mod channel;
pub mod crossbeam;
pub mod disruptor_rs;
pub mod seqflow;
pub mod std_mpsc;

use crate::payload::{Bytes128, PayloadKind};
use crate::scenario::{Scenario, Shape};
use crate::wait::Wait;
use crate::BenchError;
use serde::Serialize;
use std::ops::Range;
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// One implementation in a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Implementation {
    /// seqflow: the single-producer sequencer for one producer, the CAS multi-producer
    /// sequencer for several.
    Seqflow,
    /// seqflow with the lock-based multi-producer sequencer (multi-producer scenarios only).
    SeqflowLock,
    /// The `disruptor` crate (4.x).
    Disruptor,
    /// `crossbeam_channel::bounded`.
    Crossbeam,
    /// `std::sync::mpsc::sync_channel`.
    StdMpsc,
}

impl Implementation {
    /// Every implementation, in table order.
    pub const ALL: [Implementation; 5] = [
        Implementation::Seqflow,
        Implementation::SeqflowLock,
        Implementation::Disruptor,
        Implementation::Crossbeam,
        Implementation::StdMpsc,
    ];

    /// The name shown in tables (the flag value).
    pub fn name(self) -> &'static str {
        match self {
            Implementation::Seqflow => "seqflow",
            Implementation::SeqflowLock => "seqflow-lock",
            Implementation::Disruptor => "disruptor",
            Implementation::Crossbeam => "crossbeam",
            Implementation::StdMpsc => "std-mpsc",
        }
    }

    /// Whether this implementation has a row for `scenario`.
    pub fn supports(self, scenario: Scenario) -> bool {
        match self {
            Implementation::SeqflowLock => scenario.shape.producers() > 1,
            _ => true,
        }
    }

    /// How this implementation expresses `shape` when it has no native way to, and how it
    /// publishes bursts; `None` when it is native.
    pub fn emulation(self, scenario: Scenario) -> Option<&'static str> {
        let channel = matches!(self, Implementation::Crossbeam | Implementation::StdMpsc);
        if !channel {
            return None;
        }
        Some(match scenario.shape {
            Shape::OneToOne | Shape::TwoToOne | Shape::ThreeToOne => {
                "no batch send: bursts are sent one by one"
            }
            Shape::Pipeline => "chained channels: A and B forward every event to the next stage",
            Shape::Multicast => "one channel per consumer; the producer sends each event 3 times",
            Shape::Diamond => {
                "producer sends to A and B; each forwards to its own channel to C, \
                 which takes one event from each and checks they agree"
            }
        })
    }

    /// How this implementation waits when the scenario asks for `wait` (peers lack some
    /// strategies; channels always block after a short spin).
    pub fn wait_used(self, wait: Wait) -> &'static str {
        match self {
            Implementation::Seqflow | Implementation::SeqflowLock => wait.name(),
            Implementation::Disruptor => disruptor_rs::wait_name(wait),
            Implementation::Crossbeam | Implementation::StdMpsc => "blocking (channel)",
        }
    }
}

/// The knobs of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunConfig {
    /// Events to publish in all (rounded by [`Scenario::total_events`]).
    pub events: u64,
    /// Ring size, and the bound of every channel.
    pub capacity: usize,
    /// Events per claim when bursting.
    pub batch: usize,
    /// How threads wait.
    pub wait: Wait,
    /// Whether seqflow's stages pace themselves (the other implementations ignore it).
    pub pacing: crate::pacing::StagePacing,
    /// seqflow's consumer in a one-producer, one-consumer scenario also counts the events that
    /// arrive out of order ([`Tally::add_in_order`](crate::verify::Tally::add_in_order)), and
    /// the run fails unless none did: the work of the cross-process section's consumer
    /// process, for its in-process reference. Other scenarios and implementations ignore it.
    pub check_order: bool,
}

/// What one verified run measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// Events published (and received by every consumer).
    pub events: u64,
    /// From the release of the producers to the end of the last consumer thread.
    pub elapsed: Duration,
    /// Threads the run used (producers, consumers and any forwarding threads).
    pub threads: usize,
}

impl Measurement {
    /// Events per second.
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Run `scenario` once with `implementation` and verify every consumer.
///
/// ```
/// use seqflow_bench::peers::{run, Implementation, RunConfig};
/// use seqflow_bench::scenario::Scenario;
/// use seqflow_bench::wait::Wait;
/// let cfg = RunConfig { events: 1000, capacity: 256, batch: 10, wait: Wait::Yielding, pacing: Default::default(), check_order: false };
/// let m = run(Implementation::Seqflow, Scenario::all()[0], &cfg).unwrap();
/// assert_eq!(m.events, 1000);
/// ```
pub fn run(
    implementation: Implementation,
    scenario: Scenario,
    cfg: &RunConfig,
) -> Result<Measurement, BenchError> {
    if !implementation.supports(scenario) {
        return Err(BenchError::Unsupported {
            implementation: implementation.name(),
            scenario: scenario.name(),
        });
    }
    match scenario.payload {
        PayloadKind::U64 => run_typed::<u64>(implementation, scenario, cfg),
        PayloadKind::Bytes128 => run_typed::<Bytes128>(implementation, scenario, cfg),
    }
}

fn run_typed<P: crate::payload::Payload>(
    implementation: Implementation,
    scenario: Scenario,
    cfg: &RunConfig,
) -> Result<Measurement, BenchError> {
    use seqflow_sequencer::MultiProducerMode;
    match implementation {
        Implementation::Seqflow => seqflow::run::<P>(scenario, cfg, MultiProducerMode::Cas),
        Implementation::SeqflowLock => seqflow::run::<P>(scenario, cfg, MultiProducerMode::Lock),
        Implementation::Disruptor => disruptor_rs::run::<P>(scenario, cfg),
        Implementation::Crossbeam => channel::run::<P, crossbeam::Crossbeam>(scenario, cfg),
        Implementation::StdMpsc => channel::run::<P, std_mpsc::StdMpsc>(scenario, cfg),
    }
}

/// The values producer `index` of `producers` publishes out of `0..total`.
///
/// ```
/// assert_eq!(seqflow_bench::peers::share(1, 3, 300), 100..200);
/// ```
pub fn share(index: usize, producers: usize, total: u64) -> Range<u64> {
    let per = total / producers as u64;
    per * index as u64..per * (index as u64 + 1)
}

/// Run one producer per handle over its [`share`] of `0..total`. One handle runs on the calling
/// thread; several run on their own threads, released together. Returns the instant the
/// producers were released, once every producer has finished.
pub(crate) fn run_producers<H, F>(
    handles: Vec<H>,
    total: u64,
    work: F,
) -> Result<Instant, BenchError>
where
    H: Send,
    F: Fn(H, Range<u64>) -> Result<(), BenchError> + Sync,
{
    let n = handles.len();
    if n == 1 {
        let handle = handles.into_iter().next().expect("one handle");
        let start = Instant::now();
        work(handle, 0..total)?;
        return Ok(start);
    }
    let gate = Barrier::new(n + 1);
    std::thread::scope(|s| {
        let threads: Vec<_> = handles
            .into_iter()
            .enumerate()
            .map(|(i, h)| {
                let (gate, work) = (&gate, &work);
                s.spawn(move || {
                    gate.wait();
                    work(h, share(i, n, total))
                })
            })
            .collect();
        gate.wait();
        let start = Instant::now();
        for t in threads {
            t.join()
                .map_err(|_| BenchError::Panicked("producer".into()))??;
        }
        Ok(start)
    })
}
