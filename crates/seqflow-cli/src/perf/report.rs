//! What `seqflow perf` reports, as text or JSON.

use super::memcpy::MemcpyBaseline;
use super::PerfConfig;
use serde::Serialize;
use std::fmt::Write;
use std::time::Duration;

/// The share of the writes due below which the writer is said to have fallen behind.
pub const KEPT_UP: f64 = 0.97;

/// The share of writes that may start more than one interval late while the writer still counts
/// as keeping pace (a few late starts are scheduler noise; more mean it caught up in bursts).
pub const LATE_LIMIT: f64 = 0.10;

/// A rate as written by hand: plain between 0.01 and a million, in scientific notation beyond.
fn rate(v: f64) -> String {
    if (0.01..1e6).contains(&v) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// One reader's numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReaderReport {
    /// The reader's index.
    pub index: usize,
    /// Slots it read.
    pub events: u64,
    /// Slots whose contents were wrong.
    pub errors: u64,
    /// The most slots it was behind the writer, sampled after every write.
    pub max_lag: u64,
    /// Slots it was behind when the writer stopped.
    pub end_lag: u64,
}

/// The result of a perf-test run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerfReport {
    /// Bytes per slot.
    pub slot_bytes: usize,
    /// Slots in the ring.
    pub slots: usize,
    /// Readers.
    pub readers_count: usize,
    /// CPU burned per event per reader, in milliseconds.
    pub reader_burn_ms: f64,
    /// Whether the pattern was written and checked.
    pub verify_writes: bool,
    /// The wait strategy.
    pub wait: String,
    /// The target write rate.
    pub target_writes_per_second: f64,
    /// How long the writer was asked to write, in seconds.
    pub duration_seconds: f64,
    /// Writes due in the run at the target rate.
    pub expected_writes: u64,
    /// Writes made.
    pub writes: u64,
    /// How long the writer ran, in seconds.
    pub elapsed_seconds: f64,
    /// Writes per second achieved.
    pub achieved_writes_per_second: f64,
    /// Bytes written per second.
    pub bytes_per_second: f64,
    /// Whether the writer made fewer than [`KEPT_UP`] of the writes due.
    pub fell_behind: bool,
    /// Whether at most [`LATE_LIMIT`] of the writes started more than one interval late. A writer
    /// can make every write due and still not keep pace, by catching up in bursts.
    pub kept_pace: bool,
    /// Why, if it did.
    pub cause: Option<String>,
    /// Writes started more than one interval late.
    pub late_writes: u64,
    /// The latest a write started, in milliseconds.
    pub max_lateness_ms: f64,
    /// Time the writer waited for free slots (the slowest reader), in seconds.
    pub waited_for_readers_seconds: f64,
    /// Time the writer spent filling slots, in seconds.
    pub writing_seconds: f64,
    /// Every reader.
    pub readers: Vec<ReaderReport>,
    /// Whether the writer ran unpaced (`--writes-per-second max`): as fast as the readers allow.
    pub unpaced: bool,
    /// Whether the readers ran as separate processes over a shared-memory ring.
    pub reader_processes: bool,
    /// The memcpy baseline measured in the same run (same slot size).
    pub memcpy: Option<MemcpyBaseline>,
    /// The writer's bytes/s divided by the baseline's (1.0: as fast as copying the slot).
    pub memcpy_ratio: Option<f64>,
}

