//! Plugins' state in JetStream: one KV bucket (`<name>_kv_<plugin>`) and
//! one object store (`<name>_blob_<plugin>`) per plugin.
//!
//! Each host keeps a copy of every plugin's entries in memory, fed by a
//! watch of the bucket (an ordered consumer that resumes from the last
//! revision it saw), so `get` and `list` cost what they cost with SQLite
//! and `list` is in key order. A write returns once JetStream acknowledged
//! it, and the copy is updated then, so a host reads its own writes; the
//! others see it a few milliseconds later. `delete` is a delete expecting
//! the revision just read, retried on conflict, so of several hosts taking
//! the same one-shot key exactly one sees `true`.
//!
//! A value is stored with its expiry in milliseconds in front (8 bytes,
//! big-endian, 0 for none): reads hide an expired entry to the
//! millisecond, while NATS's per-message TTL (whole seconds, rounded up)
//! removes it from the bucket later. While NATS is unreachable every
//! operation is refused (`unavailable`): a stale copy is not served.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation};
use async_nats::jetstream::object_store::ObjectStore;
use bytes::Bytes;
use tokio::io::AsyncReadExt;

use super::{Cluster, Unavailable, escape, unescape};
use crate::state::kv::{KvError, MAX_BLOB_BYTES, MAX_LIST, Store, check_blob, check_entry};
use crate::state::now_ms;

/// Room kept in a NATS message for the subject, headers and expiry.
const OVERHEAD: usize = 4096;

pub struct JetStore {
    cluster: Arc<Cluster>,
    plugins: HashMap<String, Arc<Bucket>>,
}

struct Bucket {
    name: String,
    kv: kv::Store,
    objects: ObjectStore,
    copy: RwLock<BTreeMap<String, Item>>,
    /// Highest revision applied to the copy.
    revision: AtomicU64,
    /// Revision of the last entry the watch delivered.
    seen: AtomicU64,
}

struct Item {
    value: String,
    expires: Option<u64>,
    revision: u64,
}

