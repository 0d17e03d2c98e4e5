// The chat rules, the JavaScript twin of plugins/chat/src/logic.rs.
//
// Independent of the WIT bindings (app.js adapts them), so that
// test/logic.test.mjs runs them under Node against an in-memory host.
// Nothing is kept between calls; the state is the host's, laid out exactly as
// the Rust component lays it out, so the two can replace each other on a live
// host:
//
// - who is online: the session group ONLINE, the session attributes
//   "name" and "guest" ("1" guest, "0" registered), and one group per user
//   `user:<lowercase name>` that finds a user's session in one lookup;
// - a name is taken by claiming its lowercase form (atomic in the host);
// - registered users: kv `user/<lowercase name>` -> {"name","phc"}, the
//   password as an argon2id PHC string made by the host.
//
// Values exchanged with the host are those of the WIT mapping of
// componentize-qjs: records are objects with camelCase keys, variants
// `{tag, val}`, options `null` or the value, u64 session ids plain numbers,
// and a host call whose result is an error throws that error.

export const ONLINE = "online";
export const ATTR_NAME = "name";
export const ATTR_GUEST = "guest";
const USER_KEY = "user/";
export const MAX_NAME = 32;
export const MAX_PASSWORD = 128;
const RESERVED = ["admin", "administrator", "guest", "user", "table"];
const ALNUM = /^[A-Za-z0-9]*$/;

/** An error a handler reports to its caller (the protocol's error object). */
export class HandlerError extends Error {}

/** An admin answer other than 200. */
export class AdminError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Targets and messages, as the WIT variants.
const reply = { tag: "reply" };
const group = (name) => ({ tag: "group", val: name });
const groupOthers = (name) => ({ tag: "group-others", val: name });
const toSession = (id) => ({ tag: "session", val: id });
const out = (to, tag, val) => ({ to, message: val === undefined ? { tag } : { tag, val } });

