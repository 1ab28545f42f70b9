//! [`CliError`]: everything that can make a `seqflow` command fail.

use crate::verify::VerifyError;
use seqflow_pipeline::{BuildError, PollError, ShutdownError};
use seqflow_sequencer::ClaimError;

/// Why a command failed. [`exit_code`](Self::exit_code) maps it to the process exit status.
///
/// ```
/// use seqflow_cli::CliError;
/// assert_eq!(CliError::InvalidArgument("x".into()).exit_code(), 2);
/// assert_eq!(CliError::Peer("x".into()).exit_code(), 1);
/// ```
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A flag value or combination that cannot work.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A shared-memory ring could not be opened, inspected or removed.
    #[error("shared memory: {0}")]
    Shm(String),
    /// A disruptor could not be built.
    #[error("could not build the disruptor: {0}")]
    Build(#[from] BuildError),
    /// A claim failed.
    #[error("claim failed: {0}")]
    Claim(#[from] ClaimError),
    /// A disruptor did not shut down cleanly.
    #[error("shutdown failed: {0}")]
    Shutdown(#[from] ShutdownError),
    /// A poller failed.
    #[error("poll failed: {0}")]
    Poll(#[from] PollError),
    /// A consumer did not receive exactly what was published.
    #[error("verification failed: {0}")]
    Verify(#[from] VerifyError),
    /// A peer misbehaved (a channel hung up early).
    #[error("{0}")]
    Peer(String),
    /// A ping-pong round trip came back wrong.
    #[error("ping-pong: {0}")]
    PingPong(String),
    /// A worker thread panicked.
    #[error("a {0} thread panicked")]
    Panicked(String),
    /// A run of one implementation in one scenario failed.
    #[error("{implementation} in {scenario}: {source}")]
    Run {
        /// The implementation.
        implementation: String,
        /// The scenario.
        scenario: String,
        /// What went wrong.
        source: Box<CliError>,
    },
    /// The chart could not be drawn.
    #[error("could not draw the chart: {0}")]
    Plot(String),
    /// The perf test found bad or missing slots.
    #[error("perf test failed: {0}")]
    PerfFailed(String),
    /// Writing the output failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl CliError {
    /// 2 for a bad argument (as for clap's own errors), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::InvalidArgument(_) => 2,
            CliError::Run { source, .. } => source.exit_code(),
            _ => 1,
        }
    }
}
