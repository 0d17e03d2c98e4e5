//! The remote-execute relay: WebSocket (optionally TLS) connections that log
//! in to a room with a token and relay `execute` / `execute_result` to the
//! other members of their room. The host owns the socket, the heartbeat, the
//! sessions and the rooms (session groups); the `exec` plugin decides what
//! each message does.
//!
//! A connection's task reads frames, asks the plugin, and writes what lands
//! in its session's outbox (its own answers and what others relay to it),
//! plus the server heartbeat as soon as the connection opens and then every
//! `heartbeat_ms` (the original's timer fired at once). Binary frames are
//! ignored (counted as malformed), as the original did. A write that fails
//! or does not finish within `write_timeout_ms` ends the connection, and so
//! does an outbox past `outbox_capacity` messages or `outbox_bytes` bytes
//! (a member that does not read what its room relays); the plugin is told
//! (`closed`) and the session leaves its room at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::codec::exec::{ExecRequest, HEARTBEAT, cmd_of, decode, error_response};
use crate::config::ListenerConfig;
use crate::metrics::ListenerMetrics;
use crate::native;
use crate::runtime::Plugin;
use crate::runtime::worlds::ExecWorld;
use crate::state::sessions::{SessionId, Target};
use crate::transport::ws::{BoxedIo, Message, Utf8Bytes};

/// Request path when the listener sets no `ws_path` (the original server's;
/// paths below it are accepted too, as its router did).
pub const DEFAULT_PATH: &str = "/websocket";
/// Server heartbeat interval when the listener sets no `heartbeat_ms`.
pub const DEFAULT_HEARTBEAT_MS: u64 = 20_000;
/// Longest the closing handshake of a finished connection may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

type Sink = SplitSink<WebSocketStream<BoxedIo>, Message>;

struct Exec {
    config: ListenerConfig,
    plugin: Arc<Plugin<ExecWorld>>,
    metrics: Arc<ListenerMetrics>,
    heartbeat: Option<Duration>,
}

pub fn start(
    config: &ListenerConfig,
    listener: TcpListener,
    shared: &Shared,
) -> anyhow::Result<()> {
    let heartbeat_ms = config.heartbeat_ms.unwrap_or(DEFAULT_HEARTBEAT_MS);
    let service = Arc::new(Exec {
        config: config.clone(),
        plugin: shared.plugin(config)?,
        metrics: shared.metrics.listener(&config.name, &config.protocol),
        heartbeat: (heartbeat_ms > 0).then(|| Duration::from_millis(heartbeat_ms)),
    });
    let settings = Shared::ws_settings(config, DEFAULT_PATH);
    shared.serve_ws(
        config,
        listener,
        settings,
        service.metrics.clone(),
        move |socket, peer, shutdown| {
            let service = service.clone();
            async move { service.serve(socket, peer, shutdown).await }
        },
    )
}

