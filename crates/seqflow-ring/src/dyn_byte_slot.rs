//! [`DynByteSlot`]: a variable-size payload in a slot whose size is chosen when the ring is
//! made, not at compile time.

use crate::{Slot, SlotCopy};

/// The header in front of a [`DynByteSlot`]'s bytes: the payload length and the tag, each a
/// little-endian `u32`.
const HEADER: usize = 8;

/// The largest payload a byte slot holds (its length is a `u32`).
pub const MAX_DYN_PAYLOAD: usize = u32::MAX as usize / 8 * 8;

/// A payload longer than a byte slot can hold.
///
/// ```
/// let e = seqflow_ring::TooLong { len: 9, max: 8 };
/// assert_eq!(e.to_string(), "payload of 9 bytes does not fit in 8");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("payload of {len} bytes does not fit in {max}")]
pub struct TooLong {
    /// The payload length.
    pub len: usize,
    /// The slot capacity.
    pub max: usize,
}

/// A length and up to [`capacity`](Self::capacity) bytes, where the capacity is chosen when the
/// ring is made ([`RingBuffer::with_byte_slots`](crate::RingBuffer::with_byte_slots), or the
/// shared-memory layer's byte rings): the event type for payloads whose largest size is known
/// only at run time.
///
/// It is a dynamically sized type: handlers, claims and pollers get `&DynByteSlot` /
/// `&mut DynByteSlot`, exactly as they get `&E` for a sized event. The slot starts with the
/// payload length and a *tag* (a word the application may use, a message kind say; seqflow never
/// interprets it), each a little-endian `u32`; a length larger than the capacity (memory written
/// by another process) is clamped, never trusted.
///
/// ```
/// use seqflow_ring::{DynByteSlot, RingBuffer};
/// let ring = RingBuffer::<DynByteSlot>::with_byte_slots(4, 100).unwrap();
/// // SAFETY: single-threaded example: nobody else touches the ring.
/// let slot = unsafe { ring.get_mut(0) };
/// assert_eq!(slot.capacity(), 104, "rounded up to whole words");
/// slot.set(b"hello").unwrap();
/// assert_eq!(slot.as_bytes(), b"hello");
/// assert!(slot.set(&[0; 105]).is_err());
/// ```
#[repr(C)]
pub struct DynByteSlot {
    len: [u8; 4],
    tag: [u8; 4],
    bytes: [u8],
}

impl DynByteSlot {
    /// The bytes in front of the payload (length and tag): a slot of stride `s` holds
    /// `s - HEADER` payload bytes.
    ///
    /// ```
    /// use seqflow_ring::DynByteSlot;
    /// assert_eq!(DynByteSlot::stride_for(16).unwrap() - DynByteSlot::HEADER, 16);
    /// ```
    pub const HEADER: usize = HEADER;

    /// The slot size (header included) that holds payloads of up to `max_payload` bytes: the
    /// payload rounded up to whole 8-byte words (at least one), plus the 8-byte header.
    /// `None` beyond [`MAX_DYN_PAYLOAD`].
    ///
    /// ```
    /// use seqflow_ring::DynByteSlot;
    /// assert_eq!(DynByteSlot::stride_for(0), Some(16));
    /// assert_eq!(DynByteSlot::stride_for(8), Some(16));
    /// assert_eq!(DynByteSlot::stride_for(9), Some(24));
    /// assert_eq!(DynByteSlot::stride_for(usize::MAX), None);
    /// ```
    pub const fn stride_for(max_payload: usize) -> Option<usize> {
        let payload = if max_payload == 0 { 1 } else { max_payload };
        if payload > MAX_DYN_PAYLOAD {
            return None;
        }
        // Checked: on 32-bit targets `MAX_DYN_PAYLOAD + HEADER` overflows `usize`.
        match (payload.div_ceil(8) * 8).checked_add(HEADER) {
            Some(stride) => Some(stride),
            None => None,
        }
    }

