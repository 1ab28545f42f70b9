//! Handlers chosen at run time (boxed `EventHandler` and `EventHandlerMut` trait objects) and
//! several handlers on one stage (`AggregateHandler`, LMAX's AggregateEventHandler): every hook
//! reaches every handler, in order; a failure stops the event at the handler that failed.

use seqflow_pipeline::{
    AggregateHandler, BatchEvent, Disruptor, EventError, EventHandler, EventHandlerMut,
    ExceptionAction, ExceptionHandler, HandlerFailure, PanicPolicy, RewindPolicy,
};
use seqflow_sequence::BlockingWait;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

type Log = Arc<Mutex<Vec<String>>>;

/// Logs every hook it sees as `"<name> <hook> <args>"`; fails (returns an error) on `fail_on`.
struct Logger {
    name: &'static str,
    log: Log,
    fail_on: Option<u64>,
}

impl Logger {
    fn boxed(
        name: &'static str,
        log: &Log,
        fail_on: Option<u64>,
    ) -> Box<dyn EventHandler<u64> + Send> {
        Box::new(Logger {
            name,
            log: Arc::clone(log),
            fail_on,
        })
    }
    fn push(&self, what: String) {
        self.log
            .lock()
            .unwrap()
            .push(format!("{} {what}", self.name));
    }
}

impl EventHandler<u64> for Logger {
    fn on_event(&mut self, event: &u64, seq: i64, _: bool) {
        self.push(format!("event {seq}={event}"));
    }
    fn try_on_event(&mut self, event: &u64, seq: i64, eob: bool) -> Result<(), EventError> {
        if self.fail_on == Some(*event) {
            self.push(format!("fail {seq}"));
            return Err(EventError::msg("refused"));
        }
        self.on_event(event, seq, eob);
        Ok(())
    }
    fn on_batch_start(&mut self, size: i64, _: i64) {
        self.push(format!("batch {size}"));
    }
    fn on_start(&mut self) {
        self.push("start".into());
    }
    fn on_shutdown(&mut self) {
        self.push("shutdown".into());
    }
}

struct Skip(Mutex<Vec<i64>>);
impl ExceptionHandler<u64> for Skip {
    fn handle_event_exception(&self, _: &HandlerFailure, seq: i64, _: &u64) -> ExceptionAction {
        self.0.lock().unwrap().push(seq);
        ExceptionAction::Continue
    }
}

fn lines(log: &Log, prefix: &str) -> Vec<String> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with(prefix))
        .cloned()
        .collect()
}

