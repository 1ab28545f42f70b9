//! What a stage's pacing costs the events of a stream: a producer publishes timestamped events
//! one at a time at a steady rate, a busy-spinning stage records how long each took from its
//! publish to its handler, and the program prints percentiles for each pacing (`Pacing::OFF`,
//! `Pacing::DEFAULT`, `Pacing::LONG`) at each rate.
//!
//! ```text
//! cargo run --release --example stream_latency -- [RATE...] [--events N] [--runs K]
//! ```
//!
//! A rate is events per second (`1000000`, `1e6`), or `max` for back to back (the events then
//! queue in the ring, and the figures are mostly that queue). The default is `1e5 1e6 1e7 max`,
//! 100000 events per run, 3 runs of each rate and pacing, alternated; each percentile printed
//! is the median of the runs' (a run whose stage lost its core for a scheduler's time slice
//! shows milliseconds in its tail). Two threads spin (the producer and the stage): on a
//! machine with fewer than two free cores the figures say little.

use seqflow::prelude::*;
use std::sync::mpsc::{channel, Sender};
use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error>;

const USAGE: &str = "usage: stream_latency [RATE... (events/s, or max)] [--events N] [--runs K]";

/// The percentiles printed.
const QUANTILES: [(&str, f64); 5] = [
    ("p50", 0.5),
    ("p90", 0.9),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("max", 1.0),
];

/// Events published before each timed run, so that the stage's thread is running and its
/// caches are warm when the run starts; the stage does not record them.
const WARM_UP: usize = 10_000;

/// A stage that records, for every event after the warm-up, the nanoseconds since the stamp
/// the producer wrote into it, and checks that the events arrive in order (sequences one after
/// the other, stamps never going back).
struct Recorder {
    epoch: Instant,
    latencies: Vec<u64>,
    last_stamp: u64,
    out_of_order: u64,
    done: Sender<(Vec<u64>, u64)>,
}

impl EventHandler<u64> for Recorder {
    fn on_event(&mut self, stamp: &u64, seq: i64, _end_of_batch: bool) {
        let now = nanos_since(self.epoch);
        if seq < WARM_UP as i64 {
            return;
        }
        if seq - WARM_UP as i64 != self.latencies.len() as i64 || *stamp < self.last_stamp {
            self.out_of_order += 1;
        }
        self.last_stamp = *stamp;
        self.latencies.push(now.saturating_sub(*stamp));
    }

    fn on_shutdown(&mut self) {
        let latencies = std::mem::take(&mut self.latencies);
        // The receiver waits for this; if it has gone, there is nobody to report to.
        let _ = self.done.send((latencies, self.out_of_order));
    }
}

fn nanos_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// `events` events at `rate` per second (`None`: back to back) through one stage paced with
/// `pacing`; the sorted latencies in nanoseconds.
fn run(rate: Option<f64>, pacing: Pacing, events: usize) -> Result<Vec<u64>, Error> {
    let (done, results) = channel();
    let epoch = Instant::now();
    let recorder = Recorder {
        epoch,
        latencies: Vec::with_capacity(events),
        last_stamp: 0,
        out_of_order: 0,
        done,
    };
    let mut builder = Disruptor::builder(4096, || 0u64)
        .wait_strategy(BusySpinWait)
        .single_producer()?;
    builder.handle_events_with(recorder).pacing(pacing);
    let (disruptor, mut producer) = builder.start()?;
    for _ in 0..WARM_UP {
        producer.publish(|e, _| *e = nanos_since(epoch))?;
    }
    std::thread::sleep(Duration::from_millis(20));
    let interval = rate.map(|r| Duration::from_secs_f64(1.0 / r));
    let start = Instant::now();
    for i in 0..events {
        if let Some(interval) = interval {
            let due = start + interval.mul_f64(i as f64);
            while Instant::now() < due {
                std::hint::spin_loop();
            }
        }
        producer.publish(|e, _| *e = nanos_since(epoch))?;
    }
    disruptor.shutdown()?;
    let (mut latencies, out_of_order) = results.recv_timeout(Duration::from_secs(30))?;
    if latencies.len() != events || out_of_order != 0 {
        return Err(format!(
            "the stage saw {} of {events} events, {out_of_order} out of order",
            latencies.len()
        )
        .into());
    }
    latencies.sort_unstable();
    Ok(latencies)
}

/// The latency at quantile `q` of sorted `latencies`.
fn quantile(latencies: &[u64], q: f64) -> u64 {
    let last = latencies.len().saturating_sub(1);
    latencies[((last as f64) * q).round() as usize]
}

/// A rate argument: events per second (`1000000` or `1e6`), or `max`.
fn parse_rate(text: &str) -> Result<Option<f64>, Error> {
    if text == "max" {
        return Ok(None);
    }
    match text.parse::<f64>() {
        Ok(r) if r.is_finite() && r >= 1.0 => Ok(Some(r)),
        _ => Err(
            format!("a rate is events per second (at least 1) or max, not {text:?}\n{USAGE}")
                .into(),
        ),
    }
}

/// The value of `--flag`: a whole number above 0.
fn count(flag: &str, value: Option<String>) -> Result<usize, Error> {
    let value = value.ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
    match value.parse() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{flag} takes a whole number above 0, not {value:?}\n{USAGE}").into()),
    }
}

/// The median of `values` (not empty).
fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values[values.len() / 2]
}

fn main() -> std::process::ExitCode {
    match measure() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stream_latency: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Parse the arguments, run every rate and pacing, print the table.
fn measure() -> Result<(), Error> {
    let mut rates = Vec::new();
    let (mut events, mut runs) = (100_000usize, 3usize);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--events" {
            events = count("--events", args.next())?;
        } else if arg == "--runs" {
            runs = count("--runs", args.next())?;
        } else if arg == "-h" || arg == "--help" {
            println!("{USAGE}");
            return Ok(());
        } else if arg.starts_with("--") {
            return Err(format!("unknown option {arg:?}\n{USAGE}").into());
        } else {
            rates.push(parse_rate(&arg)?);
        }
    }
    if rates.is_empty() {
        rates = vec![Some(1e5), Some(1e6), Some(1e7), None];
    }
    println!(
        "one stage (busy-spin), latency from publish to handler in ns: median of {runs} runs of \
         {events} events"
    );
    print!("{:>12}  {:<16}", "rate (ev/s)", "pacing");
    for (name, _) in QUANTILES {
        print!(" {name:>8}");
    }
    println!();
    let pacings = [
        ("off", Pacing::OFF),
        ("default (4/64)", Pacing::DEFAULT),
        ("long (32/256)", Pacing::LONG),
    ];
    for rate in rates {
        let label = rate.map_or("max".to_string(), |r| format!("{r:.0}"));
        // figures[pacing][quantile][run]
        let mut figures = vec![vec![Vec::with_capacity(runs); QUANTILES.len()]; pacings.len()];
        for _ in 0..runs {
            for (p, (_, pacing)) in pacings.iter().enumerate() {
                let latencies = run(rate, *pacing, events)?;
                for (q, (_, at)) in QUANTILES.iter().enumerate() {
                    figures[p][q].push(quantile(&latencies, *at));
                }
            }
        }
        for ((name, _), per_quantile) in pacings.iter().zip(figures) {
            print!("{label:>12}  {name:<16}");
            for values in per_quantile {
                print!(" {:>8}", median(values));
            }
            println!();
        }
    }
    Ok(())
}
