//! One-byte availability marks on shared rings: late joiners after 256*k laps, and pool workers
//! and subscribers on a 4-slot multi-producer ring driven for many laps.

mod common;

use common::{pool_opts, Seg};
use seqflow_shm::{ConsumeError, ProducerMode, ShmRing};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Option<Duration> = Some(Duration::from_secs(10));

/// Nobody reads while 1024*k + extra + 1 events go round a 4-slot ring (every slot's mark is
/// back to what it was 256*k laps before, give or take a slot); then a consumer, a subscriber
/// and a pool worker join and must start at the published end and read the next events.
#[test]
fn late_joiners_after_multiples_of_256_laps() {
    for k in 1..=2i64 {
        for extra in 0..4i64 {
            let seg = Seg::new("marks-late");
            let ring = ShmRing::<u64>::create(&seg.name, 4, pool_opts(ProducerMode::MultiCas, &[]))
                .unwrap();
            let mut p = ring.producer().unwrap();
            let last = 1024 * k + extra;
            for _ in 0..=last {
                p.publish(|e, s| *e = s as u64).unwrap();
            }
            assert_eq!(ring.published(), last);
            assert_eq!(ring.read_last(), Some((last, last as u64)));
            assert_eq!(ring.inspect().published, last);
            let mut c = ring.consumer("c").unwrap();
            let mut sub = ring.subscriber("s").unwrap();
            let mut w = ring.worker("w").unwrap();
            assert_eq!(c.sequence(), last, "k {k} extra {extra}");
            assert_eq!(sub.position(), last + 1, "k {k} extra {extra}");
            assert_eq!(w.work_cursor(), last, "k {k} extra {extra}");
            for _ in 0..4 {
                p.publish(|e, s| *e = s as u64).unwrap();
            }
            let mut got = Vec::new();
            while got.len() < 4 {
                c.poll_batch(WAIT, |e, s, _| got.push((s, *e))).unwrap();
            }
            let want: Vec<(i64, u64)> = (last + 1..=last + 4).map(|s| (s, s as u64)).collect();
            assert_eq!(got, want, "consumer, k {k} extra {extra}");
            for &(s, e) in &want {
                assert_eq!(sub.next_timeout(WAIT), Ok((s, e)), "subscriber");
                assert_eq!(w.process(WAIT, |e, _| *e).unwrap(), (s, e), "worker");
            }
        }
    }
}

/// A pool of three workers (one that never asks, raised by the others; two that race, sleep and
/// wait) and a subscriber on a 4-slot multi-producer ring with two producers: every event is
/// handled once with its own payload, and the subscriber only ever returns published events.
#[test]
fn pool_and_subscriber_over_many_laps() {
    const N: u64 = 200_000;
    let seg = Seg::new("marks-pool");
    let ring =
        ShmRing::<u64>::create(&seg.name, 4, pool_opts(ProducerMode::MultiCas, &[])).unwrap();
    let seen: Arc<Vec<AtomicU8>> = Arc::new((0..N).map(|_| AtomicU8::new(0)).collect());
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let _idle = ring.worker("pool").unwrap();
    let mut threads = Vec::new();
    for t in 0..2u64 {
        let (ring, seen, errors, stop) = (ring.clone(), seen.clone(), errors.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut w = ring.worker("pool").unwrap();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let out = w.process_batch(
                    1 + (i % 3) as usize,
                    Some(Duration::from_millis(20)),
                    |e, seq, _| {
                        if *e != seq as u64 {
                            errors
                                .lock()
                                .unwrap()
                                .push(format!("worker {t}: {seq} holds {}", *e));
                        }
                        match seen.get(seq as usize) {
                            Some(x) if x.fetch_add(1, Ordering::Relaxed) == 0 => {}
                            Some(_) => errors.lock().unwrap().push(format!("{seq} twice")),
                            None => errors.lock().unwrap().push(format!("{seq} beyond N")),
                        }
                    },
                );
                match out {
                    Ok(_) | Err(ConsumeError::Timeout) => {}
                    Err(ConsumeError::Closed { .. }) => break,
                    Err(e) => errors.lock().unwrap().push(format!("worker {t}: {e:?}")),
                }
                if t == 1 && i % 97 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }));
    }
    {
        let (ring, errors, stop) = (ring.clone(), errors.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut sub = ring.subscriber("sub").unwrap();
            let mut last = -1i64;
            while !stop.load(Ordering::Relaxed) {
                match sub.next_timeout(Some(Duration::from_millis(20))) {
                    Ok((s, e)) => {
                        if e != s as u64 || s <= last {
                            errors
                                .lock()
                                .unwrap()
                                .push(format!("subscriber: {s} holds {e} after {last}"));
                        }
                        last = s;
                    }
                    Err(ConsumeError::Lapped { .. } | ConsumeError::Timeout) => {}
                    Err(ConsumeError::Closed { .. }) => break,
                    Err(e) => errors.lock().unwrap().push(format!("subscriber: {e:?}")),
                }
            }
        }));
    }
    let producers: Vec<_> = (0..2)
        .map(|_| {
            let ring = ring.clone();
            std::thread::spawn(move || {
                let mut p = ring.producer().unwrap();
                for _ in 0..N / 2 {
                    p.publish(|e, s| *e = s as u64).unwrap();
                }
            })
        })
        .collect();
    for t in producers {
        t.join().unwrap();
    }
    // Wait (no time asserted) until the pool has handled everything.
    let mut rounds = 0u64;
    while seen.iter().any(|x| x.load(Ordering::Relaxed) == 0) {
        std::thread::sleep(Duration::from_millis(10));
        rounds += 1;
        assert!(rounds < 6000, "the pool stopped handling events");
    }
    stop.store(true, Ordering::Relaxed);
    ring.close();
    for t in threads {
        t.join().unwrap();
    }
    let errors = errors.lock().unwrap();
    assert!(errors.is_empty(), "{:#?}", &errors[..errors.len().min(20)]);
}
