//! [`Pacing`]: how long a stage that has caught up with a stream of events waits before it
//! looks for the next one.

/// What a stage does when it has just handled a small batch of several events: pause for a few
/// spin hints, in proportion to the batch, before it looks for the next events.
///
/// A stage that keeps up with a producer publishing one event at a time reads the producer's
/// cursor after every few events; each read takes the cursor's cache line away from the
/// producer's core, whose next store has to fetch it back. A batch of several events says the
/// producer is streaming: a short pause then lets more events accumulate, and the stage takes
/// them in one larger batch with one read of the cursor.
///
/// Before it pauses, the stage looks whether the next event is already there, and then takes it
/// at once, so a moderate stream (a few million events a second, which reaches the stage one to
/// three events at a time) keeps its latency. A producer at full speed outpaces those looks:
/// each finds a few new events, and the stage would never pause. So once a pause has let more
/// than [`Pacing::LARGEST_PACED_BATCH`] events accumulate, the producer is streaming at full
/// speed and the stage pauses after each small batch without looking, until a pause finds
/// fewer ([`Pacer::should_pause`]). A look finds nothing now and then even at full speed, and
/// the pause after it is what shows the producer's speed (a pause that filled a small ring
/// shows it too). Pausing without the look took one-at-a-time publishing through
/// multi-producer rings from about 91 to 125 M events/s, and a cross-process stream
/// from 163-186 to 205-300 M events/s; pausing without it at every rate multiplied the median
/// latency of a stream of 10 M events a second on a multi-producer ring by six
/// (docs/benchmarks.md, section 34).
///
/// A batch of one event (request and reply, or a quiet stream)
/// is never followed by a pause, so a round trip through a stage costs what it did. Nor is a
/// batch of more than [`Pacing::LARGEST_PACED_BATCH`] events: the stage was behind (the producer
/// published a burst, or the stage lost its core for a while), it is not reading the line the
/// producer fills, and a pause would only delay the next events and, on a shared core, take
/// time from the threads that publish them. Nor is a batch that leaves events the stage knows
/// are published for later (its batch cap), nor one that found every slot of a small ring
/// published ([`Pacer::handled_of`]). A stage that falls behind during pauses thus stops
/// pausing until it has caught up.
///
/// Only a stage that waits with the ring's wait strategy, when that strategy spins first
/// ([`WaitStrategy::spins_first`](seqflow_sequence::WaitStrategy::spins_first): busy-spin,
/// yielding with the default spin tries, phased back-off), and that follows the producer alone
/// pauses: a stage after other stages sees them publish once per batch, not per event, and a
/// stage whose wait is made to spin anyway spends its core the same way during the pause
/// (which comes before the wait's own spin), while a stage that sleeps or blocks gives its
/// core up. The default `YieldingWait` spins first, so the first stages of a disruptor built
/// with the defaults pause. A
/// stage with a wait strategy of its own, pool workers, custom processors, pollers and lossy
/// subscribers never pause; the shared-memory consumer's `poll_batch` pauses as a stage does
/// (see [`Pacer`]).
///
/// The pause is `per_event` spin hints for each event of the batch just handled, at most
/// `max_spins` ([`Pacing::DEFAULT`]: 4 and 64, about 1.6 µs on a machine whose spin hint takes
/// 25 ns), and never more than [`Pacing::MAX_SPINS`] whatever `max_spins` says. It bounds what
/// an event published after a batch of `n` (during the batch or after it) may wait for a stage
/// that would otherwise have seen it at once: `min(4 n, 64)` spin hints by default.
///
/// A stage with no pacing set takes its ring's default: [`Pacing::DEFAULT`] on a ring in one
/// process with one producer, [`Pacing::LONG`] (32 and 256, about 6.4 µs at 25 ns a hint) on a
/// ring with several producers ([`Pacing::ring_default`]) and on every ring shared between
/// processes. With several producers every claim is an atomic read-modify-write on the shared
/// claim cursor, which first waits for the producer's earlier stores to reach its cache: each
/// line a polling stage took away since (the slot, the availability mark) costs the next claim
/// that wait, so polls cost the producers several times what they cost a single producer,
/// whose plain stores wait in its store buffer instead.
/// With two and three producers publishing `u64`s one at a time on two cores, the longer pause
/// took the stage's throughput from about 37 to 80 M events/s (docs/benchmarks.md, section 30).
/// A shared ring's producer does more per event than one in a single process (the fork check,
/// its claim's end in its producer slot, the look at the ring's status): behind one publishing
/// one event at a time, a consumer with the shorter pause settled into batches of about 16
/// events, at half the rate the longer pause gives or less (section 32).
///
/// The stage does not look at the ring
/// during the pause, so whatever it would have noticed there (an event to drain at shutdown, a
/// closed or halted shared ring, the start of a wait's timeout) comes at most that much later;
/// a pause longer than 64 hints looks at the stop signal (halt, removal) every 64 hints and
/// ends when it is raised. Turn it off with [`Pacing::OFF`] where
/// latency matters more than throughput.
///
/// ```
/// use seqflow_pipeline::Pacing;
/// assert_eq!(Pacing::DEFAULT.spins_after(1), 0); // a single event: no pause
/// assert_eq!(Pacing::DEFAULT.spins_after(3), 12);
/// assert_eq!(Pacing::DEFAULT.spins_after(63), 64);
/// assert_eq!(Pacing::DEFAULT.spins_after(64), 0); // the stage was behind: no pause
/// assert_eq!(Pacing::OFF.spins_after(3), 0);
/// assert_eq!(Pacing::new(1, 8).spins_after(5), 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    per_event: u32,
    max_spins: u32,
}

