//! The memcpy baseline of `seqflow perf`: how fast this machine copies one slot's worth of bytes,
//! measured in the same run, so that the writer's bytes/s can be read as a share of it.

use super::slot::filled;
use crate::CliError;
use serde::Serialize;
use std::time::{Duration, Instant};

/// The most destination bytes the baseline copies into (large slots copy into fewer buffers).
const DEST_BYTES: usize = 256 << 20;

/// What the baseline measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MemcpyBaseline {
    /// Bytes per copy (the slot size).
    pub bytes: usize,
    /// Destination buffers copied into in turn (as many as the ring has slots, within 256 MiB),
    /// so that the copies miss the caches as a ring's writes do.
    pub buffers: usize,
    /// Copies made.
    pub copies: u64,
    /// How long they took, in seconds.
    pub seconds: f64,
    /// Bytes copied per second.
    pub bytes_per_second: f64,
}

/// Copy `bytes` bytes from one buffer into `slots` (at most [`DEST_BYTES`] worth) others in
/// turn for about `budget` (at least one copy of each buffer), with `copy_from_slice` (memcpy).
///
/// ```ignore
/// let b = measure(4096, 8, Duration::from_millis(5))?;
/// assert!(b.copies >= 8 && b.bytes_per_second > 0.0);
/// ```
pub fn measure(bytes: usize, slots: usize, budget: Duration) -> Result<MemcpyBaseline, CliError> {
    let bytes = bytes.max(1);
    let buffers = slots.clamp(1, (DEST_BYTES / bytes).max(1));
    let what = "the memcpy baseline";
    let source = filled(bytes, 0x5A, what)?;
    // Non-zero, so every page is mapped before the clock starts.
    let mut dest = Vec::with_capacity(buffers);
    for _ in 0..buffers {
        dest.push(filled(bytes, 1, what)?);
    }
    // Copies between two looks at the clock: about 1 MiB worth.
    let step = ((1 << 20) / bytes).max(1) as u64;
    let start = Instant::now();
    let mut copies = 0u64;
    let mut next = 0usize;
    loop {
        for _ in 0..step {
            dest[next].copy_from_slice(std::hint::black_box(&source));
            std::hint::black_box(&mut dest[next]);
            next = (next + 1) % buffers;
            copies += 1;
        }
        if copies >= buffers as u64 && start.elapsed() >= budget {
            break;
        }
    }
    let seconds = start.elapsed().as_secs_f64().max(1e-9);
    Ok(MemcpyBaseline {
        bytes,
        buffers,
        copies,
        seconds,
        bytes_per_second: copies as f64 * bytes as f64 / seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_buffer_is_copied_at_least_once() {
        let b = measure(4096, 8, Duration::ZERO).unwrap();
        assert_eq!(b.buffers, 8);
        assert!(b.copies >= 8);
        assert!(b.bytes_per_second > 0.0);
    }

    #[test]
    fn large_slots_use_fewer_buffers() {
        assert_eq!(measure(64 << 20, 64, Duration::ZERO).unwrap().buffers, 4);
    }
}
