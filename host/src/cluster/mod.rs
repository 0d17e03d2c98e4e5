//! Several hosts as one service, through NATS JetStream (`[cluster]`).
//!
//! Without `[cluster]` nothing here runs. With it, each host connects to
//! NATS and:
//!
//! - keeps plugins' key-value entries in one KV bucket per plugin and their
//!   blobs in one object store per plugin ([`store`]);
//! - writes its sessions, their attributes, group memberships and name
//!   claims to the directory bucket, and keeps a copy of the others' from a
//!   watch of it ([`directory`]); a claim is a KV `create`, the one
//!   compare-and-set NATS has;
//! - sends messages for another host's sessions to that host's subject,
//!   and delivers what comes on its own;
//! - keeps its liveness key (a per-message TTL) fresh; the others release
//!   the sessions of a host whose key expired.
//!
//! What a subject or key holds never carries a secret; keys are escaped to
//! NATS's key alphabet ([`escape`]).

pub mod directory;
pub mod store;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use anyhow::{Context as _, bail};
use async_nats::HeaderMap;
use async_nats::jetstream::object_store::{self, ObjectStore};
use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use futures::StreamExt;

use crate::config::ClusterConfig;
use crate::metrics::Metrics;

/// A clustered host's connection to NATS, shared by the store and the
/// directory.
pub struct Cluster {
    pub config: ClusterConfig,
    /// This host's name.
    pub node: String,
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    pub metrics: Arc<Metrics>,
    runtime: tokio::runtime::Handle,
    connected: Arc<AtomicBool>,
}

/// Why a cluster operation was not done.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    #[error("the cluster's NATS connection is down")]
    Disconnected,
    #[error("NATS did not answer within {0:?}")]
    Timeout(Duration),
    #[error("NATS: {0}")]
    Nats(String),
}

