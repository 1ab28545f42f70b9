//! Stages that change their events in place (`handle_events_mut_with`, `then_mut`): the stages
//! after them see what they wrote, the stages before them the original, and every graph where
//! another consumer could read while they write is refused.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use seqflow_pipeline::{
    BuildError, Disruptor, DisruptorBuilder, EventError, EventHandlerMut, PanicPolicy,
    RewindPolicy, RingBuffer, SingleProducerSequencer, YieldingWait,
};
use seqflow_sequence::BlockingWait;
use seqflow_sequencer::MultiProducerMode;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

/// Events per run: fewer under Miri, which interprets every instruction.
const EVENTS: i64 = if cfg!(miri) { 40 } else { 20_000 };
/// A small ring, so that the runs wrap many times.
const RING: usize = if cfg!(miri) { 8 } else { 64 };

/// An event with a field the producer writes, one a stage derives, and a heap buffer (so a
/// torn or racing write would show up as corruption under the sanitizers).
#[derive(Default)]
struct Order {
    raw: u64,
    doubled: u64,
    note: String,
}

fn publish_all(p: &mut seqflow_pipeline::Producer<Order, impl seqflow_pipeline::Claimer>) {
    for i in 0..EVENTS {
        p.publish(|o, _| {
            o.raw = i as u64;
            o.doubled = 0;
            o.note.clear();
        })
        .unwrap();
    }
}

#[test]
fn a_pipeline_sees_what_the_mutating_stage_wrote() {
    let sum = Arc::new(AtomicU64::new(0));
    let s = sum.clone();
    let mut b = Disruptor::builder(RING, Order::default)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_mut_with(|o: &mut Order, seq, _| {
        assert_eq!(o.raw, seq as u64);
        o.doubled = o.raw * 2;
        o.note.push_str("seen");
    })
    .then(move |o: &Order, seq, _| {
        assert_eq!((o.raw, o.doubled), (seq as u64, seq as u64 * 2));
        assert_eq!(o.note, "seen");
        s.fetch_add(o.doubled, SeqCst);
    });
    let (d, mut p) = b.start().unwrap();
    publish_all(&mut p);
    d.shutdown().unwrap();
    let expected: u64 = (0..EVENTS as u64).map(|i| i * 2).sum();
    assert_eq!(sum.load(SeqCst), expected);
}

