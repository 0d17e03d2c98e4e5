//! The plate-recognition wire format (one WebSocket binary message = one
//! frame): `MessageType u8 | CompressMode u8 | Body`, integers big-endian.
//!
//! Types: 1 login request, 2 login response, 3 recognition request,
//! 4 recognition response. CompressMode 0 = raw, 1 = bz2 of the body,
//! accepted on every request; responses are sent raw. bz2 output is capped,
//! so a bomb is refused rather than expanded.
//!
//! Login body (97 bytes): City 8s, Park 8s, Server u8, Token 80s — strings
//! NUL-padded. Recognition body: CameraNo (u8 length + bytes), Identify 19s,
//! MD5 32s (lowercase hex of the image), ImageLen u32, Image.
//! Recognition response: `4 0 | CameraNo | Identify 19s | Status u8`, then
//! Color 8s + Plate 16s on success, errCode u8 on failure. The colour is
//! named in English or Chinese, as the listener's `color_names` says
//! ([`colour_name`]).

use std::io::Read;

use bytes::Bytes;
use md5::{Digest, Md5};
use serde::Deserialize;

use crate::bindings::plate::wit::PlateColour;

pub const LOGIN_REQUEST: u8 = 1;
pub const LOGIN_RESPONSE: u8 = 2;
pub const RECOGNITION_REQUEST: u8 = 3;
pub const RECOGNITION_RESPONSE: u8 = 4;

const LOGIN_BODY: usize = 97;
const IDENTIFY: usize = 19;
const COLOR: usize = 8;
const PLATE: usize = 16;

/// The language of plate colours in recognition responses (a plate
/// listener's `color_names`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ColorNames {
    /// blue, yellow, green, white, black
    #[default]
    En,
    /// 蓝, 黄, 绿, 白, 黑, as the original recogniser on Chinese
    /// installations (UTF-8: 3 bytes each, the 8-byte field NUL-padded)
    Zh,
}

/// The name of `colour` in the Color field.
pub fn colour_name(colour: PlateColour, names: ColorNames) -> &'static str {
    use PlateColour::*;
    match (names, colour) {
        (ColorNames::En, Blue) => "blue",
        (ColorNames::En, Yellow) => "yellow",
        (ColorNames::En, Green) => "green",
        (ColorNames::En, White) => "white",
        (ColorNames::En, Black) => "black",
        (ColorNames::Zh, Blue) => "蓝",
        (ColorNames::Zh, Yellow) => "黄",
        (ColorNames::Zh, Green) => "绿",
        (ColorNames::Zh, White) => "白",
        (ColorNames::Zh, Black) => "黑",
    }
}

/// Recognition statuses.
pub mod status {
    pub const SUCCESS: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const REFUSE: u8 = 3;
}

/// errCodes of a failed recognition.
pub mod err {
    pub const NOT_RECOGNISED: u8 = 0;
    pub const TIMEOUT: u8 = 1;
    pub const IMAGE_NAME: u8 = 2;
    pub const IMAGE_SAVE: u8 = 3;
    pub const IMAGE_DISPLAY: u8 = 4;
    pub const RECOGNISER: u8 = 5;
    pub const MALFORMED: u8 = 6;
    pub const MD5_MISMATCH: u8 = 7;
    pub const NOT_LOGGED_IN: u8 = 8;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub city: String,
    pub park: String,
    pub server: u8,
    pub token: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recognition {
    pub camera: String,
    pub identify: String,
    pub image: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Login(Login),
    Recognition(Recognition),
}

/// A request refused by the codec. `camera`/`identify` are whatever could be
/// read, so the answer can still name the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub login: bool,
    pub camera: String,
    pub identify: String,
    pub code: u8,
    pub reason: String,
}

impl Refused {
    fn malformed(login: bool, reason: impl Into<String>) -> Refused {
        Refused {
            login,
            camera: String::new(),
            identify: String::new(),
            code: err::MALFORMED,
            reason: reason.into(),
        }
    }
}

impl Refused {
    /// The host could not read the request (not the client's fault).
    pub fn internal(reason: &str) -> Refused {
        let mut r = Refused::malformed(false, reason);
        r.code = err::RECOGNISER;
        r
    }
}

/// A fixed-width string field: NULs and surrounding white space stripped.
fn field(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).trim().to_string()
}

