//! The sessions of every host, through NATS: this host's [`Link`].
//!
//! **Directory** (KV bucket `<name>_dir`, one writer per key: the host of
//! the session):
//! - `s.<plugin>.<session>`: the session's record (listener, peer,
//!   attributes, and the node and incarnation of its host);
//! - `g.<plugin>.<session>.<group>`: a membership; its revision is the
//!   order of joining;
//! - `c.<plugin>.<name>`: a claim, the id of the session holding it,
//!   written with `create` (compare-and-set), so exactly one of any number
//!   of concurrent claims across the cluster wins.
//!
//! Every host watches the directory and keeps the others' sessions in its
//! [`Sessions`], so `members`, `info` and routing read memory. This host's
//! changes are written in order by one task; a claim waits for its answer.
//!
//! **Messages** to another host's sessions go to `<name>.node.<n>.deliver`
//! (core NATS: at most once, in order per sending host); `.close` asks
//! it to close one. Each host reads its own subject through a bounded
//! subscription: past its capacity the client drops messages (counted in
//! `wasmgate_cluster_dropped_total`), and the NATS server disconnects a
//! host that cannot keep up rather than buffer for it without bound.
//!
//! **Liveness** (KV bucket `<name>_hosts`): `n.<n>` holds each host's name
//! and incarnation with a per-message TTL of `dead_after_ms`, refreshed
//! three times per period. A session whose host's key is gone, or names
//! another incarnation, for `dead_after_ms` is released by exactly one
//! surviving host (the one that creates `r.<n>.<incarnation>` first): the
//! protocol's [`Sessions::gone`] runs (chat announces the logout), then its
//! memberships, claims and record are deleted. A host that comes back
//! after being declared dead closes its own connections (their clients log
//! in again) and joins as a new incarnation.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_nats::jetstream::kv::{self, Operation};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{Cluster, Unavailable, escape, unescape};
use crate::state::sessions::{Change, Info, Link, SessionId, Sessions, node_of};

/// Directory writes waiting for the writer; past it they are dropped and
/// the directory is written again from this host's sessions.
const WRITE_QUEUE: usize = 65_536;
/// Messages to other hosts waiting to be handed to the NATS client.
const SEND_QUEUE: usize = 65_536;

