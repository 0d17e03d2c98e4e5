//! The operator console (issue 21): a web page at `/ui/`, embedded in the
//! binary (`console/`: plain HTML, JavaScript and CSS, no build step), and
//! the one thing it needs that is not a plugin's: the saved photo of a
//! recognition, `GET /images/{plugin}/{camera}/{identify}`.
//!
//! The page's files hold no secret and are served without the token; the
//! page asks for the token, keeps it in the tab's `sessionStorage` and sends
//! it as `Authorization: Bearer` with every API call, never in a URL.

use std::path::PathBuf;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::{AdminState, error};
use crate::protocol::plate::{IMAGE_EXTENSIONS, image_stem};
use crate::protocol::{Config, Settings};

const INDEX: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/app.js");
const STYLE: &str = include_str!("console/app.css");

/// The page may load only itself, talk only to this origin, show photos
/// it fetched (blob URLs), and be framed by nobody.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// A plate plugin's image directories (one per plate listener that keeps
/// images), from the configuration.
pub type ImageDirs = Vec<(String, PathBuf)>;

/// Where each plate plugin's listeners keep their photos.
pub fn image_dirs(config: &Config) -> ImageDirs {
    config
        .listeners
        .iter()
        .filter_map(|l| match &l.protocol {
            Settings::Plate(p) => p
                .images_in(config.state_dir())
                .map(|dir| (l.conn.plugin.clone(), dir)),
            _ => None,
        })
        .collect()
}

pub async fn to_index() -> Redirect {
    Redirect::permanent("/ui/")
}

pub async fn index() -> Response {
    file("text/html; charset=utf-8", INDEX)
}

pub async fn script() -> Response {
    file("text/javascript; charset=utf-8", SCRIPT)
}

pub async fn style() -> Response {
    file("text/css; charset=utf-8", STYLE)
}

fn file(content_type: &'static str, body: &'static str) -> Response {
    let mut r = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The photo a plate listener of `plugin` saved for a recognition, found by
/// its name (`<camera>_<identify>.<jpg|png|bin>`, cleaned as when it was
/// saved, so no request names a path). 404 when none is kept.
pub async fn image(
    State(s): State<AdminState>,
    Path((plugin, camera, identify)): Path<(String, String, String)>,
) -> Response {
    let Some(stem) = image_stem(&camera, &identify) else {
        return error(StatusCode::NOT_FOUND, "no usable image name");
    };
    let dirs: Vec<PathBuf> = s
        .images
        .iter()
        .filter(|(p, _)| *p == plugin)
        .map(|(_, d)| d.clone())
        .collect();
    if dirs.is_empty() {
        return error(
            StatusCode::NOT_FOUND,
            format!("no listener of plugin {plugin:?} keeps images (image_dir)"),
        );
    }
    let found = tokio::task::spawn_blocking(move || {
        for dir in dirs {
            for ext in IMAGE_EXTENSIONS {
                if let Ok(bytes) = std::fs::read(dir.join(format!("{stem}.{ext}"))) {
                    return Some((ext, bytes));
                }
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    match found {
        Some((ext, bytes)) => {
            let kind = match ext {
                "jpg" => "image/jpeg",
                "png" => "image/png",
                _ => "application/octet-stream",
            };
            (
                [
                    (header::CONTENT_TYPE, kind),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                bytes,
            )
                .into_response()
        }
        None => error(
            StatusCode::NOT_FOUND,
            "this recognition's image is not kept",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing is fetched from elsewhere at run time: no absolute URL in
    /// the page, its script or its style; the script is the page's only
    /// code (the policy forbids inline code, and there is none).
    #[test]
    fn the_page_is_self_contained() {
        for text in [INDEX, SCRIPT, STYLE] {
            for bad in ["http://", "https://", "//cdn", "@import"] {
                assert!(!text.contains(bad), "{bad}");
            }
        }
        assert!(!INDEX.contains("onclick=") && !INDEX.contains("onsubmit="));
        assert_eq!(INDEX.matches("<script").count(), 1);
        assert!(INDEX.contains(r#"<script src="app.js" defer></script>"#));
        assert!(!SCRIPT.contains("innerHTML") && !SCRIPT.contains("localStorage"));
        let r = file("text/html", INDEX);
        assert_eq!(r.headers()[header::CONTENT_SECURITY_POLICY], POLICY);
        assert_eq!(r.headers()[header::X_FRAME_OPTIONS], "DENY");
    }
}