/// Decodes one frame. `max_body` caps the (decompressed) body.
///
/// Before the login (`logged_in` false) nothing costly is done for anyone:
/// a login body is never expanded past its 97 bytes, and a recognition
/// request is refused ([`err::NOT_LOGGED_IN`]) without decompressing or
/// hashing its image (naming its camera and identify when they can be
/// read as they are).
pub fn decode(frame: &[u8], max_body: usize, logged_in: bool) -> Result<Request, Refused> {
    let [kind, mode, body @ ..] = frame else {
        return Err(Refused::malformed(
            false,
            "frame shorter than its 2-byte header",
        ));
    };
    let login = *kind == LOGIN_REQUEST;
    if !login && *kind != RECOGNITION_REQUEST {
        return Err(Refused::malformed(
            false,
            format!("unknown message type {kind}"),
        ));
    }
    if !login && !logged_in {
        return Err(not_logged_in(*mode, body));
    }
    // A login body has a fixed size: anything that expands further is
    // malformed, so it is cut there.
    let cap = if login { LOGIN_BODY } else { max_body };
    let body = match mode {
        0 => std::borrow::Cow::Borrowed(body),
        1 => std::borrow::Cow::Owned(bunzip2(body, cap).map_err(|r| Refused::malformed(login, r))?),
        other => {
            return Err(Refused::malformed(
                login,
                format!("unknown compress mode {other}"),
            ));
        }
    };
    if login {
        decode_login(&body)
    } else {
        decode_recognition(&body)
    }
}

/// A recognition request before the login: refused, naming what can be
/// read of it without work (an uncompressed body's camera and identify).
fn not_logged_in(mode: u8, body: &[u8]) -> Refused {
    let mut r = Refused::malformed(false, "recognition before login");
    r.code = err::NOT_LOGGED_IN;
    if mode == 0
        && let Some((&n, rest)) = body.split_first()
    {
        let n = n as usize;
        if rest.len() >= n {
            r.camera = field(&rest[..n]);
            if rest.len() >= n + IDENTIFY {
                r.identify = field(&rest[n..n + IDENTIFY]);
            }
        }
    }
    r
}

fn bunzip2(data: &[u8], cap: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut reader = bzip2::read::BzDecoder::new(data).take(cap as u64 + 1);
    reader
        .read_to_end(&mut out)
        .map_err(|e| format!("bad bz2 body: {e}"))?;
    if out.len() > cap {
        return Err(format!("bz2 body expands past {cap} bytes"));
    }
    Ok(out)
}

fn decode_login(body: &[u8]) -> Result<Request, Refused> {
    if body.len() != LOGIN_BODY {
        return Err(Refused::malformed(
            true,
            format!("login body is {} bytes, not {LOGIN_BODY}", body.len()),
        ));
    }
    Ok(Request::Login(Login {
        city: field(&body[0..8]),
        park: field(&body[8..16]),
        server: body[16],
        token: field(&body[17..97]),
    }))
}

fn decode_recognition(body: &[u8]) -> Result<Request, Refused> {
    let mut r = Refused::malformed(false, "");
    let Some((&camera_len, rest)) = body.split_first() else {
        r.reason = "empty recognition body".into();
        return Err(r);
    };
    let camera_len = camera_len as usize;
    if rest.len() < camera_len + IDENTIFY + 32 + 4 {
        r.reason = "recognition body truncated before the image".into();
        if rest.len() >= camera_len {
            r.camera = field(&rest[..camera_len]);
        }
        return Err(r);
    }
    r.camera = field(&rest[..camera_len]);
    let rest = &rest[camera_len..];
    r.identify = field(&rest[..IDENTIFY]);
    let md5 = field(&rest[IDENTIFY..IDENTIFY + 32]);
    let len_at = IDENTIFY + 32;
    let image_len =
        u32::from_be_bytes(rest[len_at..len_at + 4].try_into().expect("4 bytes")) as usize;
    let image = &rest[len_at + 4..];
    if image.len() != image_len {
        r.reason = format!("ImageLen says {image_len} bytes, {} received", image.len());
        return Err(r);
    }
    let actual = hex::encode(Md5::digest(image));
    if !actual.eq_ignore_ascii_case(&md5) {
        r.code = err::MD5_MISMATCH;
        r.reason = format!("MD5 of the image is {actual}, the request says {md5:?}");
        return Err(r);
    }
    Ok(Request::Recognition(Recognition {
        camera: r.camera,
        identify: r.identify,
        image: Bytes::copy_from_slice(image),
    }))
}

