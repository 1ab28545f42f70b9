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

    /// Remember that a poll returned `end` (ignored unless it is past every end remembered).
    #[inline]
    fn push(&mut self, end: i64) {
        if end > self.latest {
            self.ends[self.next] = end;
            self.next = (self.next + 1) % REMEMBERED;
            self.latest = end;
        }
    }

    /// Where the batch from `start` ends, given the highest `available` sequence and `capped`
    /// (`available`, or less where the stage's maximum batch size cuts it); `None`: poll again
    /// first. `partial` counts the events of `available`'s cache line that the producer has
    /// filled so far (`RingBuffer::partial_line`, asked only when it matters).
    ///
    /// A stage close behind a producer that publishes one event at a time may leave those
    /// events for its next poll: reading that line moves it to this core, and the producer's
    /// next write to it has to fetch it back, on every batch. The batch then stops at the end
    /// an earlier poll found, so it never splits events published together; or, when every
    /// event it has lies in that part of the line, the stage polls again first. Either needs
    /// the producer to have published since the last poll, so no event waits for good. A
    /// replayed batch (`replaying`) is never cut. A batch the maximum size caps after a deferral
    /// stops where the deferred poll ended, as a stage that had taken the events then would
    /// have (not inside a claim that came since).
    #[inline]
    pub fn batch_end(
        &mut self,
        start: i64,
        capped: i64,
        available: i64,
        replaying: bool,
        partial: impl FnOnce() -> usize,
    ) -> Option<i64> {
        let mut end = capped;
        if !replaying {
            if end < available {
                if let Some(cut) = self.highest_in(start, end) {
                    end = cut;
                }
            } else if available > self.latest {
                let full = available - partial() as i64;
                if full < start {
                    // Everything lies in the line being filled (`full < available` too).
                    self.push(available);
                    return None;
                }
                if full < available {
                    if let Some(cut) = self.highest_in(start, full) {
                        end = cut;
                    }
                }
            }
        }
        if end == available {
            self.push(available);
        }
        Some(end)
    }

    /// The highest remembered end in `from..=to`, if any. Ends are remembered in rising order
    /// (`push` keeps only a new highest), so the walk goes from the newest back and stops at
    /// the first end at or below `to`: usually one or two steps, once per batch.
    #[inline]
    fn highest_in(&self, from: i64, to: i64) -> Option<i64> {
        for back in 1..=REMEMBERED {
            let end = self.ends[(self.next + REMEMBERED - back) % REMEMBERED];
            if end <= to {
                // `UNSET` is below every `from`: nothing older is remembered.
                return (end >= from && end != UNSET).then_some(end);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_last_ends_in_order() {
        let mut ends = PollEnds::new();
        assert_eq!(ends.latest, i64::MIN);
        assert_eq!(ends.highest_in(i64::MIN, i64::MAX), None);
        for e in [3, 5, 5, 4, 9] {
            ends.push(e);
        }
        assert_eq!(ends.latest, 9);
        assert_eq!(ends.highest_in(0, 8), Some(5));
        assert_eq!(ends.highest_in(6, 8), None);
        assert_eq!(ends.highest_in(4, 4), None); // 4 came after 5: not an end
        for e in 10..10 + REMEMBERED as i64 {
            ends.push(e);
        }
        // 3, 5 and 9 are forgotten, the last eight remain.
        assert_eq!(ends.highest_in(0, 9), None);
        assert_eq!(ends.highest_in(0, 12), Some(12));
        assert_eq!(ends.latest, 17);
    }

    #[test]
    fn a_batch_stops_short_of_the_line_being_filled_only_at_a_poll_end() {
        let mut ends = PollEnds::new();
        // First poll: 0..=2, all three in the filled part of a line: poll again.
        assert_eq!(ends.batch_end(0, 2, 2, false, || 3), None);
        // The producer published 3..=9; 8 and 9 are in the next line: stop at 2, the end the
        // earlier poll found, not at 7 (a claim may have run from 3 to 9).
        assert_eq!(ends.batch_end(0, 9, 9, false, || 2), Some(2));
        // Nothing new since the last poll: take everything.
        assert_eq!(ends.batch_end(3, 9, 9, false, || 2), Some(9));
        // A replay is never cut, and still remembers its end.
        let mut ends = PollEnds::new();
        assert_eq!(ends.batch_end(0, 5, 5, true, || 6), Some(5));
        assert_eq!(ends.latest, 5);
        // Capped by the maximum size after a deferral: stop where the deferred poll ended.
        let mut ends = PollEnds::new();
        assert_eq!(ends.batch_end(0, 1, 1, false, || 2), None);
        assert_eq!(ends.batch_end(0, 3, 20, false, || 0), Some(1));
        // Capped with no remembered end inside: the cap stands.
        assert_eq!(ends.batch_end(2, 5, 20, false, || 0), Some(5));
    }

    /// The walk from the newest end finds what a scan of every remembered end finds.
    #[test]
    fn highest_in_agrees_with_a_full_scan() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut random = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n) as i64
        };
        let mut ends = PollEnds::new();
        let mut base = 0;
        for _ in 0..20_000 {
            // Mostly rising ends, some repeats and lower ones (which `push` ignores).
            base += random(4) - 1;
            ends.push(base);
            let from = base - random(24);
            let to = from + random(24);
            let scan = ends
                .ends
                .iter()
                .copied()
                .filter(|&e| e != UNSET && e >= from && e <= to)
                .max();
            assert_eq!(
                ends.highest_in(from, to),
                scan,
                "{:?} in {from}..={to}",
                ends.ends
            );
        }
    }
}
