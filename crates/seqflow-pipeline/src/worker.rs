//! The worker of a pool: the loop each worker of a pool runs, in one process
//! (`handle_events_with_worker_pool`) or across processes (a shared ring's pool).

use crate::feed::{EventFeed, FeedError};
use crate::processor::StageContext;
use crate::release::{BatchEvent, Releaser};
use crate::shared::panic_message;
use crate::{EventError, EventHandler, HandlerFailure};
use seqflow_sequence::{OwnedRef, Sequence};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;

/// Take the next sequence from the pool's shared work sequence (work stealing), handle it; each
/// event goes to exactly one worker.
///
/// A worker claims a sequence only once it is available, and handles it at once: a wait (one
/// that times out included) holds no claim, so an idle worker never hides an event from the
/// others, and a worker that stops (or whose process dies) while idle loses nothing.
///
/// Before waiting for and claiming `next`, a worker sets its own sequence to `next - 1` (the
/// work sequence it read): every event below is done or being handled by another worker whose
/// own sequence is lower still. The minimum over the pool's workers is therefore the highest
/// sequence every worker has finished with, which is what later stages and the producer follow.
///
/// Workers handle one event at a time: there is no batch to replay
/// ([`EventError::Rewind`] is a failure, [`EventError::RewindUnsupported`]), `on_batch_start` is
/// not called and the stage's maximum batch size does not apply. Timeouts and exception
/// handlers work as for other stages.
pub(crate) fn run_worker<E: ?Sized + 'static, F, H>(
    mut ctx: StageContext<E, F>,
    work: OwnedRef<Sequence>,
    mut handler: H,
) -> i64
where
    F: EventFeed<E>,
    H: EventHandler<E>,
{
    if !ctx.start(&mut handler) {
        return ctx.feed.sequence();
    }
    let timeout = ctx.options.timeout;
    let mut available = i64::MIN;
    while !ctx.stopping() {
        let claimed =
            crate::claim_from_pool(&mut ctx.feed, &work, &mut available, 1, |feed, seq| {
                feed.wait_for(seq, timeout)
            });
        let next = match claimed {
            Ok((next, _)) => next,
            Err(FeedError::Timeout) => {
                let seq = ctx.feed.sequence();
                if crate::processor::timed_out(&ctx, &mut handler, seq) {
                    break;
                }
                continue;
            }
            Err(FeedError::Stopped) => break,
            Err(error) => {
                if ctx.feed_failed(ctx.feed.sequence(), error) {
                    break;
                }
                continue;
            }
        };
        let seq = next;
        let end_of_batch = seq == available;
        let feed = &ctx.feed;
        let publish = |released: i64| {
            feed.set_sequence(released);
            feed.signal();
        };
        let releaser = Releaser::new(seq - 1, &publish);
        let result = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: `seq <= available` is published and done by our dependencies; our
            // sequence (`seq - 1`, or `seq` once the handler released and dropped the event)
            // gates the producer, so the slot is not reclaimed while it is read.
            let event = NonNull::from(unsafe { feed.event(seq) });
            // SAFETY: as above, the event stays readable while the handler runs (a pool's
            // workers never write their events).
            let event = unsafe { BatchEvent::new(event, seq, end_of_batch, &releaser) };
            handler.on_event_releasing(event)
        }));
        let failure = match result {
            Ok(Ok(())) => None,
            Ok(Err(EventError::Rewind)) => {
                Some(HandlerFailure::Error(EventError::RewindUnsupported))
            }
            Ok(Err(error)) => Some(HandlerFailure::Error(error)),
            Err(payload) => Some(HandlerFailure::Panicked(panic_message(&*payload))),
        };
        let stop = match failure {
            Some(failure) if releaser.released() < seq => {
                // SAFETY: as above; the handler did not release this event.
                let event = unsafe { ctx.feed.event(seq) };
                ctx.event_failed(seq, event, failure)
            }
            // Released before failing: the slot may be overwritten, no event is shown.
            Some(failure) => ctx.failed_without_event(seq, failure),
            None => false,
        };
        // Nothing in hand only once the exception handler is done with the event too: a worker
        // of the pool in another process may raise an idle worker's sequence past it.
        ctx.feed.note_unhandled(0);
        if stop {
            break;
        }
    }
    ctx.finish(&mut handler);
    ctx.feed.sequence()
}
