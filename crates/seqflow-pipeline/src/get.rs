//! [`Disruptor::get`]: a copy of any event still in the ring, read without holding anybody back.

use crate::{Disruptor, GetError, LossyCursor, ProducerSequencer};

impl<E, S> Disruptor<E, S>
where
    E: Copy + Send + Sync + 'static,
    S: ProducerSequencer,
{
    /// A copy of the event at `seq`, if it is published and still in the ring (LMAX's
    /// `disruptor.get(sequence)`, for inspecting what the stages left in an event, in tests or
    /// after a run).
    ///
    /// The read holds nobody back: it copies the slot, then checks that no producer had claimed
    /// the slot for a later lap meanwhile, and reports [`GetError::Overwritten`] if one had (a
    /// copy is never torn). An event a writing stage ([`EventHandlerMut`](crate::EventHandlerMut))
    /// has not finished yet is [`GetError::BeingWritten`]; one not yet published is
    /// [`GetError::NotPublished`]. Events must be `Copy`: a reference could not be held while
    /// producers go on.
    ///
    /// ```
    /// use seqflow_pipeline::{Disruptor, GetError};
    /// #[derive(Clone, Copy, Default, Debug, PartialEq)]
    /// struct Order { qty: u32, checked: bool }
    /// let (done, finished) = std::sync::mpsc::channel();
    /// let mut b = Disruptor::builder(8, Order::default).single_producer().unwrap();
    /// b.handle_events_mut_with(|o: &mut Order, _, _| o.checked = o.qty < 100)
    ///     .then(move |_: &Order, seq, _| done.send(seq).unwrap());
    /// let (d, mut p) = b.start().unwrap();
    /// p.publish(|o, _| o.qty = 5).unwrap();
    /// assert_eq!(finished.recv().unwrap(), 0); // the stage after the writer has seen it
    /// assert_eq!(d.get(0), Ok(Order { qty: 5, checked: true }));
    /// assert!(matches!(d.get(1), Err(GetError::NotPublished { seq: 1, published: 0 })));
    /// d.shutdown().unwrap();
    /// ```
    pub fn get(&self, seq: i64) -> Result<E, GetError> {
        let published = self.sequencer.published();
        if seq < 0 || seq > published {
            return Err(GetError::NotPublished { seq, published });
        }
        for stage in self.stages.iter().filter(|s| s.exclusive.is_some()) {
            let done = stage.registration.sequence().get();
            if done < seq {
                return Err(GetError::BeingWritten {
                    seq,
                    stage: stage.name.clone(),
                    done,
                });
            }
        }
        let mut cursor = LossyCursor::new(seq);
        let producer = &*self.sequencer;
        // `seq` is at or below the published floor read above, so it is published (or lapped
        // since). No writing stage can be changing it: each one's sequence, read after the
        // floor, is at or past `seq`, and a writer only reaches this slot again in its next lap,
        // which a producer claims first (`claim_bound`, which the read checks after the copy).
        // Readers that do not write cannot change the slot.
        // SAFETY: so the slot holds a published event no writer is changing, or a lap the read
        // detects and discards.
        let read = unsafe { cursor.read(&self.ring, || producer.claim_bound()) };
        read.map(|(_, event)| event)
            .map_err(|lapped| GetError::Overwritten {
                seq,
                oldest: lapped.resume_at,
            })
    }
}
