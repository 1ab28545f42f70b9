//! Short names for the running pipeline and its producers, with [`YieldingWait`] by default.

use crate::{Disruptor, Producer};
use seqflow_sequence::YieldingWait;
use seqflow_sequencer::{
    MultiClaimer, MultiProducerSequencer, SingleClaimer, SingleProducerSequencer,
};

/// A running disruptor with one producer, waiting with `W`.
pub type SingleProducerDisruptor<E, W = YieldingWait> = Disruptor<E, SingleProducerSequencer<W>>;

/// A running disruptor with any number of producers, waiting with `W`.
///
/// ```
/// use seqflow_pipeline::{Disruptor, MultiProducer, MultiProducerDisruptor, MultiProducerMode};
/// struct Feed {
///     disruptor: MultiProducerDisruptor<u64>,
///     producer: MultiProducer<u64>,
/// }
/// let (disruptor, producer) = Disruptor::builder(64, || 0u64)
///     .multi_producer(MultiProducerMode::Cas).unwrap()
///     .start().unwrap();
/// let mut feed = Feed { disruptor, producer };
/// feed.producer.publish(|e, _| *e = 1).unwrap();
/// feed.disruptor.shutdown().unwrap();
/// ```
pub type MultiProducerDisruptor<E, W = YieldingWait> = Disruptor<E, MultiProducerSequencer<W>>;

/// The producer of a [`SingleProducerDisruptor`].
pub type SingleProducer<E, W = YieldingWait> = Producer<E, SingleClaimer<W>>;

/// A producer of a [`MultiProducerDisruptor`] (`Clone`: one per thread).
pub type MultiProducer<E, W = YieldingWait> = Producer<E, MultiClaimer<W>>;
