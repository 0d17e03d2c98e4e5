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

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde::Deserialize;

use super::driver::{Conn, Failure as NoRead, Flow, Heartbeat, Idle, Policy, Service, ask, call};
use super::{Keys, Listen, Protocol};
use crate::bindings::plate::{Failure, LoginRequest, Photo, PlateWorld};
use crate::codec::plate::{self, Outcome, Recognition, Request, err, status};
use crate::config::ListenerConfig;
use crate::runtime::{CallError, Plugin};
use crate::transport::ws::{self, Message};

const DEFAULT_LOGIN_TIMEOUT_MS: u64 = 2_000;
const DEFAULT_PING: Duration = Duration::from_secs(10);
const MAX_MISSED_PINGS: u32 = 5;
/// Failed logins a connection may make before it is closed, unless the
/// listener says otherwise (the login deadline alone would allow a guess
/// every round trip).
pub const DEFAULT_LOGIN_ATTEMPTS: u32 = 3;

pub struct Plate {
    plugin: Arc<Plugin<PlateWorld>>,
    settings: Settings,
    max_message_bytes: usize,
}

/// The plate listener's own keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where each image is saved (named from camera and identify). None:
    /// images are not saved.
    pub image_dir: Option<PathBuf>,
    /// Time a new connection has to log in.
    pub login_timeout_ms: Option<u64>,
    /// Failed logins a connection may make before it is closed.
    pub login_attempts: Option<u32>,
    /// The language of plate colours in answers, `en` or `zh`. None: `en`.
    pub color_names: Option<plate::ColorNames>,
}

/// A frame from a camera.
pub enum In {
    Binary(Bytes),
    Text,
    /// A ping or a pong: the camera is there.
    Alive,
    /// Over `max_message_bytes`, or a broken stream: why.
    Unreadable(String),
}

impl Protocol for Plate {
    const NAME: &'static str = "plate";
    type World = PlateWorld;
    type Settings = Settings;
    const KEYS: Keys = Keys {
        tls: true,
        heartbeat: true,
        ws_path: true,
        ..Keys::NONE
    };
    /// Frames carry photos.
    const MAX_MESSAGE_BYTES: usize = 16 << 20;

    fn check(_: &ListenerConfig, settings: &Settings) -> anyhow::Result<()> {
        if settings.login_attempts == Some(0) {
            anyhow::bail!("login_attempts must be > 0");
        }
        Ok(())
    }

    fn start(listen: Listen<Self>) -> anyhow::Result<()> {
        let config = &listen.config;
        let settings = listen.settings.clone();
        if let Some(dir) = &settings.image_dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("creating image_dir {}: {e}", dir.display()))?;
        }
        let login_timeout = Duration::from_millis(
            settings
                .login_timeout_ms
                .unwrap_or(DEFAULT_LOGIN_TIMEOUT_MS),
        );
        let ping = config.heartbeat(DEFAULT_PING).unwrap_or(DEFAULT_PING);
        let policy =
            Policy::new(config, Idle::Deadline(login_timeout)).heartbeat(Some(Heartbeat {
                every: ping,
                at_connect: false,
            }));
        let attempts = settings.login_attempts.unwrap_or(DEFAULT_LOGIN_ATTEMPTS);
        let service = Plate {
            plugin: listen.plugin.clone(),
            settings,
            max_message_bytes: config.max_message_bytes(),
        };
        let driver = listen.driver(service, policy);
        // The original served /park1, /park2, ...: any path unless ws_path names one.
        listen.serve_ws("", move |socket, peer, shutdown| {
            let driver = driver.clone();
            async move {
                let (sink, frames) = socket.split();
                let frames = ws::messages(frames).filter_map(|m| async move {
                    Some(Ok::<_, std::convert::Infallible>(match m {
                        Ok(Message::Binary(b)) => In::Binary(b),
                        Ok(Message::Text(_)) => In::Text,
                        Ok(Message::Ping(_) | Message::Pong(_)) => In::Alive,
                        Ok(_) => return None,
                        Err(e) => In::Unreadable(e.to_string()),
                    }))
                });
                let state = (LoginState::new(attempts), 0);
                driver
                    .run(Box::pin(frames), sink, peer, state, shutdown)
                    .await
            }
        })
    }
}

/// Where a connection stands with its login.
pub struct LoginState {
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
    fn failed(&mut self) -> (Vec<u8>, Flow) {
        self.failures += 1;
        let close = self.logged_in() || self.failures >= self.max_failures;
        (
            plate::login_response(false),
            if close { Flow::Close } else { Flow::Continue },
        )
    }
}

impl Service for Plate {
    type In = In;
    type Out = Message;
    /// The login, and the pings not answered.
    type State = (LoginState, u32);

    fn counts(msg: &In) -> bool {
        !matches!(msg, In::Alive)
    }

    async fn on_message(
        &self,
        conn: &mut Conn<Message>,
        (login, missed): &mut (LoginState, u32),
        msg: In,
    ) -> Flow {
        *missed = 0;
        let (answer, flow) = match msg {
            In::Alive => return Flow::Continue,
            In::Binary(frame) => {
                let (answer, flow) = self.answer(conn, &frame, login).await;
                if login.logged_in() {
                    conn.disarm_idle();
                }
                (answer, flow)
            }
            In::Text => {
                conn.malformed();
                tracing::info!("text frame refused");
                (malformed(), Flow::Continue)
            }
            In::Unreadable(error) => {
                // Say so if we can, then close.
                conn.malformed();
                tracing::info!(%error, "unreadable frame; closing");
                (malformed(), Flow::Close)
            }
        };
        conn.reply(Message::Binary(answer.into()));
        flow
    }

