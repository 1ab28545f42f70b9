#![cfg(loom)]
//! Loom model: a stage that follows a worker pool of a shared ring never reads an event that a
//! worker which joined the pool after the stage took its workers still handles
//! (`crates/seqflow-shm/src/pool_members.rs`).
//!
//! The protocol lives in the shared-memory layer, whose atomics are the standard library's, so
//! this is a model of it rather than a run of its code: the same steps, with the same orderings,
//! on loom's atomics.
//!
//! Event 0 is published. Worker A is in the pool when the follower takes the pool's workers (the
//! membership count is 0 then); worker B joins later: it gates at the work sequence it read,
//! becomes active, bumps the membership count (the registration, under the registry lock), then
//! claims like A. A pool worker claims by setting its sequence below the event, then a CAS on
//! the work sequence; the winner writes the event (a handler that mutates its events) and moves
//! its sequence on; the loser moves its sequence to the work sequence it read, as a worker does
//! before it claims the next event. The follower reads A's sequence, then the count; with the
//! count unchanged it reads the event, otherwise it takes the workers again (B among them) and
//! reads the event only once B is past it too. The event is a `loom::cell::UnsafeCell`: a
//! follower that read it while B wrote it fails the model. Bumping the count after the claim,
//! or reading the count before A's sequence, fails it.
//!
//! Run with `.ci/loom` (`RUSTFLAGS="--cfg loom"`, release mode).

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;

/// A registry entry's state: not a worker of the pool yet, or an active one.
const FREE: u32 = 0;
const ACTIVE: u32 = 1;

/// The shared state: the pool's work sequence and membership count, the two workers'
/// sequences, B's entry state, and the slot of event 0.
struct Pool {
    work: AtomicI64,
    members: AtomicU64,
    seq_a: AtomicI64,
    seq_b: AtomicI64,
    state_b: AtomicU32,
    event: UnsafeCell<i64>,
}

// SAFETY: the model checks that the protocol orders every access to `event`; loom's
// `UnsafeCell` panics on any access pair not ordered by happens-before.
unsafe impl Sync for Pool {}

/// One claim of event 0 by the worker whose sequence is `seq`; the winner writes `mark` into
/// the event.
fn claim(pool: &Pool, seq: &AtomicI64, mark: i64) {
    let current = pool.work.load(Ordering::Acquire);
    if current >= 0 {
        // Event 0 is taken: this worker moves on to claim the next one, past event 0.
        seq.store(current, Ordering::Release);
        return;
    }
    seq.store(current, Ordering::Release);
    match pool
        .work
        .compare_exchange(current, 0, Ordering::AcqRel, Ordering::Acquire)
    {
        Ok(_) => {
            pool.event.with_mut(|v| {
                // SAFETY: loom checks that no read of the follower races with this write.
                unsafe { *v = mark }
            });
            seq.store(0, Ordering::Release);
        }
        Err(taken) => seq.store(taken, Ordering::Release),
    }
}

#[test]
fn a_follower_never_reads_an_event_a_late_worker_handles() {
    loom::model(|| {
        let pool = Arc::new(Pool {
            work: AtomicI64::new(-1),
            members: AtomicU64::new(0),
            seq_a: AtomicI64::new(-1),
            seq_b: AtomicI64::new(-1),
            state_b: AtomicU32::new(FREE),
            event: UnsafeCell::new(0),
        });
        // The follower took the pool's workers (A alone) at membership count 0.
        let seen = 0;

        let late = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || {
                // Registration: gate at the work sequence, become active, bump the count.
                let start = pool.work.load(Ordering::Acquire);
                pool.seq_b.store(start, Ordering::Release);
                pool.state_b.store(ACTIVE, Ordering::Release);
                pool.members.fetch_add(1, Ordering::AcqRel);
                claim(&pool, &pool.seq_b, 2);
            })
        };
        let early = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || claim(&pool, &pool.seq_a, 1))
        };

        // The follower's poll of event 0.
        if pool.seq_a.load(Ordering::Acquire) >= 0 {
            let follows_b = if pool.members.load(Ordering::Acquire) == seen {
                false
            } else {
                // The count moved: take the workers again before reading anything.
                pool.state_b.load(Ordering::Acquire) == ACTIVE
            };
            if !follows_b || pool.seq_b.load(Ordering::Acquire) >= 0 {
                let seen = pool.event.with(|v| {
                    // SAFETY: loom checks that no write races with this read.
                    unsafe { *v }
                });
                assert!(seen == 1 || seen == 2, "event 0 read before it was handled");
            }
        }

        late.join().unwrap();
        early.join().unwrap();
    });
}
