//! [`PollCore`]: the poll API's bookkeeping over any [`EventFeed`], once for the in-process
//! [`Poller`](crate::Poller) and the shared-memory consumer. The owner passes its feed's own
//! wait (each feed waits its own way and reports its own errors) to
//! [`PollCore::wait_with`]; the core records only gap-free available ranges, hands out events,
//! checks releases and publishes them.

use crate::feed::EventFeed;
use seqflow_sequence::Deadline;
use std::marker::PhantomData;
use std::time::Duration;

/// A poll API misuse the core refuses (each owner reports it in its own error type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollMisuse {
    /// `get(seq)` for a sequence not waited for, or already released.
    NotAvailable {
        /// Asked for.
        seq: i64,
        /// The highest sequence the poller may read.
        available: i64,
    },
    /// `update_sequence(seq)` beyond what was waited for, or backwards.
    BadUpdate {
        /// Asked for.
        seq: i64,
        /// The poller's sequence.
        current: i64,
        /// The highest sequence waited for.
        available: i64,
    },
}

/// A consumer driven from the caller's loop: the highest sequence its waits returned, and the
/// feed that holds its events and its (gating) sequence.
///
/// Invariant, on which the `unsafe` reads rest: every sequence in `sequence() + 1 ..=
/// available()` was returned as available by the feed's wait, and the feed's sequence moves only
/// through [`update_sequence`](Self::update_sequence) / [`handle_through`](Self::handle_through)
/// (both need `&mut self`, so no event reference handed out by `&self` outlives a release).
///
/// ```
/// use seqflow_pipeline::{Disruptor, PollError};
/// // The in-process `Poller` is built on it:
/// let mut b = Disruptor::builder(8, || 0u32).single_producer().unwrap();
/// let mut poller = b.poller().unwrap();
/// let (d, mut p) = b.start().unwrap();
/// p.publish(|e, _| *e = 5).unwrap();
/// assert_eq!(poller.get(0), Err(PollError::NotAvailable { seq: 0, available: -1 }));
/// poller.wait_for(0, None).unwrap();
/// assert_eq!(*poller.get(0).unwrap(), 5);
/// drop(poller);
/// d.shutdown().unwrap();
/// ```
pub struct PollCore<E: ?Sized, F> {
    feed: F,
    available: i64,
    _events: PhantomData<fn() -> E>,
}

impl<E: ?Sized, F: EventFeed<E>> PollCore<E, F> {
    /// A core over `feed`, starting at the feed's sequence (nothing available yet beyond it).
    ///
    /// # Safety
    /// The feed's sequence must move only through this core: the owner never calls
    /// [`EventFeed::set_sequence`] on the feed (it can reach it through [`feed`](Self::feed)),
    /// since [`get`](Self::get) hands out events on the strength of that sequence.
    pub unsafe fn new(feed: F) -> Self {
        let available = feed.sequence();
        Self {
            feed,
            available,
            _events: PhantomData,
        }
    }

    /// The feed (read-only: waits go through [`wait_with`](Self::wait_with)).
    #[inline]
    pub fn feed(&self) -> &F {
        &self.feed
    }

    /// The highest sequence a wait returned.
    #[inline]
    pub fn available(&self) -> i64 {
        self.available
    }

    /// The last released sequence.
    #[inline]
    pub fn sequence(&self) -> i64 {
        self.feed.sequence()
    }

    /// Wait until `seq` is available, through `wait(feed, from, timeout)`: the feed's own wait
    /// for `from`, returning the highest sequence such that everything from `from` up to it is
    /// available. The core asks from the first sequence it has not seen available yet (and
    /// again from past what came back, until `seq` is reached), so what it records is
    /// available without gaps from its sequence up: with several producers, a wait for a later
    /// sequence proves nothing about the ones before it. `timeout` bounds the whole call: `wait`
    /// gets one [`Deadline`] for every wait it makes, and starts it (`Deadline::begin`) only
    /// when it has to wait.
    ///
    /// # Safety
    /// `wait` must return only what the feed's wait returns for `from` (it must not make up
    /// sequences) and must not move the feed's sequence ([`EventFeed::set_sequence`]): the
    /// core's reads rely on both.
    pub unsafe fn wait_with<Err>(
        &mut self,
        seq: i64,
        timeout: Option<Duration>,
        mut wait: impl FnMut(&mut F, i64, &mut Deadline) -> Result<i64, Err>,
    ) -> Result<i64, Err> {
        // One deadline for the whole call, started by the first wait that has to wait (no
        // clock read while events are there).
        let mut deadline = Deadline::within(timeout);
        loop {
            let from = self.available.max(self.feed.sequence()) + 1;
            if seq < from {
                return Ok(self.available);
            }
            let hi = wait(&mut self.feed, from, &mut deadline)?;
            // SAFETY: `hi` came from the feed's wait for `from`, the first sequence not yet
            // recorded, so `sequence() + 1 ..= hi` is available without gaps.
            unsafe { self.note_available(hi) };
        }
    }

