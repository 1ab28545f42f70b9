//! Port of the `disruptor` crate 4.4 test suite (src/lib.rs, src/producer/multi.rs,
//! src/ringbuffer.rs) onto seqflow's public API. BusySpin is replaced by yielding waits (2 cores).
mod ext_common;
use ext_common::*;

use seqflow_pipeline::{
    BuildError, ClaimError, Disruptor, MultiProducerMode, PollError, PollState, YieldingWait,
};
use seqflow_sequence::{Alert, WaitError, WaitStrategy};
use seqflow_sequencer::{Claimer, MultiProducerSequencer, Sequencer, SingleProducerSequencer};
use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Instant;

#[derive(Debug)]
struct Event {
    num: i64,
}

fn factory() -> impl Fn() -> Event + Send + Sync + 'static {
    || Event { num: -1 }
}

fn nums<'a>(it: impl Iterator<Item = &'a Event>) -> Vec<i64> {
    it.map(|e| e.num).collect()
}

// ---------------------------------------------------------------------------------------------
// heterogeneous wait strategies: seqflow has ONE wait strategy per disruptor (no per-stage
// strategy). Nearest port: a counting custom WaitStrategy, checked to be used by every stage.

#[derive(Clone)]
struct CountingWait {
    threads: Arc<Mutex<HashSet<String>>>,
    inner: YieldingWait,
}
impl WaitStrategy for CountingWait {
    fn wait_until<T, F>(
        &self,
        condition: F,
        alert: &Alert,
        deadline: Option<Instant>,
    ) -> Result<T, WaitError>
    where
        F: FnMut() -> Option<T>,
    {
        if let Some(n) = thread::current().name() {
            self.threads.lock().unwrap().insert(n.to_string());
        }
        self.inner.wait_until(condition, alert, deadline)
    }
    fn signal_all(&self) {}
}

fn heterogeneous(multi: bool) {
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let wait = CountingWait {
        threads: threads.clone(),
        inner: YieldingWait::default(),
    };
    let names = ["wa", "wb", "wc", "wd"];
    macro_rules! wire {
        ($b:expr) => {{
            $b.handle_events_with(|_: &Event, _, _| {})
                .thread_name("wa")
                .and_with_state(|_: &mut (), _: &Event, _, _| {}, || ())
                .thread_name("wb")
                .then(|_: &Event, _, _| {})
                .thread_name("wc")
                .and_with_state(|_: &mut (), _: &Event, _, _| {}, || ())
                .thread_name("wd");
        }};
    }
    let ok = if multi {
        let mut b = Disruptor::builder(64, factory())
            .wait_strategy(wait)
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        wire!(b);
        let (d, _p) = b.start().unwrap();
        let ok = wait_until(10, || {
            names.iter().all(|n| threads.lock().unwrap().contains(*n))
        });
        d.shutdown().unwrap();
        ok
    } else {
        let mut b = Disruptor::builder(8, factory())
            .wait_strategy(wait)
            .single_producer()
            .unwrap();
        wire!(b);
        let (d, _p) = b.start().unwrap();
        let ok = wait_until(10, || {
            names.iter().all(|n| threads.lock().unwrap().contains(*n))
        });
        d.shutdown().unwrap();
        ok
    };
    assert!(
        ok,
        "wait strategy not invoked by every stage: {:?}",
        threads.lock().unwrap()
    );
}

#[test]
fn single_producer_supports_heterogeneous_processor_wait_strategies() {
    watchdog(|| heterogeneous(false));
}

#[test]
fn multi_producer_supports_heterogeneous_processor_wait_strategies() {
    watchdog(|| heterogeneous(true));
}

#[test]
fn size_is_power_of_2() {
    watchdog(|| {
        let err = Disruptor::builder(3, || 0i64)
            .single_producer()
            .err()
            .unwrap();
        assert!(matches!(err, BuildError::Capacity(_)), "{err:?}");
        let err = Disruptor::builder(3, || 0i64)
            .multi_producer(MultiProducerMode::Cas)
            .err()
            .unwrap();
        assert!(matches!(err, BuildError::Capacity(_)), "{err:?}");
    });
}

#[test]
fn spsc_full_ringbuffer() {
    watchdog(|| {
        let (s, r) = mpsc::channel();
        let gate = Gate::new();
        let g = gate.clone();
        let mut b = Disruptor::builder(4, factory()).single_producer().unwrap();
        b.handle_events_with(move |e: &Event, _, _| {
            g.wait();
            s.send(e.num).unwrap();
        });
        let mut producer = b.start_owned().unwrap();
        for i in 0..4 {
            producer
                .try_publish(|e, _| e.num = i)
                .expect("Should publish");
        }
        assert!(matches!(
            producer.try_publish(|e, _| e.num = 4),
            Err(ClaimError::Full { .. })
        ));
        assert!(matches!(
            producer.try_publish(|e, _| e.num = 4),
            Err(ClaimError::Full { .. })
        ));
        gate.open();
        producer.publish(|e, _| e.num = 4).unwrap();
        drop(producer);
        let result: Vec<_> = r.iter().collect();
        assert_eq!(result, [0, 1, 2, 3, 4]);
    });
}

/// The disruptor crate requires >= 64 slots for a multi producer; seqflow does not. Port: a
/// 32-slot multi-producer ring must simply work.
#[test]
fn mpsc_size_is_greater_than_64() {
    watchdog(|| {
        let (s, r) = mpsc::channel();
        let mut b = Disruptor::builder(32, || 0i64)
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        b.handle_events_with(move |e: &i64, _, _| s.send(*e).unwrap());
        let mut p = b.start_owned().unwrap();
        for i in 0..100 {
            p.publish(|e, _| *e = i).unwrap();
        }
        drop(p);
        assert_eq!(r.iter().collect::<Vec<_>>(), (0..100).collect::<Vec<_>>());
    });
}

