//! The smart-home listener: one command word in, one answer out, then the
//! connection closes (the original client reads until the server closes).
//! The `smarthome` plugin decides the answer; a failure of any kind becomes
//! the error frame.

use std::sync::Arc;

use bytes::Bytes;

use super::driver::{Conn, Flow, Idle, Policy, Service, ask};
use super::{Keys, Listen, NoSettings, Protocol};
use crate::bindings::smarthome::SmartHomeWorld;
use crate::codec::smarthome::{Answer, SmartHomeCodec};
use crate::runtime::Plugin;
use crate::state::outbox::Weigh;

pub struct SmartHome {
    plugin: Arc<Plugin<SmartHomeWorld>>,
}

impl Protocol for SmartHome {
    const NAME: &'static str = "smarthome";
    type World = SmartHomeWorld;
    type Settings = NoSettings;
    const KEYS: Keys = Keys::NONE;

    fn start(listen: Listen<Self>) -> anyhow::Result<()> {
        // The idle timeout bounds the wait for the command word.
        let policy = Policy::new(&listen.config, Idle::Silence(listen.config.idle_timeout()));
        let plugin = listen.plugin.clone();
        let driver = listen.driver(SmartHome { plugin }, policy);
        listen.serve_framed(driver, || SmartHomeCodec)
    }
}

impl Service for SmartHome {
    type In = u32;
    type Out = Answer;
    type State = ();

    async fn on_message(&self, conn: &mut Conn<Answer>, _: &mut (), command: u32) -> Flow {
        let answer = match ask(&self.plugin, "command", command, |h, c| h.handle(c)).await {
            Ok(r) => Answer {
                command: r.command,
                payload: Bytes::from(r.payload),
            },
            Err(failure) => Answer::error(&failure.reason()),
        };
        tracing::debug!(command, bytes = answer.payload.len(), "answered");
        conn.reply(answer);
        // The client reads until the server closes.
        Flow::Close
    }
}

/// Not a session: nothing crosses to another host.
impl crate::state::outbox::Wire for Answer {}

impl Weigh for Answer {
    fn weight(&self) -> usize {
        8 + self.payload.len()
    }
}
