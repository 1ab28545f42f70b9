//! [`ShmRing`]: a ring of `E` in a named shared-memory segment, and the handles made from it.

use crate::create::{create_segment, CreateSpec};
use crate::layout::Params;
use crate::open::{open_segment, Attach, Expect};
use crate::registry::ConsumerKind;
use crate::segment::Segment;
use crate::{
    reaper, DynByteSlot, Inspection, OpenOptions, ProducerMode, SegmentName, ShmConsumer, ShmError,
    ShmEvent, ShmOptions, ShmProducer, ShmSequencer, ShmSubscriber, ShmWorker, UnlinkGuard,
    WaitKind,
};
use rustix::io::Errno;
use seqflow_ring::RingBuffer;
use seqflow_sequence::{Cursor, WaitStrategy};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

/// The shortest liveness interval used (shorter requests are raised to it).
const MIN_LIVENESS_INTERVAL: Duration = Duration::from_micros(100);
/// The longest liveness interval used (longer requests, `Duration::MAX` included, are lowered
/// to it).
const MAX_LIVENESS_INTERVAL: Duration = Duration::from_secs(3600);

/// A ring of `E` events shared by processes through one named POSIX shared-memory segment:
/// the events, the sequencer state, the gating sequences and the consumer registry.
///
/// Create it in one process ([`create`](Self::create)), attach to it by name in others
/// ([`open`](Self::open)); then take a [`producer`](Self::producer), [`consumer`](Self::consumer)s,
/// [`subscriber`](Self::subscriber)s or pool [`worker`](Self::worker)s. Handles are cheap
/// (`Clone` shares the mapping). Dropping a ring or any handle only unmaps: the name stays
/// until [`unlink`](Self::unlink), [`remove`](crate::remove) or an [`UnlinkGuard`] removes it,
/// so a forked child that drops what it inherited never removes the segment.
///
/// ```
/// use seqflow_shm::{ShmOptions, ShmRing};
/// use std::time::Duration;
/// let name = format!("/seqflow-doc-ring-{}", std::process::id());
/// let ring = ShmRing::<u64>::create(&name, 64, ShmOptions::default()).unwrap();
/// let _guard = ring.unlink_on_drop(); // the creator removes the name when done
///
/// // Usually in another process:
/// let attached = ShmRing::<u64>::open(&name, Duration::from_secs(1)).unwrap();
/// let mut consumer = attached.consumer("reader").unwrap();
///
/// let mut producer = ring.producer().unwrap();
/// producer.publish(|event, seq| *event = seq as u64 * 10).unwrap();
/// let hi = consumer.wait_for(0, Some(Duration::from_secs(1))).unwrap();
/// assert_eq!(consumer.get(hi), Ok(&0));
/// consumer.update_sequence(hi).unwrap();
/// ```
pub struct ShmRing<E: ?Sized + ShmEvent> {
    inner: Arc<RingInner>,
    _event: PhantomData<fn() -> E>,
}

/// The untyped state of an attached ring.
pub(crate) struct RingInner {
    pub segment: Segment,
    pub sequencer: Arc<ShmSequencer>,
    pub liveness_interval: Duration,
    /// How long registry operations wait for the registry lock.
    pub registry_timeout: Duration,
}

impl RingInner {
    /// The highest sequence the attached producers have claimed: the claim cursor (multi
    /// producer), or the single producer's recorded claim (it keeps its claims private and
    /// records each one's end in producer slot 0; on a closed ring, only up to the close's
    /// end: `counted_end`). The close's end and `is_full` use it.
    pub(crate) fn claimed_high(&self) -> i64 {
        let cursor = self.sequencer.cursor_word();
        match self.segment.mode {
            ProducerMode::MultiCas => cursor,
            ProducerMode::Single => cursor.max(
                self.counted_end(
                    self.segment.producers[0]
                        .end
                        .load(std::sync::atomic::Ordering::Acquire),
                    cursor,
                ),
            ),
        }
    }

    /// A single producer's recorded claim end `end`, as far as a closed ring's end says it is
    /// a claim: on a closed ring, a claim past the end was refused (the close handshake), so
    /// the word counts only up to the end (or `cursor`, if higher). A producer killed between
    /// recording such a claim and taking it back leaves it there for good. For `is_full` only:
    /// lossy readers' bound (`written_high`) must not trust a closed word that something else
    /// than a close may have written.
    fn counted_end(&self, end: i64, cursor: i64) -> i64 {
        match self.segment.header.status.closed_end() {
            Some(close) => end.min(close.max(cursor)),
            None => end,
        }
    }

    /// The highest sequence whose slot any producer may have written into, dead ones included:
    /// [`claimed_high`](Self::claimed_high), and for a single producer also what an earlier
    /// producer that died mid-claim may have left half-written (slot 0's inherited mark, see
    /// `producer_slot.rs`). A lossy read of a slot up to it is a lap, never an event.
    pub(crate) fn written_high(&self) -> i64 {
        use std::sync::atomic::Ordering;
        match self.segment.mode {
            ProducerMode::MultiCas => self.sequencer.cursor_word(),
            ProducerMode::Single => {
                let slot = &self.segment.producers[0];
                // `end` first: an attach stores the inherited mark before it lowers `end`
                // (`Release`), so a reader that sees the lower `end` sees the mark too.
                let end = slot.end.load(Ordering::Acquire);
                let inherited = slot.start.load(Ordering::Relaxed);
                // After `end` (`Acquire`, of a `Release` store): at least the cursor its
                // producer claimed from.
                let cursor = self.sequencer.cursor_word();
                // No claim reaches past a lap beyond the published cursor (a single producer
                // claims at most the capacity, from the cursor on; a mark is clamped to that
                // when a producer takes over). A word past it is from a corrupt segment: taken
                // at its word it would lap readers to sequences nobody will publish, for as
                // long as it stays there, so it counts for nothing.
                let most = cursor.saturating_add(self.segment.capacity() as i64);
                let sane = |word: i64| if word <= most { word } else { cursor };
                // Not capped by a close's end (as `claimed_high` is): a closed word written by
                // something else than a close may lie below a claim being written, and a lap
                // seen where there is none costs less than a torn event handed out.
                cursor.max(sane(end)).max(sane(inherited))
            }
        }
    }

