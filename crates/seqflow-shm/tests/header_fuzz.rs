//! Fuzzing `ShmRing::open` in-process with proptest: create a real segment, damage it, open it.
//!
//! Each case creates a segment (random producer mode, capacity 1..=64, consumer / producer /
//! pool counts, wait kind) under a unique name that is unlinked even when the case fails, keeps
//! the creator attached (so the segment is live, not stale), then applies 1-4 mutations:
//!
//! - a bit flip in one header field (the most valuable: one field wrong, everything else
//!   right, so validation has to get past the earlier checks to catch it);
//! - one header field set to an "interesting" value (0, 1, -1, `u32::MAX`, powers of two, the
//!   old value plus or minus one, ...);
//! - random bytes over part of the header, or over the whole of it;
//! - a consistent re-layout: every size field, offset and the total size rewritten as this
//!   build would lay out *other* parameters, and the file resized to match, so the header is
//!   valid but the memory behind it holds the old layout's state (the deepest reach: `open`
//!   succeeds and the handles run over foreign bytes);
//! - a word of runtime state after the header (cursor, gating slots, registry entries, producer
//!   slots, pool cursors, availability entries) set to an interesting value, or random bytes
//!   anywhere in the layout area;
//! - the file truncated or extended.
//!
//! Then `ShmRing::<u64>::open` with a short timeout must return a typed error or a ring; for a
//! ring, `inspect`, a consumer (wait with a timeout, `get`, `update_sequence`), a producer's
//! `try_publish`, a subscriber, a pool worker and a reap must each return (a value or a typed
//! error) without panicking, hanging or crashing. Proptest reports any panic with the minimal
//! mutation list; a crash (SIGSEGV/SIGBUS) or hang fails the test binary.
//!
//! The four bugs this property found (see the regression tests at the end) are fixed; nothing is
//! steered around any more.
//!
//! Case count: `SEQFLOW_FUZZ_CASES` (default 256), e.g.
//! `SEQFLOW_FUZZ_CASES=20000 cargo test --release -p seqflow-shm --test header_fuzz`.
//! `SEQFLOW_FUZZ_STATS=1` prints each case's outcome (`fuzz outcome: Ok`, `... BadMagic`, ...)
//! for a tally with `--nocapture 2>&1 | grep 'fuzz outcome' | sort | uniq -c`.

mod common;

use common::Seg;
use proptest::prelude::*;
use seqflow_shm::{ProducerMode, ShmError, ShmOptions, ShmRing, WaitKind};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::time::Duration;

/// How long `open` may wait for READY (a mutated init state makes it wait that long).
const OPEN_TIMEOUT: Duration = Duration::from_millis(5);
/// How long the handles of a successfully opened ring may wait.
const OP_TIMEOUT: Duration = Duration::from_millis(1);

const HEADER_SIZE: u64 = 512;

/// The header words: (name, byte offset, width in bytes). Mirrors `header.rs` (`repr(C)`:
/// ident block at 0, offsets at 128, futex word at 256, status at 384); checked against a real
/// segment by `layout_model_matches_the_crate`.
const FIELDS: &[(&str, u64, u8)] = &[
    ("magic", 0, 8),
    ("version", 8, 4),
    ("header_size", 12, 4),
    ("total_size", 16, 8),
    ("init_state", 24, 4),
    ("producer_mode", 28, 4),
    ("capacity", 32, 8),
    ("event_size", 40, 8),
    ("event_align", 48, 8),
    ("fingerprint", 56, 8),
    ("max_consumers", 64, 4),
    ("max_producers", 68, 4),
    ("max_pools", 72, 4),
    ("wait_kind", 76, 4),
    ("wait_param", 80, 8),
    ("creator_pid", 88, 4),
    ("reserved", 92, 4),
    ("created_unix_ms", 96, 8),
    ("off_cursor", 128, 8),
    ("off_high_water", 136, 8),
    ("off_gating", 144, 8),
    ("off_registry", 152, 8),
    ("off_producers", 160, 8),
    ("off_pools", 168, 8),
    ("off_availability", 176, 8),
    ("off_events", 184, 8),
    ("futex_seq", 256, 4),
    ("futex_waiters", 260, 4),
    ("abandoned_epoch", 384, 8),
    ("reaped_consumers", 392, 8),
    ("abandoned_claims", 400, 8),
];

/// Index of "init_state" in `FIELDS`.
const INIT_STATE: usize = 4;

