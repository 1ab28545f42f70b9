//! The consumer process: `seqflow ipc-consumer`, started by [`run_ipc`](super::run_ipc) (it
//! receives and verifies a stream of events) and by [`ping_pong`](super::ping_pong) (it echoes
//! each event back).

use super::event::with_event_type;
use super::{IpcEvent, Transport};
use crate::{ArgError, CliError};
use seqflow_bench::verify::Tally;
use seqflow_shm::ShmRing;
use std::io::{Read, Write};
use std::time::Duration;

/// What the consumer process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Receive `--events` events and verify them.
    Sink,
    /// Send every 8-byte event straight back (ping-pong).
    Echo,
}

/// Flags of the hidden `seqflow ipc-consumer` command.
#[derive(Debug, Clone, clap::Args)]
pub struct IpcConsumerArgs {
    /// How to receive.
    #[arg(long, value_enum)]
    pub transport: Transport,
    /// Receive and verify, or echo.
    #[arg(long, value_enum, default_value_t = Role::Sink)]
    pub role: Role,
    /// Events to expect.
    #[arg(long)]
    pub events: u64,
    /// Event size in bytes: 8, 64, 128, 512, 4096, 65536 or 1048576.
    #[arg(long)]
    pub bytes: usize,
    /// The shared-memory segment (shm; echo: the ping ring, the pong ring is its name with
    /// `-pong` appended) or the socket path (socket).
    #[arg(long, default_value = "")]
    pub address: String,
}

/// How long a consumer waits for the next event before it gives up.
const STALL: Duration = Duration::from_secs(30);

/// Receive and verify (or echo) every event, reporting `ready` then `done COUNT CHECKSUM` on
/// `out`.
pub fn consume(args: &IpcConsumerArgs, out: &mut dyn Write) -> Result<(), CliError> {
    // This process exists for the `compare` that spawned it: if that one is killed mid-run,
    // stop too rather than wait out the stall timeout. Best effort: without it, the stall
    // timeout still ends the process.
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM));
    if args.role == Role::Echo {
        return echo(args, out);
    }
    with_event_type!(args.bytes, E => consume_events::<E>(args, out), n => Err(ArgError::IpcEventSize(n).into()))
}

/// What the consumer saw: the in-process benchmark's tally (count, checksum of the values,
/// torn events, and the events that did not arrive as 0, 1, 2, … in order:
/// [`Tally::add_in_order`](seqflow_bench::verify::Tally::add_in_order)). Nothing on the hot
/// path can fail: the producer checks the report against [`Tally::expected`], so the per-event
/// work is exactly that of the in-process reference's consumer (which checks the order too).
#[derive(Default)]
struct Verifier {
    tally: Tally,
}

impl Verifier {
    #[inline]
    fn accept(&mut self, index: Option<u64>) {
        // A torn event (`None`) is counted by the tally.
        self.tally.add_in_order(index);
    }

    /// Events received so far.
    fn received(&self) -> u64 {
        self.tally.count
    }
}

fn shm_error(e: &dyn std::fmt::Display) -> CliError {
    CliError::Ipc(format!("ipc consumer: {e}"))
}

fn consume_events<E: IpcEvent>(
    args: &IpcConsumerArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut verifier = Verifier::default();
    match args.transport {
        Transport::Shm => {
            let ring = ShmRing::<E>::open(&args.address, Duration::from_secs(10))?;
            let mut consumer = ring.consumer("ipc-consumer")?;
            ready(out)?;
            while verifier.received() < args.events {
                consumer
                    .poll_batch(Some(STALL), |e, _, _| verifier.accept(e.index()))
                    .map_err(|e| shm_error(&e))?;
            }
        }
        Transport::Pipe => {
            ready(out)?;
            read_stream::<E>(std::io::stdin().lock(), args.events, &mut verifier)?;
        }
        Transport::Socket => {
            let stream = std::os::unix::net::UnixStream::connect(&args.address)?;
            ready(out)?;
            read_stream::<E>(stream, args.events, &mut verifier)?;
        }
    }
    done(out, &verifier)
}