    /// The last sequence of a closed ring (`None` while it is open). A close caught halfway
    /// (its process is computing the end, or died doing so) is finished here: every process
    /// that sees it closing settles the same way, and the first settlement holds.
    #[inline]
    pub(crate) fn closed_end(&self) -> Option<i64> {
        let status = &self.segment.header.status;
        match status.closed.load(std::sync::atomic::Ordering::Acquire) {
            0 => None,
            crate::header::CLOSING => Some(self.settle_close()),
            _ => status.closed_end(),
        }
    }

    /// The last sequence readers of a closed ring can reach (see
    /// [`Segment::reachable_end`](crate::segment::Segment::reachable_end)); `None` while open.
    pub(crate) fn reachable_end(&self) -> Option<i64> {
        let end = self.closed_end()?;
        Some(self.segment.reachable_end(end))
    }

    /// The closing half of the close handshake with producers. The closed word is already
    /// CLOSING; after a `SeqCst` fence and the `membarrier` that puts every registered producer
    /// process through a full barrier (`membarrier.rs`; an unregistered producer fences each
    /// claim itself), every claim whose producer did not see CLOSING after recording it (see
    /// `ShmClaimer::record_claim`) is visible in `claimed_high`, so the end covers it; a
    /// producer that does see CLOSING settles the same way and refuses a claim past the end.
    /// So no claim is told `Ok` and then left past the end unread.
    #[cold]
    pub(crate) fn settle_close(&self) -> i64 {
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        // Producers registered for it order their claims with this (`membarrier.rs`).
        crate::membarrier::order_every_producer();
        let end = self.claimed_high();
        self.segment.header.status.settle_close(end)
    }

    /// Whether the ring was halted in every process ([`ShmRing::halt_all`]).
    #[inline]
    pub(crate) fn halted_everywhere(&self) -> bool {
        self.segment.header.status.halted_by().is_some()
    }

    /// The newest sequence a reader of the ring's last event may take: the published end, at
    /// most a close's end (a claim refused at the close may be published unwritten past it).
    /// `-1` before the first publish.
    pub(crate) fn last_readable(&self) -> i64 {
        let published = self.sequencer.published();
        match self.closed_end() {
            Some(end) => published.min(end),
            None => published,
        }
        .max(-1)
    }

    /// Take the registry lock within the registry timeout; a typed error otherwise.
    pub(crate) fn lock_registry(&self) -> Result<crate::liveness::RegistryLock, ShmError> {
        let name = self.segment.name().as_str();
        crate::liveness::RegistryLock::acquire(self.segment.map.fd(), self.registry_timeout)
            .map_err(|e| ShmError::std_io(name, "fcntl(F_OFD_SETLK)", e))?
            .ok_or_else(|| ShmError::RegistryBusy {
                name: name.to_owned(),
                waited: self.registry_timeout,
            })
    }
}

impl<E: ShmEvent> ShmRing<E> {
    /// Create the segment `name` with `capacity` slots of `E` and attach to it.
    ///
    /// Fails with [`ShmError::AlreadyExists`] if a live segment of that name exists (exactly
    /// one of several racing creators succeeds), [`ShmError::Stale`] if a dead one does (unless
    /// `options.remove_stale`), [`ShmError::Capacity`] for a capacity that is not a power of two
    /// between 1 and 2^30.
    ///
    /// ```
    /// use seqflow_shm::{ShmError, ShmOptions, ShmRing};
    /// let name = format!("/seqflow-doc-create-{}", std::process::id());
    /// let ring = ShmRing::<[u8; 32]>::create(&name, 1024, ShmOptions::default()).unwrap();
    /// let _guard = ring.unlink_on_drop();
    /// assert!(matches!(ShmRing::<[u8; 32]>::create(&name, 1024, ShmOptions::default()), Err(ShmError::AlreadyExists { .. })));
    /// assert!(matches!(ShmRing::<u8>::create("/x", 1000, ShmOptions::default()), Err(ShmError::Capacity { .. })));
    /// ```
    pub fn create(name: &str, capacity: usize, options: ShmOptions) -> Result<Self, ShmError> {
        Self::create_with_stride(name, capacity, std::mem::size_of::<E>(), options)
    }

    /// Create the segment, or attach to it if a live one exists (waiting up to `timeout` for it
    /// to be ready). Racing callers all end up attached to the same segment; an existing
    /// segment made with other parameters is refused ([`ShmError::OptionsMismatch`]).
    ///
    /// ```
    /// use seqflow_shm::{ShmOptions, ShmRing};
    /// use std::time::Duration;
    /// let name = format!("/seqflow-doc-ooc-{}", std::process::id());
    /// let a = ShmRing::<u64>::open_or_create(&name, 8, ShmOptions::default(), Duration::from_secs(1)).unwrap();
    /// let _guard = a.unlink_on_drop();
    /// let b = ShmRing::<u64>::open_or_create(&name, 8, ShmOptions::default(), Duration::from_secs(1)).unwrap();
    /// assert_eq!(a.name(), b.name());
    /// ```
    pub fn open_or_create(
        name: &str,
        capacity: usize,
        options: ShmOptions,
        timeout: Duration,
    ) -> Result<Self, ShmError> {
        Self::open_or_create_with_stride(name, capacity, std::mem::size_of::<E>(), options, timeout)
    }
}

