//! The chat listener, plain TCP or TLS (the same code; a `[listener.tls]`
//! section makes it TLS). Every chat listener naming one plugin shares that
//! plugin's sessions, so users of both ports see and message each other.
//!
//! A connection registers a session with a bounded outbox, then one task
//! does everything for it, one thing at a time: decode a request, call the
//! plugin, route each outgoing message to the sessions its target names
//! (their outboxes, never their sockets, so a slow client blocks nobody);
//! write what is queued in its own outbox; send the heartbeat. A session
//! whose outbox overflows is closed by `Sessions::deliver`. When the
//! connection ends the plugin's `closed` runs before the session is removed
//! (it announces the logout), except at host shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::codec::chat::{ChatCodec, Inbound, Outbound, ServerMessage};
use crate::config::ListenerConfig;
use crate::metrics::ListenerMetrics;
use crate::native;
use crate::runtime::Plugin;
use crate::runtime::worlds::ChatWorld;
use crate::runtime::worlds::chat::exports::wasmgate::plugin::chat_handler::Outgoing;
use crate::state::outbox::{self, Weigh};
use crate::state::sessions::{SessionId, Target};
use crate::transport::tls;

/// The server heartbeat when `heartbeat_ms` is not set.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(30);
/// Messages written to the socket before it is flushed.
const WRITE_BATCH: usize = 64;
/// Attempts at the plugin's `closed` call (it only reads, so a retry cannot
/// announce anything twice).
const CLOSED_ATTEMPTS: u32 = 3;

struct Chat {
    config: ListenerConfig,
    plugin: Arc<Plugin<ChatWorld>>,
    metrics: Arc<ListenerMetrics>,
    /// `None`: no heartbeat (`heartbeat_ms = 0`).
    heartbeat: Option<Duration>,
}

pub fn start(
    config: &ListenerConfig,
    listener: TcpListener,
    shared: &Shared,
) -> anyhow::Result<()> {
    let plugin = shared.plugin::<ChatWorld>(config)?;
    let handshake_timeout = config.handshake_timeout();
    let tls = shared.tls(config)?;
    let heartbeat = match config.heartbeat_ms {
        Some(0) => None,
        Some(ms) => Some(Duration::from_millis(ms)),
        None => Some(DEFAULT_HEARTBEAT),
    };
    let service = Arc::new(Chat {
        config: config.clone(),
        plugin,
        metrics: shared.metrics.listener(&config.name, &config.protocol),
        heartbeat,
    });
    let metrics = service.metrics.clone();
    shared.serve_tcp(config, listener, metrics, move |stream, peer, shutdown| {
        let service = service.clone();
        let tls = tls.clone();
        async move {
            match tls::secure(stream, tls.as_ref(), handshake_timeout).await {
                Ok(io) => service.serve(io, peer, shutdown).await,
                Err(e) => tracing::debug!(listener = %service.config.name, %peer,
                    error = %e, "TLS handshake failed"),
            }
        }
    });
    Ok(())
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    PeerClosed,
    ReadFailed,
    WriteFailed,
    WriteTimeout,
    Idle,
    /// The plugin closed the session, or its outbox overflowed.
    ClosedByServer,
    Shutdown,
}

impl Chat {
    async fn serve<S>(&self, stream: S, peer: SocketAddr, shutdown: CancellationToken)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let listener = &*self.config.name;
        let (tx, mut outbox) = super::session_outbox::<Outbound>(&self.config);
        let session = self.plugin.sessions().open(listener, peer, tx);
        let id = session.id;
        tracing::debug!(listener, %peer, session = id, "connected");
        let mut framed = Framed::new(stream, ChatCodec::new(self.config.max_message_bytes()));
        let mut heartbeat = self.heartbeat.map(|every| {
            let mut i = tokio::time::interval_at(Instant::now() + every, every);
            i.set_missed_tick_behavior(MissedTickBehavior::Delay);
            i
        });
        // The idle timeout counts until the first message; after it the
        // heartbeat decides whether the peer is still there (a failed or
        // timed-out write ends the connection). Without a heartbeat it
        // counts the silence between messages.
        let idle = tokio::time::sleep(self.config.idle_timeout());
        tokio::pin!(idle);
        let mut idle_armed = true;

