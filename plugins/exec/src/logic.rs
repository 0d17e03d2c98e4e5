//! The remote-execute relay's logic, independent of the component bindings
//! so that it is unit-tested natively against an in-memory [`Host`].
//!
//! Rooms are the host's session groups: every connection that logged in with
//! the same token is in group `room/<sha256(token) hex>`; the token itself is
//! never a name, a key, or a log line. A logged-in session carries the
//! attribute `room` (its group).
//!
//! Key layout (the plugin's private keyspace):
//!
//! | key                          | value                                          | TTL          |
//! |------------------------------|------------------------------------------------|--------------|
//! | `token/<sha256(token) hex>`  | JSON `{"created_ms","expires_ms","session_id"}` | until expiry |
//!
//! Looking a token up is a key lookup by its hash, so no secret is ever
//! compared. A token's `id` (what `list-tokens` shows and `revoke-token`
//! accepts) is the first 16 hex digits of that hash. The room's
//! `session_id` is made with the token, so every member of a room gets the
//! same one, across reconnects and restarts.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
pub use wasmgate_sdk::{Host, Level};

/// The server heartbeat, also the answer to a client's own `Heartbeat`:
/// the original server's shape (`session_id: null`) with the documents'
/// `extra`, so clients parsing either find what they look for.
pub const HEARTBEAT: &str = r#"{"cmd":"Heartbeat","code":"1","session_id":null,"extra":{}}"#;

const TOKEN_PREFIX: &str = "token/";
const ROOM_PREFIX: &str = "room/";
/// Session attribute naming the room of a logged-in session.
const ROOM_ATTR: &str = "room";
/// Hex digits of the hash shown as a token's id.
const ID_LEN: usize = 16;
/// Bytes of randomness in a generated token (256 bits).
const TOKEN_BYTES: usize = 32;
/// Tokens an operator brings (`create-token` with `token`) must be this long.
const MIN_IMPORTED_TOKEN: usize = 16;
const MAX_TOKEN: usize = 512;
/// Most tokens `list-tokens` returns.
const LIST_LIMIT: u32 = 10_000;

/// A client message as the host decoded it (the WIT `exec-request`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Init(String),
    CheckDevice,
    Heartbeat,
    /// Every other command (`execute`, `execute_result`, the clients' own):
    /// relayed verbatim to the rest of the room.
    Command {
        cmd: String,
        text: String,
    },
    Invalid(String),
}

/// Where an outgoing text goes (the subset of the WIT `target` used here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Reply,
    GroupOthers(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub to: Target,
    pub text: String,
}

fn reply(text: impl Into<String>) -> Outgoing {
    Outgoing {
        to: Target::Reply,
        text: text.into(),
    }
}

/// `{"cmd":CMD,"code":"0","extra":{"msg":MSG}}`.
pub fn failure(cmd: &str, msg: &str) -> String {
    json!({ "cmd": cmd, "code": "0", "extra": { "msg": msg } }).to_string()
}

