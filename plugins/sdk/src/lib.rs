//! The host as a Rust plugin sees it: one [`Host`] trait with everything the
//! `wasmgate:plugin/host` and `wasmgate:plugin/sessions` interfaces offer.
//!
//! A plugin writes its logic against `&impl Host` and gets three hosts for
//! the price of one:
//! - [`WitHost`] (wasm32 only): the component's real imports;
//! - [`MemHost`]: an in-memory double with a settable clock, for native
//!   unit tests of the logic;
//! - the wasmgate binary's native dispatch mode, which runs the same logic
//!   compiled into the host against its real store and sessions.
//!
//! The component bindings of the two imported interfaces are generated here
//! once ([`bindings`]); a plugin's own `wit_bindgen::generate!` reuses them
//! with `with:` (see the README's "Writing a plugin").

mod mem;

pub use mem::MemHost;

pub type SessionId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// A live session, as `sessions.info` / `sessions.members` describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: SessionId,
    /// Name of the listener the connection came in on.
    pub listener: String,
    /// The peer's address, `ip:port`.
    pub peer: String,
    pub attrs: Vec<(String, String)>,
}

impl SessionInfo {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A refused operator call (`admin.handle`): the HTTP status (4xx for a
/// bad request, 5xx for a failure) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminError {
    pub status: u16,
    pub message: String,
}

/// Everything a plugin can ask of the host. Keys and blob names live in the
/// plugin's private namespace; sessions and groups are shared by every
/// listener that serves the plugin.
pub trait Host {
    fn kv_get(&self, key: &str) -> Result<Option<String>, String>;
    /// `ttl_ms`: the key disappears that long after it is written.
    fn kv_set(&self, key: &str, value: &str, ttl_ms: Option<u64>) -> Result<(), String>;
    /// Whether a live key was removed.
    fn kv_delete(&self, key: &str) -> Result<bool, String>;
    /// Live keys starting with `prefix`, in key order, at most `limit`.
    fn kv_list(&self, prefix: &str, limit: u32) -> Result<Vec<(String, String)>, String>;

    fn blob_get(&self, name: &str) -> Result<Option<Vec<u8>>, String>;
    fn blob_set(&self, name: &str, data: &[u8]) -> Result<(), String>;
    fn blob_delete(&self, name: &str) -> Result<bool, String>;

    /// A PHC string (argon2id) of `password`.
    fn password_hash(&self, password: &str) -> Result<String, String>;
    fn password_verify(&self, password: &str, phc: &str) -> bool;

    /// Unix milliseconds.
    fn now_ms(&self) -> u64;
    fn log(&self, level: Level, message: &str);
    /// A value of the plugin's `[plugins.NAME.config]` table, as a string.
    fn config_get(&self, key: &str) -> Option<String>;

    /// Cryptographically secure random bytes.
    fn random(&self, buf: &mut [u8]) -> Result<(), String> {
        getrandom::fill(buf).map_err(|e| e.to_string())
    }

    fn info(&self, session: SessionId) -> Option<SessionInfo>;
    fn get_attr(&self, session: SessionId, key: &str) -> Option<String>;
    fn set_attr(&self, session: SessionId, key: &str, value: Option<&str>);
    fn join(&self, session: SessionId, group: &str);
    fn leave(&self, session: SessionId, group: &str);
    /// Live members of `group`.
    fn members(&self, group: &str) -> Vec<SessionInfo>;
    /// Takes `name` for `session` unless another live session holds it;
    /// a session's claims end with it.
    fn claim(&self, session: SessionId, name: &str) -> bool;
    fn release(&self, session: SessionId, name: &str);
    /// Ends the connection once what is queued for it is written.
    fn close(&self, session: SessionId);

    fn warn(&self, message: &str) {
        self.log(Level::Warn, message)
    }
}

/// The component bindings of the imported interfaces (wasm32 only).
#[cfg(target_arch = "wasm32")]
pub mod bindings {
    wit_bindgen::generate!({
        world: "host-imports",
        path: "../../wit",
    });
}

#[cfg(target_arch = "wasm32")]
pub use wit::WitHost;

#[cfg(target_arch = "wasm32")]
mod wit {
    use super::bindings::wasmgate::plugin::{host, sessions};
    use super::{Host, Level, SessionId, SessionInfo};

    /// The host of a running component: its imports.
    pub struct WitHost;

    fn info(s: sessions::SessionInfo) -> SessionInfo {
        SessionInfo {
            id: s.id,
            listener: s.listener,
            peer: s.peer,
            attrs: s.attrs,
        }
    }

    impl Host for WitHost {
        fn kv_get(&self, key: &str) -> Result<Option<String>, String> {
            host::kv_get(key)
        }
        fn kv_set(&self, key: &str, value: &str, ttl_ms: Option<u64>) -> Result<(), String> {
            host::kv_set(key, value, ttl_ms)
        }
        fn kv_delete(&self, key: &str) -> Result<bool, String> {
            host::kv_delete(key)
        }
        fn kv_list(&self, prefix: &str, limit: u32) -> Result<Vec<(String, String)>, String> {
            host::kv_list(prefix, limit)
        }
        fn blob_get(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
            host::blob_get(name)
        }
        fn blob_set(&self, name: &str, data: &[u8]) -> Result<(), String> {
            host::blob_set(name, data)
        }
        fn blob_delete(&self, name: &str) -> Result<bool, String> {
            host::blob_delete(name)
        }
        fn password_hash(&self, password: &str) -> Result<String, String> {
            host::password_hash(password)
        }
        fn password_verify(&self, password: &str, phc: &str) -> bool {
            host::password_verify(password, phc)
        }
        fn now_ms(&self) -> u64 {
            host::now_ms()
        }
        fn log(&self, level: Level, message: &str) {
            let level = match level {
                Level::Trace => host::LogLevel::Trace,
                Level::Debug => host::LogLevel::Debug,
                Level::Info => host::LogLevel::Info,
                Level::Warn => host::LogLevel::Warn,
                Level::Error => host::LogLevel::Error,
            };
            host::log(level, message)
        }
        fn config_get(&self, key: &str) -> Option<String> {
            host::config_get(key)
        }
        fn info(&self, session: SessionId) -> Option<SessionInfo> {
            sessions::info(session).map(info)
        }
        fn get_attr(&self, session: SessionId, key: &str) -> Option<String> {
            sessions::get_attr(session, key)
        }
        fn set_attr(&self, session: SessionId, key: &str, value: Option<&str>) {
            sessions::set_attr(session, key, value)
        }
        fn join(&self, session: SessionId, group: &str) {
            sessions::join(session, group)
        }
        fn leave(&self, session: SessionId, group: &str) {
            sessions::leave(session, group)
        }
        fn members(&self, group: &str) -> Vec<SessionInfo> {
            sessions::members(group).into_iter().map(info).collect()
        }
        fn claim(&self, session: SessionId, name: &str) -> bool {
            sessions::claim(session, name)
        }
        fn release(&self, session: SessionId, name: &str) {
            sessions::release(session, name)
        }
        fn close(&self, session: SessionId) {
            sessions::close(session)
        }
    }
}
