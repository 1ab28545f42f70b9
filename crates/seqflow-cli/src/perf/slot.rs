//! The contents of a perf-test slot: the sequence number, then a pattern or filler.

use crate::CliError;

/// `len` bytes of `byte`, or [`CliError::OutOfMemory`] instead of the abort an infallible
/// allocation ends in. A non-zero `byte` maps every page now.
pub fn filled(len: usize, byte: u8, what: &'static str) -> Result<Vec<u8>, CliError> {
    let mut buffer = Vec::new();
    buffer
        .try_reserve_exact(len)
        .map_err(|_| CliError::OutOfMemory { what, bytes: len })?;
    buffer.resize(len, byte);
    Ok(buffer)
}

/// The word at position `k` of the pattern of slot `seq`.
#[inline]
fn pattern(seq: u64, k: usize) -> u64 {
    seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (k as u64)
}

/// Write slot `seq`: its sequence number (8 bytes, little endian), then, with `verify`, a pattern
/// that depends on `seq` and the position, or else the low byte of `seq` repeated. The whole slot
/// is written either way.
pub fn fill_slot(slot: &mut [u8], seq: u64, verify: bool) {
    let (head, body) = slot.split_at_mut(8.min(slot.len()));
    head.copy_from_slice(&seq.to_le_bytes()[..head.len()]);
    if verify {
        let k = body.len() / 8;
        let mut words = body.chunks_exact_mut(8);
        for (k, chunk) in (&mut words).enumerate() {
            chunk.copy_from_slice(&pattern(seq, k).to_le_bytes());
        }
        let tail = words.into_remainder();
        let last = pattern(seq, k).to_le_bytes();
        tail.copy_from_slice(&last[..tail.len()]);
    } else {
        body.fill(seq as u8);
    }
}

/// Whether slot `seq` holds what [`fill_slot`] wrote: the sequence number always, every byte of
/// the pattern with `verify`.
pub fn check_slot(slot: &[u8], seq: u64, verify: bool) -> bool {
    if slot.len() < 8 || slot[..8] != seq.to_le_bytes() {
        return false;
    }
    if !verify {
        return true;
    }
    let body = &slot[8..];
    let words = body.chunks_exact(8);
    let tail = words.remainder();
    let k_tail = (body.len() - tail.len()) / 8;
    // The differences of a block of words are or-ed together and tested once per block, not
    // word by word: a loop without an exit in it is one the compiler vectorizes, and the
    // reader keeps up with a writer filling 1 MiB slots.
    const BLOCK: usize = 512;
    let mut k = 0;
    for block in body[..k_tail * 8].chunks(BLOCK * 8) {
        let differs = block.chunks_exact(8).fold(0u64, |acc, chunk| {
            let word = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
            let differs = acc | (word ^ pattern(seq, k));
            k += 1;
            differs
        });
        if differs != 0 {
            return false;
        }
    }
    tail == &pattern(seq, k_tail).to_le_bytes()[..tail.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filled_slot_checks_and_a_flipped_bit_does_not() {
        for len in [8, 9, 100, 4096] {
            let mut slot = vec![0u8; len];
            fill_slot(&mut slot, 7, true);
            assert!(check_slot(&slot, 7, true));
            assert!(!check_slot(&slot, 8, true));
            if len > 8 {
                slot[len - 1] ^= 1;
                assert!(!check_slot(&slot, 7, true));
            }
            assert!(
                check_slot(&slot, 7, false),
                "without verify only the sequence is checked"
            );
        }
    }
}
