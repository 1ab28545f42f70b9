//! The producer side of a cross-process run: start the consumer process, feed it, time it; and
//! the cross-process ping-pong.

use super::consumer::{pong_name, Role};
use super::event::with_event_type;
use super::{IpcEvent, Mode, Transport};
use crate::{ArgError, CliError};
use seqflow_bench::latency::LatencyStats;
use seqflow_bench::peers::Measurement;
use seqflow_bench::wait::Wait;
use seqflow_shm::{ProducerMode, ShmOptions, ShmRing};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// One cross-process run.
#[derive(Debug, Clone, Copy)]
pub struct IpcConfig {
    /// Events to send.
    pub events: u64,
    /// Event size in bytes (one of [`SIZES`](super::event::SIZES)).
    pub bytes: usize,
    /// Ring size (shm); pipes and sockets use the kernel's buffers.
    pub capacity: usize,
    /// Events per claim (shm) or per write (pipe, socket) in [`Mode::Burst`].
    pub batch: usize,
    /// Hand events over in batches, or one claim / one write per event.
    pub mode: Mode,
    /// How the shm consumer waits (pipes and sockets block in `read`).
    pub wait: Wait,
}

/// How long the producer waits for a free slot before it gives up on the consumer.
const STALL: Duration = Duration::from_secs(30);

/// Run `transport` once with `exe` (the `seqflow` binary) as the consumer process.
pub fn run_ipc(exe: &Path, transport: Transport, cfg: &IpcConfig) -> Result<Measurement, CliError> {
    with_event_type!(cfg.bytes, E => run_events::<E>(exe, transport, cfg), n => Err(ArgError::IpcEventSize(n).into()))
}

/// The consumer process, killed if it is still running when the run ends (on error).
struct ConsumerProcess {
    child: Child,
    lines: BufReader<ChildStdout>,
}

