//! A Rust process that shares a ring with Python processes (used by
//! `python/tests/test_mixed.py`). It uses the same slot format (`DynByteSlot`, payload kinds in
//! its tag: `src/slot.rs`) and fingerprints as the `seqflow` Python package, and takes the slot
//! size from the segment, so it attaches to a queue or ring of any `slot_size`.
//!
//! ```text
//! rust_peer queue-produce NAME COUNT   # put b"0" .. b"COUNT-1" (as bytes items) into a Queue
//! rust_peer queue-consume NAME COUNT   # take COUNT items from a Queue's pool, print their sum
//! rust_peer ring-consume NAME COUNT    # gating consumer "rust" of a Ring: print the sum
//! ```
//! Each prints `ready` once attached, and exits 1 with a message on any error.

#[allow(dead_code)]
#[path = "../src/slot.rs"]
mod slot;

use seqflow_shm::{DynByteSlot, OpenOptions, ShmRing};
use slot::{fingerprint, kind, slot_size_of_event, Role};
use std::io::Write;
use std::time::Duration;

fn open(name: &str, role: Role) -> Result<ShmRing<DynByteSlot>, String> {
    let info = seqflow_shm::inspect(name).map_err(|e| e.to_string())?;
    let slot_size = slot_size_of_event(info.header.event_size)
        .ok_or_else(|| format!("{name} is not a ring of the seqflow Python package"))?;
    ShmRing::<DynByteSlot>::open_with(
        name,
        OpenOptions {
            timeout: Duration::from_secs(10),
            fingerprint: Some(fingerprint(role, slot_size)),
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())
}

fn ready() {
    println!("ready");
    let _ = std::io::stdout().flush();
}

fn parse(payload: &[u8]) -> u64 {
    std::str::from_utf8(payload)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn run(args: &[String]) -> Result<(), String> {
    let (mode, name, count) = match args {
        [_, mode, name, count] => (
            mode.as_str(),
            name.as_str(),
            count.parse::<u64>().map_err(|e| e.to_string())?,
        ),
        _ => return Err("usage: rust_peer MODE NAME COUNT".into()),
    };
    let wait = Some(Duration::from_secs(30));
    match mode {
        "queue-produce" => {
            let ring = open(name, Role::Queue)?;
            let mut producer = ring.producer().map_err(|e| e.to_string())?;
            ready();
            for i in 0..count {
                let text = i.to_string();
                if text.len() > ring.max_payload() {
                    return Err(format!("{text} does not fit in a slot of {name}"));
                }
                producer
                    .publish_timeout(Duration::from_secs(30), |e, _| {
                        // Checked above: it fits, so `set` stores it.
                        let _ = e.set(text.as_bytes());
                        e.set_tag(u32::from(kind::BYTES));
                    })
                    .map_err(|e| e.to_string())?;
            }
        }
        "queue-consume" => {
            let ring = open(name, Role::Queue)?;
            let mut worker = ring.worker("queue").map_err(|e| e.to_string())?;
            ready();
            let mut sum = 0;
            for _ in 0..count {
                let (_, v) = worker
                    .process(wait, |e, _| parse(e.as_bytes()))
                    .map_err(|e| e.to_string())?;
                sum += v;
            }
            println!("{sum}");
        }
        "ring-consume" => {
            let ring = open(name, Role::Ring)?;
            let mut consumer = ring.consumer("rust").map_err(|e| e.to_string())?;
            ready();
            let mut sum = 0;
            while consumer.sequence() + 1 < count as i64 {
                consumer
                    .poll_batch(wait, |e, _, _| sum += parse(e.as_bytes()))
                    .map_err(|e| e.to_string())?;
            }
            println!("{sum}");
        }
        other => return Err(format!("unknown mode {other}")),
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Err(e) = run(&args) {
        eprintln!("rust_peer: {e}");
        std::process::exit(1);
    }
}
