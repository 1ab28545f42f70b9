//! `seqflow perf --reader-processes`: the readers as separate processes (this binary re-run as
//! the hidden `seqflow perf-reader` command) attached by name to a shared-memory ring of
//! [`DynByteSlot`]s that this process creates and writes.
//!
//! The slots hold exactly `--slot-bytes` (rounded up to whole 8-byte words: the size is chosen
//! when the ring is created, `ShmRing::create_bytes`), and every write fills `--slot-bytes` of
//! them. A last, empty slot tells the readers that the writer has stopped; each reader then
//! reports its count, errors and maximum lag on its standard output.

use super::report::{PerfReport, ReaderReport};
use super::run::{burn, Pacer, Step};
use super::slot::{check_slot, fill_slot};
use super::PerfConfig;
use crate::CliError;
use seqflow_bench::wait::Wait;
use seqflow_shm::{ConsumeError, DynByteSlot, ProducerMode, ShmOptions, ShmRing};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// The largest slot a reader process can read.
pub const MAX_SLOT_BYTES: usize = 256 << 20;

/// How long a process waits for the other side to start or to drain before giving up.
const PATIENCE: Duration = Duration::from_secs(30);

fn too_large(bytes: usize) -> CliError {
    crate::ArgError::OutOfRange {
        flag: "--slot-bytes",
        value: bytes.to_string(),
        reason: format!("with --reader-processes must be at most {MAX_SLOT_BYTES}"),
    }
    .into()
}

/// Write `payload_len` bytes of slot `seq` into `slot` in place: the length, then what
/// [`fill_slot`] writes, in place (sparing the copy `DynByteSlot::set` would make).
fn write_slot(
    slot: &mut DynByteSlot,
    payload_len: usize,
    seq: u64,
    verify: bool,
) -> Result<(), CliError> {
    let buffer = slot.buffer_mut();
    let len = payload_len.min(buffer.len());
    fill_slot(&mut buffer[..len], seq, verify);
    slot.set_len(payload_len)
        .map_err(|e| CliError::Ipc(format!("perf writer: {e}")))
}

/// Run the perf test with reader processes.
pub fn run(cfg: &PerfConfig, progress: &mut dyn FnMut(&str)) -> Result<PerfReport, CliError> {
    if cfg.slot_bytes > MAX_SLOT_BYTES {
        return Err(too_large(cfg.slot_bytes));
    }
    let name = format!("/seqflow-perf-{}-{}", std::process::id(), unique());
    let ring = ShmRing::<DynByteSlot>::create_bytes(
        &name,
        cfg.slots,
        cfg.slot_bytes,
        ShmOptions {
            producer: ProducerMode::Single,
            max_consumers: cfg.readers,
            wait: shm_wait(cfg.wait),
            ..ShmOptions::default()
        },
    )?;
    let _cleanup = ring.unlink_on_drop();
    run_on(&ring, &name, cfg, progress)
}

/// A reader process, killed if it is still running when the run ends (on error).
struct ReaderProcess {
    child: Child,
    lines: BufReader<ChildStdout>,
}

impl ReaderProcess {
    fn line(&mut self, what: &str) -> Result<String, CliError> {
        let mut line = String::new();
        self.lines.read_line(&mut line)?;
        if line.starts_with(what) {
            Ok(line.trim_end().to_owned())
        } else {
            Err(CliError::Ipc(format!(
                "perf reader: expected `{what}`, got {line:?} (did it fail? see its error above)"
            )))
        }
    }
}