impl Item {
    fn live(&self, now: u64) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

impl From<Unavailable> for KvError {
    fn from(e: Unavailable) -> KvError {
        KvError::Unavailable(e.to_string())
    }
}

fn envelope(value: &str, expires: Option<u64>) -> Bytes {
    let mut out = Vec::with_capacity(8 + value.len());
    out.extend_from_slice(&expires.unwrap_or(0).to_be_bytes());
    out.extend_from_slice(value.as_bytes());
    out.into()
}

fn open_envelope(bytes: &[u8]) -> Option<(String, Option<u64>)> {
    let (at, value) = bytes.split_at_checked(8)?;
    let at = u64::from_be_bytes(at.try_into().ok()?);
    Some((
        String::from_utf8(value.to_vec()).ok()?,
        (at != 0).then_some(at),
    ))
}

impl JetStore {
    /// Opens (creating if needed) the buckets of `plugins` and fills this
    /// host's copy of them before returning.
    pub async fn open(cluster: Arc<Cluster>, plugins: &[&str]) -> anyhow::Result<Arc<JetStore>> {
        let mut buckets = HashMap::new();
        for plugin in plugins {
            let kv = cluster
                .kv_bucket(&format!("kv_{plugin}"), true, cluster.config.kv_max_bytes)
                .await?;
            let objects = cluster.object_store(&format!("blob_{plugin}")).await?;
            let bucket = Arc::new(Bucket {
                name: cluster.bucket(&format!("kv_{plugin}")),
                kv,
                objects,
                copy: RwLock::default(),
                revision: AtomicU64::new(0),
                seen: AtomicU64::new(0),
            });
            tokio::spawn(follow(cluster.clone(), bucket.clone()));
            buckets.insert(plugin.to_string(), bucket);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        for (plugin, b) in &buckets {
            while !b.loaded(&cluster).await {
                if tokio::time::Instant::now() > deadline {
                    anyhow::bail!(
                        "the key-value bucket of plugin {plugin:?} did not load within 30 s"
                    );
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(Arc::new(JetStore {
            cluster,
            plugins: buckets,
        }))
    }

    fn bucket(&self, ns: &str) -> Result<&Arc<Bucket>, KvError> {
        if !self.cluster.is_connected() {
            self.cluster
                .metrics
                .cluster
                .unavailable
                .fetch_add(1, Relaxed);
            return Err(Unavailable::Disconnected.into());
        }
        self.plugins
            .get(ns)
            .ok_or_else(|| KvError::Unavailable(format!("no bucket for plugin {ns:?}")))
    }

    /// Largest value a NATS message of this server can carry.
    fn max_value(&self) -> usize {
        self.cluster
            .client
            .server_info()
            .max_payload
            .saturating_sub(OVERHEAD)
    }
}

impl Bucket {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Item>> {
        self.copy.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies an entry at `revision` unless the copy already has a later one.
    fn apply(&self, key: String, item: Option<Item>, revision: u64) {
        let mut copy = self.copy.write().unwrap_or_else(|p| p.into_inner());
        if copy.get(&key).is_some_and(|i| i.revision >= revision) {
            return;
        }
        match item {
            Some(item) => {
                copy.insert(key, item);
            }
            None => {
                copy.remove(&key);
            }
        }
        self.revision.fetch_max(revision, Relaxed);
    }

    /// Whether the copy holds what the bucket held when this was asked:
    /// the watch has delivered the bucket's last revision, or the bucket
    /// is empty (every entry expired or was removed).
    async fn loaded(&self, cluster: &Cluster) -> bool {
        match cluster.bucket_state(&self.kv).await {
            Ok(state) => state.messages == 0 || self.seen.load(Relaxed) >= state.last_sequence,
            Err(_) => false,
        }
    }

    fn apply_entry(&self, e: kv::Entry) {
        let Some(key) = unescape(&e.key) else {
            return;
        };
        let item = match e.operation {
            Operation::Put => open_envelope(&e.value).map(|(value, expires)| Item {
                value,
                expires,
                revision: e.revision,
            }),
            Operation::Delete | Operation::Purge => None,
        };
        self.apply(key, item, e.revision);
    }

    /// Drops expired entries from the copy (NATS removes them from the
    /// bucket on its own).
    fn purge_expired(&self) -> usize {
        let now = now_ms();
        let mut copy = self.copy.write().unwrap_or_else(|p| p.into_inner());
        let before = copy.len();
        copy.retain(|_, i| i.live(now));
        before - copy.len()
    }
}

/// Keeps a bucket's copy current (resuming from the last revision the
/// watch delivered, never from one this host wrote itself, which may be
/// later than another host's write not yet seen), and drops expired
/// entries from it.
async fn follow(cluster: Arc<Cluster>, bucket: Arc<Bucket>) {
    let purger = bucket.clone();
    tokio::spawn(async move {
        let mut purge = tokio::time::interval(Duration::from_secs(30));
        loop {
            purge.tick().await;
            purger.purge_expired();
        }
    });
    cluster
        .follow(&bucket.kv, &bucket.seen, |e| bucket.apply_entry(e))
        .await
}

impl Store for JetStore {
    fn get(&self, ns: &str, key: &str) -> Result<Option<String>, KvError> {
        let b = self.bucket(ns)?;
        let now = now_ms();
        Ok(b.read()
            .get(key)
            .filter(|i| i.live(now))
            .map(|i| i.value.clone()))
    }

    fn set(&self, ns: &str, key: &str, value: &str, ttl_ms: Option<u64>) -> Result<(), KvError> {
        check_entry(key, value)?;
        let max = self.max_value();
        if value.len() > max {
            return Err(KvError::OverPayload(max as u64));
        }
        let b = self.bucket(ns)?;
        let expires = ttl_ms.map(|t| now_ms().saturating_add(t));
        // The bucket keeps the entry a little longer than its expiry; reads
        // hide it to the millisecond.
        let ttl = ttl_ms.map(|t| Duration::from_millis(t.saturating_add(1000)));
        let c = &self.cluster;
        let revision =
            c.block(c.kv_put(&b.name, &escape(key), envelope(value, expires), ttl, None))?;
        b.apply(
            key.to_string(),
            Some(Item {
                value: value.to_string(),
                expires,
                revision,
            }),
            revision,
        );
        Ok(())
    }

    fn delete(&self, ns: &str, key: &str) -> Result<bool, KvError> {
        let b = self.bucket(ns)?;
        let c = &self.cluster;
        let k = escape(key);
        for _ in 0..8 {
            let entry = c.block(c.op(b.kv.entry(k.clone())))?;
            let Some(e) = entry.filter(|e| e.operation == Operation::Put) else {
                b.apply(key.to_string(), None, b.revision.load(Relaxed));
                return Ok(false);
            };
            let live =
                open_envelope(&e.value).is_some_and(|(_, at)| at.is_none_or(|at| at > now_ms()));
            match c.block(c.op(b.kv.delete_expect_revision(k.clone(), Some(e.revision)))) {
                Ok(()) => {
                    b.apply(key.to_string(), None, e.revision + 1);
                    return Ok(live);
                }
                // Another write came between: read again.
                Err(Unavailable::Nats(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(KvError::Unavailable(format!(
            "key {key:?} kept changing; delete not done"
        )))
    }

    fn list(&self, ns: &str, prefix: &str, limit: u32) -> Result<Vec<(String, String)>, KvError> {
        let b = self.bucket(ns)?;
        let now = now_ms();
        Ok(b.read()
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(_, i)| i.live(now))
            .take(limit.min(MAX_LIST) as usize)
            .map(|(k, i)| (k.clone(), i.value.clone()))
            .collect())
    }

    fn blob_get(&self, ns: &str, name: &str) -> Result<Option<Vec<u8>>, KvError> {
        let b = self.bucket(ns)?;
        let c = &self.cluster;
        c.block(async {
            let info = match c.op(b.objects.info(name)).await {
                Ok(info) if !info.deleted => info,
                Ok(_) => return Ok(None),
                Err(Unavailable::Nats(e)) if e.contains("not found") => return Ok(None),
                Err(e) => return Err(e),
            };
            if info.size > MAX_BLOB_BYTES {
                return Err(Unavailable::Nats(format!(
                    "object {name:?} is {} bytes, over the limit",
                    info.size
                )));
            }
            let mut object = match c.op(b.objects.get(name)).await {
                Ok(o) => o,
                Err(Unavailable::Nats(e)) if e.contains("not found") => return Ok(None),
                Err(e) => return Err(e),
            };
            let mut data = Vec::with_capacity(info.size);
            let bound = c.transfer_bound(info.size);
            match tokio::time::timeout(bound, object.read_to_end(&mut data)).await {
                Ok(Ok(_)) => Ok(Some(data)),
                Ok(Err(e)) => Err(Unavailable::Nats(e.to_string())),
                Err(_) => Err(Unavailable::Timeout(bound)),
            }
        })
        .map_err(Into::into)
    }

    fn blob_set(&self, ns: &str, name: &str, data: &[u8]) -> Result<(), KvError> {
        check_blob(name, data)?;
        let b = self.bucket(ns)?;
        let c = &self.cluster;
        let bound = c.transfer_bound(data.len());
        c.block(async {
            let mut reader = data;
            match tokio::time::timeout(bound, b.objects.put(name, &mut reader)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(Unavailable::Nats(e.to_string())),
                Err(_) => Err(Unavailable::Timeout(bound)),
            }
        })
        .map_err(Into::into)
    }

    fn blob_delete(&self, ns: &str, name: &str) -> Result<bool, KvError> {
        let b = self.bucket(ns)?;
        let c = &self.cluster;
        c.block(async {
            match c.op(b.objects.info(name)).await {
                Ok(info) if !info.deleted => {}
                Ok(_) => return Ok(false),
                Err(Unavailable::Nats(e)) if e.contains("not found") => return Ok(false),
                Err(e) => return Err(e),
            }
            c.op(b.objects.delete(name)).await.map(|()| true)
        })
        .map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ClusterConfig;
    use crate::metrics::Metrics;

    /// Two "hosts" (two connections, two copies) of one bucket on a real
    /// NATS server. The store's calls block, so the test calls them from
    /// its own thread while the runtime runs the NATS clients.
    fn two_stores(
        nats: &wasmgate_testkit::nats::Nats,
    ) -> (tokio::runtime::Runtime, Arc<JetStore>, Arc<JetStore>) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let config = ClusterConfig {
            urls: nats.urls(),
            ..Default::default()
        };
        let (a, b) = rt.block_on(async {
            let mut stores = Vec::new();
            for node in ["a", "b"] {
                let config = ClusterConfig {
                    node: Some(node.to_string()),
                    ..config.clone()
                };
                let c = Cluster::connect(&config, Arc::new(Metrics::default()))
                    .await
                    .unwrap();
                stores.push(JetStore::open(c, &["p"]).await.unwrap());
            }
            (stores.remove(0), stores.remove(0))
        });
        (rt, a, b)
    }

    fn eventually(what: &str, cond: impl Fn() -> bool) {
        let started = std::time::Instant::now();
        while !cond() {
            assert!(started.elapsed() < Duration::from_secs(10), "{what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn jetstream_store_keeps_the_kv_contract_across_hosts() {
        let nats = wasmgate_testkit::nats::Nats::start().unwrap();
        let (_rt, a, b) = two_stores(&nats);

        // Keys outside NATS's alphabet, read back on the other host; the
        // listing is by prefix and in key order.
        for k in [
            "dev/2/x",
            "dev/1/b",
            "dev/1/a",
            "dev/10/a",
            "user:Zoë.x",
            "",
        ] {
            a.set("p", k, &format!("v{k}"), None).unwrap();
        }
        eventually("b sees a's writes", || b.get("p", "").unwrap().is_some());
        assert_eq!(
            b.get("p", "user:Zoë.x").unwrap().as_deref(),
            Some("vuser:Zoë.x")
        );
        let keys: Vec<String> = b
            .list("p", "dev/1", 100)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["dev/1/a", "dev/1/b", "dev/10/a"]);
        assert_eq!(b.list("p", "dev/", 2).unwrap().len(), 2);

        // A millisecond TTL is not rounded to seconds: gone after 300 ms.
        a.set("p", "short", "x", Some(300)).unwrap();
        assert_eq!(a.get("p", "short").unwrap().as_deref(), Some("x"));
        std::thread::sleep(Duration::from_millis(350));
        assert_eq!(a.get("p", "short").unwrap(), None);
        assert_eq!(b.get("p", "short").unwrap(), None);
        assert!(
            !a.delete("p", "short").unwrap(),
            "an expired key is not taken"
        );

        // The take: of two hosts deleting one key at once, exactly one
        // sees true; repeated many times.
        for i in 0..20 {
            let key = format!("once/{i}");
            a.set("p", &key, "1", None).unwrap();
            eventually("b sees the key", || b.get("p", &key).unwrap().is_some());
            let (ka, kb) = (key.clone(), key.clone());
            let (sa, sb) = (a.clone(), b.clone());
            let ta = std::thread::spawn(move || sa.delete("p", &ka).unwrap());
            let tb = std::thread::spawn(move || sb.delete("p", &kb).unwrap());
            let (ra, rb) = (ta.join().unwrap(), tb.join().unwrap());
            assert!(ra ^ rb, "round {i}: a took {ra}, b took {rb}");
        }

        // Limits: the store's own, and the server's payload (1 MiB here).
        assert!(matches!(
            a.set("p", &"k".repeat(2000), "v", None),
            Err(KvError::KeyTooLong)
        ));
        assert!(matches!(
            a.set("p", "big", &"v".repeat(1 << 20), None),
            Err(KvError::OverPayload(_))
        ));

        // Blobs, across hosts.
        let data: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
        a.blob_set("p", "house.db", &data).unwrap();
        assert_eq!(
            b.blob_get("p", "house.db").unwrap().as_deref(),
            Some(&data[..])
        );
        assert_eq!(b.blob_get("p", "none").unwrap(), None);
        assert!(b.blob_delete("p", "house.db").unwrap());
        assert!(!a.blob_delete("p", "house.db").unwrap());
        assert_eq!(a.blob_get("p", "house.db").unwrap(), None);
    }

    #[test]
    fn envelope_carries_expiry_to_the_millisecond() {
        let e = envelope("v", Some(1_700_000_000_123));
        assert_eq!(
            open_envelope(&e),
            Some(("v".to_string(), Some(1_700_000_000_123)))
        );
        assert_eq!(
            open_envelope(&envelope("", None)),
            Some((String::new(), None))
        );
        assert_eq!(open_envelope(b"short"), None);
    }
}
