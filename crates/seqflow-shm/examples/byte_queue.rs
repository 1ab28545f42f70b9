//! A work queue of variable-size byte payloads across processes, with the slot size chosen at
//! run time: `byte_queue [MAX_PAYLOAD_BYTES] [EVENTS]` (defaults 1 MiB and 2000).
//!
//! The parent creates a ring of `DynByteSlot`s sized from the command line
//! (`ShmRing::create_bytes`), with a pool `"work"` declared so nothing published before a worker
//! attaches is lost, and starts three worker processes (this same program, supervised by
//! `Workers::spawn`). Each worker attaches by name (the slot size comes from the segment),
//! takes payloads from the pool (each goes to exactly one worker) and checks every byte against
//! the pattern its sequence implies. The parent publishes payloads of 0 bytes to the full slot
//! size, closes the ring, and exits 0 only if every worker exited 0 (each checked every byte it
//! got) and the pool handed out every payload with none lost.

use seqflow_shm::{
    worker_index, ConsumeError, DynByteSlot, ShmOptions, ShmRing, WaitKind, Workers,
};
use std::time::Duration;

const WORKERS: usize = 3;

/// Payload `seq` of a ring whose slots hold `max` bytes: lengths cycle through the whole range.
fn payload_len(seq: i64, max: usize) -> usize {
    match seq % 7 {
        0 => max,
        1 => 0,
        k => (seq as usize * 7919 * k as usize) % (max + 1),
    }
}

fn byte_at(seq: i64, i: usize) -> u8 {
    (seq as u8).wrapping_mul(13).wrapping_add(i as u8)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match worker_index() {
        Some(index) => worker(index, &args),
        None => run(&args),
    };
    if let Err(e) = result {
        eprintln!("byte_queue: {e}");
        std::process::exit(1);
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let number = |i: usize, default: usize| -> Result<usize, String> {
        args.get(i).map_or(Ok(default), |s| {
            s.parse()
                .map_err(|_| format!("argument {} must be a number, got {s:?}", i + 1))
        })
    };
    let max_payload = number(0, 1 << 20)?;
    let events = number(1, 2000)? as i64;
    let name = format!("/seqflow-example-bytes-{}", std::process::id());
    let options = ShmOptions {
        wait: WaitKind::Futex,
        declared_pools: vec!["work".into()],
        ..Default::default()
    };
    let ring = ShmRing::<DynByteSlot>::create_bytes(&name, 16, max_payload, options)
        .map_err(|e| e.to_string())?;
    let _cleanup = ring.unlink_on_drop();
    let max = ring.max_payload();
    println!("ring {name}: 16 slots of {max} payload bytes");
    let workers = Workers::spawn(WORKERS, &[&name]).map_err(|e| e.to_string())?;

    let (mut bytes, mut buffer) = (0u64, Vec::new());
    let mut producer = ring.producer().map_err(|e| e.to_string())?;
    for seq in 0..events {
        buffer.clear();
        buffer.extend((0..payload_len(seq, max)).map(|i| byte_at(seq, i)));
        bytes += buffer.len() as u64;
        producer
            .publish_timeout(Duration::from_secs(60), |slot, _| {
                slot.set(&buffer).expect("at most max_payload bytes")
            })
            .map_err(|e| format!("publish {seq}: {e}"))?;
    }
    ring.close();
    workers
        .wait(Duration::from_secs(120))
        .map_err(|e| e.to_string())?;
    // Every worker exited 0: each checked every byte it got. Did they get everything?
    let info = ring.inspect();
    if info.lost_pool_events != 0 {
        return Err(format!("{} events lost", info.lost_pool_events));
    }
    let pool = info
        .pools
        .iter()
        .find(|p| p.name == "work")
        .ok_or("no pool")?;
    if pool.work_cursor != events - 1 {
        return Err(format!(
            "the pool took up to {}, not {}",
            pool.work_cursor,
            events - 1
        ));
    }
    println!("{events} payloads ({bytes} bytes) handled by {WORKERS} worker processes, every byte checked");
    Ok(())
}

fn worker(index: usize, args: &[String]) -> Result<(), String> {
    let name = args.first().ok_or("no ring name")?;
    let ring =
        ShmRing::<DynByteSlot>::open(name, Duration::from_secs(10)).map_err(|e| e.to_string())?;
    let mut w = ring.worker("work").map_err(|e| e.to_string())?;
    let (mut count, mut bytes, max) = (0u64, 0u64, ring.max_payload());
    loop {
        let mut bad = None;
        let taken = w.process_batch(8, Some(Duration::from_secs(60)), |slot, seq, _| {
            let payload = slot.as_bytes();
            let whole = payload.len() == payload_len(seq, max)
                && payload
                    .iter()
                    .enumerate()
                    .all(|(i, &b)| b == byte_at(seq, i));
            if !whole {
                bad.get_or_insert(seq);
            }
            count += 1;
            bytes += payload.len() as u64;
        });
        if let Some(seq) = bad {
            return Err(format!("worker {index}: payload {seq} is damaged"));
        }
        match taken {
            Ok(_) => {}
            Err(ConsumeError::Closed { .. }) => break,
            Err(e) => return Err(format!("worker {index}: {e}")),
        }
    }
    println!("worker {index}: {count} payloads, {bytes} bytes");
    Ok(())
}
