//! The scenario harness shared by `seqflow compare` and the workspace's criterion benches.
//!
//! A [`Scenario`](scenario::Scenario) is a stage graph (1P-1C, 1P-3C pipeline and multicast,
//! diamond, 2P-1C, 3P-1C), a payload (`u64` or 128 bytes) and a publishing mode (bursts or one
//! event at a time). [`peers::run`] runs one scenario once with one implementation (seqflow
//! with each of its sequencers, `std::sync::mpsc::sync_channel`, `crossbeam-channel`, the
//! `disruptor` crate) and verifies that every consumer received every value exactly once;
//! [`latency::ping_pong`] times round trips between two threads; [`compare::compare`] runs a
//! selection over several rounds, alternating implementations, and reports medians and
//! seqflow/peer ratios.
//!
//! ```
//! use seqflow_bench::peers::{run, Implementation, RunConfig};
//! use seqflow_bench::scenario::select;
//! use seqflow_bench::wait::Wait;
//! let cfg = RunConfig { events: 2_000, capacity: 256, batch: 10, wait: Wait::Yielding, pacing: Default::default(), check_order: false };
//! for scenario in select(&["diamond-b128".to_string()])?.scenarios {
//!     for implementation in Implementation::ALL {
//!         if implementation.supports(scenario) {
//!             let m = run(implementation, scenario, &cfg)?; // fails unless verified
//!             assert!(m.events_per_sec() > 0.0);
//!         }
//!     }
//! }
//! # Ok::<(), seqflow_bench::BenchError>(())
//! ```
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod compare;
mod error;
pub mod latency;
pub mod line_probe;
pub mod load;
pub mod pacing;
pub mod payload;
pub mod peers;
pub mod regime;
pub mod scenario;
pub mod verify;
pub mod wait;

pub use error::BenchError;
