//! The admin HTTP API (keep it on loopback or a private network):
//!
//! - `GET /health` — 200 when every plugin is loaded, 503 otherwise
//! - `GET /metrics` — Prometheus text format
//! - `GET /plugins` — name, world, file, sha256, loaded-at, last reload error
//! - `POST /plugins/{name}/reload` — reload from disk now
//! - `POST /admin/{plugin}` — JSON body to the component's `admin` export
//!
//! With a token configured (`admin.token` or `WASMGATE_ADMIN_TOKEN`), every
//! request but `GET /health` must carry `Authorization: Bearer <token>`;
//! otherwise it is answered 401.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::AdminToken;
use crate::logs::Esc;
use crate::metrics::Metrics;
use crate::runtime::{CallError, Plugins};

#[derive(Clone)]
struct AdminState {
    plugins: Plugins,
    metrics: Arc<Metrics>,
}

pub async fn serve(
    listener: TcpListener,
    plugins: Plugins,
    metrics: Arc<Metrics>,
    max_body_bytes: usize,
    token: Option<AdminToken>,
    shutdown: CancellationToken,
) {
    // everything but the health probe behind the token, if there is one
    let guarded = Router::new()
        .route("/metrics", get(render_metrics))
        .route("/plugins", get(list_plugins))
        .route("/plugins/{name}/reload", post(reload))
        .route("/admin/{plugin}", post(admin_call))
        .route_layer(middleware::from_fn_with_state(
            token.map(Arc::new),
            require_token,
        ));
    let app = Router::new()
        .route("/health", get(health))
        .merge(guarded)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(AdminState { plugins, metrics });
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    {
        tracing::error!(error = %e, "admin API stopped");
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
    let ok = plugins.values().all(|l| *l);
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({ "status": if ok { "ok" } else { "degraded" }, "plugins_loaded": plugins });
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

async fn list_plugins(State(s): State<AdminState>) -> Response {
    let list: Vec<_> = s.plugins.all().map(|p| p.info()).collect();
    axum::Json(list).into_response()
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
                CallError::NotLoaded(_) | CallError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
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
