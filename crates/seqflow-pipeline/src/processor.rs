//! The batch event processor: the loop every handler stage runs, and the [`StageContext`] it
//! shares with the worker-pool loop and custom processors. Both loops run over any
//! [`EventFeed`]: the heap ring in one process, a shared segment across processes.

use crate::feed::{EventFeed, FeedError};
use crate::pacing::Pacer;
use crate::poll_ends::PollEnds;
use crate::release::{BatchEvent, Releaser};
use crate::shared::{panic_message, PipelineShared};
use crate::stage::StageOptions;
use crate::{EventError, EventHandler, ExceptionAction, ExceptionHandler, HandlerFailure};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::Arc;

/// Everything a stage needs besides its handler.
pub(crate) struct StageContext<E: ?Sized, F> {
    pub name: Arc<str>,
    /// Where the stage's events come from and its progress goes.
    pub feed: F,
    pub shared: Arc<PipelineShared>,
    /// The alert that stops this stage: its own for a stage of an in-process disruptor (raised
    /// with the pipeline's, or alone when the stage is removed), the pipeline's otherwise.
    pub alert: seqflow_sequence::Alert,
    /// Used when the stage has no exception handler of its own.
    pub default_exceptions: Arc<dyn ExceptionHandler<E>>,
    pub options: StageOptions<E>,
}

impl<E: ?Sized + 'static, F: EventFeed<E>> StageContext<E, F> {
    /// The stage's exception handler.
    fn exceptions(&self) -> &dyn ExceptionHandler<E> {
        match &self.options.exceptions {
            Some(own) => &**own,
            None => &*self.default_exceptions,
        }
    }

    /// Run the handler's start hook; `false` if it failed and the exception handler halts.
    pub fn start<H: EventHandler<E>>(&self, handler: &mut H) -> bool {
        tracing::debug!(stage = &*self.name, "stage started");
        match catch_unwind(AssertUnwindSafe(|| handler.on_start())) {
            Ok(()) => true,
            Err(payload) => {
                let failure = HandlerFailure::Panicked(panic_message(&*payload));
                let action = self.exceptions().handle_on_start_exception(&failure);
                !self.record(-1, &failure, action)
            }
        }
    }

    /// Run the handler's shutdown hook (a failure there is reported, and the stage stops anyway).
    pub fn finish<H: EventHandler<E>>(&self, handler: &mut H) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| handler.on_shutdown())) {
            let failure = HandlerFailure::Panicked(panic_message(&*payload));
            self.exceptions().handle_on_shutdown_exception(&failure);
            let seq = self.feed.sequence();
            self.record(seq, &failure, ExceptionAction::Continue);
        }
        tracing::debug!(
            stage = &*self.name,
            sequence = self.feed.sequence(),
            "stage stopped"
        );
    }

    /// The handler failed on `event` at `seq`: ask the exception handler, log, count; returns
    /// `true` if the pipeline halts (the stage must stop).
    pub fn event_failed(&self, seq: i64, event: &E, failure: HandlerFailure) -> bool {
        let action = match catch_unwind(AssertUnwindSafe(|| {
            self.exceptions()
                .handle_event_exception(&failure, seq, event)
        })) {
            Ok(action) => action,
            // An exception handler that panics cannot be trusted to have decided: halt.
            Err(_) => ExceptionAction::Halt,
        };
        self.record(seq, &failure, action)
    }

    /// The handler failed where no event can be shown (`on_batch_start`, `on_timeout`, or
    /// after releasing the event at `seq`): ask the exception handler, log, count; returns
    /// `true` if the pipeline halts (the stage must stop).
    pub fn failed_without_event(&self, seq: i64, failure: HandlerFailure) -> bool {
        let action = match catch_unwind(AssertUnwindSafe(|| {
            self.exceptions()
                .handle_exception_without_event(&failure, seq)
        })) {
            Ok(action) => action,
            // As in `event_failed`: a panicking exception handler halts.
            Err(_) => ExceptionAction::Halt,
        };
        self.record(seq, &failure, action)
    }

    /// Log and count `failure`; on `Halt`, halt the pipeline (producers waiting for room give
    /// up with `ClaimError::Halted`). Returns whether the stage must stop.
    pub fn record(&self, seq: i64, failure: &HandlerFailure, action: ExceptionAction) -> bool {
        let stop = self.shared.on_failure(&self.name, seq, failure, action);
        if stop {
            self.feed.halt();
        }
        stop
    }

    /// The feed reported something during a wait: a notice is logged and counted (the stage
    /// goes on); a broken feed halts the stage. Returns whether the stage must stop.
    #[cold]
    pub fn feed_failed(&self, seq: i64, error: FeedError) -> bool {
        match error {
            FeedError::Notice(message) => {
                let failure = HandlerFailure::Error(EventError::msg(message));
                self.record(seq, &failure, ExceptionAction::Continue)
            }
            FeedError::Broken(message) => {
                let failure = HandlerFailure::Error(EventError::msg(message));
                self.record(seq, &failure, ExceptionAction::Halt)
            }
            FeedError::Timeout | FeedError::Stopped => false,
        }
    }

    /// Whether shutdown or halt was requested (or the stage's removal).
    #[inline]
    pub fn stopping(&self) -> bool {
        self.alert.is_raised()
    }
}

