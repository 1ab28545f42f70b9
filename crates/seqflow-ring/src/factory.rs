//! [`EventFactory`]: how the ring's slots are filled once, before any event flows.

/// Makes the events that fill a ring's slots when it is created. Events are then reused in
/// place: a producer overwrites a slot's fields, it never allocates a new event.
///
/// Any `Fn() -> E` closure is a factory.
///
/// ```
/// use seqflow_ring::EventFactory;
/// struct Zeroes;
/// impl EventFactory<[u8; 4]> for Zeroes {
///     fn new_event(&self) -> [u8; 4] { [0; 4] }
/// }
/// assert_eq!(Zeroes.new_event(), [0; 4]);
/// assert_eq!((|| 7u32).new_event(), 7);
/// ```
pub trait EventFactory<E> {
    /// A fresh event for one slot.
    fn new_event(&self) -> E;
}

impl<E, F: Fn() -> E> EventFactory<E> for F {
    #[inline]
    fn new_event(&self) -> E {
        self()
    }
}
