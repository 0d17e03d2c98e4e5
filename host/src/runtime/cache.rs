//! Compiled components kept on disk, so that a host start or a reload of a
//! file it has seen before costs milliseconds instead of a Cranelift compile
//! (an 18 MB Python component takes seconds to compile, a Rust one ~50 ms).
//!
//! An entry is `<sha256 of the .wasm>-<engine key>.cwasm`, where the engine
//! key hashes everything that makes compiled code incompatible (wasmtime
//! version, target, engine settings). Entries are written to a temporary name
//! and renamed, never rewritten in place, because a loaded entry is memory
//! mapped. The newest [`KEEP`] entries are kept.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use wasmtime::Engine;
use wasmtime::component::Component;

/// Entries kept in the directory (older ones are removed after a write).
const KEEP: usize = 32;

#[derive(Debug, Clone)]
pub struct CompileCache {
    /// `None`: compile every time.
    dir: Option<PathBuf>,
    engine_key: String,
}

impl CompileCache {
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> CompileCache {
        let mut h = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        CompileCache {
            dir,
            engine_key: format!("{:016x}", h.finish()),
        }
    }

    pub fn disabled(engine: &Engine) -> CompileCache {
        CompileCache::new(engine, None)
    }

    /// The component for `bytes` (whose SHA-256 is `sha256`): from the cache
    /// when an entry is there and loads, else compiled (and stored).
    pub fn component(
        &self,
        engine: &Engine,
        bytes: &[u8],
        sha256: &str,
    ) -> anyhow::Result<Component> {
        let Some(dir) = &self.dir else {
            return compile(engine, bytes);
        };
        let path = dir.join(format!("{sha256}-{}.cwasm", self.engine_key));
        if path.exists() {
            // SAFETY: the cache directory belongs to the host (see the
            // configuration's `cache_dir`); its entries are written only by
            // `store` below from `Engine::precompile_component`, and
            // wasmtime checks the header and engine compatibility on load.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(c) => {
                    touch(&path);
                    tracing::debug!(entry = %path.display(), "compiled component from the cache");
                    return Ok(c);
                }
                Err(e) => {
                    tracing::warn!(entry = %path.display(), error = %format!("{e:#}"),
                        "cache entry unusable; compiling again")
                }
            }
        }
        let compiled = engine
            .precompile_component(bytes)
            .map_err(|e| anyhow::anyhow!("not a valid WebAssembly component: {e:#}"))?;
        if let Err(e) = store(dir, &path, &compiled) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot write the compile cache");
        } else {
            prune(dir);
        }
        // SAFETY: `compiled` was produced just now by this engine.
        unsafe { Component::deserialize(engine, &compiled) }.map_err(|e| anyhow::anyhow!("{e:#}"))
    }
}

fn compile(engine: &Engine, bytes: &[u8]) -> anyhow::Result<Component> {
    Component::new(engine, bytes)
        .map_err(|e| anyhow::anyhow!("not a valid WebAssembly component: {e:#}"))
}

fn store(dir: &Path, path: &Path, compiled: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
        std::process::id()
    ));
    std::fs::write(&tmp, compiled)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Marks an entry as recently used, so pruning keeps it.
fn touch(path: &Path) {
    if let Ok(f) = std::fs::File::options().append(true).open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// Removes all but the [`KEEP`] most recently used entries.
fn prune(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut found: Vec<(SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if found.len() <= KEEP {
        return;
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    for (_, old) in found.drain(KEEP..) {
        // Removing a mapped file is safe: the mapping outlives the name.
        let _ = std::fs::remove_file(old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The smallest component: `(component)`.
    const EMPTY: &[u8] = b"\0asm\x0d\0\x01\0";

    #[test]
    fn compiles_once_then_loads_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = CompileCache::new(&engine, Some(dir.path().join("c")));
        cache.component(&engine, EMPTY, "abc").unwrap();
        let entries: Vec<_> = std::fs::read_dir(dir.path().join("c"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().into_string().unwrap())
            .collect();
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert!(entries[0].starts_with("abc-") && entries[0].ends_with(".cwasm"));
        // A second engine with the same settings reads the entry.
        let again = CompileCache::new(&engine, Some(dir.path().join("c")));
        again.component(&engine, EMPTY, "abc").unwrap();
    }

    #[test]
    fn a_corrupt_entry_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = CompileCache::new(&engine, Some(dir.path().to_path_buf()));
        let path = dir.path().join(format!("abc-{}.cwasm", cache.engine_key));
        std::fs::write(&path, b"garbage").unwrap();
        cache.component(&engine, EMPTY, "abc").unwrap();
        assert_ne!(std::fs::read(&path).unwrap(), b"garbage");
    }

    #[test]
    fn invalid_bytes_are_refused_and_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = CompileCache::new(&engine, Some(dir.path().to_path_buf()));
        let err = cache.component(&engine, b"not wasm", "bad").unwrap_err();
        assert!(format!("{err}").contains("not a valid"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn only_the_newest_entries_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..KEEP + 5 {
            std::fs::write(dir.path().join(format!("{i}.cwasm")), b"x").unwrap();
        }
        prune(dir.path());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), KEEP);
    }
}
