//! A stage graph across processes. The parent creates a named ring, declares its consumers, and
//! starts five worker processes (this same program, supervised by `Workers::spawn`):
//!
//! ```text
//!             ┌─> sender    (process 1: sends each event to a loopback TCP socket)
//! journal ────┤
//! (process 0: └─> aggregate (process 2: counts and sums)
//!  writes a file)
//! pool "workers": processes 3 and 4, each event handled by exactly one of them
//! ```
//!
//! Each stage is an `EventHandler` run by `ShmRing::stage` / `pool_stage`, the same stage loop
//! as a one-process `Disruptor`. The parent publishes right away: the consumers are declared, so
//! the producer waits for them even before they attach, and nothing is lost. It then closes the
//! ring (every stage ends after the last event), waits for the workers, and checks that the
//! journal file, the bytes received on the socket, the aggregate and the pool's shares all
//! agree on count and checksum. Exit code 0 only if they do.
//!
//! ```text
//! cargo run --release -p seqflow-shm --example multiproc_pipeline -- [EVENTS]
//! ```

use seqflow_shm::{
    worker_index, EventHandler, ShmOptions, ShmRing, WaitKind, Workers, WORKER_INDEX_VAR,
};
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An event: `[id, amount]`.
type Trade = [u64; 2];

/// The processes started, by role.
const ROLES: [&str; 5] = ["journal", "sender", "aggregate", "worker", "worker"];

/// Count and checksum of a set of events (order-independent, so pool shares add up).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    count: u64,
    checksum: u64,
}

impl Tally {
    fn add(&mut self, t: &Trade) {
        self.count += 1;
        self.checksum = self
            .checksum
            .wrapping_add(t[0].wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ t[1]);
    }

    fn merge(self, other: Tally) -> Tally {
        Tally {
            count: self.count + other.count,
            checksum: self.checksum.wrapping_add(other.checksum),
        }
    }

    fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, format!("{} {}\n", self.count, self.checksum))
    }

    fn read(path: &Path) -> Result<Tally, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut words = text.split_whitespace().map(str::parse::<u64>);
        match (words.next(), words.next()) {
            (Some(Ok(count)), Some(Ok(checksum))) => Ok(Tally { count, checksum }),
            _ => Err(format!("{}: malformed tally {text:?}", path.display())),
        }
    }
}

fn trade(i: u64) -> Trade {
    [i, i.wrapping_mul(31).wrapping_add(7) % 10_000]
}

/// Writes each event to the journal file; flushes at the end of each batch. Checks that
/// sequences arrive in order, without gaps.
struct Journal {
    out: BufWriter<File>,
    next: i64,
    tally: Tally,
    tally_path: PathBuf,
}

impl EventHandler<Trade> for Journal {
    fn on_event(&mut self, event: &Trade, seq: i64, end_of_batch: bool) {
        assert_eq!(seq, self.next, "journal: gap or reorder");
        self.next += 1;
        self.tally.add(event);
        self.out
            .write_all(bytemuck::bytes_of(event))
            .expect("write the journal");
        if end_of_batch {
            self.out.flush().expect("flush the journal");
        }
    }

    fn on_shutdown(&mut self) {
        self.out.flush().expect("flush the journal");
        self.tally.write(&self.tally_path).expect("write the tally");
    }
}

/// Sends each event to the parent over TCP.
struct Sender {
    out: BufWriter<TcpStream>,
    tally: Tally,
    tally_path: PathBuf,
}

impl EventHandler<Trade> for Sender {
    fn on_event(&mut self, event: &Trade, _seq: i64, end_of_batch: bool) {
        self.tally.add(event);
        self.out.write_all(bytemuck::bytes_of(event)).expect("send");
        if end_of_batch {
            self.out.flush().expect("flush the socket");
        }
    }

    fn on_shutdown(&mut self) {
        self.out.flush().expect("flush the socket");
        self.tally.write(&self.tally_path).expect("write the tally");
    }
}

fn decode(bytes: &[u8]) -> Trade {
    let mut t = [0u64; 2];
    bytemuck::bytes_of_mut(&mut t).copy_from_slice(bytes);
    t
}

fn tally_bytes(bytes: &[u8]) -> Result<Tally, String> {
    if bytes.len() % 16 != 0 {
        return Err(format!(
            "{} bytes is not a whole number of events",
            bytes.len()
        ));
    }
    let mut tally = Tally::default();
    for chunk in bytes.chunks_exact(16) {
        tally.add(&decode(chunk));
    }
    Ok(tally)
}

