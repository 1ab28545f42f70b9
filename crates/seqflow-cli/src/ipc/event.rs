//! The events sent between the processes: `W` 64-bit words (8 bytes to 1 MiB), plain data, the
//! event's index in every word so that a torn or stale event is seen.

/// An event of the cross-process scenarios: filled in place from its index, verified and summed
/// on arrival. Large events are never built on the stack: they are written where they live (a
/// ring slot, a heap buffer).
pub trait IpcEvent: seqflow_shm::ShmEvent + bytemuck::Pod {
    /// Bytes on the wire.
    const BYTES: usize;

    /// Write the event for index `i` in place.
    fn fill(&mut self, i: u64);

    /// Its index, if the event is intact (every word agrees).
    fn index(&self) -> Option<u64>;
}

impl<const W: usize> IpcEvent for [u64; W] {
    const BYTES: usize = 8 * W;

    #[inline]
    fn fill(&mut self, i: u64) {
        // The slice method, not this trait's (which would call itself).
        <[u64]>::fill(self, i);
    }

    #[inline]
    fn index(&self) -> Option<u64> {
        let first = *self.first()?;
        self.iter().all(|w| *w == first).then_some(first)
    }
}

/// The event sizes the cross-process section measures, in bytes (the payload sweep).
pub const SIZES: [usize; 7] = [8, 64, 128, 512, 4096, 65536, 1 << 20];

/// Call `$body` with `$E` bound to the event type of `$bytes` bytes, or evaluate `$other` for a
/// size that is not in [`SIZES`].
macro_rules! with_event_type {
    ($bytes:expr, $E:ident => $body:expr, $other:ident => $fallback:expr) => {
        match $bytes {
            8 => {
                type $E = [u64; 1];
                $body
            }
            64 => {
                type $E = [u64; 8];
                $body
            }
            128 => {
                type $E = [u64; 16];
                $body
            }
            512 => {
                type $E = [u64; 64];
                $body
            }
            4096 => {
                type $E = [u64; 512];
                $body
            }
            65536 => {
                type $E = [u64; 8192];
                $body
            }
            1048576 => {
                type $E = [u64; 131072];
                $body
            }
            $other => $fallback,
        }
    };
}
pub(crate) use with_event_type;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_size_has_an_event_type() {
        for bytes in SIZES {
            let size = with_event_type!(bytes, E => E::BYTES, _n => 0);
            assert_eq!(size, bytes);
        }
        assert_eq!(with_event_type!(100usize, E => E::BYTES, n => n + 1), 101);
    }

    #[test]
    fn a_torn_event_has_no_index() {
        let mut e = [0u64; 8];
        IpcEvent::fill(&mut e, 5);
        assert_eq!(e.index(), Some(5));
        e[7] = 4;
        assert_eq!(e.index(), None);
    }
}
