//! `crossbeam_channel::bounded` as a [`Channel`].

use super::channel::Channel;

/// `crossbeam_channel::bounded`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Crossbeam;

impl<T: Send + 'static> Channel<T> for Crossbeam {
    type Tx = crossbeam_channel::Sender<T>;
    type Rx = crossbeam_channel::Receiver<T>;

    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
        crossbeam_channel::bounded(capacity)
    }

    #[inline]
    fn send(tx: &Self::Tx, value: T) -> bool {
        tx.send(value).is_ok()
    }

    #[inline]
    fn recv(rx: &Self::Rx) -> Option<T> {
        rx.recv().ok()
    }
}
