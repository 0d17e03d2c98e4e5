//! The admin HTTP API (keep it on loopback or a private network):
//!
//! - `GET /health` — 200 when every plugin is loaded (and, in a cluster,
//!   NATS is connected), 503 otherwise
//! - `GET /metrics` — Prometheus text format
//! - `GET /plugins` — name, world, file, sha256, loaded-at, last reload
//!   error; in a cluster, what every host serves (`hosts`)
//! - `POST /plugins/{name}/reload` — reload from disk now
//! - `PUT /plugins/{name}` — a new version (the `.wasm` bytes): checked,
//!   then swapped in here, or in a cluster on every host
//! - `POST /admin/{plugin}` — JSON body to the component's `admin` export
//! - `GET /images/{plugin}/{camera}/{identify}` — a recognition's saved photo
//! - `GET /ui/` — the operator console ([`console`]), no token needed for
//!   the page itself
//!
//! With a token configured (`admin.token` or `WASMGATE_ADMIN_TOKEN`), every
//! request but `GET /health` must carry `Authorization: Bearer <token>`;
//! otherwise it is answered 401. With `[admin.tls]` it is served over
//! HTTPS only ([`Listener::Tls`]), with the listeners' TLS code.

mod console;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::cluster::Cluster;
use crate::cluster::directory::Directory;
use crate::config::AdminToken;
use crate::logs::Esc;
use crate::metrics::Metrics;
use crate::protocol::Config;
use crate::runtime::deploy::{Deployer, MAX_PLUGIN_BYTES, Refusal};
use crate::runtime::{CallError, Plugins};
use console::ImageDirs;

#[derive(Clone)]
struct AdminState {
    plugins: Plugins,
    metrics: Arc<Metrics>,
    images: Arc<ImageDirs>,
    cluster: Option<ClusterView>,
}

/// What a clustered host's admin API shows and does across hosts.
#[derive(Clone)]
pub struct ClusterView {
    pub cluster: Arc<Cluster>,
    pub directory: Arc<Directory>,
    pub deployer: Arc<Deployer>,
}

/// Where the admin API is served: plain HTTP, or HTTPS (`[admin.tls]`).
pub enum Listener {
    Plain(TcpListener),
    Tls(Https),
}

/// The admin API's TLS connections, handshaken by the transport.
pub struct Https(pub crate::transport::tls::Incoming);

impl axum::serve::Listener for Https {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        self.0.next().await
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.0.local_addr())
    }
}

