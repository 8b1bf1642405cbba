//! A request's event channel with a count of what its reader has not taken yet.
//!
//! The engine never blocks on a client, so the channel is unbounded; instead the
//! sender sees the reader's backlog ([`EventSender::unread`]) and the core ends a
//! request whose reader stops taking events (a client that stopped reading its
//! stream), so a stalled client costs a bounded buffer and bounded engine time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc::{self, error::TryRecvError};

use crate::event::EngineEvent;

/// A new channel: the engine's end and the request handler's end.
pub fn event_channel() -> (EventSender, EventStream) {
    let (tx, rx) = mpsc::unbounded_channel();
    let unread = Arc::new(AtomicUsize::new(0));
    (EventSender { tx, unread: unread.clone() }, EventStream { rx, unread })
}

/// The engine's end of a request's events.
#[derive(Debug, Clone)]
pub struct EventSender {
    tx: mpsc::UnboundedSender<EngineEvent>,
    unread: Arc<AtomicUsize>,
}

/// The reader has gone (its `EventStream` was dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderGone;

impl EventSender {
    /// Queues `event`. Errors: the reader is gone.
    pub fn send(&self, event: EngineEvent) -> Result<(), ReaderGone> {
        self.unread.fetch_add(1, Ordering::Relaxed);
        self.tx.send(event).map_err(|_| {
            self.unread.fetch_sub(1, Ordering::Relaxed);
            ReaderGone
        })
    }

    /// Events sent and not yet taken by the reader.
    pub fn unread(&self) -> usize {
        self.unread.load(Ordering::Relaxed)
    }
}

/// The request handler's end of its events.
#[derive(Debug)]
pub struct EventStream {
    rx: mpsc::UnboundedReceiver<EngineEvent>,
    unread: Arc<AtomicUsize>,
}

impl EventStream {
    /// The next event; `None` once the engine dropped the request (or stopped).
    pub async fn recv(&mut self) -> Option<EngineEvent> {
        let event = self.rx.recv().await;
        self.took(event.is_some());
        event
    }

    /// The next event if one is queued.
    ///
    /// Errors: none is queued (`Empty`), or none will come (`Disconnected`).
    pub fn try_recv(&mut self) -> Result<EngineEvent, TryRecvError> {
        let event = self.rx.try_recv();
        self.took(event.is_ok());
        event
    }

    /// Blocking [`Self::recv`], for threads outside an async runtime (tests).
    pub fn blocking_recv(&mut self) -> Option<EngineEvent> {
        let event = self.rx.blocking_recv();
        self.took(event.is_some());
        event
    }

    fn took(&self, one: bool) {
        if one {
            self.unread.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unread_counts_what_the_reader_has_not_taken() {
        let (tx, mut rx) = event_channel();
        for _ in 0..3 {
            tx.send(EngineEvent::Aborted).unwrap();
        }
        assert_eq!(tx.unread(), 3);
        assert_eq!(rx.try_recv(), Ok(EngineEvent::Aborted));
        assert_eq!(rx.blocking_recv(), Some(EngineEvent::Aborted));
        assert_eq!(tx.unread(), 1);
        drop(rx);
        assert_eq!(tx.send(EngineEvent::Aborted), Err(ReaderGone));
        assert_eq!(tx.unread(), 1, "a refused send is not counted");
    }
}
