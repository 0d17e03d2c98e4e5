//! wasmgate remote-execute relay component (world `exec`).
//!
//! The logic lives in [`logic`] written against [`wasmgate_sdk::Host`]; this file
//! only adapts it to the generated bindings, which are compiled for wasm32
//! only so that `cargo test -p exec` runs natively.

pub mod logic;

/// Defines `handle` and `closed`, the relay behind the WIT types of world
/// `exec`, for any bindings of that world: the component's own and the
/// host's (the native build), so both convert with the same code. The
/// arguments are the paths of the bindings' `exec-handler` and `sessions`
/// modules, each in brackets.
#[macro_export]
macro_rules! wit_exec_handler {
    ([$($handler:tt)+], [$($sessions:tt)+]) => {
        /// The relay's answer to one message of `session`, in WIT types.
        pub fn handle<H: $crate::logic::Host>(
            h: &H,
            session: u64,
            request: $($handler)+::ExecRequest,
        ) -> Result<Vec<$($handler)+::Outgoing>, String> {
            use $($handler)+::ExecRequest as R;
            use $crate::logic::Request;
            let request = match request {
                R::Init(token) => Request::Init(token),
                R::CheckDevice => Request::CheckDevice,
                R::Heartbeat => Request::Heartbeat,
                R::Command(c) => Request::Command { cmd: c.cmd, text: c.text },
                R::Invalid(why) => Request::Invalid(why),
            };
            let out = $crate::logic::handle(h, session, request)?;
            Ok(out
                .into_iter()
                .map(|o| $($handler)+::Outgoing {
                    to: match o.to {
                        $crate::logic::Target::Reply => $($sessions)+::Target::Reply,
                        $crate::logic::Target::GroupOthers(g) => $($sessions)+::Target::GroupOthers(g),
                    },
                    text: o.text,
                })
                .collect())
        }

        /// `session` is gone.
        pub fn closed<H: $crate::logic::Host>(h: &H, session: u64) {
            $crate::logic::closed(h, session)
        }
    };
}

#[cfg(target_arch = "wasm32")]
mod component {
    wasmgate_sdk::generate!("exec");

    use crate::logic;
    use exports::wasmgate::plugin::admin::{self, AdminError};
    use exports::wasmgate::plugin::exec_handler::{self, ExecRequest, Outgoing};
    use wasmgate_sdk::WitHost;

    crate::wit_exec_handler!(
        [exports::wasmgate::plugin::exec_handler],
        [wasmgate_sdk::bindings::wasmgate::plugin::sessions]
    );

    struct Exec;

    impl exec_handler::Guest for Exec {
        fn handle(session: u64, request: ExecRequest) -> Result<Vec<Outgoing>, String> {
            handle(&WitHost, session, request)
        }

        fn closed(session: u64) {
            closed(&WitHost, session)
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
