//! libFuzzer target: damage a real shared-memory segment with the fuzzer's bytes, then
//! `ShmRing::<u64>::open` it; a ring that opens is used (inspect, consumer, producer,
//! subscriber, worker, reap). Any panic, crash or hang is a finding.
//!
//! The coverage-guided sibling of `crates/seqflow-shm/tests/header_fuzz.rs` (the proptest that
//! runs in CI). Run from the repository root, on the stable toolchain:
//!
//! ```text
//! cargo install cargo-fuzz
//! RUSTC_BOOTSTRAP=1 cargo fuzz run open_header -- -max_total_time=600
//! ```
//!
//! Input: byte 0 and 1 choose how the segment is created (producer mode, capacity 1..=64,
//! consumer / producer / pool counts, wait kind); the rest is a list of operations, each an
//! opcode byte and its operands: overwrite header bytes, flip one header bit, overwrite bytes
//! of the layout area, resize the file. Known bugs are steered around as in the proptest (see
//! `avoid_known_bugs`), so the fuzzer does not stop at them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seqflow_shm::{ProducerMode, ShmOptions, ShmRing, WaitKind};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::Duration;

const HEADER: u64 = 512;

/// Reads operands from the input; zeros once it is exhausted.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn file_len(f: &File) -> u64 {
    f.metadata().map(|m| m.len()).unwrap_or(0)
}

fn write_at(f: &File, offset: u64, bytes: &[u8]) {
    let len = file_len(f);
    if offset < len {
        let n = bytes.len().min((len - offset) as usize);
        let _ = f.write_all_at(&bytes[..n], offset);
    }
}

fn read_word(f: &File, offset: u64, width: usize) -> u64 {
    let mut b = [0u8; 8];
    match f.read_at(&mut b[..width], offset) {
        Ok(n) if n == width => u64::from_le_bytes(b),
        _ => 0,
    }
}

/// Mirrors `avoid_known_bugs` in `crates/seqflow-shm/tests/header_fuzz.rs`: with the layout
/// the header now describes (u64 events), keep sequence words in range and registry
/// generations away from `u64::MAX`.
fn avoid_known_bugs(f: &File) {
    if !matches!(read_word(f, 28, 4), 1 | 2) {
        return;
    }
    let (capacity, consumers, producers, pools) = (
        read_word(f, 32, 8),
        read_word(f, 64, 4),
        read_word(f, 68, 4),
        read_word(f, 72, 4),
    );
    if !capacity.is_power_of_two()
        || capacity > 1 << 30
        || !(1..=4096).contains(&consumers)
        || !(1..=1024).contains(&producers)
        || pools > 256
    {
        return;
    }
    let gating = HEADER + 256;
    let registry = gating + consumers * 256;
    let pools_at = registry + consumers * 128 + producers * 128;
    let clamp_seq = |off: u64| {
        let v = read_word(f, off, 8) as i64;
        let c = v.clamp(-1, 1 << 40);
        if c != v {
            write_at(f, off, &c.to_le_bytes());
        }
    };
    clamp_seq(HEADER);
    for i in 0..consumers {
        clamp_seq(gating + i * 256);
        let generation = registry + i * 128 + 16;
        if read_word(f, generation, 8) > u64::MAX - 1024 {
            write_at(f, generation, &0u64.to_le_bytes());
        }
    }
    for i in 0..pools {
        clamp_seq(pools_at + i * 256 + 128);
    }
}

fn exercise(ring: &ShmRing<u64>) {
    let timeout = Some(Duration::from_millis(1));
    let _ = ring.inspect().to_string();
    if let Ok(other) = seqflow_shm::inspect(ring.name()) {
        let _ = other.to_string();
    }
    let mut consumer = ring.consumer("fuzz-consumer").ok();
    if let Some(c) = consumer.as_mut() {
        let next = c.sequence().saturating_add(1);
        if let Ok(hi) = c.wait_for(next, timeout) {
            let _ = c.get(hi);
            c.update_sequence(hi);
        }
    }
    let _ = ring.consumer_after("fuzz-after", &["fuzz-consumer"]);
    if let Ok(mut p) = ring.producer() {
        let _ = p.try_publish(|e, seq| *e = seq as u64);
    }
    if let Ok(mut s) = ring.subscriber("fuzz-subscriber") {
        let _ = s.next(timeout);
    }
    if let Ok(mut w) = ring.worker("fuzz-pool") {
        let _ = w.process(timeout, |e, _| *e);
    }
    let _ = ring.reap_dead_consumers();
    drop(consumer);
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let a = input.byte();
    let b = input.byte();
    let multi = a & 8 != 0;
    let options = ShmOptions {
        producer: if multi {
            ProducerMode::MultiCas
        } else {
            ProducerMode::Single
        },
        max_consumers: 1 + usize::from((a >> 4) & 3),
        max_producers: if multi { 1 + usize::from(b & 3) } else { 1 },
        max_pools: usize::from((b >> 2) % 3),
        wait: match (b >> 4) & 3 {
            0 => WaitKind::Yielding,
            1 => WaitKind::Sleeping(Duration::from_micros(20)),
            2 => WaitKind::BusySpin,
            _ => WaitKind::Futex,
        },
        ..Default::default()
    };
    let name = format!("/seqflow-fuzz-{}", std::process::id());
    let _ = seqflow_shm::remove(&name);
    let creator = ShmRing::<u64>::create(&name, 1 << (a % 7), options).expect("create");
    let _cleanup = creator.unlink_on_drop();
    let f = File::options()
        .read(true)
        .write(true)
        .open(format!("/dev/shm{name}"))
        .expect("segment file");
    while !input.is_empty() {
        match input.byte() % 4 {
            0 => {
                let offset = u64::from(input.u16()) % HEADER;
                let n = usize::from(input.byte() % 32) + 1;
                let bytes = input.bytes(n).to_vec();
                write_at(
                    &f,
                    offset,
                    &bytes[..bytes.len().min((HEADER - offset) as usize)],
                );
            }
            1 => {
                let offset = u64::from(input.u16()) % HEADER;
                let bit = input.byte() % 8;
                let old = read_word(&f, offset, 1) as u8;
                write_at(&f, offset, &[old ^ (1 << bit)]);
            }
            2 => {
                let len = file_len(&f);
                if len > HEADER {
                    let offset = HEADER + u64::from(input.u16()) % (len - HEADER);
                    let n = usize::from(input.byte() % 64) + 1;
                    let bytes = input.bytes(n).to_vec();
                    write_at(&f, offset, &bytes);
                }
            }
            _ => {
                let len = file_len(&f);
                let delta = i64::from(input.byte() as i8) * 512;
                let _ = f.set_len(len.saturating_add_signed(delta));
            }
        }
    }
    avoid_known_bugs(&f);
    drop(f);
    if let Ok(ring) = ShmRing::<u64>::open(&name, Duration::from_millis(2)) {
        exercise(&ring);
    }
    drop(creator);
});
