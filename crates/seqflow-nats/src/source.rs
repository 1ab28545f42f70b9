//! [`JetStreamSource`]: a durable pull consumer that feeds a ring's producer and acknowledges
//! each message only once the ring's last gating stages have processed it.

use crate::{Bridge, BridgeError, Decoder, RetryPolicy};
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::message::Acker;
use async_nats::jetstream::AckKind;
use bytes::Bytes;
use futures_util::StreamExt;
use seqflow_pipeline::Producer;
use seqflow_sequencer::{ClaimError, Claimer, Sequencer};
use seqflow_shm::Slot;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Which durable consumer a [`JetStreamSource`] reads, and how.
///
/// ```
/// use seqflow_nats::SourceConfig;
/// use std::time::Duration;
/// let c = SourceConfig::new("JOURNAL", "replica-1").ack_wait(Duration::from_secs(10));
/// assert_eq!(c.durable, "replica-1");
/// ```
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// The stream.
    pub stream: String,
    /// The durable consumer's name (created if missing; an existing one keeps its settings,
    /// and one made with another filter subject, or not acknowledged explicitly, is refused
    /// with [`BridgeError::Config`]).
    pub durable: String,
    /// Only messages on this subject (default: the whole stream).
    pub filter_subject: Option<String>,
    /// How long the server waits for an acknowledgement before redelivering (default 30 s; a
    /// durable that exists already keeps its own). Messages the source holds (in a full ring,
    /// or behind a slow stage) are kept alive every quarter of it: the source tells the server
    /// they are in progress, so they are not redelivered while this source still holds them.
    pub ack_wait: Duration,
    /// Most messages delivered and not yet acknowledged (default 20 000); keep it above the
    /// ring's capacity plus `batch`. It also bounds what the source holds in memory while the
    /// ring stays full (it takes messages in to keep them alive).
    pub max_ack_pending: i64,
    /// Messages per pull request (default 256).
    pub batch: usize,
    /// How often the idle feeder checks for processed events to acknowledge (default 10 ms; at
    /// most an eighth of `ack_wait`, so that waiting messages are kept alive in time).
    pub poll_interval: Duration,
    /// Retries of consecutive consumer failures before the source stops with an error.
    pub retry: RetryPolicy,
}

impl SourceConfig {
    /// Read `stream` through the durable consumer `durable`.
    pub fn new(stream: impl Into<String>, durable: impl Into<String>) -> Self {
        Self {
            stream: stream.into(),
            durable: durable.into(),
            filter_subject: None,
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 20_000,
            batch: 256,
            poll_interval: Duration::from_millis(10),
            retry: RetryPolicy::default(),
        }
    }

    /// Only messages on `subject`.
    pub fn filter_subject(mut self, subject: impl Into<String>) -> Self {
        self.filter_subject = Some(subject.into());
        self
    }

    /// The redelivery timeout.
    pub fn ack_wait(mut self, ack_wait: Duration) -> Self {
        self.ack_wait = ack_wait;
        self
    }

    /// Messages per pull request.
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = batch;
        self
    }

    /// The retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    fn check(&self) -> Result<(), BridgeError> {
        if self.batch == 0 || self.batch > 1 << 16 {
            return Err(BridgeError::Config(format!(
                "batch must be in 1..=65536, not {}",
                self.batch
            )));
        }
        if self.max_ack_pending < self.batch as i64 {
            return Err(BridgeError::Config(format!(
                "max_ack_pending ({}) must be at least batch ({})",
                self.max_ack_pending, self.batch
            )));
        }
        if self.ack_wait.is_zero() || self.poll_interval.is_zero() {
            return Err(BridgeError::Config(
                "ack_wait and poll_interval must be positive".into(),
            ));
        }
        if self.poll_interval > self.ack_wait / 8 {
            return Err(BridgeError::Config(format!(
                "poll_interval {:?} must be at most an eighth of ack_wait {:?}: the feeder looks \
                 at waiting messages that often, and keeps them alive before ack_wait runs out",
                self.poll_interval, self.ack_wait
            )));
        }
        // The server keeps durations as i64 nanoseconds.
        if self.ack_wait.as_nanos() > i64::MAX as u128 {
            return Err(BridgeError::Config(format!(
                "ack_wait {:?} is longer than the server can hold (about 292 years)",
                self.ack_wait
            )));
        }
        if self.durable.is_empty()
            || self.durable.contains(|c: char| {
                c == '.' || c == '*' || c == '>' || c.is_whitespace() || c.is_control()
            })
        {
            return Err(BridgeError::Config(format!(
                "invalid durable name {:?}: it must be non-empty, without '.', '*', '>' or spaces",
                self.durable
            )));
        }
        if let Some(filter) = &self.filter_subject {
            if let Some(reason) = crate::bridge::subject_problem(filter, true) {
                return Err(BridgeError::Config(format!(
                    "invalid filter subject {filter:?}: {reason}"
                )));
            }
        }
        Ok(())
    }
}

