//! wasmgate plate component (world `plate`): decides logins and recognises
//! plates (the recogniser is the `plate-recognizer` crate, compiled in).
//!
//! Logins accept the original server's token scheme —
//! `urlsafe_b64("<expiry unix seconds>:<hex hmac_sha1(key, expiry)>")`, valid
//! until its expiry, with `token_key` from the plugin's config — and the
//! tokens listed in `static_tokens` (comma-separated). Operators mint tokens
//! with `POST /admin/plate {"op":"mint-token","ttl_s":N}`.

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

/// Recognises the plate in `image` (JPEG or PNG): (colour, plate).
pub fn recognize<H: Host>(h: &H, image: &[u8]) -> Result<(&'static str, String), Failure> {
    match plate_recognizer::recognize(image) {
        Ok(Some(r)) => Ok((r.color.as_str(), r.plate)),
        Ok(None) => Err(Failure::NotRecognised),
        Err(e) => {
            h.log(Level::Info, &format!("image not readable: {e}"));
            Err(Failure::ImageNotReadable)
        }
    }
}

fn mac(key: &str, expiry: &str) -> HmacSha1 {
    let mut m = HmacSha1::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
    m.update(expiry.as_bytes());
    m
}

/// A token of the original scheme, valid until `expiry_s`.
pub fn mint(key: &str, expiry_s: u64) -> String {
    let expiry = expiry_s.to_string();
    let digest = mac(key, &expiry).finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    URL_SAFE.encode(format!("{expiry}:{hex}"))
}

/// Whether `token` is a live token of the scheme under `key`.
pub fn verify(key: &str, token: &str, now_s: u64) -> bool {
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
    let Ok(expiry_s) = expiry.parse::<u64>() else {
        return false;
    };
    if expiry_s <= now_s || hex.len() != 40 {
        return false;
    }
    let Some(given) = (0..20)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    mac(key, expiry).verify_slice(&given).is_ok() // constant time
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
        .is_some_and(|key| verify(&key, token, h.now_ms() / 1000));
    static_ok || hmac_ok
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub use wasmgate_sdk::AdminError;

/// `{"op":"mint-token","ttl_s":N}` → `{"token":"...","expires_at_s":T}`.
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
            let expires = h.now_ms() / 1000 + ttl;
            Ok(json!({ "token": mint(&key, expires), "expires_at_s": expires }).to_string())
        }
        Some(other) => Err(bad(format!("unknown op {other:?} (known: mint-token)"))),
        None => Err(bad("missing \"op\"".into())),
    }
}

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({
        world: "plate",
        path: "../../wit",
        with: {
            "wasmgate:plugin/host@0.1.0": wasmgate_sdk::bindings::wasmgate::plugin::host,
            "wasmgate:plugin/sessions@0.1.0": wasmgate_sdk::bindings::wasmgate::plugin::sessions,
        },
    });

    use exports::wasmgate::plugin::admin::{self, AdminError};
    use exports::wasmgate::plugin::plate_handler::{self, Failure, LoginRequest, Plate};
    use wasmgate_sdk::WitHost;

    struct Component;

    impl plate_handler::Guest for Component {
        fn login(request: LoginRequest) -> bool {
            crate::login(&WitHost, &request.token)
        }

        fn recognize(_camera: String, _identify: String, image: Vec<u8>) -> Result<Plate, Failure> {
            match crate::recognize(&WitHost, &image) {
                Ok((color, plate)) => Ok(Plate {
                    color: color.to_string(),
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

    #[test]
    fn original_scheme_round_trip() {
        // Python: base64.urlsafe_b64encode(f"{exp}:{hmac.new(key, str(exp).encode(), sha1).hexdigest()}".encode())
        let t = mint("secret", 1_700_000_100);
        let decoded = String::from_utf8(URL_SAFE.decode(&t).unwrap()).unwrap();
        assert!(
            decoded.starts_with("1700000100:") && decoded.len() == 11 + 40,
            "{decoded}"
        );
        assert!(verify("secret", &t, 1_700_000_000));
        assert!(
            !verify("secret", &t, 1_700_000_100),
            "expired at its expiry"
        );
        assert!(!verify("other", &t, 1_700_000_000), "wrong key");
        assert!(
            verify("secret", t.trim_end_matches('='), 1_700_000_000),
            "padding optional"
        );
        assert!(!verify("secret", "garbage", 0));
        assert!(!verify("secret", &URL_SAFE.encode("1700000100:zz"), 0));
    }

    #[test]
    fn logins() {
        let h = host();
        assert!(login(&h, &mint("secret", 1_700_000_100)));
        assert!(!login(&h, &mint("secret", 1_699_999_999)));
        assert!(login(&h, "cam-b"));
        assert!(!login(&h, "cam-c"));
        assert!(!login(&h, ""));
    }

    #[test]
    fn mint_token_admin() {
        let h = host();
        let v: Value =
            serde_json::from_str(&admin(&h, r#"{"op":"mint-token","ttl_s":60}"#).ok().unwrap())
                .unwrap();
        assert!(login(&h, v["token"].as_str().unwrap()));
        assert_eq!(v["expires_at_s"], 1_700_000_060);
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