/// `[2][0][status]`: 0 success, 1 failure.
pub fn login_response(ok: bool) -> Vec<u8> {
    vec![LOGIN_RESPONSE, 0, if ok { 0 } else { 1 }]
}

/// What a recognition response says after its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success {
        color: String,
        plate: String,
    },
    Failed(u8),
    /// A status with nothing after it (3 refuse, ...).
    Status(u8),
}

fn put_padded(out: &mut Vec<u8>, s: &str, width: usize) {
    // Cut at a character boundary so the field stays valid UTF-8.
    let mut end = s.len().min(width);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&s.as_bytes()[..end]);
    out.resize(out.len() + width - end, 0);
}

pub fn recognition_response(camera: &str, identify: &str, outcome: &Outcome) -> Vec<u8> {
    let mut out = vec![RECOGNITION_RESPONSE, 0];
    let camera = &camera.as_bytes()[..camera.len().min(255)];
    out.push(camera.len() as u8);
    out.extend_from_slice(camera);
    put_padded(&mut out, identify, IDENTIFY);
    match outcome {
        Outcome::Success { color, plate } => {
            out.push(status::SUCCESS);
            put_padded(&mut out, color, COLOR);
            put_padded(&mut out, plate, PLATE);
        }
        Outcome::Failed(code) => {
            out.push(status::FAILED);
            out.push(*code);
        }
        Outcome::Status(s) => out.push(*s),
    }
    out
}

/// The client's side, for the codec's tests and the load generator: a
/// login frame built like the original client's
/// `struct.pack('!BB8s8sB80s', 1, 0, city, park, server, token)` (city
/// "0571", park "P001", server 2).
pub fn login_frame(token: &str) -> Vec<u8> {
    let mut f = vec![1, 0];
    put_padded(&mut f, "0571", 8);
    put_padded(&mut f, "P001", 8);
    f.push(2);
    put_padded(&mut f, token, 80);
    f
}

