//! Log, then broadcast: every event is first appended to a journal file, then sent to TCP
//! clients on loopback. A deliberately slow client never slows the journal or the producer: it is
//! fed by a lossy (non-gating) subscriber that learns how many events it missed when lapped.
//!
//! ```text
//! producer -> journal stage (file) -> broadcast stage (fast clients, blocking writes)
//!                                   \-> lossy subscriber -> slow client (best effort)
//! ```
//!
//! The example checks its own result: the journal holds every event in order, each fast client
//! received every event in order, the journal finished while the slow client had read nothing,
//! and the slow client's received + missed events add up.
//!
//! Run: `cargo run --release --example log_then_broadcast`

use seqflow::prelude::*;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

const EVENTS: u64 = 500_000;
const FAST_CLIENTS: usize = 2;
const RECORD: usize = 64;

/// One log line: an id and a fixed-size body (plain data, so lossy readers can copy it).
#[derive(Clone, Copy)]
struct Message {
    id: u64,
    body: [u8; RECORD - 8],
}

impl Message {
    fn empty() -> Self {
        Self {
            id: 0,
            body: [0; RECORD - 8],
        }
    }

    fn encode(&self) -> [u8; RECORD] {
        let mut out = [0u8; RECORD];
        out[..8].copy_from_slice(&self.id.to_le_bytes());
        out[8..].copy_from_slice(&self.body);
        out
    }
}

fn body_for(id: u64) -> [u8; RECORD - 8] {
    let mut body = [0u8; RECORD - 8];
    let text = format!("event {id} payload");
    body[..text.len()].copy_from_slice(text.as_bytes());
    body
}

/// Stage 1: append every event to the journal, flushing at the end of each batch.
struct Journal {
    out: BufWriter<File>,
    written: Arc<AtomicU64>,
}

impl EventHandler<Message> for Journal {
    fn on_event(&mut self, m: &Message, _seq: i64, end_of_batch: bool) {
        self.out.write_all(&m.encode()).expect("journal write");
        if end_of_batch {
            self.out.flush().expect("journal flush");
        }
        self.written.fetch_add(1, Ordering::Relaxed);
    }

    fn on_shutdown(&mut self) {
        self.out.flush().expect("journal flush");
        self.out.get_ref().sync_all().expect("journal sync");
    }
}

/// Stage 2: send every journaled event to the fast clients.
struct Broadcast {
    clients: Vec<BufWriter<TcpStream>>,
}

impl EventHandler<Message> for Broadcast {
    fn on_event(&mut self, m: &Message, _seq: i64, end_of_batch: bool) {
        let bytes = m.encode();
        for client in &mut self.clients {
            client.write_all(&bytes).expect("client write");
            if end_of_batch {
                client.flush().expect("client flush");
            }
        }
    }

    fn on_shutdown(&mut self) {
        for client in &mut self.clients {
            client.flush().expect("client flush");
        }
        self.clients.clear(); // closing the sockets ends the clients' reads
    }
}

/// A client: reads records until EOF, checks ids increase, returns (count, ids strictly
/// consecutive?).
fn client(
    stream: TcpStream,
    start: Option<mpsc::Receiver<()>>,
    received: Arc<AtomicU64>,
) -> (u64, bool) {
    if let Some(start) = start {
        start.recv().expect("start signal"); // the slow client does not read at first
    }
    let mut reader = BufReader::new(stream);
    let mut record = [0u8; RECORD];
    let mut last: Option<u64> = None;
    let mut consecutive = true;
    while reader.read_exact(&mut record).is_ok() {
        let id = u64::from_le_bytes(record[..8].try_into().expect("8 bytes"));
        assert!(last.is_none_or(|l| id > l), "ids must increase");
        assert_eq!(&record[8..], &body_for(id), "corrupt record {id}");
        consecutive &= last.map_or(id == 0, |l| id == l + 1);
        last = Some(id);
        received.fetch_add(1, Ordering::Relaxed);
    }
    (received.load(Ordering::Relaxed), consecutive)
}

