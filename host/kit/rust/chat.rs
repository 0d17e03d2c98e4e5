//! %%name%%: a wasmgate plugin of world `chat`.
//!
//! The host reads the clients' JSON objects (`{"Command":"01",...}`), calls
//! `chat-handler.handle` with each as a typed request, and delivers the
//! messages it returns. Who is online lives in the host's sessions — the
//! group [`logic::ONLINE`], a session attribute with the user's name, one
//! group per user to find their session, an atomic claim per name — so the
//! component keeps nothing and a hot swap logs nobody out.
//!
//! [`logic`] is plain Rust that `cargo test` runs natively; `component`
//! binds it to the WIT world (built for wasm32 only).

/// The chat rules, free of the bindings.
pub mod logic {
    /// The session group of everyone logged in.
    pub const ONLINE: &str = "online";
    /// The session attribute that holds a logged-in user's name.
    pub const ATTR_NAME: &str = "name";
    pub const MAX_NAME: usize = 32;

    /// Why `name` cannot log in, if it cannot. Guests only: a password asks
    /// for a registered user, which this plugin does not keep yet.
    pub fn login_refusal(name: &str, password: Option<&str>) -> Option<String> {
        if password.is_some_and(|p| !p.is_empty()) {
            return Some("only guests can log in here: leave the password out".to_string());
        }
        if name.is_empty() || name.len() > MAX_NAME {
            return Some(format!("a name has 1 to {MAX_NAME} characters"));
        }
        if !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Some("a name has only letters and digits".to_string());
        }
        None
    }

    /// The name's claim and the group of its session: names are unique
    /// whatever their case.
    pub fn user_key(name: &str) -> String {
        format!("user:{}", name.to_ascii_lowercase())
    }
}

#[cfg(target_arch = "wasm32")]
mod component {
    // The bindings of world `chat` from ./wit; `generate_all` also binds the
    // WASI interfaces the world imports (clocks, random).
    wit_bindgen::generate!({ world: "chat", path: "wit", generate_all });

    use super::logic::{ATTR_NAME, ONLINE, login_refusal, user_key};
    use exports::wasmgate::plugin::admin::{self, AdminError};
    use exports::wasmgate::plugin::chat_handler::{
        self, ClientRequest, Friend, GroupDelivery, LoggedOn, LoginResult, Outgoing,
        PrivateDelivery, RegisterResult, ServerMessage,
    };
    use wasmgate::plugin::sessions::{self, SessionId, Target};

    struct Plugin;

    fn to(to: Target, message: ServerMessage) -> Outgoing {
        Outgoing { to, message }
    }

    fn login_failed(why: String) -> Vec<Outgoing> {
        let result = LoginResult {
            ok: false,
            friends: Vec::new(),
            message: Some(why),
        };
        vec![to(Target::Reply, ServerMessage::LoginResult(result))]
    }

    /// The name `session` logged in with, or the error for a request that
    /// needs one.
    fn logged_in(session: SessionId) -> Result<String, String> {
        sessions::get_attr(session, ATTR_NAME).ok_or_else(|| "log in first".to_string())
    }

    fn login(session: SessionId, name: String, password: Option<String>) -> Vec<Outgoing> {
        if sessions::get_attr(session, ATTR_NAME).is_some() {
            return login_failed("already logged in".to_string());
        }
        if let Some(why) = login_refusal(&name, password.as_deref()) {
            return login_failed(why);
        }
        let key = user_key(&name);
        if !sessions::claim(session, &key) {
            return login_failed(format!("{name} is already online"));
        }
        sessions::set_attr(session, ATTR_NAME, Some(&name));
        sessions::join(session, ONLINE);
        sessions::join(session, &key);
        let friends = sessions::members(ONLINE)
            .into_iter()
            .filter_map(|m| {
                let name = m.attrs.into_iter().find(|(k, _)| k == ATTR_NAME)?.1;
                Some(Friend {
                    name,
                    is_guest: true,
                })
            })
            .collect();
        let result = LoginResult {
            ok: true,
            friends,
            message: None,
        };
        vec![
            to(Target::Reply, ServerMessage::LoginResult(result)),
            to(
                Target::GroupOthers(ONLINE.to_string()),
                ServerMessage::LoggedOn(LoggedOn {
                    name,
                    is_guest: true,
                }),
            ),
        ]
    }

    /// Logs `session` out, if it is logged in: what the others are told.
    fn leave(session: SessionId) -> Vec<Outgoing> {
        let Some(name) = sessions::get_attr(session, ATTR_NAME) else {
            return Vec::new();
        };
        let key = user_key(&name);
        sessions::leave(session, &key);
        sessions::leave(session, ONLINE);
        sessions::release(session, &key);
        sessions::set_attr(session, ATTR_NAME, None);
        vec![to(
            Target::GroupOthers(ONLINE.to_string()),
            ServerMessage::LoggedOut(name),
        )]
    }

    impl chat_handler::Guest for Plugin {
        fn handle(session: SessionId, request: ClientRequest) -> Result<Vec<Outgoing>, String> {
            Ok(match request {
                ClientRequest::Login(l) => login(session, l.name, l.password),
                ClientRequest::Register(_) => vec![to(
                    Target::Reply,
                    ServerMessage::RegisterResult(RegisterResult {
                        ok: false,
                        message: Some("registration is not open here".to_string()),
                    }),
                )],
                ClientRequest::Logout => leave(session),
                ClientRequest::PrivateMessage(p) => {
                    let sender = logged_in(session)?;
                    let friend = user_key(&p.friend_name);
                    let online = !sessions::members(&friend).is_empty();
                    let mut out = Vec::new();
                    if online {
                        let delivery = PrivateDelivery {
                            sender,
                            message: p.message,
                        };
                        out.push(to(
                            Target::Group(friend),
                            ServerMessage::PrivateMessage(delivery),
                        ));
                    }
                    out.push(to(Target::Reply, ServerMessage::Receipt(online)));
                    out
                }
                ClientRequest::GroupMessage(message) => {
                    let speaker = logged_in(session)?;
                    vec![to(
                        Target::Group(ONLINE.to_string()),
                        ServerMessage::GroupMessage(GroupDelivery { speaker, message }),
                    )]
                }
            })
        }

        fn closed(session: SessionId) -> Vec<Outgoing> {
            leave(session)
        }
    }

    /// `POST /admin/%%name%%`: who is online.
    impl admin::Guest for Plugin {
        fn handle(_request: String) -> Result<String, AdminError> {
            Ok(format!(
                r#"{{"online":{}}}"#,
                sessions::members(ONLINE).len()
            ))
        }
    }

    export!(Plugin);
}

#[cfg(test)]
mod tests {
    use super::logic::{login_refusal, user_key};

    #[test]
    fn guests_with_plain_names_log_in() {
        assert_eq!(login_refusal("alice", None), None);
        assert_eq!(login_refusal("Bob42", Some("")), None);
    }

    #[test]
    fn bad_names_and_passwords_are_refused() {
        assert!(login_refusal("", None).is_some());
        assert!(login_refusal(&"a".repeat(33), None).is_some());
        assert!(login_refusal("al ice", None).is_some());
        assert!(login_refusal("ålice", None).is_some());
        assert!(login_refusal("alice", Some("secret")).is_some());
    }

    #[test]
    fn names_are_unique_whatever_their_case() {
        assert_eq!(user_key("Alice"), user_key("aLICE"));
        assert_ne!(user_key("alice"), user_key("bob"));
    }
}