// ---------------------------------------------------------------------------------------------
// A model of the layout (to build consistent headers for other parameters)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Params {
    capacity: u64,
    max_consumers: u64,
    max_producers: u64,
    max_pools: u64,
    multi: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    cursor: u64,
    high_water: u64,
    gating: u64,
    registry: u64,
    producers: u64,
    pools: u64,
    availability: u64,
    events: u64,
    total: u64,
}

fn round_up(v: u64, to: u64) -> u64 {
    v.div_ceil(to) * to
}

/// The layout of `layout.rs` for `u64` events (size and alignment 8).
fn layout(p: &Params) -> Layout {
    let cursor = HEADER_SIZE;
    let high_water = cursor + 128;
    let gating = high_water + 128;
    let registry = gating + p.max_consumers * 256;
    let producers = registry + p.max_consumers * 128;
    let pools = producers + p.max_producers * 128;
    let mut off = pools + p.max_pools * 256;
    let availability = if p.multi {
        let at = off;
        off += round_up(p.capacity, 128);
        at
    } else {
        0
    };
    let events = round_up(off, 128);
    let total = round_up(events + p.capacity * 8, 4096);
    Layout {
        cursor,
        high_water,
        gating,
        registry,
        producers,
        pools,
        availability,
        events,
        total,
    }
}

// ---------------------------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------------------------

/// A value to store, relative to what the word holds.
#[derive(Debug, Clone, Copy)]
enum Value {
    Zero,
    One,
    Two,
    Three,
    MinusOne,
    U32Max,
    I64Max,
    I64Min,
    Pow2(u8),
    OldPlus(u8),
    OldMinus(u8),
    OldTimes2,
    OurPid,
    Raw(u64),
}

impl Value {
    fn resolve(self, old: u64) -> u64 {
        match self {
            Value::Zero => 0,
            Value::One => 1,
            Value::Two => 2,
            Value::Three => 3,
            Value::MinusOne => u64::MAX,
            Value::U32Max => u64::from(u32::MAX),
            Value::I64Max => i64::MAX as u64,
            Value::I64Min => i64::MIN as u64,
            Value::Pow2(k) => 1u64 << (k % 64),
            Value::OldPlus(k) => old.wrapping_add(u64::from(k)),
            Value::OldMinus(k) => old.wrapping_sub(u64::from(k)),
            Value::OldTimes2 => old.wrapping_mul(2),
            Value::OurPid => u64::from(std::process::id()),
            Value::Raw(v) => v,
        }
    }
}

/// A word of runtime state after the header, located from the segment's original layout.
#[derive(Debug, Clone, Copy)]
enum Runtime {
    Cursor,
    HighWater,
    GatingSequence(u8),
    GatingState(u8),
    RegistryState(u8),
    RegistryPid(u8),
    RegistryKind(u8),
    RegistryGeneration(u8),
    RegistryLabelLen(u8),
    ProducerOwner(u8),
    ProducerState(u8),
    ProducerStart(u8),
    ProducerEnd(u8),
    PoolState(u8),
    PoolWork(u8),
    Availability(u8),
}