/// A worker process: attach to the ring and run this role's stage until the ring is closed.
fn worker(index: usize, args: &[String]) -> Result<(), String> {
    let [name, port, dir, ..] = args else {
        return Err("usage: worker NAME PORT DIR".into());
    };
    let dir = PathBuf::from(dir);
    let ring = ShmRing::<Trade>::open(name, Duration::from_secs(10)).map_err(|e| e.to_string())?;
    let role = ROLES.get(index).ok_or("no such worker")?;
    let tally_path = dir.join(format!("{role}-{index}.tally"));
    let report = match *role {
        "journal" => {
            let file = File::create(dir.join("journal.bin")).map_err(|e| e.to_string())?;
            let journal = Journal {
                out: BufWriter::new(file),
                next: 0,
                tally: Tally::default(),
                tally_path,
            };
            ring.stage("journal").max_batch_size(256).run(journal)
        }
        "sender" => {
            let port: u16 = port.parse().map_err(|_| format!("bad port {port:?}"))?;
            let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
            let sender = Sender {
                out: BufWriter::new(stream),
                tally: Tally::default(),
                tally_path,
            };
            ring.stage("sender").after(&["journal"]).run(sender)
        }
        "aggregate" => {
            let mut tally = Tally::default();
            let report = ring
                .stage("aggregate")
                .after(&["journal"])
                .run(|t: &Trade, _seq, _end| tally.add(t));
            tally.write(&tally_path).map_err(|e| e.to_string())?;
            report
        }
        _ => {
            let mut tally = Tally::default();
            let report = ring
                .pool_stage("workers")
                .run(|t: &Trade, _seq, _end| tally.add(t));
            tally.write(&tally_path).map_err(|e| e.to_string())?;
            report
        }
    };
    let report = report.map_err(|e| e.to_string())?;
    eprintln!(
        "{role} (worker {index}, pid {}): done through sequence {}, {} failures",
        std::process::id(),
        report.sequence,
        report.failures
    );
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(index) = worker_index() {
        if let Err(e) = worker(index, &args) {
            eprintln!("worker {index}: {e}");
            std::process::exit(1);
        }
        return;
    }
    // `exit` skips destructors: run everything (the unlink guard included) first.
    std::process::exit(match run(&args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("multiproc_pipeline: {e}");
            1
        }
    });
}

fn run(args: &[String]) -> Result<(), String> {
    let events: u64 = match args.first() {
        Some(n) => n
            .parse()
            .map_err(|_| format!("EVENTS must be a number, got {n:?}"))?,
        None => 100_000,
    };
    let pid = std::process::id();
    let name = format!("/seqflow-example-multiproc-{pid}");
    let dir = std::env::temp_dir().join(format!("seqflow-multiproc-{pid}"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = run_in(&name, &dir, events);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_in(name: &str, dir: &Path, events: u64) -> Result<(), String> {
    let options = ShmOptions {
        wait: WaitKind::Futex,
        declared_consumers: ["journal", "sender", "aggregate"]
            .map(String::from)
            .to_vec(),
        declared_pools: vec!["workers".into()],
        ..Default::default()
    };
    let ring = ShmRing::<Trade>::create(name, 1024, options).map_err(|e| e.to_string())?;
    let _cleanup = ring.unlink_on_drop();

    // The sender stage's peer: count what arrives on the socket.
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let receiver = std::thread::spawn(move || -> Result<Tally, String> {
        let (mut stream, _) = listener.accept().map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
        tally_bytes(&bytes)
    });

    let args = [name.to_owned(), port.to_string(), dir.display().to_string()];
    debug_assert!(std::env::var(WORKER_INDEX_VAR).is_err());
    let workers = Workers::spawn(ROLES.len(), &args).map_err(|e| e.to_string())?;

    // Publish at once: the declared consumers hold the ring for themselves until they attach.
    let mut expected = Tally::default();
    let mut producer = ring.producer().map_err(|e| e.to_string())?;
    for i in 0..events {
        let t = trade(i);
        expected.add(&t);
        producer
            .publish_timeout(Duration::from_secs(60), |e, _| *e = t)
            .map_err(|e| format!("publish {i}: {e}"))?;
    }
    let end = ring.close();
    println!("published {events} events (last sequence {end}); waiting for the stages");
    let ends = workers
        .wait(Duration::from_secs(120))
        .map_err(|e| e.to_string())?;
    println!("all {} worker processes exited: {ends:?}", ends.len());

    let journal = std::fs::read(dir.join("journal.bin")).map_err(|e| e.to_string())?;
    let mut pool = Tally::default();
    for index in 3..ROLES.len() {
        pool = pool.merge(Tally::read(&dir.join(format!("worker-{index}.tally")))?);
    }
    let checks = [
        ("journal file", tally_bytes(&journal)?),
        ("journal stage", Tally::read(&dir.join("journal-0.tally"))?),
        ("sender stage", Tally::read(&dir.join("sender-1.tally"))?),
        (
            "bytes on the socket",
            receiver.join().map_err(|_| "receiver panicked")??,
        ),
        (
            "aggregate stage",
            Tally::read(&dir.join("aggregate-2.tally"))?,
        ),
        ("worker pool", pool),
    ];
    let mut ok = true;
    for (what, tally) in checks {
        let agrees = tally == expected;
        ok &= agrees;
        println!(
            "{what:>20}: {:>8} events, checksum {:016x} {}",
            tally.count,
            tally.checksum,
            if agrees { "ok" } else { "MISMATCH" }
        );
    }
    if ok {
        println!(
            "every stage agrees: {} events, checksum {:016x}",
            expected.count, expected.checksum
        );
        Ok(())
    } else {
        Err(format!(
            "expected {} events with checksum {:016x}",
            expected.count, expected.checksum
        ))
    }
}
