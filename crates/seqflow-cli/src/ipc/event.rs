//! The events sent between the processes: `u64`, or 128 bytes (16 words), both plain data.

/// An event of either size: written from its index, verified and summed on arrival.
pub trait IpcEvent: seqflow_shm::ShmEvent + Default {
    /// Bytes on the wire.
    const BYTES: usize;

    /// The event for index `i`.
    fn make(i: u64) -> Self;

    /// Its index, if the event is intact.
    fn index(&self) -> Option<u64>;

    /// The bytes to send through a pipe or socket.
    fn as_bytes(&self) -> &[u8] {
        bytemuck::bytes_of(self)
    }
}

impl IpcEvent for u64 {
    const BYTES: usize = 8;

    fn make(i: u64) -> Self {
        i
    }

    fn index(&self) -> Option<u64> {
        Some(*self)
    }
}

/// 128 bytes: the index in every word.
impl IpcEvent for [u64; 16] {
    const BYTES: usize = 128;

    fn make(i: u64) -> Self {
        [i; 16]
    }

    fn index(&self) -> Option<u64> {
        self.iter().all(|w| *w == self[0]).then_some(self[0])
    }
}

/// The checksum the consumer must report for indices `0..n` (the wrapping sum of the
/// indices, each multiplied by a constant so that a swap of two events is not enough to hide a
/// loss).
pub fn checksum_of(n: u64) -> u64 {
    (0..n).fold(0u64, fold)
}

/// One step of the checksum.
pub(crate) fn fold(acc: u64, index: u64) -> u64 {
    acc.wrapping_mul(31)
        .wrapping_add(index.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}
