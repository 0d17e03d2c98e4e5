//! wasmgate locker policy component (world `locker`).
//!
//! The policy itself lives in [`policy`], written against [`wasmgate_sdk::Host`]; this
//! file only adapts it to the generated bindings, which are compiled for wasm32
//! only so that `cargo test -p locker` runs natively.

pub mod policy;

/// Defines `handle`, the policy behind the WIT types of world `locker`, for
/// any bindings of that world: the component's own (`wit_bindgen`) and the
/// host's (`wasmtime::component::bindgen!`, for the native build). Both
/// sides then convert with the same code. The argument is the path of the
/// bindings' `locker-handler` module.
#[macro_export]
macro_rules! wit_locker_handler {
    ($($handler:tt)+) => {
        /// The policy's answer to `r`, in WIT types.
        pub fn handle<H: $crate::policy::Host>(
            h: &H,
            r: $($handler)+::Report,
        ) -> Result<$($handler)+::Answer, String> {
            let report = $crate::policy::Report {
                id: r.id,
                send: r.send,
                connection: r.connection,
                wifi_state: r.wifi_state,
                gsm_state: r.gsm_state,
                reset: r.reset,
                state: r.state,
                cols: r.cols,
                rows: r.rows,
                act_con: r.act_con,
                box_eng: r.box_eng,
                box_to: r.box_to,
                box_acc: r.box_acc,
            };
            let a = $crate::policy::handle_report(h, &report)?;
            Ok($($handler)+::Answer {
                reset: a.reset,
                block: a.block,
                cells: a
                    .cells
                    .into_iter()
                    .map(|c| $($handler)+::CellCode {
                        cell: c.cell,
                        code: c.code,
                        minutes: c.minutes,
                    })
                    .collect(),
            })
        }
    };
}

#[cfg(target_arch = "wasm32")]
mod component {
    wasmgate_sdk::generate!("locker");

    use crate::policy;
    use exports::wasmgate::plugin::admin::{self, AdminError};
    use exports::wasmgate::plugin::locker_handler::{self, Answer, Report};
    use wasmgate_sdk::WitHost;

    crate::wit_locker_handler!(exports::wasmgate::plugin::locker_handler);

    struct Locker;

    impl locker_handler::Guest for Locker {
        fn handle(r: Report) -> Result<Answer, String> {
            handle(&WitHost, r)
        }
    }

    impl admin::Guest for Locker {
        fn handle(request: String) -> Result<String, AdminError> {
            policy::handle_admin(&WitHost, &request).map_err(|e| AdminError {
                status: e.status,
                message: e.message,
            })
        }
    }

    export!(Locker);
}
