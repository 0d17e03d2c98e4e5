//! wasmgate chat component (world `chat`).
//!
//! The rules live in [`logic`] written against [`wasmgate_sdk::Host`]; this file
//! only adapts them to the generated bindings, which are compiled for wasm32
//! only so that `cargo test -p chat` runs natively.

pub mod logic;

/// Defines `handle` and `closed`, the chat rules behind the WIT types of
/// world `chat`, for any bindings of that world: the component's own and
/// the host's (the native build), so both convert with the same code. The
/// arguments are the paths of the bindings' `chat-handler` and `sessions`
/// modules, each in brackets.
#[macro_export]
macro_rules! wit_chat_handler {
    ([$($handler:tt)+], [$($sessions:tt)+]) => {
        /// The answer to one request of `session`, in WIT types.
        pub fn handle<H: $crate::logic::Host>(
            h: &H,
            session: u64,
            r: $($handler)+::ClientRequest,
        ) -> Result<Vec<$($handler)+::Outgoing>, String> {
            use $($handler)+::ClientRequest as C;
            use $crate::logic::Request;
            let request = match r {
                C::Login(l) => Request::Login {
                    name: l.name,
                    password: l.password,
                },
                C::Register(r) => Request::Register {
                    name: r.name,
                    password: r.password,
                },
                C::Logout => Request::Logout,
                C::PrivateMessage(p) => Request::Private {
                    friend: p.friend_name,
                    message: p.message,
                },
                C::GroupMessage(m) => Request::Group(m),
            };
            $crate::logic::handle(h, session, request)
                .map(|out| out.into_iter().map(outgoing).collect())
        }

        /// The connection of `session` ended: what the others are told.
        pub fn closed<H: $crate::logic::Host>(h: &H, session: u64) -> Vec<$($handler)+::Outgoing> {
            $crate::logic::closed(h, session)
                .into_iter()
                .map(outgoing)
                .collect()
        }

        fn outgoing(o: $crate::logic::Outgoing) -> $($handler)+::Outgoing {
            use $($handler)+ as w;
            use $($sessions)+::Target;
            use $crate::logic::{Message, Target as T};
            let to = match o.to {
                T::Reply => Target::Reply,
                T::Session(id) => Target::Session(id),
                T::Group(g) => Target::Group(g),
                T::GroupOthers(g) => Target::GroupOthers(g),
            };
            let message = match o.message {
                Message::LoginResult {
                    ok,
                    friends,
                    message,
                } => w::ServerMessage::LoginResult(w::LoginResult {
                    ok,
                    friends: friends
                        .into_iter()
                        .map(|(name, is_guest)| w::Friend { name, is_guest })
                        .collect(),
                    message,
                }),
                Message::RegisterResult { ok, message } => {
                    w::ServerMessage::RegisterResult(w::RegisterResult { ok, message })
                }
                Message::Private { sender, message } => {
                    w::ServerMessage::PrivateMessage(w::PrivateDelivery { sender, message })
                }
                Message::Receipt(ok) => w::ServerMessage::Receipt(ok),
                Message::LoggedOn { name, guest } => w::ServerMessage::LoggedOn(w::LoggedOn {
                    name,
                    is_guest: guest,
                }),
                Message::LoggedOut(name) => w::ServerMessage::LoggedOut(name),
                Message::Group { speaker, message } => {
                    w::ServerMessage::GroupMessage(w::GroupDelivery { speaker, message })
                }
            };
            w::Outgoing { to, message }
        }
    };
}

#[cfg(target_arch = "wasm32")]
mod component {
    wasmgate_sdk::generate!("chat");

    use crate::logic;
    use exports::wasmgate::plugin::admin::{self, AdminError};
    use exports::wasmgate::plugin::chat_handler::{self, ClientRequest, Outgoing};
    use wasmgate_sdk::WitHost;

    crate::wit_chat_handler!(
        [exports::wasmgate::plugin::chat_handler],
        [wasmgate_sdk::bindings::wasmgate::plugin::sessions]
    );

    struct Chat;

    impl chat_handler::Guest for Chat {
        fn handle(session: u64, r: ClientRequest) -> Result<Vec<Outgoing>, String> {
            handle(&WitHost, session, r)
        }

        fn closed(session: u64) -> Vec<Outgoing> {
            closed(&WitHost, session)
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
