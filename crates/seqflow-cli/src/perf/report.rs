//! What `seqflow perf` reports, as text or JSON.

use super::PerfConfig;
use serde::Serialize;
use std::fmt::Write;
use std::time::Duration;

/// The share of its target rate below which the writer is said to have fallen behind.
pub const KEPT_UP: f64 = 0.97;

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
        let expected_writes =
            ((cfg.duration.as_secs_f64() * cfg.writes_per_second).ceil() as u64).max(1);
        let fell_behind = (writes as f64) < KEPT_UP * expected_writes as f64;
        let cause = fell_behind.then(|| {
            if waited.as_secs_f64() > 0.1 * secs {
                format!(
                    "the readers cannot keep up: the writer waited {:.2} s for free slots (the \
                     ring was full)",
                    waited.as_secs_f64()
                )
            } else {
                format!(
                    "writing is too slow: filling {} slots of {} bytes took {:.2} s (memory \
                     bandwidth or CPU), and the writer waited only {:.2} s for readers",
                    writes,
                    cfg.slot_bytes,
                    writing.as_secs_f64(),
                    waited.as_secs_f64()
                )
            }
        });
        PerfReport {
            slot_bytes: cfg.slot_bytes,
            slots: cfg.slots,
            readers_count: cfg.readers,
            reader_burn_ms: cfg.reader_burn.as_secs_f64() * 1e3,
            verify_writes: cfg.verify_writes,
            wait: cfg.wait.name().to_owned(),
            target_writes_per_second: cfg.writes_per_second,
            expected_writes,
            writes,
            elapsed_seconds: secs,
            achieved_writes_per_second: writes as f64 / secs,
            bytes_per_second: (writes as f64 * cfg.slot_bytes as f64) / secs,
            fell_behind,
            cause,
            late_writes,
            max_lateness_ms: max_lateness.as_secs_f64() * 1e3,
            waited_for_readers_seconds: waited.as_secs_f64(),
            writing_seconds: writing.as_secs_f64(),
            readers,
        }
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
    ///
    /// ```
    /// use seqflow_cli::perf::{run, PerfConfig};
    /// use std::time::Duration;
    /// let cfg = PerfConfig { slot_bytes: 64, slots: 4, duration: Duration::from_millis(30),
    ///     writes_per_second: 200.0, readers: 1, ..PerfConfig::default() };
    /// let text = run(&cfg, &mut |_| {}).unwrap().render();
    /// assert!(text.contains("writes/s"));
    /// ```
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "seqflow perf: {} reader(s), {} slots × {} bytes, target {} writes/s for {:.1} s, \
             verify {}, reader burn {} ms/event, wait {}",
            self.readers_count,
            self.slots,
            self.slot_bytes,
            self.target_writes_per_second,
            self.expected_writes as f64 / self.target_writes_per_second,
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
            self.target_writes_per_second,
            100.0 * share,
            self.bytes_per_second / 1e6
        );
        match &self.cause {
            Some(cause) => {
                let _ = writeln!(out, "writer FELL BEHIND its target: {cause}");
            }
            None => {
                let _ = writeln!(out, "writer kept up with its target");
            }
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
