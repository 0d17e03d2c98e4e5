//! The chat rules, independent of the WIT bindings so they run natively in
//! tests. Nothing is kept in the component between calls:
//!
//! - who is online: the session group [`ONLINE`], the session attributes
//!   [`ATTR_NAME`] and [`ATTR_GUEST`], and one group per user
//!   (`user:<lowercase name>`) that finds a user's session in one lookup;
//! - a name is taken by claiming its lowercase form (`claim`), which is
//!   atomic in the host, so two logins of one name cannot both win, and
//!   names differing only in case are the same user;
//! - registered users: kv `user/<lowercase name>` → `{"name", "phc"}`, the
//!   password as an argon2id PHC string made by the host.

use serde::{Deserialize, Serialize};

pub use wasmgate_sdk::{Host, Level, SessionId};

/// Every logged-in session is in this group.
pub const ONLINE: &str = "online";
pub const ATTR_NAME: &str = "name";
/// "1" for a guest, "0" for a registered user.
pub const ATTR_GUEST: &str = "guest";
const USER_KEY: &str = "user/";
/// Longest name accepted (the spec sets only the minimum).
pub const MAX_NAME: usize = 32;
/// Longest password accepted.
pub const MAX_PASSWORD: usize = 128;
const RESERVED: &[&str] = &["admin", "administrator", "guest", "user", "table"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Login {
        name: String,
        password: Option<String>,
    },
    Register {
        name: String,
        password: String,
    },
    Logout,
    Private {
        friend: String,
        message: String,
    },
    Group(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// 11; `friends` are (name, is guest).
    LoginResult {
        ok: bool,
        friends: Vec<(String, bool)>,
        message: Option<String>,
    },
    /// 12
    RegisterResult { ok: bool, message: Option<String> },
    /// 13
    Private { sender: String, message: String },
    /// 14
    Receipt(bool),
    /// 30
    LoggedOn { name: String, guest: bool },
    /// 31
    LoggedOut(String),
    /// 32
    Group { speaker: String, message: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Reply,
    Session(SessionId),
    Group(String),
    GroupOthers(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub to: Target,
    pub message: Message,
}

fn reply(message: Message) -> Outgoing {
    Outgoing {
        to: Target::Reply,
        message,
    }
}

#[derive(Serialize, Deserialize)]
struct User {
    /// As registered (the key is its lowercase form).
    name: String,
    phc: String,
}

fn user_key(key: &str) -> String {
    format!("{USER_KEY}{key}")
}

fn user_group(key: &str) -> String {
    format!("user:{key}")
}

/// Why `name` cannot be a user name, if it cannot.
pub fn check_name(name: &str) -> Result<(), String> {
    if !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("a name has only letters and digits".into());
    }
    if name.len() <= 3 {
        return Err("a name has more than 3 characters".into());
    }
    if name.len() > MAX_NAME {
        return Err(format!("a name has at most {MAX_NAME} characters"));
    }
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return Err(format!("{name} is a reserved word"));
    }
    Ok(())
}

fn check_password(password: &str) -> Result<(), String> {
    if password.is_empty() {
        return Err("a password is required".into());
    }
    if !password.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("a password has only letters and digits".into());
    }
    if password.len() > MAX_PASSWORD {
        return Err(format!("a password has at most {MAX_PASSWORD} characters"));
    }
    Ok(())
}

fn load_user(h: &impl Host, key: &str) -> Result<Option<User>, String> {
    match h.kv_get(&user_key(key))? {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("stored user {key} is unreadable: {e}")),
    }
}

