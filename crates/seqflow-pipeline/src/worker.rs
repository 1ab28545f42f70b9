//! The worker of a pool: the loop each worker of `handle_events_with_worker_pool` runs.

use crate::processor::StageContext;
use crate::EventHandler;
use seqflow_sequence::{OwnedRef, Sequence, WaitStrategy};
use seqflow_sequencer::Sequencer;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Take the next sequence from the pool's shared work sequence (work stealing), wait for it,
/// handle it; each event goes to exactly one worker.
///
/// A worker's own sequence is set to `taken - 1` when it takes `taken`: every event below the
/// one it holds is done as far as it is concerned. The minimum over the pool's workers is
/// therefore the highest sequence every worker has finished with, which is what later stages
/// and the producer follow.
pub(crate) fn run_worker<E, S, H>(ctx: StageContext<E, S>, work: OwnedRef<Sequence>, mut handler: H)
where
    S: Sequencer,
    H: EventHandler<E>,
{
    if !ctx.start(&mut handler) {
        return;
    }
    let wait = ctx.barrier.producer().wait_strategy();
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
            let result = catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: `seq <= available` is published and done by our dependencies; our
                // sequence (`seq - 1`) gates the producer, so the slot is not reclaimed.
                let event = unsafe { ctx.ring.get(seq) };
                handler.on_event(event, seq, end_of_batch);
            }));
            if let Err(payload) = result {
                if ctx.handler_panicked(seq, payload) {
                    break;
                }
            }
            taken_done = true;
        } else {
            match ctx.barrier.wait_for(taken, None) {
                Ok(upto) => available = upto,
                Err(_) => break,
            }
        }
    }
    ctx.finish(&mut handler);
}