impl Drop for ReaderProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn run_on(
    ring: &ShmRing<DynByteSlot>,
    name: &str,
    cfg: &PerfConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<PerfReport, CliError> {
    let exe = match std::env::var_os("SEQFLOW_EXE") {
        Some(path) => std::path::PathBuf::from(path),
        None => std::env::current_exe()?,
    };
    let mut readers = Vec::with_capacity(cfg.readers);
    for index in 0..cfg.readers {
        let mut command = Command::new(&exe);
        command
            .arg("perf-reader")
            .args(["--ring", name])
            .args(["--index", &index.to_string()])
            .args(["--slot-bytes", &cfg.slot_bytes.to_string()])
            .args([
                "--burn-ms",
                &(cfg.reader_burn.as_secs_f64() * 1e3).to_string(),
            ]);
        if cfg.verify_writes {
            command.arg("--verify");
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| CliError::Ipc("perf reader: no stdout".into()))?;
        readers.push(ReaderProcess {
            child,
            lines: BufReader::new(stdout),
        });
    }
    // Every reader is attached (and gates the writer) before the first write.
    for r in &mut readers {
        r.line("ready")?;
    }
    // Everybody is attached: the name is not needed any more. Removing it now means a run
    // ended by Ctrl-C or a kill (which skip the drop guard) leaves nothing in /dev/shm.
    ring.unlink()?;
    let mut producer = ring.producer()?;
    let mut pacer = Pacer::new(cfg)?;
    loop {
        let now = Instant::now();
        if cfg.progress && pacer.progress_due(now) {
            let secs = (now - pacer.start).as_secs_f64();
            progress(&format!(
                "[{secs:5.1}s] writes {} ({:.1}/s), readers are processes: lag at the end",
                pacer.writes,
                pacer.writes as f64 / secs.max(1e-9)
            ));
        }
        match pacer.step(now) {
            Step::Stop => break,
            Step::Sleep(d) => {
                std::thread::sleep(d);
                continue;
            }
            Step::Write => {}
        }
        let claim_start = Instant::now();
        let mut claim = producer.claim(1)?;
        let claimed = Instant::now();
        let seq = claim.range().start();
        if let Some(slot) = claim.get_mut(0) {
            write_slot(slot, cfg.slot_bytes, seq as u64, cfg.verify_writes)?;
        }
        claim.commit();
        pacer.wrote(claimed - claim_start, claimed.elapsed());
    }
    let elapsed = pacer.start.elapsed();
    let last = pacer.writes as i64 - 1;
    let inspection = ring.inspect();
    let end_lag = |index: usize| {
        let label = format!("reader-{index}");
        inspection
            .consumers
            .iter()
            .find(|c| c.name == label)
            .map_or(0, |c| (last - c.sequence).max(0) as u64)
    };
    // The end marker: an empty slot. Readers may still be burning CPU on a full ring.
    let drain = PATIENCE.max(cfg.reader_burn.saturating_mul(2 * cfg.slots as u32));
    let mut claim = producer.claim_timeout(1, drain)?;
    let seq = claim.range().start();
    if let Some(slot) = claim.get_mut(0) {
        write_slot(slot, 0, seq as u64, false)?;
    }
    claim.commit();
    let mut reports = Vec::with_capacity(cfg.readers);
    for (index, mut r) in readers.into_iter().enumerate() {
        let done = r.line("done")?;
        let mut fields = done.split_whitespace().skip(1).map(str::parse::<u64>);
        let mut next = || -> Result<u64, CliError> {
            fields
                .next()
                .and_then(Result::ok)
                .ok_or_else(|| CliError::Ipc(format!("perf reader {index}: bad report `{done}`")))
        };
        let (events, errors, max_lag) = (next()?, next()?, next()?);
        let status = r.child.wait()?;
        if !status.success() {
            return Err(CliError::Ipc(format!(
                "perf reader {index} exited with {status}"
            )));
        }
        reports.push(ReaderReport {
            index,
            events,
            errors,
            max_lag,
            end_lag: end_lag(index),
        });
    }
    Ok(pacer.report(cfg, elapsed, reports))
}

fn shm_wait(wait: Wait) -> seqflow_shm::WaitKind {
    match wait {
        Wait::BusySpin => seqflow_shm::WaitKind::BusySpin,
        Wait::Yielding => seqflow_shm::WaitKind::Yielding,
        Wait::Sleeping => seqflow_shm::WaitKind::Sleeping(Duration::from_micros(50)),
        Wait::Blocking => seqflow_shm::WaitKind::Futex,
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Flags of the hidden `seqflow perf-reader` command.
#[derive(Debug, Clone, clap::Args)]
pub struct PerfReaderArgs {
    /// The shared-memory ring to read.
    #[arg(long)]
    pub ring: String,
    /// This reader's index (its consumer is named `reader-INDEX`).
    #[arg(long)]
    pub index: usize,
    /// Bytes the writer puts in each slot.
    #[arg(long)]
    pub slot_bytes: usize,
    /// Check every byte of the pattern (else the sequence number only).
    #[arg(long)]
    pub verify: bool,
    /// CPU time to burn per slot, in milliseconds.
    #[arg(long, default_value_t = 0.0)]
    pub burn_ms: f64,
}

/// `seqflow perf-reader`: attach, say `ready`, read and check every slot until the empty end
/// slot, then say `done EVENTS ERRORS MAX_LAG`.
pub fn read_as_process(args: &PerfReaderArgs, out: &mut dyn Write) -> Result<(), CliError> {
    if args.slot_bytes > MAX_SLOT_BYTES {
        return Err(too_large(args.slot_bytes));
    }
    let burn_for = super::seconds("--burn-ms", args.burn_ms / 1e3)?;
    let ring = ShmRing::<DynByteSlot>::open(&args.ring, Duration::from_secs(10))?;
    let mut consumer = ring.consumer(&format!("reader-{}", args.index))?;
    writeln!(out, "ready")?;
    out.flush()?;
    let parent = std::os::unix::process::parent_id();
    let (mut events, mut errors, mut max_lag) = (0u64, 0u64, 0i64);
    let reader_error = |e: &dyn std::fmt::Display| CliError::Ipc(format!("perf reader: {e}"));
    'read: loop {
        let next = consumer.sequence() + 1;
        let hi = match consumer.wait_for(next, Some(Duration::from_secs(1))) {
            Ok(hi) => hi,
            Err(ConsumeError::Timeout) => {
                if std::os::unix::process::parent_id() != parent {
                    return Err(reader_error(&"the writer process is gone"));
                }
                continue;
            }
            Err(e) => return Err(reader_error(&e)),
        };
        for seq in next..=hi {
            let slot = consumer.get(seq).map_err(|e| reader_error(&e))?;
            if slot.is_empty() {
                consumer
                    .update_sequence(seq)
                    .map_err(|e| reader_error(&e))?;
                break 'read;
            }
            if slot.len() != args.slot_bytes
                || !check_slot(slot.as_bytes(), seq as u64, args.verify)
            {
                errors += 1;
            }
            burn(burn_for);
            events += 1;
            max_lag = max_lag.max(ring.published() - seq);
        }
        consumer.update_sequence(hi).map_err(|e| reader_error(&e))?;
    }
    writeln!(out, "done {events} {errors} {}", max_lag.max(0))?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_written_in_place_reads_back_through_the_public_api() {
        let name = format!("/seqflow-test-perf-slot-{}", std::process::id());
        let ring =
            ShmRing::<DynByteSlot>::create_bytes(&name, 2, 100, ShmOptions::default()).unwrap();
        let _cleanup = ring.unlink_on_drop();
        let mut producer = ring.producer().unwrap();
        let mut claim = producer.claim(1).unwrap();
        let slot = claim.get_mut(0).unwrap();
        write_slot(slot, 100, 7, true).unwrap();
        assert_eq!(slot.len(), 100);
        assert!(check_slot(slot.as_bytes(), 7, true));
        write_slot(slot, 0, 8, false).unwrap();
        assert!(slot.is_empty(), "the end marker");
        assert!(
            write_slot(slot, 105, 9, false).is_err(),
            "longer than the slot"
        );
    }
}
