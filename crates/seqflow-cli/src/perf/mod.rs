//! `seqflow perf`: the ring perf-test tool: one writer publishing byte slots at a target rate,
//! several readers that may verify every byte and burn CPU per slot; reports the achieved write
//! rate against the target, late writes, each reader's lag, and whether (and why) the writer
//! fell behind.

mod memcpy;
mod process;
mod report;
mod run;
mod slot;

pub use process::{read_as_process, PerfReaderArgs};
pub use run::run;

use crate::ArgError;
use seqflow_bench::wait::{available_cores, Wait};
use std::time::Duration;

/// The largest ring `seqflow perf` allocates (slots × slot bytes).
pub const MAX_RING_BYTES: u128 = 16 << 30;

/// The ring size for `--slots requested`: the next power of two (rings find a slot by masking
/// the sequence).
pub fn ring_slots(requested: usize) -> Result<usize, ArgError> {
    requested
        .max(1)
        .checked_next_power_of_two()
        .ok_or_else(|| ArgError::OutOfRange {
            flag: "--slots",
            value: requested.to_string(),
            reason: "has no power of two above it that fits in memory".into(),
        })
}

/// `secs` seconds as a [`Duration`], or an error naming `flag`.
pub fn seconds(flag: &'static str, secs: f64) -> Result<Duration, ArgError> {
    Duration::try_from_secs_f64(secs).map_err(|e| ArgError::OutOfRange {
        flag,
        value: secs.to_string(),
        reason: e.to_string(),
    })
}

/// A perf-test configuration; [`validate`](Self::validate) checks it.
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
    pub wait: Wait,
    /// Print a progress line every second on stderr.
    pub progress: bool,
    /// Run the readers as separate processes over a shared-memory ring of byte slots.
    pub reader_processes: bool,
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
            wait: Wait::Blocking,
            progress: false,
            reader_processes: false,
        }
    }
}

impl PerfConfig {
    /// Check the knobs (the command line's parsers check each flag alone; this also covers
    /// configurations built in code); the error names the flag at fault.
    pub fn validate(&self) -> Result<(), ArgError> {
        let out_of_range = |flag: &'static str, value: String, reason: &str| {
            Err(ArgError::OutOfRange {
                flag,
                value,
                reason: reason.to_owned(),
            })
        };
        if self.slot_bytes < 8 {
            return out_of_range(
                "--slot-bytes",
                self.slot_bytes.to_string(),
                "must be at least 8 (a slot starts with its sequence number)",
            );
        }
        if !self.slots.is_power_of_two() {
            return out_of_range(
                "--slots",
                self.slots.to_string(),
                "the ring's size must be a power of two",
            );
        }
        let bytes = self.slots as u128 * self.slot_bytes as u128;
        if bytes > MAX_RING_BYTES {
            return Err(ArgError::RingTooLarge {
                slots: self.slots,
                slot_bytes: self.slot_bytes,
                bytes,
                limit: MAX_RING_BYTES,
            });
        }
        if self.duration.is_zero() {
            return out_of_range("--duration-seconds", "0".into(), "must be greater than 0");
        }
        // Infinity is the unpaced writer (`--writes-per-second max`).
        if self.writes_per_second.is_nan() || self.writes_per_second <= 0.0 {
            return out_of_range(
                "--writes-per-second",
                self.writes_per_second.to_string(),
                "must be a number greater than 0, or max",
            );
        }
        if self.reader_processes && self.slot_bytes > process::MAX_SLOT_BYTES {
            return out_of_range(
                "--slot-bytes",
                self.slot_bytes.to_string(),
                "with --reader-processes must be at most 268435456 (the largest shared-memory \
                 slot)",
            );
        }
        if !(1..=1024).contains(&self.readers) {
            return out_of_range("--readers", self.readers.to_string(), "must be 1 to 1024");
        }
        let threads = self.readers + 1;
        if self.wait == Wait::BusySpin && threads > available_cores() {
            return Err(ArgError::BusySpinOversubscribed {
                threads,
                cpus: available_cores(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_counts_round_up_to_a_power_of_two() {
        assert_eq!(ring_slots(50), Ok(64));
        assert_eq!(ring_slots(10), Ok(16));
        assert_eq!(ring_slots(3), Ok(4));
        assert_eq!(ring_slots(64), Ok(64));
        assert_eq!(ring_slots(1), Ok(1));
        assert!(ring_slots(usize::MAX).is_err());
    }

    #[test]
    fn validate_names_the_flag_at_fault() {
        let cfg = PerfConfig::default();
        assert_eq!(cfg.validate(), Ok(()));
        let flag_of = |c: PerfConfig| match c.validate() {
            Err(ArgError::OutOfRange { flag, .. }) => flag,
            other => panic!("expected OutOfRange, got {other:?}"),
        };
        assert_eq!(
            flag_of(PerfConfig {
                slots: 50,
                ..cfg.clone()
            }),
            "--slots"
        );
        assert_eq!(
            flag_of(PerfConfig {
                slot_bytes: 4,
                ..cfg.clone()
            }),
            "--slot-bytes"
        );
        assert_eq!(
            flag_of(PerfConfig {
                readers: 0,
                ..cfg.clone()
            }),
            "--readers"
        );
        assert_eq!(
            flag_of(PerfConfig {
                writes_per_second: f64::NAN,
                ..cfg.clone()
            }),
            "--writes-per-second"
        );
        assert!(matches!(
            PerfConfig {
                slots: 1 << 20,
                ..cfg
            }
            .validate(),
            Err(ArgError::RingTooLarge { .. })
        ));
    }

    #[test]
    fn seconds_refuses_what_a_duration_cannot_hold() {
        assert_eq!(seconds("--x", 1.5), Ok(Duration::from_millis(1500)));
        assert!(seconds("--x", -1.0).is_err());
        assert!(seconds("--x", 1e300).is_err());
    }
}
