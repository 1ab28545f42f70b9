//! [`claim_from_pool`]: the claim step of a pool worker, once for the stage loop's workers
//! (in one process or across processes) and the shared-memory poll-style worker.

use crate::feed::EventFeed;
use seqflow_sequence::Sequence;

/// Claim up to `max` of the pool's next events for this worker: gate the producer at the pool's
/// position, wait (through `wait(feed, seq)`, the feed's own wait) until the next event is
/// available, then take it and any more already available with one CAS on the pool's `work`
/// sequence. Returns the first and last sequence claimed; the caller handles them, telling the
/// feed what is left ([`EventFeed::note_unhandled`]), then publishes its sequence.
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
            feed.set_sequence(current);
            feed.signal();
        }
        if *available < next {
            *available = wait(feed, next)?;
            // Another worker may have taken `next` meanwhile: read the work sequence again.
            continue;
        }
        let last = (*available).min(next.saturating_add(extra));
        if work.compare_and_set(current, last) {
            feed.note_unhandled((last - next + 1) as u64);
            return Ok((next, last));
        }
    }
}
