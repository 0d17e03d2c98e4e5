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
use std::sync::{Arc, Mutex, OnceLock};

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::outbox::{self, Refused, Weigh, Wire};

pub type SessionId = u64;

/// Session ids are unique for the life of the process, across plugins. In
/// a cluster the top 16 bits are the host's node number (see [`Link`]).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
const NODE_SHIFT: u32 = 48;
const COUNTER_MASK: u64 = (1 << NODE_SHIFT) - 1;

/// Starts this process's session counter at `start` (a clustered host
/// starts at its clock in microseconds, so a restarted host does not hand
/// out the ids its previous run's sessions still have in the directory).
pub fn seed_ids(start: u64) {
    NEXT_ID.fetch_max(start & COUNTER_MASK, Relaxed);
}

/// The node a session id belongs to (0: a host that is not clustered).
pub fn node_of(id: SessionId) -> u16 {
    (id >> NODE_SHIFT) as u16
}

/// How the sessions of one host reach those of the others in a cluster
/// (implemented over NATS by `crate::cluster`). Every method returns at
/// once but `claim`, which is a compare-and-set on the shared directory.
pub trait Link: Send + Sync {
    /// This host's node number, the top 16 bits of its session ids.
    fn node(&self) -> u16;
    /// Records a change of a local session for the other hosts, in order.
    fn publish(&self, plugin: &str, change: Change);
    /// Claims `name` for `id` across the cluster. `None`: the directory
    /// could not be reached, so nothing was claimed.
    fn claim(&self, plugin: &str, name: &str, id: SessionId) -> Option<bool>;
    fn release(&self, plugin: &str, name: &str, id: SessionId);
    /// Sends a message, as bytes, to sessions of host `node`.
    fn send(&self, plugin: &str, node: u16, ids: &[SessionId], msg: Vec<u8>);
    /// Asks host `node` to close its session `id`.
    fn close(&self, plugin: &str, node: u16, id: SessionId);
}

thread_local! {
    static UNREACHABLE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Notes, for the plugin call running on this thread, that a claim could
/// not reach the cluster's directory ([`UnreachableCheck`]).
fn note_unreachable() {
    UNREACHABLE.with(|u| u.set(true));
}

/// Around one plugin call on a blocking thread: whether a claim of the
/// call could not reach the cluster's directory. The call's answer then
/// rests on a claim that was not made, and is not sent.
pub struct UnreachableCheck(());

impl UnreachableCheck {
    pub fn start() -> UnreachableCheck {
        UNREACHABLE.with(|u| u.set(false));
        UnreachableCheck(())
    }

    pub fn hit(&self) -> bool {
        UNREACHABLE.with(|u| u.get())
    }
}

/// A change of a local session, as the other hosts learn it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Opened, or its attributes changed: the whole record.
    Record(Info),
    Joined(SessionId, String),
    Left(SessionId, String),
    /// Gone, with the groups it was in.
    Removed(SessionId, Vec<String>),
}

/// What a protocol does when a session of another host is gone because its
/// host died (chat announces the logout): called once, by the host that
/// releases the session, before it leaves its groups.
pub type OnGone = Arc<dyn Fn(SessionId) -> BoxFuture<'static, ()> + Send + Sync>;

pub struct Sessions {
    plugin: Arc<str>,
    inner: Mutex<Inner>,
    link: Option<Arc<dyn Link>>,
    on_gone: OnceLock<OnGone>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::new("", None)
    }
}

#[derive(Default)]
struct Inner {
    /// This host's sessions and, in a cluster, the others' as last heard.
    sessions: HashMap<SessionId, Entry>,
    /// Members in the order they joined.
    groups: HashMap<String, Vec<SessionId>>,
    /// Names claimed by this host's sessions.
    claims: HashMap<String, SessionId>,
    /// Memberships of another host's sessions heard before their record:
    /// a watch that begins with every key's last value delivers them in
    /// the order they were last written, and a record rewritten after its
    /// session joined (an attribute set) comes after the membership.
    pending: HashMap<SessionId, BTreeSet<String>>,
}

