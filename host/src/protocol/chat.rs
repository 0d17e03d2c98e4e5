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

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// Registrations per address in any 60 seconds
/// (`limits.registrations_per_minute`): a sliding window, so a client cannot
/// register twice the limit across a minute's boundary, and the limit does
/// not lapse early.
struct Registrations {
    per_minute: u32,
    recent: Mutex<Recent>,
}

/// When each address last registered (at most `per_minute` times each,
/// oldest first), and how many instants are kept in all.
#[derive(Default)]
struct Recent {
    by_addr: HashMap<IpAddr, VecDeque<Instant>>,
    kept: usize,
}

/// The window `registrations_per_minute` counts over.
const REGISTRATION_WINDOW: Duration = Duration::from_secs(60);
/// Most registration instants kept, all addresses together (a few MB).
const MAX_REGISTRATIONS_KEPT: usize = 200_000;

impl Registrations {
    fn new(per_minute: u32) -> Registrations {
        Registrations {
            per_minute,
            recent: Mutex::new(Recent::default()),
        }
    }

    /// Whether `addr` may register once more now; if so, counts it.
    fn allow(&self, addr: IpAddr) -> bool {
        self.allow_at(addr, Instant::now())
    }

    fn allow_at(&self, addr: IpAddr, now: Instant) -> bool {
        if self.per_minute == 0 {
            return true;
        }
        let expired = |t: &Instant| now.saturating_duration_since(*t) >= REGISTRATION_WINDOW;
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.kept >= MAX_REGISTRATIONS_KEPT {
            // Forget what has left the window; past reason even then (an
            // attacker cycling addresses), start afresh.
            recent.by_addr.retain(|_, times| {
                times.retain(|t| !expired(t));
                !times.is_empty()
            });
            recent.kept = recent.by_addr.values().map(VecDeque::len).sum();
            if recent.kept >= MAX_REGISTRATIONS_KEPT {
                *recent = Recent::default();
            }
        }
        let Recent { by_addr, kept } = &mut *recent;
        let times = by_addr.entry(addr).or_default();
        while times.front().is_some_and(expired) {
            times.pop_front();
            *kept -= 1;
        }
        if times.len() >= self.per_minute as usize {
            return false;
        }
        times.push_back(now);
        *kept += 1;
        true
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
            registrations: Registrations::new(listen.limits.registrations_per_minute),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn registrations_are_counted_over_any_sixty_seconds() {
        let limit = Registrations::new(3);
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        // 3 in a burst, then refused for the rest of the window, whatever
        // minute of the clock it straddles.
        assert!(limit.allow_at(addr(1), at(0)));
        assert!(limit.allow_at(addr(1), at(30)));
        assert!(limit.allow_at(addr(1), at(59)));
        assert!(!limit.allow_at(addr(1), at(59)));
        assert!(!limit.allow_at(addr(1), at(59) + Duration::from_millis(999)));
        // Another address has its own count.
        assert!(limit.allow_at(addr(2), at(59)));
        // The first leaves the window at 60 s: one more, then refused
        // until the second leaves it at 90 s. Refusals do not count.
        assert!(limit.allow_at(addr(1), at(60)));
        assert!(!limit.allow_at(addr(1), at(89)));
        assert!(limit.allow_at(addr(1), at(90)));
        assert!(!limit.allow_at(addr(1), at(90)));
    }

    #[test]
    fn no_limit_counts_nothing() {
        let limit = Registrations::new(0);
        let now = Instant::now();
        assert!((0..1000).all(|_| limit.allow_at(addr(1), now)));
        assert_eq!(limit.recent.lock().unwrap().kept, 0);
    }

    #[test]
    fn the_table_of_registrations_stays_bounded() {
        let limit = Registrations::new(1);
        let t0 = Instant::now();
        let many = |from: u32, at: Instant| {
            for i in from..from + MAX_REGISTRATIONS_KEPT as u32 {
                assert!(limit.allow_at(IpAddr::from(i.to_be_bytes()), at));
            }
        };
        many(0, t0);
        assert_eq!(limit.recent.lock().unwrap().kept, MAX_REGISTRATIONS_KEPT);
        // Past the window, what expired is forgotten and the rest counted.
        many(MAX_REGISTRATIONS_KEPT as u32, t0 + REGISTRATION_WINDOW);
        let recent = limit.recent.lock().unwrap();
        assert!(recent.kept <= MAX_REGISTRATIONS_KEPT);
        assert_eq!(
            recent.kept,
            recent.by_addr.values().map(VecDeque::len).sum::<usize>()
        );
    }
}
