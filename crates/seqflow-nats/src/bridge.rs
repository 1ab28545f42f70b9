//! [`Bridge`]: one NATS connection and the tokio runtime that drives it, on the bridge's own
//! thread. Everything else in the process stays synchronous: sinks and sources reach the
//! runtime through [`tokio::runtime::Handle::block_on`] from their own threads.

use crate::BridgeError;
use async_nats::jetstream;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Options of a [`Bridge`] connection.
///
/// ```
/// use seqflow_nats::BridgeOptions;
/// use std::time::Duration;
/// let o = BridgeOptions::new("nats://127.0.0.1:4222").request_timeout(Duration::from_secs(2));
/// assert_eq!(o.url(), "nats://127.0.0.1:4222");
/// ```
#[derive(Debug, Clone)]
pub struct BridgeOptions {
    url: String,
    name: String,
    request_timeout: Duration,
    connect_timeout: Duration,
}

impl BridgeOptions {
    /// Connect to `url`: one server (`nats://host:port`) or a comma-separated list of a
    /// cluster's servers; the client also learns the other members from the server.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            name: "seqflow-nats".into(),
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// The server address(es).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The client name shown by the server's monitoring.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// How long a JetStream API request and a publish acknowledgement may take (default 5 s;
    /// more than zero, at most [`MAX_TIMEOUT`]).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long the first connection may take (default 5 s; more than zero, at most
    /// [`MAX_TIMEOUT`]). Later disconnections are retried
    /// without limit in the background; the sink's and the source's retry policies decide how
    /// long they wait for it.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
}

/// The longest request or connect timeout [`Bridge::connect`] accepts: one day.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

struct Inner {
    // Dropped last (declared last): the client and context need the runtime to close.
    client: async_nats::Client,
    js: jetstream::Context,
    request_timeout: Duration,
    runtime: tokio::runtime::Runtime,
}

/// A connection to NATS with JetStream, and the runtime that drives it.
///
/// The runtime has one worker thread (`seqflow-nats-io`) of its own; the sink's stage thread and
/// the source's feeder thread hand work to it and wait synchronously. Cloning is cheap and
/// shares the connection.
#[derive(Clone)]
pub struct Bridge {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("state", &self.inner.client.connection_state())
            .finish_non_exhaustive()
    }
}

impl Bridge {
    /// Start the runtime and connect. Fails with [`BridgeError::Connect`] if the first connection
    /// does not succeed within the connect timeout.
    pub fn connect(options: BridgeOptions) -> Result<Self, BridgeError> {
        // Deadlines are `now + timeout`: a timeout no clock can add would panic there.
        for (flag, timeout) in [
            ("request_timeout", options.request_timeout),
            ("connect_timeout", options.connect_timeout),
        ] {
            if timeout > MAX_TIMEOUT || timeout.is_zero() {
                return Err(BridgeError::Config(format!(
                    "{flag} must be more than zero and at most {} s, not {timeout:?}",
                    MAX_TIMEOUT.as_secs()
                )));
            }
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("seqflow-nats-io")
            .enable_all()
            .build()
            .map_err(|e| BridgeError::Runtime {
                message: e.to_string(),
            })?;
        let connect_options = async_nats::ConnectOptions::new()
            .name(&options.name)
            .connection_timeout(options.connect_timeout)
            .request_timeout(Some(options.request_timeout))
            .event_callback(|event| async move {
                tracing::info!(%event, "NATS connection event");
            });
        let url = options.url.clone();
        let client = runtime
            .block_on(async {
                tokio::time::timeout(
                    options.connect_timeout + Duration::from_millis(500),
                    connect_options.connect(url.as_str()),
                )
                .await
            })
            .map_err(|_| BridgeError::Connect {
                url: url.clone(),
                message: "timed out".into(),
            })?
            .map_err(|e| BridgeError::Connect {
                url: url.clone(),
                message: e.to_string(),
            })?;
        // The context spawns its acknowledgement task: build it inside the runtime.
        let _guard = runtime.enter();
        let js = jetstream::ContextBuilder::new()
            .timeout(options.request_timeout)
            // The sink bounds its own window; this only has to be larger.
            .max_ack_inflight(1 << 16)
            .build(client.clone());
        drop(_guard);
        tracing::info!(url = %options.url, "connected to NATS");
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                js,
                request_timeout: options.request_timeout,
                runtime,
            }),
        })
    }

    /// Connect to one server with the default options.
    pub fn connect_url(url: &str) -> Result<Self, BridgeError> {
        Self::connect(BridgeOptions::new(url))
    }

    /// Make sure a stream exists (created with `spec` if it does not; an existing stream is left
    /// as it is).
    pub fn ensure_stream(&self, spec: &StreamSpec) -> Result<(), BridgeError> {
        let config = spec.to_config();
        let what = format!("stream {}", spec.name);
        self.block_on(async {
            self.inner
                .js
                .get_or_create_stream(config)
                .await
                .map(|_| ())
                .map_err(|e| BridgeError::Setup {
                    what: what.clone(),
                    message: e.to_string(),
                })
        })
    }

    /// Delete a stream (for tests and benchmarks); deleting a missing stream is not an error.
    pub fn delete_stream(&self, name: &str) -> Result<(), BridgeError> {
        self.block_on(async {
            match self.inner.js.delete_stream(name).await {
                Ok(_) => Ok(()),
                Err(e) if e.to_string().contains("not found") => Ok(()),
                Err(e) => Err(BridgeError::Setup {
                    what: format!("delete stream {name}"),
                    message: e.to_string(),
                }),
            }
        })
    }

    /// How many messages a stream holds now.
    pub fn stream_messages(&self, name: &str) -> Result<u64, BridgeError> {
        let setup = |e: String| BridgeError::Setup {
            what: format!("stream {name}"),
            message: e,
        };
        self.block_on(async {
            let mut stream = self
                .inner
                .js
                .get_stream(name)
                .await
                .map_err(|e| setup(e.to_string()))?;
            let info = stream.info().await.map_err(|e| setup(e.to_string()))?;
            Ok(info.state.messages)
        })
    }

    /// Whether the connection is up now.
    pub fn is_connected(&self) -> bool {
        matches!(
            self.inner.client.connection_state(),
            async_nats::connection::State::Connected
        )
    }

    /// The JetStream API and ack timeout.
    pub fn request_timeout(&self) -> Duration {
        self.inner.request_timeout
    }

    /// Run `future` on the bridge runtime and wait for it on this thread.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.inner.runtime.handle().block_on(future)
    }

    /// Spawn a task on the bridge runtime.
    pub(crate) fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner.runtime.spawn(future)
    }

    pub(crate) fn jetstream(&self) -> &jetstream::Context {
        &self.inner.js
    }

    /// The async-nats client, for code that wants to use NATS directly on the bridge's runtime
    /// (benchmarks comparing with plain async-nats use it).
    #[doc(hidden)]
    pub fn __internal_client(&self) -> async_nats::Client {
        self.inner.client.clone()
    }

    /// The runtime handle (for the same benchmarks).
    #[doc(hidden)]
    pub fn __internal_handle(&self) -> tokio::runtime::Handle {
        self.inner.runtime.handle().clone()
    }
}

