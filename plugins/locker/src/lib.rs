//! wasmgate locker policy component (world `locker`).
//!
//! The policy itself lives in [`policy`], written against [`wasmgate_sdk::Host`]; this
//! file only adapts it to the generated bindings, which are compiled for wasm32
//! only so that `cargo test -p locker` runs natively.

pub mod policy;

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({
        world: "locker",
        path: "../../wit",
        with: {
            "wasmgate:plugin/host@0.1.0": wasmgate_sdk::bindings::wasmgate::plugin::host,
            "wasmgate:plugin/sessions@0.1.0": wasmgate_sdk::bindings::wasmgate::plugin::sessions,
        },
    });

    use crate::policy;
    use exports::wasmgate::plugin::admin::{self, AdminError};
    use exports::wasmgate::plugin::locker_handler::{self, Answer, CellCode, Report};
    use wasmgate_sdk::WitHost;

    struct Locker;

    impl locker_handler::Guest for Locker {
        fn handle(r: Report) -> Result<Answer, String> {
            let r = policy::Report {
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
            let a = policy::handle_report(&WitHost, &r)?;
            Ok(Answer {
                reset: a.reset,
                block: a.block,
                cells: a
                    .cells
                    .into_iter()
                    .map(|c| CellCode {
                        cell: c.cell,
                        code: c.code,
                        minutes: c.minutes,
                    })
                    .collect(),
            })
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
