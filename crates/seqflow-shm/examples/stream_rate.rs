//! The rate of a one-at-a-time stream between two processes: a parent creates a named ring
//! (busy-spin; single producer, or `MultiCas` with `--multi`) and starts this same program
//! again as the consumer, which attaches by name and takes the events with `poll_batch`. The
//! parent publishes `u64`s one `publish_timeout` at a time and prints events per second; the
//! consumer checks that it got every event in order and reports how many `poll_batch` calls
//! took them and the pacing it used, from which the parent prints the average batch.
//!
//! ```text
//! cargo run --release -p seqflow-shm --example stream_rate -- [EVENTS] [--pacing PER/MAX|off]
//!     [--multi]
//! ```
//!
//! `--pacing` sets the consumer's pause after a small batch (`ShmConsumer::set_pacing`); without
//! it the consumer keeps its default, `Pacing::LONG` (docs/multiprocess.md, "Why a shared
//! ring's consumers pause longer", compares them). Busy-spin needs two free cores: on a busy
//! machine the figures say little.

use seqflow_shm::{Pacing, ProducerMode, ShmOptions, ShmRing, WaitKind};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long either side waits for the other before it gives up.
const STALL: Duration = Duration::from_secs(30);

const USAGE: &str = "usage: stream_rate [EVENTS] [--pacing PER_EVENT/MAX | --pacing off] [--multi]";

type Error = Box<dyn std::error::Error>;

/// `PER_EVENT/MAX` or `off`.
fn parse_pacing(text: &str) -> Result<Pacing, Error> {
    if text == "off" {
        return Ok(Pacing::OFF);
    }
    let bad = || format!("--pacing takes PER_EVENT/MAX (two whole numbers) or off, not {text:?}");
    let (per_event, max) = text.split_once('/').ok_or_else(bad)?;
    let per_event = per_event.parse().map_err(|_| bad())?;
    let max = max.parse().map_err(|_| bad())?;
    Ok(Pacing::new(per_event, max))
}

/// The consumer process, killed and reaped if the parent leaves before it has waited for it
/// (an error on the way), so that it never spins on alone until its own timeout.
struct ConsumerProcess(Child);

impl ConsumerProcess {
    /// Its exit status, if it has ended.
    fn ended(&mut self) -> Result<Option<ExitStatus>, Error> {
        Ok(self.0.try_wait()?)
    }
}

impl Drop for ConsumerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The consumer process: take `events` events, check they are `0..events` in order, report
/// the `poll_batch` calls and the pacing.
fn consume(name: &str, events: u64, pacing: Option<Pacing>) -> Result<(), Error> {
    let ring = ShmRing::<u64>::open(name, Duration::from_secs(10))?;
    let mut consumer = ring.consumer("stream")?;
    if let Some(p) = pacing {
        consumer.set_pacing(p);
    }
    let used = consumer.pacing();
    println!("ready");
    std::io::stdout().flush()?;
    let (mut next, mut calls, mut out_of_order) = (0u64, 0u64, 0u64);
    while next < events {
        calls += 1;
        consumer.poll_batch(Some(STALL), |event, _seq, _end_of_batch| {
            out_of_order += u64::from(*event != next);
            next += 1;
        })?;
    }
    if out_of_order > 0 {
        return Err(format!("{out_of_order} of {events} events out of order").into());
    }
    println!("{calls} {}/{}", used.per_event(), used.max_spins());
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("stream_rate: {e}");
        std::process::exit(1);
    }
}

fn run(args: &[String]) -> Result<(), Error> {
    let mut events = 20_000_000u64;
    let mut pacing = None;
    let mut consumer_of = None;
    let mut producer_mode = ProducerMode::Single;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--pacing" => {
                pacing = Some(parse_pacing(rest.next().ok_or("--pacing takes a value")?)?);
            }
            "--consumer" => consumer_of = Some(rest.next().ok_or("--consumer takes a name")?),
            "--multi" => producer_mode = ProducerMode::MultiCas,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            n => {
                events = n
                    .parse()
                    .map_err(|_| format!("not an event count: {n:?}\n{USAGE}"))?
            }
        }
    }
    if events == 0 {
        return Err("the event count must be above 0".into());
    }
    if let Some(name) = consumer_of {
        return consume(name, events, pacing);
    }

    let name = format!("/seqflow-example-stream-{}", std::process::id());
    let options = ShmOptions {
        producer: producer_mode,
        wait: WaitKind::BusySpin,
        ..Default::default()
    };
    let ring = ShmRing::<u64>::create(&name, 4096, options)?;
    // Removes the name when the program ends before the unlink below, unless it is killed.
    let _cleanup = ring.unlink_on_drop();
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["--consumer", &name, &events.to_string()]);
    if let Some(p) = pacing {
        command.args(["--pacing", &format!("{}/{}", p.per_event(), p.max_spins())]);
    }
    let mut child = command.stdout(Stdio::piped()).spawn()?;
    let stdout = child.stdout.take().ok_or("no consumer stdout")?;
    let mut child = ConsumerProcess(child);
    let mut lines = BufReader::new(stdout).lines();
    if lines.next().transpose()?.as_deref() != Some("ready") {
        return Err(format!("the consumer did not attach ({})", child.0.wait()?).into());
    }
    // Attached: the name can go, so a run interrupted from here on leaves nothing in /dev/shm.
    ring.unlink()?;

    let mut producer = ring.producer()?;
    let started = Instant::now();
    for i in 0..events {
        producer.publish_timeout(STALL, |event, _seq| *event = i)?;
        // A consumer that died no longer holds the producer back: notice it within a few
        // million events rather than at the end.
        if i % (1 << 22) == 0 {
            if let Some(status) = child.ended()? {
                return Err(format!("the consumer ended after {i} events ({status})").into());
            }
        }
    }
    let report = lines.next().transpose()?.unwrap_or_default();
    let elapsed = started.elapsed();
    let status = child.0.wait()?;
    let mut fields = report.split_whitespace();
    let (Some(calls), Some(used), true) = (fields.next(), fields.next(), status.success()) else {
        return Err(format!("the consumer failed ({status})").into());
    };
    let calls: u64 = calls.parse()?;
    println!(
        "{events} events one at a time across processes ({producer_mode:?} ring): {:.1} M \
         events/s; consumer pacing {used}, {calls} polls, {:.1} events per batch (verified in \
         order)",
        events as f64 / elapsed.as_secs_f64() / 1e6,
        events as f64 / calls.max(1) as f64,
    );
    Ok(())
}
