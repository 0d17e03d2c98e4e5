//! wasmgate remote-execute relay component (world `exec`).
//!
//! The logic lives in [`logic`] written against [`wasmgate_sdk::Host`]; this file
//! only adapts it to the generated bindings, which are compiled for wasm32
//! only so that `cargo test -p exec` runs natively.

pub mod logic;

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({
        world: "exec",
        path: "../../wit",
        with: {
            "wasmgate:plugin/host@0.1.0": wasmgate_sdk::bindings::wasmgate::plugin::host,
            "wasmgate:plugin/sessions@0.1.0": wasmgate_sdk::bindings::wasmgate::plugin::sessions,
        },
    });

    use crate::logic;
    use exports::wasmgate::plugin::admin::{self, AdminError};
    use exports::wasmgate::plugin::exec_handler::{self, ExecRequest, Outgoing};
    use wasmgate_sdk::bindings::wasmgate::plugin::sessions;
    use wasmgate_sdk::WitHost;


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
