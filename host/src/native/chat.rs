//! Native build of `plugins/chat`.

use chat::logic;

use crate::runtime::worlds::chat::exports::wasmgate::plugin::chat_handler::{
    ClientRequest, Friend, GroupDelivery, LoggedOn, LoginResult, Outgoing, PrivateDelivery,
    RegisterResult, ServerMessage,
};
use crate::runtime::worlds::wasmgate::plugin::sessions::Target;
use crate::runtime::{AdminError, PluginCtx};

pub fn handle(h: &PluginCtx, session: u64, r: ClientRequest) -> Result<Vec<Outgoing>, String> {
    let request = match r {
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
    };
    logic::handle(h, session, request).map(|out| out.into_iter().map(outgoing).collect())
}

pub fn closed(h: &PluginCtx, session: u64) -> Vec<Outgoing> {
    logic::closed(h, session).into_iter().map(outgoing).collect()
}

pub fn admin(h: &PluginCtx, request: &str) -> Result<String, AdminError> {
    logic::handle_admin(h, request).map_err(|(status, message)| AdminError { status, message })
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
