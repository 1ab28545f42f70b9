//! [`PanicPolicy`]: what a stage does when its handler panics.

/// What happens when an event handler panics. Either way the panic is logged with `tracing`
/// (stage, sequence, message) and counted in [`Metrics::panics`](crate::Metrics::panics); it
/// never hangs the producer or the other stages silently.
///
/// ```
/// use seqflow_pipeline::PanicPolicy;
/// assert_eq!(PanicPolicy::default(), PanicPolicy::Halt);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PanicPolicy {
    /// Skip the event that panicked and go on with the next one.
    LogAndContinue,
    /// Stop the whole disruptor without draining: every stage stops, blocked producers get
    /// `ClaimError::Halted`, and `shutdown` reports [`ShutdownError::HandlerPanicked`](crate::ShutdownError::HandlerPanicked).
    #[default]
    Halt,
}
