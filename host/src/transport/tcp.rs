//! The TCP accept loop shared by every TCP protocol.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use futures::{Sink, Stream};
use tokio::io::ReadBuf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::codec::{Decoder, Encoder, Framed};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metrics::ListenerMetrics;

/// How many connections may be open at once: on one listener, from one
/// address on it, and in the whole process (a budget below its descriptor
/// limit, shared by every listener, so the admin API and the store always
/// have descriptors left).
#[derive(Debug, Clone)]
pub struct ConnLimits {
    pub max: usize,
    pub per_ip: usize,
    pub process: Arc<Semaphore>,
}

/// Connections open per address on one listener.
type PerIp = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// One connection counted against its address; uncounted when dropped.
struct IpSlot(PerIp, IpAddr);

impl IpSlot {
    fn take(open: &PerIp, ip: IpAddr, max: usize) -> Option<IpSlot> {
        let mut map = open.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(IpSlot(open.clone(), ip))
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.1);
            }
        }
    }
}

/// Accepts connections until `shutdown`, within `limits` (a connection
/// over one is closed at once, counted in `connections_refused` and
/// logged, rate-limited), and runs `handle` for each on a task tracked by
/// `tracker`.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    limits: ConnLimits,
    metrics: Arc<ListenerMetrics>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    handle: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let limit = Arc::new(Semaphore::new(limits.max));
    let per_ip = PerIp::default();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Typically out of file descriptors: back off instead of spinning.
                crate::limited!(warn, listener = %metrics.name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let refused = |limit: &str| {
            metrics.connections_refused.fetch_add(1, Relaxed);
            crate::limited!(warn, listener = %metrics.name, %peer, limit, "connection limit reached; refusing");
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            refused("max_connections");
            continue;
        };
        let Some(ip_slot) = IpSlot::take(&per_ip, peer.ip(), limits.per_ip) else {
            refused("max_connections_per_ip");
            continue;
        };
        let Ok(process) = limits.process.clone().try_acquire_owned() else {
            refused("limits.max_open_connections");
            continue;
        };
        tune(&stream);
        let open = OpenConnection::new(metrics.clone());
        let fut = handle(stream, peer);
        tracker.spawn(async move {
            fut.await;
            drop(open);
            drop((permit, ip_slot, process));
        });
    }
    tracing::debug!(listener = %metrics.name, "accept loop stopped");
}

/// Read buffer a connection gets back when data arrives (tokio-util's own
/// initial size).
const READ_BUFFER: usize = 8 * 1024;

/// A framed TCP connection that holds no buffers while it waits: when
/// nothing is buffered or waiting on the socket, the read and write buffers
/// are dropped, and the read buffer is given back once data arrives. An
/// idle connection then costs its task and its socket, not 16 KiB of
/// buffers (tokio-util allocates 8 KiB for each at once) — what lets one
/// host hold tens of thousands of quiet devices. A busy connection, whose
/// next bytes are already there, keeps its buffers. Reads and writes are
/// the inner `Framed`'s.
pub struct Lean<C> {
    framed: Framed<TcpStream, C>,
}

impl<C> Lean<C> {
    pub fn new(stream: TcpStream, codec: C) -> Self {
        Lean {
            framed: Framed::with_capacity(stream, codec, 0),
        }
    }
}

