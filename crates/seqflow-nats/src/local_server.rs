//! [`LocalServer`]: a `nats-server` with JetStream that tests, examples and benchmarks start on a
//! free loopback port with a temporary store, kill and restart.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The command that installs the server on Debian and Ubuntu, named in errors.
pub const INSTALL_HINT: &str = "apt-get update && apt-get install -y nats-server";

/// Why a local server could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The `nats-server` binary is not installed.
    #[error("`{binary}` not found: install it with `{INSTALL_HINT}` (or set NATS_SERVER_BIN)")]
    NotInstalled {
        /// What was looked for.
        binary: String,
    },
    /// An I/O error (temporary directory, port, spawning).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The server did not accept connections in time; `log` is its output.
    #[error("nats-server did not start within {timeout:?}; its log:\n{log}")]
    NotReady {
        /// How long we waited.
        timeout: Duration,
        /// The server's output.
        log: String,
    },
}

/// A `nats-server -a 127.0.0.1 -p PORT -js -sd DIR` child process.
///
/// It listens on the loopback interface only, on a port that was free when it started, and
/// keeps its JetStream store in a temporary directory removed on drop (the process is killed
/// on drop too). [`kill`](Self::kill) and [`restart`](Self::restart) keep port and store, to
/// test what survives a crash.
///
/// The binary is `nats-server` on `PATH`, or `NATS_SERVER_BIN`.
#[derive(Debug)]
pub struct LocalServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    binary: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl LocalServer {
    /// Start a server and wait (up to 10 s) until it accepts connections.
    pub fn start() -> Result<Self, ServerError> {
        let binary = std::env::var("NATS_SERVER_BIN").unwrap_or_else(|_| "nats-server".into());
        Self::start_with(&binary)
    }

    /// As [`start`](Self::start), with the server binary at `binary`.
    pub fn start_with(binary: &str) -> Result<Self, ServerError> {
        let binary = binary.to_owned();
        if !is_installed(&binary) {
            return Err(ServerError::NotInstalled { binary });
        }
        let dir = std::env::temp_dir().join(format!(
            "seqflow-nats-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|source| ServerError::Io {
            what: format!("create {}", dir.display()),
            source,
        })?;
        let mut server = Self {
            child: None,
            port: free_port()?,
            dir,
            binary,
        };
        // A port found free can be taken by another program before the server binds it: then
        // the server exits at once and another port is tried.
        let mut attempts = 0;
        loop {
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(ServerError::NotReady { .. }) if attempts < 4 => {
                    attempts += 1;
                    server.port = free_port()?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The store directory.
    pub fn store_dir(&self) -> &Path {
        &self.dir
    }

    /// Kill the server with SIGKILL (no clean shutdown) and wait for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stop the server with SIGTERM (clean shutdown: flushes its store) and wait up to 10 s.
    pub fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Our child is not reaped yet (we hold the `Child`), so its pid names it alone.
            let signalled = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if signalled {
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline {
                    if let Ok(Some(_)) = child.try_wait() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start the server again on the same port with the same store (after [`kill`](Self::kill)
    /// or [`terminate`](Self::terminate); a running server is killed first).
    pub fn restart(&mut self) -> Result<(), ServerError> {
        self.kill();
        self.spawn()
    }

    fn spawn(&mut self) -> Result<(), ServerError> {
        let log_path = self.dir.join("server.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|source| ServerError::Io {
                what: format!("open {}", log_path.display()),
                source,
            })?;
        let log_err = log.try_clone().map_err(|source| ServerError::Io {
            what: "dup log".into(),
            source,
        })?;
        let ready_before = ready_lines(&log_path);
        let child = Command::new(&self.binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.join("store"))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|source| ServerError::Io {
                what: format!("spawn {}", self.binary),
                source,
            })?;
        self.child = Some(child);
        let timeout = Duration::from_secs(10);
        let deadline = Instant::now() + timeout;
        let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.port);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited (port taken meanwhile, bad flags...)
                }
            }
            // Ready once *this* server said so (the log is appended to across restarts) and
            // the port answers: a connection alone could reach another program on the port.
            if ready_lines(&log_path) > ready_before
                && TcpStream::connect_timeout(&addr.into(), Duration::from_millis(200)).is_ok()
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        Err(ServerError::NotReady {
            timeout,
            log: std::fs::read_to_string(&log_path).unwrap_or_default(),
        })
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_installed(binary: &str) -> bool {
    Command::new(binary)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// How many times the server log says the server is ready.
fn ready_lines(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .map(|text| text.matches("Server is ready").count())
        .unwrap_or(0)
}

/// Ports this process has handed to a server: never handed out twice, so parallel tests of one
/// binary never race for the same port.
static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());

/// A loopback port nobody listens on now, and that this process has not used before.
fn free_port() -> Result<u16, ServerError> {
    for _ in 0..64 {
        let port = unused_port()?;
        let mut used = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if !used.contains(&port) {
            used.push(port);
            return Ok(port);
        }
    }
    unused_port()
}

fn unused_port() -> Result<u16, ServerError> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|source| ServerError::Io {
            what: "bind a loopback port".into(),
            source,
        })?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|source| ServerError::Io {
            what: "read the port".into(),
            source,
        })
}
