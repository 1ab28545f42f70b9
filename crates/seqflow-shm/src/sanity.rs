//! Plausibility checks on sequence words read from the segment.
//!
//! The sequencing hot paths do unchecked arithmetic on sequences (`claimed + n`,
//! `next - capacity`). Sequences only grow from -1 by one per event, so any value outside
//! `-1..=2^62` (over a century at a billion events per second) can only come from corrupt or
//! foreign memory; producers and consumers refuse to attach to such a segment instead of
//! overflowing later.

use crate::ShmError;

/// The largest sequence a real ring can reach.
pub(crate) const MAX_PLAUSIBLE_SEQUENCE: i64 = 1 << 62;

/// `value` if it is a plausible sequence, else [`ShmError::CorruptHeader`] naming `field`.
pub(crate) fn check_sequence(name: &str, field: &'static str, value: i64) -> Result<i64, ShmError> {
    if (-1..=MAX_PLAUSIBLE_SEQUENCE).contains(&value) {
        Ok(value)
    } else {
        Err(ShmError::CorruptHeader {
            name: name.to_owned(),
            field,
            found: value as u64,
        })
    }
}
