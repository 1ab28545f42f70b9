//! [`JetStreamSink`]: a stage that makes each event durable in a JetStream stream before its
//! sequence moves past it.

use crate::{msg_id, Bridge};
use crate::{BridgeError, Encoder, PublishFailure, RetryPolicy};
use async_nats::jetstream::context::{PublishAckFuture, PublishError, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::{HeaderMap, Subject};
use bytes::Bytes;
use seqflow_pipeline::EventHandler;
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Where and how a [`JetStreamSink`] publishes.
///
/// ```
/// use seqflow_nats::SinkConfig;
/// let c = SinkConfig::new("journal.orders", "orders").window(512);
/// assert_eq!(c.window, 512);
/// assert!(c.exclusive);
/// ```
#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// The subject every event is published to (a stream must capture it).
    pub subject: String,
    /// Names the ring in message ids (`<ring id>:<sequence>`): the same journal must keep the
    /// same id across restarts, and two rings feeding one stream need different ids.
    pub ring_id: String,
    /// Publishes in flight at most (acknowledgements not yet received); default 256.
    pub window: usize,
    /// Events encoded before they are handed to the client at once (fewer wake-ups of the
    /// network thread); default 64, at most `window`.
    pub flush_every: usize,
    /// Chain messages with `Nats-Expected-Last-Msg-Id` so the stream keeps ring order across
    /// failures; requires this sink to be the stream's only publisher (default on).
    pub exclusive: bool,
    /// Retries of a failed publish before the sink halts the disruptor.
    pub retry: RetryPolicy,
}

impl SinkConfig {
    /// Publish to `subject` with message ids `<ring_id>:<sequence>`.
    pub fn new(subject: impl Into<String>, ring_id: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            ring_id: ring_id.into(),
            window: 256,
            flush_every: 64,
            exclusive: true,
            retry: RetryPolicy::default(),
        }
    }

    /// The window of outstanding acknowledgements.
    pub fn window(mut self, window: usize) -> Self {
        self.window = window;
        self
    }

    /// Chain messages (see [`exclusive`](Self::exclusive)).
    pub fn exclusive(mut self, exclusive: bool) -> Self {
        self.exclusive = exclusive;
        self
    }

    /// The retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    fn check(&self) -> Result<(), BridgeError> {
        if self.window == 0 || self.window > 1 << 16 {
            return Err(BridgeError::Config(format!(
                "window must be in 1..=65536, not {}",
                self.window
            )));
        }
        if let Some(reason) = crate::bridge::subject_problem(&self.subject, false) {
            return Err(BridgeError::Config(format!(
                "invalid subject {:?}: {reason}",
                self.subject
            )));
        }
        if self.ring_id.is_empty() || self.ring_id.contains(['\r', '\n']) {
            return Err(BridgeError::Config(format!(
                "invalid ring id {:?}",
                self.ring_id
            )));
        }
        // Every publish carries the id twice in its headers, inside the room kept for them.
        if self.ring_id.len() > MAX_RING_ID {
            return Err(BridgeError::Config(format!(
                "ring id of {} bytes: at most {MAX_RING_ID}",
                self.ring_id.len()
            )));
        }
        Ok(())
    }
}

/// Counters of a sink, read through its [`SinkHandle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SinkStats {
    /// Publishes handed to the client (re-sends included).
    pub sent: u64,
    /// Events acknowledged by the stream.
    pub acked: u64,
    /// Of those, acknowledged as duplicates (already stored under the same message id).
    pub duplicates: u64,
    /// Recovery rounds after a failed publish.
    pub retries: u64,
    /// The highest ring sequence acknowledged so far (-1: none). Every event up to it is
    /// durable.
    pub acked_through: i64,
}

#[derive(Debug)]
struct SinkShared {
    sent: AtomicU64,
    acked: AtomicU64,
    duplicates: AtomicU64,
    retries: AtomicU64,
    acked_through: AtomicI64,
    error: Mutex<Option<BridgeError>>,
}

/// Reads a sink's counters and its fatal error from any thread, while the sink runs as a stage.
#[derive(Debug, Clone)]
pub struct SinkHandle(Arc<SinkShared>);

