//! [`PipelineShared`]: the state every stage thread and the disruptor handle share.

use crate::{ExceptionAction, HandlerFailure, ShutdownError};
use parking_lot::Mutex;
use seqflow_sequence::Alert;
use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};

/// Alert for every stage barrier, failure accounting.
#[derive(Debug, Default)]
pub(crate) struct PipelineShared {
    /// Raised on shutdown (after the drain) and halt; every stage barrier shares it.
    pub alert: Alert,
    /// Handler failures (panics and returned errors) so far, whatever was done about them.
    pub panics: AtomicU64,
    /// The failure that halted the pipeline.
    pub halting: Mutex<Option<ShutdownError>>,
}

impl PipelineShared {
    /// Log and count a handler failure at `seq` in `stage`; if `action` halts, record it and
    /// raise the alert. Returns whether the stage should stop.
    pub fn on_failure(
        &self,
        stage: &str,
        seq: i64,
        failure: &HandlerFailure,
        action: ExceptionAction,
    ) -> bool {
        self.panics.fetch_add(1, Ordering::Relaxed);
        match action {
            ExceptionAction::Continue => {
                tracing::error!(stage, seq, %failure, "handler failed; skipping the event");
                false
            }
            ExceptionAction::Halt => {
                tracing::error!(stage, seq, %failure, "handler failed; halting the disruptor");
                let (stage, message) = (stage.to_owned(), failure_message(failure));
                self.halting.lock().get_or_insert(match failure {
                    HandlerFailure::Panicked(_) => ShutdownError::HandlerPanicked {
                        stage,
                        seq,
                        message,
                    },
                    HandlerFailure::Error(_) => ShutdownError::HandlerFailed {
                        stage,
                        seq,
                        message,
                    },
                });
                self.alert.raise();
                true
            }
        }
    }
}

/// The text of a failure without the "panicked: " prefix.
fn failure_message(failure: &HandlerFailure) -> String {
    match failure {
        HandlerFailure::Panicked(message) => message.clone(),
        HandlerFailure::Error(e) => e.to_string(),
    }
}

/// The text of a panic payload (`&str` or `String`), or a placeholder.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
