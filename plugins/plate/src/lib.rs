//! wasmgate plate component (world `plate`): decides logins and recognises
//! plates (the recogniser is the `plate-recognizer` crate, compiled in).
//!
//! Logins accept the original server's token scheme —
//! `urlsafe_b64("<expiry>:<hex hmac_sha1(key, expiry)>")`, where `<expiry>`
//! is Unix seconds as Python's `str(time.time() + ttl)` writes them (a float
//! such as `1796184352.9387023`; integers are accepted too), valid until its
//! expiry, with `token_key` from the plugin's config — and the tokens listed
//! in `static_tokens` (comma-separated). The HMAC covers the expiry text
//! exactly as written. Operators mint tokens in the original form with
//! `POST /admin/plate {"op":"mint-token","ttl_s":N}`.
//!
//! The plate's colour is answered as the WIT enum `plate-colour`; the host
//! names it on the wire (the listener's `color_names`).

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha1::Sha1;

type HmacSha1 = Hmac<Sha1>;

pub use wasmgate_sdk::{Host, Level};

/// Why a photo gave no plate (the WIT `failure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    NotRecognised,
    ImageNotReadable,
}

pub use plate_recognizer::Color;

/// Recognises the plate in `image` (JPEG or PNG) from `camera`: (colour,
/// plate). The outcome is kept a day among the recent recognitions (the
/// admin op `recent`).
pub fn recognize<H: Host>(
    h: &H,
    camera: &str,
    identify: &str,
    image: &[u8],
) -> Result<(Color, String), Failure> {
    let (outcome, corners) = match plate_recognizer::recognize(image) {
        Ok(Some(r)) => (Ok((r.color, r.plate)), Some(r.corners)),
        Ok(None) => (Err(Failure::NotRecognised), None),
        Err(e) => {
            h.log(
                Level::Info,
                "recognize",
                &format!("image not readable: {e}"),
            );
            (Err(Failure::ImageNotReadable), None)
        }
    };
    remember(h, camera, identify, &outcome, corners);
    outcome
}

/// Recent recognitions: `recent/<u64::MAX - at_ms:020>/<camera>/<identify>`
/// (newest first in a forward list), kept [`RECENT_TTL_MS`].
const RECENT_PREFIX: &str = "recent/";
pub const RECENT_TTL_MS: u64 = 86_400_000;
/// What `recent` answers at most.
pub const MAX_RECENT: u64 = 200;

/// Keeps one recognition's outcome; a failure to store it is logged, never
/// the recognition's failure.
fn remember<H: Host>(
    h: &H,
    camera: &str,
    identify: &str,
    outcome: &Result<(Color, String), Failure>,
    corners: Option<[[f32; 2]; 4]>,
) {
    let at_ms = h.now_ms();
    let mut entry = json!({ "camera": camera, "identify": identify, "at_ms": at_ms });
    match outcome {
        Ok((colour, plate)) => {
            entry["plate"] = json!(plate);
            entry["colour"] = json!(colour.as_str());
            entry["corners"] = json!(corners);
        }
        Err(f) => {
            let (name, code) = match f {
                Failure::NotRecognised => ("not-recognised", 0),
                Failure::ImageNotReadable => ("image-display-error", 4),
            };
            entry["failure"] = json!(name);
            entry["err_code"] = json!(code);
        }
    }
    let key = format!(
        "{RECENT_PREFIX}{:020}/{camera}/{identify}",
        u64::MAX - at_ms
    );
    if let Err(e) = h.kv_set(&key, &entry.to_string(), Some(RECENT_TTL_MS)) {
        h.log(
            Level::Warn,
            "recognize",
            &format!("recognition not kept among the recent ones: {e}"),
        );
    }
}

/// The newest `limit` recognitions, newest first.
fn recent<H: Host>(h: &H, limit: u64) -> Result<Value, AdminError> {
    let entries = h
        .kv_list(RECENT_PREFIX, limit as u32)
        .map_err(|e| AdminError {
            status: 500,
            message: format!("storage error: {e}"),
        })?;
    let list: Vec<Value> = entries
        .iter()
        .filter_map(|(_, v)| serde_json::from_str(v).ok())
        .collect();
    Ok(json!({ "recognitions": list }))
}