impl Runtime {
    /// (offset, width) in a segment laid out as `l` for `p`; `None` when the item does not exist.
    fn locate(self, p: &Params, l: &Layout) -> Option<(u64, u8)> {
        let within = |i: u8, n: u64| (u64::from(i) < n).then_some(u64::from(i));
        Some(match self {
            Runtime::Cursor => (l.cursor, 8),
            Runtime::HighWater => (l.high_water, 4),
            Runtime::GatingSequence(i) => (l.gating + within(i, p.max_consumers)? * 256, 8),
            Runtime::GatingState(i) => (l.gating + within(i, p.max_consumers)? * 256 + 128, 4),
            Runtime::RegistryState(i) => (l.registry + within(i, p.max_consumers)? * 128, 4),
            Runtime::RegistryPid(i) => (l.registry + within(i, p.max_consumers)? * 128 + 4, 4),
            Runtime::RegistryKind(i) => (l.registry + within(i, p.max_consumers)? * 128 + 8, 4),
            Runtime::RegistryGeneration(i) => {
                (l.registry + within(i, p.max_consumers)? * 128 + 16, 8)
            }
            Runtime::RegistryLabelLen(i) => {
                (l.registry + within(i, p.max_consumers)? * 128 + 24, 4)
            }
            Runtime::ProducerOwner(i) => (l.producers + within(i, p.max_producers)? * 128, 4),
            Runtime::ProducerState(i) => (l.producers + within(i, p.max_producers)? * 128 + 4, 4),
            Runtime::ProducerStart(i) => (l.producers + within(i, p.max_producers)? * 128 + 16, 8),
            Runtime::ProducerEnd(i) => (l.producers + within(i, p.max_producers)? * 128 + 24, 8),
            Runtime::PoolState(i) => (l.pools + within(i, p.max_pools)? * 256, 4),
            Runtime::PoolWork(i) => (l.pools + within(i, p.max_pools)? * 256 + 128, 8),
            Runtime::Availability(i) => {
                if !p.multi {
                    return None;
                }
                (l.availability + within(i, p.capacity)?, 1)
            }
        })
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit { field: usize, bit: u8 },
    SetField { field: usize, value: Value },
    HeaderBytes { offset: u16, bytes: Vec<u8> },
    WholeHeader(Vec<u8>),
    Relayout { to: Params },
    RuntimeWord { word: Runtime, value: Value },
    LayoutBytes { at: u32, bytes: Vec<u8> },
    Resize(Resize),
}

#[derive(Debug, Clone, Copy)]
enum Resize {
    To(u64),
    PlusPages(u8),
    MinusPages(u8),
    MinusBytes(u16),
}

fn value_strategy() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Zero),
        Just(Value::One),
        Just(Value::Two),
        Just(Value::Three),
        Just(Value::MinusOne),
        Just(Value::U32Max),
        Just(Value::I64Max),
        Just(Value::I64Min),
        any::<u8>().prop_map(Value::Pow2),
        (1u8..=8).prop_map(Value::OldPlus),
        (1u8..=8).prop_map(Value::OldMinus),
        Just(Value::OldTimes2),
        Just(Value::OurPid),
        any::<u64>().prop_map(Value::Raw),
    ]
}

fn runtime_strategy() -> impl Strategy<Value = Runtime> {
    let i = 0u8..4;
    prop_oneof![
        Just(Runtime::Cursor),
        Just(Runtime::HighWater),
        i.clone().prop_map(Runtime::GatingSequence),
        i.clone().prop_map(Runtime::GatingState),
        i.clone().prop_map(Runtime::RegistryState),
        i.clone().prop_map(Runtime::RegistryPid),
        i.clone().prop_map(Runtime::RegistryKind),
        i.clone().prop_map(Runtime::RegistryGeneration),
        i.clone().prop_map(Runtime::RegistryLabelLen),
        i.clone().prop_map(Runtime::ProducerOwner),
        i.clone().prop_map(Runtime::ProducerState),
        i.clone().prop_map(Runtime::ProducerStart),
        i.clone().prop_map(Runtime::ProducerEnd),
        i.clone().prop_map(Runtime::PoolState),
        i.clone().prop_map(Runtime::PoolWork),
        (0u8..64).prop_map(Runtime::Availability),
    ]
}

fn params_strategy() -> impl Strategy<Value = Params> {
    (0u32..=6, 1u64..=4, 1u64..=4, 0u64..=2, any::<bool>()).prop_map(
        |(cap, consumers, producers, pools, multi)| Params {
            capacity: 1 << cap,
            max_consumers: consumers,
            max_producers: if multi { producers } else { 1 },
            max_pools: pools,
            multi,
        },
    )
}

fn mutation_strategy() -> impl Strategy<Value = Mutation> {
    let field = 0..FIELDS.len();
    prop_oneof![
        6 => (field.clone(), 0u8..64).prop_map(|(field, bit)| Mutation::FlipBit { field, bit }),
        4 => (field, value_strategy()).prop_map(|(field, value)| Mutation::SetField { field, value }),
        2 => (0u16..512, prop::collection::vec(any::<u8>(), 1..=32))
            .prop_map(|(offset, bytes)| Mutation::HeaderBytes { offset, bytes }),
        1 => prop::collection::vec(any::<u8>(), 512).prop_map(Mutation::WholeHeader),
        2 => params_strategy().prop_map(|to| Mutation::Relayout { to }),
        4 => (runtime_strategy(), value_strategy())
            .prop_map(|(word, value)| Mutation::RuntimeWord { word, value }),
        1 => (any::<u32>(), prop::collection::vec(any::<u8>(), 1..=64))
            .prop_map(|(at, bytes)| Mutation::LayoutBytes { at, bytes }),
        1 => prop_oneof![
            prop_oneof![Just(0u64), Just(100), Just(511), Just(512), Just(4096)].prop_map(Resize::To),
            (1u8..=4).prop_map(Resize::PlusPages),
            (1u8..=4).prop_map(Resize::MinusPages),
            (1u16..=4095).prop_map(Resize::MinusBytes),
        ]
        .prop_map(Mutation::Resize),
    ]
}