    /// The most bytes this slot holds.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.bytes.len()
    }

    /// Store `payload`; [`TooLong`] (and the slot unchanged) if it is longer than the capacity.
    ///
    /// ```
    /// # use seqflow_ring::{DynByteSlot, RingBuffer};
    /// # let ring = RingBuffer::<DynByteSlot>::with_byte_slots(1, 8).unwrap();
    /// # // SAFETY: single-threaded example.
    /// # let slot = unsafe { ring.get_mut(0) };
    /// assert!(slot.set(b"12345678").is_ok());
    /// assert_eq!(slot.set(b"123456789").unwrap_err().len, 9);
    /// assert_eq!(slot.as_bytes(), b"12345678");
    /// ```
    pub fn set(&mut self, payload: &[u8]) -> Result<(), TooLong> {
        let max = self.capacity();
        if payload.len() > max {
            return Err(TooLong {
                len: payload.len(),
                max,
            });
        }
        self.bytes[..payload.len()].copy_from_slice(payload);
        // At most the capacity, which `Slot::fits` keeps within `u32`.
        self.len = (payload.len() as u32).to_le_bytes();
        Ok(())
    }

    /// The whole buffer, for writing a payload in place; then [`set_len`](Self::set_len).
    ///
    /// ```
    /// # use seqflow_ring::{DynByteSlot, RingBuffer};
    /// # let ring = RingBuffer::<DynByteSlot>::with_byte_slots(1, 16).unwrap();
    /// # // SAFETY: single-threaded example.
    /// # let slot = unsafe { ring.get_mut(0) };
    /// slot.buffer_mut()[..3].copy_from_slice(b"abc");
    /// slot.set_len(3).unwrap();
    /// assert_eq!(slot.as_bytes(), b"abc");
    /// ```
    #[inline]
    pub fn buffer_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    /// Set the payload length after writing through [`buffer_mut`](Self::buffer_mut);
    /// [`TooLong`] (and the slot unchanged) beyond the capacity.
    pub fn set_len(&mut self, len: usize) -> Result<(), TooLong> {
        let max = self.capacity();
        if len > max {
            return Err(TooLong { len, max });
        }
        self.len = (len as u32).to_le_bytes();
        Ok(())
    }

    /// The payload: the first `len` bytes (`len` clamped to the capacity).
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len()]
    }

    /// The payload length (clamped to the capacity).
    #[inline]
    pub fn len(&self) -> usize {
        (u32::from_le_bytes(self.len) as usize).min(self.capacity())
    }

    /// Whether the payload is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tag: a word stored beside the payload for the application (a message kind, say).
    ///
    /// ```
    /// # use seqflow_ring::{DynByteSlot, RingBuffer};
    /// # let ring = RingBuffer::<DynByteSlot>::with_byte_slots(1, 8).unwrap();
    /// # // SAFETY: single-threaded example.
    /// # let slot = unsafe { ring.get_mut(0) };
    /// slot.set_tag(3);
    /// slot.set(b"x").unwrap();
    /// assert_eq!((slot.tag(), slot.as_bytes()), (3, &b"x"[..]));
    /// ```
    #[inline]
    pub fn tag(&self) -> u32 {
        u32::from_le_bytes(self.tag)
    }

    /// Set the tag (the payload is unchanged).
    #[inline]
    pub fn set_tag(&mut self, tag: u32) {
        self.tag = tag.to_le_bytes();
    }
}

impl std::fmt::Debug for DynByteSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynByteSlot")
            .field("len", &self.len())
            .field("tag", &self.tag())
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

// SAFETY: `fits` accepts only strides of whole words holding the 8-byte header and at least one
// payload byte, so `at` builds a pointer to `stride` bytes (header + `stride - 8` tail bytes)
// starting at `base + index * stride`: exactly the slot. The type is `repr(C)` of byte arrays
// (alignment 1, no padding); `ALIGN` 8 is what the word copies of `SlotCopy` need.
unsafe impl Slot for DynByteSlot {
    const ALIGN: usize = 8;

    #[inline]
    fn fits(stride: usize) -> bool {
        stride > HEADER && stride % 8 == 0 && stride - HEADER <= MAX_DYN_PAYLOAD
    }

