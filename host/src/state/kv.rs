//! The key-value store behind the `host` interface's `kv-*` and `blob-*`
//! imports.
//!
//! SQLite in WAL mode. Each plugin has its own namespace. A `set` is one
//! autocommit transaction, so it is in the WAL before the call returns: a
//! write a component made before its answer was sent survives `kill -9` of
//! the host. Expired entries are invisible at once and purged in the
//! background.

use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;
use rusqlite::{Connection, OptionalExtension, params};

use super::now_ms;
use crate::config::Synchronous;

/// Longest key and value accepted, so one plugin cannot bloat the store
/// with a single call.
pub const MAX_KEY_BYTES: usize = 1024;
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// Most entries one `list` returns, whatever the caller asks.
pub const MAX_LIST: u32 = 10_000;
/// Largest binary object (`blob-set`).
pub const MAX_BLOB_BYTES: usize = 32 << 20;

pub struct Kv {
    conn: Mutex<Connection>,
}

#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("key longer than {MAX_KEY_BYTES} bytes")]
    KeyTooLong,
    #[error("value longer than {MAX_VALUE_BYTES} bytes")]
    ValueTooLong,
    #[error("blob larger than {MAX_BLOB_BYTES} bytes")]
    BlobTooLarge,
    #[error("value larger than {0} bytes (the cluster's NATS payload limit)")]
    OverPayload(u64),
    #[error("store failure: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// What plugins' state lives in: [`Kv`] (SQLite, one process) or the
/// cluster's JetStream buckets. Every call may block (a plugin call runs on
/// a blocking thread); each is atomic on its own.
pub trait Store: Send + Sync {
    fn get(&self, ns: &str, key: &str) -> Result<Option<String>, KvError>;
    fn set(&self, ns: &str, key: &str, value: &str, ttl_ms: Option<u64>) -> Result<(), KvError>;
    /// Removes `key`; true if a live entry was there (exactly one of
    /// several concurrent deletes of it sees true).
    fn delete(&self, ns: &str, key: &str) -> Result<bool, KvError>;
    /// Live entries whose key starts with `prefix`, in key order.
    fn list(&self, ns: &str, prefix: &str, limit: u32) -> Result<Vec<(String, String)>, KvError>;
    fn blob_get(&self, ns: &str, name: &str) -> Result<Option<Vec<u8>>, KvError>;
    fn blob_set(&self, ns: &str, name: &str, data: &[u8]) -> Result<(), KvError>;
    fn blob_delete(&self, ns: &str, name: &str) -> Result<bool, KvError>;
}

/// The limits every store enforces, before anything is written.
pub fn check_entry(key: &str, value: &str) -> Result<(), KvError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(KvError::KeyTooLong);
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(KvError::ValueTooLong);
    }
    Ok(())
}

pub fn check_blob(name: &str, data: &[u8]) -> Result<(), KvError> {
    if name.len() > MAX_KEY_BYTES {
        return Err(KvError::KeyTooLong);
    }
    if data.len() > MAX_BLOB_BYTES {
        return Err(KvError::BlobTooLarge);
    }
    Ok(())
}

impl Store for Kv {
    fn get(&self, ns: &str, key: &str) -> Result<Option<String>, KvError> {
        Kv::get(self, ns, key)
    }
    fn set(&self, ns: &str, key: &str, value: &str, ttl_ms: Option<u64>) -> Result<(), KvError> {
        Kv::set(self, ns, key, value, ttl_ms)
    }
    fn delete(&self, ns: &str, key: &str) -> Result<bool, KvError> {
        Kv::delete(self, ns, key)
    }
    fn list(&self, ns: &str, prefix: &str, limit: u32) -> Result<Vec<(String, String)>, KvError> {
        Kv::list(self, ns, prefix, limit)
    }
    fn blob_get(&self, ns: &str, name: &str) -> Result<Option<Vec<u8>>, KvError> {
        Kv::blob_get(self, ns, name)
    }
    fn blob_set(&self, ns: &str, name: &str, data: &[u8]) -> Result<(), KvError> {
        Kv::blob_set(self, ns, name, data)
    }
    fn blob_delete(&self, ns: &str, name: &str) -> Result<bool, KvError> {
        Kv::blob_delete(self, ns, name)
    }
}

