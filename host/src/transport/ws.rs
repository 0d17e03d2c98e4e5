//! WebSocket server plumbing shared by the WebSocket protocols: the accept
//! loop (connection limits from `transport::tcp`, optional TLS from
//! `transport::tls`, then the WebSocket handshake, each bounded by a
//! timeout), the request-path check, and the frame/message size caps. What a
//! connection then says is the protocol's business.
//!
//! Everything runs on the connection's own task, so a slow handshake never
//! holds up the accept loop.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metrics::ListenerMetrics;

pub use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

/// A WebSocket's messages up to the peer's close frame (tungstenite answers
/// it and the pings itself).
pub fn messages<S>(stream: S) -> impl futures::Stream<Item = Result<Message, WsError>>
where
    S: futures::Stream<Item = Result<Message, WsError>>,
{
    use futures::StreamExt;
    stream.take_while(|m| std::future::ready(!matches!(m, Ok(Message::Close(_)))))
}

/// A byte stream a WebSocket can run on: plain TCP or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// The stream every WebSocket connection of [`accept_loop`] gets, plain or TLS.
pub type BoxedIo = Box<dyn Io>;

#[derive(Debug, Clone)]
pub struct Settings {
    /// Request path to accept, and every path below it (query strings are
    /// ignored); others get 404. Empty: any path.
    pub path: String,
    /// Largest frame and largest (reassembled) message accepted.
    pub max_message_bytes: usize,
    /// Bounds the TLS handshake and, separately, the WebSocket handshake.
    pub handshake_timeout: Duration,
    /// Bytes a connection may send (its handshakes included) until the
    /// protocol lifts its [`ReadBudget`] — a login. None: no such bound.
    pub login_budget: Option<usize>,
}

/// What a connection may still send before it has logged in; reads past
/// it fail, so an unauthenticated peer holds at most this much of the
/// host's memory, whatever `max_message_bytes` allows a logged-in one.
#[derive(Debug)]
pub struct ReadBudget {
    left: AtomicUsize,
    limit: usize,
}

impl ReadBudget {
    pub fn new(limit: usize) -> Arc<ReadBudget> {
        Arc::new(ReadBudget {
            left: AtomicUsize::new(limit),
            limit,
        })
    }

    /// No bound any more (the peer logged in).
    pub fn lift(&self) {
        self.left.store(usize::MAX, Relaxed);
    }

    fn spend(&self, n: usize) {
        let _ = self.left.fetch_update(Relaxed, Relaxed, |left| {
            (left != usize::MAX).then(|| left.saturating_sub(n))
        });
    }
}

impl Settings {
    pub fn ws_config(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .max_message_size(Some(self.max_message_bytes))
            .max_frame_size(Some(self.max_message_bytes))
    }
}

/// The server side of the WebSocket handshake on `stream`, bounded by
/// `settings.handshake_timeout`. A request for another path is answered
/// `404 Not Found` and fails.
// The callback's error type is tungstenite's (an HTTP response).
#[allow(clippy::result_large_err)]
pub async fn accept<S>(stream: S, settings: &Settings) -> std::io::Result<WebSocketStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let path = settings.path.clone();
    let check_path = move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        if path_accepted(&path, req.uri().path()) {
            return Ok(resp);
        }
        let mut refused = ErrorResponse::new(Some("not found\n".to_string()));
        *refused.status_mut() = StatusCode::NOT_FOUND;
        Err(refused)
    };
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        check_path,
        Some(settings.ws_config()),
    );
    match tokio::time::timeout(settings.handshake_timeout, handshake).await {
        Ok(Ok(ws)) => Ok(ws),
        Ok(Err(e)) => Err(std::io::Error::other(format!("WebSocket handshake: {e}"))),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "WebSocket handshake timed out",
        )),
    }
}

