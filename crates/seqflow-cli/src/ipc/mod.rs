//! Cross-process throughput and latency: this process produces, a second process (this binary
//! re-run as the hidden `seqflow ipc-consumer` command) consumes and verifies, over a seqflow
//! shared-memory ring, a Unix pipe, or a Unix stream socket carrying the same events: events of
//! 8 B to 1 MiB handed over in batches, small events one at a time, and a ping-pong in which the
//! second process sends every event back.
//!
//! The clock starts when the consumer process says it is ready and stops when it reports the
//! last event received, so process start-up is not measured; the consumer's count and checksum
//! are checked, so a transport that loses or corrupts events fails instead of winning.

mod consumer;
mod event;
mod producer;
mod section;

pub use consumer::{consume, IpcConsumerArgs};
pub use event::{IpcEvent, SIZES};
pub use producer::{ping_pong, run_ipc, IpcConfig};
pub use section::{all_sizes, compare_ipc, size_name, IpcOptions, IpcSection};

/// How events are handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `--batch` events per shm claim or per pipe/socket write.
    Burst,
    /// One shm claim and publish, or one write system call, per event.
    Single,
}

impl Mode {
    /// Both modes, in report order.
    pub const ALL: [Mode; 2] = [Mode::Burst, Mode::Single];

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Burst => "burst",
            Mode::Single => "single",
        }
    }
}

/// How the two processes are connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// A seqflow ring in a named POSIX shared-memory segment.
    #[serde(rename = "seqflow-shm")]
    Shm,
    /// An anonymous pipe (the consumer's standard input).
    Pipe,
    /// A Unix stream socket.
    #[serde(rename = "unix-socket")]
    Socket,
}

impl Transport {
    /// Every transport, in report order.
    pub const ALL: [Transport; 3] = [Transport::Shm, Transport::Pipe, Transport::Socket];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Shm => "seqflow-shm",
            Transport::Pipe => "pipe",
            Transport::Socket => "unix-socket",
        }
    }

    /// The value of `--transport` for the consumer process.
    fn flag(self) -> &'static str {
        match self {
            Transport::Shm => "shm",
            Transport::Pipe => "pipe",
            Transport::Socket => "socket",
        }
    }
}
