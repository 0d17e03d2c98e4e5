//! Protocols defined in configuration alone: a generic framing (see
//! [`crate::codec::frames`]) and a component of world `raw`. Every
//! connection is a session of the plugin; the component's outgoing frames
//! are routed through the plugin's sessions (reply, another session, a
//! group), so components can build chats, relays and request/response
//! protocols alike.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
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

struct Raw {
    config: ListenerConfig,
    framing: Framing,
    plugin: Arc<Plugin<RawWorld>>,
    metrics: Arc<ListenerMetrics>,
}

pub fn start(config: &ListenerConfig, listener: TcpListener, shared: &Shared) -> anyhow::Result<()> {
    let plugin = shared
        .plugins
        .get::<RawWorld>(&config.plugin)
        .ok_or_else(|| anyhow::anyhow!("plugin {:?} is not a raw plugin", config.plugin))?;
    let framing = config.framing.clone().ok_or_else(|| anyhow::anyhow!("listener {:?} has no framing", config.name))?;
    let tls = config.tls.as_ref().map(|t| crate::transport::tls::acceptor(t, &shared.data_dir)).transpose()?;
    let handshake = Duration::from_millis(config.tls.as_ref().map_or(0, |t| t.handshake_timeout_ms));
    let service =
        Arc::new(Raw { config: config.clone(), framing, plugin, metrics: shared.metrics.listener(&config.name, "raw") });
    let shutdown = shared.shutdown.clone();
    tokio::spawn(crate::transport::tcp::accept_loop(
        listener,
        config.max_connections,
        service.metrics.clone(),
        shared.shutdown.clone(),
        shared.tracker.clone(),
        move |stream, peer| {
            let service = service.clone();
            let shutdown = shutdown.clone();
            let tls: Option<TlsAcceptor> = tls.clone();
            async move {
                match tls {
                    None => service.serve(stream, peer, shutdown).await,
                    Some(acceptor) => match crate::transport::tls::handshake(&acceptor, stream, handshake).await {
                        Ok(stream) => service.serve(stream, peer, shutdown).await,
                        Err(e) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    },
                }
            }
        },
    ));
    Ok(())
}

impl Raw {
    async fn serve<S>(&self, stream: S, peer: SocketAddr, shutdown: CancellationToken)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let listener = &*self.config.name;
        let (tx, mut outbox) = mpsc::channel::<Bytes>(self.config.outbox_capacity.max(1));
        let session = self.plugin.sessions().open(listener, peer, tx);
        let id = session.id;
        tracing::debug!(listener, %peer, session = id, "connected");
        let codec = FrameCodec::new(self.framing.clone(), self.config.max_message_bytes);
        let (mut sink, mut frames) = Framed::new(stream, codec).split();

        let opened = self.plugin.call(move |b, st| b.wasmgate_plugin_raw_handler().call_opened(st, id)).await;
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
                    while let Ok(frame) = outbox.try_recv() {
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
                                .call(move |b, st| b.wasmgate_plugin_raw_handler().call_handle(st, id, &data))
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
        while let Ok(frame) = outbox.try_recv() {
            if !self.write(&mut sink, frame, peer).await {
                break;
            }
        }
        let closed = self.plugin.call(move |b, st| b.wasmgate_plugin_raw_handler().call_closed(st, id)).await;
        self.route(id, peer, closed.map(Ok));
        drop(session);
        let _ = tokio::time::timeout(self.config.write_timeout(), sink.close()).await;
        tracing::debug!(listener, %peer, session = id, "disconnected");
    }

    async fn write<W>(&self, sink: &mut W, frame: Bytes, peer: SocketAddr) -> bool
    where
        W: futures::Sink<Bytes, Error = std::io::Error> + Unpin,
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
    fn route(&self, id: SessionId, peer: SocketAddr, result: Result<Result<Vec<Outgoing>, String>, CallError>) {
        let listener = &*self.config.name;
        let sessions = self.plugin.sessions();
        match result {
            Ok(Ok(outgoing)) => {
                for o in outgoing {
                    let ids = sessions.resolve(&Target::from(o.to), id);
                    sessions.deliver(&ids, &Bytes::from(o.frame));
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
