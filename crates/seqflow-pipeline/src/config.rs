//! [`DisruptorConfig`]: ring size, event factory, wait strategy and policies, before the
//! producer kind is chosen.

use crate::{BuildError, Disruptor, DisruptorBuilder, ExceptionHandler, PanicPolicy};
use seqflow_ring::{EventFactory, RingBuffer};
use seqflow_sequence::{WaitStrategy, YieldingWait};
use seqflow_sequencer::{MultiProducerMode, MultiProducerSequencer, SingleProducerSequencer};
use std::marker::PhantomData;
use std::sync::Arc;

/// The default size of the gating table: how many stages, pollers and workers a ring can have.
pub const DEFAULT_MAX_CONSUMERS: usize = 64;

/// The settings of a disruptor before its producer kind is chosen.
///
/// ```
/// use seqflow_pipeline::{Disruptor, PanicPolicy};
/// use seqflow_sequence::BlockingWait;
/// let builder = Disruptor::builder(256, || [0u8; 64])
///     .wait_strategy(BlockingWait::default())
///     .panic_policy(PanicPolicy::LogAndContinue)
///     .max_consumers(8)
///     .single_producer()
///     .unwrap();
/// # drop(builder);
/// ```
pub struct DisruptorConfig<E, F, W> {
    capacity: usize,
    factory: F,
    wait: W,
    policy: PanicPolicy,
    exceptions: Option<Arc<dyn ExceptionHandler<E>>>,
    max_consumers: usize,
    _events: PhantomData<fn() -> E>,
}

impl<E: Send + Sync + 'static> Disruptor<E> {
    /// Start configuring a disruptor over a ring of `capacity` events made by `factory`.
    ///
    /// Defaults: [`YieldingWait`], [`PanicPolicy::Halt`], 64 consumers at most. The producer
    /// kind is chosen last ([`DisruptorConfig::single_producer`] or
    /// [`DisruptorConfig::multi_producer`]); the same as [`DisruptorConfig::new`].
    pub fn builder<F: EventFactory<E>>(
        capacity: usize,
        factory: F,
    ) -> DisruptorConfig<E, F, YieldingWait> {
        DisruptorConfig::new(capacity, factory)
    }
}

impl<E, F> DisruptorConfig<E, F, YieldingWait>
where
    E: Send + Sync + 'static,
    F: EventFactory<E>,
{
    /// Settings for a ring of `capacity` events made by `factory`, with the defaults of
    /// [`Disruptor::builder`].
    pub fn new(capacity: usize, factory: F) -> Self {
        DisruptorConfig {
            capacity,
            factory,
            wait: YieldingWait::default(),
            policy: PanicPolicy::default(),
            exceptions: None,
            max_consumers: DEFAULT_MAX_CONSUMERS,
            _events: PhantomData,
        }
    }
}

impl<E, F, W> DisruptorConfig<E, F, W>
where
    E: Send + Sync + 'static,
    F: EventFactory<E>,
    W: WaitStrategy,
{
    /// How consumers wait for events (and producers for free slots).
    pub fn wait_strategy<W2: WaitStrategy>(self, wait: W2) -> DisruptorConfig<E, F, W2> {
        DisruptorConfig {
            capacity: self.capacity,
            factory: self.factory,
            wait,
            policy: self.policy,
            exceptions: self.exceptions,
            max_consumers: self.max_consumers,
            _events: PhantomData,
        }
    }

    /// What a stage does when its handler panics or fails (the default exception handler;
    /// replaces one set with [`exception_handler`](Self::exception_handler)).
    pub fn panic_policy(mut self, policy: PanicPolicy) -> Self {
        self.policy = policy;
        self.exceptions = None;
        self
    }

    /// The exception handler of every stage that has none of its own (see
    /// [`ExceptionHandler`]); replaces the panic policy.
    pub fn exception_handler(mut self, handler: impl ExceptionHandler<E>) -> Self {
        self.exceptions = Some(Arc::new(handler));
        self
    }

    fn finish<S: crate::ProducerSequencer>(
        exceptions: Option<Arc<dyn ExceptionHandler<E>>>,
        builder: Result<DisruptorBuilder<E, S>, BuildError>,
    ) -> Result<DisruptorBuilder<E, S>, BuildError> {
        let mut builder = builder?;
        if let Some(handler) = exceptions {
            builder.set_default_exception_handler(handler);
        }
        Ok(builder)
    }

    /// The most stages, pollers and workers the ring can have at once.
    pub fn max_consumers(mut self, max: usize) -> Self {
        self.max_consumers = max;
        self
    }

    /// One producer: the fastest claim and publish.
    pub fn single_producer(
        self,
    ) -> Result<DisruptorBuilder<E, SingleProducerSequencer<W>>, BuildError> {
        let ring = RingBuffer::new(self.capacity, self.factory)?;
        let sequencer = SingleProducerSequencer::new(self.capacity, self.wait, self.max_consumers)?;
        Self::finish(
            self.exceptions,
            DisruptorBuilder::with_parts(sequencer, ring, self.policy),
        )
    }

    /// Any number of producers, claiming by CAS ([`MultiProducerMode::Cas`]) or under a lock.
    pub fn multi_producer(
        self,
        mode: MultiProducerMode,
    ) -> Result<DisruptorBuilder<E, MultiProducerSequencer<W>>, BuildError> {
        let ring = RingBuffer::new(self.capacity, self.factory)?;
        let sequencer =
            MultiProducerSequencer::new(self.capacity, self.wait, mode, self.max_consumers)?;
        Self::finish(
            self.exceptions,
            DisruptorBuilder::with_parts(sequencer, ring, self.policy),
        )
    }
}
