//! Bounded channels as peers, and how each shape is emulated with them.
//!
//! A channel moves events by value and has one receiving end per consumer, so:
//! - one or several producers to one consumer: native (senders are cloned);
//! - multicast (A, B, C each see every event): one channel per consumer, the producer sends
//!   every event to each;
//! - pipeline (A then B then C): chained channels, A and B forward every event to the next;
//! - diamond (A and B, then C): the producer sends to A and B, each forwards to a channel of its
//!   own to C, and C takes one event from each and checks that they agree.
//!
//! Channels have no batch send, so burst scenarios send their events one by one. Every channel is
//! bounded with the ring capacity of the scenario.

use super::{run_producers, Measurement, RunConfig};
use crate::payload::Payload;
use crate::scenario::{Scenario, Shape};
use crate::verify::{Sink, Sinks, Tally};
use crate::BenchError;
use std::time::{Duration, Instant};

/// A bounded channel implementation moving `T`.
///
/// ```
/// use seqflow_bench::peers::channel::Channel;
/// use seqflow_bench::peers::crossbeam::Crossbeam;
/// let (tx, rx) = <Crossbeam as Channel<u64>>::bounded(4);
/// assert!(Crossbeam::send(&tx, 7));
/// drop(tx);
/// assert_eq!(<Crossbeam as Channel<u64>>::recv(&rx), Some(7));
/// assert_eq!(<Crossbeam as Channel<u64>>::recv(&rx), None);
/// ```
pub trait Channel<T: Send + 'static> {
    /// The sending end (cloned for several producers).
    type Tx: Clone + Send + 'static;
    /// The receiving end.
    type Rx: Send + 'static;

    /// A channel holding at most `capacity` values.
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx);

    /// Send, blocking while full; `false` if the receiver is gone.
    fn send(tx: &Self::Tx, value: T) -> bool;

    /// Receive, blocking while empty; `None` once every sender is gone and the channel is empty.
    fn recv(rx: &Self::Rx) -> Option<T>;
}

/// Run `scenario` over channels of kind `C`.
pub fn run<P: Payload, C: Channel<P>>(
    scenario: Scenario,
    cfg: &RunConfig,
) -> Result<Measurement, BenchError> {
    let total = scenario.total_events(cfg.events, cfg.batch);
    let cap = cfg.capacity;
    let mut sinks = Sinks::default();
    let shape = scenario.shape;
    let elapsed = std::thread::scope(|s| -> Result<Duration, BenchError> {
        // Consumers first (they block on their channels), then the producers.
        let mut consumers = Vec::new();
        let senders: Vec<Vec<C::Tx>> = match shape {
            Shape::OneToOne | Shape::TwoToOne | Shape::ThreeToOne => {
                let (tx, rx) = C::bounded(cap);
                let sink = sinks.sink("C");
                consumers.push(s.spawn(move || consume::<P, C>(rx, sink, &[])));
                vec![vec![tx]; shape.producers()]
            }
            Shape::Multicast => {
                let mut txs = Vec::new();
                for name in ["A", "B", "C"] {
                    let (tx, rx) = C::bounded(cap);
                    let sink = sinks.sink(name);
                    consumers.push(s.spawn(move || consume::<P, C>(rx, sink, &[])));
                    txs.push(tx);
                }
                vec![txs]
            }
            Shape::Pipeline => {
                let (to_a, a_rx) = C::bounded(cap);
                let (to_b, b_rx) = C::bounded(cap);
                let (to_c, c_rx) = C::bounded(cap);
                let (a, b, c) = (sinks.sink("A"), sinks.sink("B"), sinks.sink("C"));
                consumers.push(s.spawn(move || consume::<P, C>(a_rx, a, &[to_b])));
                consumers.push(s.spawn(move || consume::<P, C>(b_rx, b, &[to_c])));
                consumers.push(s.spawn(move || consume::<P, C>(c_rx, c, &[])));
                vec![vec![to_a]]
            }
            Shape::Diamond => {
                let (to_a, a_rx) = C::bounded(cap);
                let (to_b, b_rx) = C::bounded(cap);
                let (a_to_c, c_from_a) = C::bounded(cap);
                let (b_to_c, c_from_b) = C::bounded(cap);
                let (a, b, c) = (sinks.sink("A"), sinks.sink("B"), sinks.sink("C"));
                consumers.push(s.spawn(move || consume::<P, C>(a_rx, a, &[a_to_c])));
                consumers.push(s.spawn(move || consume::<P, C>(b_rx, b, &[b_to_c])));
                consumers.push(s.spawn(move || join::<P, C>(c_from_a, c_from_b, c)));
                vec![vec![to_a, to_b]]
            }
        };
        let start: Result<Instant, BenchError> = run_producers(senders, total, |txs, values| {
            for v in values {
                for tx in &txs {
                    if !C::send(tx, P::new(v)) {
                        return Err(BenchError::Peer("a consumer hung up early".into()));
                    }
                }
            }
            Ok(())
        });
        // Every sender is dropped by now: the consumers drain and end.
        for c in consumers {
            c.join()
                .map_err(|_| BenchError::Panicked("channel consumer".into()))?;
        }
        Ok(start?.elapsed())
    })?;
    sinks.check(&Tally::expected(total))?;
    Ok(Measurement {
        events: total,
        elapsed,
        threads: thread_count(shape),
    })
}

/// Threads the channel emulation of `shape` uses (the same as a ring: forwarding happens on the
/// consumers' own threads).
fn thread_count(shape: Shape) -> usize {
    shape.threads()
}

/// Receive until the senders are gone, counting each event and forwarding it to `next`.
fn consume<P: Payload, C: Channel<P>>(rx: C::Rx, mut sink: Sink, next: &[C::Tx]) {
    while let Some(event) = C::recv(&rx) {
        sink.observe(&event);
        for tx in next {
            if !C::send(tx, event) {
                return;
            }
        }
    }
}

/// The diamond's last stage: one event from each side, which must agree.
fn join<P: Payload, C: Channel<P>>(from_a: C::Rx, from_b: C::Rx, mut sink: Sink) {
    loop {
        match (C::recv(&from_a), C::recv(&from_b)) {
            (Some(a), Some(b)) => {
                let (a, b) = (a.read(), b.read());
                sink.add(if a == b { a } else { None });
            }
            (None, None) => return,
            // One side ended early: count a bad event so the check fails.
            _ => {
                sink.add(None);
                return;
            }
        }
    }
}

/// Ping-pong over two channels of kind `C`: returns each round trip.
pub fn ping_pong<C: Channel<u64>>(
    round_trips: u64,
    capacity: usize,
) -> Result<Vec<Duration>, BenchError> {
    let (ping_tx, ping_rx) = C::bounded(capacity);
    let (pong_tx, pong_rx) = C::bounded(capacity);
    std::thread::scope(|s| {
        let echo = s.spawn(move || {
            while let Some(v) = C::recv(&ping_rx) {
                if !C::send(&pong_tx, v) {
                    return;
                }
            }
        });
        let mut samples = Vec::with_capacity(round_trips as usize);
        let mut result = Ok(());
        for i in 0..round_trips {
            let start = Instant::now();
            let sent = C::send(&ping_tx, i);
            let back = C::recv(&pong_rx);
            samples.push(start.elapsed());
            if !sent || back != Some(i) {
                result = Err(BenchError::PingPong(format!("sent {i}, got {back:?} back")));
                break;
            }
        }
        drop(ping_tx);
        echo.join()
            .map_err(|_| BenchError::Panicked("ping-pong echo".into()))?;
        result.map(|()| samples)
    })
}