/// Counters of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SourceStats {
    /// Messages received from the server.
    pub received: u64,
    /// Of those, redeliveries (delivered more than once).
    pub redelivered: u64,
    /// Events published into the ring.
    pub published: u64,
    /// Messages acknowledged (their events were processed by every last stage).
    pub acked: u64,
    /// Messages the decoder refused (terminated: never redelivered, never in the ring).
    pub decode_errors: u64,
    /// Errors reported by the pull consumer (heartbeats missed during an outage, ...).
    pub consumer_errors: u64,
    /// Acknowledgements the client could not send (those messages will be redelivered).
    pub ack_errors: u64,
    /// "In progress" acknowledgements sent for messages held for a quarter of `ack_wait` or
    /// more (each restarts the server's redelivery timer for that message).
    pub kept_alive: u64,
    /// Messages the server still had for this consumer when the latest one was delivered.
    pub server_pending: u64,
}

impl SourceStats {
    /// Events in the ring, not yet processed by every last stage (so not yet acknowledged).
    pub fn in_ring(&self) -> u64 {
        self.published.saturating_sub(self.acked)
    }

    /// How far behind the stream this source is: what the server still holds for it plus what
    /// is in the ring unacknowledged.
    pub fn lag(&self) -> u64 {
        self.server_pending.saturating_add(self.in_ring())
    }
}

#[derive(Debug, Default)]
struct SourceShared {
    received: AtomicU64,
    redelivered: AtomicU64,
    published: AtomicU64,
    acked: AtomicU64,
    decode_errors: AtomicU64,
    consumer_errors: AtomicU64,
    ack_errors: AtomicU64,
    kept_alive: AtomicU64,
    server_pending: AtomicU64,
}

/// Reads a source's counters from any thread.
#[derive(Debug, Clone)]
pub struct SourceHandle(Arc<SourceShared>);

impl SourceHandle {
    /// The counters now (each exact; together a near snapshot).
    pub fn stats(&self) -> SourceStats {
        let s = &self.0;
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SourceStats {
            received: r(&s.received),
            redelivered: r(&s.redelivered),
            published: r(&s.published),
            acked: r(&s.acked),
            decode_errors: r(&s.decode_errors),
            consumer_errors: r(&s.consumer_errors),
            ack_errors: r(&s.ack_errors),
            kept_alive: r(&s.kept_alive),
            server_pending: r(&s.server_pending),
        }
    }
}

/// One delivered message on its way from the pull task to the feeder.
struct Delivery {
    payload: Bytes,
    acker: Acker,
    /// When the server's redelivery timer for it last (re)started: its delivery, or the latest
    /// "in progress" acknowledgement.
    since: Instant,
}

