//! The worker of a pool: the loop each worker of `handle_events_with_worker_pool` runs.

use crate::processor::{halt_producers, StageContext};
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
    let StageContext {
        name,
        barrier,
        ring,
        sequence,
        shared,
        policy,
    } = ctx;
    tracing::debug!(stage = &*name, "worker started");
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| handler.on_start())) {
        if shared.on_panic(&name, -1, payload, policy) {
            halt_producers(&**barrier.producer());
            return;
        }
    }
    let wait = barrier.producer().wait_strategy();
    let mut taken_done = true;
    let mut taken = sequence.get();
    let mut available = i64::MIN;
    while !shared.alert.is_raised() {
        if taken_done {
            taken_done = false;
            loop {
                let last = work.get();
                taken = last + 1;
                sequence.set(last);
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
                let event = unsafe { ring.get(seq) };
                handler.on_event(event, seq, end_of_batch);
            }));
            if let Err(payload) = result {
                if shared.on_panic(&name, seq, payload, policy) {
                    halt_producers(&**barrier.producer());
                    break;
                }
            }
            taken_done = true;
        } else {
            match barrier.wait_for(taken, None) {
                Ok(upto) => available = upto,
                Err(_) => break,
            }
        }
    }
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| handler.on_shutdown())) {
        shared.on_panic(
            &name,
            sequence.get(),
            payload,
            crate::PanicPolicy::LogAndContinue,
        );
    }
    tracing::debug!(stage = &*name, "worker stopped");
}
