// wasmgate chat component in JavaScript (world `chat`), built with
// componentize-qjs (QuickJS):
//
//   componentize-qjs --sync --wit ../../wit --world chat --js app.js -o chat_js.wasm
//
// The rules live in logic.js; this module binds them to the WIT imports and
// exports. WIT interfaces are ES modules named by their full WIT name; an
// exported interface is an exported object named in camelCase.

import keyvalue from "wasmgate:plugin/keyvalue@1.0.0";
import logging from "wasmgate:plugin/logging@1.0.0";
import passwords from "wasmgate:plugin/passwords@1.0.0";
import sessions from "wasmgate:plugin/sessions@1.0.0";
import * as logic from "./logic.js";

/** The host as logic.js sees it. A failed import throws the WIT error
 * variant (`{ tag: "unavailable", val: "..." }`), which logic.js words. */
const witHost = {
  kvGet: (key) => keyvalue.get(key),
  kvSet: (key, value, ttlMs) => keyvalue.set(key, value, ttlMs),
  kvDelete: (key) => keyvalue.delete(key),
  kvList: (prefix, limit) => keyvalue.listEntries(prefix, limit),
  passwordHash: (password) => passwords.hash(password),
  passwordVerify: (password, phc) => passwords.verify(password, phc),
  log: (level, context, message) => logging.log(level, context, message),
  getAttr: (session, key) => sessions.getAttr(session, key),
  setAttr: (session, key, value) => sessions.setAttr(session, key, value),
  join: (session, group) => sessions.join(session, group),
  leave: (session, group) => sessions.leave(session, group),
  members: (group) => sessions.members(group),
  claim: (session, name) => sessions.claim(session, name),
  release: (session, name) => sessions.release(session, name),
};

/** A handler's own failure goes back as the WIT `result` error (a string);
 * anything else is a bug and traps, so the host replaces the instance. */
function asResult(f) {
  try {
    return f();
  } catch (e) {
    if (e instanceof logic.HandlerError) throw e.message;
    throw e;
  }
}

export const chatHandler = {
  handle(session, request) {
    return asResult(() => logic.handle(witHost, session, request));
  },
  closed(session) {
    return logic.closed(witHost, session);
  },
};

export const admin = {
  handle(request) {
    try {
      return logic.handleAdmin(witHost, request);
    } catch (e) {
      if (e instanceof logic.AdminError) throw { status: e.status, message: e.message };
      throw e;
    }
  },
};
