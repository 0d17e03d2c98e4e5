//! The connection driver: the one per-connection loop every protocol runs.
//!
//! It owns what is the same for all of them: reading decoded messages,
//! the idle timer and the heartbeat, the session and its bounded outbox
//! (in messages and bytes), writing within `write_timeout_ms`, the
//! slow-consumer close, graceful shutdown, the listener's metrics, and one
//! tracing span per connection carrying listener, peer and session. A
//! protocol supplies only what is its own, as a [`Service`]: its codec (the
//! stream of decoded messages and the sink of outgoing ones), what a
//! message means ([`Service::on_message`]), what its heartbeat looks like
//! and what happens when the connection ends.
//!
//! Outgoing messages take one path: a handler's answer to its own
//! connection goes to [`Conn::reply`] (written as soon as the message is
//! handled, before anything queued meanwhile), everything else goes
//! through [`Conn::route`] into the sessions' outboxes. [`ask`] is the one
//! place that turns a plugin call's outcome into "answered", "refused" or
//! "no answer", counted and logged; the protocol turns the last two into
//! its error reply.

use std::fmt::{Debug, Display};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::bindings::World;
use crate::config::ListenerConfig;
use crate::metrics::ListenerMetrics;
use crate::runtime::{CallError, HostState, Lane, Plugin};
use crate::state::outbox::{self, Weigh, Wire};
use crate::state::sessions::{SessionHandle, SessionId, Sessions, Target};

/// Messages written to the socket before it is flushed.
const WRITE_BATCH: usize = 64;

