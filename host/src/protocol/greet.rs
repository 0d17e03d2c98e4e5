//! The greeting protocol, the README's "Add a protocol" example: one line
//! `HELLO <name>` in, the plugin's greeting out, on a connection that
//! stays open.

use std::sync::Arc;

use super::driver::{Conn, Flow, Idle, Policy, Service, ask};
use super::{Keys, Listen, NoSettings, Protocol};
use crate::bindings::greet::GreetWorld;
use crate::codec::greet::{GreetCodec, Inbound};
use crate::runtime::Plugin;

pub struct Greet {
    plugin: Arc<Plugin<GreetWorld>>,
}

impl Protocol for Greet {
    const NAME: &'static str = "greet";
    type World = GreetWorld;
    type Settings = NoSettings;
    const KEYS: Keys = Keys {
        tls: true,
        ..Keys::NONE
    };

    fn start(listen: Listen<Self>) -> anyhow::Result<()> {
        let policy = Policy::new(&listen.config, Idle::Silence(listen.config.idle_timeout()));
        let max = listen.config.max_message_bytes();
        let plugin = listen.plugin.clone();
        let driver = listen.driver(Greet { plugin }, policy);
        listen.serve_framed(driver, move || GreetCodec::new(max))
    }
}

impl Service for Greet {
    type In = Inbound;
    type Out = String;
    type State = ();

    async fn on_message(&self, conn: &mut Conn<String>, _: &mut (), line: Inbound) -> Flow {
        let answer = match line {
            Inbound::Hello(name) => match ask(&self.plugin, "greet", name, |h, n| h.greet(n)).await
            {
                Ok(greeting) => greeting,
                Err(failure) => format!("ERROR {}", failure.reason()),
            },
            Inbound::Malformed(reason) => {
                conn.malformed();
                format!("ERROR {reason}")
            }
        };
        conn.reply(answer);
        Flow::Continue
    }
}