    #[inline]
    unsafe fn at(base: *mut u8, index: usize, stride: usize) -> *mut DynByteSlot {
        // SAFETY: in bounds by the caller's contract.
        let start = unsafe { base.add(index * stride) };
        // The slice metadata of a slice-tailed type is the tail's length.
        std::ptr::slice_from_raw_parts_mut(start, stride - HEADER) as *mut DynByteSlot
    }
}

/// An owned copy of a [`DynByteSlot`]'s payload, as a lossy reader gets it; it dereferences to
/// a `DynByteSlot` whose capacity is the payload's length, so a handler reads a copy exactly as
/// it reads a slot.
///
/// ```
/// use seqflow_ring::{DynByteSlot, RingBuffer, SlotCopy};
/// let ring = RingBuffer::<DynByteSlot>::with_byte_slots(2, 64).unwrap();
/// // SAFETY: single-threaded example: nobody else touches the ring.
/// unsafe { ring.get_mut(0) }.set(b"copied").unwrap();
/// // SAFETY: nobody wrote the slot during the copy.
/// let copy = unsafe { DynByteSlot::assume_whole(ring.copy_out(0)) };
/// assert_eq!(copy.as_bytes(), b"copied");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct DynByteCopy {
    /// The 8-byte length, then exactly that many payload bytes.
    raw: Vec<u8>,
}

impl DynByteCopy {
    /// The payload as an owned vector.
    pub fn into_vec(mut self) -> Vec<u8> {
        self.raw.drain(..HEADER);
        self.raw
    }
}

impl std::ops::Deref for DynByteCopy {
    type Target = DynByteSlot;

    #[inline]
    fn deref(&self) -> &DynByteSlot {
        let tail = self.raw.len() - HEADER;
        // `DynByteSlot` has alignment 1 and is `HEADER` bytes then a byte tail: any byte
        // buffer of at least `HEADER` bytes is one, with the tail's length as metadata.
        let ptr = std::ptr::slice_from_raw_parts(self.raw.as_ptr(), tail) as *const DynByteSlot;
        // SAFETY: as above; `raw` holds `HEADER + tail` initialised bytes and is borrowed
        // immutably for the reference's lifetime.
        unsafe { &*ptr }
    }
}

impl std::borrow::Borrow<DynByteSlot> for DynByteCopy {
    #[inline]
    fn borrow(&self) -> &DynByteSlot {
        self
    }
}

impl std::fmt::Debug for DynByteCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

// SAFETY: `copy_raw` reads the header word and then at most `stride - 8` payload bytes of the
// slot, all with volatile reads into a fresh buffer (bytes are valid whatever they hold, so even
// a torn copy is a valid buffer; the reader discards it). The buffer's header is rewritten to
// the clamped length, so the copy always has exactly that many payload bytes.
unsafe impl SlotCopy for DynByteSlot {
    type Copy = DynByteCopy;
    type Raw = DynByteCopy;

    unsafe fn copy_raw(slot: *const DynByteSlot, stride: usize) -> DynByteCopy {
        let start = slot.cast::<u8>();
        let capacity = stride - HEADER;
        // SAFETY: the header is the slot's first 8 bytes, aligned to 8 (`ALIGN`).
        let header = unsafe { start.cast::<[u8; HEADER]>().read_volatile() };
        let len = (u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize)
            .min(capacity);
        let mut raw = Vec::<u8>::with_capacity(HEADER + len);
        raw.extend_from_slice(&(len as u32).to_le_bytes());
        raw.extend_from_slice(&header[4..]);
        let (words, src) = (len / 8, start.wrapping_add(HEADER));
        // SAFETY: the payload starts 8 bytes in (aligned to 8) and holds `capacity >= len`
        // bytes; `raw` has room for `HEADER + len` bytes; every one of the `len` payload bytes
        // is written (whole words, then the tail) before `set_len`.
        unsafe {
            let dst = raw.as_mut_ptr().add(HEADER);
            for i in 0..words {
                let word = src.cast::<u64>().add(i).read_volatile();
                dst.cast::<u64>().add(i).write_unaligned(word);
            }
            for i in words * 8..len {
                dst.add(i).write(src.add(i).read_volatile());
            }
            raw.set_len(HEADER + len);
        }
        DynByteCopy { raw }
    }

