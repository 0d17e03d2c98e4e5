//! The plate-recognition listener (WebSocket binary frames, any path).
//!
//! Session rules, as the original server: a connection must log in within
//! `login_timeout_ms` (default 2 s) of connecting. A failed login answers
//! status 1 and leaves the connection open until that deadline, so a camera
//! may retry, up to `login_attempts` failures in all (default
//! [`DEFAULT_LOGIN_ATTEMPTS`]). A second login on a logged-in connection
//! answers 0 when City, Park and Server are the same, otherwise 1 and the
//! connection is closed. The server pings every `heartbeat_ms` (default
//! 10 s) and closes after 5 unanswered pings. Every image is saved to
//! `image_dir`. Whatever goes wrong becomes the protocol's answer: status 1
//! with an errCode, or status 3 (refuse) when every recogniser slot is busy.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::codec::plate::{self, Outcome, Recognition, Request, err, status};
use crate::config::ListenerConfig;
use crate::metrics::ListenerMetrics;
use crate::native;
use crate::runtime::worlds::PlateWorld;
use crate::runtime::worlds::plate::exports::wasmgate::plugin::plate_handler::{
    Failure, LoginRequest,
};
use crate::runtime::{CallError, Plugin};
use crate::transport::ws::{BoxedIo, Message};

const DEFAULT_LOGIN_TIMEOUT_MS: u64 = 2_000;
const DEFAULT_PING_MS: u64 = 10_000;
const MAX_MISSED_PINGS: u32 = 5;
/// Failed logins a connection may make before it is closed, unless the
/// listener says otherwise (the login deadline alone would allow a guess
/// every round trip).
pub const DEFAULT_LOGIN_ATTEMPTS: u32 = 3;

/// Where a connection stands with its login.
struct LoginState {
    /// City, Park and Server of the successful login.
    identity: Option<(String, String, u8)>,
    failures: u32,
    max_failures: u32,
}

impl LoginState {
    fn new(max_failures: u32) -> Self {
        LoginState {
            identity: None,
            failures: 0,
            max_failures,
        }
    }

    fn logged_in(&self) -> bool {
        self.identity.is_some()
    }

    /// A failed attempt: the answer 1, and whether the connection closes
    /// (a logged-in connection whose login changed, or attempts used up).
    fn failed(&mut self) -> (Vec<u8>, Next) {
        self.failures += 1;
        let close = self.logged_in() || self.failures >= self.max_failures;
        (
            plate::login_response(false),
            if close { Next::Close } else { Next::Continue },
        )
    }
}

struct PlateService {
    config: ListenerConfig,
    plugin: Arc<Plugin<PlateWorld>>,
    metrics: Arc<ListenerMetrics>,
    login_timeout: Duration,
    login_attempts: u32,
    ping_every: Duration,
}

pub fn start(
    config: &ListenerConfig,
    listener: TcpListener,
    shared: &Shared,
) -> anyhow::Result<()> {
    if let Some(dir) = &config.image_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("creating image_dir {}: {e}", dir.display()))?;
    }
    let service = Arc::new(PlateService {
        config: config.clone(),
        plugin: shared.plugin(config)?,
        metrics: shared.metrics.listener(&config.name, &config.protocol),
        login_timeout: Duration::from_millis(
            config.login_timeout_ms.unwrap_or(DEFAULT_LOGIN_TIMEOUT_MS),
        ),
        login_attempts: config.login_attempts.unwrap_or(DEFAULT_LOGIN_ATTEMPTS),
        ping_every: Duration::from_millis(config.heartbeat_ms.unwrap_or(DEFAULT_PING_MS).max(1)),
    });
    // The original served /park1, /park2, ...: any path unless ws_path names one.
    let settings = Shared::ws_settings(config, "");
    shared.serve_ws(
        config,
        listener,
        settings,
        service.metrics.clone(),
        move |socket, peer, shutdown| {
            let service = service.clone();
            async move { service.serve(socket, peer, shutdown).await }
        },
    )
}

/// What to do with the connection after an answer.
enum Next {
    Continue,
    Close,
}

