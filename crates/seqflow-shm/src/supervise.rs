//! [`Workers`]: start worker processes, watch them, report how each ended.
//!
//! Two ways to start them: [`Workers::spawn`] re-runs the current program with the worker's
//! index in an environment variable ([`worker_index`] reads it at the top of `main`), which is
//! always safe; [`Workers::fork`] forks and runs a closure in each child, which is only sound
//! while the calling process is single-threaded (so it is `unsafe`). Either way the parent gets
//! one handle that waits for all of them with a timeout, fails loudly (a typed error naming the
//! worker) as soon as one ends badly, and kills and reaps whatever is left when dropped.

use std::io;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The environment variable that carries a spawned worker's index.
pub const WORKER_INDEX_VAR: &str = "SEQFLOW_WORKER_INDEX";

/// How one worker process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerEnd {
    /// It exited with this code.
    Exited(i32),
    /// A signal killed it.
    Killed(i32),
    /// It ended, but its exit status was collected elsewhere (another `waitpid` in this
    /// process took it): whether it succeeded is unknown, so it counts as a failure.
    StatusLost,
}

/// Why supervising workers failed.
#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    /// A worker could not be started.
    #[error("worker {index} could not be started: {source}")]
    Start {
        /// The worker's index.
        index: usize,
        /// The system error.
        source: io::Error,
    },
    /// A worker ended with a non-zero code, a signal, or a status collected elsewhere; the
    /// others were killed.
    #[error("worker {index} (pid {pid}) ended badly: {end:?}")]
    Failed {
        /// The worker's index.
        index: usize,
        /// Its process id.
        pid: u32,
        /// How it ended.
        end: WorkerEnd,
    },
    /// `SIGCHLD` is ignored in this process (or its action has `SA_NOCLDWAIT`): the kernel
    /// discards the workers' exit statuses, so how they end could not be told. Nothing was
    /// started.
    #[error(
        "SIGCHLD is ignored in this process, so the workers' exit statuses would be discarded: \
         restore its default action (signal(SIGCHLD, SIG_DFL)) before starting workers"
    )]
    ChildStatusIgnored,
    /// Workers were still running at the deadline; they were killed.
    #[error("{running} of the workers were still running after {waited:?}; they were killed")]
    Timeout {
        /// How many were still running.
        running: usize,
        /// How long we waited.
        waited: Duration,
    },
}

/// The index of this process as a spawned worker, or `None` in the parent: call it at the top
/// of `main` and branch to the worker's code.
pub fn worker_index() -> Option<usize> {
    std::env::var(WORKER_INDEX_VAR).ok()?.parse().ok()
}

enum Proc {
    Spawned(Child),
    Forked(i32),
}

/// A set of worker processes started by this one.
///
/// ```no_run
/// use seqflow_shm::{worker_index, Workers};
/// use std::time::Duration;
/// if let Some(index) = worker_index() {
///     // ... the worker's code: open the ring by name, consume, return an exit code ...
///     std::process::exit(0);
/// }
/// let workers = Workers::spawn(3, &[] as &[&str]).expect("start the workers");
/// workers.wait(Duration::from_secs(60)).expect("every worker succeeded");
/// ```
pub struct Workers {
    procs: Vec<Option<Proc>>,
}

impl Workers {
    /// Start `n` copies of the current program with `args`, worker `i` with
    /// `SEQFLOW_WORKER_INDEX=i` in its environment.
    pub fn spawn<S: AsRef<std::ffi::OsStr>>(n: usize, args: &[S]) -> Result<Self, SuperviseError> {
        refuse_ignored_child_status()?;
        let exe =
            std::env::current_exe().map_err(|source| SuperviseError::Start { index: 0, source })?;
        let mut workers = Self {
            procs: Vec::with_capacity(n),
        };
        for index in 0..n {
            let child = Command::new(&exe)
                .args(args)
                .env(WORKER_INDEX_VAR, index.to_string())
                .spawn()
                .map_err(|source| SuperviseError::Start { index, source })?;
            workers.procs.push(Some(Proc::Spawned(child)));
        }
        Ok(workers)
    }

