//! Protocols defined in configuration alone: a generic framing (see
//! [`crate::codec::frames`]) and a component of world `raw`. Every
//! connection is a session of the plugin; the component's outgoing frames
//! are routed through the plugin's sessions (reply, another session, a
//! group), so components can build chats, relays and request/response
//! protocols alike.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;
use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::net::TcpListener;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::codec::frames::{Frame, FrameCodec, Framing};
use crate::config::ListenerConfig;
use crate::metrics::ListenerMetrics;
use crate::runtime::worlds::RawWorld;
use crate::runtime::worlds::raw::exports::wasmgate::plugin::raw_handler::Outgoing;
use crate::runtime::{CallError, Plugin};
use crate::state::sessions::{SessionId, Target};
use crate::transport::ws::{Message, Utf8Bytes};
use tokio_tungstenite::tungstenite::Error as WsError;

struct Raw {
    config: ListenerConfig,
    framing: Framing,
    plugin: Arc<Plugin<RawWorld>>,
    metrics: Arc<ListenerMetrics>,
}

pub fn start(
    config: &ListenerConfig,
    listener: TcpListener,
    shared: &Shared,
) -> anyhow::Result<()> {
    let framing = config
        .framing
        .clone()
        .ok_or_else(|| anyhow::anyhow!("listener {:?} has no framing", config.name))?;
    let service = Arc::new(Raw {
        config: config.clone(),
        framing: framing.clone(),
        plugin: shared.plugin(config)?,
        metrics: shared.metrics.listener(&config.name, &config.protocol),
    });
    let metrics = service.metrics.clone();
    if let Framing::Websocket { text } = framing {
        let settings = Shared::ws_settings(config, "/");
        return shared.serve_ws(
            config,
            listener,
            settings,
            metrics,
            move |socket, peer, shutdown| {
                let service = service.clone();
                async move {
                    let (sink, stream) = socket.split();
                    service
                        .session(ws_frames(stream), ws_sink(sink, text), peer, shutdown)
                        .await
                }
            },
        );
    }
    let tls = shared.tls(config)?;
    let handshake = config.handshake_timeout();
    shared.serve_tcp(config, listener, metrics, move |stream, peer, shutdown| {
        let service = service.clone();
        let tls = tls.clone();
        async move {
            let io = match crate::transport::tls::secure(stream, tls.as_ref(), handshake).await {
                Ok(io) => io,
                Err(e) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
            };
            let codec =
                FrameCodec::new(service.framing.clone(), service.config.max_message_bytes());
            let (sink, frames) = Framed::new(io, codec).split();
            service.session(frames, sink, peer, shutdown).await
        }
    });
    Ok(())
}

/// WebSocket messages as frames: text and binary alike; a message over the
/// cap ends the connection (tungstenite cannot go on after it).
fn ws_frames(
    stream: impl Stream<Item = Result<Message, WsError>> + Unpin,
) -> impl Stream<Item = std::io::Result<Frame>> + Unpin {
    stream.filter_map(|m| {
        std::future::ready(match m {
            Ok(Message::Text(t)) => Some(Ok(Frame::Frame(Bytes::from(t)))),
            Ok(Message::Binary(b)) => Some(Ok(Frame::Frame(b))),
            Ok(_) => None, // ping/pong are answered by tungstenite; close ends the stream
            Err(e) => Some(Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                e.to_string(),
            ))),
        })
    })
}

/// Outgoing frames as WebSocket messages: text when `text` is set and the
/// frame is UTF-8, binary otherwise.
fn ws_sink(
    sink: impl Sink<Message, Error = WsError> + Unpin,
    text: bool,
) -> impl Sink<Bytes, Error = std::io::Error> + Unpin {
    sink.sink_map_err(std::io::Error::other)
        .with(move |b: Bytes| {
            let msg = match std::str::from_utf8(&b) {
                Ok(_) if text => Message::Text(Utf8Bytes::try_from(b).unwrap_or_default()),
                _ => Message::Binary(b),
            };
            std::future::ready(Ok::<_, std::io::Error>(msg))
        })
}