/// One request from `session`. `Err` goes back to the sender as the
/// protocol's error object.
pub fn handle(
    h: &impl Host,
    session: SessionId,
    request: Request,
) -> Result<Vec<Outgoing>, String> {
    match request {
        Request::Login { name, password } => Ok(login(h, session, &name, password.as_deref())),
        Request::Register { name, password } => {
            Ok(vec![reply(register(h, session, &name, &password))])
        }
        Request::Logout => {
            let name = logged_in(h, session)?;
            let key = name.to_ascii_lowercase();
            h.leave(session, ONLINE);
            h.leave(session, &user_group(&key));
            h.set_attr(session, ATTR_NAME, None);
            h.set_attr(session, ATTR_GUEST, None);
            h.release(session, &key);
            // The spec: to every *other* online user; the session has left.
            Ok(vec![Outgoing {
                to: Target::Group(ONLINE.into()),
                message: Message::LoggedOut(name),
            }])
        }
        Request::Private { friend, message } => {
            let sender = logged_in(h, session)?;
            let found = h
                .members(&user_group(&friend.to_ascii_lowercase()))
                .into_iter()
                .find(|m| m.attr(ATTR_NAME).is_some());
            Ok(match found {
                Some(friend) => vec![
                    Outgoing {
                        to: Target::Session(friend.id),
                        message: Message::Private { sender, message },
                    },
                    reply(Message::Receipt(true)),
                ],
                None => vec![reply(Message::Receipt(false))],
            })
        }
        Request::Group(message) => {
            let speaker = logged_in(h, session)?;
            Ok(vec![Outgoing {
                to: Target::Group(ONLINE.into()),
                message: Message::Group { speaker, message },
            }])
        }
    }
}

/// The connection of `session` ended: 31 to the others if it was logged in.
/// Changes nothing (the host removes the session next), so calling it again
/// after a failed call cannot announce anything twice.
pub fn closed(h: &impl Host, session: SessionId) -> Vec<Outgoing> {
    match h.get_attr(session, ATTR_NAME) {
        Some(name) => vec![Outgoing {
            to: Target::GroupOthers(ONLINE.into()),
            message: Message::LoggedOut(name),
        }],
        None => Vec::new(),
    }
}

fn logged_in(h: &impl Host, session: SessionId) -> Result<String, String> {
    h.get_attr(session, ATTR_NAME)
        .ok_or_else(|| "not logged in: send 01 (login) first".to_string())
}

fn login_failed(h: &impl Host, name: &str, why: String) -> Vec<Outgoing> {
    h.log(
        Level::Info,
        "login",
        &format!("login of {name:?} refused: {why}"),
    );
    vec![reply(Message::LoginResult {
        ok: false,
        friends: Vec::new(),
        message: Some(why),
    })]
}

fn login(h: &impl Host, session: SessionId, name: &str, password: Option<&str>) -> Vec<Outgoing> {
    if let Some(current) = h.get_attr(session, ATTR_NAME) {
        return login_failed(
            h,
            name,
            format!("already logged in as {current}; log out (03) first"),
        );
    }
    if let Err(why) = check_name(name) {
        return login_failed(h, name, why);
    }
    let key = name.to_ascii_lowercase();
    // The password is checked before the name is claimed: a login that
    // fails never holds the name, so guessing at it cannot keep its owner
    // out ("already online").
    let password = password.filter(|p| !p.is_empty());
    let checked = match (load_user(h, &key), password) {
        (Err(e), _) => {
            h.log(Level::Warn, "login", &e);
            Err("the user store is unavailable".to_string())
        }
        (Ok(Some(_)), None) => Err(format!(
            "{name} is a registered name: log in with its password"
        )),
        (Ok(Some(user)), Some(pw)) => {
            if h.password_verify(pw, &user.phc) {
                Ok((user.name, false))
            } else {
                Err("wrong password".to_string())
            }
        }
        (Ok(None), Some(_)) => Err(format!(
            "{name} is not registered (log in without a password as a guest)"
        )),
        (Ok(None), None) => Ok((name.to_string(), true)),
    };
    let (name, guest) = match checked {
        Ok(x) => x,
        Err(why) => return login_failed(h, name, why),
    };
    if !h.claim(session, &key) {
        let why = format!("{name} is already online");
        return login_failed(h, &name, why);
    }
    h.set_attr(session, ATTR_NAME, Some(&name));
    h.set_attr(session, ATTR_GUEST, Some(if guest { "1" } else { "0" }));
    // The user's own group first: whoever sees this session in ONLINE (on
    // any host) can then already reach it through that group.
    h.join(session, &user_group(&key));
    h.join(session, ONLINE);
    let friends = h
        .members(ONLINE)
        .into_iter()
        .filter_map(|m| {
            let n = m.attr(ATTR_NAME)?.to_string();
            Some((n, m.attr(ATTR_GUEST) != Some("0")))
        })
        .collect();
    vec![
        reply(Message::LoginResult {
            ok: true,
            friends,
            message: None,
        }),
        Outgoing {
            to: Target::GroupOthers(ONLINE.into()),
            message: Message::LoggedOn { name, guest },
        },
    ]
}