/// What a protocol does with a connection; the driver does the rest.
pub trait Service: Send + Sync + 'static {
    /// A decoded message from the peer. Input the protocol answers with an
    /// error (malformed, too large) is a message too.
    type In: Send;
    /// A message to the peer.
    type Out: Weigh + Wire + Clone + Send + Sync + 'static;
    /// What one connection remembers (a login, missed pings...).
    type State: Send;

    /// Whether `msg` is a message of the peer's (`messages_in`, the idle
    /// timer) rather than transport chatter such as a pong.
    fn counts(_msg: &Self::In) -> bool {
        true
    }

    /// The connection is open (its session, if any, registered).
    fn open(
        &self,
        _conn: &mut Conn<Self::Out>,
        _state: &mut Self::State,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// One message from the peer.
    fn on_message(
        &self,
        conn: &mut Conn<Self::Out>,
        state: &mut Self::State,
        msg: Self::In,
    ) -> impl Future<Output = Flow> + Send;

    /// The heartbeat is due: its message, or `None` to close (the peer is
    /// presumed dead).
    fn heartbeat(&self, _state: &mut Self::State) -> Option<Self::Out> {
        None
    }

    /// The connection ended (`end` says why); its session still exists.
    fn closed(
        &self,
        _conn: &mut Conn<Self::Out>,
        _state: Self::State,
        _end: End,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// What to do after a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Write what is queued, then close.
    Close,
}

/// When a silent connection is closed.
#[derive(Debug, Clone, Copy)]
pub enum Idle {
    /// After this long without a message from the peer.
    Silence(Duration),
    /// If no message comes within this; after the first one the heartbeat
    /// decides whether the peer is still there.
    UntilFirst(Duration),
    /// At this deadline unless the protocol calls [`Conn::disarm_idle`]
    /// first (a login deadline).
    Deadline(Duration),
}

impl Idle {
    /// How long the timer runs from the connection's start.
    fn after(self) -> Duration {
        match self {
            Idle::Silence(d) | Idle::UntilFirst(d) | Idle::Deadline(d) => d,
        }
    }

    /// The usual rule: with a heartbeat, the idle timeout waits for the
    /// first message only; without one, it counts every silence.
    pub fn with_heartbeat(config: &ListenerConfig, heartbeat: Option<Duration>) -> Idle {
        match heartbeat {
            Some(_) => Idle::UntilFirst(config.idle_timeout()),
            None => Idle::Silence(config.idle_timeout()),
        }
    }
}

/// A server heartbeat.
#[derive(Debug, Clone, Copy)]
pub struct Heartbeat {
    pub every: Duration,
    /// The first one as soon as the connection opens.
    pub at_connect: bool,
}

/// How the driver runs a listener's connections.
#[derive(Debug, Clone)]
pub struct Policy {
    pub idle: Idle,
    pub heartbeat: Option<Heartbeat>,
    pub write_timeout: Duration,
    /// Longest the close of a finished connection (a closing handshake, a
    /// flush) may take.
    pub close_timeout: Duration,
    /// Connections are sessions of the plugin, with an outbox others can
    /// deliver to: (messages, bytes) it may hold.
    pub outbox: Option<(usize, usize)>,
}

impl Policy {
    /// Idle as `idle`, no heartbeat, no sessions; the listener's write
    /// timeout, which also bounds the close.
    pub fn new(config: &ListenerConfig, idle: Idle) -> Policy {
        Policy {
            idle,
            heartbeat: None,
            write_timeout: config.write_timeout(),
            close_timeout: config.write_timeout(),
            outbox: None,
        }
    }

    /// Connections are sessions, with the listener's outbox bounds.
    pub fn sessions(mut self, config: &ListenerConfig) -> Policy {
        self.outbox = Some((config.outbox_capacity(), config.outbox_bytes()));
        self
    }

    pub fn heartbeat(mut self, heartbeat: Option<Heartbeat>) -> Policy {
        self.heartbeat = heartbeat;
        self
    }

    /// A server heartbeat every `heartbeat_ms` (else `default`; none when
    /// 0), the first one at connect or after a period; the idle timeout
    /// as [`Idle::with_heartbeat`] says.
    pub fn with_heartbeat(config: &ListenerConfig, default: Duration, at_connect: bool) -> Policy {
        let every = config.heartbeat(default);
        Policy::new(config, Idle::with_heartbeat(config, every))
            .heartbeat(every.map(|every| Heartbeat { every, at_connect }))
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    PeerClosed,
    ReadFailed,
    WriteFailed,
    WriteTimeout,
    Idle,
    /// The heartbeat found the peer gone.
    Dead,
    /// The protocol closed it after a message ([`Flow::Close`]).
    Done,
    /// The plugin closed the session.
    ClosedByServer,
    /// Its outbox overflowed: a slow consumer.
    SlowConsumer,
    Shutdown,
}

/// One connection as a protocol sees it while handling a message.
pub struct Conn<O> {
    pub peer: SocketAddr,
    session: Option<SessionHandle>,
    sessions: Option<Arc<Sessions>>,
    metrics: Arc<ListenerMetrics>,
    /// Answers to this connection, written once the message is handled.
    own: Vec<O>,
    idle_disarmed: bool,
}

impl<O: Weigh + Wire + Clone + Send + Sync + 'static> Conn<O> {
    /// The session id (0 when the protocol has no sessions).
    pub fn id(&self) -> SessionId {
        self.session.as_ref().map_or(0, |s| s.id)
    }

    /// Counts a message the protocol could not decode.
    pub fn malformed(&self) {
        self.metrics.malformed.fetch_add(1, Relaxed);
    }

    /// Counts and logs a login refused unchecked by the backoff
    /// (`super::backoff`), `wait` before the next may be checked.
    pub fn throttled(&self, wait: Duration) {
        self.metrics.logins_throttled.fetch_add(1, Relaxed);
        crate::limited!(
            info,
            wait_ms = wait.as_millis() as u64,
            "login refused unchecked: too many failures"
        );
    }

    /// An answer to this connection.
    pub fn reply(&mut self, msg: O) {
        self.own.push(msg);
    }

    /// Sends each message where its target says, in order: to this
    /// connection as [`Conn::reply`], to the others through their outboxes.
    pub fn route(&mut self, outgoing: impl IntoIterator<Item = (Target, O)>) {
        let Some(sessions) = self.sessions.clone() else {
            // No sessions: every target is this connection.
            self.own.extend(outgoing.into_iter().map(|(_, m)| m));
            return;
        };
        let me = self.id();
        for (target, msg) in outgoing {
            let mut ids = sessions.resolve(&target, me);
            let before = ids.len();
            ids.retain(|s| *s != me);
            if !ids.is_empty() {
                sessions.deliver(&ids, &msg);
            }
            if ids.len() != before {
                self.own.push(msg);
            }
        }
    }

    /// Ends an [`Idle::Deadline`] (the peer logged in).
    pub fn disarm_idle(&mut self) {
        self.idle_disarmed = true;
    }
}

/// Why a call gave no answer: the plugin refused (its own error), or the
/// call failed (trap, deadline, memory cap, busy, not loaded).
#[derive(Debug)]
pub enum Failure<E> {
    Refused(E),
    NoAnswer(CallError),
}

impl<E: Display> Failure<E> {
    /// The reason, as the protocols that answer with text say it.
    pub fn reason(&self) -> String {
        match self {
            Failure::Refused(e) => e.to_string(),
            Failure::NoAnswer(e) => e.to_string(),
        }
    }
}

/// Calls an export of `plugin` that cannot refuse (see [`Plugin::call`]);
/// a call that gives no answer is logged here. `what` names the request in
/// logs.
pub async fn call<W, A, R, F>(
    plugin: &Arc<Plugin<W>>,
    what: &str,
    arg: A,
    f: F,
) -> Result<R, CallError>
where
    W: World<HostState>,
    A: Send + 'static,
    R: Send + 'static,
    F: FnOnce(&mut W::Handler<'_>, A) -> wasmtime::Result<R> + Send + 'static,
{
    logged(what, plugin.call(Lane::Work, arg, f).await)
}

/// A call that gave no answer, logged (`what` names the request).
pub fn logged<R>(what: &str, result: Result<R, CallError>) -> Result<R, CallError> {
    result.inspect_err(|e| {
        crate::limited!(warn, request = what, error = %e, "no answer from the plugin");
    })
}

/// [`call`] for an export that answers or refuses: the one place where a
/// refusal is counted and logged.
pub async fn ask<W, A, R, E, F>(
    plugin: &Arc<Plugin<W>>,
    what: &str,
    arg: A,
    f: F,
) -> Result<R, Failure<E>>
where
    W: World<HostState>,
    A: Send + 'static,
    R: Send + 'static,
    E: Debug + Send + 'static,
    F: FnOnce(&mut W::Handler<'_>, A) -> wasmtime::Result<Result<R, E>> + Send + 'static,
{
    match call(plugin, what, arg, f).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(reason)) => {
            plugin.note_component_error();
            crate::limited!(info, request = what, ?reason, "plugin refused the request");
            Err(Failure::Refused(reason))
        }
        Err(e) => Err(Failure::NoAnswer(e)),
    }
}

/// What one listener's connections share.
pub struct Driver<S: Service> {
    pub service: S,
    pub policy: Policy,
    pub listener: Arc<str>,
    pub metrics: Arc<ListenerMetrics>,
    /// The plugin's sessions, when the policy has an outbox.
    pub sessions: Option<Arc<Sessions>>,
}

impl<S: Service> Driver<S> {
    /// Runs one connection to its end, in its own span: `stream` yields
    /// decoded messages, `sink` takes outgoing ones.
    pub async fn run<St, Si, E>(
        &self,
        mut stream: St,
        mut sink: Si,
        peer: SocketAddr,
        mut state: S::State,
        shutdown: CancellationToken,
    ) where
        St: Stream<Item = Result<S::In, E>> + Unpin + Send,
        Si: Sink<S::Out> + Unpin + Send,
        Si::Error: Display,
        E: Display,
    {
        let span = tracing::info_span!(
            "conn",
            listener = %self.listener,
            %peer,
            session = tracing::field::Empty
        );
        async move {
            let service = &self.service;
            let policy = &self.policy;
            let (session, mut outbox) = match (&self.sessions, policy.outbox) {
                (Some(sessions), Some((messages, bytes))) => {
                    let (tx, rx) = outbox::channel::<S::Out>(messages, bytes);
                    let session = sessions.open(&self.listener, peer, tx);
                    tracing::Span::current().record("session", session.id);
                    (Some(session), Some(rx))
                }
                _ => (None, None),
            };
            let close = session.as_ref().map(|s| s.close.clone());
            let overflow = session.as_ref().map(|s| s.overflow.clone());
            let mut conn = Conn {
                peer,
                session,
                sessions: self.sessions.clone(),
                metrics: self.metrics.clone(),
                own: Vec::new(),
                idle_disarmed: false,
            };
            let mut writer = Writer {
                sink: &mut sink,
                timeout: policy.write_timeout,
                overflow: overflow.clone(),
                metrics: &self.metrics,
            };
            tracing::debug!("connected");

            let mut heartbeat = policy.heartbeat.map(|h| {
                let first = if h.at_connect {
                    Instant::now()
                } else {
                    Instant::now() + h.every
                };
                let mut i = tokio::time::interval_at(first, h.every);
                i.set_missed_tick_behavior(MissedTickBehavior::Delay);
                Box::new(i)
            });
            let idle = tokio::time::sleep(policy.idle.after());
            tokio::pin!(idle);

            // What is awaited only while a message is handled (the service's
            // calls, the writes) is boxed: a connection waiting for its next
            // message then holds only the small futures of the select below,
            // which is what tens of thousands of idle devices cost.
            Box::pin(service.open(&mut conn, &mut state)).await;
            let mut end = Box::pin(writer.write(std::mem::take(&mut conn.own)))
                .await
                .err();

            while end.is_none() {
                end = tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => Some(End::Shutdown),
                    _ = cancelled(&overflow) => Some(End::SlowConsumer),
                    _ = cancelled(&close) => {
                        // Closed by the plugin: send what is queued, then close.
                        let _ = Box::pin(writer.drain(&mut outbox)).await;
                        Some(End::ClosedByServer)
                    }
                    Some(first) = recv(&mut outbox) => {
                        let mut batch = vec![first];
                        take_queued(&mut outbox, &mut batch, WRITE_BATCH);
                        Box::pin(writer.write(batch)).await.err()
                    }
                    _ = tick(&mut heartbeat) => match service.heartbeat(&mut state) {
                        Some(msg) => Box::pin(writer.write(vec![msg])).await.err(),
                        None => Some(End::Dead),
                    },
                    _ = &mut idle, if !conn.idle_disarmed => Some(End::Idle),
                    next = stream.next() => match next {
                        None => Some(End::PeerClosed),
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "read failed");
                            Some(End::ReadFailed)
                        }
                        Some(Ok(msg)) => {
                            if S::counts(&msg) {
                                self.metrics.messages_in.fetch_add(1, Relaxed);
                                match policy.idle {
                                    Idle::Silence(d) => idle.as_mut().reset(Instant::now() + d),
                                    Idle::UntilFirst(_) => conn.idle_disarmed = true,
                                    Idle::Deadline(_) => {}
                                }
                            }
                            // What was queued before this message goes out
                            // before its answers, and its answers before what
                            // other calls queue meanwhile.
                            take_queued(&mut outbox, &mut conn.own, usize::MAX);
                            let flow = Box::pin(service.on_message(&mut conn, &mut state, msg)).await;
                            match Box::pin(writer.write(std::mem::take(&mut conn.own))).await {
                                Err(end) => Some(end),
                                Ok(()) if flow == Flow::Close => {
                                    let _ = Box::pin(writer.drain(&mut outbox)).await;
                                    Some(End::Done)
                                }
                                Ok(()) => None,
                            }
                        }
                    },
                };
            }
            let end = end.unwrap_or(End::Done);
            match end {
                End::Idle => crate::limited!(info, "idle timeout; closing"),
                End::Dead => crate::limited!(info, "heartbeat unanswered; closing"),
                End::WriteTimeout => {
                    crate::limited!(warn, "peer did not take its messages in time; closing")
                }
                End::SlowConsumer => crate::limited!(warn, "slow consumer; closing"),
                _ => tracing::debug!(reason = ?end, "connection ends"),
            }
            Box::pin(service.closed(&mut conn, state, end)).await;
            // Messages `closed` addressed to this connection cannot be sent.
            drop(conn);
            let _ = Box::pin(tokio::time::timeout(policy.close_timeout, sink.close())).await;
            tracing::debug!("disconnected");
        }
        .instrument(span)
        .await
    }
}

