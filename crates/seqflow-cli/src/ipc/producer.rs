//! The producer side of a cross-process run: start the consumer process, feed it, time it.

use super::event::checksum_of;
use super::{IpcEvent, Transport};
use crate::{ArgError, CliError};
use seqflow_bench::peers::Measurement;
use seqflow_bench::wait::Wait;
use seqflow_shm::{ProducerMode, ShmOptions, ShmRing};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// One cross-process run.
#[derive(Debug, Clone, Copy)]
pub struct IpcConfig {
    /// Events to send.
    pub events: u64,
    /// Event size: 8 or 128 bytes.
    pub bytes: usize,
    /// Ring size (shm); pipes and sockets use the kernel's buffers.
    pub capacity: usize,
    /// Events per claim (shm) or per write batch.
    pub batch: usize,
    /// How the shm consumer waits (pipes and sockets block in `read`).
    pub wait: Wait,
}

/// Run `transport` once with `exe` (the `seqflow` binary) as the consumer process.
pub fn run_ipc(exe: &Path, transport: Transport, cfg: &IpcConfig) -> Result<Measurement, CliError> {
    match cfg.bytes {
        8 => run_events::<u64>(exe, transport, cfg),
        128 => run_events::<[u64; 16]>(exe, transport, cfg),
        n => Err(ArgError::IpcEventSize(n).into()),
    }
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
        cfg: &IpcConfig,
        address: &str,
    ) -> Result<Self, CliError> {
        let mut child = Command::new(exe)
            .arg("ipc-consumer")
            .args(["--transport", transport.flag()])
            .args(["--events", &cfg.events.to_string()])
            .args(["--bytes", &cfg.bytes.to_string()])
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
}

impl Drop for ConsumerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn run_events<E: IpcEvent>(
    exe: &Path,
    transport: Transport,
    cfg: &IpcConfig,
) -> Result<Measurement, CliError> {
    let tag = format!("seqflow-ipc-{}-{}", std::process::id(), unique());
    let started;
    let mut consumer;
    match transport {
        Transport::Shm => {
            let name = format!("/{tag}");
            let ring = ShmRing::<E>::create(
                &name,
                cfg.capacity,
                ShmOptions {
                    producer: ProducerMode::Single,
                    wait: shm_wait(cfg.wait),
                    ..ShmOptions::default()
                },
            )?;
            let _cleanup = ring.unlink_on_drop();
            consumer = ConsumerProcess::start(exe, transport, cfg, &name)?;
            consumer.expect_line("ready")?;
            let mut producer = ring.producer()?;
            started = Instant::now();
            let mut i = 0u64;
            while i < cfg.events {
                let n = (cfg.batch as u64).min(cfg.events - i) as usize;
                producer.publish_batch(n, Some(Duration::from_secs(30)), |e, _| {
                    *e = E::make(i);
                    i += 1;
                })?;
            }
            return finish(consumer, started, cfg);
        }
        Transport::Pipe => {
            consumer = ConsumerProcess::start(exe, transport, cfg, "")?;
            consumer.expect_line("ready")?;
            let stdin = consumer
                .child
                .stdin
                .take()
                .ok_or_else(|| CliError::Ipc("ipc consumer: no stdin".into()))?;
            started = Instant::now();
            send_stream::<E>(stdin, cfg)?;
        }
        Transport::Socket => {
            let path = std::env::temp_dir().join(format!("{tag}.sock"));
            let _ = std::fs::remove_file(&path);
            let listener = std::os::unix::net::UnixListener::bind(&path)?;
            let address = path.to_string_lossy().into_owned();
            let result = (|| {
                let mut consumer = ConsumerProcess::start(exe, transport, cfg, &address)?;
                let (stream, _) = listener.accept()?;
                consumer.expect_line("ready")?;
                let started = Instant::now();
                send_stream::<E>(stream, cfg)?;
                finish(consumer, started, cfg)
            })();
            let _ = std::fs::remove_file(&path);
            return result;
        }
    }
    finish(consumer, started, cfg)
}

/// Write every event, `batch` events per write (the same hand-over size as the shm claims),
/// then close the stream.
fn send_stream<E: IpcEvent>(stream: impl Write, cfg: &IpcConfig) -> Result<(), CliError> {
    let mut out = BufWriter::with_capacity(cfg.batch.max(1) * E::BYTES, stream);
    for i in 0..cfg.events {
        out.write_all(E::make(i).as_bytes())?;
    }
    out.flush()?;
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
    let expected = format!("done {} {}", cfg.events, checksum_of(cfg.events));
    if done != expected {
        return Err(CliError::Ipc(format!(
            "ipc consumer reported `{done}`, expected `{expected}`"
        )));
    }
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

fn shm_wait(wait: Wait) -> seqflow_shm::WaitKind {
    match wait {
        Wait::BusySpin => seqflow_shm::WaitKind::BusySpin,
        Wait::Yielding => seqflow_shm::WaitKind::Yielding,
        Wait::Sleeping => seqflow_shm::WaitKind::Sleeping(Duration::from_micros(50)),
        Wait::Blocking => seqflow_shm::WaitKind::Futex,
    }
}

/// A number unique within this process, for segment and socket names.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
