//! The smart-home listener: one command word in, one answer out, then the
//! connection closes (the original client reads until the server closes).
//! The `smarthome` plugin decides the answer; a failure of any kind becomes
//! the error frame.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

use super::Shared;
use crate::codec::smarthome::{Answer, SmartHomeCodec};
use crate::config::ListenerConfig;
use crate::metrics::ListenerMetrics;
use crate::native;
use crate::runtime::Plugin;
use crate::runtime::worlds::SmartHomeWorld;

struct SmartHome {
    config: ListenerConfig,
    plugin: Arc<Plugin<SmartHomeWorld>>,
    metrics: Arc<ListenerMetrics>,
}

pub fn start(
    config: &ListenerConfig,
    listener: TcpListener,
    shared: &Shared,
) -> anyhow::Result<()> {
    let service = Arc::new(SmartHome {
        config: config.clone(),
        plugin: shared.plugin(config)?,
        metrics: shared.metrics.listener(&config.name, &config.protocol),
    });
    shared.serve_tcp(
        config,
        listener,
        service.metrics.clone(),
        move |stream, peer, _shutdown| {
            let service = service.clone();
            async move { service.serve(stream, peer).await }
        },
    );
    Ok(())
}

impl SmartHome {
    async fn serve(&self, stream: TcpStream, peer: SocketAddr) {
        let listener = &*self.config.name;
        let mut framed = Framed::new(stream, SmartHomeCodec);
        let command = match tokio::time::timeout(self.config.idle_timeout(), framed.next()).await {
            Ok(Some(Ok(word))) => word,
            Ok(Some(Err(e))) => {
                tracing::debug!(listener, %peer, error = %e, "read failed");
                return;
            }
            Ok(None) => return,
            Err(_) => {
                tracing::info!(listener, %peer, "no command word in time; closing");
                return;
            }
        };
        self.metrics.messages_in.fetch_add(1, Relaxed);
        let answer = self.answer(command, peer).await;
        let size = answer.payload.len();
        let written = tokio::time::timeout(self.config.write_timeout(), async {
            framed.send(answer).await?;
            framed.get_mut().shutdown().await
        })
        .await;
        match written {
            Ok(Ok(())) => {
                self.metrics.messages_out.fetch_add(1, Relaxed);
                tracing::debug!(listener, %peer, command, bytes = size, "answered");
            }
            Ok(Err(e)) => tracing::debug!(listener, %peer, error = %e, "write failed"),
            Err(_) => tracing::warn!(listener, %peer, "client did not take the answer in time"),
        }
    }

    async fn answer(&self, command: u32, peer: SocketAddr) -> Answer {
        let listener = &*self.config.name;
        let result = self
            .plugin
            .call(
                command,
                |b, store, command| {
                    b.wasmgate_plugin_smarthome_handler()
                        .call_handle(store, command)
                },
                native::smarthome::handle,
            )
            .await;
        match result {
            Ok(Ok(r)) => Answer {
                command: r.command,
                payload: Bytes::from(r.payload),
            },
            Ok(Err(reason)) => {
                self.plugin.note_component_error();
                tracing::info!(listener, %peer, command, %reason, "request refused");
                Answer::error(&reason)
            }
            Err(e) => {
                tracing::warn!(listener, %peer, command, error = %e, "no answer from the plugin");
                Answer::error(&e.to_string())
            }
        }
    }
}
