//! The chat listener, plain TCP or TLS (the same code; a `[listener.tls]`
//! section makes it TLS). Every chat listener naming one plugin shares that
//! plugin's sessions, so users of both ports see and message each other.
//!
//! Each request goes to the plugin; each outgoing message is routed to the
//! sessions its target names (their outboxes, never their sockets, so a
//! slow client blocks nobody). The server heartbeat goes out every
//! `heartbeat_ms` (default 30 s). When the connection ends the plugin's
//! `closed` runs before the session is removed (it announces the logout),
//! except at host shutdown.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::backoff::Backoff;
use super::driver::{Conn, End, Flow, Policy, Service, ask, call};
use super::{Keys, Listen, NoSettings, Protocol};
use crate::bindings::chat::{ChatWorld, Outgoing};
use crate::codec::chat::{
    ChatCodec, ClientRequest, Inbound, Login, LoginResult, Outbound, RegisterResult, ServerMessage,
};
use crate::logs::Esc;
use crate::runtime::Plugin;
use crate::state::outbox::Weigh;
use crate::state::sessions::Target;

/// The server heartbeat when `heartbeat_ms` is not set.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(30);
/// Attempts at the plugin's `closed` call (it only reads, so a retry cannot
/// announce anything twice).
const CLOSED_ATTEMPTS: u32 = 3;

pub struct Chat {
    plugin: Arc<Plugin<ChatWorld>>,
    backoff: Arc<Backoff>,
    registrations: Registrations,
}

/// Registrations per address in the current minute (`limits.registrations_per_minute`).
struct Registrations {
    per_minute: u32,
    counts: Mutex<(u64, HashMap<IpAddr, u32>)>,
}

impl Registrations {
    /// Whether `addr` may register once more this minute.
    fn allow(&self, addr: IpAddr) -> bool {
        if self.per_minute == 0 {
            return true;
        }
        let minute = crate::state::now_ms() / 60_000;
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        // A new minute, or a table grown past reason: start afresh.
        if counts.0 != minute || counts.1.len() > super::backoff::MAX_ENTRIES {
            *counts = (minute, HashMap::new());
        }
        let n = counts.1.entry(addr).or_insert(0);
        *n += 1;
        *n <= self.per_minute
    }
}

impl Protocol for Chat {
    const NAME: &'static str = "chat";
    type World = ChatWorld;
    type Settings = NoSettings;
    const KEYS: Keys = Keys {
        tls: true,
        heartbeat: true,
        outbox: true,
        ..Keys::NONE
    };

    fn start(listen: Listen<Self>) -> anyhow::Result<()> {
        let config = &listen.config;
        let policy = Policy::with_heartbeat(config, DEFAULT_HEARTBEAT, false).sessions(config);
        let max = config.max_message_bytes();
        let plugin = listen.plugin.clone();
        // A user on a host that died: this host may be the one to announce it.
        let gone = plugin.clone();
        plugin.sessions().on_gone(Arc::new(move |id| {
            let plugin = gone.clone();
            Box::pin(async move {
                for (target, msg) in routed(logout(&plugin, id).await) {
                    plugin.sessions().send(&target, id, &msg);
                }
            })
        }));
        let chat = Chat {
            plugin,
            backoff: listen.backoff.clone(),
            registrations: Registrations {
                per_minute: listen.limits.registrations_per_minute,
                counts: Mutex::new((0, HashMap::new())),
            },
        };
        let driver = listen.driver(chat, policy);
        listen.serve_framed(driver, move || ChatCodec::new(max))
    }
}

impl Service for Chat {
    type In = Inbound;
    type Out = Outbound;
    type State = ();