fn journal_path() -> PathBuf {
    std::env::temp_dir().join(format!("seqflow-journal-{}.log", std::process::id()))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;

    // Clients connect; the server side accepts them in order.
    let mut fast_clients = Vec::new();
    let mut fast_streams = Vec::new();
    for _ in 0..FAST_CLIENTS {
        let stream = TcpStream::connect(addr)?;
        let received = Arc::new(AtomicU64::new(0));
        let r = Arc::clone(&received);
        fast_clients.push((
            std::thread::spawn(move || client(stream, None, r)),
            received,
        ));
        fast_streams.push(BufWriter::with_capacity(64 * 1024, listener.accept()?.0));
    }
    let slow_stream = TcpStream::connect(addr)?;
    let (slow_go, slow_wait) = mpsc::channel();
    let slow_received = Arc::new(AtomicU64::new(0));
    let r = Arc::clone(&slow_received);
    let slow_client = std::thread::spawn(move || client(slow_stream, Some(slow_wait), r));
    let mut slow_socket = BufWriter::new(listener.accept()?.0);

    let path = journal_path();
    let written = Arc::new(AtomicU64::new(0));
    let journal = Journal {
        out: BufWriter::with_capacity(1 << 20, File::create(&path)?),
        written: Arc::clone(&written),
    };

    let mut builder = Disruptor::builder(1024, Message::empty)
        .wait_strategy(BlockingWait::default())
        .single_producer()?;
    let journaled = builder.handle_events_with(journal).named("journal").group();
    builder
        .after(&[&journaled])
        .handle_events_with(Broadcast {
            clients: fast_streams,
        })
        .named("broadcast");
    let mut slow_feed = builder.after(&[&journaled]).then_lossy_subscriber();
    let (disruptor, mut producer) = builder.start()?;

    // The slow client's sender: best effort, never gating.
    let slow_sender = std::thread::spawn(move || {
        let (mut sent, mut missed) = (0u64, 0u64);
        loop {
            match slow_feed.next_timeout(None) {
                Ok((_, m)) => {
                    if slow_socket.write_all(&m.encode()).is_err() {
                        break;
                    }
                    sent += 1;
                }
                Err(LossyError::Lapped { missed: n, .. }) => missed += n,
                Err(LossyError::Alerted) | Err(LossyError::Timeout) => break,
            }
        }
        let _ = slow_socket.flush();
        (sent, missed, slow_feed.position())
    });

    for id in 0..EVENTS {
        producer.publish(|m, _| {
            m.id = id;
            m.body = body_for(id);
        })?;
    }

    // Wait for the gating stages to finish every event, then look at the slow client.
    let metrics = disruptor.metrics_handle();
    while metrics
        .read()
        .stages
        .iter()
        .any(|s| s.sequence < EVENTS as i64 - 1)
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    let journal_done = written.load(Ordering::Relaxed);
    let slow_seen_when_journal_done = slow_received.load(Ordering::Relaxed);
    slow_go.send(())?; // now let the slow client read
    disruptor.shutdown()?;

    let (sent, missed, position) = slow_sender.join().expect("slow sender");
    let (slow_count, slow_consecutive) = slow_client.join().expect("slow client");
    for (handle, _) in fast_clients {
        let (count, consecutive) = handle.join().expect("fast client");
        assert_eq!(count, EVENTS, "a fast client missed events");
        assert!(consecutive, "a fast client saw a gap");
    }

    // The journal holds every event, in order.
    let mut journal = BufReader::new(File::open(&path)?);
    let mut record = [0u8; RECORD];
    for id in 0..EVENTS {
        journal.read_exact(&mut record)?;
        assert_eq!(
            u64::from_le_bytes(record[..8].try_into()?),
            id,
            "journal order"
        );
    }
    assert_eq!(journal.read(&mut record)?, 0, "journal has extra records");
    std::fs::remove_file(&path)?;

    assert_eq!(journal_done, EVENTS);
    assert_eq!(
        slow_seen_when_journal_done, 0,
        "the journal finished without the slow client"
    );
    assert_eq!(slow_count, sent, "the slow client got what its sender sent");
    assert_eq!(
        sent + missed,
        position as u64,
        "sent + missed covers every event it passed"
    );
    assert!(missed > 0, "the slow client must have been lapped");
    assert!(
        !slow_consecutive,
        "the slow client has gaps where it was lapped"
    );

    println!("log_then_broadcast: journal wrote {EVENTS} events in order (verified by reading the file back)");
    println!("log_then_broadcast: {FAST_CLIENTS} fast clients each received all {EVENTS} events in order");
    println!(
        "log_then_broadcast: slow client had read 0 events when the journal finished; it then received {slow_count}, missed {missed} (lapped), never slowing the journal"
    );
    Ok(())
}
