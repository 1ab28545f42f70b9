//! Where a running disruptor is: its cursor, whether stages lag, and one stage's sequence
//! (LMAX's `getCursor`, `hasBacklog` and `getSequenceValueFor`), read without allocating.

use crate::{Disruptor, ProducerSequencer};

impl<E, S> Disruptor<E, S>
where
    E: Send + Sync + 'static,
    S: ProducerSequencer,
{
    /// The highest sequence up to which every event is published (-1: none yet). With several
    /// producers, a later event may be published already while one before it is still being
    /// written; this is the floor below which nothing is missing.
    pub fn cursor(&self) -> i64 {
        self.sequencer.published()
    }

    /// Whether any stage or poller has not yet processed every published event.
    ///
    /// ```
    /// use seqflow_pipeline::Disruptor;
    /// let mut b = Disruptor::builder(8, || 0u64).single_producer().unwrap();
    /// b.handle_events_with(|_: &u64, _, _| {}).named("sink");
    /// let (d, mut p) = b.start().unwrap();
    /// p.publish(|e, _| *e = 1).unwrap();
    /// while d.has_backlog() { std::thread::yield_now(); }
    /// assert_eq!(d.sequence_of("sink"), Some(d.cursor()));
    /// assert_eq!(d.sequence_of("nobody"), None);
    /// d.shutdown().unwrap();
    /// ```
    pub fn has_backlog(&self) -> bool {
        let published = self.cursor();
        // The stages and pollers added before start or by `handle_events_with` on the running
        // disruptor, then every consumer that gates the producers, which also counts the
        // pollers made by `Disruptor::poller` (they are in no list).
        self.stages
            .iter()
            .any(|s| s.registration.sequence().get() < published)
            || self.sequencer.gating().minimum(i64::MAX) < published
    }

    /// The last sequence the stage (or poller) named `name` has finished, or `None` if nothing
    /// has that name. Several stages with one name report the lowest of their sequences: all of
    /// them have finished up to it.
    pub fn sequence_of(&self, name: &str) -> Option<i64> {
        self.stages
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.registration.sequence().get())
            .min()
    }
}
