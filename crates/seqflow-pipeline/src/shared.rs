//! [`PipelineShared`]: the state every stage thread and the disruptor handle share.

use crate::PanicPolicy;
use parking_lot::Mutex;
use seqflow_sequence::Alert;
use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};

/// The first panic that halted the pipeline.
#[derive(Debug, Clone)]
pub(crate) struct PanicRecord {
    pub stage: String,
    pub seq: i64,
    pub message: String,
}

/// Alert for every stage barrier, panic accounting.
#[derive(Debug, Default)]
pub(crate) struct PipelineShared {
    /// Raised on shutdown (after the drain) and halt; every stage barrier shares it.
    pub alert: Alert,
    /// Handler panics so far (any policy).
    pub panics: AtomicU64,
    /// The panic that halted the pipeline, under `PanicPolicy::Halt`.
    pub halting_panic: Mutex<Option<PanicRecord>>,
}

impl PipelineShared {
    /// Log and count a handler panic; under `Halt`, record it and raise the alert.
    /// Returns whether the stage should stop.
    pub fn on_panic(
        &self,
        stage: &str,
        seq: i64,
        payload: Box<dyn Any + Send>,
        policy: PanicPolicy,
    ) -> bool {
        let message = panic_message(&*payload);
        self.panics.fetch_add(1, Ordering::Relaxed);
        match policy {
            PanicPolicy::LogAndContinue => {
                tracing::error!(stage, seq, %message, "handler panicked; skipping the event");
                false
            }
            PanicPolicy::Halt => {
                tracing::error!(stage, seq, %message, "handler panicked; halting the disruptor");
                self.halting_panic.lock().get_or_insert(PanicRecord {
                    stage: stage.to_owned(),
                    seq,
                    message,
                });
                self.alert.raise();
                true
            }
        }
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
