//! [`PipelineShared`]: the state every stage thread and the disruptor handle share.

use crate::{ExceptionAction, HandlerFailure, ShutdownError};
use parking_lot::Mutex;
use seqflow_sequence::Alert;
use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};

/// The pipeline's alerts, failure accounting.
#[derive(Debug, Default)]
pub(crate) struct PipelineShared {
    /// Raised on shutdown (after the drain) and halt (with every stage's own alert, see
    /// [`raise`](Self::raise)); pollers and lossy subscribers wait on it.
    pub alert: Alert,
    /// Raised with `alert` when the pipeline stops without draining (halt, a failure that
    /// halts, a drain that timed out), not by a drained shutdown: a poller that follows another
    /// poller then keeps waiting for what that one still hands on.
    pub halted: Alert,
    /// Each stage thread's own alert (its barrier waits on it and its loop checks it), so that
    /// one stage can be stopped alone; keyed by an id for taking it out again.
    stage_alerts: Mutex<StageAlerts>,
    /// Handler failures (panics and returned errors) so far, whatever was done about them.
    pub panics: AtomicU64,
    /// The failure that halted the pipeline.
    pub halting: Mutex<Option<ShutdownError>>,
}

/// The stage alerts [`PipelineShared::raise`] raises, with the next id to hand out.
#[derive(Debug, Default)]
struct StageAlerts {
    next_id: u64,
    alerts: Vec<(u64, Alert)>,
}

impl PipelineShared {
    /// A new stage's own alert and its id (for [`forget_stage_alert`](Self::forget_stage_alert)):
    /// raised with the pipeline's, and already raised if the pipeline was.
    pub fn new_stage_alert(&self) -> (u64, Alert) {
        let mut stages = self.stage_alerts.lock();
        let alert = Alert::new();
        // Under the lock `raise` takes: either it raised the pipeline's alert before (seen
        // here), or it will find this one in the list.
        if self.alert.is_raised() {
            alert.raise();
        }
        let id = stages.next_id;
        stages.next_id += 1;
        stages.alerts.push((id, alert.clone()));
        (id, alert)
    }

    /// Drop a removed stage's alert from the list.
    pub fn forget_stage_alert(&self, id: u64) {
        self.stage_alerts.lock().alerts.retain(|(i, _)| *i != id);
    }

    /// Stop everything without draining: the halt, the pipeline's alert, every stage's own.
    pub fn raise(&self) {
        self.halted.raise();
        self.raise_drained();
    }

    /// Stop everything after a drain: the pipeline's alert, then every stage's own.
    pub fn raise_drained(&self) {
        let stages = self.stage_alerts.lock();
        self.alert.raise();
        for (_, alert) in &stages.alerts {
            alert.raise();
        }
    }
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
                tracing::error!(stage, seq, %failure, "handler failed; the stage goes on");
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
                self.raise();
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
