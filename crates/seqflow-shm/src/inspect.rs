//! Looking at a segment from outside: [`inspect`], [`remove`], [`remove_if_stale`] (what
//! `seqflow inspect NAME` and `seqflow rm NAME` call), and the [`Inspection`] they report.

use crate::liveness::{anyone_attached, holder_alive, pid_exists, CONSUMER_BASE, PRODUCER_BASE};
use crate::open::{open_segment, Attach};
use crate::producer_slot::producer_state_name;
use crate::registry::{ConsumerKind, ACTIVE, DORMANT, FREE, POOL_ACTIVE, REGISTERING};
use crate::segment::Segment;
use crate::stale::{probe_existing, remove_stale_segment, Existing};
use crate::{ProducerMode, SegmentName, ShmError, WaitKind};
use seqflow_sequence::sync::atomic::Ordering;
use seqflow_sequencer::{AvailabilityBuffer, SequenceRange};
use std::fmt;
use std::time::Duration;

/// A snapshot of a segment (values read one by one, not atomically as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Inspection {
    /// The segment name.
    pub name: String,
    /// Header fields.
    pub header: HeaderInfo,
    /// Whether any process is attached (or the creator is initialising).
    pub attached: bool,
    /// The producer cursor (highest published, single producer; highest claimed, multi).
    pub cursor: i64,
    /// The highest sequence published contiguously.
    pub published: i64,
    /// Consumer slots in use.
    pub consumers: Vec<ConsumerInfo>,
    /// Producer slots in use.
    pub producers: Vec<ProducerInfo>,
    /// Worker pools.
    pub pools: Vec<PoolInfo>,
    /// Dead consumers released so far.
    pub reaped_consumers: u64,
    /// Dead producers' claims released so far.
    pub abandoned_claims: u64,
    /// Pool events lost because their worker died or panicked while handling them.
    pub lost_pool_events: u64,
    /// The last sequence if the ring was closed ([`ShmRing::close`](crate::ShmRing::close)).
    pub closed_at: Option<i64>,
    /// The last sequence readers of the closed ring get: `closed_at`, or less when the single
    /// producer left or died holding a claim inside it, which nobody can publish any more (as
    /// [`ShmRing::closed_at`](crate::ShmRing::closed_at) answers).
    pub readers_end: Option<i64>,
    /// The pid that halted the ring everywhere ([`ShmRing::halt_all`](crate::ShmRing::halt_all)).
    pub halted_by: Option<u32>,
    /// Threads sleeping on the futex word (including any killed while sleeping).
    pub futex_waiters: u32,
}

/// The header of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeaderInfo {
    /// Layout version.
    pub version: u32,
    /// Total size in bytes.
    pub total_size: u64,
    /// Ring capacity.
    pub capacity: u64,
    /// Event size in bytes.
    pub event_size: u64,
    /// Event alignment.
    pub event_align: u64,
    /// Event-type fingerprint.
    pub fingerprint: u64,
    /// Producer mode.
    pub producer_mode: ProducerMode,
    /// Wait strategy.
    pub wait: WaitKind,
    /// Consumer slots.
    pub max_consumers: u32,
    /// Producer slots.
    pub max_producers: u32,
    /// Worker pool slots.
    pub max_pools: u32,
    /// The creator's pid.
    pub creator_pid: u32,
    /// Whether the creator may still be alive: some process holds the segment's attach lock and
    /// a process with the creator's pid exists. The lock decides: a killed creator's lock is
    /// released at once, while its pid may linger (a zombie) until its parent reaps it.
    pub creator_alive: bool,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_unix_ms: u64,
}

/// One consumer slot in use.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerInfo {
    /// Slot index.
    pub index: usize,
    /// Name.
    pub name: String,
    /// Kind (`None` for a slot held outside the registry, e.g. by an in-process pipeline).
    pub kind: Option<ConsumerKind>,
    /// Owner pid (0 if unknown).
    pub pid: u32,
    /// Its sequence.
    pub sequence: i64,
    /// `published - sequence`.
    pub lag: i64,
    /// Whether it holds producers back.
    pub gating: bool,
    /// Whether its owner is alive.
    pub alive: bool,
    /// The names of the stages it runs after (the stage graph), as registered.
    pub after: Vec<String>,
    /// Declared at creation (or the dormant placeholder of a declared pool): it keeps gating
    /// while no process is attached as it.
    pub declared: bool,
    /// Declared and nobody attached: the producer keeps its events until a process attaches as
    /// it or it is released (`seqflow release`).
    pub absent: bool,
}

/// One producer slot in use.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProducerInfo {
    /// Slot index.
    pub index: usize,
    /// Owner pid.
    pub pid: u32,
    /// "idle", "claiming", "claimed", "abandoned".
    pub state: &'static str,
    /// The claim outstanding: claimed and not yet published, or abandoned by a dead producer.
    pub claimed: Option<SequenceRange>,
    /// Whether the owner is alive.
    pub alive: bool,
}