pub struct Directory {
    cluster: Arc<Cluster>,
    node_no: u16,
    incarnation: AtomicU64,
    dir: kv::Store,
    hosts: kv::Store,
    hosts_name: String,
    writes: mpsc::Sender<Write>,
    sends: mpsc::Sender<(String, Bytes)>,
    plugins: RwLock<HashMap<String, Arc<Sessions>>>,
    /// Every claim in the directory: key → (holder, revision).
    claims: Mutex<HashMap<String, (SessionId, u64)>>,
    /// Incarnation of the host of each known remote session.
    incarnations: Mutex<HashMap<SessionId, u64>>,
    /// Live hosts: node number → incarnation.
    live: Mutex<HashMap<u16, Host>>,
    /// Set when a directory write failed: everything of this host is
    /// written again once NATS answers.
    rewrite: AtomicBool,
    /// What the host record carries besides liveness (plugin generations).
    status: Mutex<serde_json::Value>,
    /// Set at shutdown: the liveness key is no longer refreshed.
    leaving: AtomicBool,
    /// Set once the directory watch is started.
    following: AtomicBool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Host {
    pub node: String,
    pub incarnation: u64,
    pub started_ms: u64,
    #[serde(default)]
    pub status: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
struct Record {
    listener: String,
    peer: String,
    attrs: Vec<(String, String)>,
    node: u16,
    incarnation: u64,
}

enum Write {
    Change(String, Change),
    Release(String, SessionId),
}

impl Directory {
    /// Joins the directory: picks this host's node number, starts the
    /// hosts' watch, the writer, the inbox and the liveness loop (the
    /// directory's watch waits for [`Directory::follow_others`]).
    pub async fn join(cluster: Arc<Cluster>) -> anyhow::Result<Arc<Directory>> {
        let dir = cluster.kv_bucket("dir", false, -1).await?;
        let hosts = cluster.kv_bucket("hosts", true, -1).await?;
        let incarnation = rand_u64();
        let started_ms = crate::state::now_ms();
        let (node_no, _) = super::opening("claiming a node number", || {
            claim_node(&cluster, &hosts, incarnation, started_ms)
        })
        .await?;
        crate::state::sessions::seed_ids(started_ms.saturating_mul(1000));
        let (writes, write_rx) = mpsc::channel(WRITE_QUEUE);
        let (sends, send_rx) = mpsc::channel(SEND_QUEUE);
        let d = Arc::new(Directory {
            hosts_name: cluster.bucket("hosts"),
            cluster: cluster.clone(),
            node_no,
            incarnation: AtomicU64::new(incarnation),
            dir,
            hosts,
            writes,
            sends,
            plugins: RwLock::default(),
            claims: Mutex::default(),
            incarnations: Mutex::default(),
            live: Mutex::default(),
            rewrite: AtomicBool::new(false),
            status: Mutex::new(serde_json::Value::Null),
            leaving: AtomicBool::new(false),
            following: AtomicBool::new(false),
        });
        tracing::info!(node = %cluster.node, node_no, "joined the cluster's directory");
        let inbox = cluster
            .client
            .subscribe(cluster.subject(&format!("node.{node_no}.>")))
            .await?;
        tokio::spawn(d.clone().inbox(inbox));
        tokio::spawn(d.clone().writer(write_rx));
        tokio::spawn(sender(cluster.clone(), send_rx));
        tokio::spawn(d.clone().follow_hosts());
        tokio::spawn(d.clone().liveness(started_ms));
        Ok(d)
    }

    /// Starts following the other hosts' sessions, memberships and claims,
    /// once every plugin's sessions are registered ([`Directory::register`]):
    /// the watch moves past an entry of a plugin not registered yet, so a
    /// host joining a cluster whose sessions were delivered before its
    /// plugins were registered would never learn of them. Once per host.
    pub fn follow_others(self: &Arc<Self>) {
        if !self.following.swap(true, Relaxed) {
            tokio::spawn(self.clone().follow_directory());
        }
    }

    /// Registers a plugin's sessions (before any connection opens, and
    /// before [`Directory::follow_others`]).
    pub fn register(&self, sessions: Arc<Sessions>) {
        self.plugins
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sessions.plugin().to_string(), sessions);
    }

    fn sessions(&self, plugin: &str) -> Option<Arc<Sessions>> {
        self.plugins
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(plugin)
            .cloned()
    }

    fn all_sessions(&self) -> Vec<Arc<Sessions>> {
        self.plugins
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The hosts alive now, by node number.
    pub fn hosts(&self) -> BTreeMap<u16, Host> {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(n, h)| (*n, h.clone()))
            .collect()
    }

    pub fn node_no(&self) -> u16 {
        self.node_no
    }

    /// Shutdown begins: from now on this host's sessions stay in the
    /// directory when their connections close, for the others to release
    /// (and announce: chat's 31) once [`Directory::leave`] removes the
    /// liveness key.
    pub fn shutting_down(&self) {
        self.leaving.store(true, Relaxed);
    }

    /// Leaves the cluster at shutdown: lets the directory writes queued
    /// before go out (within `grace`), then deletes this host's liveness
    /// key, so the others release its sessions at once instead of after
    /// `dead_after_ms`.
    pub async fn leave(&self, grace: Duration) {
        let until = tokio::time::Instant::now() + grace;
        while self.writes.capacity() < self.writes.max_capacity()
            && tokio::time::Instant::now() < until
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.leaving.store(true, Relaxed);
        let key = format!("n.{}", self.node_no);
        if let Err(e) = self.cluster.op(self.hosts.delete(key)).await {
            tracing::warn!(error = %e, "liveness key not removed; the others will notice after dead_after_ms");
        }
    }

    /// What this host publishes about itself with its liveness (e.g. plugin
    /// generations), from the next refresh on.
    pub fn set_status(&self, status: serde_json::Value) {
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = status;
    }

    fn session_key(plugin: &str, id: SessionId) -> String {
        format!("s.{plugin}.{id}")
    }

    fn member_key(plugin: &str, id: SessionId, group: &str) -> String {
        format!("g.{plugin}.{id}.{}", escape(group))
    }

    fn claim_key(plugin: &str, name: &str) -> String {
        format!("c.{plugin}.{}", escape(name))
    }

    fn record(&self, info: &Info) -> Bytes {
        let record = Record {
            listener: info.listener.clone(),
            peer: info.peer.clone(),
            attrs: info.attrs.clone(),
            node: self.node_no,
            incarnation: self.incarnation.load(Relaxed),
        };
        serde_json::to_vec(&record).unwrap_or_default().into()
    }

    /// Writes this host's changes, in order.
    async fn writer(self: Arc<Self>, mut rx: mpsc::Receiver<Write>) {
        while let Some(w) = rx.recv().await {
            let result = match w {
                Write::Change(plugin, change) => self.write_change(&plugin, change).await,
                Write::Release(key, id) => self.release_key(&key, id).await,
            };
            if let Err(e) = result
                && !self.rewrite.swap(true, Relaxed)
            {
                tracing::warn!(error = %e, "directory write failed; this host's sessions will be written again");
            }
        }
    }

    async fn write_change(&self, plugin: &str, change: Change) -> Result<(), Unavailable> {
        let c = &self.cluster;
        match change {
            Change::Record(info) => {
                c.op(self
                    .dir
                    .put(Self::session_key(plugin, info.id), self.record(&info)))
                    .await?;
            }
            Change::Joined(id, group) => {
                c.op(self
                    .dir
                    .put(Self::member_key(plugin, id, &group), Bytes::new()))
                    .await?;
            }
            Change::Left(id, group) => {
                c.op(self.dir.delete(Self::member_key(plugin, id, &group)))
                    .await?;
            }
            Change::Removed(id, groups) => {
                for g in groups {
                    c.op(self.dir.delete(Self::member_key(plugin, id, &g)))
                        .await?;
                }
                c.op(self.dir.delete(Self::session_key(plugin, id))).await?;
            }
        }
        Ok(())
    }

    /// Deletes claim `key` if `id` still holds it.
    async fn release_key(&self, key: &str, id: SessionId) -> Result<(), Unavailable> {
        let c = &self.cluster;
        let Some(e) = c.op(self.dir.entry(key.to_string())).await? else {
            return Ok(());
        };
        if e.operation != Operation::Put
            || std::str::from_utf8(&e.value).ok() != Some(&id.to_string())
        {
            return Ok(());
        }
        match c
            .op(self.dir.delete_expect_revision(key, Some(e.revision)))
            .await
        {
            // Changed meanwhile: no longer ours.
            Ok(()) | Err(Unavailable::Nats(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Messages and close requests from other hosts for sessions here.
    async fn inbox(self: Arc<Self>, mut sub: async_nats::Subscriber) {
        let m = &self.cluster.metrics.cluster;
        while let Some(msg) = sub.next().await {
            let kind = msg.subject.rsplit('.').next().unwrap_or("");
            let Some((plugin, mut rest)) = split_plugin(msg.payload.clone()) else {
                continue;
            };
            let Some(sessions) = self.sessions(&plugin) else {
                continue;
            };
            match kind {
                "deliver" if rest.remaining() >= 4 => {
                    let n = rest.get_u32() as usize;
                    if rest.remaining() < n.saturating_mul(8) {
                        continue;
                    }
                    let ids: Vec<SessionId> = (0..n).map(|_| rest.get_u64()).collect();
                    let queued = sessions.deliver_wire(&ids, rest.to_vec());
                    m.received.fetch_add(queued as u64, Relaxed);
                }
                "close" if rest.remaining() >= 8 => sessions.close(rest.get_u64()),
                _ => {}
            }
        }
    }

    /// Keeps the live hosts current from the hosts bucket.
    async fn follow_hosts(self: Arc<Self>) {
        let seen = AtomicU64::new(0);
        self.cluster
            .follow(&self.hosts, &seen, |e| {
                let Some(no) = e.key.strip_prefix("n.").and_then(|n| n.parse::<u16>().ok()) else {
                    return;
                };
                let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
                match (e.operation, serde_json::from_slice::<Host>(&e.value)) {
                    (Operation::Put, Ok(h)) => {
                        live.insert(no, h);
                    }
                    _ => {
                        live.remove(&no);
                    }
                }
            })
            .await
    }

    /// Keeps the other hosts' sessions, memberships and claims current.
    async fn follow_directory(self: Arc<Self>) {
        let seen = AtomicU64::new(0);
        self.cluster
            .follow(&self.dir, &seen, |e| self.apply(e))
            .await
    }

    fn apply(&self, e: kv::Entry) {
        let put = e.operation == Operation::Put;
        let mut parts = e.key.splitn(4, '.');
        let (Some(kind), Some(plugin)) = (parts.next(), parts.next()) else {
            return;
        };
        if kind == "c" {
            let mut claims = self.claims.lock().unwrap_or_else(|p| p.into_inner());
            match std::str::from_utf8(&e.value)
                .ok()
                .and_then(|v| v.parse().ok())
            {
                Some(id) if put => {
                    claims.insert(e.key.clone(), (id, e.revision));
                }
                _ => {
                    claims.remove(&e.key);
                }
            }
            return;
        }
        let Some(id) = parts.next().and_then(|id| id.parse::<SessionId>().ok()) else {
            return;
        };
        // This host's own (and those of an earlier run with the same
        // number, which the others release).
        if node_of(id) == self.node_no {
            return;
        }
        let Some(sessions) = self.sessions(plugin) else {
            return;
        };
        match kind {
            "s" if put => {
                let Ok(r) = serde_json::from_slice::<Record>(&e.value) else {
                    return;
                };
                self.incarnations
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id, r.incarnation);
                sessions.remote_record(Info {
                    id,
                    listener: r.listener,
                    peer: r.peer,
                    attrs: r.attrs,
                });
            }
            "s" => {
                self.incarnations
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
                sessions.remote_removed(id);
            }
            "g" => {
                if let Some(group) = parts.next().and_then(unescape) {
                    sessions.remote_member(id, &group, put);
                }
            }
            _ => {}
        }
    }

    /// Refreshes this host's liveness key, writes the directory again when
    /// a write was lost, and releases the sessions of dead hosts.
    async fn liveness(self: Arc<Self>, started_ms: u64) {
        let dead_after = self.cluster.config.dead_after();
        // The key is refreshed three times per period; dead hosts are
        // looked for more often (a host that left says so at once).
        let refresh_every = dead_after / 3;
        let mut tick = tokio::time::interval(refresh_every.min(Duration::from_millis(500)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut refreshed: Option<Instant> = None;
        let mut revision = None;
        let mut suspects: HashMap<(u16, u64), Instant> = HashMap::new();
        let mut was_connected = true;
        loop {
            tick.tick().await;
            if self.leaving.load(Relaxed) {
                return;
            }
            let connected = self.cluster.is_connected();
            if !connected {
                was_connected = false;
                continue;
            }
            if !was_connected {
                was_connected = true;
                // Back: was this host declared dead meanwhile?
                let key = format!("n.{}", self.node_no);
                let mine = self.incarnation.load(Relaxed);
                let still = match self.cluster.op(self.hosts.entry(key)).await {
                    Ok(Some(e)) if e.operation == Operation::Put => {
                        serde_json::from_slice::<Host>(&e.value)
                            .is_ok_and(|h| h.incarnation == mine)
                    }
                    Ok(_) => false,
                    Err(_) => continue,
                };
                if !still {
                    self.rejoin(started_ms).await;
                    revision = None;
                    refreshed = None;
                    continue;
                }
                self.rewrite.store(true, Relaxed);
            }
            if refreshed.is_none_or(|at| at.elapsed() >= refresh_every) || revision.is_none() {
                match self.refresh(started_ms, revision).await {
                    Ok(r) => {
                        revision = Some(r);
                        refreshed = Some(Instant::now());
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "liveness key not refreshed");
                        revision = None;
                    }
                }
            }
            if self.rewrite.swap(false, Relaxed)
                && let Err(e) = self.write_all().await
            {
                tracing::warn!(error = %e, "directory not written again; retrying");
                self.rewrite.store(true, Relaxed);
            }
            self.reap_dead(&mut suspects, dead_after).await;
        }
    }

    async fn refresh(&self, started_ms: u64, revision: Option<u64>) -> Result<u64, Unavailable> {
        let host = Host {
            node: self.cluster.node.clone(),
            incarnation: self.incarnation.load(Relaxed),
            started_ms,
            status: self
                .status
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        };
        let body: Bytes = serde_json::to_vec(&host).unwrap_or_default().into();
        let c = &self.cluster;
        let key = format!("n.{}", self.node_no);
        let ttl = Some(c.config.dead_after());
        match c
            .kv_put(&self.hosts_name, &key, body.clone(), ttl, revision)
            .await
        {
            Ok(r) => Ok(r),
            // The revision we knew is stale (a watch, a retry): write anyway.
            Err(Unavailable::Nats(_)) => c.kv_put(&self.hosts_name, &key, body, ttl, None).await,
            Err(e) => Err(e),
        }
    }

    /// This host was declared dead while away from NATS: the others have
    /// announced its sessions gone, so it closes them (their clients
    /// connect again) and joins as a new incarnation.
    async fn rejoin(&self, started_ms: u64) {
        let closed: usize = self
            .all_sessions()
            .iter()
            .map(|s| s.close_all_local())
            .sum();
        self.incarnation.store(rand_u64(), Relaxed);
        tracing::error!(
            closed,
            "this host was declared dead while NATS was unreachable; its sessions were closed and it joins again"
        );
        let _ = self.refresh(started_ms, None).await;
    }

    /// Writes every session, membership and claim of this host again
    /// (after writes were lost).
    async fn write_all(&self) -> Result<(), Unavailable> {
        for sessions in self.all_sessions() {
            let plugin = sessions.plugin().to_string();
            for (info, groups) in sessions.local_snapshot() {
                let id = info.id;
                self.write_change(&plugin, Change::Record(info)).await?;
                for g in groups {
                    self.write_change(&plugin, Change::Joined(id, g)).await?;
                }
            }
        }
        // Records of sessions that ended while writes were failing.
        let c = &self.cluster;
        let mut keys = c.op(self.dir.keys()).await?;
        let mut stale = Vec::new();
        while let Some(Ok(key)) = keys.next().await {
            let mut parts = key.splitn(4, '.');
            let (kind, plugin, id) = (parts.next(), parts.next(), parts.next());
            if let (Some("s" | "g"), Some(plugin), Some(id)) =
                (kind, plugin, id.and_then(|i| i.parse::<SessionId>().ok()))
                && node_of(id) == self.node_no
                && self.sessions(plugin).is_none_or(|s| !s.is_local(id))
            {
                stale.push(key);
            }
        }
        for key in stale {
            c.op(self.dir.delete(key)).await?;
        }
        Ok(())
    }

    /// Releases the sessions of hosts that have been dead for `dead_after`.
    async fn reap_dead(&self, suspects: &mut HashMap<(u16, u64), Instant>, dead_after: Duration) {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut dead = Vec::new();
        {
            let incs = self.incarnations.lock().unwrap_or_else(|p| p.into_inner());
            let mut now_suspect = std::collections::HashSet::new();
            for (id, inc) in incs.iter() {
                let no = node_of(*id);
                if no == self.node_no || live.get(&no).is_some_and(|h| h.incarnation == *inc) {
                    continue;
                }
                now_suspect.insert((no, *inc));
            }
            suspects.retain(|k, _| now_suspect.contains(k));
            for k in now_suspect {
                let since = *suspects.entry(k).or_insert_with(Instant::now);
                // The key expired already (its TTL is `dead_after`): one
                // more period guards against a watch that lags behind.
                if since.elapsed() >= (dead_after / 3).min(Duration::from_secs(1)) {
                    dead.push(k);
                }
            }
        }
        for (no, inc) in dead {
            suspects.remove(&(no, inc));
            let c = &self.cluster;
            // This host's copy of the hosts bucket may lag (a watch being
            // started again): ask the bucket itself before releasing anyone.
            match c.op(self.hosts.entry(format!("n.{no}"))).await {
                Ok(Some(e)) if e.operation == Operation::Put => {
                    if let Ok(h) = serde_json::from_slice::<Host>(&e.value)
                        && h.incarnation == inc
                    {
                        self.live
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(no, h);
                        continue;
                    }
                }
                Ok(_) => {}
                Err(_) => continue,
            }
            let lock = format!("r.{no}.{inc}");
            // One survivor releases a dead incarnation: whoever creates the lock.
            match c
                .kv_put(
                    &self.hosts_name,
                    &lock,
                    Bytes::from(self.cluster.node.clone()),
                    Some(Duration::from_secs(3600)),
                    Some(0),
                )
                .await
            {
                Ok(_) => {}
                Err(_) => {
                    // Another host has it: forget the dead sessions locally
                    // once their deletes arrive.
                    continue;
                }
            }
            let released = self.release_incarnation(no, inc).await;
            tracing::warn!(
                node_no = no,
                sessions = released,
                "a host stopped answering; its sessions were released"
            );
        }
    }

    async fn release_incarnation(&self, no: u16, inc: u64) -> usize {
        let ids: Vec<SessionId> = self
            .incarnations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(id, i)| node_of(**id) == no && **i == inc)
            .map(|(id, _)| *id)
            .collect();
        let mut released = 0;
        for sessions in self.all_sessions() {
            let plugin = sessions.plugin().to_string();
            for id in sessions
                .remote_ids(no)
                .into_iter()
                .filter(|id| ids.contains(id))
            {
                if let Some(gone) = sessions.gone(id) {
                    gone.await;
                }
                let groups = sessions.groups_of(id);
                let claims: Vec<(String, u64)> = self
                    .claims
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .filter(|(k, (holder, _))| {
                        *holder == id && k.starts_with(&format!("c.{plugin}."))
                    })
                    .map(|(k, (_, rev))| (k.clone(), *rev))
                    .collect();
                let c = &self.cluster;
                for (key, rev) in claims {
                    let _ = c.op(self.dir.delete_expect_revision(key, Some(rev))).await;
                }
                let _ = self
                    .write_change(&plugin, Change::Removed(id, groups))
                    .await;
                sessions.remote_removed(id);
                self.incarnations
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
                released += 1;
                c.metrics.cluster.reaped.fetch_add(1, Relaxed);
            }
        }
        released
    }
}

impl Link for Directory {
    fn node(&self) -> u16 {
        self.node_no
    }

    fn publish(&self, plugin: &str, change: Change) {
        if self.leaving.load(Relaxed) && matches!(change, Change::Removed(..)) {
            return;
        }
        if self
            .writes
            .try_send(Write::Change(plugin.to_string(), change))
            .is_err()
            && !self.rewrite.swap(true, Relaxed)
        {
            tracing::warn!(
                "directory writes queue full; this host's sessions will be written again"
            );
        }
    }

    fn claim(&self, plugin: &str, name: &str, id: SessionId) -> Option<bool> {
        let key = Self::claim_key(plugin, name);
        let c = &self.cluster;
        let value = Bytes::from(id.to_string());
        c.block(async {
            match c.op(self.dir.create(&key, value)).await {
                Ok(_) => Ok(true),
                Err(Unavailable::Nats(_)) => {
                    // Taken (or a race): ours only if it holds our id.
                    let e = c.op(self.dir.entry(key.clone())).await?;
                    Ok(e.is_some_and(|e| {
                        e.operation == Operation::Put && e.value == id.to_string().as_bytes()
                    }))
                }
                Err(e) => Err(e),
            }
        })
        .inspect_err(|e| tracing::warn!(error = %e, "claim refused: the directory is unreachable"))
        .ok()
    }

    fn release(&self, plugin: &str, name: &str, id: SessionId) {
        if self.leaving.load(Relaxed) {
            return;
        }
        if self
            .writes
            .try_send(Write::Release(Self::claim_key(plugin, name), id))
            .is_err()
        {
            self.rewrite.store(true, Relaxed);
        }
    }

    fn send(&self, plugin: &str, node: u16, ids: &[SessionId], msg: Vec<u8>) {
        let mut body = addressed(plugin, 4 + ids.len() * 8 + msg.len());
        body.put_u32(ids.len() as u32);
        for id in ids {
            body.put_u64(*id);
        }
        body.put_slice(&msg);
        let subject = self.cluster.subject(&format!("node.{node}.deliver"));
        if self.sends.try_send((subject, body.freeze())).is_ok() {
            self.cluster
                .metrics
                .cluster
                .sent
                .fetch_add(ids.len() as u64, Relaxed);
        } else {
            self.cluster
                .metrics
                .cluster
                .dropped
                .fetch_add(ids.len() as u64, Relaxed);
        }
    }

    fn close(&self, plugin: &str, node: u16, id: SessionId) {
        let mut body = addressed(plugin, 8);
        body.put_u64(id);
        let subject = self.cluster.subject(&format!("node.{node}.close"));
        let _ = self.sends.try_send((subject, body.freeze()));
    }
}

/// Hands messages for other hosts to the NATS client, in order.
async fn sender(cluster: Arc<Cluster>, mut rx: mpsc::Receiver<(String, Bytes)>) {
    while let Some((subject, body)) = rx.recv().await {
        if !cluster.is_connected() {
            cluster.metrics.cluster.dropped.fetch_add(1, Relaxed);
            continue;
        }
        if let Err(e) = cluster.client.publish(subject, body).await {
            tracing::debug!(error = %e, "message to another host not sent");
            cluster.metrics.cluster.dropped.fetch_add(1, Relaxed);
        }
    }
}

/// The start of a message to another host: the plugin's name (one byte of
/// length, then the name), with room for `rest` more bytes. Read back by
/// [`split_plugin`].
fn addressed(plugin: &str, rest: usize) -> BytesMut {
    let mut body = BytesMut::with_capacity(1 + plugin.len() + rest);
    body.put_u8(plugin.len() as u8);
    body.put_slice(plugin.as_bytes());
    body
}

fn split_plugin(mut body: Bytes) -> Option<(String, Bytes)> {
    if body.is_empty() {
        return None;
    }
    let n = body.get_u8() as usize;
    if body.len() < n {
        return None;
    }
    let plugin = String::from_utf8(body.split_to(n).to_vec()).ok()?;
    Some((plugin, body))
}

/// Takes a free node number: the name's hash first, then the next ones.
/// The key of a previous run of this same node is taken over.
async fn claim_node(
    cluster: &Cluster,
    hosts: &kv::Store,
    incarnation: u64,
    started_ms: u64,
) -> anyhow::Result<(u16, u64)> {
    let start = cluster.node.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    });
    let host = Host {
        node: cluster.node.clone(),
        incarnation,
        started_ms,
        status: serde_json::Value::Null,
    };
    let body: Bytes = serde_json::to_vec(&host)?.into();
    let ttl = Some(cluster.config.dead_after());
    let name = cluster.bucket("hosts");
    for i in 0..u64::from(u16::MAX) {
        let no = ((start.wrapping_add(i)) % u64::from(u16::MAX - 1) + 1) as u16;
        let key = format!("n.{no}");
        let existing = cluster.op(hosts.entry(key.clone())).await?;
        let expect = match existing {
            Some(e) if e.operation == Operation::Put => {
                match serde_json::from_slice::<Host>(&e.value) {
                    // A previous run of this node, not yet expired.
                    Ok(h) if h.node == cluster.node => e.revision,
                    Ok(_) => continue,
                    Err(_) => continue,
                }
            }
            Some(e) => e.revision,
            None => 0,
        };
        match cluster
            .kv_put(&name, &key, body.clone(), ttl, Some(expect))
            .await
        {
            Ok(rev) => return Ok((no, rev)),
            Err(Unavailable::Nats(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("no free node number in the cluster")
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish()
}
