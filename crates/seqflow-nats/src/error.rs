//! [`BridgeError`]: every way the bridge can fail, as typed values carrying their context.
//!
//! async-nats' own error types stay inside the crate: each is mapped to a variant here (with its
//! text), so a new async-nats version does not change this API.

use std::time::Duration;

/// Why a publish to JetStream did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishFailure {
    /// No acknowledgement arrived within the ack timeout (server down, slow or unreachable).
    TimedOut,
    /// No stream captures the subject.
    StreamNotFound,
    /// The stream's last message id was not the one this sink published before (another
    /// publisher wrote to an exclusive stream, or a message before this one was lost).
    WrongLastMessageId,
    /// The connection dropped before the acknowledgement arrived.
    BrokenPipe,
    /// The stream refused the message for good, with a JetStream error of class 400 (the
    /// stream's `max_message_size`, error code 10054, or another request it can never accept):
    /// sending it again cannot help, so the sink fails at once instead of retrying.
    Rejected,
    /// Anything else the server or the client reported.
    Other,
}

impl std::fmt::Display for PublishFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::TimedOut => "no acknowledgement in time",
            Self::StreamNotFound => "no stream for the subject",
            Self::WrongLastMessageId => "wrong last message id",
            Self::BrokenPipe => "connection lost",
            Self::Rejected => "refused by the stream",
            Self::Other => "publish failed",
        })
    }
}

/// Every error of the bridge.
///
/// ```
/// use seqflow_nats::{BridgeError, PublishFailure};
/// let e = BridgeError::Publish {
///     seq: 41,
///     attempts: 5,
///     failure: PublishFailure::TimedOut,
///     message: "timed out".into(),
/// };
/// assert!(e.to_string().contains("41"));
/// assert!(e.is_timeout());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeError {
    /// The bridge's own runtime thread could not be started.
    #[error("cannot start the bridge runtime: {message}")]
    Runtime {
        /// The OS error.
        message: String,
    },
    /// The first connection to the server failed.
    #[error("cannot connect to NATS at {url}: {message}")]
    Connect {
        /// The server address.
        url: String,
        /// The client's error.
        message: String,
    },
    /// Creating or looking up a stream or consumer failed.
    #[error("JetStream setup failed ({what}): {message}")]
    Setup {
        /// What was being set up, e.g. `stream JOURNAL`.
        what: String,
        /// The server's or client's error.
        message: String,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A publish kept failing; the retry policy gave up.
    #[error("publishing sequence {seq} failed after {attempts} attempts ({failure}): {message}")]
    Publish {
        /// The ring sequence of the event that could not be made durable.
        seq: i64,
        /// Attempts made (the first one included).
        attempts: u32,
        /// The kind of the last failure.
        failure: PublishFailure,
        /// The last failure's text.
        message: String,
    },
    /// The encoder refused an event.
    #[error("encoding the event at sequence {seq} failed: {message}")]
    Encode {
        /// The ring sequence of the event.
        seq: i64,
        /// The encoder's reason.
        message: String,
    },
    /// An encoded event is larger than the server accepts in one message (`max_payload`, less
    /// room for headers); sending it would make the server drop the connection.
    #[error("the event at sequence {seq} encodes to {bytes} bytes; the server takes at most {max} per message")]
    TooLarge {
        /// The ring sequence of the event.
        seq: i64,
        /// Its encoded size.
        bytes: usize,
        /// The most an event may encode to on this server.
        max: usize,
    },
    /// The pull consumer kept failing; the retry policy gave up.
    #[error("consuming from {stream}/{consumer} failed after {attempts} attempts: {message}")]
    Consume {
        /// The stream.
        stream: String,
        /// The durable consumer.
        consumer: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure's text.
        message: String,
    },
    /// A bridge thread stopped by panicking (a bug in an encoder, a decoder or the bridge).
    #[error("a bridge thread panicked: {0}")]
    Panicked(String),
    /// A wait for the server did not end in time.
    #[error("timed out after {timeout:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        timeout: Duration,
    },
}

impl BridgeError {
    /// Whether the error is a timeout (no acknowledgement or no answer in time).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Self::Timeout { .. }
                | Self::Publish {
                    failure: PublishFailure::TimedOut,
                    ..
                }
        )
    }
}

/// Why an encoder or decoder refused a value.
///
/// ```
/// let e = seqflow_nats::CodecError::new("too long");
/// assert_eq!(e.to_string(), "too long");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(pub String);

impl CodecError {
    /// An error with this reason.
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}
