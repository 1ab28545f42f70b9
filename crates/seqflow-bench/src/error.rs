//! [`BenchError`]: everything that can make a scenario run fail.

use crate::verify::VerifyError;
use seqflow_pipeline::{BuildError, PollError, ShutdownError};
use seqflow_sequencer::ClaimError;

/// Why a run, a ping-pong or a selection failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A `--scenario` token that names no scenario.
    #[error(
        "unknown scenario '{token}': use all, latency, ipc, a family ({families}), optionally \
         followed by -u64/-b128 and/or -burst/-single (e.g. 1p1c-burst, 2p1c-b128-single)"
    )]
    UnknownScenario {
        /// The token as given.
        token: String,
        /// The family names, comma separated.
        families: String,
    },
    /// An implementation asked to run a scenario it has no form of (the lock sequencer with one
    /// producer).
    #[error("{implementation} has no {scenario} scenario")]
    Unsupported {
        /// The implementation's name.
        implementation: &'static str,
        /// The scenario's name.
        scenario: String,
    },
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
    /// A channel peer misbehaved (a consumer hung up early).
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
        source: Box<BenchError>,
    },
}