pub fn sha256_hex(s: &str) -> String {
    hex(&Sha256::digest(s.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

fn room_of(hash: &str) -> String {
    format!("{ROOM_PREFIX}{hash}")
}

/// What is stored for one token.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TokenRecord {
    created_ms: u64,
    expires_ms: Option<u64>,
    session_id: String,
}

impl TokenRecord {
    fn to_json(&self) -> String {
        json!({
            "created_ms": self.created_ms,
            "expires_ms": self.expires_ms,
            "session_id": self.session_id,
        })
        .to_string()
    }

    fn parse(s: &str) -> Option<TokenRecord> {
        let v: Value = serde_json::from_str(s).ok()?;
        Some(TokenRecord {
            created_ms: v.get("created_ms")?.as_u64()?,
            expires_ms: v.get("expires_ms").and_then(Value::as_u64),
            session_id: v.get("session_id")?.as_str()?.to_string(),
        })
    }

    fn live(&self, now_ms: u64) -> bool {
        self.expires_ms.is_none_or(|e| now_ms < e)
    }
}

/// The live record of a token, looked up by hash.
fn lookup(h: &dyn Host, hash: &str) -> Result<Option<TokenRecord>, String> {
    let Some(raw) = h.kv_get(&format!("{TOKEN_PREFIX}{hash}"))? else {
        return Ok(None);
    };
    Ok(TokenRecord::parse(&raw).filter(|r| r.live(h.now_ms())))
}

/// One client message. An `Err` is a failure of the plugin (the store), not
/// of the client; the host turns it into an error response.
pub fn handle(h: &dyn Host, session: u64, request: Request) -> Result<Vec<Outgoing>, String> {
    if let Request::Init(token) = request {
        return init(h, session, &token);
    }
    let Some(room) = h.get_attr(session, ROOM_ATTR) else {
        // Anything but init before init: refused, and the connection closed.
        let why = match &request {
            Request::Invalid(reason) => reason.clone(),
            _ => "the first message must be init".to_string(),
        };
        h.log(
            Level::Info,
            "handle",
            &format!("session {session}: message before init refused ({why}); closing"),
        );
        h.close(session);
        return Ok(vec![reply(failure("init", &why))]);
    };
    Ok(match request {
        Request::Init(_) => Vec::new(), // handled above
        Request::CheckDevice => {
            let code = if h.members(&room).len() > 1 { "1" } else { "0" };
            vec![reply(
                json!({ "cmd": "checkDevice", "code": code, "extra": {} }).to_string(),
            )]
        }
        Request::Heartbeat => vec![reply(HEARTBEAT)],
        Request::Command { text, .. } => vec![Outgoing {
            to: Target::GroupOthers(room),
            text,
        }],
        // The original crashed the connection's task here (a bug); the
        // frame is skipped and the connection lives on.
        Request::Invalid(reason) => {
            h.log(
                Level::Info,
                "handle",
                &format!("session {session}: malformed message skipped: {reason}"),
            );
            Vec::new()
        }
    })
}

fn init(h: &dyn Host, session: u64, token: &str) -> Result<Vec<Outgoing>, String> {
    let record = if token.is_empty() || token.len() > MAX_TOKEN {
        None
    } else {
        let hash = sha256_hex(token);
        lookup(h, &hash)?.map(|r| (hash, r))
    };
    let previous = h.get_attr(session, ROOM_ATTR);
    let Some((hash, record)) = record else {
        if let Some(room) = previous {
            h.leave(session, &room);
            h.set_attr(session, ROOM_ATTR, None);
        }
        h.log(
            Level::Info,
            "init",
            &format!("session {session}: init refused (invalid or expired token); closing"),
        );
        h.close(session);
        return Ok(vec![reply(failure("init", "invalid or expired token"))]);
    };
    let room = room_of(&hash);
    if let Some(old) = previous.filter(|old| *old != room) {
        h.leave(session, &old);
    }
    h.join(session, &room);
    h.set_attr(session, ROOM_ATTR, Some(&room));
    h.log(
        Level::Debug,
        "init",
        &format!(
            "session {session}: joined the room of token {}",
            &hash[..ID_LEN]
        ),
    );
    Ok(vec![reply(
        json!({ "cmd": "init", "code": "1", "session_id": record.session_id }).to_string(),
    )])
}

/// The session is gone; the host removes it from its room right after.
pub fn closed(h: &dyn Host, session: u64) {
    h.log(
        Level::Debug,
        "closed",
        &format!("session {session}: closed"),
    );
}

pub use wasmgate_sdk::AdminError;

fn bad(message: impl Into<String>) -> AdminError {
    AdminError {
        status: 400,
        message: message.into(),
    }
}

/// A failure of the plugin: a message, or a host error as its text.
fn internal(message: impl Into<String>) -> AdminError {
    AdminError {
        status: 500,
        message: message.into(),
    }
}

/// `POST /admin/{plugin}`: token management. See the README.
pub fn admin(h: &dyn Host, request: &str) -> Result<String, AdminError> {
    let v: Value = serde_json::from_str(request).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let Value::Object(req) = v else {
        return Err(bad("the request must be a JSON object"));
    };
    match req.get("op").and_then(Value::as_str) {
        Some("create-token") => create_token(h, &req),
        Some("list-tokens") => list_tokens(h),
        Some("revoke-token") => revoke_token(h, &req),
        Some(op) => Err(bad(format!(
            "unknown op {op:?} (create-token, list-tokens, revoke-token)"
        ))),
        None => Err(bad("missing \"op\"")),
    }
}

fn random_hex(h: &dyn Host, n: usize) -> Result<Vec<u8>, AdminError> {
    let mut buf = vec![0u8; n];
    h.random(&mut buf)
        .map_err(|e| internal(format!("no randomness: {e}")))?;
    Ok(buf)
}

/// A random (version 4) UUID.
fn new_uuid(h: &dyn Host) -> Result<String, AdminError> {
    let mut b = random_hex(h, 16)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex(&b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    ))
}

fn create_token(h: &dyn Host, req: &Map<String, Value>) -> Result<String, AdminError> {
    let ttl_ms = match req.get("ttl_s") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let s = v
                .as_u64()
                .filter(|s| *s > 0)
                .ok_or_else(|| bad("ttl_s must be a positive integer"))?;
            Some(
                s.checked_mul(1000)
                    .ok_or_else(|| bad("ttl_s is too large"))?,
            )
        }
    };
    let (token, imported) = match req.get("token") {
        None | Some(Value::Null) => (hex(&random_hex(h, TOKEN_BYTES)?), false),
        Some(Value::String(t)) => {
            if t.len() < MIN_IMPORTED_TOKEN
                || t.len() > MAX_TOKEN
                || t.chars().any(|c| c.is_control())
            {
                return Err(bad(format!(
                    "a given token must be {MIN_IMPORTED_TOKEN} to {MAX_TOKEN} bytes without control characters"
                )));
            }
            (t.clone(), true)
        }
        Some(_) => return Err(bad("token must be a string")),
    };
    let hash = sha256_hex(&token);
    if imported && lookup(h, &hash).map_err(internal)?.is_some() {
        return Err(AdminError {
            status: 409,
            message: "that token exists already".to_string(),
        });
    }
    let now = h.now_ms();
    let record = TokenRecord {
        created_ms: now,
        expires_ms: ttl_ms.map(|t| now.saturating_add(t)),
        session_id: new_uuid(h)?,
    };
    h.kv_set(&format!("{TOKEN_PREFIX}{hash}"), &record.to_json(), ttl_ms)
        .map_err(internal)?;
    h.log(
        Level::Info,
        "admin",
        &format!("token {} created", &hash[..ID_LEN]),
    );
    Ok(json!({
        "token": token,
        "id": &hash[..ID_LEN],
        "session_id": record.session_id,
        "created_ms": record.created_ms,
        "expires_ms": record.expires_ms,
    })
    .to_string())
}

