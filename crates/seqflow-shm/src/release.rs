//! Releasing a declared consumer or pool by name: the operator's way to stop a declared name
//! from holding the producer back once nobody will attach as it again.

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
    let name = crate::SegmentName::new(segment)?;
    let segment = crate::open::open_segment(
        &name,
        std::time::Duration::from_secs(1),
        None,
        crate::open::Attach::Yes,
    )?;
    let sequencer = std::sync::Arc::new(crate::ShmSequencer::build(&segment)?);
    let defaults = crate::OpenOptions::default();
    let ring = RingInner {
        segment,
        sequencer,
        liveness_interval: defaults.liveness_interval,
        registry_timeout: defaults.registry_timeout,
    };
    release_declared_in(&ring, consumer)
}
