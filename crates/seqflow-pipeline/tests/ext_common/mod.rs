//! Shared helpers of the ported external test suites (ext_*.rs) and other integration tests.
#![allow(dead_code)]
use seqflow_pipeline::EventHandler;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Run `f` on its own thread; fail the test if it does not finish within `secs`.
pub fn watchdog_secs<F: FnOnce() + Send + 'static>(secs: u64, f: F) {
    let (tx, rx) = mpsc::channel();
    let h = std::thread::Builder::new()
        .name("ext-test-body".into())
        .spawn(move || {
            f();
            let _ = tx.send(());
        })
        .unwrap();
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => h.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => match h.join() {
            Ok(()) => {}
            Err(p) => std::panic::resume_unwind(p),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("HANG: test body did not finish within {secs}s")
        }
    }
}

/// How long the randomised oracle tests run: `SEQFLOW_ORACLE_SECS` (default 1 second).
pub fn oracle_secs() -> u64 {
    std::env::var("SEQFLOW_ORACLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

/// The instant an oracle test stops starting new work: [`oracle_secs`] from now.
pub fn oracle_deadline() -> Instant {
    Instant::now() + Duration::from_secs(oracle_secs())
}

pub fn watchdog<F: FnOnce() + Send + 'static>(f: F) {
    watchdog_secs(30, f)
}

/// Wait (yielding/sleeping, never busy-spinning) until `cond` holds, at most `secs`.
pub fn wait_until(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut n = 0u32;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        n += 1;
        if n < 50 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    cond()
}

/// A one-shot gate: `wait()` blocks (yielding/sleeping) until `open()`.
#[derive(Clone, Default)]
pub struct Gate(std::sync::Arc<std::sync::atomic::AtomicBool>);
impl Gate {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn open(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    pub fn is_open(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
    pub fn wait(&self) {
        assert!(wait_until(25, || self.is_open()), "gate never opened");
    }
}

/// A countdown latch.
#[derive(Clone)]
pub struct Latch(std::sync::Arc<std::sync::atomic::AtomicI64>);
impl Latch {
    pub fn new(n: i64) -> Self {
        Self(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(n)))
    }
    pub fn count_down(&self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
    pub fn count(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
    pub fn await_zero(&self, secs: u64) -> bool {
        wait_until(secs, || self.count() <= 0)
    }
}

/// Lines of a lifecycle log: `start:NAME`, `shutdown:NAME`.
pub type Log = Arc<Mutex<Vec<String>>>;

/// A handler that logs its lifecycle (LMAX's LifecycleAware) and records the sequences it saw.
pub struct Life {
    pub name: String,
    pub log: Log,
    pub seen: Arc<Mutex<Vec<i64>>>,
}

impl Life {
    /// Named `name`, logging to `log`, with a record of its own.
    pub fn new(name: impl Into<String>, log: &Log) -> Self {
        Self::sharing(name, log, &Arc::default())
    }

    /// Named `name`, logging to `log`, recording into `seen` (shared with others).
    pub fn sharing(name: impl Into<String>, log: &Log, seen: &Arc<Mutex<Vec<i64>>>) -> Self {
        Self {
            name: name.into(),
            log: Arc::clone(log),
            seen: Arc::clone(seen),
        }
    }
}

impl EventHandler<i64> for Life {
    fn on_event(&mut self, _: &i64, seq: i64, _: bool) {
        self.seen.lock().unwrap().push(seq);
    }
    fn on_start(&mut self) {
        self.log
            .lock()
            .unwrap()
            .push(format!("start:{}", self.name));
    }
    fn on_shutdown(&mut self) {
        self.log
            .lock()
            .unwrap()
            .push(format!("shutdown:{}", self.name));
    }
}
