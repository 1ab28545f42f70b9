//! [`ByteSlot`]: a plain-old-data event for variable-size payloads of up to `N` bytes.

use crate::TooLong;

/// A length and up to `N` bytes: the event type for variable-size payloads in shared memory.
///
/// The length is stored as four little-endian bytes so the struct has alignment 1 and no padding
/// for any `N` (which is what makes it [`bytemuck::Pod`]). A length read from another process
/// that is larger than `N` is clamped, never trusted.
///
/// ```
/// use seqflow_shm::ByteSlot;
/// let mut slot = ByteSlot::<16>::default();
/// slot.set(b"hello").unwrap();
/// assert_eq!(slot.as_bytes(), b"hello");
/// assert_eq!(slot.len(), 5);
/// assert!(slot.set(&[0; 17]).is_err());
/// assert_eq!(slot.as_bytes(), b"hello", "a refused payload leaves the slot as it was");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct ByteSlot<const N: usize> {
    len: [u8; 4],
    bytes: [u8; N],
}

// SAFETY: `repr(C)` of `[u8; 4]` and `[u8; N]`: alignment 1, so no padding; every bit pattern
// is a valid value; all-zero is a valid (empty) slot.
unsafe impl<const N: usize> bytemuck::Zeroable for ByteSlot<N> {}
// SAFETY: as above; the type is `Copy + 'static` and holds no pointers.
unsafe impl<const N: usize> bytemuck::Pod for ByteSlot<N> {}

impl<const N: usize> ByteSlot<N> {
    /// The most bytes a slot holds.
    ///
    /// ```
    /// assert_eq!(seqflow_shm::ByteSlot::<32>::CAPACITY, 32);
    /// ```
    pub const CAPACITY: usize = N;

    /// An empty slot.
    ///
    /// ```
    /// assert!(seqflow_shm::ByteSlot::<8>::new().is_empty());
    /// ```
    pub const fn new() -> Self {
        Self {
            len: [0; 4],
            bytes: [0; N],
        }
    }

    /// Store `payload`; [`TooLong`] (and the slot unchanged) if it is longer than `N`.
    ///
    /// ```
    /// let mut s = seqflow_shm::ByteSlot::<4>::new();
    /// assert!(s.set(b"abcd").is_ok());
    /// assert_eq!(s.set(b"abcde").unwrap_err().len, 5);
    /// ```
    pub fn set(&mut self, payload: &[u8]) -> Result<(), TooLong> {
        if payload.len() > N || payload.len() > u32::MAX as usize {
            return Err(TooLong {
                len: payload.len(),
                max: N,
            });
        }
        self.bytes[..payload.len()].copy_from_slice(payload);
        self.len = (payload.len() as u32).to_le_bytes();
        Ok(())
    }

    /// The payload: the first `len` bytes (`len` clamped to `N`).
    ///
    /// ```
    /// let mut s = seqflow_shm::ByteSlot::<4>::new();
    /// s.set(b"ab").unwrap();
    /// assert_eq!(s.as_bytes(), b"ab");
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len()]
    }

    /// The payload length (clamped to `N`).
    ///
    /// ```
    /// assert_eq!(seqflow_shm::ByteSlot::<4>::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        (u32::from_le_bytes(self.len) as usize).min(N)
    }

    /// Whether the payload is empty.
    ///
    /// ```
    /// assert!(seqflow_shm::ByteSlot::<4>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<const N: usize> Default for ByteSlot<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> std::fmt::Debug for ByteSlot<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByteSlot")
            .field("len", &self.len())
            .field("bytes", &self.as_bytes())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_length_is_clamped() {
        let mut raw = [0xffu8; 4 + 8];
        raw[4] = 1;
        let slot: ByteSlot<8> = bytemuck::cast(raw);
        assert_eq!(slot.len(), 8);
        assert_eq!(slot.as_bytes().len(), 8);
    }

    #[test]
    fn odd_sizes_have_no_padding() {
        assert_eq!(std::mem::size_of::<ByteSlot<3>>(), 7);
        assert_eq!(std::mem::align_of::<ByteSlot<3>>(), 1);
    }
}
