//! The locker board ("ACon") listener: one report in, one answer out, on a
//! connection that stays open. The codec decodes; the `locker` plugin
//! decides the answer; the host writes ID and SEND back from the report so
//! the device can match the answer to its request. Each answer goes out in
//! one write (the original board reads it with one `recv(1024)`). The
//! technician commands (`ip`, `info`, ... and `exit`) are the host's own.
//! An idle board holds no buffers ([`Lean`]).

use std::net::SocketAddr;
use std::sync::Arc;

use futures::StreamExt;

use super::driver::{Conn, Flow, Idle, Policy, Service, ask};
use super::{Keys, Listen, NoSettings, Protocol};
use crate::bindings::locker::{Answer, LockerWorld};
use crate::codec::locker::{Inbound, LockerCodec, Outbound, Report, valid_code};
use crate::logs::Esc;
use crate::runtime::Plugin;
use crate::state::outbox::Weigh;
use crate::transport::tcp::{Lean, Whole};

pub struct Locker {
    plugin: Arc<Plugin<LockerWorld>>,
}

impl Protocol for Locker {
    const NAME: &'static str = "locker";
    type World = LockerWorld;
    type Settings = NoSettings;
    const KEYS: Keys = Keys::NONE;

    fn start(listen: Listen<Self>) -> anyhow::Result<()> {
        let max = listen.config.max_message_bytes();
        let message_timeout = listen.config.message_timeout();
        let policy = Policy::new(&listen.config, Idle::Silence(listen.config.idle_timeout()));
        let plugin = listen.plugin.clone();
        let driver = listen.driver(Locker { plugin }, policy);
        listen.serve_tcp(move |stream, peer, shutdown| {
            let driver = driver.clone();
            async move {
                let local = stream.local_addr().ok();
                let lean = Lean::new(stream, LockerCodec::new(max));
                let (sink, stream) = Whole::new(lean, message_timeout).split();
                driver.run(stream, sink, peer, local, shutdown).await
            }
        });
        Ok(())
    }
}

impl Service for Locker {
    type In = Inbound;
    type Out = Outbound;
    /// The connection's local address (for the technician commands).
    type State = Option<SocketAddr>;

    async fn on_message(
        &self,
        conn: &mut Conn<Outbound>,
        local: &mut Option<SocketAddr>,
        msg: Inbound,
    ) -> Flow {
        let out = match msg {
            Inbound::Malformed(reason) => {
                conn.malformed();
                crate::limited!(info, reason = %Esc(&reason), "malformed message refused");
                Outbound::Error(reason)
            }
            Inbound::Report(report) => self.answer(report).await,
            Inbound::Addresses => match local {
                Some(local) => Outbound::Addresses {
                    peer: conn.peer,
                    local: *local,
                },
                None => Outbound::Error("local address unknown".to_string()),
            },
            Inbound::Quit => {
                tracing::debug!("quit by the peer");
                return Flow::Close;
            }
        };
        conn.reply(out);
        Flow::Continue
    }
}

impl Locker {
    async fn answer(&self, report: Report) -> Outbound {
        let (id, send) = (report.id.clone(), report.send);
        match ask(&self.plugin, "report", report, |h, r| h.handle(r)).await {
            Ok(answer) => answer_from_wit(id.clone(), send, answer).unwrap_or_else(|reason| {
                self.plugin.note_component_error();
                tracing::error!(device = %id, %reason, "plugin answer refused");
                Outbound::Error(reason)
            }),
            Err(failure) => Outbound::Error(failure.reason()),
        }
    }
}

/// The plugin's answer, checked so that nothing it returns can break the
/// framing of the line protocol.
fn answer_from_wit(id: String, send: u64, a: Answer) -> Result<Outbound, String> {
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

/// Not a session: nothing crosses to another host.
impl crate::state::outbox::Wire for Outbound {}

impl Weigh for Outbound {
    /// Answers are written at once, never queued; near enough.
    fn weight(&self) -> usize {
        match self {
            Outbound::Answer { cells, .. } => 64 + 24 * cells.len(),
            Outbound::Error(reason) => 8 + reason.len(),
            Outbound::Addresses { .. } => 64,
        }
    }
}
