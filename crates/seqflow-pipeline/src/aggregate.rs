//! [`AggregateHandler`]: several handlers run one after the other on one stage's thread.

use crate::{EventError, EventHandler};

/// Several handlers as one stage: each event goes to every handler in order, on the stage's one
/// thread, before the stage moves on; the hooks (`on_start`, `on_batch_start`, `on_timeout`,
/// `on_shutdown`) reach every handler in the same order.
///
/// Use it to put work that is too small for a thread of its own beside other work without an
/// extra stage (and its cache traffic). A failure stops the event there: when one handler's
/// [`try_on_event`](EventHandler::try_on_event) fails, the handlers after it do not see that
/// event, and the error goes to the stage's exception handler as any stage's would. A
/// [`EventError::Rewind`] replays the batch to every handler, so handlers before the one that
/// asked see those events again. Handlers in an aggregate cannot release slots early: the
/// aggregate calls each one's [`try_on_event`](EventHandler::try_on_event), never its
/// [`on_event_releasing`](EventHandler::on_event_releasing), so a handler whose work lives in
/// that hook belongs on a stage of its own.
///
/// ```
/// use seqflow_pipeline::{AggregateHandler, Disruptor, EventHandler};
/// use std::sync::{Arc, Mutex};
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let (a, b) = (Arc::clone(&log), Arc::clone(&log));
/// let journal: Box<dyn EventHandler<u64> + Send> =
///     Box::new(move |e: &u64, _, _| a.lock().unwrap().push(format!("journal {e}")));
/// let replicate: Box<dyn EventHandler<u64> + Send> =
///     Box::new(move |e: &u64, _, _| b.lock().unwrap().push(format!("replicate {e}")));
/// let mut builder = Disruptor::builder(8, || 0u64).single_producer().unwrap();
/// builder.handle_events_with(AggregateHandler::new(vec![journal, replicate]));
/// let (d, mut p) = builder.start().unwrap();
/// p.publish(|e, _| *e = 7).unwrap();
/// d.shutdown().unwrap();
/// assert_eq!(*log.lock().unwrap(), ["journal 7", "replicate 7"]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct AggregateHandler<H> {
    handlers: Vec<H>,
}

impl<H> AggregateHandler<H> {
    /// The handlers, called in this order.
    pub fn new(handlers: Vec<H>) -> Self {
        Self { handlers }
    }

    /// Add a handler after the others.
    pub fn push(&mut self, handler: H) {
        self.handlers.push(handler);
    }

    /// The handlers, in call order (to read their state after the stage has stopped, for
    /// a caller that kept the aggregate).
    pub fn handlers(&self) -> &[H] {
        &self.handlers
    }

    /// The handlers back, in call order.
    pub fn into_inner(self) -> Vec<H> {
        self.handlers
    }
}

impl<H> FromIterator<H> for AggregateHandler<H> {
    fn from_iter<I: IntoIterator<Item = H>>(iter: I) -> Self {
        Self::new(iter.into_iter().collect())
    }
}

impl<E: ?Sized, H: EventHandler<E>> EventHandler<E> for AggregateHandler<H> {
    /// Every handler's `on_event`, in order.
    fn on_event(&mut self, event: &E, seq: i64, end_of_batch: bool) {
        for h in &mut self.handlers {
            h.on_event(event, seq, end_of_batch);
        }
    }

    /// Every handler's `try_on_event`, in order, up to the first failure.
    fn try_on_event(&mut self, event: &E, seq: i64, end_of_batch: bool) -> Result<(), EventError> {
        for h in &mut self.handlers {
            h.try_on_event(event, seq, end_of_batch)?;
        }
        Ok(())
    }

    fn on_batch_start(&mut self, batch_size: i64, queue_depth: i64) {
        for h in &mut self.handlers {
            h.on_batch_start(batch_size, queue_depth);
        }
    }

    fn on_timeout(&mut self, seq: i64) {
        for h in &mut self.handlers {
            h.on_timeout(seq);
        }
    }

    fn on_start(&mut self) {
        for h in &mut self.handlers {
            h.on_start();
        }
    }

    fn on_shutdown(&mut self) {
        for h in &mut self.handlers {
            h.on_shutdown();
        }
    }
}
