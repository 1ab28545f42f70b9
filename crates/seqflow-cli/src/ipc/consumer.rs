//! The consumer process: `seqflow ipc-consumer`, started by [`run_ipc`](super::run_ipc).

use super::event::fold;
use super::{IpcEvent, Transport};
use crate::{ArgError, CliError};
use seqflow_shm::ShmRing;
use std::io::{Read, Write};
use std::time::Duration;

/// Flags of the hidden `seqflow ipc-consumer` command.
#[derive(Debug, Clone, clap::Args)]
pub struct IpcConsumerArgs {
    /// How to receive.
    #[arg(long, value_enum)]
    pub transport: Transport,
    /// Events to expect.
    #[arg(long)]
    pub events: u64,
    /// Event size: 8 or 128.
    #[arg(long)]
    pub bytes: usize,
    /// The shared-memory segment (shm) or the socket path (socket).
    #[arg(long, default_value = "")]
    pub address: String,
}

/// Receive and verify every event, reporting `ready` then `done COUNT CHECKSUM` on `out`.
pub fn consume(args: &IpcConsumerArgs, out: &mut dyn Write) -> Result<(), CliError> {
    match args.bytes {
        8 => consume_events::<u64>(args, out),
        128 => consume_events::<[u64; 16]>(args, out),
        n => Err(ArgError::IpcEventSize(n).into()),
    }
}

/// Checks that events arrive as 0, 1, 2, … and folds them into the checksum.
#[derive(Default)]
struct Verifier {
    next: u64,
    sum: u64,
}

impl Verifier {
    fn accept<E: IpcEvent>(&mut self, event: &E) -> Result<(), CliError> {
        match event.index() {
            Some(i) if i == self.next => {
                self.sum = fold(self.sum, i);
                self.next += 1;
                Ok(())
            }
            got => Err(CliError::Ipc(format!(
                "ipc consumer: expected event {}, got {got:?}",
                self.next
            ))),
        }
    }
}

fn consume_events<E: IpcEvent>(
    args: &IpcConsumerArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut verifier = Verifier::default();
    match args.transport {
        Transport::Shm => {
            let shm_error = |e: &dyn std::fmt::Display| CliError::Ipc(format!("ipc consumer: {e}"));
            let ring = ShmRing::<E>::open(&args.address, Duration::from_secs(10))?;
            let mut consumer = ring.consumer("ipc-consumer")?;
            ready(out)?;
            let mut failure = None;
            while verifier.next < args.events {
                consumer
                    .poll_batch(Some(Duration::from_secs(30)), |e, _, _| {
                        if failure.is_none() {
                            failure = verifier.accept(e).err();
                        }
                    })
                    .map_err(|e| shm_error(&e))?;
                if let Some(f) = failure.take() {
                    return Err(f);
                }
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
    writeln!(out, "done {} {}", verifier.next, verifier.sum)?;
    out.flush()?;
    Ok(())
}

fn ready(out: &mut dyn Write) -> Result<(), CliError> {
    writeln!(out, "ready")?;
    out.flush()?;
    Ok(())
}

/// Read `events` events of `E::BYTES` each from a byte stream, in large reads.
fn read_stream<E: IpcEvent>(
    mut input: impl Read,
    events: u64,
    verifier: &mut Verifier,
) -> Result<(), CliError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut filled = 0usize;
    let mut received = 0u64;
    while received < events {
        let n = input.read(&mut buf[filled..])?;
        if n == 0 {
            return Err(CliError::Ipc(format!(
                "ipc consumer: stream closed after {received} of {events} events"
            )));
        }
        filled += n;
        let whole = filled / E::BYTES * E::BYTES;
        for chunk in buf[..whole].chunks_exact(E::BYTES) {
            let mut event = E::default();
            bytemuck::bytes_of_mut(&mut event).copy_from_slice(chunk);
            verifier.accept(&event)?;
            received += 1;
        }
        buf.copy_within(whole..filled, 0);
        filled -= whole;
    }
    Ok(())
}
