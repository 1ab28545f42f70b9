//! `seqflow perf`: the ring perf-test tool (after the multi-reader ring buffer's
//! `perf_test_ringbuffer.py`): one writer publishing byte slots at a target rate, several readers
//! that may verify every byte and burn CPU per event; reports the achieved write rate against the
//! target, each reader's lag, and whether (and why) the writer fell behind.

mod report;
mod run;
mod slot;

pub use report::{PerfReport, ReaderReport, KEPT_UP};
pub use run::run;
pub use slot::{check_slot, fill_slot};

use crate::wait::WaitKind;
use std::time::Duration;

/// The largest ring `seqflow perf` allocates (slots × slot bytes).
pub const MAX_RING_BYTES: u128 = 16 << 30;

/// A validated perf-test configuration.
///
/// ```
/// use seqflow_cli::perf::PerfConfig;
/// let cfg = PerfConfig::default();
/// assert!(cfg.validate().is_ok());
/// assert!(PerfConfig { slots: 50, ..cfg.clone() }.validate().unwrap_err().contains("power of two"));
/// assert!(PerfConfig { slots: 0, ..cfg }.validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PerfConfig {
    /// Bytes per slot (at least 8: a slot starts with its sequence number).
    pub slot_bytes: usize,
    /// Slots in the ring (a power of two).
    pub slots: usize,
    /// How long the writer writes.
    pub duration: Duration,
    /// The writer's target rate.
    pub writes_per_second: f64,
    /// Reader threads (each sees every slot).
    pub readers: usize,
    /// CPU each reader burns per event.
    pub reader_burn: Duration,
    /// The writer fills a pattern and the readers check every byte of it.
    pub verify_writes: bool,
    /// How readers wait for slots and the writer for free ones.
    pub wait: WaitKind,
    /// Print a progress line every second on stderr.
    pub progress: bool,
}

impl Default for PerfConfig {
    fn default() -> Self {
        PerfConfig {
            slot_bytes: 1_000_000,
            slots: 64,
            duration: Duration::from_secs(10),
            writes_per_second: 24.0,
            readers: 5,
            reader_burn: Duration::ZERO,
            verify_writes: true,
            wait: WaitKind::Blocking,
            progress: false,
        }
    }
}

impl PerfConfig {
    /// Check the knobs; the message names the flag at fault.
    pub fn validate(&self) -> Result<(), String> {
        if self.slot_bytes < 8 {
            return Err(format!(
                "--slot-bytes must be at least 8 (a slot starts with its sequence number), got {}",
                self.slot_bytes
            ));
        }
        if self.slots == 0 || !self.slots.is_power_of_two() {
            return Err(format!(
                "--slots must be a power of two greater than 0 (seqflow rings index by masking), \
                 got {}; try {}",
                self.slots,
                self.slots.max(1).next_power_of_two()
            ));
        }
        let bytes = self.slots as u128 * self.slot_bytes as u128;
        if bytes > MAX_RING_BYTES {
            return Err(format!(
                "the ring would take {bytes} bytes (--slots × --slot-bytes); the limit is {MAX_RING_BYTES}"
            ));
        }
        if self.duration.is_zero() {
            return Err("--duration-seconds must be greater than 0".into());
        }
        if !(self.writes_per_second.is_finite() && self.writes_per_second > 0.0) {
            return Err(format!(
                "--writes-per-second must be a positive number, got {}",
                self.writes_per_second
            ));
        }
        if self.readers == 0 {
            return Err("--readers must be at least 1".into());
        }
        if self.readers > 1024 {
            return Err(format!(
                "--readers must be at most 1024, got {}",
                self.readers
            ));
        }
        let threads = self.readers + 1;
        if self.wait == WaitKind::BusySpin && threads > crate::wait::available_cores() {
            return Err(format!(
                "--wait busy-spin with {threads} threads on {} CPU(s) would collapse; use \
                 yielding, sleeping or blocking",
                crate::wait::available_cores()
            ));
        }
        Ok(())
    }
}