impl SinkHandle {
    /// The counters now (relaxed reads: each is exact, together they are a near snapshot).
    pub fn stats(&self) -> SinkStats {
        let s = &self.0;
        SinkStats {
            sent: s.sent.load(Ordering::Relaxed),
            acked: s.acked.load(Ordering::Relaxed),
            duplicates: s.duplicates.load(Ordering::Relaxed),
            retries: s.retries.load(Ordering::Relaxed),
            acked_through: self.acked_through(),
        }
    }

    /// The highest ring sequence acknowledged (-1: none).
    pub fn acked_through(&self) -> i64 {
        // Acquire: pairs with the Release store after the acknowledgement was received.
        self.0.acked_through.load(Ordering::Acquire)
    }

    /// The error that halted the sink, if it did.
    pub fn error(&self) -> Option<BridgeError> {
        self.0
            .error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

struct InFlight {
    seq: i64,
    payload: Bytes,
    ack: Option<PublishAckFuture>,
}

/// Room kept for the headers a publish carries (message id, expected last id) when an encoded
/// event is checked against the server's `max_payload`.
const HEADER_ROOM: usize = 512;

/// The longest ring id a sink takes: its message ids (`<ring id>:<sequence>`, twice per
/// publish) must fit, with the header names, in the 512 bytes kept for headers.
pub const MAX_RING_ID: usize = 128;

/// A stage that publishes every event to a JetStream subject and lets its sequence advance only
/// over acknowledged events.
///
/// # How the sequence waits for acknowledgements
///
/// A seqflow stage publishes its sequence once per batch, after the handler returns for the
/// batch's last event (`end_of_batch`); the [`EventHandler`] API has no way to publish it later.
/// So the sink keeps up to `window` publishes in flight *inside* a batch (waiting for the oldest
/// acknowledgement when the window is full) and, at `end_of_batch`, waits for every outstanding
/// acknowledgement before returning. When the stage's sequence reaches `seq`, the event at `seq`
/// is therefore stored by the server: a stage placed after the sink only sees durable events.
/// The price is one round trip per batch during which nothing is in flight; under load batches
/// are long (up to the ring's size), so that pause is amortised.
///
/// # Message ids and restarts
///
/// Every message carries `Nats-Msg-Id: <ring id>:<sequence>`. A sink restarted after a crash that
/// re-publishes events it had already published (a journal replayed from an earlier sequence)
/// gets them acknowledged as duplicates, and the stream keeps one copy, as long as the
/// re-publish happens within the stream's duplicate window.
///
/// # Order across failures
///
/// When a publish fails (server restarted, connection lost), some of the messages after it may
/// have reached the server and some not. With `exclusive` on (the default) each message also
/// carries `Nats-Expected-Last-Msg-Id` naming its predecessor, so the server refuses a message
/// whose predecessor is missing, and the retry re-sends the window in order: the stream holds
/// the ring's events in ring order, each once. That requires the sink to be the only publisher of
/// its stream; turn `exclusive` off when several rings share one (each message is still stored
/// once, but a failure may store a retried message after a later one).
///
///
/// Add it like any handler (`builder.handle_events_with(sink)` or `.then(sink)`); keep a
/// [`SinkHandle`] (from [`handle`](Self::handle)) to read its progress and error.
///
/// When a publish keeps failing past the [`RetryPolicy`], the sink records a
/// [`BridgeError::Publish`] in its handle and panics: under [`PanicPolicy::Halt`] (the default)
/// that halts the disruptor like any failing stage, producers get `ClaimError::Halted`, and
/// `shutdown` reports the panic. Do not use it under `PanicPolicy::LogAndContinue`: that policy
/// moves the stage's sequence past the event that failed, which is exactly what the sink exists
/// to prevent.
///
/// ```no_run
/// use seqflow_nats::{Bridge, JetStreamSink, PodCodec, SinkConfig, StreamSpec};
/// use seqflow_pipeline::Disruptor;
/// let bridge = Bridge::connect_url("nats://127.0.0.1:4222")?;
/// bridge.ensure_stream(&StreamSpec::new("JOURNAL", "journal.>"))?;
/// let sink = JetStreamSink::new(&bridge, SinkConfig::new("journal.orders", "orders"), PodCodec::<u64>::new())?;
/// let progress = sink.handle();
/// let mut b = Disruptor::builder(4096, || 0u64).single_producer().unwrap();
/// b.handle_events_with(sink).then(|e: &u64, _, _| { /* only durable events get here */ });
/// let (d, mut p) = b.start().unwrap();
/// p.publish(|e, _| *e = 42).unwrap();
/// d.shutdown().unwrap();
/// assert_eq!(progress.acked_through(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`PanicPolicy::Halt`]: seqflow_pipeline::PanicPolicy::Halt
pub struct JetStreamSink<E: ?Sized, C> {
    bridge: Bridge,
    config: SinkConfig,
    subject: Subject,
    encoder: C,
    buf: Vec<u8>,
    /// The largest message the server accepts (`max_payload`), headers included.
    max_payload: usize,
    staged: Vec<(i64, Bytes)>,
    inflight: VecDeque<InFlight>,
    /// The first sequence this sink published: the chain of expected ids starts after it.
    first_seq: Option<i64>,
    shared: Arc<SinkShared>,
    halted: bool,
    _events: PhantomData<fn(&E)>,
}

impl<E: ?Sized, C: Encoder<E>> JetStreamSink<E, C> {
    /// A sink publishing through `bridge` (the stream must exist: see
    /// [`Bridge::ensure_stream`]). Fails on an invalid configuration.
    pub fn new(bridge: &Bridge, config: SinkConfig, encoder: C) -> Result<Self, BridgeError> {
        config.check()?;
        let mut config = config;
        config.flush_every = config.flush_every.clamp(1, config.window);
        Ok(Self {
            bridge: bridge.clone(),
            subject: Subject::from(config.subject.as_str()),
            encoder,
            buf: Vec::with_capacity(256),
            max_payload: bridge.__internal_client().server_info().max_payload,
            staged: Vec::with_capacity(config.flush_every),
            inflight: VecDeque::with_capacity(config.window),
            first_seq: None,
            shared: Arc::new(SinkShared {
                sent: AtomicU64::new(0),
                acked: AtomicU64::new(0),
                duplicates: AtomicU64::new(0),
                retries: AtomicU64::new(0),
                acked_through: AtomicI64::new(-1),
                error: Mutex::new(None),
            }),
            config,
            halted: false,
            _events: PhantomData,
        })
    }

    /// A handle to the sink's counters and error (keep it before moving the sink into a
    /// builder).
    pub fn handle(&self) -> SinkHandle {
        SinkHandle(Arc::clone(&self.shared))
    }

    /// Hand every staged event to the client (waiting for the oldest acknowledgement whenever
    /// the window is full); with `drain`, then wait for every outstanding acknowledgement.
    async fn pump(&mut self, drain: bool) -> Result<(), BridgeError> {
        let staged = std::mem::take(&mut self.staged);
        let mut result = Ok(());
        for (seq, payload) in staged.iter().cloned() {
            while self.inflight.len() >= self.config.window {
                if let Err(e) = self.settle_front().await {
                    result = Err(e);
                    break;
                }
            }
            if result.is_err() {
                break;
            }
            let mut entry = InFlight {
                seq,
                payload,
                ack: None,
            };
            self.first_seq.get_or_insert(seq);
            match self.send(seq, entry.payload.clone()).await {
                Ok(ack) => {
                    entry.ack = Some(ack);
                    self.inflight.push_back(entry);
                }
                Err(e) => {
                    // Queue it unsent; the recovery below re-sends it with the others in order.
                    self.inflight.push_back(entry);
                    if let Err(e) = self.recover(e).await {
                        result = Err(e);
                        break;
                    }
                }
            }
        }
        // Keep the allocation.
        self.staged = staged;
        self.staged.clear();
        result?;
        if drain {
            while !self.inflight.is_empty() {
                self.settle_front().await?;
            }
        }
        Ok(())
    }

    /// Await the oldest acknowledgement; on failure, recover (retry the window in order).
    async fn settle_front(&mut self) -> Result<(), BridgeError> {
        let Some(front) = self.inflight.front_mut() else {
            return Ok(());
        };
        let outcome = match front.ack.take() {
            Some(ack) => ack.await,
            None => Err(PublishError::new(PublishErrorKind::Other)),
        };
        match outcome {
            Ok(ack) => {
                let entry = self.inflight.pop_front().expect("front exists");
                self.record_ack(entry.seq, ack.duplicate);
                Ok(())
            }
            Err(e) => self.recover(e).await,
        }
    }

    /// Re-send everything in flight, in order, with backoff, until it is all acknowledged or the
    /// retry policy gives up.
    async fn recover(&mut self, first: PublishError) -> Result<(), BridgeError> {
        let mut attempts = 1u32;
        let mut last = first;
        loop {
            let seq = self.inflight.front().map_or(-1, |e| e.seq);
            if !self.config.retry.allows(attempts) || failure_of(&last) == PublishFailure::Rejected
            {
                return Err(BridgeError::Publish {
                    seq,
                    attempts,
                    failure: failure_of(&last),
                    message: last.to_string(),
                });
            }
            let pause = self.config.retry.backoff(attempts);
            self.shared.retries.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                seq,
                attempts,
                in_flight = self.inflight.len(),
                error = %last,
                ?pause,
                "JetStream publish failed; re-sending the window"
            );
            tokio::time::sleep(pause).await;
            attempts += 1;
            if matches!(last.kind(), PublishErrorKind::WrongLastMessageId) {
                self.rechain_if_intact().await;
            }
            // Outstanding acknowledgements of the previous round are abandoned: every message is
            // sent again under the same id, so one that did get stored is acknowledged as a
            // duplicate.
            for entry in self.inflight.iter_mut() {
                entry.ack = None;
            }
            let mut failed = None;
            for i in 0..self.inflight.len() {
                let (seq, payload) = (self.inflight[i].seq, self.inflight[i].payload.clone());
                match self.send(seq, payload).await {
                    Ok(ack) => self.inflight[i].ack = Some(ack),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            if let Some(e) = failed {
                last = e;
                continue;
            }
            while let Some(front) = self.inflight.front_mut() {
                let ack = front.ack.take().expect("sent above");
                match ack.await {
                    Ok(ack) => {
                        let entry = self.inflight.pop_front().expect("front exists");
                        self.record_ack(entry.seq, ack.duplicate);
                    }
                    Err(e) => {
                        last = e;
                        break;
                    }
                }
            }
            if self.inflight.is_empty() {
                tracing::info!(attempts, "JetStream publishes recovered");
                return Ok(());
            }
        }
    }

    /// After `WrongLastMessageId`: if the stream's last stored message is one of this sink's
    /// own — the event just before the oldest in flight, or one of those in flight that was
    /// stored before the failure — the chain is intact and the server only forgot the id it
    /// expected (a restarted server rebuilds its index of ids from the duplicate window alone):
    /// the chain starts anew after that message. Anything else there (another writer's
    /// message) leaves the chain as it is, and the retries fail.
    async fn rechain_if_intact(&mut self) {
        let (Some(front), Some(back)) = (
            self.inflight.front().map(|e| e.seq),
            self.inflight.back().map(|e| e.seq),
        ) else {
            return;
        };
        let js = self.bridge.jetstream();
        let last = async {
            let name = js
                .stream_by_subject(self.config.subject.clone())
                .await
                .ok()?;
            let mut stream = js.get_stream(&name).await.ok()?;
            let last = stream.info().await.ok()?.state.last_sequence;
            stream.get_raw_message(last).await.ok()
        };
        let limit = self.bridge.request_timeout();
        let Ok(Some(last)) = tokio::time::timeout(limit, last).await else {
            return;
        };
        let Some(id) = last.headers.get(async_nats::header::NATS_MESSAGE_ID) else {
            return;
        };
        let ours = id
            .as_str()
            .strip_prefix(self.config.ring_id.as_str())
            .and_then(|rest| rest.strip_prefix(':'))
            .and_then(|seq| seq.parse::<i64>().ok())
            .filter(|&seq| (front - 1..=back).contains(&seq) && self.first_seq.is_some());
        if let Some(stored) = ours {
            tracing::info!(
                stored,
                "the server forgot the last message id; the chain is intact, resuming after it"
            );
            // Events up to `stored` are sent again without an expectation (the server keeps
            // them as duplicates: they are inside its window); the next one starts the chain.
            self.first_seq = Some(stored + 1);
        }
    }

    /// Hand one message to the client; the returned future yields its acknowledgement.
    async fn send(&self, seq: i64, payload: Bytes) -> Result<PublishAckFuture, PublishError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            msg_id(&self.config.ring_id, seq).as_str(),
        );
        if self.config.exclusive && self.first_seq.is_some_and(|first| seq > first) {
            headers.insert(
                async_nats::header::NATS_EXPECTED_LAST_MESSAGE_ID,
                msg_id(&self.config.ring_id, seq - 1).as_str(),
            );
        }
        self.shared.sent.fetch_add(1, Ordering::Relaxed);
        self.bridge
            .jetstream()
            .send_publish(
                self.subject.clone(),
                PublishMessage::build().payload(payload).headers(headers),
            )
            .await
    }

    fn record_ack(&self, seq: i64, duplicate: bool) {
        self.shared.acked.fetch_add(1, Ordering::Relaxed);
        if duplicate {
            self.shared.duplicates.fetch_add(1, Ordering::Relaxed);
        }
        // Release: whoever reads `acked_through` sees the counters above too.
        self.shared.acked_through.store(seq, Ordering::Release);
    }

    /// Record the error and stop the stage by panicking (see the type's docs).
    fn fail(&mut self, error: BridgeError) -> ! {
        tracing::error!(%error, "JetStream sink halts");
        self.halted = true;
        {
            let mut slot = self.shared.error.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(error.clone());
        }
        panic!("seqflow-nats sink halted: {error}");
    }
}

impl<E: ?Sized + 'static, C: Encoder<E>> EventHandler<E> for JetStreamSink<E, C> {
    fn on_event(&mut self, event: &E, seq: i64, end_of_batch: bool) {
        if self.halted {
            // Only reached under PanicPolicy::LogAndContinue (documented as unsupported): keep
            // refusing rather than letting events pass undurable.
            let error = self
                .shared
                .error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            panic!("seqflow-nats sink halted earlier: {error:?}");
        }
        self.buf.clear();
        if let Err(e) = self.encoder.encode(event, seq, &mut self.buf) {
            self.fail(BridgeError::Encode {
                seq,
                message: e.to_string(),
            });
        }
        // The server closes the connection on a message over its limit (every retry would, and
        // every sink and source on the connection would see it drop): refuse it here.
        if self.buf.len() + HEADER_ROOM > self.max_payload {
            self.fail(BridgeError::TooLarge {
                seq,
                bytes: self.buf.len(),
                max: self.max_payload.saturating_sub(HEADER_ROOM),
            });
        }
        self.staged.push((seq, Bytes::copy_from_slice(&self.buf)));
        if self.staged.len() >= self.config.flush_every || end_of_batch {
            let bridge = self.bridge.clone();
            if let Err(e) = bridge.block_on(self.pump(end_of_batch)) {
                self.fail(e);
            }
        }
    }

