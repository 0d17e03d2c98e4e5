//! A session's outbox: the queue between whoever sends to a session (its
//! own connection, other sessions relaying to it, the plugin) and the
//! connection task that writes to its socket.
//!
//! It is bounded twice: in messages and in bytes. A message count alone
//! lets a room relay 1 024 messages of 16 MiB to one member that does not
//! read; the byte bound closes such a slow consumer once what waits for it
//! passes `max_bytes`. A single message larger than the bound still goes
//! through an empty outbox, so the bound never refuses a message the
//! listener accepted.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;

/// How many bytes a queued message holds (near enough: the payload, not
/// the allocator's overhead).
pub trait Weigh {
    fn weight(&self) -> usize;
}

impl Weigh for bytes::Bytes {
    fn weight(&self) -> usize {
        self.len()
    }
}

impl Weigh for tokio_tungstenite::tungstenite::Utf8Bytes {
    fn weight(&self) -> usize {
        self.len()
    }
}

impl Weigh for tokio_tungstenite::tungstenite::Message {
    fn weight(&self) -> usize {
        self.len()
    }
}

impl Weigh for String {
    fn weight(&self) -> usize {
        self.len()
    }
}

/// How a message crosses to a session on another host of a cluster: as
/// bytes, and back. The defaults say "never": a protocol whose connections
/// are not sessions has nothing to send across.
pub trait Wire: Sized {
    fn to_wire(&self) -> Option<Vec<u8>> {
        None
    }
    fn from_wire(_bytes: Vec<u8>) -> Option<Self> {
        None
    }
}

impl Wire for bytes::Bytes {
    fn to_wire(&self) -> Option<Vec<u8>> {
        Some(self.to_vec())
    }
    fn from_wire(bytes: Vec<u8>) -> Option<Self> {
        Some(bytes.into())
    }
}

impl Wire for String {
    fn to_wire(&self) -> Option<Vec<u8>> {
        Some(self.as_bytes().to_vec())
    }
    fn from_wire(bytes: Vec<u8>) -> Option<Self> {
        String::from_utf8(bytes).ok()
    }
}

/// A WebSocket message: its kind in one byte, then its payload.
impl Wire for tokio_tungstenite::tungstenite::Message {
    fn to_wire(&self) -> Option<Vec<u8>> {
        use tokio_tungstenite::tungstenite::Message as M;
        let (kind, payload): (u8, &[u8]) = match self {
            M::Text(t) => (b't', t.as_bytes()),
            M::Binary(b) => (b'b', b),
            M::Ping(b) => (b'i', b),
            M::Pong(b) => (b'o', b),
            // A close frame is the connection's own business.
            M::Close(_) | M::Frame(_) => return None,
        };
        let mut out = Vec::with_capacity(1 + payload.len());
        out.push(kind);
        out.extend_from_slice(payload);
        Some(out)
    }
    fn from_wire(mut bytes: Vec<u8>) -> Option<Self> {
        use tokio_tungstenite::tungstenite::Message as M;
        if bytes.is_empty() {
            return None;
        }
        let kind = bytes.remove(0);
        Some(match kind {
            b't' => M::Text(String::from_utf8(bytes).ok()?.into()),
            b'b' => M::Binary(bytes.into()),
            b'i' => M::Ping(bytes.into()),
            b'o' => M::Pong(bytes.into()),
            _ => return None,
        })
    }
}

/// Why a message was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Over the message or the byte bound: a slow consumer.
    Full,
    /// The connection is gone.
    Closed,
}

/// The sending side; clones share the bound.
pub struct Sender<M> {
    tx: mpsc::Sender<M>,
    queued: Arc<AtomicUsize>,
    max_bytes: usize,
}

impl<M> Clone for Sender<M> {
    fn clone(&self) -> Self {
        Sender {
            tx: self.tx.clone(),
            queued: self.queued.clone(),
            max_bytes: self.max_bytes,
        }
    }
}