impl ShmRing<DynByteSlot> {
    /// Create the segment `name` with `capacity` byte slots, each holding payloads of up to
    /// `max_payload` bytes (rounded up to whole 8-byte words), and attach to it: the payload
    /// size is chosen here, at run time, and recorded in the segment, so
    /// [`open`](ShmRing::open) finds it again. Handlers, claims and consumers get
    /// `&DynByteSlot` / `&mut DynByteSlot`; lossy readers get a [`DynByteCopy`](crate::DynByteCopy).
    ///
    /// Errors as [`create`](ShmRing::create); a slot size that does not fit the address space
    /// is [`ShmError::Capacity`].
    ///
    /// ```
    /// use seqflow_shm::{DynByteSlot, ShmOptions, ShmRing};
    /// use std::time::Duration;
    /// let name = format!("/seqflow-doc-bytes-{}", std::process::id());
    /// let ring = ShmRing::<DynByteSlot>::create_bytes(&name, 8, 1 << 20, ShmOptions::default()).unwrap();
    /// let _guard = ring.unlink_on_drop();
    ///
    /// // Usually in another process: the slot size comes from the segment.
    /// let attached = ShmRing::<DynByteSlot>::open(&name, Duration::from_secs(1)).unwrap();
    /// assert_eq!(attached.max_payload(), 1 << 20);
    /// let mut consumer = attached.consumer("reader").unwrap();
    ///
    /// let mut producer = ring.producer().unwrap();
    /// let payload = vec![7u8; 300_000];
    /// assert!(payload.len() <= ring.max_payload()); // so `set` below cannot fail
    /// producer.publish(|slot, _| slot.set(&payload).expect("fits")).unwrap();
    /// let hi = consumer.wait_for(0, Some(Duration::from_secs(1))).unwrap();
    /// assert_eq!(consumer.get(hi).unwrap().as_bytes().len(), 300_000);
    /// ```
    pub fn create_bytes(
        name: &str,
        capacity: usize,
        max_payload: usize,
        options: ShmOptions,
    ) -> Result<Self, ShmError> {
        let stride = Self::byte_stride(name, capacity, max_payload)?;
        Self::create_with_stride(name, capacity, stride, options)
    }

    /// [`create_bytes`](Self::create_bytes), or attach to a live segment of that name
    /// (refused with [`ShmError::OptionsMismatch`] if its slots or parameters differ).
    ///
    /// ```
    /// use seqflow_shm::{DynByteSlot, ShmError, ShmOptions, ShmRing};
    /// use std::time::Duration;
    /// let name = format!("/seqflow-doc-bytes-ooc-{}", std::process::id());
    /// let t = Duration::from_secs(1);
    /// let a = ShmRing::<DynByteSlot>::open_or_create_bytes(&name, 8, 100, ShmOptions::default(), t).unwrap();
    /// let _guard = a.unlink_on_drop();
    /// assert!(ShmRing::<DynByteSlot>::open_or_create_bytes(&name, 8, 100, ShmOptions::default(), t).is_ok());
    /// let other = ShmRing::<DynByteSlot>::open_or_create_bytes(&name, 8, 4096, ShmOptions::default(), t);
    /// assert!(matches!(other, Err(ShmError::OptionsMismatch { field: "slot_bytes", .. })));
    /// ```
    pub fn open_or_create_bytes(
        name: &str,
        capacity: usize,
        max_payload: usize,
        options: ShmOptions,
        timeout: Duration,
    ) -> Result<Self, ShmError> {
        let stride = Self::byte_stride(name, capacity, max_payload)?;
        Self::open_or_create_with_stride(name, capacity, stride, options, timeout)
    }

    /// The most payload bytes a slot of this ring holds.
    ///
    /// ```
    /// # use seqflow_shm::{DynByteSlot, ShmOptions, ShmRing};
    /// # let name = format!("/seqflow-doc-maxp-{}", std::process::id());
    /// let ring = ShmRing::<DynByteSlot>::create_bytes(&name, 4, 10, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// assert_eq!(ring.max_payload(), 16);
    /// ```
    pub fn max_payload(&self) -> usize {
        self.inner.segment.fields.event_size as usize - DynByteSlot::HEADER
    }

    fn byte_stride(name: &str, capacity: usize, max_payload: usize) -> Result<usize, ShmError> {
        DynByteSlot::stride_for(max_payload)
            .filter(|&stride| stride.checked_mul(capacity).is_some())
            .filter(|&stride| stride as u64 <= crate::layout::MAX_EVENT_SIZE)
            .ok_or_else(|| ShmError::Capacity {
                name: name.to_owned(),
                source: seqflow_ring::CapacityError::TooManyBytes {
                    slots: capacity,
                    max_payload,
                },
            })
    }
}

impl<E: ?Sized + ShmEvent> ShmRing<E> {
    /// Create the segment with slots of `stride` bytes (`E::fits(stride)`).
    fn create_with_stride(
        name: &str,
        capacity: usize,
        stride: usize,
        options: ShmOptions,
    ) -> Result<Self, ShmError> {
        let name = SegmentName::new(name)?;
        seqflow_ring::Capacity::new(capacity).map_err(|source| ShmError::Capacity {
            name: name.to_string(),
            source,
        })?;
        let multi = options.producer == ProducerMode::MultiCas;
        let spec = CreateSpec {
            params: Params {
                capacity: capacity as u64,
                event_size: stride as u64,
                event_align: E::ALIGN as u64,
                max_consumers: options.max_consumers as u64,
                max_producers: if multi {
                    options.max_producers as u64
                } else {
                    1
                },
                max_pools: options.max_pools as u64,
                multi,
            },
            mode: options.producer,
            wait: options.wait,
            fingerprint: options.fingerprint.unwrap_or_else(E::default_fingerprint),
            permissions: options.mode,
            remove_stale: options.remove_stale,
            declared_consumers: options.declared_consumers.clone(),
            declared_pools: options.declared_pools.clone(),
        };
        let segment = create_segment(&name, &spec)?;
        Self::from_segment(segment, options.liveness_interval, options.registry_timeout)
    }