    /// Fork `n` children; child `i` runs `body(i)` and exits with 0 when it returns `Ok`, 1
    /// (printing the error) when it returns `Err`, 101 when it panics. The child never returns
    /// into the caller's code.
    ///
    /// # Safety
    /// The calling process must be single-threaded (or every other thread must hold no lock and
    /// be in no state the child needs): after `fork()` the child has only the calling thread,
    /// and a lock held by another thread at that instant stays locked forever in the child.
    pub unsafe fn fork<F>(n: usize, body: F) -> Result<Self, SuperviseError>
    where
        F: Fn(usize) -> Result<(), Box<dyn std::error::Error>>,
    {
        refuse_ignored_child_status()?;
        let mut workers = Self {
            procs: Vec::with_capacity(n),
        };
        for index in 0..n {
            // SAFETY: the caller guarantees the process is single-threaded (see above); the
            // child runs `body` and ends with `_exit`, never returning into the caller's stack.
            let pid = unsafe { libc::fork() };
            if pid < 0 {
                return Err(SuperviseError::Start {
                    index,
                    source: io::Error::last_os_error(),
                });
            }
            if pid == 0 {
                let code =
                    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(index))) {
                        Ok(Ok(())) => 0,
                        Ok(Err(e)) => {
                            eprintln!("worker {index}: {e}");
                            1
                        }
                        Err(_) => 101,
                    };
                // SAFETY: ends the child without running the parent's destructors or atexit
                // handlers, which belong to the parent.
                unsafe { libc::_exit(code) }
            }
            workers.procs.push(Some(Proc::Forked(pid)));
        }
        Ok(workers)
    }

    /// The process ids of the workers still running (in index order).
    pub fn pids(&self) -> Vec<u32> {
        self.procs
            .iter()
            .flatten()
            .map(|p| match p {
                Proc::Spawned(c) => c.id(),
                Proc::Forked(pid) => *pid as u32,
            })
            .collect()
    }

    /// Wait at most `timeout` for every worker. Returns how each ended when all exited with 0;
    /// as soon as one ends badly, kills the others and returns [`SuperviseError::Failed`]
    /// naming it; at the deadline kills the rest and returns [`SuperviseError::Timeout`].
    pub fn wait(mut self, timeout: Duration) -> Result<Vec<WorkerEnd>, SuperviseError> {
        let started = Instant::now();
        let mut ends = vec![None; self.procs.len()];
        loop {
            for (index, slot) in self.procs.iter_mut().enumerate() {
                let Some(proc) = slot else { continue };
                let pid = match proc {
                    Proc::Spawned(c) => c.id(),
                    Proc::Forked(pid) => *pid as u32,
                };
                if let Some(end) = try_wait(proc) {
                    *slot = None;
                    ends[index] = Some(end);
                    if end != WorkerEnd::Exited(0) {
                        return Err(SuperviseError::Failed { index, pid, end });
                    }
                }
            }
            if ends.iter().all(Option::is_some) {
                return Ok(ends.into_iter().flatten().collect());
            }
            if started.elapsed() >= timeout {
                return Err(SuperviseError::Timeout {
                    running: ends.iter().filter(|e| e.is_none()).count(),
                    waited: timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// `ChildStatusIgnored` if this process discards its children's exit statuses.
fn refuse_ignored_child_status() -> Result<(), SuperviseError> {
    // SAFETY: an all-zero `sigaction` is a valid value to be overwritten.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into `current`, a valid pointer.
    let r = unsafe { libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut current) };
    if r == 0
        && (current.sa_sigaction == libc::SIG_IGN || current.sa_flags & libc::SA_NOCLDWAIT != 0)
    {
        return Err(SuperviseError::ChildStatusIgnored);
    }
    Ok(())
}

/// How the process ended, if it has (reaping it).
fn try_wait(proc: &mut Proc) -> Option<WorkerEnd> {
    match proc {
        Proc::Spawned(child) => {
            use std::os::unix::process::ExitStatusExt;
            let status = match child.try_wait() {
                Ok(status) => status?,
                // Reaped by another waiter of this process.
                Err(e) if e.raw_os_error() == Some(libc::ECHILD) => {
                    return Some(WorkerEnd::StatusLost)
                }
                Err(_) => return None,
            };
            Some(match (status.code(), status.signal()) {
                (Some(code), _) => WorkerEnd::Exited(code),
                (None, Some(sig)) => WorkerEnd::Killed(sig),
                (None, None) => WorkerEnd::Exited(-1),
            })
        }
        Proc::Forked(pid) => {
            let mut status = 0;
            // SAFETY: `waitpid` on our own child with a valid status pointer.
            let r = unsafe { libc::waitpid(*pid, &mut status, libc::WNOHANG) };
            if r == *pid {
                Some(if libc::WIFEXITED(status) {
                    WorkerEnd::Exited(libc::WEXITSTATUS(status))
                } else {
                    WorkerEnd::Killed(libc::WTERMSIG(status))
                })
            } else if r < 0 {
                // Not our child any more (reaped by another waiter): its status is gone.
                Some(WorkerEnd::StatusLost)
            } else {
                None
            }
        }
    }
}

impl Drop for Workers {
    /// Kill and reap every worker still running. A worker that ended (reaped now, or by
    /// another waiter) is not signalled: its pid may belong to another process by now. One
    /// still running is our unreaped child, whose pid cannot be reused before we reap it.
    fn drop(&mut self) {
        for proc in self.procs.iter_mut().flatten() {
            if try_wait(proc).is_some() {
                continue;
            }
            match proc {
                Proc::Spawned(child) => {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                Proc::Forked(pid) => {
                    // SAFETY: signalling and reaping our own child.
                    unsafe {
                        libc::kill(*pid, libc::SIGKILL);
                        let mut status = 0;
                        libc::waitpid(*pid, &mut status, 0);
                    }
                }
            }
        }
    }
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("pids", &self.pids())
            .finish()
    }
}
