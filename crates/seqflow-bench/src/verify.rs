//! Verification: every consumer counts what it received and folds it into a checksum, so a broken
//! implementation cannot win a comparison. A mismatch is an error, never a silent number.

use crate::payload::Payload;
use serde::Serialize;
use std::sync::{Arc, Mutex, PoisonError};

/// Mix a value before it is added to a checksum, so that a lost event and a duplicated one do
/// not cancel out (a plain sum of consecutive values would let `{0, 3}` pass for `{1, 2}`).
///
/// ```
/// use seqflow_bench::verify::mix;
/// assert_ne!(mix(0) + mix(3), mix(1) + mix(2));
/// ```
#[inline]
pub fn mix(value: u64) -> u64 {
    let x = (value ^ (value >> 31)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^ (x >> 29)
}

/// What one consumer saw: how many events, a checksum of their values (independent of their
/// order, since several producers interleave), and how many were inconsistent (torn).
///
/// ```
/// use seqflow_bench::verify::Tally;
/// let mut t = Tally::default();
/// for v in 0..10 { t.add(Some(v)); }
/// assert_eq!(t, Tally::expected(10));
/// t.add(None);
/// assert_eq!(t.bad, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Tally {
    /// Events received.
    pub count: u64,
    /// Wrapping sum of [`mix`] of every consistent value.
    pub checksum: u64,
    /// Events whose payload did not pass its consistency check.
    pub bad: u64,
    /// Events that did not arrive as `0, 1, 2, …` in order, counted only by
    /// [`add_in_order`](Self::add_in_order) (one producer); 0 otherwise.
    pub out_of_order: u64,
}

impl Tally {
    /// Count one event: `Some(value)` if it was consistent, `None` if not.
    #[inline]
    pub fn add(&mut self, value: Option<u64>) {
        self.count += 1;
        match value {
            Some(v) => self.checksum = self.checksum.wrapping_add(mix(v)),
            None => self.bad += 1,
        }
    }

    /// [`add`](Self::add), and count the event as out of order unless its value is its
    /// position in the stream (`count` before it). For a consumer of one producer publishing
    /// `0, 1, 2, …`: one compare more per event.
    ///
    /// ```
    /// use seqflow_bench::verify::Tally;
    /// let mut t = Tally::default();
    /// for v in [0, 2, 1] { t.add_in_order(Some(v)); }
    /// assert_eq!((t.count, t.out_of_order), (3, 2));
    /// ```
    #[inline]
    pub fn add_in_order(&mut self, value: Option<u64>) {
        if let Some(v) = value {
            self.out_of_order += u64::from(v != self.count);
        }
        self.add(value);
    }

    /// The tally of a consumer that saw every value of `0..total` exactly once (in order, if
    /// it checked).
    pub fn expected(total: u64) -> Tally {
        let mut t = Tally::default();
        for v in 0..total {
            t.add(Some(v));
        }
        t
    }
}

/// Where a [`Sink`] leaves its tally when it is dropped.
type Slot = Arc<Mutex<Option<Tally>>>;

/// A consumer's tally that reports itself when dropped: handler closures (which have no
/// shutdown hook in every library) own one, and their thread drops it when it ends. Nothing on
/// the hot path but the tally itself.
///
/// ```
/// use seqflow_bench::verify::{Sinks, Tally};
/// let mut sinks = Sinks::default();
/// let mut sink = sinks.sink("A");
/// for v in 0..5u64 { sink.observe(&v); }
/// drop(sink);
/// sinks.check(&Tally::expected(5)).unwrap();
/// ```
pub struct Sink {
    tally: Tally,
    slot: Slot,
}

impl Sink {
    /// Count one received event.
    #[inline]
    pub fn observe<P: Payload>(&mut self, event: &P) {
        self.tally.add(event.read());
    }

    /// Count one received event and whether it arrived in order ([`Tally::add_in_order`]).
    #[inline]
    pub fn observe_in_order<P: Payload>(&mut self, event: &P) {
        self.tally.add_in_order(event.read());
    }

    /// Count one event whose consistency was checked elsewhere.
    #[inline]
    pub fn add(&mut self, value: Option<u64>) {
        self.tally.add(value);
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(self.tally);
    }
}

/// Every consumer of one run, by stage name.
#[derive(Default)]
pub struct Sinks {
    slots: Vec<(String, Slot)>,
}

impl Sinks {
    /// A new consumer's sink.
    pub fn sink(&mut self, stage: &str) -> Sink {
        let slot = Slot::default();
        self.slots.push((stage.to_owned(), Arc::clone(&slot)));
        Sink {
            tally: Tally::default(),
            slot,
        }
    }

    /// Check that every consumer reported exactly `expected` (call after all consumer threads
    /// have ended).
    pub fn check(&self, expected: &Tally) -> Result<(), VerifyError> {
        for (stage, slot) in &self.slots {
            let got = *slot.lock().unwrap_or_else(PoisonError::into_inner);
            if got != Some(*expected) {
                return Err(VerifyError {
                    stage: stage.clone(),
                    expected: *expected,
                    got,
                });
            }
        }
        Ok(())
    }
}

/// A consumer did not receive exactly what was published.
///
/// ```
/// use seqflow_bench::verify::{Tally, VerifyError};
/// let e = VerifyError { stage: "C".into(), expected: Tally::expected(2), got: None };
/// assert!(e.to_string().contains("stage C"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stage {stage} received {got:?}, expected {expected:?}")]
pub struct VerifyError {
    /// The consumer stage.
    pub stage: String,
    /// What it should have seen.
    pub expected: Tally,
    /// What it reported (`None`: it never reported, its thread did not end cleanly).
    pub got: Option<Tally>,
}