fn ready(out: &mut dyn Write) -> Result<(), CliError> {
    writeln!(out, "ready")?;
    out.flush()?;
    Ok(())
}

/// The report the producer checks: `done COUNT CHECKSUM TORN OUT_OF_ORDER`.
fn done(out: &mut dyn Write, verifier: &Verifier) -> Result<(), CliError> {
    let t = &verifier.tally;
    writeln!(
        out,
        "done {} {} {} {}",
        t.count, t.checksum, t.bad, t.out_of_order
    )?;
    out.flush()?;
    Ok(())
}

/// Read `events` events of `E::BYTES` each from a byte stream, in large reads (at least one
/// event, at least 64 KiB), verifying each in place.
fn read_stream<E: IpcEvent>(
    mut input: impl Read,
    events: u64,
    verifier: &mut Verifier,
) -> Result<(), CliError> {
    // Words, so that every event in the buffer is aligned for `E` (a multiple of 8 bytes).
    let words = (64 * 1024).max(E::BYTES) / 8;
    let mut buf = vec![0u64; words];
    let mut filled = 0usize;
    let mut received = 0u64;
    while received < events {
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut buf);
        let n = input.read(&mut bytes[filled..])?;
        if n == 0 {
            return Err(CliError::Ipc(format!(
                "ipc consumer: stream closed after {received} of {events} events"
            )));
        }
        filled += n;
        let whole = filled / E::BYTES * E::BYTES;
        for chunk in bytes[..whole].chunks_exact(E::BYTES) {
            verifier.accept(bytemuck::from_bytes::<E>(chunk).index());
            received += 1;
        }
        bytes.copy_within(whole..filled, 0);
        filled -= whole;
    }
    Ok(())
}

/// Echo `events` 8-byte events back to the sender, one at a time.
fn echo(args: &IpcConsumerArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let mut verifier = Verifier::default();
    match args.transport {
        Transport::Shm => {
            let ping = ShmRing::<u64>::open(&args.address, Duration::from_secs(10))?;
            let pong = ShmRing::<u64>::open(&pong_name(&args.address), Duration::from_secs(10))?;
            let mut consumer = ping.consumer("ipc-echo")?;
            let mut producer = pong.producer()?;
            ready(out)?;
            for seq in 0..args.events as i64 {
                consumer
                    .wait_for(seq, Some(STALL))
                    .map_err(|e| shm_error(&e))?;
                let v = *consumer.get(seq).map_err(|e| shm_error(&e))?;
                consumer.update_sequence(seq).map_err(|e| shm_error(&e))?;
                verifier.accept(Some(v));
                producer.publish(|e, _| *e = v)?;
            }
        }
        Transport::Pipe => {
            ready(out)?;
            let mut input = std::io::stdin().lock();
            // The pongs share standard output with the control lines: `ready` before, `done`
            // after, 8 raw bytes per round trip in between.
            echo_stream(&mut input, out, args.events, &mut verifier)?;
        }
        Transport::Socket => {
            let mut stream = std::os::unix::net::UnixStream::connect(&args.address)?;
            ready(out)?;
            let mut writer = stream.try_clone()?;
            echo_stream(&mut stream, &mut writer, args.events, &mut verifier)?;
        }
    }
    done(out, &verifier)
}

fn echo_stream(
    input: &mut dyn Read,
    output: &mut dyn Write,
    events: u64,
    verifier: &mut Verifier,
) -> Result<(), CliError> {
    let mut word = [0u8; 8];
    for _ in 0..events {
        input.read_exact(&mut word)?;
        verifier.accept(Some(u64::from_le_bytes(word)));
        output.write_all(&word)?;
        output.flush()?;
    }
    Ok(())
}

/// The pong ring of a shm ping-pong whose ping ring is `ping`.
pub(crate) fn pong_name(ping: &str) -> String {
    format!("{ping}-pong")
}
