//! Every paired claim of a `Producer` is published exactly once, on every path: each publishing
//! method, `commit`, a dropped guard, a panic in the write closure, an early return.
use seqflow_pipeline::Producer;
use seqflow_ring::RingBuffer;
use seqflow_sequence::{Deadline, YieldingWait};
use seqflow_sequencer::{
    ClaimError, Claimer, PublishError, SequenceRange, SingleClaimer, SingleProducerSequencer,
};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

/// Counts paired claims and publishes; panics on a publish that is not the open claim.
struct Counting {
    inner: SingleClaimer<YieldingWait>,
    open: Option<SequenceRange>,
    claims: usize,
    publishes: usize,
}

impl Claimer for Counting {
    type Sequencer = SingleProducerSequencer<YieldingWait>;
    fn claim_until(
        &mut self,
        n: usize,
        d: Option<std::time::Instant>,
    ) -> Result<SequenceRange, ClaimError> {
        self.inner.claim_until(n, d)
    }
    fn try_claim(&mut self, n: usize) -> Result<SequenceRange, ClaimError> {
        self.inner.try_claim(n)
    }
    fn publish(&mut self, range: SequenceRange) -> Result<(), PublishError> {
        self.inner.publish(range)
    }
    fn pending(&self) -> Option<SequenceRange> {
        self.inner.pending()
    }
    fn __internal_claim_paired(
        &mut self,
        n: usize,
        d: Deadline,
        block: bool,
    ) -> Result<SequenceRange, ClaimError> {
        assert!(
            self.open.is_none(),
            "claim while {:?} is unpublished",
            self.open
        );
        let r = self.inner.__internal_claim_paired(n, d, block)?;
        self.open = Some(r);
        self.claims += 1;
        Ok(r)
    }
    unsafe fn __internal_publish_paired(&mut self, range: SequenceRange) {
        assert_eq!(
            self.open.take(),
            Some(range),
            "published twice or not the claim"
        );
        self.publishes += 1;
        // The assertion above proved `range` is the open paired claim of `inner` (each paired
        // claim goes through `__internal_claim_paired` here, which records it), published once:
        // `open` is now empty, so a second publish of it panics before reaching here.
        // SAFETY: so `range` is `inner`'s last paired claim, unpublished; the caller's contract
        // (its slots hold whole events) is passed on unchanged.
        unsafe { self.inner.__internal_publish_paired(range) }
    }
    fn sequencer(&self) -> &Arc<Self::Sequencer> {
        self.inner.sequencer()
    }
}

fn producer() -> Producer<u64, Counting> {
    let seq = SingleProducerSequencer::new(8, YieldingWait::default(), 1).unwrap();
    let inner = seq.claimer().unwrap();
    let ring = RingBuffer::new(8, || 0u64).unwrap();
    let c = Counting {
        inner,
        open: None,
        claims: 0,
        publishes: 0,
    };
    // SAFETY: nobody reads the ring; the claims come from this sequencer of the same capacity.
    unsafe { Producer::__internal_from_parts(c, ring) }
}

fn check(p: &Producer<u64, Counting>) {
    let c = p.claimer();
    assert_eq!(c.claims, c.publishes);
    assert!(c.open.is_none());
}

#[test]
fn every_path_publishes_once() {
    let mut p = producer();
    p.publish(|e, _| *e = 1).unwrap();
    p.try_publish(|e, _| *e = 1).unwrap();
    p.publish_timeout(Duration::from_millis(1), |e, _| *e = 1)
        .unwrap();
    p.publish_batch(2, |e, _| *e = 1).unwrap();
    p.publish_batch_timeout(2, Duration::from_millis(1), |e, _| *e = 1)
        .unwrap();
    p.claim(1).unwrap().commit();
    drop(p.claim(1).unwrap());
    check(&p);
    // Panics inside the write closure: the guard's drop publishes.
    let _ = catch_unwind(AssertUnwindSafe(|| p.publish(|_, _| panic!("boom"))));
    let _ = catch_unwind(AssertUnwindSafe(|| p.try_publish(|_, _| panic!("boom"))));
    let _ = catch_unwind(AssertUnwindSafe(|| {
        p.publish_timeout(Duration::from_millis(1), |_, _| panic!("boom"))
    }));
    let _ = catch_unwind(AssertUnwindSafe(|| {
        p.publish_batch(3, |_, s| assert!(s % 3 != 2))
    }));
    let _ = catch_unwind(AssertUnwindSafe(|| {
        p.publish_batch_timeout(3, Duration::from_millis(1), |_, s| assert!(s % 3 != 1))
    }));
    check(&p);
    // Early `?` in user code holding a guard.
    fn early(p: &mut Producer<u64, Counting>) -> Result<(), ClaimError> {
        let _g = p.claim(1)?;
        Err(ClaimError::Zero)?;
        Ok(())
    }
    let _ = early(&mut p);
    // Errors before a guard exists publish nothing.
    assert!(p.publish_batch(0, |_, _| {}).is_err());
    assert!(p.publish_batch(9, |_, _| {}).is_err());
    check(&p);
}
