//! [`SequenceRange`]: a contiguous run of claimed sequences.

use std::fmt;

/// The sequences `start..=end` (never empty).
///
/// ```
/// use seqflow_sequencer::SequenceRange;
/// let r = SequenceRange::new(4, 6).unwrap();
/// assert_eq!(r.len(), 3);
/// assert_eq!(r.iter().collect::<Vec<_>>(), vec![4, 5, 6]);
/// assert!(SequenceRange::new(6, 4).is_none());
/// assert_eq!(r.to_string(), "4..=6");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SequenceRange {
    start: i64,
    end: i64,
}

impl SequenceRange {
    /// `start..=end`, or `None` when `end < start` or `start` is negative.
    ///
    /// ```
    /// assert!(seqflow_sequencer::SequenceRange::new(0, 0).is_some());
    /// assert!(seqflow_sequencer::SequenceRange::new(-1, 0).is_none());
    /// ```
    pub const fn new(start: i64, end: i64) -> Option<Self> {
        if start < 0 || end < start {
            None
        } else {
            Some(Self { start, end })
        }
    }

    /// A single sequence.
    ///
    /// ```
    /// assert_eq!(seqflow_sequencer::SequenceRange::single(3).len(), 1);
    /// ```
    pub const fn single(seq: i64) -> Self {
        Self {
            start: seq,
            end: seq,
        }
    }

    /// `len` sequences ending at `end`.
    pub(crate) const fn ending_at(end: i64, len: i64) -> Self {
        Self {
            start: end - len + 1,
            end,
        }
    }

    /// The first sequence.
    ///
    /// ```
    /// assert_eq!(seqflow_sequencer::SequenceRange::new(2, 5).unwrap().start(), 2);
    /// ```
    #[inline]
    pub const fn start(self) -> i64 {
        self.start
    }

    /// The last sequence (inclusive).
    ///
    /// ```
    /// assert_eq!(seqflow_sequencer::SequenceRange::new(2, 5).unwrap().end(), 5);
    /// ```
    #[inline]
    pub const fn end(self) -> i64 {
        self.end
    }

    /// How many sequences.
    ///
    /// ```
    /// assert_eq!(seqflow_sequencer::SequenceRange::new(2, 5).unwrap().len(), 4);
    /// ```
    #[inline]
    #[allow(clippy::len_without_is_empty)] // never empty by construction
    pub const fn len(self) -> usize {
        // `start >= 0`, so `end - start` cannot overflow, even for a range read from another
        // process's memory that ends at `i64::MAX`.
        (self.end - self.start) as usize + 1
    }

    /// Every sequence in order.
    ///
    /// ```
    /// assert_eq!(seqflow_sequencer::SequenceRange::single(9).iter().sum::<i64>(), 9);
    /// ```
    #[inline]
    pub fn iter(self) -> std::ops::RangeInclusive<i64> {
        self.start..=self.end
    }

    /// Whether `seq` is inside.
    ///
    /// ```
    /// let r = seqflow_sequencer::SequenceRange::new(2, 5).unwrap();
    /// assert!(r.contains(5) && !r.contains(6));
    /// ```
    #[inline]
    pub const fn contains(self, seq: i64) -> bool {
        self.start <= seq && seq <= self.end
    }
}

impl IntoIterator for SequenceRange {
    type Item = i64;
    type IntoIter = std::ops::RangeInclusive<i64>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl fmt::Display for SequenceRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", self.start, self.end)
    }
}
