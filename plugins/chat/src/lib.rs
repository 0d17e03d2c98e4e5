//! wasmgate chat component (world `chat`).
//!
//! The rules live in [`logic`] written against [`wasmgate_sdk::Host`]; this file
//! only adapts them to the generated bindings, which are compiled for wasm32
//! only so that `cargo test -p chat` runs natively.

pub mod logic;

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({
        world: "chat",
        path: "../../wit",
        with: {
            "wasmgate:plugin/host@0.1.0": wasmgate_sdk::bindings::wasmgate::plugin::host,
            "wasmgate:plugin/sessions@0.1.0": wasmgate_sdk::bindings::wasmgate::plugin::sessions,
        },
    });

    use crate::logic;
    use exports::wasmgate::plugin::admin::{self, AdminError};
    use exports::wasmgate::plugin::chat_handler::{
        self, ClientRequest, Friend, GroupDelivery, LoggedOn, LoginResult, Outgoing,
        PrivateDelivery, RegisterResult, ServerMessage,
    };
    use wasmgate_sdk::bindings::wasmgate::plugin::sessions::Target;
    use wasmgate_sdk::WitHost;

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
