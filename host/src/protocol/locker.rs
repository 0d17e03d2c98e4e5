//! The locker board ("ACon") listener: one report in, one answer out, on a
//! connection that stays open. The codec decodes; the `locker` plugin
//! decides the answer; the host writes ID and SEND back from the report so
//! the device can match the answer to its request. Each answer goes out in
//! one write (the original board reads it with one `recv(1024)`). The
//! technician commands (`ip`, `info`, ... and `exit`) are the host's own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::codec::locker::{Inbound, LockerCodec, Outbound, Report, valid_code};
use crate::config::ListenerConfig;
use crate::metrics::ListenerMetrics;
use crate::native;
use crate::runtime::Plugin;
use crate::runtime::worlds::LockerWorld;
use crate::runtime::worlds::locker::exports::wasmgate::plugin::locker_handler as wit;
use crate::transport::tcp::readable_lean;

struct Locker {
    config: ListenerConfig,
    plugin: Arc<Plugin<LockerWorld>>,
    metrics: Arc<ListenerMetrics>,
}

pub fn start(
    config: &ListenerConfig,
    listener: TcpListener,
    shared: &Shared,
) -> anyhow::Result<()> {
    let service = Arc::new(Locker {
        config: config.clone(),
        plugin: shared.plugin(config)?,
        metrics: shared.metrics.listener(&config.name, &config.protocol),
    });
    shared.serve_tcp(
        config,
        listener,
        service.metrics.clone(),
        move |stream, peer, shutdown| {
            let service = service.clone();
            async move { service.serve(stream, peer, shutdown).await }
        },
    );
    Ok(())
}

impl Locker {
    async fn serve(&self, stream: TcpStream, peer: SocketAddr, shutdown: CancellationToken) {
        let listener = &*self.config.name;
        tracing::debug!(listener, %peer, "connected");
        let local = stream.local_addr();
        let codec = LockerCodec::new(self.config.max_message_bytes());
        let mut framed = Framed::with_capacity(stream, codec, 0);
        loop {
            // Shutdown is only observed between messages: a message being
            // answered is always answered. Idle, a board holds no buffers.
            let next = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = tokio::time::timeout(self.config.idle_timeout(), async {
                    readable_lean(&mut framed).await?;
                    framed.next().await.transpose()
                }) => r.map(Result::transpose),
            };
            let inbound = match next {
                Err(_) => {
                    tracing::info!(listener, %peer, "idle timeout; closing");
                    break;
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    tracing::debug!(listener, %peer, error = %e, "read failed");
                    break;
                }
                Ok(Some(Ok(inbound))) => inbound,
            };
            self.metrics.messages_in.fetch_add(1, Relaxed);
            let out = match inbound {
                Inbound::Malformed(reason) => {
                    self.metrics.malformed.fetch_add(1, Relaxed);
                    tracing::info!(listener, %peer, %reason, "malformed message refused");
                    Outbound::Error(reason)
                }
                Inbound::Report(report) => self.answer(report, peer).await,
                Inbound::Addresses => match &local {
                    Ok(local) => Outbound::Addresses {
                        peer,
                        local: *local,
                    },
                    Err(e) => Outbound::Error(format!("local address unknown: {e}")),
                },
                Inbound::Quit => {
                    tracing::debug!(listener, %peer, "quit by the peer");
                    break;
                }
            };
            match tokio::time::timeout(self.config.write_timeout(), framed.send(out)).await {
                Ok(Ok(())) => {
                    self.metrics.messages_out.fetch_add(1, Relaxed);
                }
                Ok(Err(e)) => {
                    tracing::debug!(listener, %peer, error = %e, "write failed");
                    break;
                }
                Err(_) => {
                    tracing::warn!(listener, %peer, "peer did not take the answer in time; closing");
                    break;
                }
            }
        }
        tracing::debug!(listener, %peer, "disconnected");
    }

    async fn answer(&self, report: Report, peer: SocketAddr) -> Outbound {
        let (id, send) = (report.id.clone(), report.send);
        let result = self
            .plugin
            .call(
                report,
                |b, store, report| {
                    b.wasmgate_plugin_locker_handler()
                        .call_handle(store, &report)
                },
                native::locker::handle,
            )
            .await;
        let listener = &*self.config.name;
        match result {
            Ok(Ok(answer)) => match answer_from_wit(id.clone(), send, answer) {
                Ok(out) => out,
                Err(reason) => {
                    self.plugin.note_component_error();
                    tracing::error!(listener, %peer, device = %id, %reason, "plugin answer refused");
                    Outbound::Error(reason)
                }
            },
            Ok(Err(reason)) => {
                self.plugin.note_component_error();
                tracing::info!(listener, %peer, device = %id, %reason, "plugin refused the report");
                Outbound::Error(reason)
            }
            Err(e) => {
                tracing::warn!(listener, %peer, device = %id, error = %e, "no answer from the plugin");
                Outbound::Error(e.to_string())
            }
        }
    }
}

/// The plugin's answer, checked so that nothing it returns can break the
/// framing of the line protocol.
fn answer_from_wit(id: String, send: u64, a: wit::Answer) -> Result<Outbound, String> {
    if let Some(bad) = a.cells.iter().find(|c| !valid_code(&c.code)) {
        return Err(format!(
            "plugin answered an invalid code for cell {}",
            bad.cell
        ));
    }
    Ok(Outbound::Answer {
        id,
        send,
        reset: a.reset,
        block: a.block,
        cells: a.cells,
    })
}