/// The writing half of a connection.
struct Writer<'a, Si> {
    sink: &'a mut Si,
    timeout: Duration,
    /// A write to a slow consumer is abandoned when it is dropped.
    overflow: Option<CancellationToken>,
    metrics: &'a ListenerMetrics,
}

impl<Si> Writer<'_, Si> {
    /// Writes `batch`, then flushes, all within the write timeout.
    async fn write<O>(&mut self, batch: Vec<O>) -> Result<(), End>
    where
        Si: Sink<O> + Unpin,
        Si::Error: Display,
    {
        if batch.is_empty() {
            return Ok(());
        }
        let n = batch.len() as u64;
        let sink = &mut *self.sink;
        let written = async {
            for m in batch {
                sink.feed(m).await?;
            }
            sink.flush().await
        };
        let overflow = self.overflow.clone();
        let result = tokio::select! {
            r = tokio::time::timeout(self.timeout, written) => r,
            _ = cancelled(&overflow) => return Err(End::SlowConsumer),
        };
        match result {
            Ok(Ok(())) => {
                self.metrics.messages_out.fetch_add(n, Relaxed);
                Ok(())
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "write failed");
                Err(End::WriteFailed)
            }
            Err(_) => Err(End::WriteTimeout),
        }
    }

    /// Writes whatever the outbox holds.
    async fn drain<O: Weigh>(&mut self, outbox: &mut Option<outbox::Receiver<O>>) -> Result<(), End>
    where
        Si: Sink<O> + Unpin,
        Si::Error: Display,
    {
        let mut queued = Vec::new();
        take_queued(outbox, &mut queued, usize::MAX);
        self.write(queued).await
    }
}

fn take_queued<O: Weigh>(outbox: &mut Option<outbox::Receiver<O>>, into: &mut Vec<O>, max: usize) {
    if let Some(rx) = outbox {
        while into.len() < max {
            match rx.try_recv() {
                Some(m) => into.push(m),
                None => break,
            }
        }
    }
}

async fn recv<O: Weigh>(outbox: &mut Option<outbox::Receiver<O>>) -> Option<O> {
    match outbox {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn cancelled(token: &Option<CancellationToken>) {
    match token {
        Some(t) => t.cancelled().await,
        None => std::future::pending().await,
    }
}

/// The next heartbeat, or never.
async fn tick(heartbeat: &mut Option<Box<tokio::time::Interval>>) {
    match heartbeat {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}