fn list_tokens(h: &dyn Host) -> Result<String, AdminError> {
    let now = h.now_ms();
    let mut tokens = Vec::new();
    for (key, raw) in h.kv_list(TOKEN_PREFIX, LIST_LIMIT).map_err(internal)? {
        let Some(hash) = key.strip_prefix(TOKEN_PREFIX) else {
            continue;
        };
        let Some(r) = TokenRecord::parse(&raw).filter(|r| r.live(now)) else {
            continue;
        };
        tokens.push(json!({
            "id": &hash[..ID_LEN.min(hash.len())],
            "created_ms": r.created_ms,
            "expires_ms": r.expires_ms,
            "session_id": r.session_id,
            "connected": h.members(&room_of(hash)).len(),
        }));
    }
    Ok(json!({ "tokens": tokens }).to_string())
}

fn revoke_token(h: &dyn Host, req: &Map<String, Value>) -> Result<String, AdminError> {
    let hash = match (req.get("token"), req.get("id")) {
        (Some(Value::String(t)), _) => sha256_hex(t),
        (None, Some(Value::String(id))) => {
            if id.len() != ID_LEN || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad(format!("id must be {ID_LEN} hex digits")));
            }
            let prefix = format!("{TOKEN_PREFIX}{}", id.to_ascii_lowercase());
            let found = h.kv_list(&prefix, 2).map_err(internal)?;
            match found.as_slice() {
                [(key, _)] => key[TOKEN_PREFIX.len()..].to_string(),
                [] => return Err(not_found()),
                _ => {
                    return Err(AdminError {
                        status: 409,
                        message: "several tokens have that id: revoke by token".to_string(),
                    });
                }
            }
        }
        _ => return Err(bad("revoke-token needs \"token\" or \"id\" (a string)")),
    };
    if !h
        .kv_delete(&format!("{TOKEN_PREFIX}{hash}"))
        .map_err(internal)?
    {
        return Err(not_found());
    }
    // The room's connections logged in with a token that is no more.
    let members = h.members(&room_of(&hash));
    for s in &members {
        h.close(s.id);
    }
    h.log(
        Level::Info,
        "admin",
        &format!(
            "token {} revoked; {} connection(s) closed",
            &hash[..ID_LEN],
            members.len()
        ),
    );
    Ok(json!({ "revoked": &hash[..ID_LEN], "closed": members.len() }).to_string())
}

fn not_found() -> AdminError {
    AdminError {
        status: 404,
        message: "no such token".to_string(),
    }
}

#[cfg(test)]
mod tests;
