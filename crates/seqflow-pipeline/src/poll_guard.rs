//! [`PollGuard`]: the events of one poll, released to the producer when the guard drops.

use crate::Poller;
use seqflow_sequencer::Sequencer;
use std::cell::Cell;

/// The events one [`Poller::poll_events`] or [`Poller::poll_take`] handed out: iterate them
/// (`for e in &guard`, or [`iter`](Self::iter)), then drop the guard to release them all, read
/// or not.
///
/// The events borrow the guard, so none can be kept past the release:
///
/// ```compile_fail
/// # use seqflow_pipeline::Disruptor;
/// let mut b = Disruptor::builder(8, || 0u32).single_producer().unwrap();
/// let mut poller = b.poller().unwrap();
/// let first = {
///     let guard = poller.poll_events().unwrap();
///     guard.iter().next().unwrap()
/// }; // released here
/// println!("{first}");
/// ```
pub struct PollGuard<'a, E: Send + Sync, S: Sequencer> {
    poller: &'a mut Poller<E, S>,
    /// The next sequence to iterate (shared by every iterator of this guard).
    next: Cell<i64>,
    upto: i64,
}

impl<'a, E: Send + Sync, S: Sequencer> PollGuard<'a, E, S> {
    pub(crate) fn new(poller: &'a mut Poller<E, S>, next: i64, upto: i64) -> Self {
        Self {
            poller,
            next: Cell::new(next),
            upto,
        }
    }

    /// The sequences of this guard not yet iterated.
    pub fn remaining(&self) -> std::ops::RangeInclusive<i64> {
        self.next.get()..=self.upto
    }

    /// How many events are left to iterate (all of them before the first).
    ///
    /// ```
    /// use seqflow_pipeline::Disruptor;
    /// let mut b = Disruptor::builder(8, || 0u32).single_producer().unwrap();
    /// let mut poller = b.poller().unwrap();
    /// let (d, mut p) = b.start().unwrap();
    /// p.publish_batch(3, |e, seq| *e = seq as u32).unwrap();
    /// let guard = poller.poll_events().unwrap();
    /// assert_eq!((guard.len(), guard.iter().len()), (3, 3));
    /// guard.iter().next();
    /// assert_eq!(guard.len(), 2);
    /// drop(guard);
    /// drop(poller);
    /// d.shutdown().unwrap();
    /// ```
    pub fn len(&self) -> usize {
        (self.upto - self.next.get() + 1).max(0) as usize
    }

    /// Whether every event was iterated.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The events not yet iterated, in sequence order.
    pub fn iter(&self) -> Iter<'_, 'a, E, S> {
        Iter { guard: self }
    }

    /// The next event with its sequence.
    pub fn next_with_seq(&self) -> Option<(i64, &E)> {
        let seq = self.next.get();
        if seq > self.upto {
            return None;
        }
        self.next.set(seq + 1);
        Some((seq, self.poller.event(seq)))
    }
}

/// An iterator over a [`PollGuard`]'s events; they borrow the guard.
pub struct Iter<'g, 'a, E: Send + Sync, S: Sequencer> {
    guard: &'g PollGuard<'a, E, S>,
}

impl<'g, E: Send + Sync, S: Sequencer> Iterator for Iter<'g, '_, E, S> {
    type Item = &'g E;

    fn next(&mut self) -> Option<&'g E> {
        self.guard.next_with_seq().map(|(_, e)| e)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.guard.len();
        (left, Some(left))
    }
}

impl<E: Send + Sync, S: Sequencer> ExactSizeIterator for Iter<'_, '_, E, S> {}

impl<'g, 'a, E: Send + Sync, S: Sequencer> IntoIterator for &'g PollGuard<'a, E, S> {
    type Item = &'g E;
    type IntoIter = Iter<'g, 'a, E, S>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<E: Send + Sync, S: Sequencer> Drop for PollGuard<'_, E, S> {
    fn drop(&mut self) {
        self.poller.release_through(self.upto);
    }
}