/// One worker pool.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolInfo {
    /// Pool index.
    pub index: usize,
    /// Name.
    pub name: String,
    /// Its work cursor.
    pub work_cursor: i64,
}

/// Inspect the segment `name` without attaching to it (an inspection does not keep a segment
/// alive). Fails like [`ShmRing::open`](crate::ShmRing::open) does on a bad header, except that
/// any event type is accepted.
///
/// ```
/// use seqflow_shm::{inspect, ShmOptions, ShmRing, ShmError};
/// let name = format!("/seqflow-doc-inspectfn-{}", std::process::id());
/// let ring = ShmRing::<u32>::create(&name, 16, ShmOptions::default()).unwrap();
/// let _guard = ring.unlink_on_drop();
/// let info = inspect(&name).unwrap();
/// assert_eq!(info.header.capacity, 16);
/// assert_eq!(info.header.event_size, 4);
/// assert!(info.attached);
/// assert!(matches!(inspect("/seqflow-doc-nothing-here"), Err(ShmError::NotFound { .. })));
/// ```
pub fn inspect(name: &str) -> Result<Inspection, ShmError> {
    let name = SegmentName::new(name)?;
    let segment = open_segment(&name, Duration::ZERO, None, Attach::InspectOnly)?;
    Ok(inspect_segment(&segment, false))
}

/// Remove the name `name` (like `rm`) if it is a seqflow segment: attached processes keep
/// their mapping; later opens fail with [`ShmError::NotFound`]. A file that does not carry
/// seqflow's header (or is a link, FIFO, device or directory) is never removed:
/// [`ShmError::NotSeqflow`].
///
/// ```
/// use seqflow_shm::{remove, ShmOptions, ShmRing, ShmError};
/// let name = format!("/seqflow-doc-remove-{}", std::process::id());
/// let ring = ShmRing::<u32>::create(&name, 16, ShmOptions::default()).unwrap();
/// remove(&name).unwrap();
/// assert!(ring.is_unlinked());
/// assert!(matches!(remove(&name), Err(ShmError::NotFound { .. })));
///
/// let other = format!("/dev/shm/seqflow-doc-notours-{}", std::process::id());
/// std::fs::write(&other, b"somebody else's data").unwrap();
/// let err = remove(other.trim_start_matches("/dev/shm")).unwrap_err();
/// assert!(matches!(err, ShmError::NotSeqflow { .. }));
/// assert!(std::path::Path::new(&other).exists());
/// # std::fs::remove_file(&other).unwrap();
/// ```
pub fn remove(name: &str) -> Result<(), ShmError> {
    let name = SegmentName::new(name)?;
    let not_found = || ShmError::NotFound {
        name: name.to_string(),
    };
    // A file swapped in under the name between the checks and the unlink is checked in turn
    // (a few times: a name that keeps changing is left alone).
    for _ in 0..3 {
        let fd = match crate::segment_file::open(name.as_str(), crate::segment_file::Access::Read) {
            Ok(fd) => fd,
            Err(crate::segment_file::FileError::Io(rustix::io::Errno::NOENT)) => {
                return Err(not_found())
            }
            Err(e) => return Err(e.into_shm(name.as_str(), "shm_open")),
        };
        let fd = rustix::fd::AsFd::as_fd(&fd);
        // An empty file is what a creator killed before sizing its segment leaves (`inspect`
        // calls it `CreatorDied`): nothing in it to lose, so it goes too.
        let empty = rustix::fs::fstat(fd).is_ok_and(|st| st.st_size == 0);
        if !empty && crate::stale::read_header_words(fd).2 != crate::header::MAGIC {
            return Err(ShmError::NotSeqflow {
                name: name.to_string(),
            });
        }
        if !crate::stale::still_named(&name, fd)? {
            continue;
        }
        return rustix::shm::unlink(name.as_str()).map_err(|e| match e {
            rustix::io::Errno::NOENT => not_found(),
            e => ShmError::io(name.as_str(), "shm_unlink", e),
        });
    }
    Err(ShmError::NotSeqflow {
        name: name.to_string(),
    })
}

/// Remove `name` only if it is a stale seqflow segment (nobody attached); returns whether it
/// removed it. A file without a seqflow header is never removed: [`ShmError::NotSeqflow`].
///
/// ```
/// use seqflow_shm::{remove_if_stale, ShmOptions, ShmRing};
/// let name = format!("/seqflow-doc-rmstale-{}", std::process::id());
/// let ring = ShmRing::<u32>::create(&name, 16, ShmOptions::default()).unwrap();
/// assert!(!remove_if_stale(&name).unwrap(), "attached: not stale");
/// drop(ring);
/// assert!(remove_if_stale(&name).unwrap());
/// ```
pub fn remove_if_stale(name: &str) -> Result<bool, ShmError> {
    let name = SegmentName::new(name)?;
    match probe_existing(&name)? {
        Existing::Gone => Err(ShmError::NotFound {
            name: name.to_string(),
        }),
        Existing::Live { .. } => Ok(false),
        Existing::Stale { fd, .. } => remove_stale_segment(&name, fd),
        Existing::Foreign => Err(ShmError::NotSeqflow {
            name: name.to_string(),
        }),
    }
}