/// A durable JetStream consumer feeding a ring: it acknowledges each message only once the
/// ring's last gating stages have processed it.
///
/// Two threads of the bridge do the work: a task on the bridge runtime pulls messages (batches
/// of `batch`, with heartbeats) into a bounded channel; the feeder thread (`seqflow-nats-source`)
/// takes them, writes each into a claimed slot with the [`Decoder`] and publishes it, and
/// remembers `(ring sequence, ack handle)`. Whenever it looks again (each batch received, each
/// `poll_interval` when idle, each time it waits for room in a full ring) it reads the minimum
/// of the ring's gating sequences (the sequence every last stage has passed) and acknowledges
/// every message at or below it. So:
///
/// - at-least-once end to end: a message is acknowledged after its event was handled by every
///   last stage; if the process dies before that, the server redelivers it after `ack_wait`
///   (to this consumer's next incarnation: the consumer is durable). Redeliveries are counted in
///   [`SourceStats::redelivered`] and arrive after newer messages;
/// - backpressure: when the ring is full the feeder waits for room, the channel fills, the pull
///   task stops asking for more, and the server holds the rest (`max_ack_pending` also caps
///   what is outstanding). Nothing is dropped;
/// - lag: [`SourceStats::lag`] is what the server still has for this consumer (from the
///   metadata of the latest message) plus what is in the ring, unacknowledged.
///
///
/// ```no_run
/// use seqflow_nats::{Bridge, JetStreamSource, PodCodec, SourceConfig};
/// use seqflow_pipeline::Disruptor;
/// let bridge = Bridge::connect_url("nats://127.0.0.1:4222")?;
/// let mut b = Disruptor::builder(4096, || 0u64).single_producer().unwrap();
/// b.handle_events_with(|e: &u64, _, _| println!("{e}"));
/// let (d, producer) = b.start().unwrap();
/// let source = JetStreamSource::start(&bridge, SourceConfig::new("JOURNAL", "replica"), producer, PodCodec::<u64>::new())?;
/// // ... later:
/// let stats = source.stop()?; // stop pulling; the ring finishes its events, all acknowledged
/// d.shutdown().unwrap();
/// println!("{} events, lag {}", stats.acked, stats.lag());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct JetStreamSource {
    shared: Arc<SourceShared>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), BridgeError>>>,
}

impl JetStreamSource {
    /// Create (or find) the durable consumer and start feeding `producer`'s ring.
    ///
    /// The source owns the producer until it stops. It stops on [`stop`](Self::stop), when the
    /// disruptor is halted or shut down (its claims are abandoned), or when the pull consumer
    /// keeps failing past the retry policy ([`stop`](Self::stop) then returns that error).
    pub fn start<E, C, D>(
        bridge: &Bridge,
        config: SourceConfig,
        producer: Producer<E, C>,
        decoder: D,
    ) -> Result<Self, BridgeError>
    where
        E: ?Sized + Slot + 'static,
        C: Claimer + 'static,
        Producer<E, C>: Send,
        D: Decoder<E>,
    {
        config.check()?;
        let consumer = bridge.block_on(create_consumer(bridge, &config))?;
        check_durable(&config, &consumer.cached_info().config)?;
        // An existing durable keeps the `ack_wait` it was made with: the server's is the one
        // the keep-alive must beat.
        let ack_wait = match consumer.cached_info().config.ack_wait {
            w if w.is_zero() => config.ack_wait,
            w => w,
        };
        if config.poll_interval > ack_wait / 8 {
            return Err(BridgeError::Config(format!(
                "poll_interval {:?} must be at most an eighth of the durable {:?}'s ack_wait \
                 {ack_wait:?} (set when it was made)",
                config.poll_interval, config.durable
            )));
        }
        let shared = Arc::new(SourceShared::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel(config.batch * 2);
        let pull = bridge.spawn(pull_messages(
            consumer,
            config.clone(),
            tx,
            Arc::clone(&shared),
        ));
        let feeder = Feeder {
            bridge: bridge.clone(),
            poll_interval: config.poll_interval,
            shared: Arc::clone(&shared),
            stop: Arc::clone(&stop),
            pending: VecDeque::with_capacity(1024),
            last_published: -1,
            last_done: i64::MIN,
            keep_alive_every: ack_wait / 4,
            next_keep_alive: Instant::now() + ack_wait / 4,
        };
        let thread = std::thread::Builder::new()
            .name("seqflow-nats-source".into())
            .spawn(move || feeder.run(rx, pull, producer, decoder))
            .map_err(|e| BridgeError::Runtime {
                message: e.to_string(),
            })?;
        Ok(Self {
            shared,
            stop,
            thread: Some(thread),
        })
    }

    /// A handle to the counters.
    pub fn handle(&self) -> SourceHandle {
        SourceHandle(Arc::clone(&self.shared))
    }

    /// The counters now.
    pub fn stats(&self) -> SourceStats {
        self.handle().stats()
    }

    /// Whether the feeder has stopped (on its own: halt, shutdown or a fatal error).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Stop: stop pulling, let the running ring's stages finish what this source put in it
    /// (within the bridge's request timeout) and acknowledge it, hand back (negative
    /// acknowledgement) everything received but not processed, join the feeder. Stop the source
    /// before shutting the disruptor down: a source stopped after the shutdown cannot tell
    /// what the stages finished last (they have unregistered) and hands those messages back too,
    /// so the next source sees them again (at least once, never lost).
    ///
    /// ```text
    /// let stats = source.stop()?;   // drains its own events through the running ring
    /// disruptor.shutdown()?;
    /// ```
    pub fn stop(mut self) -> Result<SourceStats, BridgeError> {
        self.stop_inner()?;
        Ok(self.stats())
    }

    fn stop_inner(&mut self) -> Result<(), BridgeError> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take() {
            None => Ok(()),
            Some(t) => t
                .join()
                .map_err(|p| BridgeError::Panicked(panic_message(&p)))?,
        }
    }
}