/// Storage of a stream's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Storage {
    /// On disk (the server's store directory): survives a server restart.
    #[default]
    File,
    /// In memory: lost when the server stops.
    Memory,
}

/// What [`Bridge::ensure_stream`] creates.
///
/// ```
/// use seqflow_nats::{StreamSpec, Storage};
/// use std::time::Duration;
/// let s = StreamSpec::new("JOURNAL", "journal.>").replicas(3).duplicate_window(Duration::from_secs(600));
/// assert_eq!(s.storage, Storage::File);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSpec {
    /// The stream name.
    pub name: String,
    /// The subjects it captures (wildcards allowed).
    pub subjects: Vec<String>,
    /// File (default) or memory.
    pub storage: Storage,
    /// Copies in a cluster (1 for a single server; 3 for a replicated journal).
    pub replicas: usize,
    /// How long the server remembers message ids to drop re-published duplicates (default
    /// 2 minutes, the server's own default). A sink restarted later than that after a crash
    /// may write duplicates; size it for the longest outage you want to be exact through.
    pub duplicate_window: std::time::Duration,
}

impl StreamSpec {
    /// A file-backed, single-replica stream over `subject`.
    pub fn new(name: impl Into<String>, subject: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            subjects: vec![subject.into()],
            storage: Storage::File,
            replicas: 1,
            duplicate_window: Duration::from_secs(120),
        }
    }

    /// Replicas in a cluster.
    pub fn replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas;
        self
    }

    /// The duplicate window.
    pub fn duplicate_window(mut self, window: Duration) -> Self {
        self.duplicate_window = window;
        self
    }

    /// Memory or file storage.
    pub fn storage(mut self, storage: Storage) -> Self {
        self.storage = storage;
        self
    }

    fn to_config(&self) -> jetstream::stream::Config {
        jetstream::stream::Config {
            name: self.name.clone(),
            subjects: self.subjects.clone(),
            storage: match self.storage {
                Storage::File => jetstream::stream::StorageType::File,
                Storage::Memory => jetstream::stream::StorageType::Memory,
            },
            num_replicas: self.replicas.max(1),
            duplicate_window: self.duplicate_window,
            ..Default::default()
        }
    }
}

/// What is wrong with `subject` as a NATS subject, if anything: empty, an empty token (`a..b`,
/// `.a`, `a.`), whitespace or control characters, or (unless `wildcards`, as for a consumer's
/// filter) a `*` / `>` wildcard, which a publish would store under the literal subject.
pub(crate) fn subject_problem(subject: &str, wildcards: bool) -> Option<&'static str> {
    if subject.is_empty() {
        return Some("empty");
    }
    if subject.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Some("whitespace or control characters");
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    if tokens.iter().any(|t| t.is_empty()) {
        return Some("an empty token");
    }
    for (i, token) in tokens.iter().enumerate() {
        let wildcard = *token == "*" || *token == ">";
        if !wildcard && token.contains(['*', '>']) {
            return Some("'*' or '>' inside a token");
        }
        if wildcard && !wildcards {
            return Some("a wildcard, which a publish stores under the literal subject");
        }
        if *token == ">" && i + 1 != tokens.len() {
            return Some("'>' before the last token");
        }
    }
    None
}

#[cfg(test)]
mod subject_tests {
    use super::subject_problem as problem;

    #[test]
    fn subjects_are_checked_token_by_token() {
        assert_eq!(problem("orders.eu", false), None);
        for bad in [
            "",
            "orders..eu",
            ".orders",
            "orders.",
            "or ders",
            "orders.>",
            "orders.*",
        ] {
            assert!(problem(bad, false).is_some(), "{bad:?}");
        }
        assert_eq!(problem("orders.>", true), None);
        assert_eq!(problem("orders.*.eu", true), None);
        for bad in ["orders.>.x", "orders.a*", "orders.>x"] {
            assert!(problem(bad, true).is_some(), "{bad:?}");
        }
    }
}
