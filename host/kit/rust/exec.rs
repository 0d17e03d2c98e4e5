//! %%name%%: a wasmgate plugin of world `exec` (the remote-execute relay).
//!
//! The host owns the WebSocket, decodes each client text frame into a typed
//! request and sends the texts the handler returns; it also sends the server
//! heartbeat itself. This relay has one room, the session group [`logic::ROOM`]:
//! a client that logs in with the token of the config value `token` joins
//! it, and every command it sends after that reaches the other members as it
//! was received.
//!
//! [`logic`] is plain Rust that `cargo test` runs natively; `component`
//! binds it to the WIT world (built for wasm32 only).

/// The relay's rules and texts, free of the bindings.
pub mod logic {
    /// The session group of the logged-in clients.
    pub const ROOM: &str = "room";
    /// The answer to a client's own `{"cmd":"Heartbeat"}`.
    pub const HEARTBEAT: &str = r#"{"cmd":"Heartbeat","code":"1","session_id":null,"extra":{}}"#;

    /// Whether `given` is the configured token. No configured token (or an
    /// empty one) lets nobody in.
    pub fn token_ok(given: &str, configured: Option<&str>) -> bool {
        match configured {
            Some(t) if !t.is_empty() => {
                // The same time whatever the first differing byte is.
                t.len() == given.len()
                    && t.bytes()
                        .zip(given.bytes())
                        .fold(0, |d, (a, b)| d | (a ^ b))
                        == 0
            }
            _ => false,
        }
    }

    /// The answer to an init: accepted (the room's id) or refused.
    pub fn init_reply(accepted: bool) -> String {
        if accepted {
            format!(r#"{{"cmd":"init","code":"1","session_id":"{ROOM}"}}"#)
        } else {
            r#"{"cmd":"init","code":"0","extra":{"msg":"invalid or expired token"}}"#.to_string()
        }
    }

    /// The answer to `checkDevice`: "1" when the room holds more than the
    /// asking client.
    pub fn check_device_reply(members: usize) -> String {
        let code = if members > 1 { "1" } else { "0" };
        format!(r#"{{"cmd":"checkDevice","code":"{code}","extra":{{}}}}"#)
    }
}

#[cfg(target_arch = "wasm32")]
mod component {
    // The bindings of world `exec` from ./wit; `generate_all` also binds the
    // WASI interfaces the world imports (clocks, random).
    wit_bindgen::generate!({ world: "exec", path: "wit", generate_all });

    use super::logic::{HEARTBEAT, ROOM, check_device_reply, init_reply, token_ok};
    use exports::wasmgate::plugin::admin::{self, AdminError};
    use exports::wasmgate::plugin::exec_handler::{self, ExecRequest, Outgoing};
    use wasmgate::plugin::config;
    use wasmgate::plugin::logging::{self, Level};
    use wasmgate::plugin::sessions::{self, SessionId, Target};

    /// The session attribute set once a client has logged in.
    const LOGGED_IN: &str = "logged-in";

    struct Plugin;

    fn reply(text: String) -> Outgoing {
        Outgoing {
            to: Target::Reply,
            text,
        }
    }

    impl exec_handler::Guest for Plugin {
        fn handle(session: SessionId, request: ExecRequest) -> Result<Vec<Outgoing>, String> {
            let logged_in = sessions::get_attr(session, LOGGED_IN).is_some();
            Ok(match request {
                ExecRequest::Init(token) => {
                    let ok = token_ok(&token, config::get("token").as_deref());
                    if ok {
                        sessions::set_attr(session, LOGGED_IN, Some("1"));
                        sessions::join(session, ROOM);
                    } else {
                        // Never log the token itself.
                        logging::log(Level::Info, "init", "refused a login");
                        sessions::close(session);
                    }
                    vec![reply(init_reply(ok))]
                }
                _ if !logged_in => return Err("log in first (init)".to_string()),
                ExecRequest::CheckDevice => {
                    vec![reply(check_device_reply(sessions::members(ROOM).len()))]
                }
                ExecRequest::Heartbeat => vec![reply(HEARTBEAT.to_string())],
                // Relayed verbatim to everyone else in the room.
                ExecRequest::Command(frame) => vec![Outgoing {
                    to: Target::GroupOthers(ROOM.to_string()),
                    text: frame.text,
                }],
                // Not JSON, or no "cmd": skipped without an answer.
                ExecRequest::Invalid(_) => Vec::new(),
            })
        }

        /// The host removes the session from its groups itself.
        fn closed(_session: SessionId) {}
    }

    /// `POST /admin/%%name%%`: how many clients are in the room.
    impl admin::Guest for Plugin {
        fn handle(_request: String) -> Result<String, AdminError> {
            Ok(format!(
                r#"{{"members":{}}}"#,
                sessions::members(ROOM).len()
            ))
        }
    }

    export!(Plugin);
}

#[cfg(test)]
mod tests {
    use super::logic::{check_device_reply, init_reply, token_ok};

    #[test]
    fn only_the_configured_token_logs_in() {
        assert!(token_ok("s3cret", Some("s3cret")));
        assert!(!token_ok("s3cre", Some("s3cret")));
        assert!(!token_ok("", Some("s3cret")));
        assert!(!token_ok("", Some("")));
        assert!(!token_ok("anything", None));
    }

    #[test]
    fn answers_are_the_protocol_objects() {
        assert_eq!(
            init_reply(true),
            r#"{"cmd":"init","code":"1","session_id":"room"}"#
        );
        assert!(init_reply(false).contains(r#""code":"0""#));
        assert_eq!(
            check_device_reply(1),
            r#"{"cmd":"checkDevice","code":"0","extra":{}}"#
        );
        assert_eq!(
            check_device_reply(2),
            r#"{"cmd":"checkDevice","code":"1","extra":{}}"#
        );
    }
}