/// Serves the admin API on `listener` until `shutdown`: its token, body
/// limit and the console's image directories come from `config`.
pub fn serve(
    listener: Listener,
    plugins: Plugins,
    metrics: Arc<Metrics>,
    cluster: Option<ClusterView>,
    config: &Config,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + use<> {
    let token = config.admin.effective_token();
    let max_body_bytes = config.admin.max_body_bytes;
    let images = console::image_dirs(config);
    // everything but the health probe behind the token, if there is one
    let guarded = Router::new()
        .route("/metrics", get(render_metrics))
        .route("/plugins", get(list_plugins))
        .route("/plugins/{name}/reload", post(reload))
        .route(
            "/plugins/{name}",
            put(upload).layer(DefaultBodyLimit::max(MAX_PLUGIN_BYTES)),
        )
        .route("/admin/{plugin}", post(admin_call))
        .route("/images/{plugin}/{camera}/{identify}", get(console::image))
        .route_layer(middleware::from_fn_with_state(
            token.map(Arc::new),
            require_token,
        ));
    let app = Router::new()
        .route("/health", get(health))
        .route("/ui", get(console::to_index))
        .route("/ui/", get(console::index))
        .route("/ui/app.js", get(console::script))
        .route("/ui/app.css", get(console::style))
        .merge(guarded)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(AdminState {
            plugins,
            metrics,
            images: Arc::new(images),
            cluster,
        });
    async move {
        let stopped = match listener {
            Listener::Plain(tcp) => {
                axum::serve(tcp, app)
                    .with_graceful_shutdown(shutdown.cancelled_owned())
                    .await
            }
            Listener::Tls(https) => {
                axum::serve(https, app)
                    .with_graceful_shutdown(shutdown.cancelled_owned())
                    .await
            }
        };
        if let Err(e) = stopped {
            tracing::error!(error = %e, "admin API stopped");
        }
    }
}

/// Lets a request through if no token is configured or it carries
/// `Authorization: Bearer <token>` (compared in constant time); else 401.
async fn require_token(
    State(token): State<Option<Arc<AdminToken>>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = token else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    if given.is_some_and(|g| same_secret(g.trim().as_bytes(), token.0.as_bytes())) {
        return next.run(request).await;
    }
    crate::limited!(warn, path = %Esc(request.uri().path()), "admin API: request without a valid token refused");
    let mut answer = error(
        StatusCode::UNAUTHORIZED,
        "this admin API needs Authorization: Bearer <token>",
    );
    answer.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    answer
}

/// The credentials of `Authorization: Bearer <token>`; the scheme is
/// case-insensitive (RFC 9110, 11.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

/// Equality of two secrets in time that depends on their lengths only.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

async fn health(State(s): State<AdminState>) -> Response {
    let plugins: BTreeMap<_, _> = s
        .plugins
        .all()
        .map(|p| (p.name().to_string(), p.info().loaded))
        .collect();
    let mut ok = plugins.values().all(|l| *l);
    let mut body = json!({ "plugins_loaded": plugins });
    if let Some(c) = &s.cluster {
        let connected = c.cluster.is_connected();
        ok &= connected;
        body["cluster"] = json!({
            "node": c.cluster.node,
            "connected": connected,
            "hosts": c.directory.hosts().values().map(|h| h.node.clone()).collect::<Vec<_>>(),
        });
    }
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    body["status"] = json!(if ok { "ok" } else { "degraded" });
    (status, axum::Json(body)).into_response()
}

async fn render_metrics(State(s): State<AdminState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
        .into_response()
}

/// Every plugin's state here; in a cluster each also lists the generation
/// and sha256 every live host serves (`hosts`, by node name).
async fn list_plugins(State(s): State<AdminState>) -> Response {
    let mut list: Vec<Value> = s
        .plugins
        .all()
        .map(|p| serde_json::to_value(p.info()).unwrap_or(Value::Null))
        .collect();
    if let Some(c) = &s.cluster {
        let hosts = c.directory.hosts();
        for entry in &mut list {
            let name = entry["name"].as_str().unwrap_or_default().to_string();
            let per_host: serde_json::Map<String, Value> = hosts
                .values()
                .map(|h| {
                    (
                        h.node.clone(),
                        h.status.get(&name).cloned().unwrap_or(Value::Null),
                    )
                })
                .collect();
            entry["hosts"] = Value::Object(per_host);
        }
    }
    axum::Json(list).into_response()
}

/// A new version of plugin `name`: checked here (compiled, its world, its
/// limits), then in a cluster put into the plugin bucket, from where every
/// host takes it; alone, written into the plugin directory and swapped in.
async fn upload(State(s): State<AdminState>, Path(name): Path<String>, body: Bytes) -> Response {
    let Some(plugin) = s.plugins.control(&name) else {
        return error(StatusCode::NOT_FOUND, format!("no plugin named {name:?}"));
    };
    if let Some(c) = &s.cluster {
        return match c.deployer.publish(&name, body.to_vec()).await {
            Ok(sha256) => axum::Json(json!({ "published": sha256 })).into_response(),
            Err(e @ Refusal::Unknown(_)) => error(StatusCode::NOT_FOUND, e.to_string()),
            Err(e @ Refusal::Invalid(_)) => error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
            Err(e @ Refusal::Unavailable(_)) => {
                error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
        };
    }
    let result = tokio::task::spawn_blocking(move || {
        plugin.check_bytes(&body)?;
        let path = plugin.file().to_path_buf();
        let tmp = path.with_extension("upload");
        std::fs::write(&tmp, &body)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        plugin.reload()
    })
    .await;
    match result {
        Ok(Ok(outcome)) => axum::Json(outcome).into_response(),
        Ok(Err(reason)) => error(StatusCode::UNPROCESSABLE_ENTITY, reason),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("upload task failed: {e}"),
        ),
    }
}

async fn reload(State(s): State<AdminState>, Path(name): Path<String>) -> Response {
    let Some(plugin) = s.plugins.control(&name) else {
        return error(StatusCode::NOT_FOUND, format!("no plugin named {name:?}"));
    };
    match tokio::task::spawn_blocking(move || plugin.reload()).await {
        Ok(Ok(outcome)) => axum::Json(outcome).into_response(),
        Ok(Err(reason)) => error(StatusCode::UNPROCESSABLE_ENTITY, reason),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reload task failed: {e}"),
        ),
    }
}

async fn admin_call(
    State(s): State<AdminState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let Some(plugin) = s.plugins.control(&name) else {
        return error(StatusCode::NOT_FOUND, format!("no plugin named {name:?}"));
    };
    let request = match serde_json::from_slice::<Value>(&body) {
        Ok(_) => String::from_utf8_lossy(&body).into_owned(),
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("body is not valid JSON: {e}"),
            );
        }
    };
    match plugin.admin(request).await {
        Ok(Ok(answer)) => match serde_json::from_str::<Value>(&answer) {
            Ok(v) => axum::Json(v).into_response(),
            Err(e) => error(
                StatusCode::BAD_GATEWAY,
                format!("plugin answered invalid JSON: {e}"),
            ),
        },
        Ok(Err(e)) => {
            let status = StatusCode::from_u16(e.status)
                .ok()
                .filter(|s| s.is_client_error() || s.is_server_error())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            error(status, e.message)
        }
        Err(e) => {
            let status = match e {
                CallError::NotLoaded(_) | CallError::Busy(_) | CallError::Unavailable => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                CallError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
                CallError::Memory(_) | CallError::Trap(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            error(status, e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"a"));
        assert!(same_secret(b"", b""));
    }
}
