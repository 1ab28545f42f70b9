//! [`Encoder`] and [`Decoder`]: how events become message payloads and back.
//!
//! Closures are codecs; [`PodCodec`] copies the bytes of plain-old-data events and
//! [`ByteSlotCodec`] the payload of [`ByteSlot`] events and [`DynByteSlotCodec`] that of
//! [`DynByteSlot`] events (the types of the multi-process mode).

use crate::CodecError;
use seqflow_shm::{ByteSlot, DynByteSlot, ShmRing};
use std::marker::PhantomData;

/// Turns an event into the payload of one JetStream message.
///
/// `out` is empty on entry; write the payload into it. An `Err` stops the sink (see
/// [`JetStreamSink`](crate::JetStreamSink)): an event that cannot be encoded cannot be made
/// durable, and skipping it would leave a hole in the stream.
///
/// ```
/// use seqflow_nats::{CodecError, Encoder};
/// let mut enc = |e: &u32, _seq: i64, out: &mut Vec<u8>| -> Result<(), CodecError> {
///     out.extend_from_slice(&e.to_be_bytes());
///     Ok(())
/// };
/// let mut out = Vec::new();
/// enc.encode(&7, 0, &mut out).unwrap();
/// assert_eq!(out, [0, 0, 0, 7]);
/// ```
pub trait Encoder<E: ?Sized>: Send + 'static {
    /// Write the payload of `event` (at ring sequence `seq`) into `out`.
    fn encode(&mut self, event: &E, seq: i64, out: &mut Vec<u8>) -> Result<(), CodecError>;
}

impl<E: ?Sized, F> Encoder<E> for F
where
    F: FnMut(&E, i64, &mut Vec<u8>) -> Result<(), CodecError> + Send + 'static,
{
    #[inline]
    fn encode(&mut self, event: &E, seq: i64, out: &mut Vec<u8>) -> Result<(), CodecError> {
        self(event, seq, out)
    }
}

/// Writes a message payload into a claimed ring slot.
///
/// [`validate`](Self::validate) runs before a slot is claimed: a message it refuses is
/// terminated (the server will not redeliver it) and counted in
/// [`SourceStats::decode_errors`](crate::SourceStats::decode_errors); it never reaches the ring.
/// [`decode`](Self::decode) then cannot fail: the slot is published whatever it does. If it
/// panics, that slot is published with whatever it left there (a claim is never left as a
/// hole), the message is not acknowledged (the server redelivers it to the next source), the
/// other messages of the same claim are decoded as usual, and the source stops with
/// [`BridgeError::Panicked`](crate::BridgeError::Panicked).
///
/// ```
/// use seqflow_nats::Decoder;
/// let mut dec = |payload: &[u8], event: &mut u8| *event = payload.len() as u8;
/// let mut e = 0;
/// assert!(Decoder::<u8>::validate(&mut dec, b"abc").is_ok());
/// dec.decode(b"abc", &mut e);
/// assert_eq!(e, 3);
/// ```
pub trait Decoder<E: ?Sized>: Send + 'static {
    /// Whether `payload` can be decoded (default: always).
    fn validate(&mut self, payload: &[u8]) -> Result<(), CodecError> {
        let _ = payload;
        Ok(())
    }

    /// Write `payload` (already validated) into `event`.
    fn decode(&mut self, payload: &[u8], event: &mut E);
}

impl<E: ?Sized, F> Decoder<E> for F
where
    F: FnMut(&[u8], &mut E) + Send + 'static,
{
    #[inline]
    fn decode(&mut self, payload: &[u8], event: &mut E) {
        self(payload, event)
    }
}

/// The bytes of a [`bytemuck::Pod`] event, as they are in memory (native endianness: both
/// ends must share it, as with the multi-process mode).
///
/// ```
/// use seqflow_nats::{Decoder, Encoder, PodCodec};
/// let mut out = Vec::new();
/// PodCodec::<[u32; 2]>::new().encode(&[1, 2], 0, &mut out).unwrap();
/// assert_eq!(out.len(), 8);
/// let mut event = [0u32; 2];
/// let mut dec = PodCodec::<[u32; 2]>::new();
/// assert!(dec.validate(&out[..7]).is_err(), "a short payload is refused, not read past");
/// dec.decode(&out, &mut event);
/// assert_eq!(event, [1, 2]);
/// ```
pub struct PodCodec<E>(PhantomData<fn(E) -> E>);

impl<E> PodCodec<E> {
    /// The codec.
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<E> Default for PodCodec<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: bytemuck::Pod> Encoder<E> for PodCodec<E> {
    #[inline]
    fn encode(&mut self, event: &E, _seq: i64, out: &mut Vec<u8>) -> Result<(), CodecError> {
        out.extend_from_slice(bytemuck::bytes_of(event));
        Ok(())
    }
}

impl<E: bytemuck::Pod> Decoder<E> for PodCodec<E> {
    fn validate(&mut self, payload: &[u8]) -> Result<(), CodecError> {
        if payload.len() == size_of::<E>() {
            Ok(())
        } else {
            Err(CodecError(format!(
                "payload of {} bytes, the event type has {}",
                payload.len(),
                size_of::<E>()
            )))
        }
    }

