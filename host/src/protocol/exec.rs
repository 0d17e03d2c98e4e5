//! The remote-execute relay: WebSocket (optionally TLS) connections that log
//! in to a room with a token and relay their commands to the other members
//! of their room. The host owns the socket, the heartbeat, the sessions and
//! the rooms (session groups); the `exec` plugin decides what each message
//! does.
//!
//! The server heartbeat goes out as soon as the connection opens and then
//! every `heartbeat_ms` (the original's timer fired at once). Binary frames
//! are ignored (counted as malformed), as the original did. A message over
//! `max_message_bytes` is answered with a close frame (1009). A member that
//! does not read what its room relays is a slow consumer and is
//! disconnected; the plugin is told (`closed`) and the session leaves its
//! room before the closing handshake.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::Deserialize;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::backoff::Backoff;
use super::driver::{Conn, End, Flow, Policy, Service, ask, call};
use super::{Keys, Listen, Protocol};
use crate::bindings::exec::{ExecRequest, ExecWorld, Outgoing};
use crate::codec::exec::{HEARTBEAT, cmd_of, decode, error_response};
use crate::config::ListenerConfig;
use crate::runtime::Plugin;
use crate::state::sessions::Target;
use crate::transport::ws::{self, Message, ReadBudget};

/// Request path when the listener sets no `ws_path` (the original server's;
/// paths below it are accepted too, as its router did).
pub const DEFAULT_PATH: &str = "/websocket";
/// Server heartbeat interval when the listener sets no `heartbeat_ms`.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(20);
/// Longest the closing handshake of a finished connection may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Bytes a connection may send before its init succeeds, unless the
/// listener says otherwise: the handshake and an init (a token is at most
/// 512 bytes), not command output.
pub const DEFAULT_LOGIN_MAX_BYTES: usize = 64 * 1024;

pub struct Exec {
    plugin: Arc<Plugin<ExecWorld>>,
    backoff: Arc<Backoff>,
}

/// The exec listener's own keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Bytes a connection may send before its init succeeds (WebSocket
    /// handshake included); past them it is closed (1009).
    pub login_max_bytes: Option<usize>,
}

/// A frame from a client.
pub enum In {
    Text(ExecRequest),
    /// A binary frame (its length): ignored.
    Binary(usize),
    /// A message over `max_message_bytes`.
    TooLarge(String),
}

impl Protocol for Exec {
    const NAME: &'static str = "exec";
    type World = ExecWorld;
    type Settings = Settings;
    const KEYS: Keys = Keys {
        tls: true,
        heartbeat: true,
        ws_path: true,
        outbox: true,
    };

    fn check(_: &ListenerConfig, settings: &Settings) -> anyhow::Result<()> {
        super::check_login_budget(settings.login_max_bytes)
    }
    /// Command output: the original accepted 64 MiB, and a megabyte is normal.
    const MAX_MESSAGE_BYTES: usize = 16 << 20;

    fn start(listen: Listen<Self>) -> anyhow::Result<()> {
        let config = &listen.config;
        let mut policy = Policy::with_heartbeat(config, DEFAULT_HEARTBEAT, true).sessions(config);
        policy.close_timeout = CLOSE_TIMEOUT;
        let plugin = listen.plugin.clone();
        let backoff = listen.backoff.clone();
        let driver = listen.driver(Exec { plugin, backoff }, policy);
        let budget = listen
            .settings
            .login_max_bytes
            .unwrap_or(DEFAULT_LOGIN_MAX_BYTES);
        listen.serve_ws(
            DEFAULT_PATH,
            Some(budget),
            move |socket, peer, shutdown, budget| {
                let driver = driver.clone();
                async move {
                    let (sink, frames) = socket.split();
                    let frames = ws::messages(frames).filter_map(|m| async move {
                        match m {
                            Ok(Message::Text(text)) => Some(Ok(In::Text(decode(&text)))),
                            Ok(Message::Binary(b)) => Some(Ok(In::Binary(b.len()))),
                            // Pings are answered by tungstenite; pongs mean nothing here.
                            Ok(_) => None,
                            Err(WsError::Capacity(e)) => Some(Ok(In::TooLarge(e.to_string()))),
                            // Past the budget before init (ws::ReadBudget).
                            Err(WsError::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                                Some(Ok(In::TooLarge(e.to_string())))
                            }
                            Err(e) => Some(Err(e)),
                        }
                    });
                    driver
                        .run(Box::pin(frames), sink, peer, budget, shutdown)
                        .await
                }
            },
        )
    }
}

