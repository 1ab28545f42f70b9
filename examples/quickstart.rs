//! The shortest seqflow program: one producer, two stages in a pipeline, a drained shutdown.
//!
//! Run: `cargo run --release --example quickstart`

use seqflow::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The event type: preallocated once per slot, overwritten in place.
#[derive(Default)]
struct Trade {
    price: u64,
    quantity: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let notional = Arc::new(AtomicU64::new(0));
    let total = Arc::clone(&notional);

    let mut builder = Disruptor::builder(1024, Trade::default).single_producer()?;
    builder
        .handle_events_with(|t: &Trade, _seq, _end_of_batch| assert!(t.quantity > 0))
        .named("validate")
        .then(move |t: &Trade, _seq, _end_of_batch| {
            total.fetch_add(t.price * t.quantity, Ordering::Relaxed);
        })
        .named("account");
    let (disruptor, mut producer) = builder.start()?;

    for i in 1..=10_000u64 {
        producer.publish(|trade, _seq| {
            trade.price = i;
            trade.quantity = 2;
        })?;
    }
    disruptor.shutdown()?; // drains: both stages have seen all 10 000 trades

    let expected: u64 = (1..=10_000u64).map(|i| i * 2).sum();
    assert_eq!(notional.load(Ordering::Relaxed), expected);
    println!("quickstart: 10000 trades validated then accounted, notional {expected} (verified)");
    Ok(())
}