/// Defines `colour`, the WIT `plate-colour` of a recognised colour, for
/// any bindings of world `plate`: the component's own and the host's (the
/// native build). The argument is the path of the bindings'
/// `plate-handler` module.
#[macro_export]
macro_rules! wit_plate_colour {
    ($($handler:tt)+) => {
        /// The WIT `plate-colour` of `c`.
        pub fn colour(c: $crate::Color) -> $($handler)+::PlateColour {
            use $($handler)+::PlateColour as P;
            match c {
                $crate::Color::Blue => P::Blue,
                $crate::Color::Yellow => P::Yellow,
                $crate::Color::Green => P::Green,
                $crate::Color::White => P::White,
                $crate::Color::Black => P::Black,
            }
        }
    };
}

fn mac(key: &str, expiry: &str) -> HmacSha1 {
    let mut m = HmacSha1::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
    m.update(expiry.as_bytes());
    m
}

/// The expiry of a token minted at `now_ms` for `ttl_s` seconds, as the
/// original's `time.time() + ttl` (Unix seconds).
pub fn expiry(now_ms: u64, ttl_s: u64) -> f64 {
    now_ms as f64 / 1000.0 + ttl_s as f64
}

/// An expiry as the original's `str()` writes it: the shortest decimal
/// that reads back as the same double (Rust's `Display` and Python's
/// `repr` agree on it), with Python's `.0` on a whole number.
pub fn expiry_text(expiry: f64) -> String {
    let text = expiry.to_string();
    if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    }
}

/// A token of the original scheme with the expiry text `expiry`.
pub fn mint(key: &str, expiry: &str) -> String {
    let digest = mac(key, expiry).finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    URL_SAFE.encode(format!("{expiry}:{hex}"))
}

/// An expiry text of the scheme: digits, optionally a fraction (what
/// Python's `str` of a Unix time writes), as seconds.
fn parse_expiry(text: &str) -> Option<f64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let digits = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return None;
    }
    text.parse::<f64>().ok().filter(|e| e.is_finite())
}