    #[inline]
    fn decode(&mut self, payload: &[u8], event: &mut E) {
        // `validate` checked the length; a mismatch here (a caller that skipped it) leaves the
        // event unchanged instead of panicking.
        if payload.len() == size_of::<E>() {
            bytemuck::bytes_of_mut(event).copy_from_slice(payload);
        }
    }
}

/// The payload of a [`ByteSlot`] event (its `len` bytes only, not the whole slot).
///
/// ```
/// use seqflow_nats::{ByteSlotCodec, Decoder, Encoder};
/// use seqflow_shm::{ByteSlot, DynByteSlot, ShmRing};
/// let mut slot = ByteSlot::<16>::new();
/// slot.set(b"hello").unwrap();
/// let mut out = Vec::new();
/// ByteSlotCodec.encode(&slot, 0, &mut out).unwrap();
/// assert_eq!(out, b"hello");
/// let mut back = ByteSlot::<4>::new();
/// assert!(Decoder::<ByteSlot<4>>::validate(&mut ByteSlotCodec, &out).is_err()); // too long for 4
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ByteSlotCodec;

impl<const N: usize> Encoder<ByteSlot<N>> for ByteSlotCodec {
    #[inline]
    fn encode(
        &mut self,
        event: &ByteSlot<N>,
        _seq: i64,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        out.extend_from_slice(event.as_bytes());
        Ok(())
    }
}

impl<const N: usize> Decoder<ByteSlot<N>> for ByteSlotCodec {
    fn validate(&mut self, payload: &[u8]) -> Result<(), CodecError> {
        if payload.len() <= N {
            Ok(())
        } else {
            Err(CodecError(format!(
                "payload of {} bytes does not fit a {N}-byte slot",
                payload.len()
            )))
        }
    }

    #[inline]
    fn decode(&mut self, payload: &[u8], event: &mut ByteSlot<N>) {
        // Cannot fail after `validate`; an unvalidated oversized payload leaves the slot as it was.
        let _ = event.set(payload);
    }
}

/// The payload of [`DynByteSlot`] events (byte slots sized when a shared ring is created) as the
/// message payload, both ways. Decoding needs the ring's slot size, so that a message too long
/// for the ring is refused by `validate` (the source then handles it as undecodable) instead of
/// being cut.
///
/// ```
/// use seqflow_nats::{Decoder, DynByteSlotCodec, Encoder};
/// use seqflow_shm::{DynByteSlot, ShmOptions, ShmRing};
/// # let name = format!("/seqflow-doc-dyncodec-{}", std::process::id());
/// let ring = ShmRing::<DynByteSlot>::create_bytes(&name, 4, 16, ShmOptions::default()).unwrap();
/// # let _guard = ring.unlink_on_drop();
/// let mut codec = DynByteSlotCodec::for_ring(&ring);
/// assert!(Decoder::<DynByteSlot>::validate(&mut codec, &[0; 16]).is_ok());
/// assert!(Decoder::<DynByteSlot>::validate(&mut codec, &[0; 17]).is_err());
/// let mut p = ring.producer().unwrap();
/// p.publish(|slot, _| codec.decode(b"hello", slot)).unwrap();
/// let (_, copy) = ring.read_last().unwrap();
/// let mut out = Vec::new();
/// codec.encode(&copy, 0, &mut out).unwrap();
/// assert_eq!(out, b"hello");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct DynByteSlotCodec {
    max_payload: usize,
}

impl DynByteSlotCodec {
    /// A codec for rings whose slots hold up to `max_payload` bytes.
    pub fn new(max_payload: usize) -> Self {
        Self { max_payload }
    }

    /// A codec for `ring`'s slot size.
    pub fn for_ring(ring: &ShmRing<DynByteSlot>) -> Self {
        Self::new(ring.max_payload())
    }
}

impl Encoder<DynByteSlot> for DynByteSlotCodec {
    #[inline]
    fn encode(
        &mut self,
        event: &DynByteSlot,
        _seq: i64,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        out.extend_from_slice(event.as_bytes());
        Ok(())
    }
}

impl Decoder<DynByteSlot> for DynByteSlotCodec {
    fn validate(&mut self, payload: &[u8]) -> Result<(), CodecError> {
        if payload.len() <= self.max_payload {
            Ok(())
        } else {
            Err(CodecError(format!(
                "payload of {} bytes does not fit a {}-byte slot",
                payload.len(),
                self.max_payload
            )))
        }
    }

    #[inline]
    fn decode(&mut self, payload: &[u8], event: &mut DynByteSlot) {
        // Cannot fail after `validate` (the ring's slots hold `max_payload`); an unvalidated
        // oversized payload leaves the slot as it was.
        let _ = event.set(payload);
    }
}