impl PerfReport {
    /// Assemble a report from the run's measurements.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        cfg: &PerfConfig,
        writes: u64,
        elapsed: Duration,
        late_writes: u64,
        max_lateness: Duration,
        waited: Duration,
        writing: Duration,
        readers: Vec<ReaderReport>,
    ) -> PerfReport {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let unpaced = !cfg.writes_per_second.is_finite();
        // Unpaced, every write made was the one due.
        let expected_writes = if unpaced {
            writes.max(1)
        } else {
            ((cfg.duration.as_secs_f64() * cfg.writes_per_second).ceil() as u64).max(1)
        };
        let short = (writes as f64) < KEPT_UP * expected_writes as f64;
        let late = late_writes as f64 > LATE_LIMIT * writes.max(1) as f64;
        let why = if waited.as_secs_f64() > 0.1 * secs {
            format!(
                "the readers cannot keep up: the writer waited {:.2} s for free slots (the ring \
                 was full)",
                waited.as_secs_f64()
            )
        } else if cfg.readers + 1 > seqflow_bench::wait::available_cores() {
            format!(
                "the writer competes for the CPU: {} reader thread(s) and the writer share {} \
                 CPU(s); filling slots took {:.2} s and waiting for free slots {:.2} s",
                cfg.readers,
                seqflow_bench::wait::available_cores(),
                writing.as_secs_f64(),
                waited.as_secs_f64()
            )
        } else {
            format!(
                "writing is too slow: filling {} slots of {} bytes took {:.2} s (memory bandwidth \
                 or CPU), and the writer waited only {:.2} s for readers",
                writes,
                cfg.slot_bytes,
                writing.as_secs_f64(),
                waited.as_secs_f64()
            )
        };
        let cause = if short {
            Some(why)
        } else if late {
            Some(format!(
                "{late_writes} of {writes} writes started more than one interval late (the \
                 total was reached only by catching up in bursts); {why}"
            ))
        } else {
            None
        };
        PerfReport {
            slot_bytes: cfg.slot_bytes,
            slots: cfg.slots,
            readers_count: cfg.readers,
            reader_burn_ms: cfg.reader_burn.as_secs_f64() * 1e3,
            verify_writes: cfg.verify_writes,
            wait: cfg.wait.name().to_owned(),
            target_writes_per_second: cfg.writes_per_second,
            duration_seconds: cfg.duration.as_secs_f64(),
            expected_writes,
            writes,
            elapsed_seconds: secs,
            achieved_writes_per_second: writes as f64 / secs,
            bytes_per_second: (writes as f64 * cfg.slot_bytes as f64) / secs,
            fell_behind: short,
            kept_pace: !late,
            cause,
            late_writes,
            max_lateness_ms: max_lateness.as_secs_f64() * 1e3,
            waited_for_readers_seconds: waited.as_secs_f64(),
            writing_seconds: writing.as_secs_f64(),
            readers,
            unpaced,
            reader_processes: cfg.reader_processes,
            memcpy: None,
            memcpy_ratio: None,
        }
    }

    /// Record the memcpy baseline and the writer's share of it.
    pub(crate) fn set_baseline(&mut self, baseline: MemcpyBaseline) {
        self.memcpy_ratio =
            Some(self.bytes_per_second / baseline.bytes_per_second.max(f64::MIN_POSITIVE));
        self.memcpy = Some(baseline);
    }

    /// Verification errors over every reader, and readers that missed slots.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.readers {
            if r.errors > 0 {
                out.push(format!("reader {} found {} bad slot(s)", r.index, r.errors));
            }
            if r.events != self.writes {
                out.push(format!(
                    "reader {} read {} slot(s) of {} written",
                    r.index, r.events, self.writes
                ));
            }
        }
        out
    }

    /// The human-readable report.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "seqflow perf: {} reader {}, {} slots × {} bytes, target {} writes/s for {:.1} s, \
             verify {}, reader burn {} ms/event, wait {}",
            self.readers_count,
            if self.reader_processes {
                "process(es) over a shared-memory ring"
            } else {
                "thread(s)"
            },
            self.slots,
            self.slot_bytes,
            if self.unpaced {
                "max (unpaced)".to_owned()
            } else {
                rate(self.target_writes_per_second)
            },
            self.duration_seconds,
            if self.verify_writes { "on" } else { "off" },
            self.reader_burn_ms,
            self.wait
        );
        let share = self.writes as f64 / self.expected_writes as f64;
        let _ = writeln!(
            out,
            "writer: {} writes in {:.2} s = {:.2} writes/s (target {}: {:.1}% of the writes due), \
             {:.1} MB/s",
            self.writes,
            self.elapsed_seconds,
            self.achieved_writes_per_second,
            if self.unpaced {
                "max".to_owned()
            } else {
                rate(self.target_writes_per_second)
            },
            100.0 * share,
            self.bytes_per_second / 1e6
        );
        match (&self.cause, self.fell_behind) {
            (Some(cause), true) => {
                let _ = writeln!(out, "writer FELL BEHIND its target: {cause}");
            }
            (Some(cause), false) => {
                let _ = writeln!(out, "writer did NOT KEEP PACE with its target: {cause}");
            }
            (None, _) if self.unpaced => {
                let _ = writeln!(out, "writer ran unpaced: as fast as the readers allow");
            }
            (None, _) => {
                let _ = writeln!(out, "writer kept up with its target");
            }
        }
        if let (Some(m), Some(r)) = (&self.memcpy, self.memcpy_ratio) {
            let _ = writeln!(
                out,
                "memcpy of one {}-byte slot in this run: {:.1} MB/s ({} copies into {} buffers); \
                 writer/memcpy = {r:.2}x",
                m.bytes,
                m.bytes_per_second / 1e6,
                m.copies,
                m.buffers
            );
        }
        let _ = writeln!(
            out,
            "late writes (> 1 interval): {}, latest start {:.2} ms late; waited for free slots \
             {:.3} s; filling slots took {:.3} s",
            self.late_writes,
            self.max_lateness_ms,
            self.waited_for_readers_seconds,
            self.writing_seconds
        );
        let _ = writeln!(
            out,
            "{:>6} {:>10} {:>8} {:>8} {:>8}",
            "reader", "slots", "errors", "max lag", "end lag"
        );
        for r in &self.readers {
            let _ = writeln!(
                out,
                "{:>6} {:>10} {:>8} {:>8} {:>8}",
                r.index, r.events, r.errors, r.max_lag, r.end_lag
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(writes: u64, late_writes: u64, waited: Duration) -> PerfReport {
        let cfg = PerfConfig {
            duration: Duration::from_secs(3),
            writes_per_second: 24.0,
            readers: 100,
            ..PerfConfig::default()
        };
        PerfReport::new(
            &cfg,
            writes,
            Duration::from_secs(3),
            late_writes,
            Duration::from_millis(500),
            waited,
            Duration::from_millis(100),
            Vec::new(),
        )
    }

    #[test]
    fn on_time_is_keeping_up() {
        let r = report(72, 0, Duration::ZERO);
        assert!(!r.fell_behind && r.kept_pace);
        assert!(r.render().contains("kept up"));
    }

    #[test]
    fn catching_up_in_bursts_is_not_keeping_up() {
        let r = report(72, 65, Duration::ZERO);
        assert!(!r.fell_behind, "every write made");
        assert!(!r.kept_pace, "but 65 of 72 late");
        let text = r.render();
        assert!(!text.contains("kept up"), "{text}");
        assert!(
            text.contains("65 of 72 writes started more than one interval late"),
            "{text}"
        );
    }

    #[test]
    fn too_few_writes_is_falling_behind() {
        let r = report(40, 0, Duration::from_secs(2));
        assert!(r.fell_behind);
        assert!(r.cause.unwrap().contains("readers cannot keep up"));
    }
}