/// Wait once, handle every available event (at most the stage's maximum batch, and short of a
/// cache line the producer is filling, see below), publish the stage's sequence once per
/// batch. Returns the stage's final sequence.
///
/// Stops when the pipeline's alert is raised (checked before each wait and after each chunk of
/// events, so a halt does not drain), or when a failure halts the pipeline.
///
/// The optional features cost nothing per event when unused: `on_batch_start`, the batch cap,
/// the timeout and the rewind bookkeeping run once per batch; the early-release handle
/// ([`BatchEvent`]) and the `Result` of the handler call are optimised away for handlers that
/// do not override `on_event_releasing` / `try_on_event` (both defaults are `#[inline]` and end in
/// `Ok(())`).
pub(crate) fn run_batch_processor<E: ?Sized + 'static, F, H>(
    mut ctx: StageContext<E, F>,
    mut handler: H,
) -> i64
where
    F: EventFeed<E>,
    H: EventHandler<E>,
{
    if !ctx.start(&mut handler) {
        return ctx.feed.sequence();
    }
    let max_batch = ctx.options.max_batch.max(1);
    let timeout = ctx.options.timeout;
    let rewind = ctx.options.rewind;
    let mut rewinds = 0u32;
    let mut next = ctx.feed.sequence() + 1;
    // Where recent polls found the published events to end (see `PollEnds::batch_end`).
    let mut poll_ends = PollEnds::new();
    // The pause owed before the next wait after a small batch (see `Pacing`).
    let pacing = ctx
        .options
        .pacing
        .unwrap_or_else(|| ctx.feed.default_pacing());
    let mut pacer = Pacer::new(pacing).on_ring(ctx.feed.capacity());
    while !ctx.stopping() {
        let owed = pacer.take();
        if owed > 0 && ctx.feed.paces() && pacer.should_pause(|| ctx.feed.published(next)) {
            Pacer::pause(owed, || ctx.stopping());
        }
        let available = match ctx.feed.wait_for(next, timeout) {
            Ok(available) => available,
            Err(FeedError::Timeout) => {
                if timed_out(&ctx, &mut handler, next - 1) {
                    break;
                }
                continue;
            }
            Err(FeedError::Stopped) => break,
            Err(error) => {
                if ctx.feed_failed(next - 1, error) {
                    break;
                }
                // A feed may move the stage on when it reports (a lossy feed that was lapped
                // resumes at the oldest event still held); for the others this is `next`.
                next = ctx.feed.sequence() + 1;
                continue;
            }
        };
        let start = next;
        let capped = available.min(start.saturating_add(max_batch - 1));
        // A batch may stop short of the cache line a one-at-a-time producer is filling (see
        // `PollEnds::batch_end` and docs/design.md "Batches that stop short of the producer's
        // cache line"; 1p1c-u64-single about 1.25x faster).
        let Some(end) = poll_ends.batch_end(start, capped, available, rewinds > 0, || {
            ctx.feed.partial_line(available)
        }) else {
            continue;
        };
        let feed = &ctx.feed;
        let publish = |seq: i64| {
            feed.set_sequence(seq);
            feed.signal();
        };
        let releaser = Releaser::new(start - 1, &publish);
        let mut current = start;
        // Apart from the events: a failure here is nobody's event, and the batch is handled
        // after it unless the exception handler halts.
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| {
            handler.on_batch_start(end - start + 1, available - start + 1)
        })) {
            let failure = HandlerFailure::Panicked(panic_message(&*payload));
            if ctx.failed_without_event(start, failure) {
                break;
            }
        }
        let batch = catch_unwind(AssertUnwindSafe(|| {
            while current <= end {
                // The halt check runs once per chunk: per event it would keep the handler's
                // state and the ring in memory instead of registers (23 vs 11 instructions per
                // event, measured with callgrind).
                // A chunk also ends where the ring wraps, so its events sit in consecutive slots
                // and are found by offset from the first (no mask per event).
                let chunk_end = if current == end {
                    current
                } else {
                    feed.run_end(current, end.min(current + 1023))
                };
                let first = current;
                // `current` follows the events handled, so that a panic (caught below) finds
                // the event that raised it there.
                let handle = |seq: i64, event: NonNull<E>| {
                    current = seq;
                    // SAFETY: `visit_run` hands over events that stay readable while the
                    // handler runs (see below); only an exclusive stage's adapter writes them.
                    let event = unsafe { BatchEvent::new(event, seq, seq == end, &releaser) };
                    handler.on_event_releasing(event)
                };
                // `current..=chunk_end` is published and processed by every stage this one
                // depends on; our sequence (below `current`: the handler may release only events
                // before the one it holds, see `BatchEvent`) still gates the producer, directly
                // or through the stages after us; `chunk_end` ends a run.
                // SAFETY: so no slot of the chunk is reclaimed while we read it.
                unsafe { feed.visit_run(first, chunk_end, handle) }?;
                current = chunk_end + 1;
                // A halt stops a long batch too (shutdown raises the alert only after the drain).
                if ctx.stopping() {
                    break;
                }
            }
            Ok(())
        }));
        let failure = match batch {
            Ok(Ok(())) => {
                rewinds = 0;
                ctx.feed.set_sequence(current - 1);
                pacer.handled_of(current - start, available - start + 1, capped < available);
                next = current;
                ctx.feed.signal();
                continue;
            }
            Ok(Err(EventError::Rewind)) => {
                let released = releaser.released();
                if released != start - 1 {
                    // Part of the batch may be overwritten already: never replay it.
                    HandlerFailure::Error(EventError::CannotRewind {
                        batch_start: start,
                        released,
                    })
                } else if rewinds < rewind.max_attempts() {
                    rewinds += 1;
                    tracing::debug!(stage = &*ctx.name, start, rewinds, "replaying the batch");
                    if !rewind.pause_before_replay().is_zero() {
                        std::thread::sleep(rewind.pause_before_replay());
                    }
                    // The stage's sequence is still `start - 1`: the batch is still ours.
                    next = start;
                    continue;
                } else {
                    HandlerFailure::Error(EventError::RewindsExhausted {
                        batch_start: start,
                        attempts: rewinds,
                    })
                }
            }
            Ok(Err(error)) => HandlerFailure::Error(error),
            Err(payload) => HandlerFailure::Panicked(panic_message(&*payload)),
        };
        rewinds = 0;
        let stop = if releaser.released() < current {
            // `current <= end` is available, and the stage's sequence (the handler's early
            // releases included, checked just above) is below it.
            // SAFETY: so the slot is not reclaimed while the exception handler reads it.
            let event = unsafe { ctx.feed.event(current) };
            ctx.event_failed(current, event, failure)
        } else {
            // The handler released this very event before failing: it may be overwritten, so the
            // exception handler does not see it.
            ctx.failed_without_event(current, failure)
        };
        if stop {
            // The stage's sequence stays where the handler left it (the batch start, or what it
            // released): a handler may finish its events only at the end of a batch, so the
            // events before the failed one are not known to be done. A restarted stage (a
            // declared consumer of a shared ring) replays them.
            break;
        }
        // Skip the event that failed.
        ctx.feed.set_sequence(current);
        next = current + 1;
        ctx.feed.signal();
    }
    ctx.finish(&mut handler);
    ctx.feed.sequence()
}

/// A wait timed out: tell the handler (a panic there goes to the exception handler, without
/// an event); returns whether the stage must stop.
#[cold]
pub(crate) fn timed_out<E: ?Sized + 'static, F: EventFeed<E>, H: EventHandler<E>>(
    ctx: &StageContext<E, F>,
    handler: &mut H,
    seq: i64,
) -> bool {
    match catch_unwind(AssertUnwindSafe(|| handler.on_timeout(seq))) {
        Ok(()) => false,
        Err(payload) => {
            let failure = HandlerFailure::Panicked(panic_message(&*payload));
            ctx.failed_without_event(seq, failure)
        }
    }
}