    #[inline]
    unsafe fn assume_whole(raw: DynByteCopy) -> DynByteCopy {
        raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RingBuffer;

    #[test]
    fn slots_are_stride_apart_and_independent() {
        let ring = RingBuffer::<DynByteSlot>::with_byte_slots(4, 20).unwrap();
        assert_eq!(ring.stride(), 32);
        for seq in 0..4 {
            let payload = vec![seq as u8; 20 - seq as usize];
            // SAFETY: single-threaded test: nobody else touches the ring.
            unsafe { ring.get_mut(seq) }.set(&payload).unwrap();
        }
        for seq in 0..4 {
            // SAFETY: as above.
            let slot = unsafe { ring.get(seq) };
            assert_eq!(slot.capacity(), 24);
            assert_eq!(slot.as_bytes(), vec![seq as u8; 20 - seq as usize]);
        }
    }

    #[test]
    fn a_garbage_length_is_clamped_in_slots_and_copies() {
        let ring = RingBuffer::<DynByteSlot>::with_byte_slots(2, 16).unwrap();
        // SAFETY: single-threaded test; the header is the slot's first 8 bytes.
        unsafe { ring.slot_ptr(1).cast::<u8>().write_bytes(0xff, 8) };
        // SAFETY: as above.
        assert_eq!(unsafe { ring.get(1) }.len(), 16);
        // SAFETY: nobody writes the slot during the copy.
        let copy = unsafe { DynByteSlot::assume_whole(ring.copy_out(1)) };
        assert_eq!(copy.as_bytes(), [0; 16]);
        assert_eq!(copy.clone().into_vec(), vec![0; 16]);
    }

    #[test]
    fn copies_hold_exactly_the_payload() {
        let ring = RingBuffer::<DynByteSlot>::with_byte_slots(2, 40).unwrap();
        for len in [0, 1, 7, 8, 9, 23, 40] {
            let payload: Vec<u8> = (0..len as u8).collect();
            // SAFETY: single-threaded test.
            let slot = unsafe { ring.get_mut(0) };
            slot.set(&payload).unwrap();
            slot.set_tag(0xdead_0000 + len as u32);
            // SAFETY: nobody writes the slot during the copy.
            let copy = unsafe { DynByteSlot::assume_whole(ring.copy_out(0)) };
            assert_eq!((copy.as_bytes(), copy.capacity()), (&payload[..], len));
            assert_eq!(copy.tag(), 0xdead_0000 + len as u32);
            assert_eq!(copy.into_vec(), payload);
        }
    }

    #[test]
    fn in_place_writes_and_refusals() {
        let ring = RingBuffer::<DynByteSlot>::with_byte_slots(1, 8).unwrap();
        // SAFETY: single-threaded test.
        let slot = unsafe { ring.get_mut(0) };
        slot.buffer_mut().copy_from_slice(b"abcdefgh");
        assert_eq!(slot.set_len(9), Err(TooLong { len: 9, max: 8 }));
        assert!(slot.is_empty());
        slot.set_len(8).unwrap();
        assert_eq!(slot.as_bytes(), b"abcdefgh");
        assert_eq!(slot.set(&[1; 9]), Err(TooLong { len: 9, max: 8 }));
        assert_eq!(slot.as_bytes(), b"abcdefgh");
    }

    #[test]
    fn impossible_sizes_are_errors() {
        assert_eq!(DynByteSlot::stride_for(usize::MAX - 3), None);
        assert!(RingBuffer::<DynByteSlot>::with_byte_slots(3, 8).is_err());
        assert!(matches!(
            RingBuffer::<DynByteSlot>::with_byte_slots(1 << 20, usize::MAX / 2),
            Err(crate::CapacityError::TooManyBytes { .. })
        ));
    }
}
