// %%name%%: a wasmgate plugin of world `chat`.
//
// The host reads the clients' JSON objects ({"Command":"01",...}), calls
// `chatHandler.handle` with each as a typed request, and delivers the
// messages it returns. Who is online lives in the host's sessions -- the
// group ONLINE, a session attribute with the user's name, one group per user
// to find their session, an atomic claim per name -- so the component keeps
// nothing and a hot swap logs nobody out. The rules are in handler.js; this
// module binds them to the WIT world: imported interfaces are ES modules
// named by their full WIT name, exported ones objects named in camelCase,
// variants `{ tag, val }` with the WIT case name, records camelCase objects,
// and a thrown string is the WIT `result` error.

import sessions from "wasmgate:plugin/sessions@1.0.0";
import { ATTR_NAME, ONLINE, loginRefusal, userKey } from "./handler.js";

const reply = { tag: "reply" };
const out = (to, tag, val) => ({ to, message: { tag, val } });

function loginFailed(why) {
  return [out(reply, "login-result", { ok: false, friends: [], message: why })];
}

/** The name `session` logged in with; an error for a request that needs one. */
function loggedIn(session) {
  const name = sessions.getAttr(session, ATTR_NAME);
  if (name === null) throw "log in first";
  return name;
}

function login(session, name, password) {
  if (sessions.getAttr(session, ATTR_NAME) !== null) return loginFailed("already logged in");
  const why = loginRefusal(name, password);
  if (why !== null) return loginFailed(why);
  const key = userKey(name);
  if (!sessions.claim(session, key)) return loginFailed(`${name} is already online`);
  sessions.setAttr(session, ATTR_NAME, name);
  sessions.join(session, ONLINE);
  sessions.join(session, key);
  const friends = sessions
    .members(ONLINE)
    .flatMap((m) => m.attrs.filter(([k]) => k === ATTR_NAME).map(([, v]) => ({ name: v, isGuest: true })));
  return [
    out(reply, "login-result", { ok: true, friends, message: null }),
    out({ tag: "group-others", val: ONLINE }, "logged-on", { name, isGuest: true }),
  ];
}

/** Logs `session` out, if it is logged in: what the others are told. */
function leave(session) {
  const name = sessions.getAttr(session, ATTR_NAME);
  if (name === null) return [];
  const key = userKey(name);
  sessions.leave(session, key);
  sessions.leave(session, ONLINE);
  sessions.release(session, key);
  sessions.setAttr(session, ATTR_NAME, null);
  return [out({ tag: "group-others", val: ONLINE }, "logged-out", name)];
}

export const chatHandler = {
  handle(session, request) {
    switch (request.tag) {
      case "login":
        return login(session, request.val.name, request.val.password);
      case "register":
        return [out(reply, "register-result", { ok: false, message: "registration is not open here" })];
      case "logout":
        return leave(session);
      case "private-message": {
        const sender = loggedIn(session);
        const friend = userKey(request.val.friendName);
        const online = sessions.members(friend).length > 0;
        const messages = [];
        if (online) {
          messages.push(out({ tag: "group", val: friend }, "private-message", { sender, message: request.val.message }));
        }
        messages.push(out(reply, "receipt", online));
        return messages;
      }
      case "group-message": {
        const speaker = loggedIn(session);
        return [out({ tag: "group", val: ONLINE }, "group-message", { speaker, message: request.val })];
      }
      default:
        throw `unknown request ${request.tag}`;
    }
  },
  closed(session) {
    return leave(session);
  },
};

export const admin = {
  /** POST /admin/%%name%%: who is online. */
  handle(request) {
    return JSON.stringify({ online: sessions.members(ONLINE).length });
  },
};
