//! State that outlives a single call: the key-value store given to plugins.
//! Components keep nothing between calls, so a hot swap loses nothing.

pub mod kv;
pub mod outbox;
pub mod sessions;

/// Milliseconds since the Unix epoch (the clock plugins see).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