/// Whether `token` is a live token of the scheme under `key` at `now_ms`:
/// the HMAC over the expiry text as written, then the expiry as a number.
pub fn verify(key: &str, token: &str, now_ms: u64) -> bool {
    let token = token.trim();
    let Ok(raw) = URL_SAFE
        .decode(token)
        .or_else(|_| URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')))
    else {
        return false;
    };
    let Ok(text) = String::from_utf8(raw) else {
        return false;
    };
    let Some((expiry, hex)) = text.split_once(':') else {
        return false;
    };
    let Some(expiry_s) = parse_expiry(expiry) else {
        return false;
    };
    if hex.len() != 40 || !hex.is_ascii() {
        return false;
    }
    let Some(given) = (0..20)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    mac(key, expiry).verify_slice(&given).is_ok() // constant time
        && expiry_s > now_ms as f64 / 1000.0
}

pub fn login<H: Host>(h: &H, token: &str) -> bool {
    let token = token.trim();
    if token.is_empty() {
        return false;
    }
    let statics = h.config_get("static_tokens").unwrap_or_default();
    // Compare every static token in full, so timing says nothing about which matched.
    let static_ok = statics
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .fold(false, |ok, t| {
            ok | constant_eq(t.as_bytes(), token.as_bytes())
        });
    let hmac_ok = h
        .config_get("token_key")
        .is_some_and(|key| verify(&key, token, h.now_ms()));
    static_ok || hmac_ok
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub use wasmgate_sdk::AdminError;

/// `{"op":"mint-token","ttl_s":N}` → `{"token":"...","expires_at_s":T}`,
/// T the token's expiry (Unix seconds, with a fraction as in the token);
/// `{"op":"recent","limit":N}` → `{"recognitions":[...]}`, newest first.
pub fn admin<H: Host>(h: &H, request: &str) -> Result<String, AdminError> {
    let bad = |m: String| AdminError {
        status: 400,
        message: m,
    };
    let req: Value =
        serde_json::from_str(request).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    match req.get("op").and_then(Value::as_str) {
        Some("mint-token") => {
            let ttl = req
                .get("ttl_s")
                .and_then(Value::as_u64)
                .ok_or_else(|| bad("\"ttl_s\" must be a positive integer".into()))?;
            if ttl == 0 || ttl > 10 * 365 * 86_400 {
                return Err(bad("\"ttl_s\" must be between 1 and 315360000".into()));
            }
            let key = h
                .config_get("token_key")
                .filter(|k| !k.is_empty())
                .ok_or(AdminError {
                    status: 409,
                    message: "no token_key in the plugin's config: HMAC tokens are disabled".into(),
                })?;
            let expires = expiry(h.now_ms(), ttl);
            let token = mint(&key, &expiry_text(expires));
            Ok(json!({ "token": token, "expires_at_s": expires }).to_string())
        }
        Some("recent") => {
            let limit = match req.get("limit") {
                None => 50,
                Some(v) => v
                    .as_u64()
                    .filter(|n| (1..=MAX_RECENT).contains(n))
                    .ok_or_else(|| bad(format!("\"limit\" must be 1-{MAX_RECENT}")))?,
            };
            Ok(recent(h, limit)?.to_string())
        }
        Some(other) => Err(bad(format!(
            "unknown op {other:?} (known: mint-token, recent)"
        ))),
        None => Err(bad("missing \"op\"".into())),
    }
}

#[cfg(target_arch = "wasm32")]
mod component {
    wasmgate_sdk::generate!("plate");

    use exports::wasmgate::plugin::admin::{self, AdminError};
    use exports::wasmgate::plugin::plate_handler::{self, Failure, LoginRequest, Plate};
    use wasmgate_sdk::WitHost;

    crate::wit_plate_colour!(exports::wasmgate::plugin::plate_handler);

    struct Component;

    impl plate_handler::Guest for Component {
        fn login(request: LoginRequest) -> bool {
            crate::login(&WitHost, &request.token)
        }

        fn recognize(camera: String, identify: String, image: Vec<u8>) -> Result<Plate, Failure> {
            match crate::recognize(&WitHost, &camera, &identify, &image) {
                Ok((c, plate)) => Ok(Plate {
                    colour: colour(c),
                    plate,
                }),
                Err(crate::Failure::NotRecognised) => Err(Failure::NotRecognised),
                Err(crate::Failure::ImageNotReadable) => Err(Failure::ImageDisplayError),
            }
        }
    }

    impl admin::Guest for Component {
        fn handle(request: String) -> Result<String, AdminError> {
            crate::admin(&WitHost, &request).map_err(|e| AdminError {
                status: e.status,
                message: e.message,
            })
        }
    }

    export!(Component);
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmgate_sdk::MemHost;

    fn host() -> MemHost {
        let h = MemHost::at(1_700_000_000_000);
        h.set_config("token_key", "secret");
        h.set_config("static_tokens", "cam-a, cam-b");
        h
    }

    /// Built by the original server's `generate_token("secret", ...)`
    /// (Python: `ts = str(time.time() + expire)`, then
    /// `urlsafe_b64encode(ts + ":" + hmac.new(key, ts, "sha1").hexdigest())`),
    /// with `ts` = "1796184352.9387023": 80 characters, the whole Token field.
    const ORIGINAL: &str =
        "MTc5NjE4NDM1Mi45Mzg3MDIzOjJlNTIyOGY3MmRhNWVlMDc3YTVkYzkxNzJhNGY3ODdlMDk5ZGZjNmU=";
    const ORIGINAL_EXPIRY_MS: u64 = 1_796_184_352_938;

    #[test]
    fn tokens_of_the_original_server() {
        assert_eq!(ORIGINAL.len(), 80);
        assert!(verify("secret", ORIGINAL, ORIGINAL_EXPIRY_MS - 60_000));
        assert!(
            verify("secret", ORIGINAL, ORIGINAL_EXPIRY_MS),
            "the fraction counts: .9387 is after .938"
        );
        assert!(
            !verify("secret", ORIGINAL, ORIGINAL_EXPIRY_MS + 1),
            "expired"
        );
        assert!(!verify("other", ORIGINAL, 0), "wrong key");
        // The HMAC covers the text as written: the same number written
        // otherwise is another token.
        let forged = URL_SAFE.encode(format!(
            "1796184352.93870230:{}",
            &String::from_utf8(URL_SAFE.decode(ORIGINAL).unwrap()).unwrap()[19..]
        ));
        assert!(!verify("secret", &forged, 0));
        // Integer expiries (earlier wasmgate tokens) still work.
        let int = mint("secret", "1700000100");
        assert!(verify("secret", &int, 1_700_000_099_999));
        assert!(!verify("secret", &int, 1_700_000_100_000));
    }

    #[test]
    fn minted_like_the_original() {
        assert_eq!(expiry_text(expiry(1_700_000_000_123, 60)), "1700000060.123");
        assert_eq!(expiry_text(expiry(1_700_000_000_000, 60)), "1700000060.0");
        let t = mint("secret", &expiry_text(expiry(1_796_184_292_938, 60)));
        let decoded = String::from_utf8(URL_SAFE.decode(&t).unwrap()).unwrap();
        assert!(decoded.starts_with("1796184352.938:"), "{decoded}");
        assert!(t.len() <= 80);
        assert!(verify("secret", &t, 1_796_184_352_000));
        assert!(
            verify("secret", t.trim_end_matches('='), 1_796_184_352_000),
            "padding optional"
        );
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for text in [
            "1700000100:zz",
            "1e10:0000000000000000000000000000000000000000",
            "-5:0000000000000000000000000000000000000000",
            "inf:0000000000000000000000000000000000000000",
            ".5:0000000000000000000000000000000000000000",
            "5.:0000000000000000000000000000000000000000",
            "17000001000000000000000000:0000000000000000000000000000000000000000",
            "no colon",
        ] {
            assert!(!verify("secret", &URL_SAFE.encode(text), 0), "{text}");
        }
        assert!(!verify("secret", "garbage", 0));
        assert!(!verify("secret", "", 0));
    }

    #[test]
    fn logins() {
        let h = host();
        assert!(login(&h, &mint("secret", "1700000000.5")));
        assert!(!login(&h, &mint("secret", "1699999999.999")));
        assert!(login(&h, ORIGINAL));
        assert!(login(&h, "cam-b"));
        assert!(!login(&h, "cam-c"));
        assert!(!login(&h, ""));
    }

    #[test]
    fn an_unreadable_image_is_logged_and_not_recognised() {
        let h = host();
        assert_eq!(
            recognize(&h, "cam1", "id-1", b"not an image"),
            Err(Failure::ImageNotReadable)
        );
        assert_eq!(h.log_contexts(), ["recognize"]);
        assert!(h.logged(Level::Info)[0].starts_with("image not readable"));
    }

    #[test]
    fn recent_recognitions_newest_first_with_the_box() {
        let h = host();
        let photo = include_bytes!("../../../tests/data/plate-浙C58306.jpg");
        assert_eq!(
            recognize(&h, "cam1", "a", photo).map(|r| r.1),
            Ok("浙C58306".to_string())
        );
        h.advance(5);
        recognize(&h, "cam/2", "b", b"junk").unwrap_err();
        let v: Value =
            serde_json::from_str(&admin(&h, r#"{"op":"recent"}"#).ok().unwrap()).unwrap();
        let list = v["recognitions"].as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["camera"], "cam/2");
        assert_eq!(list[0]["err_code"], 4);
        assert_eq!(list[0]["failure"], "image-display-error");
        assert_eq!(list[1]["plate"], "浙C58306");
        assert_eq!(list[1]["colour"], "blue");
        assert_eq!(list[1]["at_ms"], 1_700_000_000_000u64);
        let corners = list[1]["corners"].as_array().unwrap();
        assert_eq!(corners.len(), 4);
        assert!(corners[1][0].as_f64().unwrap() > corners[0][0].as_f64().unwrap());
        let v: Value =
            serde_json::from_str(&admin(&h, r#"{"op":"recent","limit":1}"#).ok().unwrap()).unwrap();
        assert_eq!(v["recognitions"].as_array().unwrap().len(), 1);
        assert_eq!(
            admin(&h, r#"{"op":"recent","limit":0}"#)
                .err()
                .unwrap()
                .status,
            400
        );
    }

    #[test]
    fn mint_token_admin() {
        let h = host();
        let v: Value =
            serde_json::from_str(&admin(&h, r#"{"op":"mint-token","ttl_s":60}"#).ok().unwrap())
                .unwrap();
        assert!(login(&h, v["token"].as_str().unwrap()));
        assert_eq!(v["expires_at_s"], 1_700_000_060.0);
        assert_eq!(
            admin(&h, r#"{"op":"mint-token"}"#).err().unwrap().status,
            400
        );
        let no_key = MemHost::at(0);
        assert_eq!(
            admin(&no_key, r#"{"op":"mint-token","ttl_s":5}"#)
                .err()
                .unwrap()
                .status,
            409
        );
    }
}