/// TLS (when `tls` is set) and then the WebSocket handshake on an accepted
/// TCP connection.
/// TCP connection, its reads bounded by `budget` when there is one.
pub async fn upgrade(
    stream: TcpStream,
    tls: Option<&TlsAcceptor>,
    settings: &Settings,
    budget: Option<Arc<ReadBudget>>,
) -> std::io::Result<WebSocketStream<BoxedIo>> {
    let io = super::tls::secure(stream, tls, settings.handshake_timeout).await?;
    let mut io = Guarded {
        io,
        head: Vec::new(),
        at: 0,
        budget,
    };
    io.head = tokio::time::timeout(settings.handshake_timeout, checked_head(&mut io))
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "WebSocket handshake timed out",
            )
        })??;
    accept(Box::new(io) as BoxedIo, settings).await
}

/// Longest HTTP request head of a WebSocket upgrade.
const MAX_HEAD: usize = 8 * 1024;

/// Reads the HTTP request head and checks that it asks for a WebSocket
/// upgrade; if not, answers `400 Bad Request` with the reason (tungstenite
/// would only close) and fails. What was read (the head, and whatever
/// came after it) is returned, for the handshake to read again.
async fn checked_head(io: &mut Guarded) -> std::io::Result<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut read = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let why = loop {
        if let Some(end) = read.windows(4).position(|w| w == b"\r\n\r\n") {
            match upgrade_refused(&read[..end + 4]) {
                None => return Ok(read),
                Some(why) => break why,
            }
        }
        if read.len() >= MAX_HEAD {
            break "request head over 8 KiB";
        }
        let n = io.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed during the WebSocket handshake",
            ));
        }
        read.extend_from_slice(&chunk[..n]);
    };
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{why}\n",
        why.len() + 1
    );
    let _ = io.write_all(answer.as_bytes()).await;
    let _ = io.shutdown().await;
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("not a WebSocket upgrade: {why}"),
    ))
}

/// Why `head` is not a WebSocket upgrade request (RFC 6455, 4.2.1), if it
/// is not.
fn upgrade_refused(head: &[u8]) -> Option<&'static str> {
    let Ok(text) = std::str::from_utf8(head) else {
        return Some("request head is not UTF-8");
    };
    let mut lines = text.split("\r\n");
    let request = lines.next().unwrap_or("");
    let mut parts = request.split(' ');
    if parts.next() != Some("GET") || !parts.nth(1).is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Some("a WebSocket upgrade is a GET over HTTP/1.1");
    }
    let header = |name: &str| {
        lines.clone().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    };
    if !header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
        return Some("missing Upgrade: websocket");
    }
    if !header("connection").is_some_and(|v| {
        v.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
    }) {
        return Some("missing Connection: Upgrade");
    }
    if header("sec-websocket-key").is_none_or(str::is_empty) {
        return Some("missing Sec-WebSocket-Key");
    }
    if header("sec-websocket-version") != Some("13") {
        return Some("Sec-WebSocket-Version must be 13");
    }
    None
}

/// An accepted stream as the handshake and the protocol read it: first
/// what was read ahead (`head`), then `io`, bounded by `budget` when the
/// protocol has one.
struct Guarded {
    io: BoxedIo,
    head: Vec<u8>,
    at: usize,
    budget: Option<Arc<ReadBudget>>,
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.at < this.head.len() {
            let n = (this.head.len() - this.at).min(buf.remaining());
            buf.put_slice(&this.head[this.at..this.at + n]);
            this.at += n;
            if this.at == this.head.len() {
                (this.head, this.at) = (Vec::new(), 0);
            }
            return Poll::Ready(Ok(()));
        }
        let Some(budget) = &this.budget else {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        };
        let left = budget.left.load(Relaxed);
        if left == usize::MAX {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        if left == 0 {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("more than {} bytes before login", budget.limit),
            )));
        }
        // A small read, at most what is left (the budget is small).
        let mut tmp = [0u8; 4096];
        let want = left.min(buf.remaining()).min(tmp.len());
        let mut part = ReadBuf::new(&mut tmp[..want]);
        ready!(Pin::new(&mut this.io).poll_read(cx, &mut part))?;
        buf.put_slice(part.filled());
        budget.spend(part.filled().len());
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Accepts WebSocket connections until `shutdown` (within `limits`, see
/// `transport::tcp::accept_loop`) and runs
/// `handle` for each that completes its handshakes, with its read budget
/// when `settings.login_budget` gives one. A failed handshake is logged
/// at debug level and counted as malformed.
#[allow(clippy::too_many_arguments)]
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    limits: super::tcp::ConnLimits,
    tls: Option<TlsAcceptor>,
    settings: Settings,
    metrics: Arc<ListenerMetrics>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    handle: F,
) where
    F: Fn(WebSocketStream<BoxedIo>, SocketAddr, Option<Arc<ReadBudget>>) -> Fut
        + Send
        + Sync
        + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let handle = Arc::new(handle);
    let settings = Arc::new(settings);
    let tls = tls.map(Arc::new);
    let m = metrics.clone();
    super::tcp::accept_loop(
        listener,
        limits,
        metrics,
        shutdown.clone(),
        tracker,
        move |stream, peer| {
            let (handle, settings, tls, m) =
                (handle.clone(), settings.clone(), tls.clone(), m.clone());
            let shutdown = shutdown.clone();
            async move {
                let budget = settings.login_budget.map(ReadBudget::new);
                let upgraded = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    r = upgrade(stream, tls.as_deref(), &settings, budget.clone()) => r,
                };
                match upgraded {
                    Ok(ws) => handle(ws, peer, budget).await,
                    Err(e) => {
                        m.malformed
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        tracing::debug!(listener = %m.name, %peer, error = %e, "handshake failed");
                    }
                }
            }
        },
    )
    .await
}

