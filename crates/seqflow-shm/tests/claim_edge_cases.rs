//! Claims at the edges of the single-producer fast path and of the stopping mark: a claim
//! guard leaked before the ring filled, a halt or close whose words disagree with the mark.

mod common;

use common::Seg;
use seqflow_sequencer::ClaimError;
use seqflow_shm::{ConsumeError, ProducerMode, ShmOptions, ShmRing, WaitKind};
use std::os::unix::fs::FileExt;
use std::sync::mpsc;
use std::time::Duration;

/// Byte offsets of the status block's words (the fourth 128-byte block of the header).
const CLOSED_WORD: u64 = 384 + 32;
const HALTED_WORD: u64 = 384 + 40;
const STOPPING_WORD: u64 = 384 + 48;

/// How long a claim that must end may take before the test calls it hung.
const HUNG: Duration = Duration::from_secs(20);

fn options(producer: ProducerMode) -> ShmOptions {
    ShmOptions {
        producer,
        wait: WaitKind::Futex,
        liveness_interval: Duration::from_millis(10),
        ..ShmOptions::default()
    }
}

fn write_word(seg: &Seg, offset: u64, value: u64) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/dev/shm{}", seg.name))
        .unwrap();
    f.write_all_at(&value.to_le_bytes(), offset).unwrap();
}

/// A single-producer ring of 4 with a consumer that never reads, three events published and a
/// fourth claim leaked (its guard forgotten): the ring is full, by a claim the shared cursor
/// does not count.
fn full_by_a_leaked_claim(
    seg: &Seg,
) -> (
    ShmRing<u64>,
    seqflow_shm::ShmConsumer<u64>,
    seqflow_shm::ShmProducer<u64>,
) {
    let ring = ShmRing::<u64>::create(&seg.name, 4, options(ProducerMode::Single)).unwrap();
    let stalled = ring.consumer("stalled").unwrap();
    let mut p = ring.producer().unwrap();
    for i in 0..3u64 {
        p.publish(|e, _| *e = i).unwrap();
    }
    std::mem::forget(p.claim(1).unwrap());
    (ring, stalled, p)
}

/// Run `claim` on a thread and return what it returned, or fail if it has not within `HUNG`.
fn ends<T: Send + 'static>(what: &str, claim: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(claim()).unwrap());
    rx.recv_timeout(HUNG)
        .unwrap_or_else(|_| panic!("{what}: the claim did not end"))
}

#[test]
fn a_timed_claim_behind_a_leaked_claim_times_out() {
    let seg = Seg::new("leaked-timeout");
    let (_ring, _stalled, mut p) = full_by_a_leaked_claim(&seg);
    let r = ends("publish_timeout", move || {
        p.publish_timeout(Duration::from_millis(50), |e, _| *e = 9)
    });
    assert!(matches!(r, Err(ClaimError::Timeout { .. })), "{r:?}");
}

#[test]
fn a_blocked_claim_behind_a_leaked_claim_ends_on_close_and_on_halt_all() {
    for halt in [false, true] {
        let seg = Seg::new("leaked-stop");
        let (_ring, _stalled, mut p) = full_by_a_leaked_claim(&seg);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(p.publish(|e, _| *e = 9)).unwrap());
        std::thread::sleep(Duration::from_millis(50));
        let other = ShmRing::<u64>::open(&seg.name, Duration::from_secs(5)).unwrap();
        if halt {
            other.halt_all();
        } else {
            other.close();
        }
        let r = rx
            .recv_timeout(HUNG)
            .expect("the blocked claim did not end");
        let expected = if halt {
            ClaimError::Halted
        } else {
            ClaimError::Closed
        };
        assert_eq!(r, Err(expected), "halt: {halt}");
    }
}

/// A halter killed between its two stores leaves the mark set and the halted word 0 (the ring
/// runs on), or both set; never the halted word alone. With both set, claims are refused.
#[test]
fn a_halt_interrupted_after_its_mark_refuses_claims() {
    for mode in [ProducerMode::Single, ProducerMode::MultiCas] {
        let seg = Seg::new("halt-mark");
        let ring = ShmRing::<u64>::create(&seg.name, 8, options(mode)).unwrap();
        let mut c = ring.consumer("c").unwrap();
        let mut p = ring.producer().unwrap();
        p.publish(|e, _| *e = 1).unwrap();
        write_word(&seg, STOPPING_WORD, 1);
        // The mark alone: a halt that never happened; claims go on.
        p.publish(|e, _| *e = 2).unwrap();
        write_word(&seg, HALTED_WORD, 4242);
        assert_eq!(
            p.try_publish(|e, _| *e = 3),
            Err(ClaimError::Halted),
            "{mode:?}"
        );
        assert_eq!(
            p.publish_timeout(Duration::ZERO, |e, _| *e = 3),
            Err(ClaimError::Halted),
            "{mode:?}"
        );
        assert_eq!(
            c.wait_for(0, Some(Duration::from_millis(100))),
            Err(ConsumeError::Alerted),
            "{mode:?}"
        );
    }
}

