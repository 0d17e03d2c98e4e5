//! wasmgate chat component (world `chat`).
//!
//! The rules live in [`logic`] behind the [`logic::Host`] trait; this file
//! only adapts them to the generated bindings, which are compiled for wasm32
//! only so that `cargo test -p chat` runs natively.

pub mod logic;

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({
        world: "chat",
        path: "../../wit",
    });

    use crate::logic;
    use exports::wasmgate::plugin::admin::{self, AdminError};
    use exports::wasmgate::plugin::chat_handler::{
        self, ClientRequest, Friend, GroupDelivery, LoggedOn, LoginResult, Outgoing,
        PrivateDelivery, RegisterResult, ServerMessage,
    };
    use wasmgate::plugin::host;
    use wasmgate::plugin::sessions::{self, Target};

    struct WitHost;

    impl logic::Host for WitHost {
        fn kv_get(&self, key: &str) -> Result<Option<String>, String> {
            host::kv_get(key)
        }
        fn kv_set(&self, key: &str, value: &str) -> Result<(), String> {
            host::kv_set(key, value, None)
        }
        fn kv_delete(&self, key: &str) -> Result<bool, String> {
            host::kv_delete(key)
        }
        fn kv_list(&self, prefix: &str, limit: u32) -> Result<Vec<(String, String)>, String> {
            host::kv_list(prefix, limit)
        }
        fn password_hash(&self, password: &str) -> Result<String, String> {
            host::password_hash(password)
        }
        fn password_verify(&self, password: &str, phc: &str) -> bool {
            host::password_verify(password, phc)
        }
        fn log(&self, level: logic::Level, message: &str) {
            let level = match level {
                logic::Level::Debug => host::LogLevel::Debug,
                logic::Level::Info => host::LogLevel::Info,
                logic::Level::Warn => host::LogLevel::Warn,
            };
            host::log(level, message)
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
        fn members(&self, group: &str) -> Vec<logic::Member> {
            sessions::members(group)
                .into_iter()
                .map(|i| logic::Member {
                    id: i.id,
                    attrs: i.attrs,
                })
                .collect()
        }
        fn claim(&self, session: u64, name: &str) -> bool {
            sessions::claim(session, name)
        }
        fn release(&self, session: u64, name: &str) {
            sessions::release(session, name)
        }
    }

    fn request(r: ClientRequest) -> logic::Request {
        match r {
            ClientRequest::Login(l) => logic::Request::Login {
                name: l.name,
                password: l.password,
            },
            ClientRequest::Register(r) => logic::Request::Register {
                name: r.name,
                password: r.password,
            },
            ClientRequest::Logout => logic::Request::Logout,
            ClientRequest::PrivateMessage(p) => logic::Request::Private {
                friend: p.friend_name,
                message: p.message,
            },
            ClientRequest::GroupMessage(m) => logic::Request::Group(m),
        }
    }

    fn outgoing(o: logic::Outgoing) -> Outgoing {
        let to = match o.to {
            logic::Target::Reply => Target::Reply,
            logic::Target::Session(id) => Target::Session(id),
            logic::Target::Group(g) => Target::Group(g),
            logic::Target::GroupOthers(g) => Target::GroupOthers(g),
        };
        let message = match o.message {
            logic::Message::LoginResult {
                ok,
                friends,
                message,
            } => ServerMessage::LoginResult(LoginResult {
                ok,
                friends: friends
                    .into_iter()
                    .map(|(name, is_guest)| Friend { name, is_guest })
                    .collect(),
                message,
            }),
            logic::Message::RegisterResult { ok, message } => {
                ServerMessage::RegisterResult(RegisterResult { ok, message })
            }
            logic::Message::Private { sender, message } => {
                ServerMessage::PrivateMessage(PrivateDelivery { sender, message })
            }
            logic::Message::Receipt(ok) => ServerMessage::Receipt(ok),
            logic::Message::LoggedOn { name, guest } => ServerMessage::LoggedOn(LoggedOn {
                name,
                is_guest: guest,
            }),
            logic::Message::LoggedOut(name) => ServerMessage::LoggedOut(name),
            logic::Message::Group { speaker, message } => {
                ServerMessage::GroupMessage(GroupDelivery { speaker, message })
            }
        };
        Outgoing { to, message }
    }

    struct Chat;

    impl chat_handler::Guest for Chat {
        fn handle(session: u64, r: ClientRequest) -> Result<Vec<Outgoing>, String> {
            logic::handle(&WitHost, session, request(r))
                .map(|out| out.into_iter().map(outgoing).collect())
        }

        fn closed(session: u64) -> Vec<Outgoing> {
            logic::closed(&WitHost, session)
                .into_iter()
                .map(outgoing)
                .collect()
        }
    }

    impl admin::Guest for Chat {
        fn handle(request: String) -> Result<String, AdminError> {
            logic::handle_admin(&WitHost, &request)
                .map_err(|(status, message)| AdminError { status, message })
        }
    }

    export!(Chat);
}
