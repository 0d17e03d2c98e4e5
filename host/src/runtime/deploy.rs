//! Deploy once, run everywhere: in a cluster, plugin files live in the
//! object store `<name>_plugins` too. A file put there — through any
//! host's `PUT /plugins/{name}`, or by hand (`nats object put`) — is taken
//! by every host: downloaded, compiled and checked as a version of the
//! plugins that use that file name (their world, their limits), and only
//! then written into the plugin directory (a temporary name, then a
//! rename) and swapped in. A file that fails the check is never written:
//! the version serving stays, on every host, and the reason is in
//! `GET /plugins` (`last_reload_error`). A host that starts takes what the
//! bucket holds once its own files are loaded, then follows the bucket.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use async_nats::jetstream::object_store::{self, ObjectStore};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::Plugins;
use crate::cluster::Cluster;

/// Largest plugin file taken from the bucket (a Python component is ~20 MB).
pub const MAX_PLUGIN_BYTES: usize = 128 << 20;

pub struct Deployer {
    cluster: Arc<Cluster>,
    objects: ObjectStore,
    plugins: Plugins,
    plugin_dir: PathBuf,
}

impl Deployer {
    /// Opens (creating if needed) the cluster's plugin bucket, and takes
    /// what it holds now before returning.
    pub async fn start(
        cluster: Arc<Cluster>,
        plugins: Plugins,
        plugin_dir: &Path,
    ) -> anyhow::Result<Arc<Deployer>> {
        let objects = cluster.object_store("plugins").await?;
        let d = Arc::new(Deployer {
            cluster,
            objects,
            plugins,
            plugin_dir: plugin_dir.to_path_buf(),
        });
        let mut list = d.objects.list().await?;
        let mut present = Vec::new();
        while let Some(Ok(info)) = list.next().await {
            present.push(info);
        }
        for info in present {
            d.take(&info).await;
        }
        tokio::spawn(d.clone().follow());
        Ok(d)
    }

    /// Checks `bytes` as a version of plugin `plugin` on this host, then
    /// puts them into the bucket, from where every host takes them. The
    /// file's sha256, or why it was refused (nothing was published).
    pub async fn publish(&self, plugin: &str, bytes: Vec<u8>) -> Result<String, Refusal> {
        let control = self
            .plugins
            .control(plugin)
            .ok_or_else(|| Refusal::Unknown(plugin.to_string()))?;
        let file = control
            .file()
            .file_name()
            .and_then(|f| f.to_str())
            .map(str::to_string)
            .ok_or_else(|| Refusal::Unknown(plugin.to_string()))?;
        let (sha256, bytes) =
            tokio::task::spawn_blocking(move || control.check_bytes(&bytes).map(|s| (s, bytes)))
                .await
                .map_err(|e| Refusal::Invalid(e.to_string()))?
                .map_err(Refusal::Invalid)?;
        let bound = self.cluster.transfer_bound(bytes.len());
        let mut reader = bytes.as_slice();
        match tokio::time::timeout(bound, self.objects.put(file.as_str(), &mut reader)).await {
            Ok(Ok(_)) => Ok(sha256),
            Ok(Err(e)) => Err(Refusal::Unavailable(e.to_string())),
            Err(_) => Err(Refusal::Unavailable(format!(
                "no answer from NATS in {bound:?}"
            ))),
        }
    }

    /// Takes every change of the bucket from now on; the watch starts
    /// again when it ends (NATS restarted).
    async fn follow(self: Arc<Self>) {
        loop {
            match self.objects.watch().await {
                Ok(mut watch) => {
                    let seen = self.cluster.disconnects();
                    loop {
                        let info = tokio::select! {
                            info = watch.next() => info,
                            _ = self.cluster.lost_since(seen) => break,
                        };
                        let Some(info) = info else { break };
                        match info {
                            Ok(info) => self.take(&info).await,
                            Err(e) => {
                                tracing::debug!(error = %e, "plugin bucket watch ended");
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "plugin bucket watch not started"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Downloads, checks and installs one file of the bucket for the
    /// plugins that use it.
    async fn take(&self, info: &object_store::ObjectInfo) {
        if info.deleted {
            return;
        }
        let file = info.name.clone();
        let users = self.plugins.using_file(std::ffi::OsStr::new(&file));
        if users.is_empty() || file.contains('/') || file.starts_with('.') {
            return;
        }
        if info.size > MAX_PLUGIN_BYTES {
            tracing::error!(%file, size = info.size, "plugin file in the bucket is too large; not taken");
            return;
        }
        let bytes = match self.download(&file, info.size).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(%file, error = %e, "plugin file not downloaded from the bucket");
                return;
            }
        };
        let path = self.plugin_dir.join(&file);
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let local = tokio::fs::read(&path)
            .await
            .ok()
            .map(|b| hex::encode(Sha256::digest(&b)));
        if local.as_deref() == Some(sha256.as_str()) {
            return;
        }
        // Every plugin using the file must accept it before it is written.
        let checked = tokio::task::spawn_blocking(move || {
            for p in &users {
                if let Err(reason) = p.check_bytes(&bytes) {
                    let reason = format!(
                        "version {} from the cluster's bucket refused: {reason}",
                        &sha256[..12]
                    );
                    p.refused(&reason);
                    return Err(reason);
                }
            }
            Ok((bytes, users))
        })
        .await;
        let (bytes, users) = match checked {
            Ok(Ok(v)) => v,
            Ok(Err(reason)) => {
                tracing::error!(%file, %reason, "plugin file from the cluster refused; the version serving stays");
                return;
            }
            Err(_) => return,
        };
        let tmp = self.plugin_dir.join(format!(".{file}.deploy"));
        if let Err(e) = tokio::fs::write(&tmp, &bytes)
            .await
            .and(tokio::fs::rename(&tmp, &path).await)
        {
            tracing::error!(%file, error = %e, "plugin file from the cluster not written");
            return;
        }
        self.cluster.metrics.cluster.deploys.fetch_add(1, Relaxed);
        // Swap now rather than wait for the directory watcher (which then
        // finds the same bytes and does nothing).
        let _ = tokio::task::spawn_blocking(move || {
            for p in users {
                let _ = p.reload();
            }
        })
        .await;
        tracing::info!(%file, "plugin file taken from the cluster");
    }

    async fn download(&self, file: &str, size: usize) -> anyhow::Result<Vec<u8>> {
        let bound = self.cluster.transfer_bound(size);
        tokio::time::timeout(bound, async {
            let mut object = self.objects.get(file).await?;
            let mut bytes = Vec::with_capacity(size);
            (&mut object)
                .take(MAX_PLUGIN_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
                .await?;
            anyhow::ensure!(
                bytes.len() <= MAX_PLUGIN_BYTES,
                "larger than {MAX_PLUGIN_BYTES} bytes"
            );
            Ok(bytes)
        })
        .await
        .map_err(|_| anyhow::anyhow!("no answer from NATS in {bound:?}"))?
    }
}

/// Why an upload was not published.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("no plugin named {0:?}")]
    Unknown(String),
    #[error("refused: {0}")]
    Invalid(String),
    #[error("the cluster's plugin bucket is unavailable: {0}")]
    Unavailable(String),
}