/// A segment whose closed or halted word is set without the mark (written by something else
/// than a close or a halt): a producer attaching to it sets the mark, so its claims are refused
/// as the words say, never told `Ok` and then lost.
#[test]
fn a_producer_attaching_to_a_stopped_ring_without_the_mark_is_refused() {
    for (word, value, expected) in [
        (CLOSED_WORD, 2u64, ClaimError::Closed), // closed after sequence 0
        (HALTED_WORD, 4242, ClaimError::Halted),
    ] {
        for mode in [ProducerMode::Single, ProducerMode::MultiCas] {
            let seg = Seg::new("no-mark");
            let ring = ShmRing::<u64>::create(&seg.name, 8, options(mode)).unwrap();
            let _c = ring.consumer("c").unwrap();
            ring.producer().unwrap().publish(|e, _| *e = 0).unwrap();
            write_word(&seg, word, value);
            let mut p = ring.producer().unwrap();
            assert_eq!(p.try_publish(|e, _| *e = 1), Err(expected), "{mode:?}");
            assert_eq!(p.publish(|e, _| *e = 1), Err(expected), "{mode:?}");
        }
    }
}

/// The same for consumers: once a consumer attaches to a ring whose closed word was set without
/// the mark, every consumer stops at the close's end, never handing out what lies past it.
#[test]
fn a_consumer_attaching_to_a_closed_ring_without_the_mark_stops_every_consumer_at_its_end() {
    let seg = Seg::new("no-mark-consumer");
    let ring = ShmRing::<u64>::create(&seg.name, 8, options(ProducerMode::Single)).unwrap();
    let mut early = ring.consumer("early").unwrap();
    ring.producer()
        .unwrap()
        .publish_batch(3, |e, s| *e = s as u64)
        .unwrap();
    write_word(&seg, CLOSED_WORD, 2); // closed after sequence 0
    let _late = ring.consumer("late").unwrap();
    let mut seen = Vec::new();
    let t = Some(Duration::from_millis(200));
    assert_eq!(early.poll_batch(t, |_, s, _| seen.push(s)), Ok(1));
    assert_eq!(seen, [0]);
    assert_eq!(
        early.poll_batch(t, |_, s, _| seen.push(s)),
        Err(ConsumeError::Closed { end: 0 })
    );
}

/// Claims on a closed ring are refused however many are tried: more than the ring holds, by
/// every kind of claim, with the ring's one reader stopped at the close's end (a single
/// producer's claim is made before it is refused, so its refused claims must not fill the
/// ring into `Full` or a wait), and readers end where the close did.
#[test]
fn claims_on_a_closed_ring_are_refused_past_a_ring_full_of_tries() {
    for mode in [ProducerMode::Single, ProducerMode::MultiCas] {
        let seg = Seg::new("closed-tries");
        let ring = ShmRing::<u64>::create(&seg.name, 4, options(mode)).unwrap();
        let mut c = ring.consumer("c").unwrap();
        let mut p = ring.producer().unwrap();
        p.publish_batch(2, |e, s| *e = s as u64).unwrap();
        assert_eq!(ring.close(), 1);
        for attempt in 0..10 {
            let what = format!("{mode:?}, attempt {attempt}");
            assert_eq!(
                p.try_publish(|e, _| *e = 9),
                Err(ClaimError::Closed),
                "{what}"
            );
            assert_eq!(p.publish(|e, _| *e = 9), Err(ClaimError::Closed), "{what}");
            assert_eq!(
                p.publish_timeout(Duration::from_millis(5), |e, _| *e = 9),
                Err(ClaimError::Closed),
                "{what}"
            );
            assert!(matches!(p.claim(1), Err(ClaimError::Closed)), "{what}");
            assert!(matches!(p.try_claim(2), Err(ClaimError::Closed)), "{what}");
        }
        let mut seen = Vec::new();
        let t = Some(Duration::from_millis(200));
        assert_eq!(c.poll_batch(t, |e, _, _| seen.push(*e)), Ok(2), "{mode:?}");
        assert_eq!(seen, [0, 1], "{mode:?}");
        assert_eq!(
            c.poll_batch(t, |e, _, _| seen.push(*e)),
            Err(ConsumeError::Closed { end: 1 }),
            "{mode:?}"
        );
        assert_eq!(ring.closed_at(), Some(1), "{mode:?}");
        let late = ring.consumer("late");
        if let Ok(mut late) = late {
            assert!(
                matches!(
                    late.poll_batch(t, |e, _, _| seen.push(*e)),
                    Err(ConsumeError::Closed { end: 1 }) | Ok(_)
                ),
                "{mode:?}"
            );
        }
        assert_eq!(
            seen,
            [0, 1],
            "{mode:?}: nothing past the close's end is read"
        );
    }
}