    /// Attach to the segment `name`, waiting up to `timeout` for its creator to finish.
    /// The timeout covers a creator still initialising the segment; a name that does not exist
    /// (yet) is [`ShmError::NotFound`] at once — a process that may start before the creator
    /// uses [`open_or_create`](Self::open_or_create), or retries.
    ///
    /// Every header field is checked: [`ShmError::NotFound`], [`ShmError::NotReady`],
    /// [`ShmError::BadMagic`], [`ShmError::EventLayoutMismatch`],
    /// [`ShmError::FingerprintMismatch`] and the other variants say what differs.
    ///
    /// ```
    /// use seqflow_shm::{ShmError, ShmRing};
    /// use std::time::Duration;
    /// let missing = ShmRing::<u64>::open("/seqflow-doc-no-such-ring", Duration::ZERO);
    /// assert!(matches!(missing, Err(ShmError::NotFound { .. })));
    /// ```
    pub fn open(name: &str, timeout: Duration) -> Result<Self, ShmError> {
        Self::open_with(
            name,
            OpenOptions {
                timeout,
                ..OpenOptions::default()
            },
        )
    }

    /// [`open`](Self::open) with all options.
    ///
    /// ```
    /// use seqflow_shm::{OpenOptions, ShmOptions, ShmRing, ShmError};
    /// let name = format!("/seqflow-doc-openwith-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions { fingerprint: Some(42), ..Default::default() }).unwrap();
    /// let _guard = ring.unlink_on_drop();
    /// assert!(ShmRing::<u64>::open_with(&name, OpenOptions { fingerprint: Some(42), ..Default::default() }).is_ok());
    /// assert!(matches!(ShmRing::<u64>::open_with(&name, OpenOptions::default()), Err(ShmError::FingerprintMismatch { .. })));
    /// ```
    pub fn open_with(name: &str, options: OpenOptions) -> Result<Self, ShmError> {
        let name = SegmentName::new(name)?;
        let expect = Expect {
            size: E::FIXED_SIZE.map(|size| size as u64),
            fits: E::fits,
            align: E::ALIGN as u64,
            fingerprint: options.fingerprint.unwrap_or_else(E::default_fingerprint),
            type_name: std::any::type_name::<E>(),
        };
        let segment = open_segment(&name, options.timeout, Some(expect), Attach::Yes)?;
        Self::from_segment(segment, options.liveness_interval, options.registry_timeout)
    }

    /// Create the segment with slots of `stride` bytes, or attach to a live one with the same
    /// parameters.
    fn open_or_create_with_stride(
        name: &str,
        capacity: usize,
        stride: usize,
        options: ShmOptions,
        timeout: Duration,
    ) -> Result<Self, ShmError> {
        let open_options = OpenOptions {
            timeout,
            fingerprint: options.fingerprint,
            liveness_interval: options.liveness_interval,
            registry_timeout: options.registry_timeout,
        };
        let requested = options.clone();
        match Self::create_with_stride(name, capacity, stride, options) {
            Err(ShmError::AlreadyExists { .. }) => {
                let ring = Self::open_with(name, open_options)?;
                ring.check_matches(capacity, stride, &requested)?;
                Ok(ring)
            }
            other => other,
        }
    }

    fn from_segment(
        segment: Segment,
        liveness_interval: Duration,
        registry_timeout: Duration,
    ) -> Result<Self, ShmError> {
        let sequencer = Arc::new(ShmSequencer::build(&segment)?);
        Ok(Self {
            inner: Arc::new(RingInner {
                segment,
                sequencer,
                // Clamped, so that `now + interval` is always representable and a check still
                // happens now and then; documented on `ShmOptions::liveness_interval`.
                liveness_interval: liveness_interval
                    .clamp(MIN_LIVENESS_INTERVAL, MAX_LIVENESS_INTERVAL),
                registry_timeout: registry_timeout
                    .clamp(Duration::from_millis(1), MAX_LIVENESS_INTERVAL),
            }),
            _event: PhantomData,
        })
    }