/// Read a snapshot of `segment`. `attached_here`: this process is attached through it.
pub(crate) fn inspect_segment(segment: &Segment, attached_here: bool) -> Inspection {
    let f = &segment.fields;
    let attached = attached_here || anyone_attached(segment.map.fd()).unwrap_or(true);
    let fd = segment.map.fd();
    let status = &segment.header.status;
    let cursor = segment.cursor.get();
    let capacity = segment.capacity() as i64;
    let gating = &segment.gating;
    let slots = gating.slots();
    let published = match (&segment.availability, segment.mode) {
        (Some(laps), ProducerMode::MultiCas) => {
            let buffer = seqflow_ring::Capacity::new(segment.capacity())
                .ok()
                // SAFETY: inspection only reads the buffer; the words are the segment's.
                .and_then(|c| unsafe {
                    AvailabilityBuffer::__internal_from_parts(laps.clone(), c)
                });
            let lo = cursor
                .saturating_sub(capacity)
                .saturating_add(1)
                .max(0)
                .max(gating.minimum(cursor).saturating_add(1));
            buffer.map_or(cursor, |b| {
                b.highest_published(lo.min(cursor.saturating_add(1)), cursor)
            })
        }
        _ => cursor,
    };
    let mut consumers = Vec::new();
    for (index, slot) in slots.iter().enumerate() {
        if !slot.is_in_use() {
            continue;
        }
        let entry = &segment.registry[index];
        let state = entry.state.load(Ordering::Acquire);
        let registered = state == ACTIVE || state == REGISTERING || state == DORMANT;
        let pid = if registered {
            entry.pid.load(Ordering::Relaxed)
        } else {
            0
        };
        let sequence = slot.sequence().get();
        consumers.push(ConsumerInfo {
            index,
            name: if registered {
                entry.label.load()
            } else {
                String::new()
            },
            kind: if registered {
                ConsumerKind::from_code(entry.kind.load(Ordering::Relaxed))
            } else {
                None
            },
            pid,
            sequence,
            lag: published.saturating_sub(sequence),
            gating: slot.is_gating(),
            alive: match state {
                ACTIVE => holder_alive(fd, CONSUMER_BASE + index as u64, pid),
                FREE => true, // held outside the registry: not ours to judge
                _ => false,
            },
            after: if registered {
                let n =
                    (entry.upstream_len.load(Ordering::Relaxed) as usize).min(entry.upstream.len());
                // The workers of a followed pool are recorded one by one, all with the pool's
                // name: each name is listed once.
                let mut after: Vec<String> = Vec::new();
                for up in entry.upstream[..n]
                    .iter()
                    .filter_map(|i| segment.registry.get(i.load(Ordering::Relaxed) as usize))
                {
                    let label = up.label.load();
                    if !after.contains(&label) {
                        after.push(label);
                    }
                }
                after
            } else {
                Vec::new()
            },
            declared: registered && entry.is_declared(),
            absent: state == DORMANT,
        });
    }
    let producers = segment
        .producers
        .iter()
        .enumerate()
        .filter_map(|(index, p)| {
            let pid = p.owner.load(Ordering::Acquire);
            (pid != 0).then(|| {
                let (state, claimed) = p.observed(segment.mode, || segment.cursor.get());
                ProducerInfo {
                    index,
                    pid,
                    state: producer_state_name(state),
                    claimed,
                    alive: holder_alive(fd, PRODUCER_BASE + index as u64, pid),
                }
            })
        })
        .collect();
    let pools = segment
        .pools
        .iter()
        .enumerate()
        .filter(|(_, p)| p.state.load(Ordering::Acquire) == POOL_ACTIVE)
        .map(|(index, p)| PoolInfo {
            index,
            name: p.label.load(),
            work_cursor: p.work.get(),
        })
        .collect();
    Inspection {
        name: segment.name().to_string(),
        header: HeaderInfo {
            version: f.version,
            total_size: f.total_size,
            capacity: f.capacity,
            event_size: f.event_size,
            event_align: f.event_align,
            fingerprint: f.fingerprint,
            producer_mode: segment.mode,
            wait: segment.wait,
            max_consumers: f.max_consumers,
            max_producers: f.max_producers,
            max_pools: f.max_pools,
            creator_pid: f.creator_pid,
            creator_alive: attached && pid_exists(f.creator_pid),
            created_unix_ms: f.created_unix_ms,
        },
        attached,
        cursor,
        published,
        consumers,
        producers,
        pools,
        reaped_consumers: status.reaped_consumers.load(Ordering::Relaxed),
        abandoned_claims: status.abandoned_claims.load(Ordering::Relaxed),
        lost_pool_events: status.lost_pool_events.load(Ordering::Relaxed),
        closed_at: status.closed_end(),
        readers_end: status.closed_end().map(|end| segment.reachable_end(end)),
        halted_by: status.halted_by(),
        futex_waiters: segment.futex.waiters(),
    }
}