impl Pacing {
    /// The largest batch a pause may follow: after 64 events or more (a cache line's worth of
    /// one-byte events, eight lines of `u64`s) the stage was behind, not in step with the
    /// producer.
    pub const LARGEST_PACED_BATCH: i64 = 63;

    /// The longest pause, in spin hints, whatever [`Pacing::new`] was given: 1024, about 25 µs
    /// on a machine whose spin hint takes 25 ns.
    pub const MAX_SPINS: u32 = 1024;

    /// No pause: a stage polls again as soon as it has handled a batch (lowest latency).
    pub const OFF: Pacing = Pacing {
        per_event: 0,
        max_spins: 0,
    };

    /// Four spin hints per event of the batch just handled, at most 64: what a stage on a ring
    /// in one process with one producer does unless told otherwise.
    pub const DEFAULT: Pacing = Pacing {
        per_event: 4,
        max_spins: 64,
    };

    /// 32 spin hints per event of the batch just handled, at most 256: what a stage on a ring
    /// with several producers, or on a ring shared between processes, does unless told
    /// otherwise (see the type's docs for why it pauses longer there).
    pub const LONG: Pacing = Pacing {
        per_event: 32,
        max_spins: 256,
    };

    /// The pacing of a stage that was given none, on a ring in one process with several
    /// producers or one (a ring shared between processes always answers [`Pacing::LONG`]).
    ///
    /// ```
    /// use seqflow_pipeline::Pacing;
    /// assert_eq!(Pacing::ring_default(false), Pacing::DEFAULT);
    /// assert_eq!(Pacing::ring_default(true), Pacing::LONG);
    /// assert_eq!(Pacing::LONG.spins_after(3), 96);
    /// assert_eq!(Pacing::LONG.spins_after(63), 256);
    /// ```
    pub const fn ring_default(multi_producer: bool) -> Pacing {
        if multi_producer {
            Pacing::LONG
        } else {
            Pacing::DEFAULT
        }
    }

    /// `per_event` spin hints per event of the batch just handled, at most `max_spins` (and at
    /// most [`Pacing::MAX_SPINS`]).
    ///
    /// ```
    /// use seqflow_pipeline::Pacing;
    /// let p = Pacing::new(u32::MAX, u32::MAX);
    /// assert_eq!((p.per_event(), p.max_spins()), (u32::MAX, Pacing::MAX_SPINS));
    /// assert_eq!(p.spins_after(2), Pacing::MAX_SPINS);
    /// ```
    pub const fn new(per_event: u32, max_spins: u32) -> Self {
        let max_spins = if max_spins < Self::MAX_SPINS {
            max_spins
        } else {
            Self::MAX_SPINS
        };
        Pacing {
            per_event,
            max_spins,
        }
    }

    /// Spin hints per event of the batch just handled.
    pub const fn per_event(&self) -> u32 {
        self.per_event
    }

