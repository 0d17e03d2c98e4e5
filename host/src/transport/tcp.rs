//! The TCP accept loop shared by every TCP protocol.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metrics::ListenerMetrics;

/// Accepts connections until `shutdown`, at most `max_connections` open at
/// once (a connection over the limit is closed at once and counted), and
/// runs `handle` for each on a task tracked by `tracker`.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    max_connections: usize,
    metrics: Arc<ListenerMetrics>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    handle: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let limit = Arc::new(Semaphore::new(max_connections));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Typically out of file descriptors: back off instead of spinning.
                tracing::warn!(listener = %metrics.name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            metrics.connections_refused.fetch_add(1, Relaxed);
            tracing::warn!(listener = %metrics.name, %peer, max_connections, "connection limit reached; refusing");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let open = OpenConnection::new(metrics.clone());
        let fut = handle(stream, peer);
        tracker.spawn(async move {
            fut.await;
            drop(open);
            drop(permit);
        });
    }
    tracing::debug!(listener = %metrics.name, "accept loop stopped");
}

/// Counts a connection open for as long as it lives, even if its task panics.
struct OpenConnection(Arc<ListenerMetrics>);

impl OpenConnection {
    fn new(m: Arc<ListenerMetrics>) -> Self {
        m.connections_total.fetch_add(1, Relaxed);
        m.connections_open.fetch_add(1, Relaxed);
        OpenConnection(m)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Relaxed);
    }
}