    /// Refuse an existing segment whose creation parameters differ from `options`: an open
    /// never silently ignores what the caller asked for.
    fn check_matches(
        &self,
        capacity: usize,
        stride: usize,
        options: &ShmOptions,
    ) -> Result<(), ShmError> {
        let segment = &self.inner.segment;
        let f = &segment.fields;
        let multi = options.producer == ProducerMode::MultiCas;
        let declared = |kind: ConsumerKind| -> Vec<String> {
            let mut names: Vec<String> = segment
                .registry
                .iter()
                .filter(|e| {
                    e.is_declared()
                        && ConsumerKind::from_code(
                            e.kind.load(std::sync::atomic::Ordering::Relaxed),
                        ) == Some(kind)
                })
                .map(|e| match kind {
                    ConsumerKind::Worker => segment
                        .pools
                        .get(e.pool.load(std::sync::atomic::Ordering::Relaxed) as usize)
                        .map(|p| p.label.load())
                        .unwrap_or_default(),
                    _ => e.label.load(),
                })
                .collect();
            names.sort();
            names
        };
        let sorted = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v
        };
        let checks: [(&'static str, String, String); 9] = [
            ("capacity", capacity.to_string(), f.capacity.to_string()),
            ("slot_bytes", stride.to_string(), f.event_size.to_string()),
            (
                "producer",
                format!("{:?}", options.producer),
                format!("{:?}", segment.mode),
            ),
            (
                "max_consumers",
                options.max_consumers.to_string(),
                f.max_consumers.to_string(),
            ),
            (
                "max_producers",
                if multi { options.max_producers } else { 1 }.to_string(),
                f.max_producers.to_string(),
            ),
            (
                "max_pools",
                options.max_pools.to_string(),
                f.max_pools.to_string(),
            ),
            (
                "wait",
                format!("{:?}", options.wait),
                format!("{:?}", segment.wait),
            ),
            (
                "declared_consumers",
                format!("{:?}", sorted(&options.declared_consumers)),
                format!("{:?}", declared(ConsumerKind::Consumer)),
            ),
            (
                "declared_pools",
                format!("{:?}", sorted(&options.declared_pools)),
                format!("{:?}", declared(ConsumerKind::Worker)),
            ),
        ];
        for (field, requested, found) in checks {
            if requested != found {
                return Err(ShmError::OptionsMismatch {
                    name: segment.name().to_string(),
                    field,
                    requested,
                    found,
                });
            }
        }
        Ok(())
    }

    /// The newest published event, copied out, without registering as a consumer (nothing is
    /// held back by this read); `None` before the first publish.
    ///
    /// Only events a producer wrote count: not the claims of dead producers released as they
    /// stood (while their producer slot still records them), nor claims refused at a close
    /// (past its end) or for a halt (recorded in the refusing producer's slot for good).
    ///
    /// ```
    /// use seqflow_shm::{ShmOptions, ShmRing};
    /// # let name = format!("/seqflow-doc-last-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// assert_eq!(ring.read_last(), None);
    /// let mut p = ring.producer().unwrap();
    /// for i in 0..20 { p.publish(|e, _| *e = i * 10).unwrap(); }
    /// assert_eq!(ring.read_last(), Some((19, 190)));
    /// ```
    pub fn read_last(&self) -> Option<(i64, E::Copy)> {
        let events = self.ring();
        // Each attempt reads a newer event; one fails only when producers lap it mid-copy.
        for _ in 0..1024 {
            // The producer table's unwritten ranges: claims released as they stood (their
            // slots hold older events, or part of what their dead producer wrote) and claims
            // refused for a halt (their slots hold older events).
            let segment = &self.inner.segment;
            let (unwritten, refused) = (
                crate::reaper::unwritten_ranges(segment),
                crate::reaper::refused_ranges(segment),
            );
            let seq = below_ranges(&unwritten, self.inner.last_readable());
            if seq < 0 {
                return None;
            }
            let mut reader = seqflow_pipeline::LossyCursor::new(seq);
            // The claim bound of the copy check goes below the refused ranges too: nothing was
            // ever written into those, so a slot whose next lap only they claimed holds its
            // event (several producers refusing for a halt may claim more than a lap past it).
            // Not below released ones: a dead producer may have written into its claim's slots.
            // A claim made since, or a range no longer recorded, is above the bound and counts.
            let written = || below_ranges(&refused, self.inner.written_high());
            // A producer table written by something else than this protocol could lower the
            // bound past a claim being written and let a torn copy through: for shared events
            // (`Pod`) and byte slots (their copy clamps its length to the slot) that is a wrong
            // value, never an invalid one, as for any lossy reader of such a segment.
            // SAFETY: `seq` was read from the published cursor (`read`'s contract).
            let read = unsafe { reader.read(&events, written) };
            if let Ok(found) = read {
                return Some(found);
            }
        }
        None
    }

    /// Events published and not yet processed by the slowest gating consumer (declared ones
    /// included): how many a consumer that keeps up still has to read. 0 when nothing gates.
    ///
    /// ```
    /// use seqflow_shm::{ShmOptions, ShmRing};
    /// # let name = format!("/seqflow-doc-len-{}", std::process::id());
    /// let options = ShmOptions { declared_pools: vec!["jobs".into()], ..Default::default() };
    /// let ring = ShmRing::<u64>::create(&name, 4, options).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// assert!(ring.is_empty());
    /// let mut p = ring.producer().unwrap();
    /// for i in 0..4 { p.publish(|e, _| *e = i).unwrap(); }
    /// assert_eq!((ring.len(), ring.is_full(), ring.utilisation()), (4, true, 1.0));
    /// ```
    pub fn len(&self) -> usize {
        let published = self.published();
        match self.inner.sequencer.gating().minimum(i64::MAX) {
            i64::MAX => 0,
            slowest => published
                .saturating_sub(slowest)
                .clamp(0, self.capacity() as i64) as usize,
        }
    }

    /// Whether [`len`](Self::len) is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a producer would have to wait now: every slot is claimed and not yet processed
    /// by the slowest gating consumer.
    pub fn is_full(&self) -> bool {
        let claimed = self.inner.claimed_high();
        match self.inner.sequencer.gating().minimum(i64::MAX) {
            i64::MAX => false,
            slowest => claimed.saturating_sub(slowest) >= self.capacity() as i64,
        }
    }

    /// [`len`](Self::len) as a fraction of the capacity, 0.0 ..= 1.0.
    pub fn utilisation(&self) -> f64 {
        self.len() as f64 / self.capacity() as f64
    }

    pub(crate) fn inner(&self) -> &Arc<RingInner> {
        &self.inner
    }

    /// The segment name (with its leading slash).
    pub fn name(&self) -> &str {
        self.inner.segment.name().as_str()
    }

    /// The number of slots.
    pub fn capacity(&self) -> usize {
        self.inner.segment.capacity()
    }

