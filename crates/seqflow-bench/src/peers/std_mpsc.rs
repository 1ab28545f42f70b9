//! `std::sync::mpsc::sync_channel` as a [`Channel`].

use super::channel::Channel;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// `std::sync::mpsc::sync_channel`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdMpsc;

impl<T: Send + 'static> Channel<T> for StdMpsc {
    type Tx = SyncSender<T>;
    type Rx = Receiver<T>;

    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
        sync_channel(capacity)
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