fn register(h: &impl Host, session: SessionId, name: &str, password: &str) -> Message {
    let failed = |why: String| Message::RegisterResult {
        ok: false,
        message: Some(why),
    };
    if let Err(why) = check_name(name) {
        return failed(why);
    }
    if let Err(why) = check_password(password) {
        return failed(why);
    }
    let key = name.to_ascii_lowercase();
    // Holding the name's claim while checking and writing keeps a guest
    // login of the same name (which also claims it) from slipping in between.
    let own = h
        .get_attr(session, ATTR_NAME)
        .is_some_and(|n| n.eq_ignore_ascii_case(name));
    if !own && !h.claim(session, &key) {
        return failed(format!("{name} is in use by a user online"));
    }
    let result = (|| {
        if load_user(h, &key)?.is_some() {
            return Err(format!("{name} is already registered"));
        }
        let phc = h.password_hash(password)?;
        let user = User {
            name: name.to_string(),
            phc,
        };
        let text = serde_json::to_string(&user).map_err(|e| e.to_string())?;
        Ok(h.kv_set(&user_key(&key), &text, None)?)
    })();
    if !own {
        h.release(session, &key);
    }
    match result {
        Ok(()) => {
            h.log(Level::Info, "register", &format!("registered {name}"));
            Message::RegisterResult {
                ok: true,
                message: None,
            }
        }
        Err(why) => failed(why),
    }
}

/// Operator requests (`POST /admin/chat`):
/// `{"op":"online"}` → `{"online":[{"name","guest"}]}`,
/// `{"op":"users"}` → `{"users":[names]}` (registered, at most 10000),
/// `{"op":"delete-user","name"}` → `{"deleted":bool}`.
pub fn handle_admin(h: &impl Host, request: &str) -> Result<String, (u16, String)> {
    #[derive(Deserialize)]
    struct Req {
        op: String,
        name: Option<String>,
    }
    let req: Req = serde_json::from_str(request).map_err(|e| (400, format!("bad request: {e}")))?;
    let answer = match req.op.as_str() {
        "online" => {
            let online: Vec<_> = h
                .members(ONLINE)
                .iter()
                .filter_map(|m| {
                    Some(serde_json::json!({
                        "name": m.attr(ATTR_NAME)?,
                        "guest": m.attr(ATTR_GUEST) != Some("0"),
                    }))
                })
                .collect();
            serde_json::json!({ "online": online })
        }
        "users" => {
            let users: Vec<String> = h
                .kv_list(USER_KEY, 10_000)
                .map_err(|e| (500, e.to_string()))?
                .into_iter()
                .filter_map(|(_, v)| serde_json::from_str::<User>(&v).ok().map(|u| u.name))
                .collect();
            serde_json::json!({ "users": users })
        }
        "delete-user" => {
            let name = req.name.ok_or((400, "name is required".to_string()))?;
            let deleted = h
                .kv_delete(&user_key(&name.to_ascii_lowercase()))
                .map_err(|e| (500, e.to_string()))?;
            serde_json::json!({ "deleted": deleted })
        }
        other => {
            return Err((
                400,
                format!("unknown op {other:?} (online, users, delete-user)"),
            ));
        }
    };
    Ok(answer.to_string())
}

#[cfg(test)]
mod tests;
