//! The perf-test run: a writer on the calling thread paced to its target rate, one stage per
//! reader, lag sampled after every write.

use super::report::{PerfReport, ReaderReport};
use super::slot::{check_slot, fill_slot};
use super::{memcpy, PerfConfig};
use crate::{ArgError, CliError};
use seqflow_bench::wait::Wait;
use seqflow_pipeline::{Disruptor, EventHandler};
use seqflow_sequence::{BlockingWait, BusySpinWait, SleepingWait, WaitStrategy, YieldingWait};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest the writer sleeps at once, so progress lines stay on time at low rates.
pub(crate) const MAX_NAP: Duration = Duration::from_millis(100);

/// What a reader publishes about itself, on its own cache lines so the writer's lag samples do
/// not slow the other readers.
#[repr(align(128))]
#[derive(Default)]
struct ReaderStats {
    events: AtomicU64,
    errors: AtomicU64,
    /// The last sequence handled. Written by the reader only; `Relaxed` is enough since it is a
    /// statistic, not a synchronisation point.
    last: AtomicI64,
}

struct Reader {
    stats: Arc<ReaderStats>,
    verify: bool,
    burn: Duration,
}

impl EventHandler<Box<[u8]>> for Reader {
    fn on_event(&mut self, slot: &Box<[u8]>, seq: i64, _end_of_batch: bool) {
        if !check_slot(slot, seq as u64, self.verify) {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
        }
        burn(self.burn);
        self.stats.events.fetch_add(1, Ordering::Relaxed);
        self.stats.last.store(seq, Ordering::Relaxed);
    }
}