/// A single producer's claim refused after it was made (a closed or halted ring) is taken
/// back, not published: what reads the cursor sees no trace of it.
mod refused_claims_leave_no_trace {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    const T: Option<Duration> = Some(Duration::from_millis(200));

    fn ring(seg: &Seg) -> ShmRing<u64> {
        ShmRing::<u64>::create(&seg.name, 8, options(ProducerMode::Single)).unwrap()
    }

    /// A thread claiming 8 slots over and over, each claim refused with `expected`, until
    /// stopped. `start` returns after the first refusal: that claim is recorded for a moment
    /// before it is taken back, and the tests look after it.
    struct KeepTrying {
        stop: Arc<AtomicBool>,
        thread: std::thread::JoinHandle<()>,
    }

    impl KeepTrying {
        fn start(mut p: seqflow_shm::ShmProducer<u64>, expected: ClaimError) -> Self {
            let stop = Arc::new(AtomicBool::new(false));
            let flag = Arc::clone(&stop);
            let (first, refused) = mpsc::channel();
            let thread = std::thread::spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    let got = p.try_claim(8).map(|claim| claim.range());
                    assert_eq!(got, Err(expected));
                    let _ = first.send(());
                    std::thread::yield_now();
                }
            });
            refused.recv_timeout(HUNG).unwrap();
            Self { stop, thread }
        }

        fn stop(self) {
            self.stop.store(true, Ordering::Relaxed);
            self.thread.join().unwrap();
        }
    }

    /// Refused claims pushing the cursor a lap on would tell a lossy subscriber it was lapped
    /// past events nobody overwrote.
    #[test]
    fn a_subscriber_keeps_the_events_from_before_the_close() {
        let seg = Seg::new("refused-sub");
        let ring = ring(&seg);
        let mut sub = ring.subscriber("s").unwrap();
        let mut p = ring.producer().unwrap();
        for i in 0..4u64 {
            p.publish(|e, _| *e = 100 + i).unwrap();
        }
        assert_eq!(ring.close(), 3);
        for _ in 0..8 {
            assert_eq!(p.try_publish(|e, _| *e = 9), Err(ClaimError::Closed));
        }
        assert_eq!(
            p.publish_batch(8, |e, _| *e = 9).map(|r| r.end()),
            Err(ClaimError::Closed)
        );
        for i in 0..4u64 {
            assert_eq!(sub.next_timeout(T), Ok((i as i64, 100 + i)));
        }
        assert!(matches!(
            sub.next_timeout(T),
            Err(ConsumeError::Closed { end: 3 })
        ));
    }

    /// The last published event of a halted ring is the last one written.
    #[test]
    fn read_last_after_a_halt_is_the_last_event_written() {
        let seg = Seg::new("refused-last");
        let ring = ring(&seg);
        let mut p = ring.producer().unwrap();
        for i in 0..10u64 {
            p.publish(|e, _| *e = i * 10).unwrap();
        }
        ring.halt_all();
        assert_eq!(p.try_publish(|e, _| *e = 999), Err(ClaimError::Halted));
        assert_eq!(p.publish(|e, _| *e = 999), Err(ClaimError::Halted));
        assert_eq!(ring.read_last(), Some((9, 90)));
    }

    /// A closed ring drained to its end is empty: no backlog of refused claims.
    #[test]
    fn a_drained_closed_ring_is_empty() {
        let seg = Seg::new("refused-len");
        let ring = ring(&seg);
        let mut c = ring.consumer("c").unwrap();
        let mut p = ring.producer().unwrap();
        p.publish_batch(2, |e, s| *e = s as u64).unwrap();
        assert_eq!(ring.close(), 1);
        for _ in 0..3 {
            assert_eq!(p.try_publish(|e, _| *e = 9), Err(ClaimError::Closed));
        }
        assert_eq!(c.poll_batch(T, |_, _, _| {}), Ok(2));
        assert_eq!(
            c.poll_batch(T, |_, _, _| {}),
            Err(ConsumeError::Closed { end: 1 })
        );
        let info = ring.inspect();
        assert_eq!(
            (
                ring.len(),
                ring.is_empty(),
                info.backlog(),
                info.consumers[0].lag,
                ring.published()
            ),
            (0, true, 0, 0, 1),
            "{info}"
        );
    }

    /// A claim guard leaked before the close leaves its slot unwritten inside the close's end:
    /// readers wait there, and a refused publish must not hand it out.
    #[test]
    fn a_refused_publish_does_not_expose_a_leaked_claim() {
        let seg = Seg::new("refused-leak");
        let ring = ring(&seg);
        let mut c = ring.consumer("c").unwrap();
        let mut p = ring.producer().unwrap();
        for i in 0..3u64 {
            p.publish(|e, _| *e = 100 + i).unwrap();
        }
        std::mem::forget(p.claim(1).unwrap());
        assert_eq!(ring.close(), 3);
        assert_eq!(p.try_publish(|e, _| *e = 9), Err(ClaimError::Closed));
        let mut seen = Vec::new();
        let _ = c.poll_batch(T, |e, s, _| seen.push((s, *e)));
        let _ = c.poll_batch(T, |e, s, _| seen.push((s, *e)));
        assert_eq!(seen, [(0, 100), (1, 101), (2, 102)]);
    }

    /// A producer that keeps trying on a closed ring is refused before its claims are
    /// recorded (its claim gate shuts at the first refusal): a lossy subscriber reading the
    /// events from before the close meanwhile is never told it was lapped, and the drained
    /// ring never looks full. (The reads start after the first refusal, whose own claim is
    /// recorded for a moment.)
    #[test]
    fn a_producer_trying_on_a_closed_ring_laps_no_subscriber() {
        for round in 0..50 {
            let seg = Seg::new("refused-live");
            let ring = ring(&seg);
            let mut sub = ring.subscriber("s").unwrap();
            let mut c = ring.consumer("c").unwrap();
            let mut p = ring.producer().unwrap();
            p.publish_batch(8, |e, s| *e = 100 + s as u64).unwrap();
            assert_eq!(c.poll_batch(T, |_, _, _| {}), Ok(8));
            assert_eq!(ring.close(), 7);
            let tries = KeepTrying::start(p, ClaimError::Closed);
            for i in 0..8i64 {
                assert!(!ring.is_full(), "round {round}");
                assert_eq!(
                    sub.next_timeout(T),
                    Ok((i, 100 + i as u64)),
                    "round {round}"
                );
            }
            tries.stop();
        }
    }

    /// A close after a halt, while the producer keeps being refused for the halt, ends at the
    /// last published event: the refused claims are not counted. (The close comes after the
    /// first refusal, whose own claim is recorded for a moment.)
    #[test]
    fn a_close_after_a_halt_counts_no_refused_claim() {
        for round in 0..50 {
            let seg = Seg::new("refused-halt-close");
            let ring = ring(&seg);
            let mut p = ring.producer().unwrap();
            p.publish_batch(8, |e, s| *e = 100 + s as u64).unwrap();
            // Another handle: this one's halt would also raise the producer's own alert.
            let other = ShmRing::<u64>::open(&seg.name, Duration::from_secs(5)).unwrap();
            other.halt_all();
            let tries = KeepTrying::start(p, ClaimError::Halted);
            let end = other.close();
            tries.stop();
            assert_eq!(
                (end, ring.closed_at(), ring.inspect().closed_at),
                (7, Some(7), Some(7)),
                "round {round}"
            );
        }
    }

    /// A claim too large for the ring, on a closed ring, answers the close, as a multi
    /// producer's does.
    #[test]
    fn an_oversized_claim_on_a_closed_ring_is_closed() {
        for mode in [ProducerMode::Single, ProducerMode::MultiCas] {
            let seg = Seg::new("refused-size");
            let ring = ShmRing::<u64>::create(&seg.name, 8, options(mode)).unwrap();
            let mut p = ring.producer().unwrap();
            ring.close();
            assert_eq!(
                p.publish_batch(9, |e, _| *e = 1).map(|r| r.end()),
                Err(ClaimError::Closed),
                "{mode:?}"
            );
        }
    }
}