#[test]
fn readers_before_see_the_original_and_readers_after_the_change_in_a_diamond() {
    // A and B (parallel, read-only) -> M (writes) -> C and a poller (read-only, in parallel).
    let sums: Vec<Arc<AtomicU64>> = (0..3).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let m_done = Arc::new(AtomicI64::new(-1));
    let mut b = Disruptor::builder(RING, Order::default)
        .wait_strategy(YieldingWait::default())
        .multi_producer(MultiProducerMode::Cas)
        .unwrap();
    let reader = |sum: Arc<AtomicU64>, m_done: Arc<AtomicI64>| {
        move |o: &Order, seq: i64, _| {
            // Before M: M has not reached this event yet, so it holds what the producer wrote.
            assert!(m_done.load(SeqCst) < seq);
            assert_eq!((o.raw, o.doubled), (seq as u64, 0));
            sum.fetch_add(o.raw, SeqCst);
        }
    };
    let ab = b
        .handle_events_with(reader(sums[0].clone(), m_done.clone()))
        .and(reader(sums[1].clone(), m_done.clone()))
        .group();
    let done = m_done.clone();
    let c_sum = sums[2].clone();
    let m = b
        .after(&[&ab])
        .handle_events_mut_with(move |o: &mut Order, seq, _| {
            o.doubled = o.raw * 2;
            done.store(seq, SeqCst);
        })
        .group();
    b.after(&[&m]).handle_events_with(move |o: &Order, seq, _| {
        assert_eq!(o.doubled, seq as u64 * 2);
        c_sum.fetch_add(o.doubled, SeqCst);
    });
    let mut poller = b.poller_after(&[&m]).unwrap();
    let (d, p) = b.start().unwrap();
    let polled = std::thread::spawn(move || {
        let mut sum = 0u64;
        loop {
            match poller.poll(|o, seq, _| {
                assert_eq!(o.doubled, seq as u64 * 2);
                sum += o.doubled;
            }) {
                Ok(0) => std::thread::yield_now(),
                Ok(_) => {}
                Err(_) => return sum,
            }
        }
    });
    let producers: Vec<_> = (0..2)
        .map(|k| {
            let mut p = if k == 0 {
                p.clone()
            } else {
                d.producer().unwrap()
            };
            std::thread::spawn(move || {
                for i in (k..EVENTS).step_by(2) {
                    // The value is the event's sequence, which only the claim knows.
                    let _ = i;
                    p.publish(|o, seq| {
                        o.raw = seq as u64;
                        o.doubled = 0;
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    drop(p);
    for t in producers {
        t.join().unwrap();
    }
    d.shutdown().unwrap();
    let original: u64 = (0..EVENTS as u64).sum();
    assert_eq!(sums[0].load(SeqCst), original);
    assert_eq!(sums[1].load(SeqCst), original);
    assert_eq!(sums[2].load(SeqCst), original * 2);
    assert_eq!(polled.join().unwrap(), original * 2);
}

#[test]
fn two_mutating_stages_in_a_row_and_a_worker_pool_after_them() {
    let total = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let t = total.clone();
            move |o: &Order, seq: i64, _| {
                assert_eq!(o.doubled, seq as u64 * 2 + 1);
                t.fetch_add(o.doubled, SeqCst);
            }
        })
        .collect();
    let mut b = Disruptor::builder(RING, Order::default)
        .wait_strategy(YieldingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_mut_with(|o: &mut Order, _, _| o.doubled = o.raw * 2)
        .then_mut(|o: &mut Order, _, _| o.doubled += 1)
        .then_worker_pool(workers);
    let (d, mut p) = b.start().unwrap();
    publish_all(&mut p);
    d.shutdown().unwrap();
    let expected: u64 = (0..EVENTS as u64).map(|i| i * 2 + 1).sum();
    assert_eq!(total.load(SeqCst), expected);
}

/// A handler with every hook, counting them.
#[derive(Default)]
struct Hooks {
    log: Arc<Mutex<Vec<String>>>,
}

impl EventHandlerMut<Order> for Hooks {
    fn on_event(&mut self, event: &mut Order, _: i64, _: bool) {
        event.doubled = event.raw * 2;
    }

    fn try_on_event(&mut self, event: &mut Order, seq: i64, eob: bool) -> Result<(), EventError> {
        if event.raw == 3 {
            return Err(EventError::msg("three"));
        }
        self.on_event(event, seq, eob);
        Ok(())
    }

    fn on_batch_start(&mut self, _: i64, _: i64) {
        self.log.lock().unwrap().push("batch".into());
    }

    fn on_start(&mut self) {
        self.log.lock().unwrap().push("start".into());
    }

    fn on_shutdown(&mut self) {
        self.log.lock().unwrap().push("shutdown".into());
    }
}

#[test]
fn hooks_and_failures_of_a_mutating_stage() {
    let hooks = Hooks::default();
    let log = hooks.log.clone();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let mut b = Disruptor::builder(8, Order::default)
        .panic_policy(PanicPolicy::LogAndContinue)
        .single_producer()
        .unwrap();
    b.handle_events_mut_with(hooks)
        .then(move |o: &Order, _, _| s.lock().unwrap().push(o.doubled));
    let (d, mut p) = b.start().unwrap();
    for i in 0..5u64 {
        p.publish(|o, _| {
            o.raw = i;
            o.doubled = 0;
        })
        .unwrap();
    }
    d.shutdown().unwrap();
    // The failed event (3) is skipped by the writing stage and reaches the next one unchanged.
    assert_eq!(*seen.lock().unwrap(), [0, 2, 4, 0, 8]);
    let log = log.lock().unwrap();
    assert_eq!(log.first().map(String::as_str), Some("start"));
    assert_eq!(log.last().map(String::as_str), Some("shutdown"));
    assert!(log.iter().any(|l| l == "batch"));
}

#[test]
fn a_replayed_batch_sees_the_events_as_the_stage_left_them() {
    let attempts = Arc::new(AtomicU64::new(0));
    let a = attempts.clone();
    let seen = Arc::new(AtomicU64::new(0));
    let s = seen.clone();
    let mut b = Disruptor::builder(8, || 0u64).single_producer().unwrap();
    b.handle_events_mut_with(seqflow_pipeline_mut_fallible(
        move |e: &mut u64, _: i64, _: bool| {
            *e += 10;
            if a.fetch_add(1, SeqCst) == 0 {
                Err(EventError::Rewind)
            } else {
                Ok(())
            }
        },
    ))
    .rewind_policy(RewindPolicy::up_to(1))
    .then(move |e: &u64, _, _| s.store(*e, SeqCst));
    let (d, mut p) = b.start().unwrap();
    p.publish(|e, _| *e = 1).unwrap();
    d.shutdown().unwrap();
    assert_eq!(attempts.load(SeqCst), 2);
    assert_eq!(
        seen.load(SeqCst),
        21,
        "the replay saw the first attempt's write"
    );
}

/// A mutating handler from a closure that may fail.
fn seqflow_pipeline_mut_fallible<F>(f: F) -> impl EventHandlerMut<u64> + Send + 'static
where
    F: FnMut(&mut u64, i64, bool) -> Result<(), EventError> + Send + 'static,
{
    struct Fallible<F>(F);
    impl<F: FnMut(&mut u64, i64, bool) -> Result<(), EventError>> EventHandlerMut<u64> for Fallible<F> {
        fn on_event(&mut self, event: &mut u64, seq: i64, eob: bool) {
            let _ = (self.0)(event, seq, eob);
        }
        fn try_on_event(&mut self, event: &mut u64, seq: i64, eob: bool) -> Result<(), EventError> {
            (self.0)(event, seq, eob)
        }
    }
    Fallible(f)
}

fn builder() -> DisruptorBuilder<u64, SingleProducerSequencer<YieldingWait>> {
    Disruptor::builder(8, || 0u64).single_producer().unwrap()
}

fn refused(b: DisruptorBuilder<u64, SingleProducerSequencer<YieldingWait>>) -> (String, String) {
    match b.start().err() {
        Some(BuildError::MutatingStageNotExclusive { stage, reader }) => (stage, reader),
        other => panic!("expected MutatingStageNotExclusive, got {other:?}"),
    }
}

#[test]
fn a_reader_beside_a_mutating_stage_is_refused() {
    // A stage with the same dependencies.
    let mut b = builder();
    b.handle_events_mut_with(|_: &mut u64, _, _| {})
        .named("writer");
    b.handle_events_with(|_: &u64, _, _| {}).named("beside");
    let (stage, reader) = refused(b);
    assert_eq!((stage.as_str(), reader.as_str()), ("writer", "beside"));

    // Added with `and`, after a writer.
    let mut b = builder();
    b.handle_events_mut_with(|_: &mut u64, _, _| {})
        .and(|_: &u64, _, _| {});
    refused(b);

    // A reader added before the writer, on its own.
    let mut b = builder();
    b.handle_events_with(|_: &u64, _, _| {});
    b.handle_events_mut_with(|_: &mut u64, _, _| {});
    refused(b);

    // A branch of a diamond: after a common first stage, one side writes, the other reads.
    let mut b = builder();
    let first = b.handle_events_with(|_: &u64, _, _| {}).group();
    b.after(&[&first])
        .handle_events_mut_with(|_: &mut u64, _, _| {});
    b.after(&[&first]).handle_events_with(|_: &u64, _, _| {});
    refused(b);

    // A poller, a worker pool, a custom processor beside it.
    let mut b = builder();
    b.handle_events_mut_with(|_: &mut u64, _, _| {});
    let _poller = b.poller().unwrap();
    refused(b);
    let mut b = builder();
    b.handle_events_mut_with(|_: &mut u64, _, _| {});
    b.handle_events_with_worker_pool(vec![|_: &u64, _, _| {}, |_: &u64, _, _| {}]);
    refused(b);
    let mut b = builder();
    b.handle_events_mut_with(|_: &mut u64, _, _| {});
    b.handle_events_with_processor(|_: seqflow_pipeline::Poller<u64, _>| {});
    refused(b);

    // Two writers side by side.
    let mut b = builder();
    b.handle_events_mut_with(|_: &mut u64, _, _| {})
        .handle_events_mut_with(|_: &mut u64, _, _| {});
    refused(b);

    // A lossy subscriber anywhere: it copies slots without gating anyone.
    let mut b = builder();
    let _sub = b
        .handle_events_mut_with(|_: &mut u64, _, _| {})
        .then_lossy_subscriber();
    let (_, reader) = refused(b);
    assert_eq!(reader, "a lossy subscriber");
}

#[test]
fn the_error_names_both_consumers() {
    let mut b = builder();
    b.handle_events_mut_with(|_: &mut u64, _, _| {})
        .and(|_: &u64, _, _| {})
        .named("audit");
    let err = b.start().err().unwrap().to_string();
    assert!(err.contains("audit-0") && err.contains("audit-1"), "{err}");
}

#[test]
fn a_running_disruptor_with_a_mutating_stage_refuses_late_consumers() {
    let mut b = builder();
    b.handle_events_mut_with(|e: &mut u64, _, _| *e += 1);
    let (mut d, mut p) = b.start().unwrap();
    assert!(matches!(
        d.handle_events_with(|_: &u64, _, _| {}),
        Err(BuildError::MutatingStageNotExclusive { .. })
    ));
    assert!(matches!(
        d.poller(),
        Err(BuildError::MutatingStageNotExclusive { .. })
    ));
    assert!(matches!(
        d.lossy_subscriber(),
        Err(BuildError::MutatingStageNotExclusive { .. })
    ));
    // It keeps working, and more producers are fine.
    p.publish(|e, _| *e = 1).unwrap();
    d.shutdown().unwrap();

    // Without a mutating stage, late consumers are still welcome.
    let (mut d, _p) = builder().start().unwrap();
    d.handle_events_with(|_: &u64, _, _| {}).unwrap();
    assert!(d.poller().is_ok());
    assert!(d.lossy_subscriber().is_ok());
    d.shutdown().unwrap();
}

#[test]
fn a_ring_in_memory_other_processes_map_refuses_a_mutating_stage() {
    // A ring over memory this test owns, built the way the shared-memory layer builds its own.
    let words: Arc<Vec<std::sync::atomic::AtomicU64>> = Arc::new(
        (0..8)
            .map(|_| std::sync::atomic::AtomicU64::new(0))
            .collect(),
    );
    let base = std::ptr::NonNull::from(&words[..]).cast::<u8>();
    let owner: Arc<dyn Send + Sync> = words;
    // SAFETY: 8 initialised, aligned `u64`s (atomics have `u64`'s layout and allow writes
    // through a shared pointer) that live as long as `owner`, reached only through this ring.
    let ring = unsafe {
        RingBuffer::<u64>::__internal_from_raw_parts(
            base,
            8,
            seqflow_pipeline::Capacity::new(8).unwrap(),
            owner,
        )
    };
    assert!(!ring.is_process_local());
    let sequencer = SingleProducerSequencer::new(8, YieldingWait::default(), 4).unwrap();
    // SAFETY: the ring and the sequencer were made here for this builder only.
    let mut b =
        unsafe { DisruptorBuilder::from_parts(sequencer, ring, PanicPolicy::Halt) }.unwrap();
    b.handle_events_mut_with(|_: &mut u64, _, _| {});
    assert!(matches!(
        b.start().err(),
        Some(BuildError::MutatingStageOnSharedRing { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Random graphs: a writer is accepted exactly when every other stage is before or after it
// ---------------------------------------------------------------------------------------------

/// An event for the random graphs: the producer writes `raw` and clears `mark`; the writer sets
/// `mark`.
#[derive(Debug, Clone, Copy, Default)]
struct Marked {
    raw: i64,
    mark: u64,
}

const MARK: u64 = 0xA5A5;

/// `deps[i]` are the stages node `i` comes directly after; whether `j` comes before `i`,
/// worked out by walking back from `i` (independently of the builder's own table).
fn comes_before(deps: &[Vec<usize>], i: usize, j: usize) -> bool {
    deps[i].iter().any(|&d| d == j || comes_before(deps, d, j))
}

fn random_graph_case(
    masks: Vec<u8>,
    writer: usize,
    pool_writer: bool,
) -> Result<(), TestCaseError> {
    let n = masks.len();
    let writer = writer % n;
    let deps: Vec<Vec<usize>> = masks
        .iter()
        .enumerate()
        .map(|(i, m)| (0..i).filter(|j| m & (1 << j) != 0).collect())
        .collect();
    let exclusive = (0..n)
        .filter(|&k| k != writer)
        .all(|k| comes_before(&deps, writer, k) || comes_before(&deps, k, writer));
    let events: i64 = if cfg!(miri) { 6 } else { 300 };
    let wrong = Arc::new(AtomicU64::new(0));
    let seen: Vec<Arc<AtomicI64>> = (0..n).map(|_| Arc::new(AtomicI64::new(0))).collect();
    let mut b = Disruptor::builder(4, Marked::default)
        .wait_strategy(YieldingWait::default())
        .single_producer()
        .unwrap();
    let mut groups = Vec::new();
    for i in 0..n {
        let after: Vec<_> = deps[i].iter().map(|&d| &groups[d]).collect();
        let (wrong, seen) = (wrong.clone(), seen[i].clone());
        let group = if i == writer {
            let write = move |e: &mut Marked, seq: i64, _: bool| {
                if e.raw != seq || e.mark != 0 {
                    wrong.fetch_add(1, SeqCst);
                }
                e.mark = MARK;
                seen.fetch_add(1, SeqCst);
            };
            if pool_writer {
                b.after(&after)
                    .handle_events_mut_with_worker_pool(vec![write.clone(), write])
                    .group()
            } else {
                b.after(&after).handle_events_mut_with(write).group()
            }
        } else {
            let after_writer = comes_before(&deps, i, writer);
            b.after(&after)
                .handle_events_with(move |e: &Marked, seq, _| {
                    let expected = if after_writer { MARK } else { 0 };
                    if e.raw != seq || e.mark != expected {
                        wrong.fetch_add(1, SeqCst);
                    }
                    seen.fetch_add(1, SeqCst);
                })
                .group()
        };
        groups.push(group);
    }
    match b.start() {
        Err(BuildError::MutatingStageNotExclusive { .. }) => {
            prop_assert!(
                !exclusive,
                "refused an exclusive writer: {deps:?}, writer {writer}"
            );
        }
        Err(other) => prop_assert!(false, "unexpected error {other}"),
        Ok((d, mut p)) => {
            prop_assert!(
                exclusive,
                "accepted a shared writer: {deps:?}, writer {writer}"
            );
            for _ in 0..events {
                p.publish(|e, seq| *e = Marked { raw: seq, mark: 0 })
                    .unwrap();
            }
            d.shutdown().unwrap();
            prop_assert_eq!(wrong.load(SeqCst), 0);
            for s in &seen {
                prop_assert_eq!(s.load(SeqCst), events);
            }
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("SEQFLOW_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Random DAGs of 1-6 stages, one of which writes (a stage, or a pool of two writers):
    /// `start` accepts exactly the graphs where
    /// every other stage comes before or after the writer, and then the stages before it see the
    /// producer's values and the stages after it the writer's, for every event.
    #[test]
    fn start_accepts_a_writer_exactly_when_it_is_ordered_with_every_stage(
        masks in prop::collection::vec(any::<u8>(), 1..=6),
        writer in 0usize..6,
        pool_writer in any::<bool>(),
    ) {
        random_graph_case(masks, writer, pool_writer)?;
    }
}

#[test]
fn a_pool_of_writers_hands_each_event_to_one_of_them() {
    let total = Arc::new(AtomicU64::new(0));
    let t = total.clone();
    let handled = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let handled = handled.clone();
            move |o: &mut Order, seq: i64, _: bool| {
                // One writer per event: the field is still as the producer left it.
                assert_eq!((o.raw, o.doubled), (seq as u64, 0));
                o.doubled = o.raw * 2 + 1;
                handled.fetch_add(1, SeqCst);
            }
        })
        .collect();
    let mut b = Disruptor::builder(RING, Order::default)
        .wait_strategy(YieldingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_with(|o: &Order, _, _| assert_eq!(o.doubled, 0))
        .then_worker_pool_mut(workers)
        .then(move |o: &Order, seq, _| {
            assert_eq!(o.doubled, seq as u64 * 2 + 1);
            t.fetch_add(o.doubled, SeqCst);
        });
    let (d, mut p) = b.start().unwrap();
    publish_all(&mut p);
    d.shutdown().unwrap();
    assert_eq!(handled.load(SeqCst), EVENTS as u64);
    let expected: u64 = (0..EVENTS as u64).map(|i| i * 2 + 1).sum();
    assert_eq!(total.load(SeqCst), expected);
}

#[test]
fn a_pool_of_writers_beside_other_consumers_is_refused() {
    let w = || {
        vec![
            |_: &mut u64, _: i64, _: bool| {},
            |_: &mut u64, _: i64, _: bool| {},
        ]
    };
    // Beside a reader.
    let mut b = builder();
    b.handle_events_mut_with_worker_pool(w());
    b.handle_events_with(|_: &u64, _, _| {});
    refused(b);
    // Beside another pool of writers: each pool hands an event to one of its workers, so the
    // two pools would write the same event at once.
    let mut b = builder();
    b.handle_events_mut_with_worker_pool(w());
    b.handle_events_mut_with_worker_pool(w());
    refused(b);
    // Beside a single writer.
    let mut b = builder();
    b.handle_events_mut_with_worker_pool(w());
    b.handle_events_mut_with(|_: &mut u64, _, _| {});
    refused(b);
    // In a row they are fine.
    let mut b = builder();
    b.handle_events_mut_with_worker_pool(w())
        .then_worker_pool_mut(w())
        .then_mut(|_: &mut u64, _, _| {});
    let (d, mut p) = b.start().unwrap();
    p.publish(|e, _| *e = 1).unwrap();
    d.shutdown().unwrap();
}

// ---------------------------------------------------------------------------------------------
// What the exclusivity proof stands on: every consumer's records are the builder's own, and a
// stage left running keeps the producers off its event
// ---------------------------------------------------------------------------------------------

#[test]
fn a_union_with_another_builders_group_is_refused() {
    let mut other = Disruptor::builder(4, || 0u64).single_producer().unwrap();
    for _ in 0..3 {
        other.handle_events_with(|_: &u64, _, _| {});
    }
    let far = other.handle_events_with(|_: &u64, _, _| {}).group(); // an index `b` lacks
    let mut b = builder();
    let writer = b
        .handle_events_mut_with(|e: &mut u64, _, _| *e += 1)
        .group();
    // The union names one of `b`'s stages and one of `other`'s: `after` must not use either.
    b.after(&[&writer.union(&far)])
        .handle_events_with(|_: &u64, _, _| {});
    assert!(matches!(
        b.start().err(),
        Some(BuildError::ForeignStageGroup)
    ));

    // The same for a poller, without losing an unrelated earlier error or hiding this one.
    let mut b = builder();
    let writer = b
        .handle_events_mut_with(|e: &mut u64, _, _| *e += 1)
        .group();
    assert!(matches!(
        b.poller_after(&[&writer.union(&far)]).err(),
        Some(BuildError::ForeignStageGroup)
    ));
    let _poller = b.poller_after(&[&writer]).unwrap();
    let (d, _p) = b.start().unwrap();
    drop(_poller);
    d.shutdown().unwrap();
}

#[test]
fn a_stage_left_running_by_shutdown_timeout_still_holds_the_producer_back() {
    use seqflow_pipeline::Sequencer;
    use std::sync::atomic::AtomicBool;
    let holding = Arc::new(AtomicBool::new(false));
    let go = Arc::new(AtomicBool::new(false));
    let (h, g) = (holding.clone(), go.clone());
    let mut b = Disruptor::builder(4, || 0u64)
        .wait_strategy(YieldingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_mut_with(move |e: &mut u64, _, _| {
        *e = 100;
        h.store(true, SeqCst);
        while !g.load(SeqCst) {
            std::thread::yield_now();
        }
    })
    .then(|_: &u64, _, _| {});
    let (d, mut p) = b.start().unwrap();
    let sequencer = Arc::clone(d.sequencer());
    p.publish(|e, _| *e = 1).unwrap();
    while !holding.load(SeqCst) {
        std::thread::yield_now();
    }
    assert!(d
        .shutdown_timeout(std::time::Duration::from_millis(20))
        .is_err());
    // Give the stage after it time to stop and unregister (the check below holds either way;
    // without the fix it fails only once that stage is gone).
    std::thread::sleep(std::time::Duration::from_millis(100));
    sequencer.alert().clear();
    for i in 1..=3u64 {
        p.try_publish(|e, _| *e = i).unwrap();
    }
    // The next event would reuse the slot the detached stage is still writing.
    assert!(p.try_publish(|e, _| *e = 4).is_err());
    go.store(true, SeqCst);
}

#[test]
fn a_start_that_fails_part_way_stops_the_stages_already_running() {
    // The second stage cannot be spawned (a NUL byte in its thread name): the writer, spawned
    // first, must be stopped and joined before `start` reports, or it would run with nothing
    // gating the producers.
    let token = Arc::new(());
    let held = token.clone();
    let mut b = builder();
    b.handle_events_mut_with(move |e: &mut u64, _, _| {
        let _ = &held;
        *e += 1;
    })
    .then(|_: &u64, _, _| {})
    .thread_name("reader\0");
    match b.start().err() {
        Some(BuildError::Spawn { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::InvalidInput)
        }
        other => panic!("expected Spawn, got {other:?}"),
    }
    // The writer's thread ended and dropped its handler (and the token with it).
    assert_eq!(Arc::strong_count(&token), 1);

    // A stage name with a NUL byte (the default thread name is `seqflow-<name>`) no longer
    // gets that far: it is refused before any thread starts.
    let mut b = builder();
    b.handle_events_with(|_: &u64, _, _| {}).named("bad\0name");
    assert!(matches!(
        b.start().err(),
        Some(BuildError::InvalidStageName { .. })
    ));
}

#[test]
fn an_empty_worker_pool_is_refused() {
    let mut b = builder();
    b.handle_events_mut_with(|_: &mut u64, _, _| {})
        .then_worker_pool(Vec::<fn(&u64, i64, bool)>::new())
        .then(|_: &u64, _, _| {});
    assert!(matches!(b.start().err(), Some(BuildError::EmptyWorkerPool)));
    let mut b = builder();
    b.handle_events_mut_with_worker_pool(Vec::<fn(&mut u64, i64, bool)>::new());
    assert!(matches!(
        b.poller().err(),
        Some(BuildError::EmptyWorkerPool)
    ));
    assert!(matches!(b.start().err(), Some(BuildError::EmptyWorkerPool)));
}
