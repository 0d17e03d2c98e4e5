// %%name%%: a wasmgate plugin of world `exec` (the remote-execute relay).
//
// The host owns the WebSocket, decodes each client text frame into a typed
// request and sends the texts the handler returns; it also sends the server
// heartbeat itself. This relay has one room, the session group ROOM: a
// client that logs in with the token of the config value `token` joins it,
// and every command it sends after that reaches the other members as it was
// received. The rules are in handler.js; this module binds them to the WIT
// world (imported interfaces are ES modules named by their full WIT name,
// exported ones objects named in camelCase, variants `{ tag, val }`).

import config from "wasmgate:plugin/config@1.0.0";
import logging from "wasmgate:plugin/logging@1.0.0";
import sessions from "wasmgate:plugin/sessions@1.0.0";
import { HEARTBEAT, ROOM, checkDeviceReply, initReply, tokenOk } from "./handler.js";

/** The session attribute set once a client has logged in. */
const LOGGED_IN = "logged-in";
const reply = (text) => ({ to: { tag: "reply" }, text });

export const execHandler = {
  handle(session, request) {
    if (request.tag === "init") {
      const ok = tokenOk(request.val, config.get("token"));
      if (ok) {
        sessions.setAttr(session, LOGGED_IN, "1");
        sessions.join(session, ROOM);
      } else {
        // Never log the token itself.
        logging.log("info", "init", "refused a login");
        sessions.close(session);
      }
      return [reply(initReply(ok))];
    }
    if (sessions.getAttr(session, LOGGED_IN) === null) throw "log in first (init)";
    switch (request.tag) {
      case "check-device":
        return [reply(checkDeviceReply(sessions.members(ROOM).length))];
      case "heartbeat":
        return [reply(HEARTBEAT)];
      case "command":
        // Relayed verbatim to everyone else in the room.
        return [{ to: { tag: "group-others", val: ROOM }, text: request.val.text }];
      default:
        // "invalid": not JSON, or no "cmd": skipped without an answer.
        return [];
    }
  },
  /** The host removes the session from its groups itself. */
  closed(session) {},
};

export const admin = {
  /** POST /admin/%%name%%: how many clients are in the room. */
  handle(request) {
    return JSON.stringify({ members: sessions.members(ROOM).length });
  },
};
