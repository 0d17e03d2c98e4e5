//! Sessions, groups and name claims of one plugin: the state behind the
//! `wasmgate:plugin/sessions` imports. Connections register here; protocols
//! deliver a component's outgoing messages through here.
//!
//! Each session has an outbox bounded in messages and bytes (see
//! [`super::outbox`]), which its connection task drains. A session whose
//! outbox is full is a slow consumer: it is closed rather than buffered
//! without bound, and the drop is logged once.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::outbox::{self, Refused, Weigh};

pub type SessionId = u64;

/// Session ids are unique for the life of the process, across plugins.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

#[derive(Default)]
pub struct Sessions {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<SessionId, Entry>,
    /// Members in the order they joined.
    groups: HashMap<String, Vec<SessionId>>,
    claims: HashMap<String, SessionId>,
}

struct Entry {
    listener: Arc<str>,
    peer: SocketAddr,
    attrs: BTreeMap<String, String>,
    groups: BTreeSet<String>,
    claims: BTreeSet<String>,
    /// An [`outbox::Sender<M>`] of the protocol's outgoing message type.
    outbox: Box<dyn Any + Send + Sync>,
    close: CancellationToken,
    overflow: CancellationToken,
}

/// A session's view of itself, as the `info`/`members` imports return it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub id: SessionId,
    pub listener: String,
    pub peer: String,
    pub attrs: Vec<(String, String)>,
}

/// Where an outgoing message goes (the WIT `target`, host side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Reply,
    Session(SessionId),
    Group(String),
    GroupOthers(String),
}

/// A registered session. Dropping it removes the session from every group
/// and releases its claims.
pub struct SessionHandle {
    pub id: SessionId,
    /// Cancelled when the plugin closes the session or it is dropped as a
    /// slow consumer; the connection task then flushes and closes.
    pub close: CancellationToken,
    /// Cancelled (with `close`) when the session is dropped as a slow
    /// consumer: a write in progress to it may be abandoned at once.
    pub overflow: CancellationToken,
    sessions: Arc<Sessions>,
}

