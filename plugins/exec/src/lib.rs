//! wasmgate remote-execute relay component (world `exec`).
//!
//! The logic lives in [`logic`] behind the [`logic::Host`] trait; this file
//! only adapts it to the generated bindings, which are compiled for wasm32
//! only so that `cargo test -p exec` runs natively.

pub mod logic;

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({
        world: "exec",
        path: "../../wit",
    });

    use crate::logic;
    use exports::wasmgate::plugin::admin::{self, AdminError};
    use exports::wasmgate::plugin::exec_handler::{self, ExecRequest, Outgoing};
    use wasmgate::plugin::{host, sessions};

    struct WitHost;

    impl logic::Host for WitHost {
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
        fn now_ms(&self) -> u64 {
            host::now_ms()
        }
        fn log(&self, level: logic::Level, message: &str) {
            let level = match level {
                logic::Level::Debug => host::LogLevel::Debug,
                logic::Level::Info => host::LogLevel::Info,
                logic::Level::Warn => host::LogLevel::Warn,
            };
            host::log(level, message)
        }
        fn random(&self, buf: &mut [u8]) -> Result<(), String> {
            getrandom::fill(buf).map_err(|e| e.to_string())
        }
        fn get_attr(&self, session: u64, key: &str) -> Option<String> {
            sessions::get_attr(session, key)
        }
        fn set_attr(&self, session: u64, key: &str, value: Option<&str>) {
            sessions::set_attr(session, key, value)
        }
        fn join(&self, session: u64, group: &str) {
            sessions::join(session, group)
        }
        fn leave(&self, session: u64, group: &str) {
            sessions::leave(session, group)
        }
        fn members(&self, group: &str) -> Vec<u64> {
            sessions::members(group).into_iter().map(|m| m.id).collect()
        }
        fn close(&self, session: u64) {
            sessions::close(session)
        }
    }

    struct Exec;

    impl exec_handler::Guest for Exec {
        fn handle(session: u64, request: ExecRequest) -> Result<Vec<Outgoing>, String> {
            let request = match request {
                ExecRequest::Init(token) => logic::Request::Init(token),
                ExecRequest::CheckDevice => logic::Request::CheckDevice,
                ExecRequest::Heartbeat => logic::Request::Heartbeat,
                ExecRequest::Execute(t) => logic::Request::Execute(t),
                ExecRequest::ExecuteResult(t) => logic::Request::ExecuteResult(t),
                ExecRequest::Other(cmd) => logic::Request::Other(cmd),
                ExecRequest::Invalid(why) => logic::Request::Invalid(why),
                ExecRequest::Binary => logic::Request::Binary,
            };
            let out = logic::handle(&WitHost, session, request)?;
            Ok(out
                .into_iter()
                .map(|o| Outgoing {
                    to: match o.to {
                        logic::Target::Reply => sessions::Target::Reply,
                        logic::Target::GroupOthers(g) => sessions::Target::GroupOthers(g),
                    },
                    text: o.text,
                })
                .collect())
        }

        fn closed(session: u64) {
            logic::closed(&WitHost, session)
        }
    }

    impl admin::Guest for Exec {
        fn handle(request: String) -> Result<String, AdminError> {
            logic::admin(&WitHost, &request).map_err(|e| AdminError {
                status: e.status,
                message: e.message,
            })
        }
    }

    export!(Exec);
}