impl Raw {
    /// One connection: its frames in, the plugin's routed frames out.
    async fn session<St, Si>(
        &self,
        mut frames: St,
        mut sink: Si,
        peer: SocketAddr,
        shutdown: CancellationToken,
    ) where
        St: Stream<Item = std::io::Result<Frame>> + Unpin,
        Si: Sink<Bytes, Error = std::io::Error> + Unpin,
    {
        let listener = &*self.config.name;
        let (tx, mut outbox) = super::session_outbox::<Bytes>(&self.config);
        let session = self.plugin.sessions().open(listener, peer, tx);
        let id = session.id;
        tracing::debug!(listener, %peer, session = id, "connected");

        let opened = self
            .plugin
            .call_wasm(move |b, st| b.wasmgate_plugin_raw_handler().call_opened(st, id))
            .await;
        self.route(id, peer, opened);

        let idle = tokio::time::sleep(self.config.idle_timeout());
        tokio::pin!(idle);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                Some(frame) = outbox.recv() => {
                    if !self.write(&mut sink, frame, peer).await {
                        break;
                    }
                }
                _ = session.close.cancelled() => {
                    while let Some(frame) = outbox.try_recv() {
                        if !self.write(&mut sink, frame, peer).await {
                            break;
                        }
                    }
                    tracing::debug!(listener, %peer, session = id, "closing at the plugin's request");
                    break;
                }
                _ = &mut idle => {
                    tracing::info!(listener, %peer, session = id, "idle timeout; closing");
                    break;
                }
                next = frames.next() => {
                    idle.as_mut().reset(tokio::time::Instant::now() + self.config.idle_timeout());
                    match next {
                        None => break,
                        Some(Ok(Frame::Frame(data))) => {
                            self.metrics.messages_in.fetch_add(1, Relaxed);
                            let data = data.to_vec();
                            let result = self
                                .plugin
                                .call_wasm(move |b, st| b.wasmgate_plugin_raw_handler().call_handle(st, id, &data))
                                .await;
                            self.route(id, peer, result);
                        }
                        Some(Ok(Frame::Oversize(reason))) => {
                            self.metrics.malformed.fetch_add(1, Relaxed);
                            tracing::info!(listener, %peer, session = id, %reason, "frame refused");
                            self.error_reply(id, &reason);
                        }
                        Some(Err(e)) => {
                            tracing::info!(listener, %peer, session = id, error = %e, "stream unreadable; closing");
                            break;
                        }
                    }
                }
            }
        }
        // Whatever is still queued for this session (e.g. an error reply
        // before a broken stream) goes out before the close.
        while let Some(frame) = outbox.try_recv() {
            if !self.write(&mut sink, frame, peer).await {
                break;
            }
        }
        let closed = self
            .plugin
            .call_wasm(move |b, st| b.wasmgate_plugin_raw_handler().call_closed(st, id))
            .await;
        self.route(id, peer, closed.map(Ok));
        drop(session);
        let _ = tokio::time::timeout(self.config.write_timeout(), sink.close()).await;
        tracing::debug!(listener, %peer, session = id, "disconnected");
    }

    async fn write<W>(&self, sink: &mut W, frame: Bytes, peer: SocketAddr) -> bool
    where
        W: Sink<Bytes, Error = std::io::Error> + Unpin,
    {
        match tokio::time::timeout(self.config.write_timeout(), sink.send(frame)).await {
            Ok(Ok(())) => {
                self.metrics.messages_out.fetch_add(1, Relaxed);
                true
            }
            Ok(Err(e)) => {
                tracing::debug!(listener = %self.config.name, %peer, error = %e, "write failed");
                false
            }
            Err(_) => {
                tracing::warn!(listener = %self.config.name, %peer, "peer did not take a frame in time; closing");
                false
            }
        }
    }

    /// Delivers a call's outgoing frames, or the error reply when it failed.
    fn route(
        &self,
        id: SessionId,
        peer: SocketAddr,
        result: Result<Result<Vec<Outgoing>, String>, CallError>,
    ) {
        let listener = &*self.config.name;
        let sessions = self.plugin.sessions();
        match result {
            Ok(Ok(outgoing)) => {
                for o in outgoing {
                    sessions.send(&Target::from(o.to), id, &Bytes::from(o.frame));
                }
            }
            Ok(Err(reason)) => {
                self.plugin.note_component_error();
                tracing::info!(listener, %peer, session = id, %reason, "plugin refused the frame");
                self.error_reply(id, &reason);
            }
            Err(e) => {
                tracing::warn!(listener, %peer, session = id, error = %e, "no answer from the plugin");
                self.error_reply(id, &e.to_string());
            }
        }
    }

    fn error_reply(&self, id: SessionId, reason: &str) {
        if let Some(template) = &self.config.error_reply {
            let frame = Bytes::from(template.replace("{reason}", reason));
            self.plugin.sessions().deliver(&[id], &frame);
        }
    }
}