    /// The longest pause, in spin hints.
    pub const fn max_spins(&self) -> u32 {
        self.max_spins
    }

    /// The spin hints a stage gives before its next poll after a batch of `events` events: none
    /// after a single event, nor after more than
    /// [`LARGEST_PACED_BATCH`](Self::LARGEST_PACED_BATCH).
    #[inline]
    pub fn spins_after(&self, events: i64) -> u32 {
        if !(2..=Self::LARGEST_PACED_BATCH).contains(&events) {
            return 0;
        }
        let events = u32::try_from(events).unwrap_or(u32::MAX);
        events.saturating_mul(self.per_event).min(self.max_spins)
    }
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing::DEFAULT
    }
}

/// The pause a poll loop owes after its last batch: a [`Pacing`] and what it asked for after
/// the batch just handled. Every stage's loop keeps one, and so does the shared-memory
/// consumer's `poll_batch`; a loop written around a poll call can keep one too.
///
/// After a batch, [`handled`](Self::handled) (or [`handled_of`](Self::handled_of)) records the
/// pause the batch calls for: none when the stage is behind (a full ring counts only once
/// [`on_ring`](Self::on_ring) gave the ring's size). Before the next wait,
/// [`take`](Self::take) hands it over (and clears it), and
/// [`should_pause`](Self::should_pause) says whether to give it now (a look at the ring first,
/// unless the producer streams at full speed); the loop gives it with [`Pacer::pause`], as a
/// stage's loop does when its feed [`paces`](crate::EventFeed::paces).
///
/// ```
/// use seqflow_pipeline::{Pacer, Pacing};
/// let mut pacer = Pacer::new(Pacing::DEFAULT);
/// pacer.handled(5);
/// assert_eq!(pacer.take(), 20);
/// assert_eq!(pacer.take(), 0, "taken once");
/// pacer.handled(1); // a single event: no pause
/// assert_eq!(pacer.take(), 0);
/// let mut small = Pacer::new(Pacing::DEFAULT).on_ring(Some(8));
/// small.handled(8); // every slot was published: behind, no pause
/// assert_eq!(small.take(), 0);
/// small.handled(7); // one slot free: in step
/// assert_eq!(small.take(), 28);
/// assert_eq!(Pacer::default(), Pacer::new(Pacing::DEFAULT));
/// Pacer::pause(20, || false); // 20 spin hints
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacer {
    pacing: Pacing,
    owed: u32,
    /// A pause before a recent batch let more than a paced batch accumulate: the producer
    /// streams at full speed, and the loop pauses without a look first.
    streaming: bool,
    /// The batch in progress followed a pause.
    paused: bool,
    /// The ring's size in slots (`i64::MAX` when unknown): a wait that found this many events
    /// found the ring full.
    capacity: i64,
}

impl Pacer {
    /// A pacer that owes nothing yet, on a ring of unknown size.
    pub const fn new(pacing: Pacing) -> Self {
        Pacer {
            pacing,
            owed: 0,
            streaming: false,
            paused: false,
            capacity: i64::MAX,
        }
    }

    /// The same, for a loop on a ring of `capacity` slots (`None`: unknown), so that a batch
    /// that found every slot published counts as behind.
    pub const fn on_ring(mut self, capacity: Option<usize>) -> Self {
        self.capacity = match capacity {
            Some(c) if c <= i64::MAX as usize => c as i64,
            _ => i64::MAX,
        };
        self
    }

    /// Its pacing.
    pub const fn pacing(&self) -> Pacing {
        self.pacing
    }

    /// A batch of `events` events, every one the loop's last wait found, was just handled: owe
    /// the pause it calls for (none after a single event, none when the stage is behind).
    #[inline]
    pub fn handled(&mut self, events: i64) {
        self.handled_of(events, events, false);
    }