/// Whether a request for `requested` is served by a listener of `path`:
/// the path itself and anything below it (`/websocket`, `/websocket/x`;
/// not `/websocketx`), as the original servers' routers did.
fn path_accepted(path: &str, requested: &str) -> bool {
    let base = path.trim_end_matches('/');
    base.is_empty()
        || requested == path
        || requested
            .strip_prefix(base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{SinkExt, StreamExt};

    fn settings(max: usize) -> Settings {
        Settings {
            path: "/websocket".into(),
            max_message_bytes: max,
            handshake_timeout: Duration::from_secs(5),
            login_budget: None,
        }
    }

    #[tokio::test]
    async fn path_is_checked_and_messages_are_capped() {
        // The right path: a message under the cap comes through, one over it
        // is an error.
        let (client, server) = tokio::io::duplex(1 << 16);
        let s = settings(64);
        let server = tokio::spawn(async move {
            let mut ws = accept(server, &s).await.unwrap();
            let first = ws.next().await.unwrap().unwrap();
            let second = ws.next().await.unwrap();
            (first, second.is_err())
        });
        let (mut c, _) = tokio_tungstenite::client_async("ws://localhost/websocket?x=1", client)
            .await
            .unwrap();
        c.send(Message::text("small")).await.unwrap();
        c.send(Message::text("x".repeat(65))).await.unwrap();
        let (first, second_failed) = server.await.unwrap();
        assert_eq!(first, Message::text("small"));
        assert!(second_failed);

        // Another path: 404.
        let (client, server) = tokio::io::duplex(1 << 16);
        let s = settings(64);
        let server = tokio::spawn(async move { accept(server, &s).await.is_err() });
        let err = tokio_tungstenite::client_async("ws://localhost/other", client)
            .await
            .err()
            .unwrap();
        match err {
            tokio_tungstenite::tungstenite::Error::Http(r) => {
                assert_eq!(r.status(), StatusCode::NOT_FOUND)
            }
            other => panic!("{other}"),
        }
        assert!(server.await.unwrap());
    }

    #[test]
    fn a_path_and_everything_below_it() {
        for (path, requested, ok) in [
            ("/websocket", "/websocket", true),
            ("/websocket", "/websocket/", true),
            ("/websocket", "/websocket/x/y", true),
            ("/websocket", "/websocketx", false),
            ("/websocket", "/", false),
            ("/websocket/", "/websocket/a", true),
            ("", "/anything", true),
            ("/", "/anything", true),
        ] {
            assert_eq!(path_accepted(path, requested), ok, "{path} {requested}");
        }
    }

    #[tokio::test]
    async fn a_silent_client_times_out() {
        let (_client, server) = tokio::io::duplex(1024);
        let mut s = settings(64);
        s.handshake_timeout = Duration::from_millis(50);
        let err = accept(server, &s).await.err().unwrap();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    }
}