#[test]
fn mpsc_full_ringbuffer() {
    watchdog(|| {
        let (s, r) = mpsc::channel();
        let gate = Gate::new();
        let g = gate.clone();
        let mut b = Disruptor::builder(64, factory())
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        b.handle_events_with(move |e: &Event, _, _| {
            g.wait();
            s.send(e.num).unwrap();
        });
        let mut producer1 = b.start_owned().unwrap();
        let mut producer2 = producer1.clone();
        for i in 0..64 {
            producer1
                .try_publish(|e, _| e.num = i)
                .expect("Should publish");
        }
        assert!(matches!(
            producer1.try_publish(|e, _| e.num = 4),
            Err(ClaimError::Full { .. })
        ));
        assert!(matches!(
            producer2.try_publish(|e, _| e.num = 4),
            Err(ClaimError::Full { .. })
        ));
        gate.open();
        producer1.publish(|e, _| e.num = 64).unwrap();
        producer2.publish(|e, _| e.num = 65).unwrap();
        drop(producer1);
        drop(producer2);
        let result: Vec<_> = r.iter().collect();
        assert_eq!(result, (0..=65).collect::<Vec<i64>>());
    });
}

#[test]
fn spsc_insufficient_space_for_batch_publication() {
    watchdog(|| {
        let (s, r) = mpsc::channel();
        let gate = Gate::new();
        let g = gate.clone();
        let mut b = Disruptor::builder(4, factory()).single_producer().unwrap();
        b.handle_events_with(move |e: &Event, _, _| {
            g.wait();
            s.send(e.num).unwrap();
        });
        let mut producer = b.start_owned().unwrap();
        for i in 0..2 {
            producer.publish(|e, _| e.num = i).unwrap();
        }
        // disruptor crate: MissingFreeSlots(2) / MissingFreeSlots(100).
        assert_eq!(
            producer.try_claim(4).err(),
            Some(ClaimError::Full {
                requested: 4,
                free: 2
            })
        );
        assert_eq!(
            producer.try_claim(102).err(),
            Some(ClaimError::TooLarge {
                requested: 102,
                capacity: 4
            })
        );
        gate.open();
        {
            let mut g = producer
                .try_claim(2)
                .expect("Batch publication should now succeed.");
            for e in g.iter_mut() {
                e.num = 2;
            }
        }
        drop(producer);
        let result: Vec<_> = r.iter().collect();
        assert_eq!(result, [0, 1, 2, 2]);
    });
}

#[test]
fn mpsc_insufficient_space_for_batch_publication() {
    watchdog(|| {
        let (s, r) = mpsc::channel();
        let gate = Gate::new();
        let g = gate.clone();
        let mut b = Disruptor::builder(64, factory())
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        b.handle_events_with(move |e: &Event, _, _| {
            g.wait();
            s.send(e.num).unwrap();
        });
        let mut producer1 = b.start_owned().unwrap();
        let mut producer2 = producer1.clone();
        for i in 0..58 {
            producer1.publish(|e, _| e.num = i).unwrap();
        }
        assert_eq!(
            producer1.try_claim(8).err(),
            Some(ClaimError::Full {
                requested: 8,
                free: 6
            })
        );
        assert_eq!(
            producer1.try_claim(106).err(),
            Some(ClaimError::TooLarge {
                requested: 106,
                capacity: 64
            })
        );
        assert_eq!(
            producer2.try_claim(8).err(),
            Some(ClaimError::Full {
                requested: 8,
                free: 6
            })
        );
        assert_eq!(
            producer2.try_claim(106).err(),
            Some(ClaimError::TooLarge {
                requested: 106,
                capacity: 64
            })
        );
        gate.open();
        {
            let mut g = producer1.try_claim(2).expect("should succeed");
            for e in g.iter_mut() {
                e.num = 2;
            }
        }
        {
            let mut g = producer2.try_claim(2).expect("should succeed");
            for e in g.iter_mut() {
                e.num = 3;
            }
        }
        drop(producer1);
        drop(producer2);
        let mut result: Vec<_> = r.iter().collect();
        result.sort();
        let mut expected: Vec<i64> = (0..58).collect();
        expected.extend([2, 2, 3, 3]);
        expected.sort();
        assert_eq!(result, expected);
    });
}