#[test]
fn an_aggregate_calls_every_handler_in_order_and_stops_an_event_at_a_failure() {
    let log: Log = Arc::default();
    let skip = Arc::new(Skip(Mutex::new(Vec::new())));
    let mut b = Disruptor::builder(4, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    let aggregate: AggregateHandler<_> = [
        Logger::boxed("a", &log, None),
        Logger::boxed("b", &log, Some(2)),
        Logger::boxed("c", &log, None),
    ]
    .into_iter()
    .collect();
    b.handle_events_with(aggregate)
        .exception_handler(skip.clone());
    let (d, mut p) = b.start().unwrap();
    // Through a 4-slot ring: the stage must keep up, so the hooks run over several batches.
    for v in 0..10u64 {
        p.publish(|e, _| *e = v).unwrap();
    }
    d.shutdown().unwrap();

    assert_eq!(
        *skip.0.lock().unwrap(),
        [2],
        "the failure reached the exception handler"
    );
    let log = log.lock().unwrap().clone();
    // Start and shutdown reach each handler once, in order, around everything else.
    assert_eq!(log[..3], ["a start", "b start", "c start"]);
    assert_eq!(
        log[log.len() - 3..],
        ["a shutdown", "b shutdown", "c shutdown"]
    );
    let body = &log[3..log.len() - 3];
    let mut expected_events = Vec::new();
    for v in 0..10 {
        expected_events.push(format!("a event {v}={v}"));
        if v == 2 {
            expected_events.push("b fail 2".to_string());
        } else {
            expected_events.push(format!("b event {v}={v}"));
            expected_events.push(format!("c event {v}={v}"));
        }
    }
    let events: Vec<String> = body
        .iter()
        .filter(|l| !l.contains(" batch "))
        .cloned()
        .collect();
    assert_eq!(
        events, expected_events,
        "c never sees the event b failed on"
    );
    // Every batch start reaches the three handlers, a before b before c.
    let batches: Vec<&String> = body.iter().filter(|l| l.contains(" batch ")).collect();
    assert!(!batches.is_empty() && batches.len() % 3 == 0);
    for trio in batches.chunks(3) {
        let sizes: Vec<&str> = trio.iter().map(|l| &l[8..]).collect();
        assert_eq!(trio[0].as_bytes()[0], b'a');
        assert_eq!(trio[1].as_bytes()[0], b'b');
        assert_eq!(trio[2].as_bytes()[0], b'c');
        assert!(sizes.iter().all(|s| *s == sizes[0]), "{trio:?}");
    }
}

#[test]
fn a_rewind_asked_by_one_handler_replays_the_batch_to_all_of_them() {
    let log: Log = Arc::default();
    let asked = Arc::new(Mutex::new(false));
    let asked2 = Arc::clone(&asked);
    let first = Logger::boxed("a", &log, None);
    let rewinder: Box<dyn EventHandler<u64> + Send> =
        Box::new(seqflow_pipeline::fallible(move |e: &u64, _, _| {
            let mut asked = asked2.lock().unwrap();
            if *e == 1 && !*asked {
                *asked = true;
                return Err(EventError::Rewind);
            }
            Ok(())
        }));
    let mut b = Disruptor::builder(8, || 0u64)
        .wait_strategy(BlockingWait::default())
        .panic_policy(PanicPolicy::Halt)
        .single_producer()
        .unwrap();
    b.handle_events_with(AggregateHandler::new(vec![first, rewinder]))
        .rewind_policy(RewindPolicy::up_to(3));
    // Published before the start: one batch of three.
    b.publish_before_start(|p| {
        for v in 0..3u64 {
            p.try_publish(|e, _| *e = v).unwrap();
        }
    })
    .unwrap();
    let (d, p) = b.start().unwrap();
    drop(p);
    d.shutdown().unwrap();
    assert_eq!(
        lines(&log, "a event"),
        [
            "a event 0=0",
            "a event 1=1",
            "a event 0=0",
            "a event 1=1",
            "a event 2=2"
        ],
        "the replay starts at the batch's first event, for the handler before the rewinder too"
    );
}

/// Releases event 0 as soon as it has seen it, then at event 1 waits for the producer to tell
/// that it published into slot 0's next lap: possible only if the release reached the stage.
struct Releasing {
    published_over_0: mpsc::Receiver<()>,
    got_it: Arc<Mutex<Option<bool>>>,
}
impl EventHandler<u64> for Releasing {
    fn on_event(&mut self, _: &u64, _: i64, _: bool) {}
    fn on_event_releasing(&mut self, event: BatchEvent<'_, u64>) -> Result<(), EventError> {
        match event.seq() {
            0 => event.release().map_err(EventError::failed)?,
            1 => {
                let got = self
                    .published_over_0
                    .recv_timeout(Duration::from_secs(20))
                    .is_ok();
                *self.got_it.lock().unwrap() = Some(got);
            }
            _ => {}
        }
        Ok(())
    }
}

#[test]
fn a_boxed_handler_keeps_every_hook_early_release_included() {
    let (tell, published_over_0) = mpsc::channel();
    let got_it = Arc::new(Mutex::new(None));
    let handler: Box<dyn EventHandler<u64> + Send> = Box::new(Releasing {
        published_over_0,
        got_it: Arc::clone(&got_it),
    });
    let mut b = Disruptor::builder(4, || 0u64)
        .wait_strategy(BlockingWait::default())
        .panic_policy(PanicPolicy::Halt)
        .single_producer()
        .unwrap();
    b.handle_events_with(handler);
    // A full ring, handled as one batch of four.
    b.publish_before_start(|p| {
        for v in 0..4u64 {
            p.try_publish(|e, _| *e = v).unwrap();
        }
    })
    .unwrap();
    let (d, mut p) = b.start().unwrap();
    p.publish(|e, _| *e = 4).unwrap();
    tell.send(()).unwrap();
    drop(p);
    d.shutdown().unwrap();
    assert_eq!(
        *got_it.lock().unwrap(),
        Some(true),
        "the fifth event was published while the stage still held the batch"
    );
}

#[test]
fn a_boxed_writing_handler_changes_events_for_the_stages_after_it() {
    let doubler: Box<dyn EventHandlerMut<u64> + Send> = Box::new(|e: &mut u64, _, _| *e *= 2);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    let mut b = Disruptor::builder(8, || 0u64)
        .wait_strategy(BlockingWait::default())
        .single_producer()
        .unwrap();
    b.handle_events_mut_with(doubler)
        .then(move |e: &u64, _, _| s.lock().unwrap().push(*e));
    let (d, mut p) = b.start().unwrap();
    for v in 1..=5u64 {
        p.publish(|e, _| *e = v).unwrap();
    }
    d.shutdown().unwrap();
    assert_eq!(*seen.lock().unwrap(), [2, 4, 6, 8, 10]);
}