    fn heartbeat(&self, (_, missed): &mut (LoginState, u32)) -> Option<Message> {
        if *missed >= MAX_MISSED_PINGS {
            return None;
        }
        *missed += 1;
        Some(Message::Ping(Default::default()))
    }
}

/// The answer to a frame that could not be read.
fn malformed() -> Vec<u8> {
    plate::recognition_response("", "", &Outcome::Failed(err::MALFORMED))
}

impl Plate {
    async fn answer(
        &self,
        conn: &Conn<Message>,
        frame: &[u8],
        login: &mut LoginState,
    ) -> (Vec<u8>, Flow) {
        match plate::decode(frame, self.max_message_bytes) {
            Err(refused) => {
                conn.malformed();
                tracing::info!(code = refused.code, reason = %refused.reason, "request refused");
                if refused.login {
                    return login.failed();
                }
                let outcome = Outcome::Failed(refused.code);
                (
                    plate::recognition_response(&refused.camera, &refused.identify, &outcome),
                    Flow::Continue,
                )
            }
            Ok(Request::Login(request)) => {
                let identity = (request.city.clone(), request.park.clone(), request.server);
                if let Some(current) = &login.identity {
                    // The original answers a repeated login from its
                    // session, without looking at the token again.
                    return if *current == identity {
                        (plate::login_response(true), Flow::Continue)
                    } else {
                        tracing::info!(city = %identity.0, park = %identity.1, "second login with another City/Park/Server; closing");
                        login.failed()
                    };
                }
                let request = LoginRequest {
                    city: request.city,
                    park: request.park,
                    server: request.server,
                    token: request.token,
                };
                let result = call(&self.plugin, "login", request, |h, r| h.login(r)).await;
                let (city, park) = (&identity.0, &identity.1);
                // The token is a credential: never logged.
                if let Ok(true) = result {
                    tracing::info!(%city, %park, "logged in");
                    login.identity = Some(identity);
                    (plate::login_response(true), Flow::Continue)
                } else {
                    tracing::info!(%city, %park, attempt = login.failures + 1, "login refused");
                    login.failed()
                }
            }
            Ok(Request::Recognition(r)) if !login.logged_in() => {
                tracing::info!(camera = %r.camera, "recognition before login refused");
                (
                    plate::recognition_response(
                        &r.camera,
                        &r.identify,
                        &Outcome::Failed(err::NOT_LOGGED_IN),
                    ),
                    Flow::Continue,
                )
            }
            Ok(Request::Recognition(r)) => {
                let outcome = self.recognize(&r).await;
                (
                    plate::recognition_response(&r.camera, &r.identify, &outcome),
                    Flow::Continue,
                )
            }
        }
    }

    async fn recognize(&self, r: &Recognition) -> Outcome {
        let Some(name) = image_name(&r.camera, &r.identify, &r.image) else {
            tracing::info!(camera = %r.camera, identify = %r.identify, "no usable image name");
            return Outcome::Failed(err::IMAGE_NAME);
        };
        let save = self.settings.image_dir.clone().map(|dir| {
            let image = r.image.clone();
            tokio::task::spawn_blocking(move || save_image(&dir, &name, &image))
        });
        let photo = Photo {
            camera: r.camera.clone(),
            identify: r.identify.clone(),
            image: r.image.to_vec(),
        };
        let outcome = match ask(&self.plugin, "recognition", photo, |h, p| h.recognize(p)).await {
            Ok(p) => Outcome::Success {
                color: plate::colour_name(p.colour, self.settings.color_names.unwrap_or_default())
                    .into(),
                plate: p.plate,
            },
            Err(NoRead::Refused(failure)) => Outcome::Failed(match failure {
                Failure::NotRecognised => err::NOT_RECOGNISED,
                Failure::ImageNameError => err::IMAGE_NAME,
                Failure::ImageDisplayError => err::IMAGE_DISPLAY,
                Failure::RecogniserError => err::RECOGNISER,
            }),
            Err(NoRead::NoAnswer(CallError::Busy(_))) => Outcome::Status(status::REFUSE),
            Err(NoRead::NoAnswer(CallError::Timeout(_))) => Outcome::Failed(err::TIMEOUT),
            Err(NoRead::NoAnswer(_)) => Outcome::Failed(err::RECOGNISER),
        };
        let saved = match save {
            None => Ok(None),
            Some(task) => task
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map(Some)),
        };
        // The result is logged whatever happens next, so a failed save loses nothing.
        tracing::info!(camera = %r.camera, identify = %r.identify, ?outcome, "recognition");
        match saved {
            Ok(path) => {
                if let Some(path) = path {
                    tracing::debug!(path = %path.display(), "image saved");
                }
                outcome
            }
            Err(e) => {
                tracing::error!(camera = %r.camera, identify = %r.identify, error = %e, "image not saved");
                Outcome::Failed(err::IMAGE_SAVE)
            }
        }
    }
}

/// `<camera>_<identify>.<ext>`, keeping letters, digits, `-` and `.` of
/// each; None when nothing usable is left.
fn image_name(camera: &str, identify: &str, image: &[u8]) -> Option<String> {
    let ext = if image.starts_with(&[0xff, 0xd8]) {
        "jpg"
    } else if image.starts_with(b"\x89PNG") {
        "png"
    } else {
        "bin"
    };
    Some(format!("{}.{ext}", image_stem(camera, identify)?))
}

/// The extensions an image is saved with ([`image_name`]).
pub const IMAGE_EXTENSIONS: [&str; 3] = ["jpg", "png", "bin"];

/// `<camera>_<identify>`, the name of a saved image without its extension
/// (letters, digits, `-` and `.` of each, never a path); None when nothing
/// usable is left. The admin API finds the image of a recognition by it.
pub fn image_stem(camera: &str, identify: &str) -> Option<String> {
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
    Some(format!("{camera}_{identify}"))
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
