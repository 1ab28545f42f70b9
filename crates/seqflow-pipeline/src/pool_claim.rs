//! [`claim_from_pool`]: the claim step of a pool worker, once for the stage loop's workers
//! (in one process or across processes) and the shared-memory poll-style worker.

use crate::feed::EventFeed;
use seqflow_sequence::Sequence;

/// Claim up to `max` of the pool's next events for this worker: gate the producer at the pool's
/// position, wait (through `wait(feed, seq)`, the feed's own wait) until the next event is
/// available, then take it and any more already available with one CAS on the pool's `work`
/// sequence (noting the claim's size in the feed just before it). Returns the first and last
/// sequence claimed; the caller handles them, telling the feed what is left
/// ([`EventFeed::note_unhandled`]), then publishes its sequence.
///
/// Nothing is claimed before it is available, so a wait that fails or times out holds nothing,
/// and an idle worker never hides an event from the others. Before waiting it sets its own
/// sequence to the work sequence it read: every event below is done or being handled by a
/// worker whose own sequence is lower still, so the minimum over the pool is what every worker
/// has finished with. `available` is the highest sequence a wait returned (kept by the caller
/// across claims; start at `i64::MIN`).
///
/// The caller reads the claimed events on the strength of `wait` being the feed's own wait (a
/// made-up `available` would hand out unpublished sequences).
pub fn claim_from_pool<E: ?Sized, F: EventFeed<E>, Err>(
    feed: &mut F,
    work: &Sequence,
    available: &mut i64,
    max: usize,
    mut wait: impl FnMut(&mut F, i64) -> Result<i64, Err>,
) -> Result<(i64, i64), Err> {
    let extra = i64::try_from(max.max(1) - 1).unwrap_or(i64::MAX);
    loop {
        let current = work.get();
        let next = current + 1;
        // Gate the producer at the pool's position (never backwards: the work sequence only
        // grows). Raising the gate may be what a producer blocked on a full ring (or a stage
        // after the pool) waits for: wake it.
        if current > feed.sequence() {
            feed.raise_sequence(current);
            feed.signal();
        }
        if *available < next {
            *available = wait(feed, next)?;
            // Another worker may have taken `next` meanwhile: read the work sequence again.
            continue;
        }
        let last = (*available).min(next.saturating_add(extra));
        // Noted before the CAS, so that a worker killed right after winning it is counted as
        // losing the claim. One killed between this note and a CAS it loses is counted too (it
        // held nothing): a kill inside these few instructions over-reports, never hides a loss.
        feed.note_unhandled((last - next + 1) as u64);
        if work.compare_and_set(current, last) {
            return Ok((next, last));
        }
        feed.note_unhandled(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::FeedError;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// A feed with `published` events that records, for every `note_unhandled`, the count and
    /// the pool's work sequence at that moment (what a reaper would find if the worker died
    /// right then).
    struct RecordingFeed {
        published: i64,
        sequence: i64,
        work: Arc<Sequence>,
        notes: Arc<Mutex<Vec<(u64, i64)>>>,
        /// Another worker's claim up to this sequence, made during the first note.
        steal_at_first_note: Option<i64>,
    }

    // SAFETY: `event` is never called (it panics), so nothing reads a slot on its strength.
    unsafe impl EventFeed<u64> for RecordingFeed {
        fn wait_for(&mut self, seq: i64, _: Option<Duration>) -> Result<i64, FeedError> {
            if seq <= self.published {
                Ok(self.published)
            } else {
                Err(FeedError::Timeout)
            }
        }
        unsafe fn event(&self, _: i64) -> &u64 {
            unreachable!("the claim step reads no event")
        }
        fn sequence(&self) -> i64 {
            self.sequence
        }
        fn set_sequence(&self, _: i64) {}
        fn signal(&self) {}
        fn halt(&self) {}
        fn note_unhandled(&self, count: u64) {
            let mut notes = self.notes.lock().unwrap();
            notes.push((count, self.work.get()));
            if let (1, Some(last)) = (notes.len(), self.steal_at_first_note) {
                self.work.set(last);
            }
        }
    }

    #[test]
    fn the_claim_is_noted_before_the_work_sequence_moves() {
        let work = Arc::new(Sequence::new(-1));
        let notes = Arc::new(Mutex::new(Vec::new()));
        let mut feed = RecordingFeed {
            published: 4,
            sequence: -1,
            work: work.clone(),
            notes: notes.clone(),
            steal_at_first_note: None,
        };
        let mut available = i64::MIN;
        let claimed = claim_from_pool(&mut feed, &work, &mut available, 3, |f, s| {
            f.wait_for(s, None)
        });
        assert_eq!(claimed.unwrap(), (0, 2));
        assert_eq!(work.get(), 2);
        // A worker killed between the CAS and a note made after it would leave no count: the
        // count must be there while the work sequence still reads the old value.
        assert_eq!(*notes.lock().unwrap(), vec![(3, -1)]);
    }

    #[test]
    fn a_lost_cas_takes_its_note_back() {
        let work = Arc::new(Sequence::new(-1));
        let notes = Arc::new(Mutex::new(Vec::new()));
        let mut feed = RecordingFeed {
            published: 9,
            sequence: -1,
            work: work.clone(),
            notes: notes.clone(),
            steal_at_first_note: Some(4),
        };
        let mut available = i64::MIN;
        let claimed = claim_from_pool(&mut feed, &work, &mut available, 2, |f, s| {
            f.wait_for(s, None)
        });
        // Another worker took 0..=4 between this worker's note and its CAS: the CAS fails, the
        // note goes back to 0, and the next round claims 5..=6.
        assert_eq!(claimed.unwrap(), (5, 6));
        assert_eq!(*notes.lock().unwrap(), vec![(2, -1), (0, 4), (2, 4)]);
    }
}