/// The client's side: a recognition body like the original client's
/// `struct.pack('!B%ds19s32sI' % n, n, camera, identify, md5, len) + image`
/// (the frame is `3 | compress mode | body`).
pub fn recognition_body(camera: &str, identify: &str, image: &[u8]) -> Vec<u8> {
    let mut b = vec![camera.len() as u8];
    b.extend_from_slice(camera.as_bytes());
    put_padded(&mut b, identify, 19);
    b.extend_from_slice(hex::encode(Md5::digest(image)).as_bytes());
    b.extend_from_slice(&(image.len() as u32).to_be_bytes());
    b.extend_from_slice(image);
    b
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    fn bz2(data: &[u8]) -> Vec<u8> {
        let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn login_raw_and_bz2() {
        let want = Request::Login(Login {
            city: "0571".into(),
            park: "P001".into(),
            server: 2,
            token: "tok".into(),
        });
        assert_eq!(decode(&login_frame("tok"), 1 << 20, true), Ok(want.clone()));
        let f = login_frame("tok");
        let compressed = [&[1u8, 1][..], &bz2(&f[2..])].concat();
        assert_eq!(decode(&compressed, 1 << 20, true), Ok(want));
        let short = &login_frame("tok")[..50];
        assert!(decode(short, 1 << 20, true).unwrap_err().login);
    }

    #[test]
    fn recognition_checks_len_and_md5() {
        let body = recognition_body("cam1", "20240101120000123", b"JPEGDATA");
        let frame = [&[3u8, 0][..], &body].concat();
        match decode(&frame, 1 << 20, true).unwrap() {
            Request::Recognition(r) => {
                assert_eq!(
                    (r.camera.as_str(), r.identify.as_str(), &r.image[..]),
                    ("cam1", "20240101120000123", &b"JPEGDATA"[..])
                )
            }
            other => panic!("{other:?}"),
        }
        // Wrong ImageLen (one byte missing) → malformed, naming the request.
        let e = decode(&frame[..frame.len() - 1], 1 << 20, true).unwrap_err();
        assert_eq!((e.code, e.camera.as_str()), (err::MALFORMED, "cam1"));
        // Image changed after its MD5 was taken → 7.
        let mut bad = frame.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(
            decode(&bad, 1 << 20, true).unwrap_err().code,
            err::MD5_MISMATCH
        );
        // Truncated before the image, unknown type, unknown mode.
        assert_eq!(
            decode(&frame[..20], 1 << 20, true).unwrap_err().code,
            err::MALFORMED
        );
        assert_eq!(
            decode(&[9, 0, 1], 1 << 20, true).unwrap_err().code,
            err::MALFORMED
        );
        assert_eq!(
            decode(&[3, 7, 1], 1 << 20, true).unwrap_err().code,
            err::MALFORMED
        );
    }

    #[test]
    fn bz2_bomb_is_refused_without_expanding() {
        let bomb = bz2(&vec![0u8; 50 << 20]); // 50 MiB of zeros in ~50 bytes
        assert!(bomb.len() < 10_000);
        let frame = [&[3u8, 1][..], &bomb].concat();
        let e = decode(&frame, 1 << 20, true).unwrap_err();
        assert_eq!(e.code, err::MALFORMED);
        assert!(e.reason.contains("expands past"), "{}", e.reason);
    }

    #[test]
    fn nothing_costly_before_login() {
        // A recognition request before the login: refused unread, whatever
        // its image, bz2 or MD5 (a bomb with a wrong MD5 would otherwise
        // cost its expansion and hash first).
        let bomb = [&[3u8, 1][..], &bz2(&vec![0u8; 16 << 20])].concat();
        let e = decode(&bomb, 16 << 20, false).unwrap_err();
        assert_eq!((e.code, e.login), (err::NOT_LOGGED_IN, false));
        let body = recognition_body("cam1", "id1", b"JPEG");
        let e = decode(&[&[3u8, 0][..], &body].concat(), 1 << 20, false).unwrap_err();
        assert_eq!(
            (e.code, e.camera.as_str(), e.identify.as_str()),
            (err::NOT_LOGGED_IN, "cam1", "id1")
        );
        // A login body is never expanded past its size.
        let f = login_frame("tok");
        let padded = [&f[2..], &vec![0u8; 1 << 20][..]].concat();
        let e = decode(&[&[1u8, 1][..], &bz2(&padded)].concat(), 16 << 20, false).unwrap_err();
        assert!(
            e.login && e.reason.contains("expands past 97"),
            "{}",
            e.reason
        );
    }

    #[test]
    fn colours_in_either_language() {
        use PlateColour::*;
        let names = |n| {
            [Blue, Yellow, Green, White, Black]
                .map(|c| colour_name(c, n))
                .to_vec()
        };
        assert_eq!(
            names(ColorNames::En),
            ["blue", "yellow", "green", "white", "black"]
        );
        assert_eq!(names(ColorNames::Zh), ["蓝", "黄", "绿", "白", "黑"]);
        assert_eq!(ColorNames::default(), ColorNames::En);
    }

    #[test]
    fn responses_are_byte_exact() {
        assert_eq!(login_response(true), [2, 0, 0]);
        assert_eq!(login_response(false), [2, 0, 1]);
        let ok = recognition_response(
            "cam1",
            "id",
            &Outcome::Success {
                color: "blue".into(),
                plate: "京A88731".into(),
            },
        );
        let mut want = vec![4, 0, 4];
        want.extend_from_slice(b"cam1");
        want.extend_from_slice(b"id");
        want.extend_from_slice(&[0; 17]);
        want.push(0);
        want.extend_from_slice(b"blue\0\0\0\0");
        want.extend_from_slice("京A88731".as_bytes());
        want.extend_from_slice(&[0; 7]);
        assert_eq!(ok, want);
        let zh = recognition_response(
            "c",
            "i",
            &Outcome::Success {
                color: colour_name(PlateColour::Blue, ColorNames::Zh).into(),
                plate: "京A88731".into(),
            },
        );
        assert_eq!(&zh[3 + 1 + 19 + 1..][..8], b"\xe8\x93\x9d\0\0\0\0\0");
        let failed = recognition_response("c", "i", &Outcome::Failed(err::MD5_MISMATCH));
        assert_eq!(&failed[failed.len() - 2..], [1, 7]);
        assert_eq!(
            *recognition_response("c", "i", &Outcome::Status(status::REFUSE))
                .last()
                .unwrap(),
            3
        );
    }
}