/** ASCII-only lower case, as Rust's to_ascii_lowercase. */
export function asciiLower(s) {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/** A string as Rust's `{:?}` shows it, near enough for log lines. */
function quoted(s) {
  return JSON.stringify(s);
}

const userKey = (key) => USER_KEY + key;
const userGroup = (key) => `user:${key}`;

function attr(member, key) {
  const found = member.attrs.find(([k]) => k === key);
  return found === undefined ? null : found[1];
}

/** Why `name` cannot be a user name, or null if it can. */
export function checkName(name) {
  if (!ALNUM.test(name)) return "a name has only letters and digits";
  if (name.length <= 3) return "a name has more than 3 characters";
  if (name.length > MAX_NAME) return `a name has at most ${MAX_NAME} characters`;
  if (RESERVED.includes(asciiLower(name))) return `${name} is a reserved word`;
  return null;
}

function checkPassword(password) {
  if (password.length === 0) return "a password is required";
  if (!ALNUM.test(password)) return "a password has only letters and digits";
  if (password.length > MAX_PASSWORD) return `a password has at most ${MAX_PASSWORD} characters`;
  return null;
}

/** A host error (the WIT `types.error` a failed import throws: `{ tag, val }`)
 * as text, worded as the Rust SDK's `Display` of `wasmgate_sdk::Error`, so
 * both twins say the same. */
export function describeHostError(e) {
  switch (e.tag) {
    case "too-large":
      return `too large (the limit is ${e.val} bytes)`;
    case "unavailable":
      return `unavailable: ${e.val}`;
    default:
      return String(e.val);
  }
}

/** The error a host call threw, as text. */
function why(e) {
  if (typeof e === "string") return e;
  if (e && typeof e.tag === "string") return describeHostError(e);
  if (e && typeof e.payload === "string") return e.payload;
  if (e instanceof Error) return e.message;
  return String(e);
}

/** The registered user under `key`, or null; throws HandlerError when the
 * store fails or the entry is unreadable. */
function loadUser(h, key) {
  let text;
  try {
    text = h.kvGet(userKey(key));
  } catch (e) {
    throw new HandlerError(why(e));
  }
  if (text === null || text === undefined) return null;
  let user;
  try {
    user = JSON.parse(text);
  } catch (e) {
    throw new HandlerError(`stored user ${key} is unreadable: ${e.message}`);
  }
  if (!user || typeof user.name !== "string" || typeof user.phc !== "string") {
    throw new HandlerError(`stored user ${key} is unreadable: expected {"name","phc"}`);
  }
  return user;
}

function loggedIn(h, session) {
  const name = h.getAttr(session, ATTR_NAME);
  if (name === null || name === undefined) {
    throw new HandlerError("not logged in: send 01 (login) first");
  }
  return name;
}

/**
 * One request from `session` (the WIT `client-request`). Returns the outgoing
 * messages; throws HandlerError, which goes back to the sender as the
 * protocol's error object.
 */
export function handle(h, session, request) {
  switch (request.tag) {
    case "login":
      return login(h, session, request.val.name, request.val.password);
    case "register":
      return [out(reply, "register-result", register(h, session, request.val.name, request.val.password))];
    case "logout": {
      const name = loggedIn(h, session);
      const key = asciiLower(name);
      h.leave(session, ONLINE);
      h.leave(session, userGroup(key));
      h.setAttr(session, ATTR_NAME, null);
      h.setAttr(session, ATTR_GUEST, null);
      h.release(session, key);
      // The spec: to every *other* online user; the session has left.
      return [out(group(ONLINE), "logged-out", name)];
    }
    case "private-message": {
      const sender = loggedIn(h, session);
      const { friendName, message } = request.val;
      const friend = h
        .members(userGroup(asciiLower(friendName)))
        .find((m) => attr(m, ATTR_NAME) !== null);
      if (friend === undefined) return [out(reply, "receipt", false)];
      return [
        out(toSession(friend.id), "private-message", { sender, message }),
        out(reply, "receipt", true),
      ];
    }
    case "group-message": {
      const speaker = loggedIn(h, session);
      return [out(group(ONLINE), "group-message", { speaker, message: request.val })];
    }
    default:
      throw new HandlerError(`unknown request ${quoted(String(request.tag))}`);
  }
}

/**
 * The connection of `session` ended: 31 to the others if it was logged in.
 * Changes nothing (the host removes the session next).
 */
export function closed(h, session) {
  const name = h.getAttr(session, ATTR_NAME);
  if (name === null || name === undefined) return [];
  return [out(groupOthers(ONLINE), "logged-out", name)];
}

function loginFailed(h, name, reason) {
  h.log("info", "login", `login of ${quoted(name)} refused: ${reason}`);
  return [out(reply, "login-result", { ok: false, friends: [], message: reason })];
}

function login(h, session, name, password) {
  const current = h.getAttr(session, ATTR_NAME);
  if (current !== null && current !== undefined) {
    return loginFailed(h, name, `already logged in as ${current}; log out (03) first`);
  }
  const bad = checkName(name);
  if (bad !== null) return loginFailed(h, name, bad);
  const key = asciiLower(name);
  // The password is checked before the name is claimed: a login that fails
  // never holds the name, so guessing at it cannot keep its owner out.
  const pw = password === null || password === undefined || password === "" ? null : password;
  let checked; // {name, guest} or {error}
  try {
    const user = loadUser(h, key);
    if (user !== null && pw === null) {
      checked = { error: `${name} is a registered name: log in with its password` };
    } else if (user !== null) {
      checked = h.passwordVerify(pw, user.phc)
        ? { name: user.name, guest: false }
        : { error: "wrong password" };
    } else if (pw !== null) {
      checked = { error: `${name} is not registered (log in without a password as a guest)` };
    } else {
      checked = { name, guest: true };
    }
  } catch (e) {
    if (!(e instanceof HandlerError)) throw e;
    h.log("warn", "login", e.message);
    checked = { error: "the user store is unavailable" };
  }
  if (checked.error !== undefined) return loginFailed(h, name, checked.error);
  if (!h.claim(session, key)) {
    return loginFailed(h, checked.name, `${checked.name} is already online`);
  }
  h.setAttr(session, ATTR_NAME, checked.name);
  h.setAttr(session, ATTR_GUEST, checked.guest ? "1" : "0");
  // The user's own group first: whoever sees this session in ONLINE (on any
  // host) can then already reach it through that group.
  h.join(session, userGroup(key));
  h.join(session, ONLINE);
  const friends = [];
  for (const m of h.members(ONLINE)) {
    const n = attr(m, ATTR_NAME);
    if (n !== null) friends.push({ name: n, isGuest: attr(m, ATTR_GUEST) !== "0" });
  }
  return [
    out(reply, "login-result", { ok: true, friends, message: null }),
    out(groupOthers(ONLINE), "logged-on", { name: checked.name, isGuest: checked.guest }),
  ];
}

function register(h, session, name, password) {
  const failed = (reason) => ({ ok: false, message: reason });
  const badName = checkName(name);
  if (badName !== null) return failed(badName);
  const badPassword = checkPassword(password);
  if (badPassword !== null) return failed(badPassword);
  const key = asciiLower(name);
  // Holding the name's claim while checking and writing keeps a guest login
  // of the same name (which also claims it) from slipping in between.
  const current = h.getAttr(session, ATTR_NAME);
  const own = current !== null && current !== undefined && asciiLower(current) === key;
  if (!own && !h.claim(session, key)) return failed(`${name} is in use by a user online`);
  let reason = null;
  try {
    if (loadUser(h, key) !== null) {
      reason = `${name} is already registered`;
    } else {
      const phc = h.passwordHash(password);
      h.kvSet(userKey(key), JSON.stringify({ name, phc }), null);
    }
  } catch (e) {
    reason = why(e);
  } finally {
    if (!own) h.release(session, key);
  }
  if (reason !== null) return failed(reason);
  h.log("info", "register", `registered ${name}`);
  return { ok: true, message: null };
}

/**
 * Operator requests (POST /admin/chat): {"op":"online"} -> {"online":[{"guest","name"}]},
 * {"op":"users"} -> {"users":[names]} (registered, at most 10000),
 * {"op":"delete-user","name"} -> {"deleted":bool}. Throws AdminError.
 */
export function handleAdmin(h, request) {
  let req;
  try {
    req = JSON.parse(request);
  } catch (e) {
    throw new AdminError(400, `bad request: ${e.message}`);
  }
  if (req === null || typeof req !== "object" || Array.isArray(req)) {
    throw new AdminError(400, "bad request: expected a JSON object");
  }
  if (typeof req.op !== "string") {
    throw new AdminError(400, req.op === undefined ? "bad request: missing field `op`" : "bad request: `op` must be a string");
  }
  if (req.name !== undefined && req.name !== null && typeof req.name !== "string") {
    throw new AdminError(400, "bad request: `name` must be a string");
  }
  // Keys in sorted order, as serde_json writes the Rust twin's answers.
  switch (req.op) {
    case "online": {
      const online = [];
      for (const m of h.members(ONLINE)) {
        const name = attr(m, ATTR_NAME);
        if (name !== null) online.push({ guest: attr(m, ATTR_GUEST) !== "0", name });
      }
      return JSON.stringify({ online });
    }
    case "users": {
      let entries;
      try {
        entries = h.kvList(USER_KEY, 10000);
      } catch (e) {
        throw new AdminError(500, why(e));
      }
      const users = [];
      for (const [, v] of entries) {
        try {
          const u = JSON.parse(v);
          if (u && typeof u.name === "string" && typeof u.phc === "string") users.push(u.name);
        } catch {
          // unreadable entries are left out, as the Rust twin does
        }
      }
      return JSON.stringify({ users });
    }
    case "delete-user": {
      if (req.name === undefined || req.name === null) throw new AdminError(400, "name is required");
      let deleted;
      try {
        deleted = h.kvDelete(userKey(asciiLower(req.name)));
      } catch (e) {
        throw new AdminError(500, why(e));
      }
      return JSON.stringify({ deleted });
    }
    default:
      throw new AdminError(400, `unknown op ${quoted(req.op)} (online, users, delete-user)`);
  }
}
