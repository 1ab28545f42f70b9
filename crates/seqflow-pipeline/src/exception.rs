//! [`ExceptionHandler`]: what a stage does when its handler panics or returns an error.

use crate::{EventError, PanicPolicy};

/// What went wrong in a handler.
///
/// ```
/// use seqflow_pipeline::{EventError, HandlerFailure};
/// let f = HandlerFailure::Error(EventError::msg("disk full"));
/// assert_eq!(f.to_string(), "disk full");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum HandlerFailure {
    /// The handler panicked; the panic message.
    #[error("panicked: {0}")]
    Panicked(String),
    /// The handler returned an error (or asked for a rewind the stage could not do).
    #[error(transparent)]
    Error(#[from] EventError),
}

/// What the stage does after an [`ExceptionHandler`] has seen a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExceptionAction {
    /// Skip the event (it counts as handled) and go on; after a failed `on_start`, run anyway;
    /// after a failure with no event (see
    /// [`handle_exception_without_event`](ExceptionHandler::handle_exception_without_event)),
    /// go on as if it had not happened (a failed `on_batch_start` skips no event).
    Continue,
    /// Halt the whole disruptor without draining: every stage stops, blocked producers get
    /// `ClaimError::Halted`, and `shutdown` reports the failure.
    Halt,
}

/// Decides what a stage does when its handler fails: LMAX's exception handler. Set a default
/// for every stage ([`DisruptorConfig::exception_handler`](crate::DisruptorConfig::exception_handler))
/// and override it per stage ([`Stages::exception_handler`](crate::Stages::exception_handler)).
/// [`PanicPolicy`] is the default one.
///
/// Every failure is also logged with `tracing` and counted in
/// [`Metrics::panics`](crate::Metrics::panics) whatever the handler decides: nothing fails
/// silently. One handler may serve several stage threads at once (`&self`, `Sync`).
///
/// ```
/// use seqflow_pipeline::{Disruptor, ExceptionAction, ExceptionHandler, HandlerFailure};
/// use std::sync::{Arc, Mutex};
/// struct Collect(Mutex<Vec<(i64, u32)>>);
/// impl ExceptionHandler<u32> for Collect {
///     fn handle_event_exception(&self, _: &HandlerFailure, seq: i64, event: &u32) -> ExceptionAction {
///         self.0.lock().unwrap().push((seq, *event));
///         ExceptionAction::Continue
///     }
/// }
/// let failed = Arc::new(Collect(Mutex::new(Vec::new())));
/// let mut b = Disruptor::builder(8, || 0u32).single_producer().unwrap();
/// b.handle_events_with(|e: &u32, _, _| assert!(*e != 3, "three"))
///     .exception_handler(failed.clone());
/// let (d, mut p) = b.start().unwrap();
/// for i in 0..5 { p.publish(|e, _| *e = i).unwrap(); }
/// d.shutdown().unwrap();
/// assert_eq!(*failed.0.lock().unwrap(), vec![(3, 3)]);
/// ```
pub trait ExceptionHandler<E: ?Sized>: Send + Sync + 'static {
    /// The handler failed on the event at `seq`.
    fn handle_event_exception(
        &self,
        failure: &HandlerFailure,
        seq: i64,
        event: &E,
    ) -> ExceptionAction;

    /// The handler failed where no event can be shown: in `on_batch_start` (`seq` is the
    /// batch's first event, which is then handled as usual on `Continue`), in `on_timeout`
    /// (`seq` is the stage's sequence), or after it released the event at `seq` it was
    /// handling (the slot may hold a newer event already). Default:
    /// [`ExceptionAction::Continue`]; [`PanicPolicy`] answers as for an event. A handler of
    /// your own that halts on event failures should override this too: without it, these
    /// failures are logged and counted, and the stage goes on.
    fn handle_exception_without_event(
        &self,
        failure: &HandlerFailure,
        seq: i64,
    ) -> ExceptionAction {
        let _ = (failure, seq);
        ExceptionAction::Continue
    }

    /// `on_start` failed. Default: [`ExceptionAction::Continue`] (the stage runs).
    fn handle_on_start_exception(&self, failure: &HandlerFailure) -> ExceptionAction {
        let _ = failure;
        ExceptionAction::Continue
    }

    /// `on_shutdown` failed (the stage is stopping anyway). Default: nothing beyond the log.
    fn handle_on_shutdown_exception(&self, failure: &HandlerFailure) {
        let _ = failure;
    }
}

impl PanicPolicy {
    /// The action this policy takes on any failure.
    fn action(&self) -> ExceptionAction {
        match self {
            PanicPolicy::LogAndContinue => ExceptionAction::Continue,
            PanicPolicy::Halt => ExceptionAction::Halt,
        }
    }
}

impl<E: ?Sized> ExceptionHandler<E> for PanicPolicy {
    fn handle_event_exception(&self, _: &HandlerFailure, _: i64, _: &E) -> ExceptionAction {
        self.action()
    }

    fn handle_exception_without_event(&self, _: &HandlerFailure, _: i64) -> ExceptionAction {
        self.action()
    }
}

impl<E: ?Sized, H: ExceptionHandler<E> + ?Sized> ExceptionHandler<E> for std::sync::Arc<H> {
    fn handle_event_exception(
        &self,
        failure: &HandlerFailure,
        seq: i64,
        event: &E,
    ) -> ExceptionAction {
        (**self).handle_event_exception(failure, seq, event)
    }

    fn handle_exception_without_event(
        &self,
        failure: &HandlerFailure,
        seq: i64,
    ) -> ExceptionAction {
        (**self).handle_exception_without_event(failure, seq)
    }

    fn handle_on_start_exception(&self, failure: &HandlerFailure) -> ExceptionAction {
        (**self).handle_on_start_exception(failure)
    }

    fn handle_on_shutdown_exception(&self, failure: &HandlerFailure) {
        (**self).handle_on_shutdown_exception(failure)
    }
}