    fn on_shutdown(&mut self) {
        if self.halted {
            return;
        }
        // A halt can stop a batch before its `end_of_batch`: settle what is still in flight.
        let bridge = self.bridge.clone();
        if let Err(error) = bridge.block_on(self.pump(true)) {
            tracing::error!(%error, "JetStream sink could not settle its last publishes");
            let mut slot = self.shared.error.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(error);
        }
    }
}

fn failure_of(e: &PublishError) -> PublishFailure {
    match e.kind() {
        PublishErrorKind::TimedOut => PublishFailure::TimedOut,
        PublishErrorKind::StreamNotFound => PublishFailure::StreamNotFound,
        PublishErrorKind::WrongLastMessageId => PublishFailure::WrongLastMessageId,
        PublishErrorKind::BrokenPipe => PublishFailure::BrokenPipe,
        PublishErrorKind::Other if refused_for_good(e) => PublishFailure::Rejected,
        _ => PublishFailure::Other,
    }
}

/// Whether the stream answered the publish with a JetStream error of class 400: a request it
/// will never accept (a message over the stream's `max_message_size`, code 10054, say), unlike
/// the 503s of an unavailable or full stream, which may pass later.
fn refused_for_good(e: &PublishError) -> bool {
    std::error::Error::source(e)
        .and_then(|source| source.downcast_ref::<async_nats::jetstream::Error>())
        .is_some_and(|api| api.code() == 400)
}
