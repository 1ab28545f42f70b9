//! The worker of a pool: the loop each worker of `handle_events_with_worker_pool` runs.

use crate::processor::StageContext;
use crate::release::{BatchEvent, Releaser};
use crate::shared::panic_message;
use crate::{EventError, EventHandler, ExceptionAction, HandlerFailure};
use seqflow_sequence::{OwnedRef, Sequence, WaitError, WaitStrategy};
use seqflow_sequencer::Sequencer;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Take the next sequence from the pool's shared work sequence (work stealing), wait for it,
/// handle it; each event goes to exactly one worker.
///
/// A worker's own sequence is set to `taken - 1` when it takes `taken`: every event below the
/// one it holds is done as far as it is concerned. The minimum over the pool's workers is
/// therefore the highest sequence every worker has finished with, which is what later stages
/// and the producer follow.
///
/// Workers handle one event at a time: there is no batch to replay
/// ([`EventError::Rewind`] is a failure, [`EventError::RewindUnsupported`]), `on_batch_start` is
/// not called and the stage's maximum batch size does not apply. Timeouts and exception
/// handlers work as for other stages.
pub(crate) fn run_worker<E: 'static, S, H>(
    ctx: StageContext<E, S>,
    work: OwnedRef<Sequence>,
    mut handler: H,
) where
    S: Sequencer,
    H: EventHandler<E>,
{
    if !ctx.start(&mut handler) {
        return;
    }
    let wait = ctx.barrier.producer().wait_strategy();
    let signal = || wait.signal_all();
    let timeout = ctx.options.timeout;
    let mut taken_done = true;
    let mut taken = ctx.registration.sequence_relaxed();
    let mut available = i64::MIN;
    while !ctx.stopping() {
        if taken_done {
            taken_done = false;
            loop {
                let last = work.get();
                taken = last + 1;
                ctx.registration.set_sequence(last);
                if work.compare_and_set(last, taken) {
                    break;
                }
            }
            wait.signal_all();
        }
        if available >= taken {
            let seq = taken;
            let end_of_batch = seq == available;
            let releaser = Releaser::new(&ctx.registration, seq - 1, &signal);
            let result = catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: `seq <= available` is published and done by our dependencies; our
                // sequence (`seq - 1`, or `seq` once the handler released and dropped the event)
                // gates the producer, so the slot is not reclaimed while it is read.
                let event = unsafe { ctx.ring.get(seq) };
                handler.on_event_releasing(BatchEvent::new(event, seq, end_of_batch, &releaser))
            }));
            let failure = match result {
                Ok(Ok(())) => None,
                Ok(Err(EventError::Rewind)) => {
                    Some(HandlerFailure::Error(EventError::RewindUnsupported))
                }
                Ok(Err(error)) => Some(HandlerFailure::Error(error)),
                Err(payload) => Some(HandlerFailure::Panicked(panic_message(&*payload))),
            };
            if let Some(failure) = failure {
                let stop = if releaser.released() < seq {
                    // SAFETY: as above; the handler did not release this event.
                    let event = unsafe { ctx.ring.get(seq) };
                    ctx.event_failed(seq, event, failure)
                } else {
                    ctx.record(seq, &failure, ExceptionAction::Continue)
                };
                if stop {
                    break;
                }
            }
            taken_done = true;
        } else {
            match ctx.barrier.wait_for(taken, timeout) {
                Ok(upto) => available = upto,
                Err(WaitError::Timeout) => {
                    let seq = ctx.registration.sequence_relaxed();
                    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| handler.on_timeout(seq)))
                    {
                        let failure = HandlerFailure::Panicked(panic_message(&*payload));
                        ctx.record(seq, &failure, ExceptionAction::Continue);
                    }
                }
                Err(WaitError::Alerted) => break,
            }
        }
    }
    ctx.finish(&mut handler);
}
