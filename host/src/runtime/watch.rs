//! Hot reload: watches the plugin directory and reloads the plugins whose
//! `.wasm` changed. Events are debounced (a rebuild or a copy lands as
//! several events); loading, checking and the swap happen in
//! [`PluginControl::reload`](super::PluginControl::reload), on this thread,
//! never on a connection's path.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};

use super::Plugins;

/// Starts watching `dir`. Keep the returned value alive: dropping it stops
/// the watch.
pub fn watch_plugin_dir(
    dir: &Path,
    debounce: Duration,
    plugins: Plugins,
) -> anyhow::Result<Debouncer<RecommendedWatcher>> {
    let (tx, rx) = std::sync::mpsc::channel::<DebounceEventResult>();
    let mut debouncer = new_debouncer(debounce, tx).context("creating the file watcher")?;
    debouncer
        .watcher()
        .watch(dir, RecursiveMode::NonRecursive)
        .with_context(|| format!("watching {}", dir.display()))?;
    std::thread::Builder::new()
        .name("wasmgate-reload".into())
        .spawn(move || {
            for batch in rx {
                let events = match batch {
                    Ok(events) => events,
                    Err(e) => {
                        tracing::warn!(error = %e, "file watcher error");
                        continue;
                    }
                };
                let mut changed = BTreeMap::new();
                for ev in events {
                    if let Some(name) = ev.path.file_name() {
                        for p in plugins.using_file(name) {
                            changed.insert(p.name().to_string(), p);
                        }
                    }
                }
                for (name, plugin) in changed {
                    tracing::info!(plugin = %name, file = %plugin.file().display(), "plugin file changed; reloading");
                    let _ = plugin.reload(); // logged, counted and reported by reload()
                }
            }
        })
        .context("spawning the reload thread")?;
    Ok(debouncer)
}