impl Exec {
    async fn serve(
        &self,
        ws: WebSocketStream<BoxedIo>,
        peer: SocketAddr,
        shutdown: CancellationToken,
    ) {
        let listener = &*self.config.name;
        let (tx, mut outbox) = super::session_outbox::<Utf8Bytes>(&self.config);
        let session = self.plugin.sessions().open(listener, peer, tx);
        let id = session.id;
        tracing::debug!(listener, %peer, session = id, "connected");
        let (mut sink, mut stream) = ws.split();

        let period = self.heartbeat.unwrap_or(Duration::from_secs(3600));
        // The first tick is now: the heartbeat greets a new connection.
        let mut heartbeat = tokio::time::interval(period);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // Until its first message a connection must speak within the idle
        // timeout; after it, the connection lives as long as the heartbeat
        // can be written (clients that only listen are normal here). With
        // the heartbeat off, the idle timeout counts every silence.
        let idle = tokio::time::sleep(self.config.idle_timeout());
        tokio::pin!(idle);
        let mut spoke = false;

        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                Some(text) = outbox.recv() => {
                    // A slow consumer's write is abandoned when it is dropped.
                    let written = tokio::select! {
                        ok = self.write(&mut sink, Message::Text(text), peer) => ok,
                        _ = session.overflow.cancelled() => false,
                    };
                    if !written {
                        break;
                    }
                }
                _ = session.overflow.cancelled() => break,
                _ = session.close.cancelled() => {
                    // Closed by the plugin (a slow consumer is `overflow`,
                    // above): send what is queued, then close.
                    while let Some(text) = outbox.try_recv() {
                        if !self.write(&mut sink, Message::Text(text), peer).await {
                            break;
                        }
                    }
                    tracing::debug!(listener, %peer, session = id, "closing at the plugin's request");
                    break;
                }
                _ = heartbeat.tick(), if self.heartbeat.is_some() => {
                    if !self.write(&mut sink, Message::text(HEARTBEAT), peer).await {
                        break;
                    }
                }
                _ = &mut idle, if !spoke || self.heartbeat.is_none() => {
                    tracing::info!(listener, %peer, "no message within the idle timeout; closing");
                    break;
                }
                frame = stream.next() => {
                    let request = match frame {
                        None => break,
                        Some(Err(WsError::Capacity(e))) => {
                            self.metrics.malformed.fetch_add(1, Relaxed);
                            tracing::info!(listener, %peer, error = %e, "message over max_message_bytes; closing");
                            let frame = CloseFrame { code: CloseCode::Size, reason: "message too large".into() };
                            let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
                            break;
                        }
                        Some(Err(e)) => {
                            tracing::debug!(listener, %peer, error = %e, "read failed");
                            break;
                        }
                        Some(Ok(Message::Text(text))) => decode(&text),
                        Some(Ok(Message::Binary(b))) => {
                            self.metrics.messages_in.fetch_add(1, Relaxed);
                            self.metrics.malformed.fetch_add(1, Relaxed);
                            tracing::debug!(listener, %peer, session = id, bytes = b.len(), "binary frame ignored");
                            continue;
                        }
                        Some(Ok(Message::Close(_))) => break,
                        // Pings are answered by tungstenite; pongs and raw
                        // frames mean nothing here.
                        Some(Ok(_)) => continue,
                    };
                    spoke = true;
                    if self.heartbeat.is_none() {
                        idle.as_mut().reset(tokio::time::Instant::now() + self.config.idle_timeout());
                    }
                    self.metrics.messages_in.fetch_add(1, Relaxed);
                    if let ExecRequest::Invalid(reason) = &request {
                        self.metrics.malformed.fetch_add(1, Relaxed);
                        tracing::debug!(listener, %peer, session = id, %reason, "malformed message");
                    }
                    self.handle(id, request, peer).await;
                }
            }
        }

        // The room forgets the connection before the closing handshake,
        // which may take a while with a dead peer.
        let closed = self
            .plugin
            .call(
                id,
                |b, store, id| b.wasmgate_plugin_exec_handler().call_closed(store, id),
                native::exec::closed,
            )
            .await;
        if let Err(e) = closed {
            tracing::debug!(listener, %peer, session = id, error = %e, "plugin not told of the close");
        }
        drop(session);
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.close()).await;
        if let Ok(mut ws) = stream.reunite(sink) {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.get_mut().shutdown()).await;
        }
        tracing::debug!(listener, %peer, session = id, "disconnected");
    }

    /// Writes one frame within the write timeout; false when the connection
    /// is dead.
    async fn write(&self, sink: &mut Sink, msg: Message, peer: SocketAddr) -> bool {
        let listener = &*self.config.name;
        match tokio::time::timeout(self.config.write_timeout(), sink.send(msg)).await {
            Ok(Ok(())) => {
                self.metrics.messages_out.fetch_add(1, Relaxed);
                true
            }
            Ok(Err(e)) => {
                tracing::debug!(listener, %peer, error = %e, "write failed");
                false
            }
            Err(_) => {
                tracing::warn!(listener, %peer, "peer did not take a message in time; closing");
                false
            }
        }
    }

    /// Asks the plugin and delivers its outgoing messages. When the plugin
    /// gives no answer the client gets an error response (code "0"), and a
    /// failed init also closes the connection.
    async fn handle(&self, id: SessionId, request: ExecRequest, peer: SocketAddr) {
        let listener = &*self.config.name;
        let cmd = cmd_of(&request).to_string();
        let is_init = matches!(request, ExecRequest::Init(_));
        let result = self
            .plugin
            .call(
                request,
                move |b, store, request| {
                    b.wasmgate_plugin_exec_handler()
                        .call_handle(store, id, &request)
                },
                move |h, request| native::exec::handle(h, id, request),
            )
            .await;
        let sessions = self.plugin.sessions();
        let failure = match result {
            Ok(Ok(outgoing)) => {
                for o in outgoing {
                    sessions.send(&Target::from(o.to), id, &Utf8Bytes::from(o.text));
                }
                return;
            }
            Ok(Err(reason)) => {
                self.plugin.note_component_error();
                tracing::info!(listener, %peer, session = id, %cmd, %reason, "plugin refused the message");
                reason
            }
            Err(e) => {
                tracing::warn!(listener, %peer, session = id, %cmd, error = %e, "no answer from the plugin");
                e.to_string()
            }
        };
        sessions.deliver(&[id], &Utf8Bytes::from(error_response(&cmd, &failure)));
        if is_init {
            sessions.close(id);
        }
    }
}