impl Inspection {
    /// Events published and not yet processed by the slowest gating consumer (as
    /// [`ShmRing::len`](crate::ShmRing::len) at the moment of the snapshot); 0 when nothing gates.
    pub fn backlog(&self) -> usize {
        let slowest = self
            .consumers
            .iter()
            .filter(|c| c.gating)
            .map(|c| c.sequence)
            .min();
        slowest.map_or(0, |s| {
            self.published
                .saturating_sub(s)
                .clamp(0, self.header.capacity as i64) as usize
        })
    }

    /// [`backlog`](Self::backlog) as a fraction of the capacity, 0.0 ..= 1.0.
    pub fn utilisation(&self) -> f64 {
        self.backlog() as f64 / self.header.capacity.max(1) as f64
    }
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = &self.header;
        writeln!(f, "segment   {}", self.name)?;
        writeln!(
            f,
            "layout    v{}, {} bytes, {} x {}-byte events (align {}), fingerprint {:#018x}",
            h.version, h.total_size, h.capacity, h.event_size, h.event_align, h.fingerprint
        )?;
        writeln!(
            f,
            "producers {:?}, up to {}; consumers up to {}; pools up to {}; wait {:?}",
            h.producer_mode, h.max_producers, h.max_consumers, h.max_pools, h.wait
        )?;
        writeln!(
            f,
            "creator   pid {} ({}), attached: {}",
            h.creator_pid,
            if h.creator_alive { "alive" } else { "gone" },
            match (self.attached, self.backlog()) {
                (true, _) => "yes",
                (false, 0) => "no (stale)",
                (false, _) => "no (idle: its consumers' unread events are kept)",
            }
        )?;
        writeln!(
            f,
            "cursor    {} (published {}), futex waiters {}, reaped consumers {}, abandoned claims {}, lost pool events {}",
            self.cursor, self.published, self.futex_waiters, self.reaped_consumers, self.abandoned_claims, self.lost_pool_events
        )?;
        writeln!(
            f,
            "backlog   {} of {} slots ({:.0}% used)",
            self.backlog(),
            h.capacity,
            self.utilisation() * 100.0
        )?;
        if let Some(pid) = self.halted_by {
            writeln!(f, "halted    everywhere, by pid {pid}")?;
        }
        match (self.closed_at, self.readers_end) {
            (Some(end), Some(reached)) if reached < end => writeln!(
                f,
                "closed    after sequence {end}; readers end at {reached} (the single producer \
                 left holding a claim that will never be published)"
            )?,
            (Some(end), _) => writeln!(f, "closed    after sequence {end}")?,
            (None, _) => {}
        }
        for p in &self.producers {
            writeln!(
                f,
                "producer  #{:<3} pid {:<8} {:<9} claim {:<16} {}",
                p.index,
                p.pid,
                p.state,
                p.claimed.map_or_else(|| "-".to_owned(), |r| r.to_string()),
                if p.alive { "alive" } else { "DEAD" }
            )?;
        }
        for c in &self.consumers {
            writeln!(
                f,
                "consumer  #{:<3} {:<20} {:<10} pid {:<8} seq {:<12} lag {:<8} {} {}",
                c.index,
                if c.name.is_empty() { "-" } else { &c.name },
                c.kind.map_or("external", |k| match k {
                    ConsumerKind::Consumer => "consumer",
                    ConsumerKind::Subscriber => "subscriber",
                    ConsumerKind::Worker => "worker",
                }),
                c.pid,
                c.sequence,
                c.lag,
                if c.gating { "gating" } else { "non-gating" },
                if c.absent {
                    "declared, ABSENT (holds its events)"
                } else if c.alive {
                    if c.declared {
                        "declared, alive"
                    } else {
                        "alive"
                    }
                } else {
                    "DEAD"
                }
            )?;
            if !c.after.is_empty() {
                writeln!(f, "            after {}", c.after.join(", "))?;
            }
        }
        for p in &self.pools {
            writeln!(
                f,
                "pool      #{:<3} {:<20} work cursor {}",
                p.index, p.name, p.work_cursor
            )?;
        }
        Ok(())
    }
}