impl Kv {
    pub fn open(path: &Path, sync: Synchronous) -> anyhow::Result<Kv> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        let sync = match sync {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous={sync};
             PRAGMA busy_timeout=5000;
             CREATE TABLE IF NOT EXISTS kv (
                 ns TEXT NOT NULL,
                 key TEXT NOT NULL,
                 value TEXT NOT NULL,
                 expires_at INTEGER,
                 PRIMARY KEY (ns, key)
             ) WITHOUT ROWID;
             CREATE INDEX IF NOT EXISTS kv_expiry ON kv(expires_at) WHERE expires_at IS NOT NULL;
             CREATE TABLE IF NOT EXISTS blobs (
                 ns TEXT NOT NULL,
                 name TEXT NOT NULL,
                 data BLOB NOT NULL,
                 PRIMARY KEY (ns, name)
             ) WITHOUT ROWID;"
        ))
        .with_context(|| format!("initialising {}", path.display()))?;
        Ok(Kv {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written
        // (each statement is its own transaction), so a poisoned lock is safe.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, ns: &str, key: &str) -> Result<Option<String>, KvError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT value FROM kv WHERE ns = ?1 AND key = ?2 AND (expires_at IS NULL OR expires_at > ?3)",
        )?;
        Ok(stmt
            .query_row(params![ns, key, now_ms() as i64], |r| r.get(0))
            .optional()?)
    }

    pub fn set(
        &self,
        ns: &str,
        key: &str,
        value: &str,
        ttl_ms: Option<u64>,
    ) -> Result<(), KvError> {
        check_entry(key, value)?;
        let expires = ttl_ms.map(|t| now_ms().saturating_add(t).min(i64::MAX as u64) as i64);
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "INSERT INTO kv (ns, key, value, expires_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
        )?;
        stmt.execute(params![ns, key, value, expires])?;
        Ok(())
    }

    /// Removes `key`; true if a live entry was there.
    pub fn delete(&self, ns: &str, key: &str) -> Result<bool, KvError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("DELETE FROM kv WHERE ns = ?1 AND key = ?2 RETURNING expires_at")?;
        let expires: Option<Option<i64>> =
            stmt.query_row(params![ns, key], |r| r.get(0)).optional()?;
        Ok(match expires {
            None => false,
            Some(None) => true,
            Some(Some(at)) => at > now_ms() as i64,
        })
    }

    pub fn list(
        &self,
        ns: &str,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<(String, String)>, KvError> {
        let limit = limit.min(MAX_LIST);
        let conn = self.conn();
        // A range scan on the primary key: [prefix, prefix + U+10FFFF).
        let upper = format!("{prefix}\u{10FFFF}");
        let mut stmt = conn.prepare_cached(
            "SELECT key, value FROM kv
             WHERE ns = ?1 AND key >= ?2 AND key < ?3 AND (expires_at IS NULL OR expires_at > ?4)
             ORDER BY key LIMIT ?5",
        )?;
        let rows = stmt.query_map(params![ns, prefix, upper, now_ms() as i64, limit], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn blob_get(&self, ns: &str, name: &str) -> Result<Option<Vec<u8>>, KvError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT data FROM blobs WHERE ns = ?1 AND name = ?2")?;
        Ok(stmt.query_row(params![ns, name], |r| r.get(0)).optional()?)
    }

    pub fn blob_set(&self, ns: &str, name: &str, data: &[u8]) -> Result<(), KvError> {
        check_blob(name, data)?;
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "INSERT INTO blobs (ns, name, data) VALUES (?1, ?2, ?3)
             ON CONFLICT (ns, name) DO UPDATE SET data = excluded.data",
        )?;
        stmt.execute(params![ns, name, data])?;
        Ok(())
    }

    pub fn blob_delete(&self, ns: &str, name: &str) -> Result<bool, KvError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("DELETE FROM blobs WHERE ns = ?1 AND name = ?2")?;
        Ok(stmt.execute(params![ns, name])? > 0)
    }

    /// Deletes expired entries; returns how many.
    pub fn purge_expired(&self) -> Result<usize, KvError> {
        let conn = self.conn();
        Ok(conn.execute(
            "DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?1",
            params![now_ms() as i64],
        )?)
    }

    /// Folds the WAL into the main file (on shutdown).
    pub fn checkpoint(&self) -> Result<(), KvError> {
        self.conn()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> (tempfile::TempDir, Kv) {
        let dir = tempfile::tempdir().unwrap();
        let kv = Kv::open(&dir.path().join("sub/kv.db"), Synchronous::Normal).unwrap();
        (dir, kv)
    }

    #[test]
    fn set_get_delete_and_namespaces() {
        let (_d, kv) = open();
        kv.set("a", "k", "v1", None).unwrap();
        kv.set("b", "k", "v2", None).unwrap();
        assert_eq!(kv.get("a", "k").unwrap().as_deref(), Some("v1"));
        assert_eq!(kv.get("b", "k").unwrap().as_deref(), Some("v2"));
        assert!(kv.delete("a", "k").unwrap());
        assert!(!kv.delete("a", "k").unwrap());
        assert_eq!(kv.get("a", "k").unwrap(), None);
        assert_eq!(kv.get("b", "k").unwrap().as_deref(), Some("v2"));
    }

    #[test]
    fn expiry_hides_and_purges() {
        let (_d, kv) = open();
        kv.set("a", "gone", "x", Some(1)).unwrap();
        kv.set("a", "kept", "y", Some(60_000)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(kv.get("a", "gone").unwrap(), None);
        assert!(
            !kv.delete("a", "gone").unwrap(),
            "an expired key does not count as deleted"
        );
        kv.set("a", "gone2", "x", Some(1)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(kv.purge_expired().unwrap(), 1);
        assert_eq!(kv.get("a", "kept").unwrap().as_deref(), Some("y"));
    }

    #[test]
    fn list_by_prefix_in_order_with_limit() {
        let (_d, kv) = open();
        for k in ["dev/2/x", "dev/1/b", "dev/1/a", "dev/10/a", "other"] {
            kv.set("a", k, k, None).unwrap();
        }
        let keys: Vec<_> = kv
            .list("a", "dev/1/", 100)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["dev/1/a", "dev/1/b"]);
        assert_eq!(kv.list("a", "dev/", 2).unwrap().len(), 2);
        assert_eq!(kv.list("a", "", 100).unwrap().len(), 5);
    }

    #[test]
    fn oversize_is_refused() {
        let (_d, kv) = open();
        assert!(matches!(
            kv.set("a", &"k".repeat(2000), "v", None),
            Err(KvError::KeyTooLong)
        ));
        assert!(matches!(
            kv.set("a", "k", &"v".repeat(MAX_VALUE_BYTES + 1), None),
            Err(KvError::ValueTooLong)
        ));
    }

    #[test]
    fn blobs_round_trip_per_namespace() {
        let (_d, kv) = open();
        let data: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
        kv.blob_set("a", "house.db", &data).unwrap();
        assert_eq!(
            kv.blob_get("a", "house.db").unwrap().as_deref(),
            Some(&data[..])
        );
        assert_eq!(kv.blob_get("b", "house.db").unwrap(), None);
        assert!(kv.blob_delete("a", "house.db").unwrap());
        assert!(!kv.blob_delete("a", "house.db").unwrap());
        assert!(matches!(
            kv.blob_set("a", "x", &vec![0; MAX_BLOB_BYTES + 1]),
            Err(KvError::BlobTooLarge)
        ));
    }

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.db");
        Kv::open(&path, Synchronous::Normal)
            .unwrap()
            .set("a", "k", "v", None)
            .unwrap();
        assert_eq!(
            Kv::open(&path, Synchronous::Normal)
                .unwrap()
                .get("a", "k")
                .unwrap()
                .as_deref(),
            Some("v")
        );
    }
}