#[test]
fn spsc_disruptor() {
    watchdog(|| {
        let (s, r) = mpsc::channel();
        let mut b = Disruptor::builder(8, factory()).single_producer().unwrap();
        b.handle_events_with(move |e: &Event, _, _| s.send(e.num).unwrap());
        let mut producer = b.start_owned().unwrap();
        thread::scope(|s| {
            s.spawn(move || {
                for i in 0..10 {
                    producer.publish(|e, _| e.num = i * i).unwrap();
                }
            });
        });
        let result: Vec<_> = r.iter().collect();
        assert_eq!(result, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
    });
}

#[test]
fn spsc_disruptor_with_pinned_and_named_thread() {
    watchdog(|| {
        let (s, r) = mpsc::channel();
        let mut b = Disruptor::builder(8, factory()).single_producer().unwrap();
        b.handle_events_with(move |e: &Event, _, _| {
            assert_eq!(thread::current().name(), Some("my-processor"));
            s.send(e.num).unwrap();
        })
        .pin_to_core(0)
        .thread_name("my-processor");
        let mut producer = b.start_owned().unwrap();
        thread::scope(|s| {
            s.spawn(move || {
                for i in 0..10 {
                    producer.publish(|e, _| e.num = i * i).unwrap();
                }
            });
        });
        let result: Vec<_> = r.iter().collect();
        assert_eq!(result, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
    });
}

#[test]
fn spsc_disruptor_with_batch_publication() {
    watchdog(|| {
        let (s, r) = mpsc::channel();
        let mut b = Disruptor::builder(8, factory()).single_producer().unwrap();
        b.handle_events_with(move |e: &Event, _, _| s.send(e.num).unwrap());
        let mut producer = b.start_owned().unwrap();
        let mut i = 0;
        for _ in 0..3 {
            let mut guard = producer.claim(3).unwrap();
            let iter = guard.iter_mut();
            assert_eq!((3, Some(3)), iter.size_hint());
            for e in iter {
                e.num = i * i;
                i += 1;
            }
        }
        // and the closure form
        producer
            .publish_batch(2, |e, seq| e.num = seq * seq)
            .unwrap();
        drop(producer);
        let result: Vec<_> = r.iter().collect();
        assert_eq!(result, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81, 100]);
    });
}

/// The disruptor crate accepts a zero-size batch as a no-op; seqflow refuses it with
/// `ClaimError::Zero` (documented). Intent kept: nothing is published, nothing breaks.
#[test]
fn spsc_disruptor_with_zero_batch_publication() {
    watchdog(|| {
        let mut b = Disruptor::builder(8, factory()).single_producer().unwrap();
        b.handle_events_with(|_e: &Event, _, _| panic!("No events should be published."));
        let (d, mut producer) = b.start().unwrap();
        let r = producer.publish_batch(0, |_, _| panic!("no slot"));
        assert_eq!(r.err(), Some(ClaimError::Zero));
        assert_eq!(producer.claim(0).err(), Some(ClaimError::Zero));
        assert_eq!(producer.try_claim(0).err(), Some(ClaimError::Zero));
        drop(producer);
        d.shutdown().unwrap();
    });
}

#[test]
fn spsc_disruptor_with_state() {
    watchdog(|| {
        let (s, r) = mpsc::channel();
        let mut b = Disruptor::builder(8, factory()).single_producer().unwrap();
        b.handle_events_and_state_with(
            move |state: &mut Rc<RefCell<i64>>, e: &Event, _, _| {
                let mut cell = state.borrow_mut();
                *cell += e.num;
                s.send(*cell).unwrap();
            },
            || Rc::new(RefCell::new(0)),
        );
        let mut producer = b.start_owned().unwrap();
        for i in 0..10 {
            producer.publish(|e, _| e.num = i).unwrap();
        }
        drop(producer);
        let result: Vec<_> = r.iter().collect();
        assert_eq!(result, [0, 1, 3, 6, 10, 15, 21, 28, 36, 45]);
    });
}

#[test]
fn pipeline_of_two_spsc_disruptors() {
    watchdog(|| {
        let (s, r) = mpsc::channel();
        let mut last = Disruptor::builder(8, factory()).single_producer().unwrap();
        last.handle_events_with(move |e: &Event, _, _| s.send(e.num).unwrap());
        let mut producer2 = last.start_owned().unwrap();
        let mut first = Disruptor::builder(8, factory()).single_producer().unwrap();
        first.handle_events_with(move |e: &Event, _, _| {
            producer2.publish(|e2, _| e2.num = e.num).unwrap();
        });
        let mut producer = first.start_owned().unwrap();
        for i in 0..10 {
            producer.publish(|e, _| e.num = i * i).unwrap();
        }
        drop(producer);
        let result: Vec<_> = r.iter().collect();
        assert_eq!(result, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
    });
}

#[test]
fn multi_publisher_disruptor() {
    watchdog(|| {
        let (s, r) = mpsc::channel();
        let mut b = Disruptor::builder(64, factory())
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        b.handle_events_with(move |e: &Event, _, _| s.send(e.num).unwrap());
        let mut producer1 = b.start_owned().unwrap();
        let mut producer2 = producer1.clone();
        let num_items = 100;
        thread::scope(|s| {
            s.spawn(move || {
                for i in 0..num_items / 2 {
                    producer1.publish(|e, _| e.num = i).unwrap();
                }
            });
            s.spawn(move || {
                for i in (num_items / 2)..num_items {
                    producer2.publish(|e, _| e.num = i).unwrap();
                }
            });
        });
        let mut result: Vec<_> = r.iter().collect();
        result.sort();
        assert_eq!(result, (0..num_items).collect::<Vec<i64>>());
    });
}

#[test]
fn multi_publisher_disruptor_with_batch_publication() {
    watchdog(|| {
        let (s, r) = mpsc::channel();
        let mut b = Disruptor::builder(64, factory())
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        b.handle_events_with(move |e: &Event, _, _| s.send(e.num).unwrap());
        let mut producer1 = b.start_owned().unwrap();
        let mut producer2 = producer1.clone();
        let num_items = 100_i64;
        let batch_size = 5_i64;
        thread::scope(|s| {
            s.spawn(move || {
                for b in 0..(num_items / 2) / batch_size {
                    let mut g = producer1.claim(batch_size as usize).unwrap();
                    for (i, e) in g.iter_mut().enumerate() {
                        e.num = batch_size * b + i as i64;
                    }
                }
            });
            s.spawn(move || {
                for i in (num_items / 2)..num_items {
                    producer2.publish(|e, _| e.num = i).unwrap();
                }
            });
        });
        let mut result: Vec<_> = r.iter().collect();
        result.sort();
        assert_eq!(result, (0..num_items).collect::<Vec<i64>>());
    });
}

#[test]
fn spmc_with_concurrent_consumers() {
    watchdog(|| {
        let (s, r) = mpsc::channel();
        let (s1, s2, s3) = (s.clone(), s.clone(), s);
        let mut b = Disruptor::builder(8, factory()).single_producer().unwrap();
        b.handle_events_with(move |e: &Event, _, _| s1.send(e.num + 1).unwrap());
        b.handle_events_with(move |e: &Event, _, _| s2.send(e.num + 2).unwrap());
        b.handle_events_with(move |e: &Event, _, _| s3.send(e.num + 3).unwrap());
        let mut producer = b.start_owned().unwrap();
        producer.publish(|e, _| e.num = 0).unwrap();
        drop(producer);
        let result: HashSet<i64> = r.iter().collect();
        assert_eq!(HashSet::from([1, 2, 3]), result);
    });
}

macro_rules! stateful {
    ($s:expr, $add:expr) => {{
        let s = $s.clone();
        move |state: &mut RefCell<i64>, e: &Event, _: i64, _: bool| {
            *state.borrow_mut() += e.num;
            s.send(*state.borrow() + $add).unwrap();
        }
    }};
}
macro_rules! plain {
    ($s:expr, $add:expr) => {{
        let s = $s.clone();
        move |e: &Event, _: i64, _: bool| s.send(e.num + $add).unwrap()
    }};
}

#[test]
fn spmc_with_dependent_consumers_and_some_with_state() {
    watchdog(|| {
        let (s, r) = mpsc::channel();
        let init = || RefCell::new(0);
        let mut b = Disruptor::builder(8, factory()).single_producer().unwrap();
        b.handle_events_with(plain!(s, 0))
            .and_with_state(stateful!(s, 10), init)
            .then(plain!(s, 2))
            .and_with_state(stateful!(s, 20), init)
            .then(plain!(s, 4))
            .and_with_state(stateful!(s, 30), init)
            .and_with_state(stateful!(s, 40), init);
        drop(s);
        let mut producer = b.start_owned().unwrap();
        producer.publish(|e, _| e.num = 1).unwrap();
        drop(producer);
        let mut result: Vec<i64> = r.iter().collect();
        result.sort();
        assert_eq!(vec![1, 3, 5, 11, 21, 31, 41], result);
    });
}

#[test]
fn mpmc_with_dependent_consumers_and_some_with_state() {
    watchdog(|| {
        let (s, r) = mpsc::channel();
        let init = || RefCell::new(0);
        let mut b = Disruptor::builder(64, factory())
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        b.handle_events_with(plain!(s, 0))
            .and_with_state(stateful!(s, 10), init)
            .then_with_state(stateful!(s, 20), init)
            .and(plain!(s, 2))
            .then(plain!(s, 4))
            .and_with_state(stateful!(s, 30), init)
            .and_with_state(stateful!(s, 40), init);
        drop(s);
        let mut producer1 = b.start_owned().unwrap();
        let mut producer2 = producer1.clone();
        thread::scope(|s| {
            s.spawn(move || producer1.publish(|e, _| e.num = 1).unwrap());
            s.spawn(move || producer2.publish(|e, _| e.num = 1).unwrap());
        });
        let mut result: Vec<i64> = r.iter().collect();
        result.sort();
        assert_eq!(
            vec![1, 1, 3, 3, 5, 5, 11, 12, 21, 22, 31, 32, 41, 42],
            result
        );
    });
}

#[test]
fn spmc_with_event_pollers() {
    watchdog(|| {
        let mut b = Disruptor::builder(8, factory()).single_producer().unwrap();
        let mut ep1 = b.poller().unwrap();
        let mut ep2 = b.poller_after(&[&ep1.group()]).unwrap();
        let mut ep3 = b.poller_after(&[&ep2.group()]).unwrap();
        let mut producer = b.start_owned().unwrap();

        assert_eq!(ep1.poll_events().err(), Some(PollError::Empty));
        assert_eq!(ep2.poll_events().err(), Some(PollError::Empty));
        assert_eq!(ep3.poll_events().err(), Some(PollError::Empty));

        producer.publish(|e, _| e.num = 1).unwrap();
        producer.publish(|e, _| e.num = 2).unwrap();
        let expected = vec![1, 2];
        {
            assert_eq!(ep1.state(), PollState::Processing);
            assert_ne!(ep2.state(), PollState::Processing);
            assert_ne!(ep3.state(), PollState::Processing);
            let guard_1 = ep1.poll_events().unwrap();
            assert_eq!(2, guard_1.iter().size_hint().0);
            assert_eq!(ep2.poll_events().err(), Some(PollError::Empty));
            assert_eq!(ep2.poll_take(2).err(), Some(PollError::Empty));
            assert_eq!(ep3.poll_events().err(), Some(PollError::Empty));
            assert_eq!(ep3.poll_take(2).err(), Some(PollError::Empty));
            assert_eq!(expected, nums(guard_1.iter()));
        }
        {
            assert_ne!(ep1.state(), PollState::Processing);
            assert_eq!(ep2.state(), PollState::Processing);
            assert_ne!(ep3.state(), PollState::Processing);
            let guard_2 = ep2.poll_take(1).unwrap();
            assert_eq!(ep3.poll_events().err(), Some(PollError::Empty));
            assert_eq!(vec![1], nums(guard_2.iter()));
            drop(guard_2);
            let guard_2 = ep2.poll_take(1).unwrap();
            assert_eq!(vec![2], nums(guard_2.iter()));
        }
        {
            assert_ne!(ep1.state(), PollState::Processing);
            assert_ne!(ep2.state(), PollState::Processing);
            assert_eq!(ep3.state(), PollState::Processing);
            let guard_3 = ep3.poll_events().unwrap();
            assert_eq!(expected, nums(guard_3.iter()));
        }
        drop(producer);
        assert_eq!(ep1.poll_events().err(), Some(PollError::Alerted));
        assert_eq!(ep2.poll_events().err(), Some(PollError::Alerted));
        assert_eq!(ep3.poll_events().err(), Some(PollError::Alerted));
    });
}

#[test]
fn mpmc_with_event_pollers() {
    watchdog(|| {
        let mut b = Disruptor::builder(64, factory())
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        let mut ep1 = b.poller().unwrap();
        let mut ep2 = b.poller_after(&[&ep1.group()]).unwrap();
        let mut ep3 = b.poller_after(&[&ep2.group()]).unwrap();
        let mut producer1 = b.start_owned().unwrap();
        let mut producer2 = producer1.clone();
        assert_eq!(ep1.poll_events().err(), Some(PollError::Empty));
        assert_eq!(ep2.poll_events().err(), Some(PollError::Empty));
        assert_eq!(ep3.poll_events().err(), Some(PollError::Empty));
        producer1.publish(|e, _| e.num = 1).unwrap();
        producer2.publish(|e, _| e.num = 2).unwrap();
        let expected = HashSet::from([1, 2]);
        {
            let guard_1 = ep1.poll_events().unwrap();
            assert_eq!(ep2.poll_events().err(), Some(PollError::Empty));
            assert_eq!(ep3.poll_events().err(), Some(PollError::Empty));
            assert_eq!(
                expected,
                guard_1.iter().map(|e| e.num).collect::<HashSet<_>>()
            );
        }
        {
            let guard_2 = ep2.poll_take(1).unwrap();
            assert_eq!(ep3.poll_events().err(), Some(PollError::Empty));
            assert_eq!(vec![1], nums(guard_2.iter()));
            drop(guard_2);
            let guard_2 = ep2.poll_take(1).unwrap();
            assert_eq!(vec![2], nums(guard_2.iter()));
        }
        {
            let guard_3 = ep3.poll_events().unwrap();
            assert_eq!(
                expected,
                guard_3.iter().map(|e| e.num).collect::<HashSet<_>>()
            );
        }
        drop(producer1);
        drop(producer2);
        assert_eq!(ep1.poll_events().err(), Some(PollError::Alerted));
        assert_eq!(ep2.poll_events().err(), Some(PollError::Alerted));
        assert_eq!(ep3.poll_events().err(), Some(PollError::Alerted));
    });
}

/// The disruptor crate panics on a multi-consumer barrier with no consumers. seqflow allows a
/// disruptor with no consumers: the producer must never wait then.
#[test]
fn mpmc_without_consumers() {
    watchdog(|| {
        let b = Disruptor::builder(64, factory())
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        let (d, mut p) = b.start().unwrap();
        for i in 0..1000 {
            p.publish(|e, _| e.num = i).unwrap();
        }
        assert_eq!(p.try_publish(|e, _| e.num = 0).unwrap(), 1000);
        drop(p);
        d.shutdown().unwrap();
    });
}

#[test]
fn spsc_branch_from_producer_joined_after_multiple_stages() {
    watchdog(|| {
        let mut b = Disruptor::builder(8, factory()).single_producer().unwrap();
        let mut ep_r1 = b.poller().unwrap();
        let mut ep_me = b.poller_after(&[&ep_r1.group()]).unwrap();
        let mut ep_r2 = b.poller_after(&[&ep_me.group()]).unwrap();
        let mut ep_j = b.poller().unwrap(); // out-of-band branch from the producer
        let mut ep_report = b.poller_after(&[&ep_r2.group(), &ep_j.group()]).unwrap();
        let mut producer = b.start_owned().unwrap();
        producer.publish(|e, _| e.num = 10).unwrap();
        producer.publish(|e, _| e.num = 20).unwrap();
        producer.publish(|e, _| e.num = 30).unwrap();
        drop(producer);
        let expected = vec![10, 20, 30];

        // Downstream stages are blocked until upstream stages advance (events remain: not
        // "shut down" yet).
        assert_eq!(ep_me.poll_events().err(), Some(PollError::Empty), "ep_me");
        assert_eq!(ep_r2.poll_events().err(), Some(PollError::Empty), "ep_r2");
        assert_eq!(
            ep_report.poll_events().err(),
            Some(PollError::Empty),
            "ep_report"
        );
        assert_eq!(expected, nums(ep_j.poll_events().unwrap().iter()));
        assert_eq!(ep_report.poll_events().err(), Some(PollError::Empty));
        assert_eq!(expected, nums(ep_r1.poll_events().unwrap().iter()));
        assert_eq!(expected, nums(ep_me.poll_events().unwrap().iter()));
        assert_eq!(expected, nums(ep_r2.poll_events().unwrap().iter()));
        assert_eq!(expected, nums(ep_report.poll_events().unwrap().iter()));
        for ep in [
            &mut ep_j,
            &mut ep_r1,
            &mut ep_me,
            &mut ep_r2,
            &mut ep_report,
        ] {
            assert_eq!(ep.poll_events().err(), Some(PollError::Alerted));
        }
    });
}

/// Same graph, but written the way a poll loop would: `Alerted` read as "done" must not lose
/// events a downstream poller has not yet seen because its upstream is still working.
#[test]
fn spsc_branch_downstream_poller_not_alerted_while_upstream_has_events() {
    watchdog(|| {
        let mut b = Disruptor::builder(8, factory()).single_producer().unwrap();
        let mut up = b.poller().unwrap();
        let mut down = b.poller_after(&[&up.group()]).unwrap();
        let mut producer = b.start_owned().unwrap();
        producer.publish(|e, _| e.num = 1).unwrap();
        drop(producer);
        // `poll` (the closure form) too: Ok(0) expected while the upstream still holds 1 event.
        let r = down.poll(|_, _, _| {});
        assert_eq!(
            r,
            Ok(0),
            "downstream poller told to stop while an event is still coming"
        );
        assert_eq!(up.poll(|_, _, _| {}), Ok(1));
        assert_eq!(down.poll(|_, _, _| {}), Ok(1));
        assert_eq!(down.poll(|_, _, _| {}), Err(PollError::Alerted));
    });
}

#[test]
fn mpmc_branch_from_producer_joined_after_multiple_stages() {
    watchdog(|| {
        let mut b = Disruptor::builder(64, factory())
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        let mut ep_r1 = b.poller().unwrap();
        let mut ep_me = b.poller_after(&[&ep_r1.group()]).unwrap();
        let mut ep_r2 = b.poller_after(&[&ep_me.group()]).unwrap();
        let mut ep_b = b.poller().unwrap();
        let mut ep_report = b.poller_after(&[&ep_r2.group(), &ep_b.group()]).unwrap();
        let mut producer1 = b.start_owned().unwrap();
        let mut producer2 = producer1.clone();
        producer1.publish(|e, _| e.num = 1).unwrap();
        producer2.publish(|e, _| e.num = 2).unwrap();
        drop(producer1);
        drop(producer2);
        let expected = HashSet::from([1, 2]);
        let set = |v: Vec<i64>| v.into_iter().collect::<HashSet<_>>();
        assert_eq!(ep_me.poll_events().err(), Some(PollError::Empty), "ep_me");
        assert_eq!(ep_r2.poll_events().err(), Some(PollError::Empty), "ep_r2");
        assert_eq!(
            ep_report.poll_events().err(),
            Some(PollError::Empty),
            "ep_report"
        );
        assert_eq!(expected, set(nums(ep_b.poll_events().unwrap().iter())));
        assert_eq!(ep_report.poll_events().err(), Some(PollError::Empty));
        assert_eq!(expected, set(nums(ep_r1.poll_events().unwrap().iter())));
        assert_eq!(expected, set(nums(ep_me.poll_events().unwrap().iter())));
        assert_eq!(expected, set(nums(ep_r2.poll_events().unwrap().iter())));
        assert_eq!(expected, set(nums(ep_report.poll_events().unwrap().iter())));
        for ep in [
            &mut ep_b,
            &mut ep_r1,
            &mut ep_me,
            &mut ep_r2,
            &mut ep_report,
        ] {
            assert_eq!(ep.poll_events().err(), Some(PollError::Alerted));
        }
    });
}

#[test]
fn spsc_back_pressure_through_out_of_band_branch_poller() {
    watchdog(|| {
        let mut b = Disruptor::builder(4, factory()).single_producer().unwrap();
        let mut ep_b = b.poller().unwrap();
        let mut ep_a = b.poller_after(&[&ep_b.group()]).unwrap();
        let mut producer = b.start_owned().unwrap();
        for i in 0..4 {
            producer
                .try_publish(|e, _| e.num = i)
                .expect("Should publish.");
        }
        assert!(matches!(
            producer.try_publish(|e, _| e.num = 99),
            Err(ClaimError::Full { .. })
        ));
        assert_eq!(vec![0, 1, 2, 3], nums(ep_b.poll_events().unwrap().iter()));
        assert!(matches!(
            producer.try_publish(|e, _| e.num = 99),
            Err(ClaimError::Full { .. })
        ));
        assert_eq!(vec![0, 1, 2, 3], nums(ep_a.poll_events().unwrap().iter()));
        producer
            .try_publish(|e, _| e.num = 100)
            .expect("Should publish after all consumers advanced.");
        drop(producer);
        assert_eq!(vec![100], nums(ep_b.poll_events().unwrap().iter()));
        assert_eq!(vec![100], nums(ep_a.poll_events().unwrap().iter()));
        assert_eq!(ep_a.poll_events().err(), Some(PollError::Alerted));
        assert_eq!(ep_b.poll_events().err(), Some(PollError::Alerted));
    });
}

#[test]
fn spsc_triple_branch_fan_out_and_join() {
    watchdog(|| {
        let mut b = Disruptor::builder(8, factory()).single_producer().unwrap();
        let mut ep_a = b.poller().unwrap();
        let mut ep_b1 = b.poller().unwrap();
        let mut ep_b2 = b.poller().unwrap();
        let mut ep_b3 = b.poller().unwrap();
        let mut ep_report = b
            .poller_after(&[
                &ep_a.group(),
                &ep_b1.group(),
                &ep_b2.group(),
                &ep_b3.group(),
            ])
            .unwrap();
        let mut producer = b.start_owned().unwrap();
        for i in 1..=3 {
            producer.publish(|e, _| e.num = i).unwrap();
        }
        drop(producer);
        let expected = vec![1, 2, 3];
        assert_eq!(
            ep_report.poll_events().err(),
            Some(PollError::Empty),
            "report before branches"
        );
        assert_eq!(expected, nums(ep_a.poll_events().unwrap().iter()));
        assert_eq!(expected, nums(ep_b1.poll_events().unwrap().iter()));
        assert_eq!(expected, nums(ep_b2.poll_events().unwrap().iter()));
        assert_eq!(
            ep_report.poll_events().err(),
            Some(PollError::Empty),
            "still blocked on B3"
        );
        assert_eq!(expected, nums(ep_b3.poll_events().unwrap().iter()));
        assert_eq!(expected, nums(ep_report.poll_events().unwrap().iter()));
        for ep in [
            &mut ep_a,
            &mut ep_b1,
            &mut ep_b2,
            &mut ep_b3,
            &mut ep_report,
        ] {
            assert_eq!(ep.poll_events().err(), Some(PollError::Alerted));
        }
    });
}

fn mixed_pollers_and_processors(multi: bool) {
    let (s, r) = mpsc::channel();
    macro_rules! body {
        ($b:expr, $second:expr) => {{
            let mut b = $b;
            let st = b
                .handle_events_with(move |e: &Event, _, _| s.send(e.num).unwrap())
                .group();
            let mut ep1 = b.poller().unwrap();
            let mut ep2 = b.poller_after(&[&st, &ep1.group()]).unwrap();
            let mut producer1 = b.start_owned().unwrap();
            assert_eq!(ep1.poll_events().err(), Some(PollError::Empty));
            assert_eq!(ep2.poll_events().err(), Some(PollError::Empty));
            let mut producer2 = $second(&producer1);
            producer1.publish(|e, _| e.num = 1).unwrap();
            match producer2.as_mut() {
                Some(p2) => p2.publish(|e, _| e.num = 2).unwrap(),
                None => producer1.publish(|e, _| e.num = 2).unwrap(),
            };
            drop(producer1);
            drop(producer2);
            let expected = vec![1, 2];
            {
                let g1 = ep1.poll_events().unwrap();
                assert_eq!(ep2.poll_events().err(), Some(PollError::Empty));
                assert_eq!(expected, nums(g1.iter()));
            }
            assert_eq!(ep1.poll_events().err(), Some(PollError::Alerted));
            // ep2 also follows the stage; wait for it if needed (it runs on its own thread).
            let mut got = Vec::new();
            assert!(wait_until(10, || {
                if let Ok(g) = ep2.poll_events() {
                    got.extend(nums(g.iter()));
                }
                got.len() >= 2
            }));
            assert_eq!(expected, got);
            let mut result: Vec<i64> = r.iter().collect();
            result.sort();
            assert_eq!(expected, result);
        }};
    }
    if multi {
        body!(
            Disruptor::builder(64, factory())
                .multi_producer(MultiProducerMode::Cas)
                .unwrap(),
            |p: &seqflow_pipeline::MultiProducer<Event>| Some(p.clone())
        )
    } else {
        body!(
            Disruptor::builder(8, factory()).single_producer().unwrap(),
            |_: &seqflow_pipeline::SingleProducer<Event>| None::<
                seqflow_pipeline::SingleProducer<Event>,
            >
        )
    }
}

#[test]
fn spmc_with_mixed_event_pollers_and_processors() {
    watchdog(|| mixed_pollers_and_processors(false));
}

#[test]
fn mpmc_with_mixed_event_pollers_and_processors() {
    watchdog(|| mixed_pollers_and_processors(true));
}

#[test]
fn stress_test() {
    watchdog_secs(120, || {
        #[derive(Debug)]
        struct StressEvent {
            i: i64,
            a: i64,
            b: i64,
            s: String,
        }
        let (s_seq, r_seq) = mpsc::channel();
        let num_events: i64 = 20_000;
        let producers = 4;
        let consumers: i64 = 3;
        let mut b = Disruptor::builder(1024, || StressEvent {
            i: -1,
            a: -1,
            b: -1,
            s: String::new(),
        })
        .multi_producer(MultiProducerMode::Cas)
        .unwrap();
        for pid in 0..consumers {
            let s_seq = s_seq.clone();
            let mut prev_seq = -1;
            b.handle_events_with(move |e: &StressEvent, sequence: i64, _| {
                assert_eq!(e.a, e.i - 5);
                assert_eq!(e.b, e.i + 7);
                assert_eq!(e.s, format!("Blackbriar {}", e.i));
                assert_eq!(sequence, prev_seq + 1);
                prev_seq = sequence;
                s_seq.send(sequence * consumers + pid).unwrap();
            });
        }
        drop(s_seq);
        let producer = b.start_owned().unwrap();
        thread::scope(|s| {
            for _ in 0..producers {
                let mut producer = producer.clone();
                s.spawn(move || {
                    for i in 0..num_events {
                        producer
                            .publish(|e, _| {
                                e.i = i;
                                e.a = i - 5;
                                e.b = i + 7;
                                e.s = format!("Blackbriar {}", i);
                            })
                            .unwrap();
                    }
                });
            }
            drop(producer);
        });
        let expected = consumers * num_events * producers;
        let mut seen: Vec<_> = r_seq.iter().collect();
        assert_eq!(expected as usize, seen.len());
        seen.sort();
        for (k, v) in seen.iter().enumerate() {
            assert_eq!(k as i64, *v);
        }
    });
}

// ---- src/producer/multi.rs: MultiProducerBarrier (nearest: MultiProducerSequencer) ----------

fn mps(cap: usize) -> Arc<MultiProducerSequencer<YieldingWait>> {
    MultiProducerSequencer::new(cap, YieldingWait::default(), MultiProducerMode::Cas, 4).unwrap()
}

/// `log2` is an internal helper of the disruptor crate; the nearest public seqflow item is
/// `Capacity` (power-of-two ring sizes). Port: non-powers-of-two are refused, powers accepted.
#[test]
fn log2() {
    watchdog(|| {
        for ok in [2usize, 8, 64, 1024] {
            assert!(seqflow_ring::Capacity::new(ok).is_ok(), "{ok}");
        }
        for bad in [3usize, 9, 10, 11] {
            assert!(seqflow_ring::Capacity::new(bad).is_err(), "{bad}");
        }
    });
}

#[test]
fn initial_available_sequence_number() {
    watchdog(|| {
        let s = mps(64);
        assert_eq!(s.published(), -1);
        assert!(!s.is_available(0));
    });
}

#[test]
fn publication_of_single_event_for_small_barrier() {
    watchdog(|| {
        let s = mps(64);
        let mut c = s.claimer();
        let r = c.claim(1).unwrap();
        c.publish(r).unwrap();
        assert_eq!(s.published(), 0);
    });
}

#[test]
fn publication_of_range_for_small_barrier() {
    watchdog(|| {
        let s = mps(64);
        let mut c = s.claimer();
        let r = c.claim(10).unwrap();
        c.publish(r).unwrap();
        assert_eq!(s.published(), 9);
    });
}

#[test]
fn publication_of_range_wrapping_ringbuffer_for_small_barrier() {
    watchdog(|| {
        let s = mps(64);
        let mut c = s.claimer();
        let r = c.claim(50).unwrap();
        c.publish(r).unwrap();
        assert_eq!(s.published(), 49);
        let r = c.claim(50).unwrap();
        c.publish(r).unwrap();
        assert_eq!(s.published(), 99);
        assert!(s.is_available(99) && s.is_available(50) && !s.is_available(100));
    });
}

#[test]
fn publication_of_range_wrapping_ringbuffer_for_barrier() {
    watchdog(|| {
        let s = mps(128);
        let mut c = s.claimer();
        for end in [99, 199, 299] {
            let r = c.claim(100).unwrap();
            c.publish(r).unwrap();
            assert_eq!(s.published(), end);
        }
    });
}

// ---- src/ringbuffer.rs: free_slots (nearest: Sequencer::remaining_capacity) ----------------

fn free_slots(published: i64, consumed: i64) -> usize {
    let s = SingleProducerSequencer::new(8, YieldingWait::default(), 2).unwrap();
    let consumer = s.gating().register(true, || -1).unwrap();
    let mut c = s.claimer().unwrap();
    // Publish 0..=published while the consumer keeps up to `consumed` (never more than it may).
    let mut next = 0;
    while next <= published {
        let hi = (next + 7).min(published);
        consumer.set_sequence(consumed.min(hi - 8).max(consumer.sequence().get()));
        let r = c.claim((hi - next + 1) as usize).unwrap();
        c.publish(r).unwrap();
        next = hi + 1;
    }
    consumer.set_sequence(consumed);
    s.remaining_capacity()
}

#[test]
fn free_slots_round_1_and_2() {
    watchdog(|| {
        assert_eq!(1, free_slots(7, 0));
        assert_eq!(0, free_slots(8, 0));
        assert_eq!(8, free_slots(0, 0));
        assert_eq!(4, free_slots(3, -1));
        assert_eq!(0, free_slots(7, -1));
        assert_eq!(5, free_slots(5, 2));
        assert_eq!(6, free_slots(5, 3));
        assert_eq!(7, free_slots(5, 4));
        assert_eq!(8, free_slots(5, 5));
        assert_eq!(6, free_slots(11, 9));
        assert_eq!(8, free_slots(12, 12));
        assert_eq!(0, free_slots(15, 7));
    });
}

/// The consequence of the above with the documented poll loop (`Err(Alerted) => return`, as in
/// `Poller::poll`'s own doc example): a poller that follows another poller, each on its own
/// thread, must still see every event published before the last producer was dropped.
#[test]
fn chained_poller_threads_see_every_event_after_last_producer_drops() {
    watchdog(|| {
        let mut b = Disruptor::builder(64, || 0u64).single_producer().unwrap();
        let mut up = b.poller().unwrap();
        let mut down = b.poller_after(&[&up.group()]).unwrap();
        let mut p = b.start_owned().unwrap();
        let upper = thread::spawn(move || {
            let mut n = 0u64;
            loop {
                match up.poll(|_, _, _| {
                    n += 1;
                    thread::sleep(std::time::Duration::from_millis(2)); // a slower upstream
                }) {
                    Ok(_) => thread::yield_now(),
                    Err(PollError::Alerted) => return n,
                    Err(e) => panic!("{e}"),
                }
            }
        });
        let lower = thread::spawn(move || {
            let mut n = 0u64;
            loop {
                match down.poll(|_, _, _| n += 1) {
                    Ok(_) => thread::yield_now(),
                    Err(PollError::Alerted) => return n,
                    Err(e) => panic!("{e}"),
                }
            }
        });
        for i in 0..50 {
            p.publish(|e, _| *e = i).unwrap();
        }
        drop(p);
        let up_n = upper.join().unwrap();
        let down_n = lower.join().unwrap();
        assert_eq!(
            (up_n, down_n),
            (50, 50),
            "downstream poller gave up early (lost events)"
        );
    });
}
