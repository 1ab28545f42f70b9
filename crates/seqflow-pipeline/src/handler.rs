//! [`EventHandler`]: what a consumer stage does with each event.

/// Handles events on a stage's own thread.
///
/// Events arrive in sequence order, in batches: `end_of_batch` is true for the last event that
/// was available when the batch started (a good moment to flush). Closures
/// `FnMut(&E, i64, bool)` are handlers.
///
/// ```
/// use seqflow_pipeline::EventHandler;
/// struct Count(u64);
/// impl EventHandler<u64> for Count {
///     fn on_event(&mut self, _event: &u64, _seq: i64, _end_of_batch: bool) { self.0 += 1; }
///     fn on_shutdown(&mut self) { println!("saw {} events", self.0); }
/// }
/// let mut c = Count(0);
/// c.on_event(&1, 0, true);
/// assert_eq!(c.0, 1);
/// ```
pub trait EventHandler<E>: Send + 'static {
    /// Handle the event at `seq`.
    fn on_event(&mut self, event: &E, seq: i64, end_of_batch: bool);

    /// Called once on the stage's thread before the first event.
    fn on_start(&mut self) {}

    /// Called once on the stage's thread after the last event (after a drain or a halt).
    fn on_shutdown(&mut self) {}
}

impl<E, F> EventHandler<E> for F
where
    F: FnMut(&E, i64, bool) + Send + 'static,
{
    #[inline]
    fn on_event(&mut self, event: &E, seq: i64, end_of_batch: bool) {
        self(event, seq, end_of_batch)
    }
}