        let end = loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break End::Shutdown,
                _ = session.close.cancelled() => {
                    // Send what is already queued (bounded by the write timeout), then close.
                    let _ = self.write_queued(&mut framed, &mut outbox, None).await;
                    break End::ClosedByServer;
                }
                Some(first) = outbox.recv() => {
                    if let Err(end) = self.write_queued(&mut framed, &mut outbox, Some(first)).await {
                        break end;
                    }
                }
                _ = tick(&mut heartbeat) => {
                    if let Err(end) = self.write(&mut framed, vec![Outbound::Heartbeat]).await {
                        break end;
                    }
                }
                _ = &mut idle, if idle_armed => break End::Idle,
                frame = framed.next() => match frame {
                    None => break End::PeerClosed,
                    Some(Err(e)) => {
                        tracing::debug!(listener, %peer, session = id, error = %e, "read failed");
                        break End::ReadFailed;
                    }
                    Some(Ok(inbound)) => {
                        if heartbeat.is_some() {
                            idle_armed = false;
                        } else {
                            idle.as_mut().reset(Instant::now() + self.config.idle_timeout());
                        }
                        self.metrics.messages_in.fetch_add(1, Relaxed);
                        // What was queued before this request goes out before
                        // its answers, and the answers to this session before
                        // anything other calls queued meanwhile: a client sees
                        // its 11 before the 30 of someone who logged in while
                        // its own login was running.
                        let mut own: Vec<Outbound> = Vec::new();
                        while let Some(m) = outbox.try_recv() {
                            own.push(m);
                        }
                        self.on_inbound(id, peer, inbound, &mut own).await;
                        if let Err(end) = self.write(&mut framed, own).await {
                            break end;
                        }
                    }
                },
            }
        };
        match end {
            End::Idle => tracing::info!(listener, %peer, session = id, "idle timeout; closing"),
            End::WriteTimeout => tracing::warn!(listener, %peer, session = id,
                "peer did not take its messages in time; closing"),
            _ => tracing::debug!(listener, %peer, session = id, reason = ?end, "disconnected"),
        }
        // At shutdown everyone is leaving: nobody is told.
        if end != End::Shutdown {
            self.closed(id, peer).await;
        }
        drop(session);
    }

    /// Writes `first` and whatever else is queued (up to a batch), then
    /// flushes; all within the write timeout.
    async fn write_queued<S>(
        &self,
        framed: &mut Framed<S, ChatCodec>,
        outbox: &mut outbox::Receiver<Outbound>,
        first: Option<Outbound>,
    ) -> Result<(), End>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut batch: Vec<Outbound> = first.into_iter().collect();
        while batch.len() < WRITE_BATCH {
            match outbox.try_recv() {
                Some(m) => batch.push(m),
                None => break,
            }
        }
        self.write(framed, batch).await
    }

    async fn write<S>(
        &self,
        framed: &mut Framed<S, ChatCodec>,
        batch: Vec<Outbound>,
    ) -> Result<(), End>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        if batch.is_empty() {
            return Ok(());
        }
        let n = batch.len() as u64;
        let written = tokio::time::timeout(self.config.write_timeout(), async {
            for m in batch {
                framed.feed(m).await?;
            }
            framed.flush().await
        })
        .await;
        match written {
            Ok(Ok(())) => {
                self.metrics.messages_out.fetch_add(n, Relaxed);
                Ok(())
            }
            Ok(Err(e)) => {
                tracing::debug!(listener = %self.config.name, error = %e, "write failed");
                Err(End::WriteFailed)
            }
            Err(_) => Err(End::WriteTimeout),
        }
    }

    /// Handles one decoded message; what goes to this session itself is
    /// appended to `own`, the rest is queued for the other sessions.
    async fn on_inbound(
        &self,
        id: SessionId,
        peer: SocketAddr,
        inbound: Inbound,
        own: &mut Vec<Outbound>,
    ) {
        let listener = &*self.config.name;
        let request = match inbound {
            Inbound::Malformed(reason) => {
                self.metrics.malformed.fetch_add(1, Relaxed);
                tracing::debug!(listener, %peer, session = id, %reason, "malformed message refused");
                own.push(Outbound::Error(reason));
                return;
            }
            Inbound::Request(r) => r,
        };
        let result = self
            .plugin
            .call(
                request,
                move |b, store, request| {
                    b.wasmgate_plugin_chat_handler()
                        .call_handle(store, id, &request)
                },
                move |h, request| native::chat::handle(h, id, request),
            )
            .await;
        match result {
            Ok(Ok(outgoing)) => self.route(id, outgoing, own),
            Ok(Err(reason)) => {
                tracing::debug!(listener, %peer, session = id, %reason, "plugin refused the request");
                own.push(Outbound::Error(reason));
            }
            Err(e) => {
                tracing::warn!(listener, %peer, session = id, error = %e, "no answer from the plugin");
                own.push(Outbound::Error(e.to_string()));
            }
        }
    }

    /// The end of a connection: the plugin's `closed`, its messages routed.
    async fn closed(&self, id: SessionId, peer: SocketAddr) {
        for attempt in 1..=CLOSED_ATTEMPTS {
            let result = self
                .plugin
                .call(
                    id,
                    |b, store, id| b.wasmgate_plugin_chat_handler().call_closed(store, id),
                    native::chat::closed,
                )
                .await;
            match result {
                // The session is going: nothing it would get matters.
                Ok(outgoing) => return self.route(id, outgoing, &mut Vec::new()),
                Err(e) => {
                    tracing::warn!(listener = %self.config.name, %peer, session = id, attempt,
                        error = %e, "the plugin's closed call failed");
                    if attempt < CLOSED_ATTEMPTS {
                        tokio::time::sleep(Duration::from_millis(100 * attempt as u64)).await;
                    }
                }
            }
        }
    }

    /// Queues each message for the sessions its target names, in order;
    /// what goes to `from` itself is appended to `own`.
    fn route(&self, from: SessionId, outgoing: Vec<Outgoing>, own: &mut Vec<Outbound>) {
        let sessions = self.plugin.sessions();
        for o in outgoing {
            let target = Target::from(o.to);
            let mut ids = sessions.resolve(&target, from);
            let msg = Outbound::Message(o.message);
            let before = ids.len();
            ids.retain(|s| *s != from);
            if ids.len() != before {
                own.push(msg.clone());
            }
            if !ids.is_empty() {
                sessions.deliver(&ids, &msg);
            }
        }
    }
}

/// The next heartbeat, or never.
async fn tick(heartbeat: &mut Option<tokio::time::Interval>) {
    match heartbeat {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

impl Weigh for Outbound {
    /// The text the message carries, plus a little for the JSON around it.
    fn weight(&self) -> usize {
        const FRAME: usize = 64;
        FRAME
            + match self {
                Outbound::Heartbeat => 0,
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
