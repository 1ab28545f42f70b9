//! Compile-fail tests: safe code cannot reach any mutator that the unsafe blocks of seqflow rely
//! on. Each example below must fail to compile with the error code it names; the first one
//! shows that the same handles compile when only read.
//!
//! Reading is allowed:
//!
//! ```
//! use seqflow::prelude::*;
//! let mut builder = Disruptor::builder(8, || 0u64).single_producer().unwrap();
//! let poller = builder.poller().unwrap();
//! let _ = builder.sequencer().gating().slots()[0].sequence().get();
//! let (disruptor, _producer) = builder.start().unwrap();
//! let _ = disruptor.sequencer().gating().slots()[0].sequence().get();
//! let _ = (disruptor.sequencer().published(), poller.sequence(), poller.is_gating());
//! drop(poller);
//! disruptor.shutdown().unwrap();
//! ```
//!
//! A second builder over a builder's ring and sequencer needs `unsafe` (its consumers would be
//! unknown to the first builder, whose stages may write their events):
//!
//! ```compile_fail,E0133
//! use seqflow::prelude::*;
//! let b = Disruptor::builder(8, || 0u64).single_producer().unwrap();
//! let (ring, sequencer) = (b.ring().clone(), b.sequencer().clone());
//! let _second = DisruptorBuilder::from_parts(sequencer, ring, PanicPolicy::Halt);
//! ```
//!
//! Releasing another consumer's gating slot needs `unsafe` (it is internal to the
//! shared-memory layer):
//!
//! ```compile_fail,E0133
//! use seqflow::prelude::*;
//! let (disruptor, _p) = Disruptor::builder(8, || 0u64).single_producer().unwrap().start().unwrap();
//! disruptor.sequencer().gating().__internal_force_release(0);
//! ```
//!
//! A gating slot's sequence is read-only to everyone but its holder:
//!
//! ```compile_fail,E0599
//! use seqflow::prelude::*;
//! let (disruptor, _p) = Disruptor::builder(8, || 0u64).single_producer().unwrap().start().unwrap();
//! disruptor.sequencer().gating().slots()[0].sequence().set(1 << 40);
//! ```
//!
//! ```compile_fail,E0599
//! use seqflow::prelude::*;
//! let builder = Disruptor::builder(8, || 0u64).single_producer().unwrap();
//! builder.sequencer().gating().slots()[0].sequence().set(1 << 40);
//! ```
//!
//! A poller's slot is private to it:
//!
//! ```compile_fail,E0599
//! use seqflow::prelude::*;
//! let mut builder = Disruptor::builder(8, || 0u64).single_producer().unwrap();
//! let poller = builder.poller().unwrap();
//! poller.registration().set_gating(false);
//! ```
//!
//! ```compile_fail,E0599
//! use seqflow::prelude::*;
//! let mut builder = Disruptor::builder(8, || 0u64).single_producer().unwrap();
//! let poller = builder.poller().unwrap();
//! poller.registration().sequence().set(1 << 40);
//! ```
//!
//! The producer cursor cannot be moved from outside (there is no writable cursor to reach):
//!
//! ```compile_fail,E0599
//! use seqflow::prelude::*;
//! let (disruptor, _p) = Disruptor::builder(8, || 0u64).single_producer().unwrap().start().unwrap();
//! disruptor.sequencer().cursor().set(1 << 40);
//! ```
//!
//! Marking a multi-producer slot published is the claimer's alone:
//!
//! ```compile_fail,E0624
//! use seqflow::prelude::*;
//! let (disruptor, _p) = Disruptor::builder(8, || 0u64)
//!     .multi_producer(MultiProducerMode::Cas).unwrap().start().unwrap();
//! disruptor.sequencer().availability().mark(3);
//! ```
//!
//! Sequencers and rings over memory a caller still holds are internal and `unsafe`:
//!
//! ```compile_fail,E0133
//! use seqflow::prelude::*;
//! use seqflow::sequence::OwnedRef;
//! use seqflow::sequencer::GatingTable;
//! let cursor = OwnedRef::new(Sequence::default());
//! let s = SingleProducerSequencer::__internal_from_parts(
//!     Capacity::new(8).unwrap(), cursor.clone(), GatingTable::new(1).unwrap(), YieldingWait::default());
//! cursor.set(7); // would make consumers read unwritten slots
//! ```
//!
//! The same holds across processes: a shared ring's gating table (its consumer registry) and
//! its bare sequencers are not reachable from outside at all; inspection reads copies.
//!
//! ```compile_fail,E0624
//! use seqflow::shm::{ShmOptions, ShmRing};
//! let ring = ShmRing::<u64>::create("/seqflow-compile-fail", 8, ShmOptions::default()).unwrap();
//! ring.sequencer().gating().slots()[0].sequence().get();
//! ```
//!
//! ```compile_fail,E0624
//! use seqflow::shm::{ShmOptions, ShmRing};
//! let ring = ShmRing::<u64>::create("/seqflow-compile-fail", 8, ShmOptions::default()).unwrap();
//! let _ = ring.sequencer().multi(); // an in-process pipeline over it would bypass the registry
//! ```
