//! [`PollEnds`]: where a stage's recent polls found the published events to end, the points at
//! which a batch may stop without splitting events that were published together.

/// How many poll ends a stage remembers: enough for the polls of a stage that follows a
/// one-at-a-time producer across one cache line of small events (8 slots of 8 bytes).
const REMEMBERED: usize = 8;

/// An entry no poll has filled yet (no sequence is this low).
const UNSET: i64 = i64::MIN;

/// The highest available sequences the stage's last polls returned, each one a point between
/// two publishes: everything up to it was visible at once, everything after it was published
/// later. A batch that stops at one of them never splits a claim published at once.
#[derive(Debug)]
pub(crate) struct PollEnds {
    ends: [i64; REMEMBERED],
    /// Where the next end goes (the oldest is overwritten).
    next: usize,
    /// The highest end remembered.
    latest: i64,
}

impl PollEnds {
    pub fn new() -> Self {
        Self {
            ends: [UNSET; REMEMBERED],
            next: 0,
            latest: i64::MIN,
        }
    }

    /// The highest end any poll returned (`i64::MIN` before the first).
    #[inline]
    pub fn latest(&self) -> i64 {
        self.latest
    }

    /// Remember that a poll returned `end` (ignored unless it is past every end remembered).
    #[inline]
    pub fn push(&mut self, end: i64) {
        if end > self.latest {
            self.ends[self.next] = end;
            self.next = (self.next + 1) % REMEMBERED;
            self.latest = end;
        }
    }

    /// The highest remembered end in `from..=to`, if any.
    #[inline]
    pub fn highest_in(&self, from: i64, to: i64) -> Option<i64> {
        self.ends
            .iter()
            .copied()
            .filter(|&e| e != UNSET && e >= from && e <= to)
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_last_ends_in_order() {
        let mut ends = PollEnds::new();
        assert_eq!(ends.latest(), i64::MIN);
        assert_eq!(ends.highest_in(i64::MIN, i64::MAX), None);
        for e in [3, 5, 5, 4, 9] {
            ends.push(e);
        }
        assert_eq!(ends.latest(), 9);
        assert_eq!(ends.highest_in(0, 8), Some(5));
        assert_eq!(ends.highest_in(6, 8), None);
        assert_eq!(ends.highest_in(4, 4), None); // 4 came after 5: not an end
        for e in 10..10 + REMEMBERED as i64 {
            ends.push(e);
        }
        // 3, 5 and 9 are forgotten, the last eight remain.
        assert_eq!(ends.highest_in(0, 9), None);
        assert_eq!(ends.highest_in(0, 12), Some(12));
        assert_eq!(ends.latest(), 17);
    }
}