/// How the segment is created.
#[derive(Debug, Clone)]
struct Creation {
    params: Params,
    wait: u8,
}

fn creation_strategy() -> impl Strategy<Value = Creation> {
    (params_strategy(), 0u8..4).prop_map(|(params, wait)| Creation { params, wait })
}

fn wait_kind(code: u8) -> WaitKind {
    match code {
        0 => WaitKind::Yielding,
        1 => WaitKind::Sleeping(Duration::from_micros(20)),
        2 => WaitKind::BusySpin,
        _ => WaitKind::Futex,
    }
}

// ---------------------------------------------------------------------------------------------
// Applying mutations to the segment file
// ---------------------------------------------------------------------------------------------

fn segment_file(name: &str) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/dev/shm{name}"))
        .expect("the segment file")
}

fn read_word(f: &File, offset: u64, width: u8) -> u64 {
    let mut b = [0u8; 8];
    match f.read_at(&mut b[..width as usize], offset) {
        Ok(n) if n == width as usize => u64::from_le_bytes(b),
        _ => 0, // beyond a truncated end
    }
}

fn write_word(f: &File, offset: u64, width: u8, value: u64) {
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if offset + u64::from(width) > len {
        return; // never extend the file by accident (resizing is its own mutation)
    }
    f.write_all_at(&value.to_le_bytes()[..width as usize], offset)
        .expect("write into the segment");
}

fn write_bytes(f: &File, offset: u64, bytes: &[u8]) {
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if offset >= len {
        return;
    }
    let n = bytes.len().min((len - offset) as usize);
    f.write_all_at(&bytes[..n], offset)
        .expect("write into the segment");
}

/// Rewrite the header as this build would lay out `to` (sizes, offsets, total), and resize the
/// file to match.
fn relayout(f: &File, to: &Params) {
    let l = layout(to);
    let set = |name: &str, v: u64| {
        let &(_, off, w) = FIELDS.iter().find(|(n, _, _)| *n == name).unwrap();
        write_word(f, off, w, v);
    };
    f.set_len(l.total).expect("resize");
    set("producer_mode", if to.multi { 2 } else { 1 });
    set("capacity", to.capacity);
    set("max_consumers", to.max_consumers);
    set("max_producers", to.max_producers);
    set("max_pools", to.max_pools);
    set("total_size", l.total);
    set("off_cursor", l.cursor);
    set("off_high_water", l.high_water);
    set("off_gating", l.gating);
    set("off_registry", l.registry);
    set("off_producers", l.producers);
    set("off_pools", l.pools);
    set("off_availability", l.availability);
    set("off_events", l.events);
}