impl Drop for SessionHandle {
    fn drop(&mut self) {
        self.sessions.remove(self.id);
    }
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a connection whose outgoing messages of type `M` go to `outbox`.
    pub fn open<M: Weigh + Send + 'static>(
        self: &Arc<Self>,
        listener: &str,
        peer: SocketAddr,
        outbox: outbox::Sender<M>,
    ) -> SessionHandle {
        let id = NEXT_ID.fetch_add(1, Relaxed);
        let close = CancellationToken::new();
        let overflow = CancellationToken::new();
        let entry = Entry {
            listener: listener.into(),
            peer,
            attrs: BTreeMap::new(),
            groups: BTreeSet::new(),
            claims: BTreeSet::new(),
            outbox: Box::new(outbox),
            close: close.clone(),
            overflow: overflow.clone(),
        };
        self.lock().sessions.insert(id, entry);
        SessionHandle {
            id,
            close,
            overflow,
            sessions: self.clone(),
        }
    }

    fn remove(&self, id: SessionId) {
        let mut inner = self.lock();
        let Some(entry) = inner.sessions.remove(&id) else {
            return;
        };
        for g in &entry.groups {
            if let Some(members) = inner.groups.get_mut(g) {
                members.retain(|m| *m != id);
                if members.is_empty() {
                    inner.groups.remove(g);
                }
            }
        }
        for c in &entry.claims {
            inner.claims.remove(c);
        }
    }

    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn info_of(id: SessionId, e: &Entry) -> Info {
        Info {
            id,
            listener: e.listener.to_string(),
            peer: e.peer.to_string(),
            attrs: e
                .attrs
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    pub fn info(&self, id: SessionId) -> Option<Info> {
        self.lock().sessions.get(&id).map(|e| Self::info_of(id, e))
    }

    pub fn get_attr(&self, id: SessionId, key: &str) -> Option<String> {
        self.lock().sessions.get(&id)?.attrs.get(key).cloned()
    }

    pub fn set_attr(&self, id: SessionId, key: &str, value: Option<String>) {
        if let Some(e) = self.lock().sessions.get_mut(&id) {
            match value {
                Some(v) => e.attrs.insert(key.to_string(), v),
                None => e.attrs.remove(key),
            };
        }
    }

    pub fn join(&self, id: SessionId, group: &str) {
        let mut inner = self.lock();
        let Some(e) = inner.sessions.get_mut(&id) else {
            return;
        };
        if e.groups.insert(group.to_string()) {
            inner.groups.entry(group.to_string()).or_default().push(id);
        }
    }

    pub fn leave(&self, id: SessionId, group: &str) {
        let mut inner = self.lock();
        let Some(e) = inner.sessions.get_mut(&id) else {
            return;
        };
        if e.groups.remove(group)
            && let Some(members) = inner.groups.get_mut(group)
        {
            members.retain(|m| *m != id);
            if members.is_empty() {
                inner.groups.remove(group);
            }
        }
    }

    pub fn members(&self, group: &str) -> Vec<Info> {
        let inner = self.lock();
        let Some(ids) = inner.groups.get(group) else {
            return Vec::new();
        };
        ids.iter()
            .filter_map(|id| inner.sessions.get(id).map(|e| Self::info_of(*id, e)))
            .collect()
    }

    pub fn claim(&self, id: SessionId, name: &str) -> bool {
        let mut inner = self.lock();
        if !inner.sessions.contains_key(&id) {
            return false;
        }
        match inner.claims.get(name) {
            Some(owner) => *owner == id,
            None => {
                inner.claims.insert(name.to_string(), id);
                if let Some(e) = inner.sessions.get_mut(&id) {
                    e.claims.insert(name.to_string());
                }
                true
            }
        }
    }

    pub fn release(&self, id: SessionId, name: &str) {
        let mut inner = self.lock();
        if inner.claims.get(name) == Some(&id) {
            inner.claims.remove(name);
            if let Some(e) = inner.sessions.get_mut(&id) {
                e.claims.remove(name);
            }
        }
    }

    /// Asks the session's connection to close once its outbox is flushed.
    pub fn close(&self, id: SessionId) {
        if let Some(e) = self.lock().sessions.get(&id) {
            e.close.cancel();
        }
    }

    /// The sessions `target` names, seen from `caller`.
    pub fn resolve(&self, target: &Target, caller: SessionId) -> Vec<SessionId> {
        match target {
            Target::Reply => vec![caller],
            Target::Session(id) => vec![*id],
            Target::Group(g) => self.lock().groups.get(g).cloned().unwrap_or_default(),
            Target::GroupOthers(g) => {
                let mut ids = self.lock().groups.get(g).cloned().unwrap_or_default();
                ids.retain(|id| *id != caller);
                ids
            }
        }
    }

    /// Queues `msg` for the sessions `target` names, seen from `caller`;
    /// returns the ids it was queued for.
    pub fn send<M: Weigh + Clone + Send + 'static>(
        &self,
        target: &Target,
        caller: SessionId,
        msg: &M,
    ) -> Vec<SessionId> {
        self.deliver(&self.resolve(target, caller), msg)
    }

    /// Queues `msg` for each of `ids`; returns the ids it was queued for.
    /// A session that is gone is skipped; one whose outbox is full is closed.
    pub fn deliver<M: Weigh + Clone + Send + 'static>(
        &self,
        ids: &[SessionId],
        msg: &M,
    ) -> Vec<SessionId> {
        let inner = self.lock();
        let mut sent = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(e) = inner.sessions.get(id) else {
                continue;
            };
            let Some(tx) = e.outbox.downcast_ref::<outbox::Sender<M>>() else {
                tracing::error!(
                    session = id,
                    "outbox of another message type; message dropped"
                );
                continue;
            };
            match tx.try_send(msg.clone()) {
                Ok(()) => sent.push(*id),
                // Logged once: what else is sent to it until it is gone is
                // dropped without a line each.
                Err(Refused::Full) if !e.overflow.is_cancelled() => {
                    crate::limited!(warn, session = id, peer = %e.peer, "outbox full (slow consumer); closing the session");
                    e.overflow.cancel();
                    e.close.cancel();
                }
                Err(Refused::Full | Refused::Closed) => {}
            }
        }
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(s: &Arc<Sessions>, cap: usize) -> (SessionHandle, outbox::Receiver<String>) {
        let (tx, rx) = outbox::channel(cap, 1 << 20);
        (s.open("l", "127.0.0.1:1".parse().unwrap(), tx), rx)
    }

    #[test]
    fn groups_claims_and_removal() {
        let s = Arc::new(Sessions::default());
        let (a, _ra) = open(&s, 8);
        let (b, _rb) = open(&s, 8);
        s.join(a.id, "room");
        s.join(b.id, "room");
        s.join(b.id, "room");
        assert_eq!(
            s.members("room").iter().map(|i| i.id).collect::<Vec<_>>(),
            [a.id, b.id]
        );
        assert!(s.claim(a.id, "alice"));
        assert!(s.claim(a.id, "alice"));
        assert!(!s.claim(b.id, "alice"));
        s.set_attr(a.id, "name", Some("alice".into()));
        assert_eq!(s.get_attr(a.id, "name").as_deref(), Some("alice"));
        assert_eq!(s.resolve(&Target::GroupOthers("room".into()), a.id), [b.id]);
        assert_eq!(
            s.send(&Target::GroupOthers("room".into()), a.id, &"hi".to_string()),
            [b.id]
        );
        drop(a);
        assert_eq!(s.members("room").len(), 1);
        assert!(
            s.claim(b.id, "alice"),
            "a dropped session releases its claims"
        );
        s.leave(b.id, "room");
        assert!(s.members("room").is_empty());
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn delivery_and_slow_consumers() {
        let s = Arc::new(Sessions::default());
        let (a, mut ra) = open(&s, 1);
        let sent = s.deliver(&[a.id, 999], &"one".to_string());
        assert_eq!(sent, [a.id]);
        assert!(!a.close.is_cancelled());
        assert!(s.deliver(&[a.id], &"two".to_string()).is_empty());
        assert!(a.close.is_cancelled(), "a full outbox closes the session");
        assert!(a.overflow.is_cancelled());
        assert_eq!(ra.try_recv().unwrap(), "one");
        let (b, _rb) = open(&s, 100);
        assert_eq!(s.deliver(&[b.id], &"x".repeat(1 << 20)), [b.id]);
        assert!(s.deliver(&[b.id], &"y".to_string()).is_empty());
        assert!(b.close.is_cancelled(), "past the byte bound: closed too");
    }
}