    /// A batch of `events` events was just handled, out of `found` the loop's last wait found
    /// from the batch's first event on; `left_by_cap`: the batch cap left some of them for
    /// later (not the partial-line rule). Owe the pause it calls for: none after a single
    /// event, none when the stage is behind its producer. Behind means the stage knows events
    /// are waiting for it (the cap), found more than
    /// [`LARGEST_PACED_BATCH`](Pacing::LARGEST_PACED_BATCH), or found every slot of the ring
    /// published ([`on_ring`](Self::on_ring)), so that the producer waits for room (rings of
    /// 63 slots or fewer, where no batch is larger). A batch cut short of a cache line the
    /// producer is filling is not behind: the stage is in step with the producer.
    ///
    /// ```
    /// use seqflow_pipeline::{Pacer, Pacing};
    /// let mut pacer = Pacer::new(Pacing::DEFAULT).on_ring(Some(1024));
    /// pacer.handled_of(5, 5, false);
    /// assert_eq!(pacer.take(), 20);
    /// pacer.handled_of(5, 9, true); // the cap left 4 events it knew of
    /// assert_eq!(pacer.take(), 0);
    /// pacer.handled_of(5, 9, false); // the partial-line rule left them
    /// assert_eq!(pacer.take(), 20);
    /// pacer.handled_of(60, 70, false); // found more than 63
    /// assert_eq!(pacer.take(), 0);
    /// ```
    #[inline]
    pub fn handled_of(&mut self, events: i64, found: i64, left_by_cap: bool) {
        let filled = found > Pacing::LARGEST_PACED_BATCH || found >= self.capacity;
        if self.paused {
            self.streaming = filled;
        }
        self.paused = false;
        let behind = left_by_cap || filled;
        self.owed = if behind {
            0
        } else {
            self.pacing.spins_after(events)
        };
    }

    /// Whether the loop gives the pause it owes now, before its next wait; `published` looks
    /// whether the next event is already there. Without a look while the producer streams at
    /// full speed (the last pause let more than 63 events accumulate, or filled the ring);
    /// otherwise only if `published` says the next event is not there yet. Call it only when a
    /// pause is owed (see [`take`](Self::take)).
    ///
    /// ```
    /// use seqflow_pipeline::{Pacer, Pacing};
    /// let mut pacer = Pacer::new(Pacing::DEFAULT);
    /// pacer.handled(3);
    /// assert!(!pacer.should_pause(|| true), "the next event is there: no pause");
    /// pacer.handled(3);
    /// assert!(pacer.should_pause(|| false), "nothing there yet: pause");
    /// pacer.handled_of(3, 100, false); // that pause let 100 events accumulate
    /// pacer.handled(3);
    /// assert!(pacer.should_pause(|| panic!("no look")), "streaming: pause without a look");
    /// ```
    #[inline]
    pub fn should_pause(&mut self, published: impl FnOnce() -> bool) -> bool {
        self.paused = self.streaming || !published();
        self.paused
    }

    /// The spin hints owed before the next wait (0 when none); owes nothing afterwards. It
    /// starts a new cycle: a pause given before a wait that then failed or timed out does not
    /// count for the next batch.
    #[inline]
    pub fn take(&mut self) -> u32 {
        self.paused = false;
        std::mem::take(&mut self.owed)
    }

    /// Give `spins` spin hints, or fewer once `stopping` says the loop must stop: it is looked
    /// at every 64 hints (never during a pause of 64 or fewer), so that a long pause does not
    /// delay a halt or a removal.
    #[inline]
    pub fn pause(spins: u32, stopping: impl Fn() -> bool) {
        let mut left = spins;
        while left > 0 {
            let step = left.min(SPINS_PER_STOP_CHECK);
            for _ in 0..step {
                seqflow_sequence::sync::spin_loop();
            }
            left -= step;
            if left > 0 && stopping() {
                return;
            }
        }
    }
}

impl Default for Pacer {
    /// [`Pacing::DEFAULT`] on a ring of unknown size.
    fn default() -> Self {
        Pacer::new(Pacing::DEFAULT)
    }
}

/// Spin hints between two looks at the stop signal during a pause.
const SPINS_PER_STOP_CHECK: u32 = 64;

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn a_long_pause_looks_at_the_stop_signal_and_ends_when_it_is_raised() {
        let looks = Cell::new(0);
        Pacer::pause(64 * 10, || {
            looks.set(looks.get() + 1);
            false
        });
        assert_eq!(looks.get(), 9, "between every 64 hints, not after the last");
        looks.set(0);
        Pacer::pause(u32::MAX, || {
            looks.set(looks.get() + 1);
            looks.get() == 3
        });
        assert_eq!(looks.get(), 3, "stops at the first raised look");
        Pacer::pause(64, || panic!("a default pause never looks"));
    }
}
