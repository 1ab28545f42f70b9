//! Operator actions on a ring by name, whatever its event type: releasing a declared consumer
//! or pool (to stop a declared name from holding the producer back once nobody will attach as it
//! again), and halting the ring in every process.

use crate::registry::{ConsumerKind, DECLARED, DORMANT, FREE};
use crate::ring::RingInner;
use crate::ShmError;
use seqflow_sequence::sync::atomic::Ordering;
use seqflow_sequence::{Cursor, WaitStrategy};

/// Release the dormant declared consumer named `name`, or the dormant placeholder of the
/// declared pool named `name`: its gating slot is freed and the name stops gating. A declared
/// consumer that a live process is attached as is not released
/// ([`ShmError::DeclaredInUse`]); a name with nothing dormant is [`ShmError::NotDeclared`].
pub(crate) fn release_declared_in(ring: &RingInner, name: &str) -> Result<(), ShmError> {
    let segment = &ring.segment;
    // A declared consumer whose process died is still ACTIVE until somebody reaps it: do it
    // first, so that releasing a dead one works without waiting for a producer to find the
    // ring full.
    crate::reaper::reap_dead_consumers(ring, true)?;
    let _registry = ring.lock_registry()?;
    let pool_named = |p: u32| {
        segment
            .pools
            .get(p as usize)
            .is_some_and(|pool| pool.label.is(name))
    };
    for (index, entry) in segment.registry.iter().enumerate() {
        if !entry.is_declared() {
            continue;
        }
        let named = match ConsumerKind::from_code(entry.kind.load(Ordering::Relaxed)) {
            Some(ConsumerKind::Worker) => pool_named(entry.pool.load(Ordering::Relaxed)),
            _ => entry.label.is(name),
        };
        if !named {
            continue;
        }
        match entry.state.load(Ordering::Acquire) {
            DORMANT => {
                // SAFETY: the entry is dormant (no process attached as it) and we hold the
                // registry lock, so nobody reads on the strength of its slot.
                unsafe { segment.gating.__internal_force_release(index) };
                entry.flags.store(0, Ordering::Relaxed);
                entry.state.store(FREE, Ordering::Release);
                crate::pool_members::note_members_changed(segment, entry);
                if let Some(pool) = segment
                    .pools
                    .get(entry.pool.load(Ordering::Relaxed) as usize)
                {
                    if pool.label.is(name) {
                        pool.flags.fetch_and(!DECLARED, Ordering::Relaxed);
                    }
                }
                tracing::warn!(segment = %segment.name(), slot = index, consumer = name, "released a declared consumer");
                ring.sequencer.wait_strategy().signal_all();
                return Ok(());
            }
            _ => {
                return Err(ShmError::DeclaredInUse {
                    name: segment.name().to_string(),
                    consumer: name.to_owned(),
                    pid: entry.pid.load(Ordering::Relaxed),
                })
            }
        }
    }
    Err(ShmError::NotDeclared {
        name: segment.name().to_string(),
        consumer: name.to_owned(),
    })
}

/// Release the dormant declared consumer (or declared pool) `consumer` of the segment
/// `segment`, whatever its event type: what `seqflow release` runs. See
/// [`ShmRing::release_declared`](crate::ShmRing::release_declared).
///
/// ```
/// use seqflow_shm::{release_declared, ShmError, ShmOptions, ShmRing};
/// # let name = format!("/seqflow-doc-release-fn-{}", std::process::id());
/// let options = ShmOptions { declared_consumers: vec!["audit".into()], ..Default::default() };
/// let ring = ShmRing::<u64>::create(&name, 4, options).unwrap();
/// # let _guard = ring.unlink_on_drop();
/// release_declared(&name, "audit").unwrap();
/// assert!(matches!(release_declared(&name, "audit"), Err(ShmError::NotDeclared { .. })));
/// ```
pub fn release_declared(segment: &str, consumer: &str) -> Result<(), ShmError> {
    release_declared_in(&attach_by_name(segment)?, consumer)
}

/// Halt the ring `segment` in every process, as [`ShmRing::halt_all`](crate::ShmRing::halt_all)
/// does, without knowing its event type (what `seqflow halt NAME` calls). Returns the pid that
/// halted it (this process, or whoever halted it first).
///
/// ```
/// use seqflow_shm::{halt_all, ConsumeError, ShmOptions, ShmRing};
/// let name = format!("/seqflow-doc-haltname-{}", std::process::id());
/// let ring = ShmRing::<u64>::create(&name, 8, ShmOptions::default()).unwrap();
/// let _guard = ring.unlink_on_drop();
/// let mut c = ring.consumer("c").unwrap();
/// assert_eq!(halt_all(&name).unwrap(), std::process::id());
/// assert_eq!(c.wait_for(0, None), Err(ConsumeError::Alerted));
/// ```
pub fn halt_all(segment: &str) -> Result<u32, ShmError> {
    let ring = attach_by_name(segment)?;
    let pid = ring.segment.header.status.halt(std::process::id());
    ring.sequencer.wait_strategy().signal_all();
    Ok(pid)
}

/// Attach to `segment` without an event type (the header is checked as at any open).
fn attach_by_name(segment: &str) -> Result<RingInner, ShmError> {
    let name = crate::SegmentName::new(segment)?;
    let segment = crate::open::open_segment(
        &name,
        std::time::Duration::from_secs(1),
        None,
        crate::open::Attach::Yes,
    )?;
    let sequencer = std::sync::Arc::new(crate::ShmSequencer::build(&segment)?);
    let defaults = crate::OpenOptions::default();
    Ok(RingInner {
        segment,
        sequencer,
        liveness_interval: defaults.liveness_interval,
        registry_timeout: defaults.registry_timeout,
    })
}
