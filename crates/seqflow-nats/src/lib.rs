//! seqflow beyond one machine: a NATS JetStream bridge.
//!
//! - [`JetStreamSink`]: a stage that publishes every event to a JetStream subject, with a bounded
//!   window of outstanding acknowledgements and a message id per ring sequence; its sequence
//!   moves only over acknowledged events, so the stages after it see durable events only.
//! - [`JetStreamSource`]: a durable pull consumer feeding a ring's producer, acknowledging a
//!   message once the ring's last stages have processed it (at-least-once).
//! - [`Bridge`]: the connection and the tokio runtime that drives it, confined to the bridge's
//!   own thread; the ring side stays synchronous.
//! - [`LocalServer`]: a loopback `nats-server` for tests, examples and benchmarks.
//!
//! `docs/distributed.md` describes topologies, guarantees and failure behaviour.
//!
//! ```no_run
//! use seqflow_nats::{Bridge, JetStreamSink, PodCodec, SinkConfig, StreamSpec};
//! use seqflow_pipeline::Disruptor;
//!
//! let bridge = Bridge::connect_url("nats://127.0.0.1:4222")?;
//! bridge.ensure_stream(&StreamSpec::new("JOURNAL", "journal.>"))?;
//! let sink = JetStreamSink::new(&bridge, SinkConfig::new("journal.in", "in"), PodCodec::<[u64; 8]>::new())?;
//! let mut builder = Disruptor::builder(8192, || [0u64; 8]).single_producer()?;
//! builder
//!     .handle_events_with(sink)
//!     .then(|event: &[u64; 8], _seq: i64, _eob: bool| { /* sees durable events only */ });
//! let (disruptor, mut producer) = builder.start()?;
//! producer.publish(|event, seq| event[0] = seq as u64)?;
//! disruptor.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod bridge;
mod codec;
mod error;
mod local_server;
mod retry;
mod sink;
mod source;

pub use bridge::{Bridge, BridgeOptions, Storage, StreamSpec, MAX_TIMEOUT};
pub use codec::{ByteSlotCodec, Decoder, DynByteSlotCodec, Encoder, PodCodec};
pub use error::{BridgeError, CodecError, PublishFailure};
pub use local_server::{LocalServer, ServerError, INSTALL_HINT};
pub use retry::RetryPolicy;
pub use sink::{JetStreamSink, SinkConfig, SinkHandle, SinkStats, MAX_RING_ID};
pub use source::{JetStreamSource, SourceConfig, SourceHandle, SourceStats};

/// The message id of the event at `seq` of ring `ring_id`: `<ring_id>:<seq>` (the
/// `Nats-Msg-Id` header the sink sets).
///
/// ```
/// assert_eq!(seqflow_nats::msg_id("orders", 41), "orders:41");
/// ```
pub fn msg_id(ring_id: &str, seq: i64) -> String {
    format!("{ring_id}:{seq}")
}
