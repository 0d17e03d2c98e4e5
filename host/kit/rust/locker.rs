//! %%name%%: a wasmgate plugin of world `locker` (locker boards, "ACon").
//!
//! The host parses each board report (`ACon_V1.0` … `CLOSE`) and calls
//! `locker-handler.handle`; the answer's `reset`, `block` and cell codes
//! become the lines the board reads (the host adds ID and SEND).
//!
//! [`policy`] is the decision, plain Rust that `cargo test` runs natively;
//! `component` binds it to the WIT world (built for wasm32 only).

/// The locker policy, free of the bindings.
pub mod policy {
    /// What a board is told (the WIT `answer`, without the bindings' types).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Answer {
        /// Ask the board to reboot.
        pub reset: bool,
        /// Block access (the board shows `STATE=3`).
        pub block: bool,
        /// `(cell, code, minutes left)` of every code the board must accept.
        pub cells: Vec<(u16, String, u32)>,
    }

    /// Whether board `id` is in `blocked`, the config value: board IDs
    /// separated by commas (spaces around them are ignored).
    pub fn is_blocked(id: &str, blocked: Option<&str>) -> bool {
        blocked.is_some_and(|list| list.split(',').any(|b| b.trim() == id))
    }

    /// The answer to a report from board `id`. No codes yet: a real policy
    /// keeps them in the key-value store (`keyvalue::set` with a TTL) and
    /// lets operators set them through `admin.handle`.
    pub fn answer(id: &str, blocked: Option<&str>) -> Result<Answer, String> {
        if id.is_empty() {
            // The host refuses reports without an ID; a policy checks anyway.
            return Err("report without an ID".to_string());
        }
        Ok(Answer {
            reset: false,
            block: is_blocked(id, blocked),
            cells: Vec::new(),
        })
    }
}

#[cfg(target_arch = "wasm32")]
mod component {
    // The bindings of world `locker` from ./wit; `generate_all` also binds
    // the WASI interfaces the world imports (clocks, random).
    wit_bindgen::generate!({ world: "locker", path: "wit", generate_all });

    use exports::wasmgate::plugin::admin::{self, AdminError};
    use exports::wasmgate::plugin::locker_handler::{self, Answer, CellCode, Report};
    use wasmgate::plugin::config;

    struct Plugin;

    impl locker_handler::Guest for Plugin {
        fn handle(report: Report) -> Result<Answer, String> {
            let a = super::policy::answer(&report.id, config::get("blocked").as_deref())?;
            Ok(Answer {
                reset: a.reset,
                block: a.block,
                cells: a
                    .cells
                    .into_iter()
                    .map(|(cell, code, minutes)| CellCode {
                        cell,
                        code,
                        minutes,
                    })
                    .collect(),
            })
        }
    }

    /// `POST /admin/%%name%%`: nothing to administer yet.
    impl admin::Guest for Plugin {
        fn handle(_request: String) -> Result<String, AdminError> {
            Ok("{}".to_string())
        }
    }

    export!(Plugin);
}

#[cfg(test)]
mod tests {
    use super::policy::{Answer, answer, is_blocked};

    #[test]
    fn a_board_gets_an_open_answer() {
        assert_eq!(
            answer("board-1", None),
            Ok(Answer {
                reset: false,
                block: false,
                cells: vec![]
            })
        );
    }

    #[test]
    fn listed_boards_are_blocked() {
        let blocked = Some("board-7, board-9");
        assert!(answer("board-9", blocked).unwrap().block);
        assert!(!answer("board-1", blocked).unwrap().block);
        // Whole IDs only.
        assert!(!is_blocked("board", blocked));
        assert!(!is_blocked("board-7", Some("")));
    }

    #[test]
    fn a_report_without_an_id_is_an_error() {
        assert!(answer("", None).is_err());
    }
}