/// Whether the plugin's answer to an init accepted the token: its reply
/// says `"code":"1"` or `"0"`.
fn init_outcome(outgoing: &[Outgoing]) -> Option<bool> {
    outgoing
        .iter()
        .filter(|o| matches!(Target::from(o.to.clone()), Target::Reply))
        .find_map(|o| {
            let v: serde_json::Value = serde_json::from_str(&o.text).ok()?;
            (v["cmd"] == "init").then(|| v["code"] == "1")
        })
}

impl Service for Exec {
    type In = In;
    type Out = Message;
    /// What the connection may still send before its init.
    type State = Option<Arc<ReadBudget>>;

    async fn on_message(
        &self,
        conn: &mut Conn<Message>,
        budget: &mut Option<Arc<ReadBudget>>,
        msg: In,
    ) -> Flow {
        let request = match msg {
            In::Text(request) => request,
            In::Binary(bytes) => {
                conn.malformed();
                tracing::debug!(bytes, "binary frame ignored");
                return Flow::Continue;
            }
            In::TooLarge(error) => {
                conn.malformed();
                crate::limited!(info, %error, "message over max_message_bytes; closing");
                conn.reply(Message::Close(Some(CloseFrame {
                    code: CloseCode::Size,
                    reason: "message too large".into(),
                })));
                return Flow::Close;
            }
        };
        if let ExecRequest::Invalid(reason) = &request {
            conn.malformed();
            tracing::debug!(%reason, "malformed message");
        }
        let cmd = cmd_of(&request).to_string();
        let is_init = matches!(request, ExecRequest::Init(_));
        // Every token is a guess at the same secret space: the identity of
        // the backoff is the plugin.
        let who = format!("exec:{}", self.plugin.name());
        if is_init && let Err(wait) = self.backoff.check(conn.peer.ip(), &who) {
            conn.throttled(wait);
            let why = format!(
                "too many failed logins; try again in {} s",
                wait.as_secs().max(1)
            );
            conn.reply(Message::text(error_response(&cmd, &why)));
            return Flow::Close;
        }
        let id = conn.id();
        match ask(&self.plugin, &cmd, request, move |h, r| h.handle(id, r)).await {
            Ok(outgoing) => {
                if is_init {
                    match init_outcome(&outgoing) {
                        Some(true) => {
                            self.backoff.succeeded(conn.peer.ip(), &who);
                            if let Some(budget) = budget {
                                budget.lift();
                            }
                        }
                        Some(false) => self.backoff.failed(conn.peer.ip(), &who),
                        None => {}
                    }
                }
                conn.route(
                    outgoing
                        .into_iter()
                        .map(|o| (Target::from(o.to), Message::text(o.text))),
                );
                Flow::Continue
            }
            // The client gets an error response (code "0"); a failed init
            // also closes the connection.
            Err(failure) => {
                conn.reply(Message::text(error_response(&cmd, &failure.reason())));
                if is_init { Flow::Close } else { Flow::Continue }
            }
        }
    }

    fn heartbeat(&self, _: &mut Option<Arc<ReadBudget>>) -> Option<Message> {
        Some(Message::text(HEARTBEAT))
    }

    /// The room forgets the connection before the closing handshake, which
    /// may take a while with a dead peer.
    async fn closed(&self, conn: &mut Conn<Message>, _: Option<Arc<ReadBudget>>, _: End) {
        let id = conn.id();
        let _ = call(&self.plugin, "closed", id, |h, id| h.closed(id)).await;
    }
}