impl ConsumerProcess {
    fn start(
        exe: &Path,
        transport: Transport,
        role: Role,
        events: u64,
        bytes: usize,
        address: &str,
    ) -> Result<Self, CliError> {
        let mut child = Command::new(exe)
            .arg("ipc-consumer")
            .args(["--transport", transport.flag()])
            .args([
                "--role",
                match role {
                    Role::Sink => "sink",
                    Role::Echo => "echo",
                },
            ])
            .args(["--events", &events.to_string()])
            .args(["--bytes", &bytes.to_string()])
            .args(["--address", address])
            .stdin(if transport == Transport::Pipe {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| CliError::Ipc("ipc consumer: no stdout".into()))?;
        Ok(Self {
            child,
            lines: BufReader::new(stdout),
        })
    }

    fn expect_line(&mut self, what: &str) -> Result<String, CliError> {
        let mut line = String::new();
        self.lines.read_line(&mut line)?;
        if line.starts_with(what) {
            Ok(line.trim_end().to_owned())
        } else {
            Err(CliError::Ipc(format!(
                "ipc consumer: expected `{what}`, got {line:?} (did it fail? see its error above)"
            )))
        }
    }

    fn stdin(&mut self) -> Result<std::process::ChildStdin, CliError> {
        self.child
            .stdin
            .take()
            .ok_or_else(|| CliError::Ipc("ipc consumer: no stdin".into()))
    }
}

impl Drop for ConsumerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn shm_options(wait: Wait) -> ShmOptions {
    ShmOptions {
        producer: ProducerMode::Single,
        wait: shm_wait(wait),
        ..ShmOptions::default()
    }
}

fn run_events<E: IpcEvent>(
    exe: &Path,
    transport: Transport,
    cfg: &IpcConfig,
) -> Result<Measurement, CliError> {
    let tag = format!("seqflow-ipc-{}-{}", std::process::id(), unique());
    let start = |address: &str| {
        ConsumerProcess::start(exe, transport, Role::Sink, cfg.events, E::BYTES, address)
    };
    match transport {
        Transport::Shm => {
            let name = format!("/{tag}");
            let ring = ShmRing::<E>::create(&name, cfg.capacity, shm_options(cfg.wait))?;
            let _cleanup = ring.unlink_on_drop();
            let mut consumer = start(&name)?;
            consumer.expect_line("ready")?;
            // Attached: the name can go, so a run ended by Ctrl-C leaves nothing in /dev/shm.
            ring.unlink()?;
            let mut producer = ring.producer()?;
            let started = Instant::now();
            let mut i = 0u64;
            match cfg.mode {
                Mode::Burst => {
                    while i < cfg.events {
                        let n = (cfg.batch as u64).min(cfg.events - i) as usize;
                        producer.publish_batch_timeout(n, STALL, |e, _| {
                            e.fill(i);
                            i += 1;
                        })?;
                    }
                }
                Mode::Single => {
                    while i < cfg.events {
                        producer.publish_timeout(STALL, |e, _| e.fill(i))?;
                        i += 1;
                    }
                }
            }
            finish(consumer, started, cfg)
        }
        Transport::Pipe => {
            let mut consumer = start("")?;
            consumer.expect_line("ready")?;
            let stdin = consumer.stdin()?;
            let started = Instant::now();
            send_stream::<E>(stdin, cfg)?;
            finish(consumer, started, cfg)
        }
        Transport::Socket => {
            let path = std::env::temp_dir().join(format!("{tag}.sock"));
            let _ = std::fs::remove_file(&path);
            let listener = std::os::unix::net::UnixListener::bind(&path)?;
            let address = path.to_string_lossy().into_owned();
            let result = (|| {
                let mut consumer = start(&address)?;
                let (stream, _) = listener.accept()?;
                consumer.expect_line("ready")?;
                let started = Instant::now();
                send_stream::<E>(stream, cfg)?;
                finish(consumer, started, cfg)
            })();
            let _ = std::fs::remove_file(&path);
            result
        }
    }
}

/// Write every event, then close the stream: in [`Mode::Burst`] `batch` events per write (the
/// same hand-over size as the shm claims, at most 4 MiB buffered), in [`Mode::Single`] one write
/// per event.
fn send_stream<E: IpcEvent>(mut stream: impl Write, cfg: &IpcConfig) -> Result<(), CliError> {
    // On the heap: an event may be 1 MiB.
    let mut event: Box<E> = bytemuck::zeroed_box();
    match cfg.mode {
        Mode::Burst => {
            let buffer = (cfg.batch.max(1) * E::BYTES).min(4 << 20);
            let mut out = BufWriter::with_capacity(buffer, stream);
            for i in 0..cfg.events {
                event.fill(i);
                out.write_all(bytemuck::bytes_of(&*event))?;
            }
            out.flush()?;
        }
        Mode::Single => {
            for i in 0..cfg.events {
                event.fill(i);
                stream.write_all(bytemuck::bytes_of(&*event))?;
            }
        }
    }
    Ok(())
}

/// Wait for the consumer's report, stop the clock, check count and checksum.
fn finish(
    mut consumer: ConsumerProcess,
    started: Instant,
    cfg: &IpcConfig,
) -> Result<Measurement, CliError> {
    let done = consumer.expect_line("done")?;
    let elapsed = started.elapsed();
    check_done(&done, cfg.events)?;
    let status = consumer.child.wait()?;
    if !status.success() {
        return Err(CliError::Ipc(format!("ipc consumer exited with {status}")));
    }
    Ok(Measurement {
        events: cfg.events,
        elapsed,
        threads: 2,
    })
}

fn check_done(done: &str, events: u64) -> Result<(), CliError> {
    let t = seqflow_bench::verify::Tally::expected(events);
    let expected = format!("done {} {} 0 0", t.count, t.checksum);
    if done == expected {
        Ok(())
    } else {
        Err(CliError::Ipc(format!(
            "ipc consumer reported `{done}`, expected `{expected}`"
        )))
    }
}

/// Cross-process ping-pong: this process sends `i` (8 bytes), the consumer process sends it
/// straight back; each of `round_trips` round trips is timed. shm uses two rings (ping and
/// pong) of `capacity` slots whose consumers wait with `wait`.
pub fn ping_pong(
    exe: &Path,
    transport: Transport,
    round_trips: u64,
    capacity: usize,
    wait: Wait,
) -> Result<LatencyStats, CliError> {
    let tag = format!("seqflow-ipc-pp-{}-{}", std::process::id(), unique());
    let start =
        |address: &str| ConsumerProcess::start(exe, transport, Role::Echo, round_trips, 8, address);
    let mut samples = Vec::with_capacity(round_trips as usize);
    let bad = |i: u64, v: u64| CliError::Ipc(format!("ping-pong: sent {i}, got {v} back"));
    match transport {
        Transport::Shm => {
            let name = format!("/{tag}");
            let ping = ShmRing::<u64>::create(&name, capacity, shm_options(wait))?;
            let _ping_cleanup = ping.unlink_on_drop();
            let pong = ShmRing::<u64>::create(&pong_name(&name), capacity, shm_options(wait))?;
            let _pong_cleanup = pong.unlink_on_drop();
            let mut back = pong.consumer("ipc-pong")?;
            let mut consumer = start(&name)?;
            consumer.expect_line("ready")?;
            // Both attached: the names can go (nothing left in /dev/shm after a Ctrl-C).
            ping.unlink()?;
            pong.unlink()?;
            let mut producer = ping.producer()?;
            for i in 0..round_trips {
                let seq = i as i64;
                let t = Instant::now();
                producer.publish_timeout(STALL, |e, _| *e = i)?;
                back.wait_for(seq, Some(STALL))
                    .map_err(|e| CliError::Ipc(format!("ping-pong: {e}")))?;
                let v = back.get(seq).copied().unwrap_or(u64::MAX);
                back.update_sequence(seq)
                    .map_err(|e| CliError::Ipc(format!("ping-pong: {e}")))?;
                samples.push(t.elapsed());
                if v != i {
                    return Err(bad(i, v));
                }
            }
            finish_echo(consumer, round_trips)?;
        }
        Transport::Pipe => {
            let mut consumer = start("")?;
            consumer.expect_line("ready")?;
            let mut stdin = consumer.stdin()?;
            let mut word = [0u8; 8];
            for i in 0..round_trips {
                let t = Instant::now();
                stdin.write_all(&i.to_le_bytes())?;
                consumer.lines.read_exact(&mut word)?;
                samples.push(t.elapsed());
                let v = u64::from_le_bytes(word);
                if v != i {
                    return Err(bad(i, v));
                }
            }
            finish_echo(consumer, round_trips)?;
        }
        Transport::Socket => {
            let path = std::env::temp_dir().join(format!("{tag}.sock"));
            let _ = std::fs::remove_file(&path);
            let listener = std::os::unix::net::UnixListener::bind(&path)?;
            let address = path.to_string_lossy().into_owned();
            let result = (|| {
                let mut consumer = start(&address)?;
                let (mut stream, _) = listener.accept()?;
                consumer.expect_line("ready")?;
                let mut word = [0u8; 8];
                for i in 0..round_trips {
                    let t = Instant::now();
                    stream.write_all(&i.to_le_bytes())?;
                    stream.read_exact(&mut word)?;
                    samples.push(t.elapsed());
                    let v = u64::from_le_bytes(word);
                    if v != i {
                        return Err(bad(i, v));
                    }
                }
                finish_echo(consumer, round_trips)
            })();
            let _ = std::fs::remove_file(&path);
            result?;
        }
    }
    Ok(LatencyStats::from_samples(samples))
}

fn finish_echo(mut consumer: ConsumerProcess, round_trips: u64) -> Result<(), CliError> {
    let done = consumer.expect_line("done")?;
    check_done(&done, round_trips)?;
    let status = consumer.child.wait()?;
    if !status.success() {
        return Err(CliError::Ipc(format!("ipc consumer exited with {status}")));
    }
    Ok(())
}

fn shm_wait(wait: Wait) -> seqflow_shm::WaitKind {
    match wait {
        Wait::BusySpin => seqflow_shm::WaitKind::BusySpin,
        Wait::Yielding => seqflow_shm::WaitKind::Yielding,
        Wait::Sleeping => seqflow_shm::WaitKind::Sleeping(Duration::from_micros(50)),
        Wait::Blocking => seqflow_shm::WaitKind::Futex,
    }
}

/// A number unique within this process, for segment and socket names.
pub(crate) fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
