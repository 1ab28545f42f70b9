//! Helpers shared by the integration tests: unique segment names that are removed even when a
//! test fails, forked children that are always reaped, and pipes to synchronise with them.
#![allow(dead_code)]

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A unique segment name, unlinked when dropped (in the process that made it only).
pub struct Seg {
    pub name: String,
    pid: u32,
}

impl Seg {
    pub fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // Remove a leftover of an earlier run with the same pid, if any.
        let name = format!("/seqflow-test-{pid}-{n}-{tag}");
        let _ = rustix::shm::unlink(name.as_str());
        Self { name, pid }
    }
}

impl Drop for Seg {
    fn drop(&mut self) {
        if std::process::id() == self.pid {
            let _ = rustix::shm::unlink(self.name.as_str());
        }
    }
}

/// A forked child, killed and reaped on drop if the test did not wait for it.
pub struct Child {
    pub pid: i32,
    reaped: bool,
}

/// Run `body` in a forked child that exits with 0 on `Ok`, 1 on `Err` (printed), 101 on panic.
/// The parent gets a [`Child`]. Only for single-threaded parents (the `processes` test binary).
pub fn fork_child(body: impl FnOnce() -> Result<(), String>) -> Child {
    // SAFETY: the test binary that forks runs its cases on one thread (harness = false), so
    // the child starts with consistent locks; it ends with `_exit`, never returning into the
    // parent's stack.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
            Ok(Ok(())) => 0,
            Ok(Err(e)) => {
                eprintln!("child {}: {e}", std::process::id());
                1
            }
            Err(_) => 101,
        };
        // SAFETY: `_exit` ends the child without running the parent's destructors or atexit
        // handlers (which belong to the parent).
        unsafe { libc::_exit(code) }
    }
    Child { pid, reaped: false }
}

impl Child {
    /// Take charge of a child forked by hand.
    pub fn adopt(pid: i32) -> Self {
        Self { pid, reaped: false }
    }

    /// Wait (at most `timeout`) for the child to exit; its exit code, or `None` if it was killed
    /// by a signal. A child still running at the deadline is killed and the test fails.
    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut status = 0;
            // SAFETY: plain waitpid on our own child.
            let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
            assert!(
                r >= 0,
                "waitpid failed: {}",
                std::io::Error::last_os_error()
            );
            if r == self.pid {
                self.reaped = true;
                return libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
            }
            if Instant::now() >= deadline {
                self.kill();
                panic!("child {} still running after {timeout:?}", self.pid);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Wait (at most `timeout`) until the child is stopped (by SIGSTOP, say a child that stops
    /// itself): a SIGCONT sent after this cannot arrive before the stop and be lost. Fails the
    /// test if the child exits instead, or is still running at the deadline.
    pub fn wait_stopped(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let mut status = 0;
            // SAFETY: plain waitpid on our own child.
            let r =
                unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG | libc::WUNTRACED) };
            assert!(
                r >= 0,
                "waitpid failed: {}",
                std::io::Error::last_os_error()
            );
            if r == self.pid {
                if libc::WIFSTOPPED(status) {
                    return;
                }
                self.reaped = true;
                panic!(
                    "child {} ended instead of stopping: status {status}",
                    self.pid
                );
            }
            if Instant::now() >= deadline {
                self.kill();
                panic!("child {} did not stop within {timeout:?}", self.pid);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Wait and require exit code 0.
    pub fn expect_success(&mut self, what: &str) {
        let code = self.wait(Duration::from_secs(120));
        assert_eq!(code, Some(0), "{what}: child {} failed", self.pid);
    }

    /// SIGKILL the child and reap it.
    pub fn kill(&mut self) {
        if self.reaped {
            return;
        }
        // SAFETY: signalling and reaping our own child.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            let mut status = 0;
            libc::waitpid(self.pid, &mut status, 0);
        }
        self.reaped = true;
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A pipe: children write single bytes, the parent reads them with a timeout.
pub struct Pipe {
    pub read: OwnedFd,
    pub write: OwnedFd,
}

impl Pipe {
    pub fn new() -> Self {
        let mut fds = [0; 2];
        // SAFETY: `fds` is a valid array of two ints for pipe(2) to fill.
        let r = unsafe { libc::pipe(fds.as_mut_ptr()) };
        assert_eq!(r, 0, "pipe failed");
        // SAFETY: pipe(2) returned two fresh descriptors we now own.
        unsafe {
            Self {
                read: OwnedFd::from_raw_fd(fds[0]),
                write: OwnedFd::from_raw_fd(fds[1]),
            }
        }
    }

    /// Write `bytes` (from a child or the parent).
    pub fn send(&self, bytes: &[u8]) {
        let mut done = 0;
        while done < bytes.len() {
            // SAFETY: writing from a valid buffer to our own descriptor.
            let n = unsafe {
                libc::write(
                    self.write.as_raw_fd(),
                    bytes[done..].as_ptr().cast(),
                    bytes.len() - done,
                )
            };
            assert!(n > 0, "pipe write failed");
            done += n as usize;
        }
    }

    /// Read exactly `n` bytes within `timeout`; `None` on timeout or EOF.
    pub fn recv(&self, n: usize, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut out = vec![0u8; n];
        let mut done = 0;
        while done < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let mut pfd = libc::pollfd {
                fd: self.read.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(1000) as i32) };
            if r <= 0 {
                continue;
            }
            // SAFETY: reading into our own buffer from our own descriptor.
            let got = unsafe {
                libc::read(
                    self.read.as_raw_fd(),
                    out[done..].as_mut_ptr().cast(),
                    n - done,
                )
            };
            if got <= 0 {
                return None;
            }
            done += got as usize;
        }
        Some(out)
    }
}

/// Run test cases one after another on the main thread (the fork-based test binaries use
/// `harness = false`) and print a libtest-style summary; exit 101 if any failed. Arguments that
/// do not start with `-` select cases by substring.
pub fn run_cases(cases: &[(&'static str, fn())]) {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let selected: Vec<_> = cases
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    println!("\nrunning {} tests", selected.len());
    let mut failed = Vec::new();
    for (name, case) in &selected {
        let outcome = std::panic::catch_unwind(case);
        println!(
            "test {name} ... {}",
            if outcome.is_ok() { "ok" } else { "FAILED" }
        );
        if outcome.is_err() {
            failed.push(*name);
        }
    }
    let passed = selected.len() - failed.len();
    let filtered = cases.len() - selected.len();
    if failed.is_empty() {
        println!("\ntest result: ok. {passed} passed; 0 failed; 0 ignored; 0 measured; {filtered} filtered out\n");
    } else {
        println!("\nfailures:\n    {}", failed.join("\n    "));
        println!(
            "\ntest result: FAILED. {passed} passed; {} failed; 0 ignored; 0 measured; {filtered} filtered out\n",
            failed.len()
        );
        std::process::exit(101);
    }
}

/// Options for the pool stress tests: futex waits, a 10 ms liveness interval, room for 4
/// producers and 32 consumers, `declared_pools` declared.
pub fn pool_opts(
    mode: seqflow_shm::ProducerMode,
    declared_pools: &[&str],
) -> seqflow_shm::ShmOptions {
    seqflow_shm::ShmOptions {
        producer: mode,
        wait: seqflow_shm::WaitKind::Futex,
        liveness_interval: Duration::from_millis(10),
        max_producers: 4,
        max_consumers: 32,
        declared_pools: declared_pools.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    }
}

/// A linear congruential generator step: cheap reproducible randomness for stress tests.
pub fn lcg(k: &mut u64) -> u64 {
    *k = k
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *k >> 33
}