/// Keep this CPU busy for `d`.
pub(crate) fn burn(d: Duration) {
    if d.is_zero() {
        return;
    }
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Run the perf test described by `cfg`; `progress` receives a line every second when
/// `cfg.progress` is set.
pub fn run(cfg: &PerfConfig, progress: &mut dyn FnMut(&str)) -> Result<PerfReport, CliError> {
    cfg.validate()?;
    // The baseline first, while no reader runs: the same slot size, as many buffers as slots.
    let budget = Duration::from_millis(250).min(cfg.duration);
    let baseline = memcpy::measure(cfg.slot_bytes, cfg.slots, budget)?;
    let mut report = if cfg.reader_processes {
        super::process::run(cfg, progress)?
    } else {
        run_threads(cfg, progress)?
    };
    report.set_baseline(baseline);
    Ok(report)
}

fn run_threads(cfg: &PerfConfig, progress: &mut dyn FnMut(&str)) -> Result<PerfReport, CliError> {
    match cfg.wait {
        Wait::BusySpin => run_with::<BusySpinWait>(cfg, progress),
        Wait::Yielding => run_with::<YieldingWait>(cfg, progress),
        Wait::Sleeping => run_with::<SleepingWait>(cfg, progress),
        Wait::Blocking => run_with::<BlockingWait>(cfg, progress),
    }
}

fn run_with<W: WaitStrategy + Default>(
    cfg: &PerfConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<PerfReport, CliError> {
    let slot_bytes = cfg.slot_bytes;
    // Every slot is allocated here, fallibly (the factory cannot fail), with a non-zero filler
    // that touches every page now, so that the writer's first lap does not pay the page faults
    // of lazily mapped zero pages. The factory hands them out, one per slot.
    let mut slots = Vec::new();
    slots
        .try_reserve_exact(cfg.slots)
        .map_err(|_| CliError::OutOfMemory {
            what: "the ring's slot table",
            bytes: cfg.slots.saturating_mul(std::mem::size_of::<Box<[u8]>>()),
        })?;
    for _ in 0..cfg.slots {
        slots.push(super::slot::filled(slot_bytes, 0xA5, "a ring slot")?.into_boxed_slice());
    }
    let slots = std::sync::Mutex::new(slots);
    let mut builder = Disruptor::builder(cfg.slots, move || {
        let spare = slots.lock().ok().and_then(|mut s| s.pop());
        spare.unwrap_or_else(|| vec![0xA5u8; slot_bytes].into_boxed_slice())
    })
    .wait_strategy(W::default())
    .max_consumers(cfg.readers)
    .single_producer()?;
    let stats: Vec<Arc<ReaderStats>> = (0..cfg.readers)
        .map(|_| Arc::new(ReaderStats::default()))
        .collect();
    for (i, s) in stats.iter().enumerate() {
        s.last.store(-1, Ordering::Relaxed);
        builder
            .handle_events_with(Reader {
                stats: Arc::clone(s),
                verify: cfg.verify_writes,
                burn: cfg.reader_burn,
            })
            .named(&format!("reader-{i}"));
    }
    let (disruptor, mut producer) = builder.start()?;

    let mut pacer = Pacer::new(cfg)?;
    let mut max_lag = vec![0i64; cfg.readers];
    loop {
        let now = Instant::now();
        if cfg.progress && pacer.progress_due(now) {
            progress(&progress_line(
                now - pacer.start,
                pacer.writes,
                &max_lag,
                &stats,
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
        let mut guard = producer.claim(1)?;
        let claimed = Instant::now();
        let seq = guard.range().start();
        if let Some(slot) = guard.get_mut(0) {
            fill_slot(slot, seq as u64, cfg.verify_writes);
        }
        guard.commit();
        pacer.wrote(claimed - claim_start, claimed.elapsed());
        for (lag, s) in max_lag.iter_mut().zip(&stats) {
            *lag = (*lag).max(seq - s.last.load(Ordering::Relaxed));
        }
    }
    let start = pacer.start;
    let writes = pacer.writes;
    let elapsed = start.elapsed();
    let last = writes as i64 - 1;
    let end_lag: Vec<i64> = stats
        .iter()
        .map(|s| (last - s.last.load(Ordering::Relaxed)).max(0))
        .collect();
    drop(producer);
    // Let the readers finish what is in the ring (at most `slots` events each).
    let drain = Duration::from_secs(10).max(cfg.reader_burn.saturating_mul(2 * cfg.slots as u32));
    disruptor.shutdown_timeout(drain)?;

    let readers = stats
        .iter()
        .enumerate()
        .map(|(index, s)| ReaderReport {
            index,
            events: s.events.load(Ordering::Relaxed),
            errors: s.errors.load(Ordering::Relaxed),
            max_lag: max_lag[index].max(0) as u64,
            end_lag: end_lag[index] as u64,
        })
        .collect();
    Ok(pacer.report(cfg, elapsed, readers))
}

/// What the writer does next.
pub(crate) enum Step {
    /// Write now.
    Write,
    /// Nothing is due yet: sleep this long, then ask again.
    Sleep(Duration),
    /// The run is over.
    Stop,
}

/// The writer's schedule: write `n` is due `n / rate` after the start (all at once when
/// unpaced); counts late writes, time spent waiting for free slots and filling them.
pub(crate) struct Pacer {
    /// When the writer started.
    pub start: Instant,
    end: Instant,
    /// Writes made.
    pub writes: u64,
    rate: f64,
    duration: Duration,
    interval: Duration,
    late_writes: u64,
    max_lateness: Duration,
    waited: Duration,
    writing: Duration,
    next_progress: Instant,
}

impl Pacer {
    /// Start the clock for `cfg`.
    pub fn new(cfg: &PerfConfig) -> Result<Pacer, ArgError> {
        let start = Instant::now();
        let end = start
            .checked_add(cfg.duration)
            .ok_or_else(|| ArgError::OutOfRange {
                flag: "--duration-seconds",
                value: cfg.duration.as_secs_f64().to_string(),
                reason: "too long for this system's clock".into(),
            })?;
        // In checked arithmetic: a rate of 1e-300 writes/s is valid and means one write at the
        // start; an infinite one (unpaced) means no interval at all.
        let interval =
            Duration::try_from_secs_f64(1.0 / cfg.writes_per_second).unwrap_or(Duration::MAX);
        Ok(Pacer {
            start,
            end,
            writes: 0,
            rate: cfg.writes_per_second,
            duration: cfg.duration,
            interval,
            late_writes: 0,
            max_lateness: Duration::ZERO,
            waited: Duration::ZERO,
            writing: Duration::ZERO,
            next_progress: start + Duration::from_secs(1),
        })
    }

    /// Whether a progress line is due (once a second).
    pub fn progress_due(&mut self, now: Instant) -> bool {
        if now >= self.next_progress {
            self.next_progress += Duration::from_secs(1);
            true
        } else {
            false
        }
    }

    /// What to do at `now`.
    pub fn step(&mut self, now: Instant) -> Step {
        if now >= self.end {
            return Step::Stop;
        }
        if !self.rate.is_finite() {
            return Step::Write;
        }
        let due_offset =
            Duration::try_from_secs_f64(self.writes as f64 / self.rate).unwrap_or(Duration::MAX);
        if due_offset >= self.duration {
            // Nothing more is due before the end: wait it out (for the progress lines).
            return Step::Sleep((self.end - now).min(MAX_NAP));
        }
        let due = self.start + due_offset;
        if now < due {
            return Step::Sleep((due - now).min(MAX_NAP));
        }
        let lateness = now - due;
        if lateness > self.interval {
            self.late_writes += 1;
        }
        self.max_lateness = self.max_lateness.max(lateness);
        Step::Write
    }

    /// One write made: `waited` for a free slot, then `writing` to fill and publish it.
    pub fn wrote(&mut self, waited: Duration, writing: Duration) {
        self.waited += waited;
        self.writing += writing;
        self.writes += 1;
    }

    /// The report of the run.
    pub fn report(
        &self,
        cfg: &PerfConfig,
        elapsed: Duration,
        readers: Vec<ReaderReport>,
    ) -> PerfReport {
        PerfReport::new(
            cfg,
            self.writes,
            elapsed,
            self.late_writes,
            self.max_lateness,
            self.waited,
            self.writing,
            readers,
        )
    }
}

fn progress_line(at: Duration, writes: u64, max_lag: &[i64], stats: &[Arc<ReaderStats>]) -> String {
    let secs = at.as_secs_f64();
    let errors: u64 = stats.iter().map(|s| s.errors.load(Ordering::Relaxed)).sum();
    let slowest = stats
        .iter()
        .map(|s| s.events.load(Ordering::Relaxed))
        .min()
        .unwrap_or(0);
    format!(
        "[{secs:5.1}s] writes {writes} ({:.1}/s), slowest reader at {slowest}, max lag {}, \
         verify errors {errors}",
        writes as f64 / secs.max(1e-9),
        max_lag.iter().copied().max().unwrap_or(0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(writes_per_second: f64, readers: usize) -> PerfConfig {
        PerfConfig {
            slot_bytes: 64,
            slots: 8,
            duration: Duration::from_millis(50),
            writes_per_second,
            readers,
            wait: Wait::Yielding,
            ..PerfConfig::default()
        }
    }

    #[test]
    fn every_reader_sees_every_write() {
        let report = run(&tiny(1000.0, 2), &mut |_| {}).unwrap();
        assert!(report.writes > 0);
        assert!(report.problems().is_empty(), "{:?}", report.problems());
        assert!(report.render().contains("writes/s"));
    }

    #[test]
    fn a_vanishing_rate_makes_one_write() {
        let report = run(&tiny(1e-300, 1), &mut |_| {}).unwrap();
        assert_eq!(report.writes, 1);
        assert_eq!(report.expected_writes, 1);
        assert!(report.problems().is_empty(), "{:?}", report.problems());
    }
}
