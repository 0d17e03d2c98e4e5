//! The host as a Rust plugin sees it: one [`Host`] trait with everything the
//! world `imports` of `wit/worlds.wit` offers (`keyvalue`, `blobs`,
//! `passwords`, `logging`, `config`, `sessions`, and the WASI wall clock
//! and random numbers).
//!
//! A plugin writes its logic against `&impl Host` and gets three hosts for
//! the price of one:
//! - [`WitHost`] (wasm32 only): the component's real imports;
//! - [`MemHost`]: an in-memory double with a settable clock, for native
//!   unit tests of the logic;
//! - the wasmgate binary's native dispatch mode, which runs the same logic
//!   compiled into the host against its real store and sessions.
//!
//! The component bindings of the imports are generated here once
//! ([`bindings`]); a plugin's own bindings ([`generate!`]) reuse them with
//! `with:` (see the README's "Writing a plugin").

mod mem;

pub use mem::MemHost;

pub type SessionId = u64;

/// A log line's level (the WIT `logging.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Critical,
}

/// Why a call to the host failed (the WIT `types.error`). Absence is not an
/// error: a missing key is `None`, a delete of one `false`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// An argument is over the host's limit, in bytes.
    TooLarge(u64),
    /// The store failed; the same call may succeed later.
    Unavailable(String),
    /// Any other failure.
    Other(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::TooLarge(limit) => write!(f, "too large (the limit is {limit} bytes)"),
            Error::Unavailable(why) => write!(f, "unavailable: {why}"),
            Error::Other(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for String {
    fn from(e: Error) -> String {
        e.to_string()
    }
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
    /// `keyvalue.get`.
    fn kv_get(&self, key: &str) -> Result<Option<String>, Error>;
    /// `keyvalue.set`. `ttl_ms`: the key disappears that long after it is
    /// written.
    fn kv_set(&self, key: &str, value: &str, ttl_ms: Option<u64>) -> Result<(), Error>;
    /// `keyvalue.delete`: whether a live key was removed.
    fn kv_delete(&self, key: &str) -> Result<bool, Error>;
    /// `keyvalue.list-entries`: live entries whose key starts with
    /// `prefix`, in key order, at most `limit`.
    fn kv_list(&self, prefix: &str, limit: u32) -> Result<Vec<(String, String)>, Error>;

    /// `blobs.get`, `blobs.set`, `blobs.delete`.
    fn blob_get(&self, name: &str) -> Result<Option<Vec<u8>>, Error>;
    fn blob_set(&self, name: &str, data: &[u8]) -> Result<(), Error>;
    fn blob_delete(&self, name: &str) -> Result<bool, Error>;

    /// `passwords.hash`: a PHC string (argon2id) of `password`.
    fn password_hash(&self, password: &str) -> Result<String, Error>;
    /// `passwords.verify`.
    fn password_verify(&self, password: &str, phc: &str) -> bool;

    /// Unix milliseconds (`wasi:clocks/wall-clock` in a component).
    fn now_ms(&self) -> u64;
    /// `logging.log`; `context` may be empty.
    fn log(&self, level: Level, context: &str, message: &str);
    /// `config.get`: a value of the plugin's `[plugins.NAME.config]` table,
    /// as a string.
    fn config_get(&self, key: &str) -> Option<String>;
    /// `config.get-all`: the whole table, in key order.
    fn config_all(&self) -> Vec<(String, String)>;

    /// Cryptographically secure random bytes (`wasi:random/random` in a
    /// component, the OS elsewhere).
    fn random(&self, buf: &mut [u8]) -> Result<(), Error> {
        getrandom::fill(buf).map_err(|e| Error::Unavailable(e.to_string()))
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

    /// A warning without a context.
    fn warn(&self, message: &str) {
        self.log(Level::Warn, "", message)
    }
}

/// The component bindings of the imports (wasm32 only): every interface of
/// the world `imports`, WASI's included.
#[cfg(target_arch = "wasm32")]
pub mod bindings {
    wit_bindgen::generate!({
        world: "imports",
        path: "../../wit",
        generate_all,
    });
}

/// A plugin's bindings of `world` (from the WIT in `../../wit`, relative
/// to the plugin's crate), reusing the SDK's bindings of every import, so
/// [`WitHost`] and the plugin's own code share one set:
/// `wasmgate_sdk::generate!("chat");` in place of `wit_bindgen::generate!`.
/// The plugin depends on `wit-bindgen` itself.
#[macro_export]
macro_rules! generate {
    ($world:tt) => {
        wit_bindgen::generate!({
            world: $world,
            path: "../../wit",
            with: {
                "wasmgate:plugin/types@1.0.0": wasmgate_sdk::bindings::wasmgate::plugin::types,
                "wasmgate:plugin/keyvalue@1.0.0": wasmgate_sdk::bindings::wasmgate::plugin::keyvalue,
                "wasmgate:plugin/blobs@1.0.0": wasmgate_sdk::bindings::wasmgate::plugin::blobs,
                "wasmgate:plugin/passwords@1.0.0": wasmgate_sdk::bindings::wasmgate::plugin::passwords,
                "wasmgate:plugin/logging@1.0.0": wasmgate_sdk::bindings::wasmgate::plugin::logging,
                "wasmgate:plugin/config@1.0.0": wasmgate_sdk::bindings::wasmgate::plugin::config,
                "wasmgate:plugin/sessions@1.0.0": wasmgate_sdk::bindings::wasmgate::plugin::sessions,
                "wasi:clocks/wall-clock@0.2.12": wasmgate_sdk::bindings::wasi::clocks::wall_clock,
                "wasi:random/random@0.2.12": wasmgate_sdk::bindings::wasi::random::random,
            },
        });
    };
}

#[cfg(target_arch = "wasm32")]
pub use wit::WitHost;

#[cfg(target_arch = "wasm32")]
mod wit {
    use super::bindings::wasi::clocks::wall_clock;
    use super::bindings::wasi::random::random;
    use super::bindings::wasmgate::plugin::{
        blobs, config, keyvalue, logging, passwords, sessions, types,
    };
    use super::{Error, Host, Level, SessionId, SessionInfo};

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

    impl From<types::Error> for Error {
        fn from(e: types::Error) -> Error {
            match e {
                types::Error::TooLarge(limit) => Error::TooLarge(limit),
                types::Error::Unavailable(why) => Error::Unavailable(why),
                types::Error::Other(why) => Error::Other(why),
            }
        }
    }

    impl Host for WitHost {
        fn kv_get(&self, key: &str) -> Result<Option<String>, Error> {
            Ok(keyvalue::get(key)?)
        }
        fn kv_set(&self, key: &str, value: &str, ttl_ms: Option<u64>) -> Result<(), Error> {
            Ok(keyvalue::set(key, value, ttl_ms)?)
        }
        fn kv_delete(&self, key: &str) -> Result<bool, Error> {
            Ok(keyvalue::delete(key)?)
        }
        fn kv_list(&self, prefix: &str, limit: u32) -> Result<Vec<(String, String)>, Error> {
            Ok(keyvalue::list_entries(prefix, limit)?)
        }
        fn blob_get(&self, name: &str) -> Result<Option<Vec<u8>>, Error> {
            Ok(blobs::get(name)?)
        }
        fn blob_set(&self, name: &str, data: &[u8]) -> Result<(), Error> {
            Ok(blobs::set(name, data)?)
        }
        fn blob_delete(&self, name: &str) -> Result<bool, Error> {
            Ok(blobs::delete(name)?)
        }
        fn password_hash(&self, password: &str) -> Result<String, Error> {
            Ok(passwords::hash(password)?)
        }
        fn password_verify(&self, password: &str, phc: &str) -> bool {
            passwords::verify(password, phc)
        }
        fn now_ms(&self) -> u64 {
            let t = wall_clock::now();
            t.seconds * 1000 + u64::from(t.nanoseconds / 1_000_000)
        }
        fn log(&self, level: Level, context: &str, message: &str) {
            let level = match level {
                Level::Trace => logging::Level::Trace,
                Level::Debug => logging::Level::Debug,
                Level::Info => logging::Level::Info,
                Level::Warn => logging::Level::Warn,
                Level::Error => logging::Level::Error,
                Level::Critical => logging::Level::Critical,
            };
            logging::log(level, context, message)
        }
        fn config_get(&self, key: &str) -> Option<String> {
            config::get(key)
        }
        fn config_all(&self) -> Vec<(String, String)> {
            config::get_all()
        }
        fn random(&self, buf: &mut [u8]) -> Result<(), Error> {
            let bytes = random::get_random_bytes(buf.len() as u64);
            if bytes.len() != buf.len() {
                return Err(Error::Other(format!(
                    "wasi:random gave {} bytes for {}",
                    bytes.len(),
                    buf.len()
                )));
            }
            buf.copy_from_slice(&bytes);
            Ok(())
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