struct Entry {
    listener: Arc<str>,
    peer: String,
    attrs: BTreeMap<String, String>,
    groups: BTreeSet<String>,
    claims: BTreeSet<String>,
    /// Here: the connection's outbox and close tokens. Another host's
    /// session has none.
    local: Option<Local>,
}

struct Local {
    outbox: Box<dyn Outlet>,
    close: CancellationToken,
    overflow: CancellationToken,
}

/// An [`outbox::Sender`] of some message type, reached by that type or by
/// bytes from another host.
trait Outlet: Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn send_wire(&self, bytes: Vec<u8>) -> Result<(), Refused>;
}

impl<M: Weigh + Wire + Send + 'static> Outlet for outbox::Sender<M> {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn send_wire(&self, bytes: Vec<u8>) -> Result<(), Refused> {
        // Undecodable bytes are a bug of the sender; dropped like a closed outbox.
        M::from_wire(bytes).map_or(Err(Refused::Closed), |m| self.try_send(m))
    }
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
    /// The sessions of `plugin`; `link` joins them to the other hosts'.
    pub fn new(plugin: &str, link: Option<Arc<dyn Link>>) -> Sessions {
        Sessions {
            plugin: plugin.into(),
            inner: Mutex::default(),
            link,
            on_gone: OnceLock::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    fn node(&self) -> u16 {
        self.link.as_ref().map_or(0, |l| l.node())
    }

    fn publish(&self, change: impl FnOnce() -> Change) {
        if let Some(link) = &self.link {
            link.publish(&self.plugin, change());
        }
    }

    /// Sets what runs when another host's session is released because its
    /// host died (the first protocol to set it wins: one per plugin).
    pub fn on_gone(&self, f: OnGone) {
        let _ = self.on_gone.set(f);
    }

    /// Registers a connection whose outgoing messages of type `M` go to `outbox`.
    pub fn open<M: Weigh + Wire + Send + 'static>(
        self: &Arc<Self>,
        listener: &str,
        peer: SocketAddr,
        outbox: outbox::Sender<M>,
    ) -> SessionHandle {
        let id =
            (NEXT_ID.fetch_add(1, Relaxed) & COUNTER_MASK) | (u64::from(self.node()) << NODE_SHIFT);
        let close = CancellationToken::new();
        let overflow = CancellationToken::new();
        let entry = Entry {
            listener: listener.into(),
            peer: peer.to_string(),
            attrs: BTreeMap::new(),
            groups: BTreeSet::new(),
            claims: BTreeSet::new(),
            local: Some(Local {
                outbox: Box::new(outbox),
                close: close.clone(),
                overflow: overflow.clone(),
            }),
        };
        let info = Self::info_of(id, &entry);
        self.lock().sessions.insert(id, entry);
        self.publish(|| Change::Record(info));
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
            Self::unlist(&mut inner, g, id);
        }
        for c in &entry.claims {
            inner.claims.remove(c);
        }
        drop(inner);
        if let Some(link) = &self.link {
            for c in &entry.claims {
                link.release(&self.plugin, c, id);
            }
            link.publish(
                &self.plugin,
                Change::Removed(id, entry.groups.into_iter().collect()),
            );
        }
    }

    fn unlist(inner: &mut Inner, group: &str, id: SessionId) {
        if let Some(members) = inner.groups.get_mut(group) {
            members.retain(|m| *m != id);
            if members.is_empty() {
                inner.groups.remove(group);
            }
        }
    }

    /// Sessions of this host.
    pub fn len(&self) -> usize {
        self.lock()
            .sessions
            .values()
            .filter(|e| e.local.is_some())
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn info_of(id: SessionId, e: &Entry) -> Info {
        Info {
            id,
            listener: e.listener.to_string(),
            peer: e.peer.clone(),
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
        let mut inner = self.lock();
        let Some(e) = inner.sessions.get_mut(&id) else {
            return;
        };
        let changed = match value {
            Some(v) => e.attrs.insert(key.to_string(), v.clone()) != Some(v),
            None => e.attrs.remove(key).is_some(),
        };
        if changed {
            let info = Self::info_of(id, e);
            drop(inner);
            self.publish(|| Change::Record(info));
        }
    }

    pub fn join(&self, id: SessionId, group: &str) {
        let mut inner = self.lock();
        let Some(e) = inner.sessions.get_mut(&id) else {
            return;
        };
        if e.groups.insert(group.to_string()) {
            inner.groups.entry(group.to_string()).or_default().push(id);
            drop(inner);
            self.publish(|| Change::Joined(id, group.to_string()));
        }
    }

    pub fn leave(&self, id: SessionId, group: &str) {
        let mut inner = self.lock();
        let Some(e) = inner.sessions.get_mut(&id) else {
            return;
        };
        if e.groups.remove(group) {
            Self::unlist(&mut inner, group, id);
            drop(inner);
            self.publish(|| Change::Left(id, group.to_string()));
        }
    }

    /// Members of `group` on every host, in the order they joined.
    pub fn members(&self, group: &str) -> Vec<Info> {
        let inner = self.lock();
        let Some(ids) = inner.groups.get(group) else {
            return Vec::new();
        };
        ids.iter()
            .filter_map(|id| inner.sessions.get(id).map(|e| Self::info_of(*id, e)))
            .collect()
    }

    /// Claims `name` for `id`: on this host, then across the cluster.
    pub fn claim(&self, id: SessionId, name: &str) -> bool {
        {
            let inner = self.lock();
            if inner.sessions.get(&id).is_none_or(|e| e.local.is_none()) {
                return false;
            }
            if let Some(owner) = inner.claims.get(name) {
                return *owner == id;
            }
        }
        if let Some(link) = &self.link {
            match link.claim(&self.plugin, name, id) {
                Some(true) => {}
                Some(false) => return false,
                None => {
                    note_unreachable();
                    return false;
                }
            }
        }
        let mut inner = self.lock();
        let live = inner.sessions.contains_key(&id);
        match inner.claims.get(name) {
            // Another local session won the name meanwhile (only possible
            // without a link: the cluster's compare-and-set decides first).
            Some(owner) if *owner != id => return false,
            _ if !live => {
                drop(inner);
                if let Some(link) = &self.link {
                    link.release(&self.plugin, name, id);
                }
                return false;
            }
            _ => {}
        }
        inner.claims.insert(name.to_string(), id);
        if let Some(e) = inner.sessions.get_mut(&id) {
            e.claims.insert(name.to_string());
        }
        true
    }

    pub fn release(&self, id: SessionId, name: &str) {
        let mut inner = self.lock();
        if inner.claims.get(name) == Some(&id) {
            inner.claims.remove(name);
            if let Some(e) = inner.sessions.get_mut(&id) {
                e.claims.remove(name);
            }
            drop(inner);
            if let Some(link) = &self.link {
                link.release(&self.plugin, name, id);
            }
        }
    }

    /// Asks the session's connection to close once its outbox is flushed,
    /// on whichever host it is.
    pub fn close(&self, id: SessionId) {
        let inner = self.lock();
        match inner.sessions.get(&id).map(|e| e.local.as_ref()) {
            Some(Some(local)) => local.close.cancel(),
            _ if node_of(id) != self.node() => {
                drop(inner);
                if let Some(link) = &self.link {
                    link.close(&self.plugin, node_of(id), id);
                }
            }
            _ => {}
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
    pub fn send<M: Weigh + Wire + Clone + Send + 'static>(
        &self,
        target: &Target,
        caller: SessionId,
        msg: &M,
    ) -> Vec<SessionId> {
        self.deliver(&self.resolve(target, caller), msg)
    }

    /// Queues `msg` for each of `ids`: this host's in their outboxes, the
    /// others' sent to their hosts. Returns the ids it was queued or sent
    /// for. A session that is gone is skipped; one whose outbox is full is
    /// closed.
    pub fn deliver<M: Weigh + Wire + Clone + Send + 'static>(
        &self,
        ids: &[SessionId],
        msg: &M,
    ) -> Vec<SessionId> {
        let me = self.node();
        let mut sent = Vec::with_capacity(ids.len());
        let mut away: BTreeMap<u16, Vec<SessionId>> = BTreeMap::new();
        {
            let inner = self.lock();
            for id in ids {
                match inner
                    .sessions
                    .get(id)
                    .and_then(|e| e.local.as_ref().map(|l| (e, l)))
                {
                    Some((e, local)) => {
                        let Some(tx) = local.outbox.as_any().downcast_ref::<outbox::Sender<M>>()
                        else {
                            tracing::error!(
                                session = id,
                                "outbox of another message type; message dropped"
                            );
                            continue;
                        };
                        if Self::queued(*id, e, local, tx.try_send(msg.clone())) {
                            sent.push(*id);
                        }
                    }
                    None if node_of(*id) != me && self.link.is_some() => {
                        away.entry(node_of(*id)).or_default().push(*id);
                    }
                    None => {}
                }
            }
        }
        if let (Some(link), false) = (&self.link, away.is_empty()) {
            match msg.to_wire() {
                Some(bytes) => {
                    for (node, ids) in away {
                        link.send(&self.plugin, node, &ids, bytes.clone());
                        sent.extend(ids);
                    }
                }
                None => tracing::error!(
                    plugin = %self.plugin,
                    "a message for another host cannot cross; dropped"
                ),
            }
        }
        sent
    }

    /// Queues bytes from another host for this host's sessions `ids`.
    pub fn deliver_wire(&self, ids: &[SessionId], bytes: Vec<u8>) -> usize {
        let inner = self.lock();
        let mut sent = 0;
        for id in ids {
            if let Some(e) = inner.sessions.get(id)
                && let Some(local) = &e.local
                && Self::queued(*id, e, local, local.outbox.send_wire(bytes.clone()))
            {
                sent += 1;
            }
        }
        sent
    }

    /// Whether a message was queued; a full outbox closes its session,
    /// logged once: what else is sent to it until it is gone is dropped
    /// without a line each.
    fn queued(id: SessionId, e: &Entry, local: &Local, result: Result<(), Refused>) -> bool {
        match result {
            Ok(()) => true,
            Err(Refused::Full) if !local.overflow.is_cancelled() => {
                crate::limited!(warn, session = id, peer = %e.peer, "outbox full (slow consumer); closing the session");
                local.overflow.cancel();
                local.close.cancel();
                false
            }
            Err(Refused::Full | Refused::Closed) => false,
        }
    }

    /// Another host's session as it now is (opened or its attributes
    /// changed). Ignored for this host's own ids.
    pub fn remote_record(&self, info: Info) {
        if node_of(info.id) == self.node() {
            return;
        }
        let mut inner = self.lock();
        let pending = inner.pending.remove(&info.id).unwrap_or_default();
        let e = inner.sessions.entry(info.id).or_insert_with(|| Entry {
            listener: info.listener.as_str().into(),
            peer: String::new(),
            attrs: BTreeMap::new(),
            groups: BTreeSet::new(),
            claims: BTreeSet::new(),
            local: None,
        });
        e.peer = info.peer;
        e.attrs = info.attrs.into_iter().collect();
        let joined: Vec<String> = pending
            .into_iter()
            .filter(|g| e.groups.insert(g.clone()))
            .collect();
        for g in joined {
            inner.groups.entry(g).or_default().push(info.id);
        }
    }

    /// Another host's session joined (true) or left `group`.
    pub fn remote_member(&self, id: SessionId, group: &str, joined: bool) {
        if node_of(id) == self.node() {
            return;
        }
        let mut inner = self.lock();
        let Some(e) = inner.sessions.get_mut(&id) else {
            // before the session's record: kept until it comes
            let pending = inner.pending.entry(id).or_default();
            if joined {
                pending.insert(group.to_string());
            } else {
                pending.remove(group);
                if pending.is_empty() {
                    inner.pending.remove(&id);
                }
            }
            return;
        };
        if joined && e.groups.insert(group.to_string()) {
            inner.groups.entry(group.to_string()).or_default().push(id);
        } else if !joined && e.groups.remove(group) {
            Self::unlist(&mut inner, group, id);
        }
    }

    /// Another host's session is gone.
    pub fn remote_removed(&self, id: SessionId) {
        if node_of(id) == self.node() {
            return;
        }
        let mut inner = self.lock();
        inner.pending.remove(&id);
        if let Some(e) = inner.sessions.remove(&id) {
            for g in &e.groups {
                Self::unlist(&mut inner, g, id);
            }
        }
    }

    pub fn is_local(&self, id: SessionId) -> bool {
        self.lock()
            .sessions
            .get(&id)
            .is_some_and(|e| e.local.is_some())
    }

    /// Closes every session of this host; returns how many.
    pub fn close_all_local(&self) -> usize {
        let inner = self.lock();
        let mut n = 0;
        for local in inner.sessions.values().filter_map(|e| e.local.as_ref()) {
            local.close.cancel();
            n += 1;
        }
        n
    }

    /// Other hosts' sessions known here whose host is `node`.
    pub fn remote_ids(&self, node: u16) -> Vec<SessionId> {
        self.lock()
            .sessions
            .iter()
            .filter(|(id, e)| e.local.is_none() && node_of(**id) == node)
            .map(|(id, _)| *id)
            .collect()
    }

    /// The groups another host's session is in.
    pub fn groups_of(&self, id: SessionId) -> Vec<String> {
        self.lock()
            .sessions
            .get(&id)
            .map(|e| e.groups.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// This host's session ids, with the groups each is in and its record
    /// (to publish them again after the directory lost them).
    pub fn local_snapshot(&self) -> Vec<(Info, Vec<String>)> {
        self.lock()
            .sessions
            .iter()
            .filter(|(_, e)| e.local.is_some())
            .map(|(id, e)| (Self::info_of(*id, e), e.groups.iter().cloned().collect()))
            .collect()
    }

    /// Runs the protocol's [`OnGone`] for another host's session, if one is set.
    pub fn gone(&self, id: SessionId) -> Option<BoxFuture<'static, ()>> {
        self.on_gone.get().map(|f| f(id))
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

    /// A membership of another host's session heard before its record (as
    /// a watch that starts with every key's last value delivers them when
    /// the record was rewritten later) counts once the record comes; one
    /// left before it does not; a removed session leaves nothing behind.
    #[test]
    fn remote_memberships_may_come_before_the_record() {
        let s = Arc::new(Sessions::default());
        let remote = |n: u64| (7u64 << NODE_SHIFT) | n;
        let record = |id| Info {
            id,
            listener: "l".into(),
            peer: "10.0.0.1:1".into(),
            attrs: Vec::new(),
        };
        s.remote_member(remote(1), "room", true);
        s.remote_member(remote(2), "room", true);
        s.remote_member(remote(2), "room", false);
        s.remote_member(remote(3), "room", true);
        assert!(s.members("room").is_empty(), "no member without a record");
        s.remote_record(record(remote(1)));
        s.remote_record(record(remote(2)));
        assert_eq!(
            s.members("room").iter().map(|i| i.id).collect::<Vec<_>>(),
            [remote(1)]
        );
        s.remote_removed(remote(3));
        s.remote_record(record(remote(3)));
        assert_eq!(s.members("room").len(), 1, "removed before its record");
        s.remote_member(remote(1), "room", false);
        assert!(s.members("room").is_empty());
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