    async fn on_message(&self, conn: &mut Conn<Outbound>, _: &mut (), msg: Inbound) -> Flow {
        let request = match msg {
            Inbound::Malformed(reason) => {
                conn.malformed();
                crate::limited!(debug, reason = %Esc(&reason), "malformed message refused");
                conn.reply(Outbound::Error(reason));
                return Flow::Continue;
            }
            Inbound::Request(r) => r,
        };
        let ip = conn.peer.ip();
        // A login with a password tries a secret: the backoff decides
        // whether it is checked at all.
        let secret = match &request {
            ClientRequest::Login(Login {
                name,
                password: Some(p),
            }) if !p.is_empty() => Some(format!(
                "chat:{}:{}",
                self.plugin.name(),
                name.to_ascii_lowercase()
            )),
            _ => None,
        };
        if let Some(who) = &secret
            && let Err(wait) = self.backoff.check(ip, who)
        {
            conn.throttled(wait);
            conn.reply(refused_login(format!(
                "too many failed logins; try again in {} s",
                wait.as_secs().max(1)
            )));
            return Flow::Continue;
        }
        if matches!(request, ClientRequest::Register(_)) && !self.registrations.allow(ip) {
            conn.throttled(Duration::from_secs(60));
            conn.reply(Outbound::Message(ServerMessage::RegisterResult(
                RegisterResult {
                    ok: false,
                    message: Some(
                        "too many registrations from this address; try again in a minute".into(),
                    ),
                },
            )));
            return Flow::Continue;
        }
        let id = conn.id();
        match ask(&self.plugin, "request", request, move |h, r| {
            h.handle(id, r)
        })
        .await
        {
            Ok(outgoing) => {
                if let Some(who) = &secret {
                    match login_outcome(&outgoing) {
                        Some(true) => self.backoff.succeeded(ip, who),
                        Some(false) => self.backoff.failed(ip, who),
                        None => {}
                    }
                }
                conn.route(routed(outgoing))
            }
            Err(failure) => conn.reply(Outbound::Error(failure.reason())),
        }
        Flow::Continue
    }

    fn heartbeat(&self, _: &mut ()) -> Option<Outbound> {
        Some(Outbound::Heartbeat)
    }

    /// The plugin's `closed`, its messages routed; at shutdown everyone is
    /// leaving and nobody is told.
    async fn closed(&self, conn: &mut Conn<Outbound>, _: (), end: End) {
        if end == End::Shutdown {
            return;
        }
        let outgoing = logout(&self.plugin, conn.id()).await;
        conn.route(routed(outgoing));
    }
}

/// The plugin's `closed` for session `id`: what announces its logout.
async fn logout(plugin: &Arc<Plugin<ChatWorld>>, id: u64) -> Vec<Outgoing> {
    for attempt in 1..=CLOSED_ATTEMPTS {
        match call(plugin, "closed", id, |h, id| h.closed(id)).await {
            Ok(outgoing) => return outgoing,
            Err(_) if attempt < CLOSED_ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(100 * attempt as u64)).await;
            }
            Err(_) => {}
        }
    }
    Vec::new()
}

/// Whether the plugin's answer to a login with a password says the
/// password was right (`Some(true)`), wrong (`Some(false)`), or neither
/// (the name was invalid, or already online after a right password).
fn login_outcome(outgoing: &[Outgoing]) -> Option<bool> {
    outgoing.iter().find_map(|o| match &o.message {
        ServerMessage::LoginResult(r) if r.ok => Some(true),
        ServerMessage::LoginResult(r) => r
            .message
            .as_deref()
            .is_some_and(|m| m.contains("wrong password"))
            .then_some(false),
        _ => None,
    })
}

/// A refused login (11, Flag 0), as the plugin words its own.
fn refused_login(why: String) -> Outbound {
    Outbound::Message(ServerMessage::LoginResult(LoginResult {
        ok: false,
        friends: Vec::new(),
        message: Some(why),
    }))
}

/// The plugin's outgoing messages with their targets.
fn routed(outgoing: Vec<Outgoing>) -> impl Iterator<Item = (Target, Outbound)> {
    outgoing
        .into_iter()
        .map(|o| (Target::from(o.to), Outbound::Message(o.message)))
}

impl Weigh for Outbound {
    /// The text the message carries, plus a little for the JSON around it.
    fn weight(&self) -> usize {
        const FRAME: usize = 64;
        FRAME
            + match self {
                Outbound::Heartbeat => 0,
                Outbound::Encoded(line) => line.len(),
                Outbound::Error(reason) => reason.len(),
                Outbound::Message(m) => match m {
                    ServerMessage::LoginResult(r) => {
                        r.message.as_ref().map_or(0, String::len)
                            + r.friends.iter().map(|f| f.name.len() + 32).sum::<usize>()
                    }
                    ServerMessage::RegisterResult(r) => r.message.as_ref().map_or(0, String::len),
                    ServerMessage::PrivateMessage(d) => d.sender.len() + d.message.len(),
                    ServerMessage::Receipt(_) => 0,
                    ServerMessage::LoggedOn(u) => u.name.len(),
                    ServerMessage::LoggedOut(name) => name.len(),
                    ServerMessage::GroupMessage(d) => d.speaker.len() + d.message.len(),
                },
            }
    }
}