impl PlateService {
    async fn serve(
        &self,
        socket: WebSocketStream<BoxedIo>,
        peer: SocketAddr,
        shutdown: CancellationToken,
    ) {
        let listener = &*self.config.name;
        let (mut sink, mut stream) = socket.split();
        let mut login = LoginState::new(self.login_attempts);
        let login_deadline = tokio::time::sleep(self.login_timeout);
        tokio::pin!(login_deadline);
        let mut pings = tokio::time::interval_at(
            tokio::time::Instant::now() + self.ping_every,
            self.ping_every,
        );
        pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut missed = 0u32;
        loop {
            let reply = tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = &mut login_deadline, if !login.logged_in() => {
                    tracing::info!(listener, %peer, "no login in time; closing");
                    break;
                }
                _ = pings.tick() => {
                    if missed >= MAX_MISSED_PINGS {
                        tracing::info!(listener, %peer, missed, "pings unanswered; closing");
                        break;
                    }
                    missed += 1;
                    (Message::Ping(Default::default()), Next::Continue)
                }
                msg = stream.next() => match msg {
                    None | Some(Ok(Message::Close(_))) => break,
                    Some(Ok(Message::Pong(_))) => {
                        missed = 0;
                        continue;
                    }
                    Some(Ok(Message::Binary(frame))) => {
                        missed = 0;
                        self.metrics.messages_in.fetch_add(1, Relaxed);
                        let (answer, next) = self.answer(&frame, &mut login, peer).await;
                        (Message::Binary(answer.into()), next)
                    }
                    Some(Ok(Message::Text(_))) => {
                        self.metrics.messages_in.fetch_add(1, Relaxed);
                        self.metrics.malformed.fetch_add(1, Relaxed);
                        tracing::info!(listener, %peer, "text frame refused");
                        let answer = plate::recognition_response("", "", &Outcome::Failed(err::MALFORMED));
                        (Message::Binary(answer.into()), Next::Continue)
                    }
                    Some(Ok(_)) => continue, // pings are answered by tungstenite
                    Some(Err(e)) => {
                        // Over max_message_bytes, or a broken stream: say so if we can, then close.
                        self.metrics.malformed.fetch_add(1, Relaxed);
                        tracing::info!(listener, %peer, error = %e, "unreadable frame; closing");
                        let answer = plate::recognition_response("", "", &Outcome::Failed(err::MALFORMED));
                        (Message::Binary(answer.into()), Next::Close)
                    }
                },
            };
            let counts = matches!(reply.0, Message::Binary(_));
            match tokio::time::timeout(self.config.write_timeout(), sink.send(reply.0)).await {
                Ok(Ok(())) if counts => {
                    self.metrics.messages_out.fetch_add(1, Relaxed);
                }
                Ok(Ok(())) => {}
                _ => {
                    tracing::debug!(listener, %peer, "write failed; closing");
                    break;
                }
            }
            if let Next::Close = reply.1 {
                break;
            }
        }
        let _ = tokio::time::timeout(self.config.write_timeout(), sink.close()).await;
        tracing::debug!(listener, %peer, "disconnected");
    }

    async fn answer(
        &self,
        frame: &[u8],
        login: &mut LoginState,
        peer: SocketAddr,
    ) -> (Vec<u8>, Next) {
        let listener = &*self.config.name;
        match plate::decode(frame, self.config.max_message_bytes()) {
            Err(refused) => {
                self.metrics.malformed.fetch_add(1, Relaxed);
                tracing::info!(listener, %peer, code = refused.code, reason = %refused.reason, "request refused");
                if refused.login {
                    return login.failed();
                }
                let outcome = Outcome::Failed(refused.code);
                (
                    plate::recognition_response(&refused.camera, &refused.identify, &outcome),
                    Next::Continue,
                )
            }
            Ok(Request::Login(request)) => {
                let identity = (request.city.clone(), request.park.clone(), request.server);
                if let Some(current) = &login.identity {
                    // The original answers a repeated login from its
                    // session, without looking at the token again.
                    return if *current == identity {
                        (plate::login_response(true), Next::Continue)
                    } else {
                        tracing::info!(listener, %peer, city = %identity.0, park = %identity.1, "second login with another City/Park/Server; closing");
                        login.failed()
                    };
                }
                let request = LoginRequest {
                    city: request.city,
                    park: request.park,
                    server: request.server,
                    token: request.token,
                };
                let result = self
                    .plugin
                    .call(
                        request,
                        |b, store, request| {
                            b.wasmgate_plugin_plate_handler()
                                .call_login(store, &request)
                        },
                        native::plate::login,
                    )
                    .await;
                let (city, park) = (&identity.0, &identity.1);
                // The token is a credential: never logged.
                match &result {
                    Ok(true) => tracing::info!(listener, %peer, %city, %park, "logged in"),
                    Ok(false) => {
                        tracing::info!(listener, %peer, %city, %park, attempt = login.failures + 1, "login refused")
                    }
                    Err(e) => tracing::warn!(listener, %peer, error = %e, "login not decided"),
                }
                if matches!(result, Ok(true)) {
                    login.identity = Some(identity);
                    (plate::login_response(true), Next::Continue)
                } else {
                    login.failed()
                }
            }
            Ok(Request::Recognition(r)) if !login.logged_in() => {
                tracing::info!(listener, %peer, camera = %r.camera, "recognition before login refused");
                (
                    plate::recognition_response(
                        &r.camera,
                        &r.identify,
                        &Outcome::Failed(err::NOT_LOGGED_IN),
                    ),
                    Next::Continue,
                )
            }
            Ok(Request::Recognition(r)) => {
                let outcome = self.recognize(&r, peer).await;
                (
                    plate::recognition_response(&r.camera, &r.identify, &outcome),
                    Next::Continue,
                )
            }
        }
    }

    async fn recognize(&self, r: &Recognition, peer: SocketAddr) -> Outcome {
        let listener = &*self.config.name;
        let Some(name) = image_name(&r.camera, &r.identify, &r.image) else {
            tracing::info!(listener, %peer, camera = %r.camera, identify = %r.identify, "no usable image name");
            return Outcome::Failed(err::IMAGE_NAME);
        };
        let save = self.config.image_dir.clone().map(|dir| {
            let image = r.image.clone();
            tokio::task::spawn_blocking(move || save_image(&dir, &name, &image))
        });
        let (camera, identify, image) = (r.camera.clone(), r.identify.clone(), r.image.to_vec());
        let result = self
            .plugin
            .call(
                image,
                move |b, store, image| {
                    b.wasmgate_plugin_plate_handler()
                        .call_recognize(store, &camera, &identify, &image)
                },
                native::plate::recognize,
            )
            .await;
        let outcome = match result {
            Ok(Ok(p)) => Outcome::Success {
                color: plate::colour_name(p.colour, self.config.color_names.unwrap_or_default())
                    .into(),
                plate: p.plate,
            },
            Ok(Err(failure)) => Outcome::Failed(match failure {
                Failure::NotRecognised => err::NOT_RECOGNISED,
                Failure::ImageNameError => err::IMAGE_NAME,
                Failure::ImageDisplayError => err::IMAGE_DISPLAY,
                Failure::RecogniserError => err::RECOGNISER,
            }),
            Err(CallError::Busy(_)) => Outcome::Status(status::REFUSE),
            Err(CallError::Timeout(_)) => Outcome::Failed(err::TIMEOUT),
            Err(e) => {
                tracing::warn!(listener, %peer, error = %e, "recogniser failed");
                Outcome::Failed(err::RECOGNISER)
            }
        };
        let saved = match save {
            None => Ok(None),
            Some(task) => task
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map(Some)),
        };
        // The result is logged whatever happens next, so a failed save loses nothing.
        tracing::info!(listener, %peer, camera = %r.camera, identify = %r.identify, ?outcome, "recognition");
        match saved {
            Ok(path) => {
                if let Some(path) = path {
                    tracing::debug!(listener, path = %path.display(), "image saved");
                }
                outcome
            }
            Err(e) => {
                tracing::error!(listener, %peer, camera = %r.camera, identify = %r.identify, error = %e, "image not saved");
                Outcome::Failed(err::IMAGE_SAVE)
            }
        }
    }
}