fn apply(f: &File, created: &Params, m: &Mutation) {
    let original = layout(created);
    match m {
        Mutation::FlipBit { field, bit } => {
            let (_, off, w) = FIELDS[*field];
            let old = read_word(f, off, w);
            write_word(f, off, w, old ^ (1u64 << (bit % (w * 8))));
        }
        Mutation::SetField { field, value } => {
            let (_, off, w) = FIELDS[*field];
            let old = read_word(f, off, w);
            write_word(f, off, w, value.resolve(old));
        }
        Mutation::HeaderBytes { offset, bytes } => {
            let offset = u64::from(*offset);
            let n = bytes.len().min((HEADER_SIZE - offset) as usize);
            write_bytes(f, offset, &bytes[..n]);
        }
        Mutation::WholeHeader(bytes) => write_bytes(f, 0, bytes),
        Mutation::Relayout { to } => relayout(f, to),
        Mutation::RuntimeWord { word, value } => {
            if let Some((off, w)) = word.locate(created, &original) {
                let old = read_word(f, off, w);
                write_word(f, off, w, value.resolve(old));
            }
        }
        Mutation::LayoutBytes { at, bytes } => {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            if len > HEADER_SIZE {
                let offset = HEADER_SIZE + u64::from(*at) % (len - HEADER_SIZE);
                write_bytes(f, offset, bytes);
            }
        }
        Mutation::Resize(r) => {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let new = match r {
                Resize::To(n) => *n,
                Resize::PlusPages(k) => len + 4096 * u64::from(*k),
                Resize::MinusPages(k) => len.saturating_sub(4096 * u64::from(*k)),
                Resize::MinusBytes(k) => len.saturating_sub(u64::from(*k)),
            };
            f.set_len(new).expect("resize");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The property
// ---------------------------------------------------------------------------------------------

/// Use a ring opened over damaged memory: every call must return.
fn exercise(ring: &ShmRing<u64>) {
    let info = ring.inspect();
    let _ = info.to_string();
    if let Ok(other) = seqflow_shm::inspect(ring.name()) {
        let _ = other.to_string();
    }
    let _ = format!("{ring:?}");
    let _ = (
        ring.capacity(),
        ring.published(),
        ring.producer_mode(),
        ring.wait_kind(),
    );

    let mut consumer = ring.consumer("fuzz-consumer").ok();
    if let Some(c) = consumer.as_mut() {
        let next = c.sequence().saturating_add(1);
        if let Ok(hi) = c.wait_for(next, Some(OP_TIMEOUT)) {
            let _ = c.get(hi);
            let _ = c.update_sequence(hi);
        }
        let _ = format!("{c:?}");
    }
    let _ = ring.consumer_after("fuzz-after", &["fuzz-consumer"]);
    if let Ok(mut p) = ring.producer() {
        let _ = p.try_publish(|e, seq| *e = seq as u64);
        let _ = p.publish_timeout(OP_TIMEOUT, |e, seq| *e = seq as u64);
    }
    if let Ok(mut s) = ring.subscriber("fuzz-subscriber") {
        let _ = s.next_timeout(Some(OP_TIMEOUT));
    }
    if let Ok(mut w) = ring.worker("fuzz-pool") {
        let _ = w.process(Some(OP_TIMEOUT), |e, _| *e);
    }
    let _ = ring.reap_dead_consumers();
    drop(consumer);
}

fn create(seg: &Seg, c: &Creation) -> ShmRing<u64> {
    let p = &c.params;
    ShmRing::<u64>::create(
        &seg.name,
        p.capacity as usize,
        ShmOptions {
            producer: if p.multi {
                ProducerMode::MultiCas
            } else {
                ProducerMode::Single
            },
            max_consumers: p.max_consumers as usize,
            max_producers: p.max_producers as usize,
            max_pools: p.max_pools as usize,
            wait: wait_kind(c.wait),
            ..Default::default()
        },
    )
    .expect("create the segment")
}

fn fuzz_one(creation: &Creation, mutations: &[Mutation]) -> Result<(), TestCaseError> {
    let seg = Seg::new("fuzz");
    // The creator stays attached (a live segment, not a stale one) but never touches the
    // segment after this: a truncated file must not fault it.
    let creator = create(&seg, creation);
    {
        let f = segment_file(&seg.name);
        for m in mutations {
            apply(&f, &creation.params, m);
        }
    }
    let opened = ShmRing::<u64>::open(&seg.name, OPEN_TIMEOUT);
    if std::env::var_os("SEQFLOW_FUZZ_STATS").is_some() {
        let outcome = match &opened {
            Ok(_) => "Ok".to_owned(),
            Err(e) => {
                let debug = format!("{e:?}");
                let variant = debug.split([' ', '{', '(']).next().unwrap_or("").to_owned();
                match e {
                    ShmError::CorruptHeader { field, .. }
                    | ShmError::OffsetMismatch { field, .. } => {
                        format!("{variant}({field})")
                    }
                    _ => variant,
                }
            }
        };
        eprintln!("fuzz outcome: {outcome}");
    }
    match opened {
        Ok(ring) => exercise(&ring),
        Err(e) => {
            // Typed, named, printable.
            let text = e.to_string();
            prop_assert!(!text.is_empty());
            if !matches!(e, ShmError::Io { .. } | ShmError::InvalidName { .. }) {
                prop_assert!(text.contains(&seg.name), "error without the name: {}", text);
            }
        }
    }
    drop(creator);
    Ok(())
}

fn cases() -> u32 {
    std::env::var("SEQFLOW_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn damaged_segments_open_to_a_typed_error_or_a_usable_ring(
        creation in creation_strategy(),
        mutations in prop::collection::vec(mutation_strategy(), 1..=4),
    ) {
        fuzz_one(&creation, &mutations)?;
    }

    /// Flips confined to the ident and offsets blocks: everything validation reads.
    #[test]
    fn single_bit_flips_in_validated_fields_are_refused_or_harmless(
        creation in creation_strategy(),
        field in 0usize..26,
        bit in 0u8..64,
    ) {
        fuzz_one(&creation, &[Mutation::FlipBit { field, bit }])?;
    }
}

/// The test's layout model and field table agree with the crate: a re-layout to the parameters
/// the segment was created with changes no byte, and the recorded values are where the table
/// says.
#[test]
fn layout_model_matches_the_crate() {
    for multi in [false, true] {
        for cap in [1u64, 2, 64] {
            let params = Params {
                capacity: cap,
                max_consumers: 3,
                max_producers: if multi { 2 } else { 1 },
                max_pools: 2,
                multi,
            };
            let seg = Seg::new("model");
            let ring = create(&seg, &Creation { params, wait: 3 });
            let f = segment_file(&seg.name);
            let mut before = vec![0u8; HEADER_SIZE as usize];
            f.read_exact_at(&mut before, 0).unwrap();
            let size_before = f.metadata().unwrap().len();
            relayout(&f, &params);
            let mut after = vec![0u8; HEADER_SIZE as usize];
            f.read_exact_at(&mut after, 0).unwrap();
            assert_eq!(before, after, "multi {multi} capacity {cap}");
            assert_eq!(size_before, layout(&params).total);
            assert_eq!(read_word(&f, 32, 8), cap);
            assert_eq!(read_word(&f, 24, 4), 2, "READY");
            assert_eq!(read_word(&f, 88, 4), std::process::id() as u64);
            // A re-layout to other parameters opens (the header is consistent).
            let other = Params {
                capacity: cap * 2,
                max_consumers: 4,
                ..params
            };
            relayout(&f, &other);
            let opened = ShmRing::<u64>::open(&seg.name, OPEN_TIMEOUT).unwrap();
            assert_eq!(opened.capacity() as u64, cap * 2);
            exercise(&opened);
            drop(ring);
        }
    }
}

/// A mutated init state makes `open` wait for READY, then give up (the creator is alive).
#[test]
fn init_state_mutations_time_out_or_are_refused() {
    for value in [Value::Zero, Value::One, Value::Three, Value::MinusOne] {
        let seg = Seg::new("state");
        let creation = Creation {
            params: Params {
                capacity: 8,
                max_consumers: 2,
                max_producers: 1,
                max_pools: 1,
                multi: false,
            },
            wait: 3,
        };
        let _ring = create(&seg, &creation);
        apply(
            &segment_file(&seg.name),
            &creation.params,
            &Mutation::SetField {
                field: INIT_STATE,
                value,
            },
        );
        match ShmRing::<u64>::open(&seg.name, OPEN_TIMEOUT) {
            Err(ShmError::NotReady { .. }) | Err(ShmError::CorruptHeader { .. }) => {}
            other => panic!("{value:?}: {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Bugs found by fuzzing (minimal reproductions; all fixed, kept as regression tests)
// ---------------------------------------------------------------------------------------------

/// Where the test's layout model puts things, for the reproductions below.
fn small(multi: bool) -> (Seg, ShmRing<u64>, Params) {
    let params = Params {
        capacity: 8,
        max_consumers: 2,
        max_producers: if multi { 2 } else { 1 },
        max_pools: 1,
        multi,
    };
    let seg = Seg::new("bug");
    let ring = create(&seg, &Creation { params, wait: 3 });
    (seg, ring, params)
}

/// The control for the next test: a ring that never had a consumer detaches when dropped.
#[test]
fn dropping_a_ring_without_consumers_detaches() {
    let (seg, ring, _) = small(false);
    drop(ring);
    assert!(seqflow_shm::remove_if_stale(&seg.name).unwrap());
}

/// Found by the cargo-fuzz target's leak sanitizer: `Registration::register` calls
/// `GatingRegistration::leak`, which `mem::forget`s the registration *including its
/// `GatingTable` clone*, whose `OwnedRef`s hold the `Arc<Mapping>`. The mapping of every ring
/// that ever registered a consumer, subscriber or worker is therefore never unmapped and its
/// descriptor never closed: the process keeps the attach lock after dropping every handle, so
/// the segment never becomes stale, and each open/register/drop cycle leaks a mapping and a
/// file descriptor.
#[test]
fn dropping_every_handle_detaches_after_a_consumer_registered() {
    let (seg, ring, _) = small(false);
    drop(ring.consumer("c").unwrap());
    drop(ring);
    assert!(
        seqflow_shm::remove_if_stale(&seg.name).unwrap(),
        "every handle is gone, yet the segment still counts as attached"
    );
}

/// Found by the proptest: `Registration::register` computes the new generation as
/// `entry.generation.fetch_add(1) + 1`; a generation word of `u64::MAX` in the segment (any
/// foreign or corrupt bytes, e.g. a consistent header over another layout's memory) makes the
/// `+ 1` overflow: a panic in debug builds.
#[test]
fn registering_over_a_maximal_generation_word_does_not_panic() {
    let (seg, ring, params) = small(false);
    let f = segment_file(&seg.name);
    for i in 0..params.max_consumers {
        write_word(&f, layout(&params).registry + i * 128 + 16, 8, u64::MAX);
    }
    assert!(ring.consumer("c").is_ok());
}

/// Found by the proptest: `inspect` does unchecked
/// arithmetic on the cursor read from the segment (`inspect.rs`, `inspect_segment`:
/// `gating.minimum(cursor) + 1` and `cursor + 1`), so `seqflow inspect` panics on a segment
/// whose cursor word is `i64::MAX`, the kind of segment it exists to diagnose.
#[test]
fn inspect_survives_a_maximal_cursor() {
    let (seg, ring, params) = small(true);
    write_word(
        &segment_file(&seg.name),
        layout(&params).cursor,
        8,
        i64::MAX as u64,
    );
    let _ = seqflow_shm::inspect(&seg.name);
    let _ = ring.inspect();
}

/// Found by the proptest: the claim arithmetic of both
/// sequencers trusts the cursor read from the segment: `claimed + n` (`single.rs`,
/// `SingleClaimer::claim_inner`) overflows on a cursor of `i64::MAX`, and `next - capacity`
/// (`multi.rs`, `claim_cas`) on a cursor of `i64::MIN`. A producer attached to such a segment
/// panics (debug) or claims wrapped, negative sequences (release) instead of being refused.
#[test]
fn producers_survive_extreme_cursors() {
    for (multi, cursor) in [(false, i64::MAX), (true, i64::MIN)] {
        let (seg, ring, params) = small(multi);
        write_word(
            &segment_file(&seg.name),
            layout(&params).cursor,
            8,
            cursor as u64,
        );
        let opened = ShmRing::<u64>::open(&seg.name, OPEN_TIMEOUT).unwrap();
        if let Ok(mut p) = opened.producer() {
            let _ = p.try_publish(|e, _| *e = 1);
        }
        drop(ring);
    }
}

/// A multi-producer segment whose cursor word is `i64::MAX` (no claim can get there) and whose
/// last lap holds no mark of it: `published()` answers from the marks (the cursor re-read where
/// its scan stops must not count a lap past `i64::MAX` as claimed), and nothing panics.
#[test]
fn published_over_a_maximal_multi_cursor() {
    let (seg, ring, params) = small(true);
    let f = segment_file(&seg.name);
    // Marks of the lap before (MAX >> 3 has low byte 0xff: mark -1; -2 is the lap before).
    for i in 0..params.capacity {
        write_word(&f, layout(&params).availability + i, 1, 0xfe);
    }
    write_word(&f, layout(&params).cursor, 8, i64::MAX as u64);
    let published = ring.published();
    eprintln!("published() = i64::MAX - {}", i64::MAX - published);
    assert!(
        published < i64::MAX - 7,
        "published() = {published} with no mark set"
    );
    let last = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ring.read_last()));
    assert!(last.is_ok(), "read_last panicked");
    let len = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ring.len()));
    assert!(len.is_ok(), "len panicked");
    assert!(seqflow_shm::inspect(&seg.name).is_ok());
    // Every mark of the last lap set to `i64::MAX`'s lap (-1): the last lap reads as published
    // up to the end of the sequence space, and reading it must not overflow either.
    for i in 0..params.capacity {
        write_word(&f, layout(&params).availability + i, 1, 0xff);
    }
    let last = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ring.read_last()));
    assert!(last.is_ok(), "read_last at i64::MAX panicked");
}