impl Drop for JetStreamSource {
    fn drop(&mut self) {
        if let Err(error) = self.stop_inner() {
            tracing::error!(%error, "JetStream source stopped with an error");
        }
    }
}

/// An existing durable keeps the settings it was made with, so one made for other messages, or
/// acknowledged otherwise, is refused rather than read silently: a different filter would feed
/// the ring other messages (or none), and a policy other than explicit acknowledgement would
/// lose the at-least-once delivery the source promises.
fn check_durable(
    config: &SourceConfig,
    existing: &async_nats::jetstream::consumer::Config,
) -> Result<(), BridgeError> {
    let wanted = config.filter_subject.as_deref().unwrap_or("");
    let reads = |filter: &str| match filter {
        "" => "the whole stream".to_owned(),
        one => format!("subject {one}"),
    };
    if existing.filter_subject != wanted {
        return Err(BridgeError::Config(format!(
            "the durable consumer {:?} of stream {:?} reads {}, but this source asks for {}: a \
             durable keeps the filter it was made with; use another durable name, or delete \
             this one first",
            config.durable,
            config.stream,
            reads(&existing.filter_subject),
            reads(wanted),
        )));
    }
    if existing.ack_policy != AckPolicy::Explicit {
        return Err(BridgeError::Config(format!(
            "the durable consumer {:?} of stream {:?} acknowledges with {:?}, not explicitly: \
             the source acknowledges each message once the ring's stages processed it; use \
             another durable name",
            config.durable, config.stream, existing.ack_policy
        )));
    }
    Ok(())
}