/// The connection task's side.
pub struct Receiver<M> {
    rx: mpsc::Receiver<M>,
    queued: Arc<AtomicUsize>,
}

/// An outbox of at most `messages` messages and `max_bytes` bytes (each at
/// least 1).
pub fn channel<M: Weigh>(messages: usize, max_bytes: usize) -> (Sender<M>, Receiver<M>) {
    let (tx, rx) = mpsc::channel(messages.max(1));
    let queued = Arc::new(AtomicUsize::new(0));
    (
        Sender {
            tx,
            queued: queued.clone(),
            max_bytes: max_bytes.max(1),
        },
        Receiver { rx, queued },
    )
}

impl<M: Weigh> Sender<M> {
    /// Queues `msg` unless that would pass a bound.
    pub fn try_send(&self, msg: M) -> Result<(), Refused> {
        let weight = msg.weight();
        // Reserve first, so that concurrent senders cannot all pass the check.
        let before = self.queued.fetch_add(weight, Ordering::AcqRel);
        if before > 0 && before.saturating_add(weight) > self.max_bytes {
            self.queued.fetch_sub(weight, Ordering::AcqRel);
            return Err(Refused::Full);
        }
        self.tx.try_send(msg).map_err(|e| {
            self.queued.fetch_sub(weight, Ordering::AcqRel);
            match e {
                mpsc::error::TrySendError::Full(_) => Refused::Full,
                mpsc::error::TrySendError::Closed(_) => Refused::Closed,
            }
        })
    }
}

impl<M: Weigh> Receiver<M> {
    fn taken(&self, msg: M) -> M {
        self.queued.fetch_sub(msg.weight(), Ordering::AcqRel);
        msg
    }

    /// The next message; None once every sender is gone.
    pub async fn recv(&mut self) -> Option<M> {
        let msg = self.rx.recv().await?;
        Some(self.taken(msg))
    }

    /// The next message if one is queued.
    pub fn try_recv(&mut self) -> Option<M> {
        let msg = self.rx.try_recv().ok()?;
        Some(self.taken(msg))
    }

    /// Bytes waiting.
    #[cfg(test)]
    fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_in_messages_and_in_bytes() {
        let (tx, mut rx) = channel::<String>(3, 10);
        assert_eq!(tx.try_send("x".repeat(6)), Ok(()));
        assert_eq!(
            tx.try_send("x".repeat(5)),
            Err(Refused::Full),
            "11 > 10 bytes"
        );
        assert_eq!(tx.try_send("x".repeat(4)), Ok(()));
        assert_eq!(rx.queued_bytes(), 10);
        assert_eq!(rx.try_recv().as_deref(), Some("xxxxxx"));
        assert_eq!(rx.queued_bytes(), 4);
        assert_eq!(tx.try_send(String::new()), Ok(()));
        assert_eq!(tx.try_send(String::new()), Ok(()));
        assert_eq!(tx.try_send(String::new()), Err(Refused::Full), "3 messages");
        while rx.try_recv().is_some() {}
        assert_eq!(rx.queued_bytes(), 0);
        // One message over the byte bound passes an empty outbox, alone.
        assert_eq!(tx.try_send("x".repeat(50)), Ok(()));
        assert_eq!(tx.try_send("x".to_string()), Err(Refused::Full));
        assert_eq!(rx.try_recv().map(|m| m.len()), Some(50));
        drop(rx);
        assert_eq!(tx.try_send(String::new()), Err(Refused::Closed));
    }

    #[test]
    fn websocket_messages_cross_as_bytes() {
        use tokio_tungstenite::tungstenite::Message as M;
        for m in [
            M::Text("héllo".into()),
            M::Binary(vec![0, 1, 255].into()),
            M::Ping(vec![7].into()),
        ] {
            assert_eq!(M::from_wire(m.to_wire().unwrap()), Some(m));
        }
        assert_eq!(M::from_wire(vec![b'x', 1]), None);
        assert_eq!(M::from_wire(vec![]), None);
        assert_eq!(M::Close(None).to_wire(), None);
    }
}