    /// Single or multi producer.
    pub fn producer_mode(&self) -> ProducerMode {
        self.inner.segment.mode
    }

    /// How this segment's processes wait (chosen by the creator).
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing, WaitKind};
    /// # let name = format!("/seqflow-doc-waitkind-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions { wait: WaitKind::Yielding, ..Default::default() }).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// assert_eq!(ring.wait_kind(), WaitKind::Yielding);
    /// ```
    pub fn wait_kind(&self) -> WaitKind {
        self.inner.segment.wait
    }

    /// The highest sequence up to which every event is published.
    pub fn published(&self) -> i64 {
        self.inner.sequencer.published()
    }

    /// The highest sequence handed to a producer in this process's view (multi producer: by any
    /// process; single producer: published, or claimed by this process's producer, except a
    /// one-event `publish` while its closure runs; see `Sequencer::claimed`).
    pub fn claimed(&self) -> i64 {
        self.inner.sequencer.claimed()
    }

    /// A bare claimer of this ring, for the claimer's own unit tests.
    #[cfg(test)]
    pub(crate) fn claimer_for_tests(&self) -> Result<crate::ShmClaimer, ShmError> {
        crate::ShmClaimer::attach(&self.inner)
    }

    /// A producer handle. Single producer: the one producer across all processes
    /// ([`ShmError::ProducerTaken`] while another lives). Multi producer: a new producer slot
    /// ([`ShmError::ProducersFull`] when none is free, [`ShmError::HaltedEverywhere`] when none
    /// is free on a ring halted everywhere, whose slots may keep claims refused at the halt).
    ///
    /// ```
    /// use seqflow_shm::{ShmError, ShmOptions, ShmRing};
    /// # let name = format!("/seqflow-doc-producer-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let p = ring.producer().unwrap();
    /// assert!(matches!(ring.producer(), Err(ShmError::ProducerTaken { .. })));
    /// drop(p);
    /// assert!(ring.producer().is_ok());
    /// ```
    pub fn producer(&self) -> Result<ShmProducer<E>, ShmError> {
        let claimer = crate::ShmClaimer::attach(&self.inner)?;
        // SAFETY: the claimer claims from this ring's sequencer, whose slots `ring()` maps
        // (same segment, same capacity), and consumers of this ring are gated by it.
        Ok(unsafe { ShmProducer::__internal_from_parts(claimer, self.ring()) })
    }

    /// A gating consumer named `name` (names need not be unique; at most 48 bytes). It starts
    /// after the current cursor.
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing};
    /// # let name = format!("/seqflow-doc-consumer-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let c = ring.consumer("journal").unwrap();
    /// assert_eq!(c.sequence(), -1);
    /// assert_eq!(c.name(), "journal");
    /// ```
    pub fn consumer(&self, name: &str) -> Result<ShmConsumer<E>, ShmError> {
        ShmConsumer::register(self.clone(), name, &[])
    }

    /// A gating consumer that runs after every live consumer named in `after` (in any process):
    /// it only sees events they have processed. A pool's name stands for the pool: every worker
    /// it has and every worker that joins it later (a worker that leaves stops holding this
    /// consumer back; a pool left by all its workers, unless declared, ends it with
    /// [`ConsumeError::UpstreamGone`](crate::ConsumeError::UpstreamGone)).
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing, ShmError};
    /// # let name = format!("/seqflow-doc-after-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let decode = ring.consumer("decode").unwrap();
    /// let store = ring.consumer_after("store", &["decode"]).unwrap();
    /// assert!(matches!(ring.consumer_after("x", &["nobody"]), Err(ShmError::UnknownConsumer { .. })));
    /// ```
    pub fn consumer_after(&self, name: &str, after: &[&str]) -> Result<ShmConsumer<E>, ShmError> {
        ShmConsumer::register(self.clone(), name, after)
    }

    /// A non-gating subscriber: never holds producers back; learns how many events it missed
    /// when lapped ([`ConsumeError::Lapped`](crate::ConsumeError::Lapped)).
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing};
    /// # let name = format!("/seqflow-doc-sub-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let s = ring.subscriber("clients").unwrap();
    /// assert_eq!(s.position(), 0);
    /// ```
    pub fn subscriber(&self, name: &str) -> Result<ShmSubscriber<E>, ShmError> {
        ShmSubscriber::register(self.clone(), name)
    }

    /// A worker of the pool `pool` (created on first use): every event goes to exactly one
    /// worker of the pool, whichever process it runs in.
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing};
    /// # let name = format!("/seqflow-doc-worker-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let w = ring.worker("resize").unwrap();
    /// assert_eq!(w.pool(), "resize");
    /// ```
    pub fn worker(&self, pool: &str) -> Result<ShmWorker<E>, ShmError> {
        ShmWorker::register(self.clone(), pool)
    }

    /// Stop the declared consumer (or declared pool) `name` from holding the producer back:
    /// its slot is freed, and events it has not processed may be overwritten from now on.
    /// For a name that nobody will attach as again. Fails with
    /// [`ShmError::DeclaredInUse`] while a live process is attached as it, and
    /// [`ShmError::NotDeclared`] if no dormant declared consumer or pool has that name.
    ///
    /// ```
    /// use seqflow_shm::{ShmOptions, ShmRing};
    /// # let name = format!("/seqflow-doc-release-{}", std::process::id());
    /// let options = ShmOptions { declared_consumers: vec!["audit".into()], ..Default::default() };
    /// let ring = ShmRing::<u64>::create(&name, 4, options).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let mut producer = ring.producer().unwrap();
    /// for i in 0..4 { producer.publish(|e, _| *e = i).unwrap(); }
    /// assert!(producer.try_publish(|e, _| *e = 4).is_err()); // "audit" has not read them yet
    /// ring.release_declared("audit").unwrap();
    /// assert!(producer.try_publish(|e, _| *e = 4).is_ok());
    /// ```
    pub fn release_declared(&self, name: &str) -> Result<(), ShmError> {
        crate::release::release_declared_in(&self.inner, name)
    }

    /// The sequencer over the segment: its positions ([`ShmSequencer::claimed`],
    /// [`ShmSequencer::published`]) and its [`Cursor`] for barriers. Claiming and registering
    /// go through [`producer`](Self::producer) and the consumer constructors, which account
    /// for every slot in the segment's registry.
    pub fn sequencer(&self) -> &Arc<ShmSequencer> {
        &self.inner.sequencer
    }

    /// The event slots as a `RingBuffer` (for the in-process pipeline), keeping the mapping
    /// alive.
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing};
    /// # let name = format!("/seqflow-doc-rb-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// assert_eq!(ring.ring().capacity(), 8);
    /// ```
    pub fn ring(&self) -> RingBuffer<E> {
        let segment = &self.inner.segment;
        // `events` points at `capacity` slots of `event_size` bytes aligned to `E::ALIGN`
        // inside the mapping (the header was checked against `E` at open: `E::fits` accepts
        // the size); they are initialised (every bit pattern is a valid `E: ShmEvent`).
        // SAFETY: as above; the mapping owner keeps the slots alive, and access follows the
        // ring contract through this crate's handles.
        unsafe {
            RingBuffer::__internal_from_raw_parts(
                segment.events.cast::<u8>(),
                segment.fields.event_size as usize,
                self.inner.sequencer.capacity(),
                segment.map.clone(),
            )
        }
    }

    /// Release the slots of consumers whose process died (normally done by producers when the
    /// ring is full). Returns how many were released.
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing};
    /// # let name = format!("/seqflow-doc-reap-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let _alive = ring.consumer("alive").unwrap();
    /// assert_eq!(ring.reap_dead_consumers().unwrap(), 0);
    /// ```
    pub fn reap_dead_consumers(&self) -> Result<usize, ShmError> {
        reaper::reap_dead_consumers(&self.inner, true)
    }

    /// A snapshot of the segment: header, cursor, every consumer's sequence, lag and liveness.
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing};
    /// # let name = format!("/seqflow-doc-inspect-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let _c = ring.consumer("c").unwrap();
    /// let info = ring.inspect();
    /// assert_eq!(info.consumers.len(), 1);
    /// assert!(info.consumers[0].alive);
    /// ```
    pub fn inspect(&self) -> Inspection {
        crate::inspect::inspect_segment(&self.inner.segment, true)
    }

    /// Remove the segment's name now. Attached processes keep working on their mapping; new
    /// [`open`](Self::open)s fail with [`ShmError::NotFound`]. Refuses (with `NotFound`) when
    /// the name already refers to another segment.
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing, ShmError};
    /// # use std::time::Duration;
    /// # let name = format!("/seqflow-doc-unlink-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// ring.unlink().unwrap();
    /// assert!(ring.is_unlinked());
    /// assert!(matches!(ShmRing::<u64>::open(&name, Duration::ZERO), Err(ShmError::NotFound { .. })));
    /// ```
    pub fn unlink(&self) -> Result<(), ShmError> {
        let name = self.inner.segment.name();
        let not_found = || ShmError::NotFound {
            name: name.to_string(),
        };
        if self.is_unlinked() {
            return Err(not_found());
        }
        let ours = rustix::fs::fstat(self.inner.segment.map.fd())
            .map_err(|e| ShmError::io(name.as_str(), "fstat", e))?;
        let current =
            match crate::segment_file::open(name.as_str(), crate::segment_file::Access::Read) {
                Ok(fd) => fd,
                Err(crate::segment_file::FileError::Io(Errno::NOENT)) => return Err(not_found()),
                // Something else took the name: not this ring's file.
                Err(crate::segment_file::FileError::NotRegular) => return Err(not_found()),
                Err(e) => return Err(e.into_shm(name.as_str(), "shm_open")),
            };
        let theirs =
            rustix::fs::fstat(&current).map_err(|e| ShmError::io(name.as_str(), "fstat", e))?;
        if (ours.st_dev, ours.st_ino) != (theirs.st_dev, theirs.st_ino) {
            return Err(not_found());
        }
        rustix::shm::unlink(name.as_str()).map_err(|e| match e {
            Errno::NOENT => not_found(),
            e => ShmError::io(name.as_str(), "shm_unlink", e),
        })
    }

    /// The segment file's identity (device, inode): two handles with the same one share the
    /// ring, whatever their names say now (a name can be unlinked and made anew). `None` if
    /// the file cannot be examined.
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing};
    /// # use std::time::Duration;
    /// # let name = format!("/seqflow-doc-file-id-{}", std::process::id());
    /// let a = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// let again = ShmRing::<u64>::open(&name, Duration::from_secs(1)).unwrap();
    /// assert_eq!(a.file_id(), again.file_id());
    /// a.unlink().unwrap();
    /// let other = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = other.unlink_on_drop();
    /// assert_ne!(a.file_id(), other.file_id());
    /// ```
    pub fn file_id(&self) -> Option<(u64, u64)> {
        rustix::fs::fstat(self.inner.segment.map.fd())
            .ok()
            .map(|s| (s.st_dev, s.st_ino))
    }

    /// Whether the segment's name was removed (the mapping still works).
    pub fn is_unlinked(&self) -> bool {
        rustix::fs::fstat(self.inner.segment.map.fd()).is_ok_and(|s| s.st_nlink == 0)
    }

    /// A guard that unlinks the name when dropped **in this process** (a forked child dropping
    /// its copy does nothing): the creator-side cleanup.
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing};
    /// # let name = format!("/seqflow-doc-guard-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// drop(ring.unlink_on_drop());
    /// assert!(ring.is_unlinked());
    /// ```
    pub fn unlink_on_drop(&self) -> UnlinkGuard {
        UnlinkGuard::new(self.name())
    }

    /// Close the ring: no more events are accepted ([`ClaimError::Closed`](crate::ClaimError::Closed) for every producer
    /// in every process), and consumers, workers and stages stop once they have handled every
    /// event claimed before the close ([`ConsumeError::Closed`](crate::ConsumeError::Closed); a stage's run returns). Returns
    /// the last sequence. Closing twice keeps the first end.
    ///
    /// A publish racing with the close in another process either lands before the end (and is
    /// consumed) or fails with `ClaimError::Closed`: never both `Ok` and unread.
    ///
    /// ```
    /// use seqflow_shm::{ClaimError, ConsumeError, ShmOptions, ShmRing};
    /// use std::time::Duration;
    /// # let name = format!("/seqflow-doc-close-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let mut c = ring.consumer("c").unwrap();
    /// let mut p = ring.producer().unwrap();
    /// p.publish(|e, _| *e = 7).unwrap();
    /// assert_eq!(ring.close(), 0);
    /// assert_eq!(p.publish(|e, _| *e = 8), Err(ClaimError::Closed));
    /// let t = Some(Duration::from_secs(1));
    /// assert_eq!(c.poll_batch(t, |e, _, _| assert_eq!(*e, 7)), Ok(1));
    /// assert_eq!(c.poll_batch(t, |_, _, _| {}), Err(ConsumeError::Closed { end: 0 }));
    /// ```
    pub fn close(&self) -> i64 {
        self.inner.segment.header.status.begin_close();
        let end = self
            .inner
            .closed_end()
            .unwrap_or_else(|| self.inner.settle_close());
        self.inner.sequencer.wait_strategy().signal_all();
        end
    }

    /// The last sequence if the ring is [closed](Self::close), `None` while it is open: the
    /// last one its readers will get. That is the end the close settled on, or less when the
    /// single producer died (or detached) holding a claim inside that end, which nobody can
    /// publish any more: then the highest sequence it published, where consumers' waits end
    /// with [`ConsumeError::Closed`](crate::ConsumeError::Closed) too.
    pub fn closed_at(&self) -> Option<i64> {
        self.inner.reachable_end()
    }

    /// Stop this process's waits and claims on this ring (they return `Alerted` / `Halted`).
    ///
    /// ```
    /// # use seqflow_shm::{ShmOptions, ShmRing, ConsumeError};
    /// # let name = format!("/seqflow-doc-halt-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// let mut c = ring.consumer("c").unwrap();
    /// ring.halt();
    /// assert_eq!(c.wait_for(0, None), Err(ConsumeError::Alerted));
    /// ```
    pub fn halt(&self) {
        self.inner.sequencer.alert().raise();
        self.inner.sequencer.wait_strategy().signal_all();
    }

    /// Halt the ring in every process, now and for good (the multi-process form of an
    /// in-process disruptor's `halt`): waits in any process return [`ConsumeError::Alerted`](crate::ConsumeError::Alerted)
    /// (stages stop without draining), and claims fail with
    /// [`ClaimError::Halted`](crate::ClaimError::Halted) (a producer blocked on a full ring
    /// gives up within one liveness interval). Unlike [`close`](Self::close), nothing is
    /// drained. The segment keeps the halter's pid ([`halted_by`](Self::halted_by), shown by
    /// `seqflow inspect`); a halted segment stays halted: make a new one to start again.
    ///
    /// ```
    /// use seqflow_shm::{ClaimError, ConsumeError, ShmOptions, ShmRing};
    /// use std::time::Duration;
    /// # let name = format!("/seqflow-doc-haltall-{}", std::process::id());
    /// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
    /// # let _guard = ring.unlink_on_drop();
    /// // Another process (here: another attachment) halts the ring everywhere.
    /// let other = ShmRing::<u64>::open(&name, Duration::from_secs(1)).unwrap();
    /// let mut c = ring.consumer("c").unwrap();
    /// let mut p = ring.producer().unwrap();
    /// other.halt_all();
    /// assert_eq!(c.wait_for(0, None), Err(ConsumeError::Alerted));
    /// assert_eq!(p.publish(|e, _| *e = 1), Err(ClaimError::Halted));
    /// assert_eq!(ring.halted_by(), Some(std::process::id()));
    /// ```
    pub fn halt_all(&self) {
        self.inner.segment.header.status.halt(std::process::id());
        self.halt();
    }

    /// The pid of the process that halted the ring everywhere ([`halt_all`](Self::halt_all)),
    /// `None` while it runs.
    pub fn halted_by(&self) -> Option<u32> {
        self.inner.segment.header.status.halted_by()
    }
}

impl<E: ?Sized + ShmEvent> Clone for ShmRing<E> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            _event: PhantomData,
        }
    }
}

impl<E: ?Sized + ShmEvent> std::fmt::Debug for ShmRing<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmRing")
            .field("name", &self.name())
            .field("capacity", &self.capacity())
            .field("mode", &self.producer_mode())
            .field("published", &self.published())
            .finish()
    }
}

/// `seq`, moved below every range of `ranges` it falls in (`ShmRing::read_last`). Each step goes
/// below a range's start, so no range matches twice and the walk ends.
fn below_ranges(ranges: &[seqflow_sequencer::SequenceRange], mut seq: i64) -> i64 {
    while let Some(range) = ranges
        .iter()
        .find(|range| range.start() <= seq && seq <= range.end())
    {
        seq = range.start() - 1;
    }
    seq
}