/// `<camera>_<identify>.<ext>`, keeping letters, digits, `-` and `.` of
/// each; None when nothing usable is left.
fn image_name(camera: &str, identify: &str, image: &[u8]) -> Option<String> {
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
            .collect::<String>()
            .trim_matches('.')
            .to_string()
    };
    let (camera, identify) = (clean(camera), clean(identify));
    if camera.is_empty() || identify.is_empty() {
        return None;
    }
    let ext = if image.starts_with(&[0xff, 0xd8]) {
        "jpg"
    } else if image.starts_with(b"\x89PNG") {
        "png"
    } else {
        "bin"
    };
    Some(format!("{camera}_{identify}.{ext}"))
}

fn save_image(dir: &Path, name: &str, image: &[u8]) -> Result<PathBuf, String> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, image)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("{}: {e}", path.display())
        })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_are_safe() {
        assert_eq!(
            image_name("cam1", "2024-01-01", b"\xff\xd8x").as_deref(),
            Some("cam1_2024-01-01.jpg")
        );
        assert_eq!(
            image_name("../../etc", "x/y", b"\x89PNG").as_deref(),
            Some("etc_xy.png")
        );
        assert_eq!(image_name("", "id", b""), None);
        assert_eq!(image_name("///", "id", b""), None);
    }
}
