//! Protocols defined in configuration alone: a generic framing (see
//! [`crate::codec::frames`]) and a component of world `raw`. Every
//! connection is a session of the plugin; the component's outgoing frames
//! are routed through the plugin's sessions (reply, another session, a
//! group), so components can build chats, relays and request/response
//! protocols alike.

use std::sync::Arc;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;

use super::driver::{Conn, End, Failure, Flow, Idle, Policy, Service, ask, call};
use super::{Keys, Listen, Protocol};
use crate::bindings::raw::{Outgoing, RawWorld};
use crate::codec::frames::{Frame, FrameCodec, Framing};
use crate::config::ListenerConfig;
use crate::logs::Esc;
use crate::runtime::Plugin;
use crate::state::sessions::Target;
use crate::transport::ws::{self, Message, Utf8Bytes};

pub struct Raw {
    plugin: Arc<Plugin<RawWorld>>,
    error_reply: Option<String>,
}

/// A raw listener's own keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// How the byte stream is cut into frames (`[listener.framing]`).
    pub framing: Framing,
    /// A frame sent back when input is refused or the plugin fails;
    /// `{reason}` is replaced by the reason. None: nothing is sent (the
    /// reason is logged).
    pub error_reply: Option<String>,
}

impl Protocol for Raw {
    const NAME: &'static str = "raw";
    type World = RawWorld;
    type Settings = Settings;
    const KEYS: Keys = Keys {
        tls: true,
        ws_path: true,
        outbox: true,
        ..Keys::NONE
    };

    fn check(config: &ListenerConfig, settings: &Settings) -> anyhow::Result<()> {
        settings
            .framing
            .validate(config.max_message_bytes())
            .map_err(|e| anyhow::anyhow!("listener {:?}: framing: {e}", config.name))?;
        if config.ws_path.is_some() && !matches!(settings.framing, Framing::Websocket { .. }) {
            anyhow::bail!(
                "listener {:?}: `ws_path` applies to the websocket framing only",
                config.name
            );
        }
        Ok(())
    }

    fn start(listen: Listen<Self>) -> anyhow::Result<()> {
        let config = &listen.config;
        let policy = Policy::new(config, Idle::Silence(config.idle_timeout())).sessions(config);
        let framing = listen.settings.framing.clone();
        let max = config.max_message_bytes();
        let service = Raw {
            plugin: listen.plugin.clone(),
            error_reply: listen.settings.error_reply.clone(),
        };
        let driver = listen.driver(service, policy);
        if let Framing::Websocket { text } = framing {
            return listen.serve_ws("/", None, move |socket, peer, shutdown, _| {
                let driver = driver.clone();
                async move {
                    let (sink, messages) = socket.split();
                    // Text and binary messages alike are frames.
                    let frames = ws::messages(messages).filter_map(|m| async move {
                        match m {
                            Ok(Message::Text(t)) => Some(Ok(Frame::Frame(Bytes::from(t)))),
                            Ok(Message::Binary(b)) => Some(Ok(Frame::Frame(b))),
                            Ok(_) => None,
                            Err(e) => Some(Err(e)),
                        }
                    });
                    // Outgoing frames: text when `text` is set and the frame
                    // is UTF-8, binary otherwise.
                    let sink = sink.with(move |b: Bytes| {
                        std::future::ready(Ok::<_, ws::WsError>(
                            match Utf8Bytes::try_from(b.clone()) {
                                Ok(t) if text => Message::Text(t),
                                _ => Message::Binary(b),
                            },
                        ))
                    });
                    driver
                        .run(Box::pin(frames), Box::pin(sink), peer, (), shutdown)
                        .await
                }
            });
        }
        listen.serve_framed(driver, move || FrameCodec::new(framing.clone(), max))
    }
}

impl Service for Raw {
    type In = Frame;
    type Out = Bytes;
    type State = ();

    async fn open(&self, conn: &mut Conn<Bytes>, _: &mut ()) {
        let id = conn.id();
        let opened = ask(&self.plugin, "opened", id, |h, id| h.opened(id)).await;
        self.deliver(conn, opened);
    }

    async fn on_message(&self, conn: &mut Conn<Bytes>, _: &mut (), frame: Frame) -> Flow {
        match frame {
            Frame::Frame(data) => {
                let id = conn.id();
                let data = data.to_vec();
                let answer = ask(&self.plugin, "frame", data, move |h, d| h.handle(id, d)).await;
                self.deliver(conn, answer);
            }
            Frame::Oversize(reason) => {
                conn.malformed();
                crate::limited!(info, reason = %Esc(&reason), "frame refused");
                self.error_reply(conn, &reason);
            }
        }
        Flow::Continue
    }

    async fn closed(&self, conn: &mut Conn<Bytes>, _: (), _: End) {
        let id = conn.id();
        let closed = call(&self.plugin, "closed", id, |h, id| h.closed(id)).await;
        self.deliver(conn, closed.map_err(Failure::NoAnswer));
    }
}

impl Raw {
    /// A call's outgoing frames, or the error reply when it gave none.
    fn deliver(&self, conn: &mut Conn<Bytes>, answer: Result<Vec<Outgoing>, Failure<String>>) {
        match answer {
            Ok(outgoing) => conn.route(
                outgoing
                    .into_iter()
                    .map(|o| (Target::from(o.to), Bytes::from(o.frame))),
            ),
            Err(failure) => self.error_reply(conn, &failure.reason()),
        }
    }

    fn error_reply(&self, conn: &mut Conn<Bytes>, reason: &str) {
        if let Some(template) = &self.error_reply {
            conn.reply(Bytes::from(template.replace("{reason}", reason)));
        }
    }
}
