//! The batch event processor: the loop every handler stage runs on its thread.

use crate::shared::PipelineShared;
use crate::{EventHandler, PanicPolicy};
use seqflow_ring::RingBuffer;
use seqflow_sequence::{OwnedRef, Sequence, SequenceBarrier, WaitStrategy};
use seqflow_sequencer::Sequencer;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// Everything a stage thread needs besides its handler.
pub(crate) struct StageContext<E, S: Sequencer> {
    pub name: Arc<str>,
    pub barrier: SequenceBarrier<S>,
    pub ring: RingBuffer<E>,
    pub sequence: OwnedRef<Sequence>,
    pub shared: Arc<PipelineShared>,
    pub policy: PanicPolicy,
}

/// Wait once, handle every available event, publish the stage's sequence once per batch.
///
/// Stops when the pipeline's alert is raised (checked before each wait, so a halt does not
/// drain), or when a handler panics under `PanicPolicy::Halt`.
pub(crate) fn run_batch_processor<E, S, H>(ctx: StageContext<E, S>, mut handler: H)
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
    tracing::debug!(stage = &*name, "stage started");
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| handler.on_start())) {
        if shared.on_panic(&name, -1, payload, policy) {
            halt_producers(&**barrier.producer());
            return;
        }
    }
    let wait = barrier.producer().wait_strategy();
    let mut next = sequence.get() + 1;
    while !shared.alert.is_raised() {
        let Ok(available) = barrier.wait_for(next, None) else {
            break;
        };
        let mut current = next;
        let alert = &shared.alert;
        let batch = catch_unwind(AssertUnwindSafe(|| {
            while current <= available {
                // SAFETY: `current <= available` is published and processed by every stage this
                // one depends on; our sequence (below `current`) still gates the producer, directly
                // or through the stages after us, so the slot is not reclaimed while we read it.
                let event = unsafe { ring.get(current) };
                handler.on_event(event, current, current == available);
                current += 1;
                // A halt stops a long batch too (a load of a line that is only written on
                // shutdown, so it stays cached; shutdown raises it only after the drain).
                if alert.is_raised() {
                    break;
                }
            }
        }));
        match batch {
            Ok(()) => {
                sequence.set(current - 1);
                next = current;
            }
            Err(payload) => {
                if shared.on_panic(&name, current, payload, policy) {
                    halt_producers(&**barrier.producer());
                    break;
                }
                // Skip the event that panicked.
                sequence.set(current);
                next = current + 1;
            }
        }
        wait.signal_all();
    }
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| handler.on_shutdown())) {
        shared.on_panic(&name, sequence.get(), payload, PanicPolicy::LogAndContinue);
    }
    tracing::debug!(stage = &*name, sequence = sequence.get(), "stage stopped");
}

/// After a panic under `PanicPolicy::Halt`: make producers waiting for free slots give up with
/// `ClaimError::Halted`, and wake every waiter so it sees the raised alerts.
pub(crate) fn halt_producers<S: Sequencer>(sequencer: &S) {
    sequencer.alert().raise();
    sequencer.wait_strategy().signal_all();
}