impl Cluster {
    /// Connects to NATS. The start fails if no server answers: a host that
    /// cannot reach the others must not serve as if it were alone.
    pub async fn connect(
        config: &ClusterConfig,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Arc<Cluster>> {
        let node = config.node_name();
        let connected = Arc::new(AtomicBool::new(false));
        let events = connected.clone();
        let m = metrics.clone();
        let mut options = async_nats::ConnectOptions::new()
            .name(format!("wasmgate {node}"))
            .connection_timeout(config.request_timeout())
            .request_timeout(Some(config.request_timeout()))
            .retry_on_initial_connect()
            // Every subscription (the inbox, the watches) buffers at most
            // this many messages; past it the client drops and reports a
            // slow consumer.
            .subscription_capacity(config.inbox_capacity)
            .max_reconnects(None)
            .event_callback(move |event| {
                let events = events.clone();
                let m = m.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            events.store(true, Relaxed);
                            m.cluster.connected.store(1, Relaxed);
                            tracing::info!("NATS connected");
                        }
                        async_nats::Event::Disconnected => {
                            events.store(false, Relaxed);
                            m.cluster.connected.store(0, Relaxed);
                            m.cluster.disconnects.fetch_add(1, Relaxed);
                            tracing::error!("NATS connection lost: the cluster's state is unavailable until it returns");
                        }
                        async_nats::Event::SlowConsumer(sid) => {
                            m.cluster.dropped.fetch_add(1, Relaxed);
                            crate::limited!(warn, subscription = sid,
                                "NATS: a subscription's buffer (inbox_capacity) is full; messages for this host are dropped");
                        }
                        other => tracing::info!(event = %other, "NATS"),
                    }
                }
            });
        if let Some(token) = config.effective_token() {
            options = options.token(token.0);
        }
        if let Some(creds) = &config.credentials {
            options = options
                .credentials_file(creds)
                .await
                .with_context(|| format!("cluster.credentials {}", creds.display()))?;
        }
        let client = options
            .connect(config.urls.as_slice())
            .await
            .with_context(|| format!("connecting to NATS at {}", config.urls.join(", ")))?;
        // With retry_on_initial_connect the call returns before the first
        // connection: wait for it, within the request timeout.
        let deadline =
            tokio::time::Instant::now() + config.request_timeout().max(Duration::from_secs(5));
        while client.connection_state() != async_nats::connection::State::Connected {
            if tokio::time::Instant::now() > deadline {
                bail!("no NATS server answered at {}", config.urls.join(", "));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        connected.store(true, Relaxed);
        metrics.cluster.clustered.store(true, Relaxed);
        metrics.cluster.connected.store(1, Relaxed);
        let js = jetstream::new(client.clone());
        tracing::info!(%node, urls = %config.urls.join(", "), "joined the cluster's NATS");
        Ok(Arc::new(Cluster {
            config: config.clone(),
            node,
            client,
            js,
            metrics,
            runtime: tokio::runtime::Handle::current(),
            connected,
        }))
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Relaxed)
            && self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// How many times the NATS connection was lost so far.
    pub fn disconnects(&self) -> u64 {
        self.metrics.cluster.disconnects.load(Relaxed)
    }

    /// Resolves once the connection has been lost more than `seen` times:
    /// a watch started before then is started again (its consumer may
    /// have lived on a NATS node that is gone).
    pub async fn lost_since(&self, seen: u64) {
        while self.disconnects() <= seen {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Resolves when a watch of `store` has stalled: the bucket holds a
    /// later revision than `seen`, and `seen` did not move for two checks
    /// two seconds apart (a consumer lost with a NATS node is not always
    /// noticed by the client).
    pub async fn stalled(&self, store: &kv::Store, seen: &AtomicU64) {
        let mut behind_at = None;
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let state = match self.bucket_state(store).await {
                Ok(state) => state,
                Err(e) => {
                    tracing::debug!(bucket = %store.name, error = %e, "bucket state unknown");
                    behind_at = None;
                    continue;
                }
            };
            let now = seen.load(Relaxed);
            let behind = state.last_sequence > now;
            if behind && behind_at == Some(now) {
                tracing::debug!(bucket = %store.name, "watch stalled; starting it again");
                return;
            }
            behind_at = behind.then_some(now);
        }
    }

    /// The bucket's stream state as the server has it now. (Not
    /// `kv::Store::status`, which answers what the store was opened with.)
    pub async fn bucket_state(
        &self,
        store: &kv::Store,
    ) -> Result<async_nats::jetstream::stream::State, Unavailable> {
        self.op(store.stream.get_info())
            .await
            .map(|info| info.state)
    }

    /// Runs `apply` on every entry of `store`, from the start and then as
    /// it changes, recording in `seen` the revision of the last entry
    /// delivered. The watch is started again from there when it ends, when
    /// the connection was lost, or when it stalls. Never returns.
    pub async fn follow(
        &self,
        store: &kv::Store,
        seen: &AtomicU64,
        mut apply: impl FnMut(kv::Entry),
    ) {
        loop {
            let from = seen.load(Relaxed);
            let watch = if from == 0 {
                // every key's current value first, then the changes (not
                // `watch_all`, which delivers only changes made after the
                // watch begins: a host joining later would never learn the
                // sessions and hosts already there)
                with_timeout(store.watch_with_history(">")).await
            } else {
                with_timeout(store.watch_all_from_revision(from + 1)).await
            };
            match watch {
                Ok(mut w) => {
                    tracing::debug!(bucket = %store.name, from, "watch started");
                    let lost = self.disconnects();
                    loop {
                        let entry = tokio::select! {
                            entry = w.next() => entry,
                            _ = self.lost_since(lost) => break,
                            _ = self.stalled(store, seen) => {
                                // The consumer behind the watch can be lost
                                // with a NATS node and, placed there again,
                                // deliver nothing for a while: read what it
                                // missed from any replica first.
                                let read = self.catch_up(store, seen, &mut apply).await;
                                tracing::debug!(bucket = %store.name, read, "caught up past a stalled watch");
                                break;
                            }
                        };
                        match entry {
                            Some(Ok(e)) => {
                                seen.store(e.revision, Relaxed);
                                apply(e);
                            }
                            Some(Err(e)) => {
                                tracing::debug!(bucket = %store.name, error = %e, "watch ended; resuming");
                                break;
                            }
                            None => break,
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!(bucket = %store.name, error = %e, "watch not started; retrying")
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Applies the entries of `store` after `seen`, read one by one from
    /// the bucket's stream by direct get (which any replica answers, not
    /// only a consumer's node), until the end of the stream, an error, or
    /// [`CATCH_UP_MAX`] entries. Returns how many it applied.
    async fn catch_up(
        &self,
        store: &kv::Store,
        seen: &AtomicU64,
        apply: &mut impl FnMut(kv::Entry),
    ) -> usize {
        let prefix = format!("$KV.{}.", store.name);
        let filter = format!("{prefix}>");
        for read in 0..CATCH_UP_MAX {
            let from = seen.load(Relaxed) + 1;
            let next = store
                .stream
                .direct_get_next_for_subject(filter.clone(), Some(from));
            // Not found (the end) or NATS unavailable: the watch goes on.
            let Ok(m) = self.op(next).await else {
                return read;
            };
            seen.store(m.sequence, Relaxed);
            let Some(key) = m.subject.strip_prefix(prefix.as_str()) else {
                continue;
            };
            let header = |name: &str| m.headers.get(name).map(|v| v.as_str().to_string());
            let operation = match (header("KV-Operation"), header("Nats-Marker-Reason")) {
                (Some(op), _) => op.parse().unwrap_or(kv::Operation::Put),
                (None, Some(reason)) if reason == "Remove" => kv::Operation::Delete,
                (None, Some(_)) => kv::Operation::Purge,
                (None, None) => kv::Operation::Put,
            };
            apply(kv::Entry {
                bucket: store.name.clone(),
                key: key.to_string(),
                value: m.payload,
                revision: m.sequence,
                delta: 0,
                created: m.time,
                operation,
                seen_current: false,
            });
        }
        CATCH_UP_MAX
    }

    /// The bound of a transfer of `bytes` (an object, a plugin file): the
    /// request timeout plus a second per MiB.
    pub fn transfer_bound(&self, bytes: usize) -> Duration {
        self.config.request_timeout() + Duration::from_secs(bytes as u64 >> 20)
    }

    /// A bucket or stream name of this cluster: `<name>_<what>`.
    pub fn bucket(&self, what: &str) -> String {
        format!("{}_{what}", self.config.name)
    }

    /// A subject of this cluster: `<name>.<rest>`.
    pub fn subject(&self, rest: &str) -> String {
        format!("{}.{rest}", self.config.name)
    }

    /// Runs `op` within the request timeout, refused at once while NATS is
    /// down.
    pub async fn op<T, E: std::fmt::Display>(
        &self,
        op: impl Future<Output = Result<T, E>>,
    ) -> Result<T, Unavailable> {
        if !self.is_connected() {
            self.metrics.cluster.unavailable.fetch_add(1, Relaxed);
            return Err(Unavailable::Disconnected);
        }
        let timeout = self.config.request_timeout();
        match tokio::time::timeout(timeout, op).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Unavailable::Nats(e.to_string())),
            Err(_) => {
                self.metrics.cluster.unavailable.fetch_add(1, Relaxed);
                Err(Unavailable::Timeout(timeout))
            }
        }
    }

    /// [`Cluster::op`] from a blocking thread (a plugin's call).
    pub fn block<T>(
        &self,
        f: impl Future<Output = Result<T, Unavailable>>,
    ) -> Result<T, Unavailable> {
        self.runtime.block_on(f)
    }

    /// Spawns on the host's runtime (from any thread).
    pub fn spawn(&self, f: impl Future<Output = ()> + Send + 'static) {
        self.runtime.spawn(f);
    }

    /// A KV bucket of this cluster, created if missing. `ttl` enables
    /// per-message TTLs (and the delete markers a watch sees when one
    /// expires).
    pub async fn kv_bucket(
        &self,
        what: &str,
        ttl: bool,
        max_bytes: i64,
    ) -> anyhow::Result<kv::Store> {
        let bucket = self.bucket(what);
        let config = kv::Config {
            bucket: bucket.clone(),
            history: 1,
            num_replicas: self.config.replicas,
            max_bytes,
            limit_markers: ttl.then_some(Duration::from_secs(1)),
            ..Default::default()
        };
        opening(&format!("opening bucket {bucket}"), || async {
            match self.js.get_key_value(&bucket).await {
                Ok(store) => Ok(store),
                Err(_) => Ok(self.js.create_key_value(config.clone()).await?),
            }
        })
        .await
    }

    /// An object store of this cluster, created if missing.
    pub async fn object_store(&self, what: &str) -> anyhow::Result<ObjectStore> {
        let bucket = self.bucket(what);
        opening(&format!("opening bucket {bucket}"), || async {
            match self.js.get_object_store(&bucket).await {
                Ok(store) => Ok(store),
                Err(_) => Ok(self
                    .js
                    .create_object_store(object_store::Config {
                        bucket: bucket.clone(),
                        num_replicas: self.config.replicas,
                        ..Default::default()
                    })
                    .await?),
            }
        })
        .await
    }

    /// Writes `value` under `key` of KV bucket `bucket` (its full name),
    /// with a per-message TTL in whole seconds and, when `expect` is set,
    /// only if the key's last revision is `expect` (0: the key is absent).
    /// Returns the new revision.
    pub async fn kv_put(
        &self,
        bucket: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
        expect: Option<u64>,
    ) -> Result<u64, Unavailable> {
        let mut headers = HeaderMap::new();
        if let Some(ttl) = ttl {
            // Whole seconds, never rounded down to none.
            let secs = ttl.as_millis().div_ceil(1000).max(1);
            headers.insert("Nats-TTL", format!("{secs}s").as_str());
        }
        if let Some(rev) = expect {
            headers.insert(
                "Nats-Expected-Last-Subject-Sequence",
                rev.to_string().as_str(),
            );
        }
        let subject = format!("$KV.{bucket}.{key}");
        self.op(async {
            let ack = self
                .js
                .send_publish(
                    subject,
                    jetstream::message::PublishMessage::build()
                        .payload(value)
                        .headers(headers),
                )
                .await
                .map_err(|e| e.to_string())?;
            ack.await.map(|a| a.sequence).map_err(|e| e.to_string())
        })
        .await
    }
}

/// Starting a watch: bounded like every other NATS request.
pub async fn with_timeout<T, E: std::fmt::Display>(
    f: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(Duration::from_secs(10), f).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("no answer within 10 s".to_string()),
    }
}

/// Entries one catch-up past a stalled watch reads at most (the watch,
/// started again, delivers the rest, or the next catch-up does).
const CATCH_UP_MAX: usize = 10_000;

/// Runs one step of joining the cluster (opening a bucket, claiming a node
/// number), trying again for a while: a NATS cluster that has just started
/// has no JetStream leader yet (its requests fail or time out for a few
/// seconds), and two hosts may create the same bucket at once (the second
/// then opens it).
pub(crate) async fn opening<T, F, Fut>(what: &str, mut open: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match open().await {
            Ok(v) => return Ok(v),
            Err(e) if tokio::time::Instant::now() > deadline => {
                return Err(e.context(format!("joining the cluster: {what}")));
            }
            Err(e) => {
                tracing::debug!(what, error = %e, "not done yet; retrying");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

/// `text` in NATS's key alphabet, as one token: `[A-Za-z0-9_-]` and `/`
/// stay, every other byte (`.` and `=` included) becomes `=XX`; the empty
/// string is `=`. Unambiguous, so [`unescape`] inverts it.
pub fn escape(text: &str) -> String {
    if text.is_empty() {
        return "=".to_string();
    }
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'/' {
            out.push(b as char);
        } else {
            out.push_str(&format!("={b:02X}"));
        }
    }
    out
}

pub fn unescape(key: &str) -> Option<String> {
    if key == "=" {
        return Some(String::new());
    }
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            let hex = key.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_escape_to_one_valid_token_and_back() {
        for key in [
            "",
            "dev/1/a",
            "user:Alice",
            "a.b",
            "=",
            "日本",
            "x y\n",
            "-_/",
        ] {
            let e = escape(key);
            assert!(
                e.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_/=".contains(&b)),
                "{e}"
            );
            assert!(!e.is_empty() && !e.contains('.'));
            assert_eq!(unescape(&e).as_deref(), Some(key));
        }
        assert_eq!(escape("a.b"), "a=2Eb");
        assert_eq!(unescape("=4"), None);
        assert_eq!(unescape("=ZZ"), None);
    }

    /// What a stalled watch missed is read from the stream itself, each
    /// entry with the operation a watch would have given it: a put (with
    /// or without a TTL), a delete, a purge, and the marker a TTL leaves.
    #[test]
    fn catch_up_reads_every_kind_of_entry_from_the_stream() {
        let nats = wasmgate_testkit::nats::Nats::start().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let config = ClusterConfig {
                urls: nats.urls(),
                ..Default::default()
            };
            let c = Cluster::connect(&config, Arc::new(crate::metrics::Metrics::default()))
                .await
                .unwrap();
            let store = c.kv_bucket("catchup", true, -1).await.unwrap();
            let name = c.bucket("catchup");
            let ttl = Some(Duration::from_millis(1500));
            store.put("a", "1".into()).await.unwrap();
            store.put("b", "2".into()).await.unwrap();
            c.kv_put(&name, "c", "3".into(), ttl, None).await.unwrap();
            store.put("d", "4".into()).await.unwrap();
            store.delete("a").await.unwrap();
            store.purge("b").await.unwrap();
            let seen = AtomicU64::new(0);
            let mut got = Vec::new();
            let read = c
                .catch_up(&store, &seen, &mut |e| {
                    got.push((e.key, e.operation, e.value, e.revision))
                })
                .await;
            let ops: Vec<_> = got
                .iter()
                .map(|(k, o, v, _)| (k.as_str(), *o, &v[..]))
                .collect();
            // In stream order; history 1 keeps the last entry of each key.
            assert_eq!(
                ops,
                [
                    ("c", kv::Operation::Put, &b"3"[..]),
                    ("d", kv::Operation::Put, &b"4"[..]),
                    ("a", kv::Operation::Delete, &b""[..]),
                    ("b", kv::Operation::Purge, &b""[..]),
                ]
            );
            assert_eq!(read, 4);
            assert_eq!(seen.load(Relaxed), got.last().unwrap().3);
            // Nothing new: nothing read, `seen` unchanged.
            let before = seen.load(Relaxed);
            assert_eq!(c.catch_up(&store, &seen, &mut |_| {}).await, 0);
            assert_eq!(seen.load(Relaxed), before);
            // The TTL ends: the server's marker reads as a purge of c.
            tokio::time::sleep(Duration::from_millis(2500)).await;
            let mut after = Vec::new();
            c.catch_up(&store, &seen, &mut |e| after.push((e.key, e.operation)))
                .await;
            assert_eq!(after, [("c".to_string(), kv::Operation::Purge)]);
        });
    }
}