    /// Record that the feed's wait (or non-blocking poll) for `sequence() + 1` or
    /// `available() + 1` returned `hi`.
    ///
    /// # Safety
    /// As stated: every sequence from `sequence() + 1` up to `hi` must be available.
    #[inline]
    pub(crate) unsafe fn note_available(&mut self, hi: i64) {
        self.available = self.available.max(hi);
    }

    /// The event at `seq`: it must have been waited for and not yet released.
    #[inline]
    pub fn get(&self, seq: i64) -> Result<&E, PollMisuse> {
        if seq <= self.feed.sequence() || seq > self.available {
            return Err(PollMisuse::NotAvailable {
                seq,
                available: self.available,
            });
        }
        // SAFETY: `seq` is available (the struct invariant) and above the feed's gating
        // sequence, which cannot move while `&self` is borrowed (releasing needs `&mut self`).
        Ok(unsafe { self.feed.event(seq) })
    }

    /// Release every event up to `seq` (producers may reuse their slots).
    pub fn update_sequence(&mut self, seq: i64) -> Result<(), PollMisuse> {
        let current = self.feed.sequence();
        if seq < current || seq > self.available {
            return Err(PollMisuse::BadUpdate {
                seq,
                current,
                available: self.available,
            });
        }
        self.release_through(seq);
        Ok(())
    }

    /// Whether a loop that has just handled several events pauses before it waits for the
    /// next one: the feed's [`paces`](EventFeed::paces) (see [`Pacer`](crate::Pacer)).
    #[inline]
    pub fn paces(&self) -> bool {
        self.feed.paces()
    }

    /// Hand every event of `next..=upto` (available, from `sequence() + 1`) to
    /// `handler(event, seq, end_of_batch)`, then release them; how many. If the handler panics,
    /// the events it finished before are released and the panic goes on: the event it panicked
    /// on, and those after it, are handed out again by the next poll.
    #[inline]
    pub fn handle_through<H: FnMut(&E, i64, bool)>(&mut self, upto: i64, mut handler: H) -> usize {
        self.handle_while(upto, |event, seq, end| {
            handler(event, seq, end);
            true
        })
    }

    /// As [`handle_through`](Self::handle_through), but the handler answers whether to go on:
    /// the walk stops after the event it answers `false` to (handled, and released with those
    /// before it; the rest stay for the next poll). How many were handled. `end_of_batch` is
    /// true for `upto` only (the handler cannot know where it will stop itself).
    #[inline]
    pub fn handle_while<H: FnMut(&E, i64, bool) -> bool>(
        &mut self,
        upto: i64,
        mut handler: H,
    ) -> usize {
        let next = self.feed.sequence() + 1;
        let upto = upto.min(self.available);
        // The last event the handler finished.
        let mut done = next - 1;
        let feed = &self.feed;
        let walked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // Runs of consecutive slots (split where the ring wraps), each walked by offset
            // from its first event; the loop stops at `upto` before stepping past it (the end
            // of the sequence space is a valid `upto`).
            let mut seq = next;
            while seq <= upto {
                let run_end = feed.run_end(seq, upto);
                // SAFETY: as in `get`: available and above the feed's sequence, which moves
                // only after the loop; `run_end` ends a run.
                let walked = unsafe {
                    feed.visit_run(seq, run_end, |s, event| {
                        // SAFETY: as above; nobody writes the slot while the handler reads it.
                        let go_on = handler(event.as_ref(), s, s == upto);
                        done = s;
                        if go_on {
                            Ok(())
                        } else {
                            Err(Stopped)
                        }
                    })
                };
                if walked.is_err() || run_end == upto {
                    break;
                }
                seq = run_end + 1;
            }
        }));
        if done >= next {
            self.release_through(done);
        }
        if let Err(panic) = walked {
            std::panic::resume_unwind(panic);
        }
        (done - next + 1).max(0) as usize
    }

    /// The event at `seq` for a guard over `sequence() + 1 ..= available()` (checked in debug
    /// builds).
    #[inline]
    pub(crate) fn event(&self, seq: i64) -> &E {
        debug_assert!(seq > self.feed.sequence() && seq <= self.available);
        // SAFETY: guards hand out only sequences of a poll range: available and above our
        // gating sequence, which moves only when the guard (borrowing its poller mutably) drops.
        unsafe { self.feed.event(seq) }
    }

    /// Release every event up to `seq` (available, checked by the callers) and wake producers.
    #[inline]
    pub(crate) fn release_through(&mut self, seq: i64) {
        self.feed.set_sequence(seq);
        self.feed.signal();
    }
}

/// A handler of [`PollCore::handle_while`] answered `false`.
struct Stopped;
