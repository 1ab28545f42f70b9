//! `ShmRing::read_last` after halts that race producers: whatever the interleaving, it returns
//! an event a producer wrote (a multi producer's claim refused for the halt is published
//! without being written, and its slot holds an older event or the initial zero).

mod common;

use common::Seg;
use seqflow_shm::{ClaimError, ProducerMode, ShmOptions, ShmRing};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// Room for the three producers.
fn options(producer: ProducerMode) -> ShmOptions {
    ShmOptions {
        producer,
        max_producers: 4,
        ..Default::default()
    }
}

/// Producers publish `seq + 1` into every event of claims of 1 to 3 while two threads halt
/// the ring everywhere, on a 4-slot ring; then `read_last` is a written event, and some event
/// (the first halter waits for `round % 40` events, so events were published unless that is
/// 0 and the producers were refused their first claims).
#[test]
fn read_last_after_racing_halts_is_a_written_event() {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut rounds = 0;
    for mode in [ProducerMode::MultiCas, ProducerMode::Single] {
        for round in 0..150usize {
            if Instant::now() > deadline {
                break;
            }
            rounds += 1;
            let seg = Seg::new("halt-race");
            let ring = ShmRing::<u64>::create(&seg.name, 4, options(mode)).unwrap();
            let producers = if mode == ProducerMode::MultiCas { 3 } else { 1 };
            let barrier = Arc::new(Barrier::new(producers + 3));
            let mut threads = Vec::new();
            for _ in 0..producers {
                let (ring, barrier) = (ring.clone(), barrier.clone());
                threads.push(std::thread::spawn(move || {
                    let mut p = ring.producer().unwrap();
                    barrier.wait();
                    loop {
                        match p.publish_batch(1 + (round % 3), |e, seq| *e = seq as u64 + 1) {
                            Ok(_) => {}
                            Err(ClaimError::Halted) => return,
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                }));
            }
            for i in 0..2i64 {
                let (ring, barrier) = (ring.clone(), barrier.clone());
                threads.push(std::thread::spawn(move || {
                    barrier.wait();
                    // Some events first, so that `read_last` has one to return; the other
                    // halter may have stopped the producers short of this one's count.
                    while ring.published() < (round as i64 % 40) + i && ring.halted_by().is_none() {
                        std::thread::yield_now();
                    }
                    ring.halt_all();
                }));
            }
            barrier.wait();
            for t in threads {
                t.join().unwrap();
            }
            match ring.read_last() {
                Some((seq, value)) => {
                    assert_eq!(value, seq as u64 + 1, "{mode:?} round {round}: seq {seq}")
                }
                None => assert!(
                    round % 40 == 0,
                    "{mode:?} round {round}: None with {} published",
                    ring.published()
                ),
            }
        }
    }
    eprintln!("{rounds} rounds");
}