async fn create_consumer(
    bridge: &Bridge,
    config: &SourceConfig,
) -> Result<PullConsumer, BridgeError> {
    let setup = |what: &str, e: String| BridgeError::Setup {
        what: format!("{what} {}/{}", config.stream, config.durable),
        message: e,
    };
    let stream = bridge
        .jetstream()
        .get_stream(&config.stream)
        .await
        .map_err(|e| setup("stream", e.to_string()))?;
    stream
        .get_or_create_consumer(
            &config.durable,
            pull::Config {
                durable_name: Some(config.durable.clone()),
                ack_policy: AckPolicy::Explicit,
                deliver_policy: DeliverPolicy::All,
                ack_wait: config.ack_wait,
                max_ack_pending: config.max_ack_pending,
                filter_subject: config.filter_subject.clone().unwrap_or_default(),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| setup("consumer", e.to_string()))
}

/// The pull task: messages into the channel until the feeder goes away, retrying failures.
async fn pull_messages(
    consumer: PullConsumer,
    config: SourceConfig,
    tx: mpsc::Sender<Delivery>,
    shared: Arc<SourceShared>,
) -> Result<(), BridgeError> {
    let mut failures = 0u32;
    let fail = |message: String, failures: &mut u32| {
        shared.consumer_errors.fetch_add(1, Ordering::Relaxed);
        *failures += 1;
        if config.retry.allows(*failures) {
            tracing::warn!(error = %message, failures, "JetStream pull consumer failed; retrying");
            Ok(config.retry.backoff(*failures))
        } else {
            Err(BridgeError::Consume {
                stream: config.stream.clone(),
                consumer: config.durable.clone(),
                attempts: *failures,
                message,
            })
        }
    };
    while !tx.is_closed() {
        let messages = consumer
            .stream()
            .max_messages_per_batch(config.batch)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await;
        let mut messages = match messages {
            Ok(m) => m,
            Err(e) => {
                let pause = fail(e.to_string(), &mut failures)?;
                tokio::time::sleep(pause).await;
                continue;
            }
        };
        loop {
            // The feeder closing its channel ends the pull at once (not at the next message),
            // handing back what the client already holds for this pull.
            let next = tokio::select! {
                next = messages.next() => next,
                () = tx.closed() => {
                    nak_held(&mut messages).await;
                    return Ok(());
                }
            };
            let Some(next) = next else { break };
            match next {
                Ok(message) => {
                    failures = 0;
                    if let Ok(info) = message.info() {
                        shared.server_pending.store(info.pending, Ordering::Relaxed);
                        if info.delivered > 1 {
                            shared.redelivered.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    shared.received.fetch_add(1, Ordering::Relaxed);
                    let (message, acker) = message.split();
                    let delivery = Delivery {
                        payload: message.payload,
                        acker,
                        since: Instant::now(),
                    };
                    if let Err(refused) = tx.send(delivery).await {
                        // The feeder stopped: hand this one back for prompt redelivery, and
                        // the ones the client already holds for this pull (they would
                        // otherwise come back only after `ack_wait`, after later ones).
                        let nak = refused.0.acker.ack_with(AckKind::Nak(None));
                        let _ = tokio::time::timeout(Duration::from_secs(1), nak).await;
                        nak_held(&mut messages).await;
                        return Ok(());
                    }
                }
                Err(e) => {
                    let pause = fail(e.to_string(), &mut failures)?;
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }
    Ok(())
}

/// Hand back (negative acknowledgement) the messages the client already holds for the current
/// pull: they arrive at once; the first 100 ms without one ends it.
async fn nak_held<S, E>(messages: &mut S)
where
    S: futures_util::Stream<Item = Result<async_nats::jetstream::Message, E>> + Unpin,
{
    let idle = Duration::from_millis(100);
    while let Ok(Some(Ok(held))) = tokio::time::timeout(idle, messages.next()).await {
        let nak = held.ack_with(AckKind::Nak(None));
        let _ = tokio::time::timeout(Duration::from_secs(1), nak).await;
    }
}

/// The feeder thread's state.
struct Feeder {
    bridge: Bridge,
    poll_interval: Duration,
    shared: Arc<SourceShared>,
    stop: Arc<AtomicBool>,
    /// Published, not yet acknowledged: (ring sequence, ack handle, when its redelivery timer
    /// last started), in ring order.
    pending: VecDeque<(i64, Acker, Instant)>,
    last_published: i64,
    /// The highest sequence every gating stage was last seen past.
    last_done: i64,
    /// How often held messages are kept alive: a quarter of the durable's `ack_wait`.
    keep_alive_every: Duration,
    /// When the next keep-alive pass is due.
    next_keep_alive: Instant,
}

impl Feeder {
    fn run<E: ?Sized + Slot, C, D>(
        mut self,
        mut rx: mpsc::Receiver<Delivery>,
        pull: tokio::task::JoinHandle<Result<(), BridgeError>>,
        mut producer: Producer<E, C>,
        mut decoder: D,
    ) -> Result<(), BridgeError>
    where
        C: Claimer,
        D: Decoder<E>,
    {
        let sequencer = Arc::clone(producer.claimer().sequencer());
        let mut pull = Some(pull);
        let capacity = sequencer.capacity().get();
        let mut good: VecDeque<Delivery> = VecDeque::with_capacity(256);
        let mut batch = Vec::with_capacity(256);
        let result = 'feed: loop {
            self.ack_processed(&*sequencer);
            self.keep_alive(&mut good);
            if self.stop.load(Ordering::Relaxed) {
                break Ok(());
            }
            if sequencer.alert().is_raised() {
                // Shut down or halted: nothing more is processed. A claim could still succeed
                // where the ring has room, and its event would never be handled.
                tracing::info!("ring stopped; JetStream source stops");
                break Ok(());
            }
            let received = self.bridge.block_on(async {
                tokio::time::timeout(self.poll_interval, rx.recv_many(&mut batch, 256)).await
            });
            match received {
                Err(_elapsed) => continue,
                Ok(0) => {
                    // The pull task ended: it gave up.
                    let Some(task) = pull.take() else {
                        break Ok(());
                    };
                    break match self.bridge.block_on(task) {
                        Ok(r) => r,
                        Err(e) => Err(BridgeError::Panicked(e.to_string())),
                    };
                }
                Ok(_) => {}
            }
            good.clear();
            self.take_valid(batch.drain(..), &mut good, &mut decoder);
            while !good.is_empty() {
                if sequencer.alert().is_raised() {
                    tracing::info!("ring stopped; JetStream source stops");
                    break 'feed Ok(());
                }
                // Fast path: claim as many slots as are free (one publish, one wake-up of the
                // stages for the whole run).
                let free = sequencer.remaining_capacity().min(capacity);
                if free > 0 {
                    let want = good.len().min(free);
                    match producer.try_claim(want) {
                        Ok(mut guard) => {
                            let start = guard.range().start();
                            let n = guard.range().len();
                            let mut panicked = None;
                            for (k, (event, delivery)) in
                                guard.iter_mut().zip(good.drain(..n)).enumerate()
                            {
                                match decode_caught(&mut decoder, &delivery.payload, event) {
                                    Ok(()) => self.pending.push_back((
                                        start + k as i64,
                                        delivery.acker,
                                        delivery.since,
                                    )),
                                    // Not acknowledged: redelivered to the next source. The
                                    // rest of the claim is still decoded, so only this slot
                                    // holds whatever the decoder left in it.
                                    Err(message) => {
                                        panicked.get_or_insert(message);
                                    }
                                }
                            }
                            guard.commit();
                            self.last_published = start + n as i64 - 1;
                            self.shared.published.fetch_add(n as u64, Ordering::Relaxed);
                            if let Some(message) = panicked {
                                break 'feed Err(BridgeError::Panicked(message));
                            }
                            continue;
                        }
                        Err(ClaimError::Full { .. }) => {}
                        Err(ClaimError::Halted) => {
                            tracing::info!("ring halted; JetStream source stops");
                            break 'feed Ok(());
                        }
                        Err(e) => {
                            break 'feed Err(BridgeError::Config(format!(
                                "cannot publish into the ring: {e}"
                            )))
                        }
                    }
                }
                // Ring full: acknowledge what the stages finished meanwhile, keep alive what
                // waits (the messages the pull task has received since included: they wait
                // too), then wait for one slot with the ring's wait strategy (bounded, to look
                // at `stop` again).
                self.ack_processed(&*sequencer);
                if Instant::now() >= self.next_keep_alive {
                    let arrived = std::iter::from_fn(|| rx.try_recv().ok());
                    self.take_valid(arrived, &mut good, &mut decoder);
                    self.keep_alive(&mut good);
                }
                if self.stop.load(Ordering::Relaxed) {
                    break 'feed Ok(());
                }
                let Some(delivery) = good.pop_front() else {
                    break;
                };
                let mut panicked = None;
                let published = producer.publish_timeout(self.poll_interval, |event, _| {
                    panicked = decode_caught(&mut decoder, &delivery.payload, event).err();
                });
                match published {
                    Ok(seq) => {
                        self.last_published = seq;
                        self.shared.published.fetch_add(1, Ordering::Relaxed);
                        if let Some(message) = panicked {
                            // Not acknowledged: redelivered to the next source.
                            break 'feed Err(BridgeError::Panicked(message));
                        }
                        self.pending
                            .push_back((seq, delivery.acker, delivery.since));
                    }
                    Err(ClaimError::Timeout { .. } | ClaimError::Full { .. }) => {
                        good.push_front(delivery);
                    }
                    Err(ClaimError::Halted) => {
                        good.push_front(delivery); // handed back below
                        tracing::info!("ring halted; JetStream source stops");
                        break 'feed Ok(());
                    }
                    Err(e) => {
                        good.push_front(delivery); // handed back below
                        break 'feed Err(BridgeError::Config(format!(
                            "cannot publish into the ring: {e}"
                        )));
                    }
                }
            }
        };
        self.ack_processed(&*sequencer);
        // Asked to stop while the ring runs: let its stages finish what this source put in it
        // (within the request timeout) and acknowledge that, so that nothing handled here is
        // handed back. A stopped ring (alert up, or no gating stage left) finishes nothing more.
        let patience = std::time::Instant::now() + self.bridge.request_timeout();
        while !self.pending.is_empty()
            && !sequencer.alert().is_raised()
            && sequencer.gating().minimum(i64::MAX) != i64::MAX
            && std::time::Instant::now() < patience
        {
            std::thread::sleep(self.poll_interval.min(Duration::from_millis(10)));
            self.ack_processed(&*sequencer);
        }
        // Received but never put into the ring: handed back at once (a negative acknowledgement)
        // rather than after `ack_wait`, so that the next source on the durable consumer gets
        // them first, in order.
        rx.close();
        let mut unplaced: Vec<Acker> = good
            .drain(..)
            .chain(batch.drain(..))
            .map(|d| d.acker)
            .collect();
        while let Ok(delivery) = rx.try_recv() {
            unplaced.push(delivery.acker);
        }
        // Published but not acknowledged: this source will not acknowledge them any more (the
        // next one on the durable consumer gets them again either way: at least once).
        let published: Vec<Acker> = self.pending.drain(..).map(|(_, acker, _)| acker).collect();
        self.nak(published.into_iter().chain(unplaced).collect());
        // The pull task hands back what it holds once it sees the channel closed.
        if let Some(task) = pull.as_mut() {
            let _ = self
                .bridge
                .block_on(async { tokio::time::timeout(Duration::from_millis(300), task).await });
        }
        if let Some(task) = pull {
            task.abort();
        }
        self.bridge.block_on(async {
            // Let acknowledgements reach the server before the pull task goes.
            let _ = tokio::time::timeout(Duration::from_secs(2), self.flush()).await;
        });
        result
    }

    /// Move `deliveries` to the back of `good`, in order, terminating what the decoder refuses.
    fn take_valid<E: ?Sized, D: Decoder<E>>(
        &self,
        deliveries: impl Iterator<Item = Delivery>,
        good: &mut VecDeque<Delivery>,
        decoder: &mut D,
    ) {
        for delivery in deliveries {
            match decoder.validate(&delivery.payload) {
                Ok(()) => good.push_back(delivery),
                Err(e) => self.terminate(delivery, &e),
            }
        }
    }

    /// Every quarter of the durable's `ack_wait`: tell the server that the messages held for a
    /// pass or more (in the ring unprocessed, or waiting for room) are in progress, which
    /// restarts their redelivery timers; a message is thus never redelivered while this source
    /// holds it. All of a round's acknowledgements share one request timeout (as in
    /// `ack_processed`); one that misses it is tried again next round. Skipped while the client
    /// is disconnected.
    fn keep_alive(&mut self, good: &mut VecDeque<Delivery>) {
        let now = Instant::now();
        if now < self.next_keep_alive {
            return;
        }
        self.next_keep_alive = now + self.keep_alive_every;
        // With no server the acknowledgements would only fill the client's queue, and each pass
        // would block this thread for the request timeout; there is no timer to restart anyway.
        if !self.bridge.is_connected() {
            return;
        }
        // Every message held for a pass or more: its timer may have started before `since`
        // says (it can wait unseen in the client's buffer while the channel is full).
        let due = |since: &Instant| now.saturating_duration_since(*since) >= self.keep_alive_every;
        let waiting = self
            .pending
            .iter_mut()
            .map(|(_, acker, since)| (&*acker, since))
            .chain(good.iter_mut().map(|d| (&d.acker, &mut d.since)))
            .filter(|(_, since)| due(since));
        let deadline = tokio::time::Instant::now() + self.bridge.request_timeout();
        let kept = self.bridge.block_on(async {
            let mut kept = 0u64;
            for (acker, since) in waiting {
                match tokio::time::timeout_at(deadline, acker.ack_with(AckKind::Progress)).await {
                    Ok(Ok(())) => {
                        *since = now;
                        kept += 1;
                    }
                    Ok(Err(_)) => {}
                    Err(_) => break,
                }
            }
            kept
        });
        self.shared.kept_alive.fetch_add(kept, Ordering::Relaxed);
    }

    /// Terminate a message the decoder refused: the server will not redeliver it.
    fn terminate(&self, delivery: Delivery, error: &crate::CodecError) {
        self.shared.decode_errors.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%error, "undecodable message terminated");
        // Bounded for the same reason as `ack_processed`.
        let limit = self.bridge.request_timeout();
        let term = async move {
            tokio::time::timeout(limit, delivery.acker.ack_with(AckKind::Term)).await
        };
        if !matches!(self.bridge.block_on(term), Ok(Ok(()))) {
            self.shared.ack_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Hand these messages back to the server for redelivery (bounded like `ack_processed`; what
    /// misses the bound is redelivered after `ack_wait` all the same).
    fn nak(&self, ackers: Vec<Acker>) {
        if ackers.is_empty() {
            return;
        }
        let deadline = tokio::time::Instant::now() + self.bridge.request_timeout();
        self.bridge.block_on(async {
            for acker in ackers {
                let nak = acker.ack_with(AckKind::Nak(None));
                if tokio::time::timeout_at(deadline, nak).await.is_err() {
                    break;
                }
            }
        });
    }

    /// Acknowledge every pending message whose event every last stage has processed.
    fn ack_processed<S: Sequencer + ?Sized>(&mut self, sequencer: &S) {
        if self.pending.is_empty() {
            return;
        }
        // Sequences up to our last publish that every gating stage has passed. With no gating
        // stage left (the disruptor was shut down or halted, its stages unregistered) nothing
        // more counts as processed: what they did not finish is redelivered, never acknowledged.
        // The last minimum seen then stands: a drained shutdown unregisters its stages right
        // after they finish, and what they finished since is handed back at `stop` (seen twice
        // by the next source, never lost).
        let slowest = sequencer.gating().minimum(i64::MAX);
        if slowest != i64::MAX {
            self.last_done = self.last_done.max(slowest.min(self.last_published));
        }
        let done = self.last_done;
        let ready = self
            .pending
            .iter()
            .take_while(|(s, _, _)| *s <= done)
            .count();
        if ready == 0 {
            return;
        }
        let shared = &self.shared;
        let pending = &mut self.pending;
        // An acknowledgement is a publish into the client's bounded command queue, which the
        // client does not drain while it reconnects: with the server down, a full queue would
        // block here for good. All of a round's acks share one request timeout; what misses it
        // is counted in `ack_errors` and redelivered by the server after `ack_wait`.
        let deadline = tokio::time::Instant::now() + self.bridge.request_timeout();
        let failed = self.bridge.block_on(async {
            let mut failed = 0u64;
            for (_, acker, _) in pending.drain(..ready) {
                match tokio::time::timeout_at(deadline, acker.ack()).await {
                    Ok(Ok(())) => {}
                    _ => failed += 1,
                }
            }
            failed
        });
        shared.ack_errors.fetch_add(failed, Ordering::Relaxed);
        shared
            .acked
            .fetch_add(ready as u64 - failed, Ordering::Relaxed);
    }

    async fn flush(&self) {
        // Acknowledgements are plain publishes; a flush pushes them out of the client's buffer.
        let _ = self.bridge.__internal_client().flush().await;
    }
}

/// Decode `payload` into `event`, catching a panic of the decoder (its message is returned):
/// the claim the slot belongs to is published all the same, and the source stops.
fn decode_caught<E: ?Sized, D: Decoder<E>>(
    decoder: &mut D,
    payload: &[u8],
    event: &mut E,
) -> Result<(), String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decoder.decode(payload, event)
    }))
    .map_err(|p| format!("the decoder panicked: {}", panic_message(&p)))
}

fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".into())
}