impl<C: Decoder + Unpin> Stream for Lean<C> {
    type Item = Result<C::Item, C::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let framed = &mut self.get_mut().framed;
        if framed.read_buffer().is_empty() {
            // Not `poll_read_ready`: a fresh socket is reported readable
            // before any byte arrives. A one-byte peek waits for data (or EOF).
            let mut probe = [0u8; 1];
            match framed
                .get_ref()
                .poll_peek(cx, &mut ReadBuf::new(&mut probe))
            {
                Poll::Pending => {
                    *framed.read_buffer_mut() = BytesMut::new();
                    if framed.write_buffer().is_empty() {
                        *framed.write_buffer_mut() = BytesMut::new();
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                // A no-op when the buffer was kept.
                Poll::Ready(Ok(_)) => framed.read_buffer_mut().reserve(READ_BUFFER),
            }
        }
        Pin::new(framed).poll_next(cx)
    }
}

impl<C: Encoder<I> + Unpin, I> Sink<I> for Lean<C> {
    type Error = C::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.get_mut().framed).poll_ready(cx)
    }
    fn start_send(self: Pin<&mut Self>, item: I) -> Result<(), Self::Error> {
        Pin::new(&mut self.get_mut().framed).start_send(item)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.get_mut().framed).poll_flush(cx)
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.get_mut().framed).poll_close(cx)
    }
}

/// What a framed stream holds of a message not yet complete.
pub trait Buffered {
    fn buffered(&self) -> &[u8];
}

impl<T, C> Buffered for Framed<T, C> {
    fn buffered(&self) -> &[u8] {
        self.read_buffer()
    }
}

impl<C> Buffered for Lean<C> {
    fn buffered(&self) -> &[u8] {
        self.framed.read_buffer()
    }
}

/// A framed stream whose every message must arrive whole within `limit`
/// of its first byte (`message_timeout_ms`): a peer that drips a message
/// completes none, so no idle timer ever sees it; this one cuts it off
/// with a read error. White space between messages starts none.
pub struct Whole<F> {
    inner: F,
    limit: Duration,
    started: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<F> Whole<F> {
    pub fn new(inner: F, limit: Duration) -> Self {
        Whole {
            inner,
            limit,
            started: None,
        }
    }
}

impl<F, I, E> Stream for Whole<F>
where
    F: Stream<Item = Result<I, E>> + Buffered + Unpin,
    E: From<std::io::Error>,
{
    type Item = Result<I, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(item) => {
                // A message is complete; what follows it starts anew.
                this.started = None;
                Poll::Ready(item)
            }
            Poll::Pending if this.inner.buffered().iter().all(u8::is_ascii_whitespace) => {
                this.started = None;
                Poll::Pending
            }
            Poll::Pending => {
                let limit = this.limit;
                let timer = this
                    .started
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                match std::future::Future::poll(timer.as_mut(), cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("a message not completed within {} ms", limit.as_millis()),
                    )
                    .into()))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<F: Sink<I> + Unpin, I> Sink<I> for Whole<F> {
    type Error = F::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.get_mut().inner).poll_ready(cx)
    }
    fn start_send(self: Pin<&mut Self>, item: I) -> Result<(), Self::Error> {
        Pin::new(&mut self.get_mut().inner).start_send(item)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

/// Keepalive probes after 30 s of silence (every 10 s, 3 misses), and at
/// most 60 s for written data to be acknowledged: a peer that vanished
/// without a FIN or RST (power cut, cable pulled) is noticed within about a
/// minute, leaves its rooms and groups, and its presence is broadcast — not
/// only when the kernel's send buffer finally fills.
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
pub const UNACKED_LIMIT: Duration = Duration::from_secs(60);

fn tune(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let sock = socket2::SockRef::from(stream);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(Duration::from_secs(10))
        .with_retries(3);
    if let Err(e) = sock.set_tcp_keepalive(&keepalive) {
        tracing::debug!(error = %e, "TCP keepalive not set");
    }
    #[cfg(target_os = "linux")]
    if let Err(e) = sock.set_tcp_user_timeout(Some(UNACKED_LIMIT)) {
        tracing::debug!(error = %e, "TCP_USER_TIMEOUT not set");
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_sockets_detect_dead_peers() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        tune(&server);
        let sock = socket2::SockRef::from(&server);
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), KEEPALIVE_IDLE);
        #[cfg(target_os = "linux")]
        assert_eq!(sock.tcp_user_timeout().unwrap(), Some(UNACKED_LIMIT));
        assert!(server.nodelay().unwrap());
    }
}
