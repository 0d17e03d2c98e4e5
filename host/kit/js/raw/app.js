// %%name%%: a wasmgate plugin of world `raw`, for a protocol defined in the
// host's configuration alone.
//
// The listener's `framing` (lines, length-prefixed, fixed-size or WebSocket
// messages) cuts the byte stream into frames; the host calls
// `rawHandler.handle` with each frame (a Uint8Array) and writes the frames it
// returns, framed the same way. This one echoes each frame to its sender,
// prefixed by the config value `prefix`. The logic is in handler.js; this
// module binds it to the WIT world: each imported interface is an ES module
// named by its full WIT name, each exported interface an exported object
// named in camelCase.

import config from "wasmgate:plugin/config@1.0.0";
import { echo } from "./handler.js";

const reply = { tag: "reply" };

export const rawHandler = {
  /** A connection opened: nothing to say first. */
  opened(session) {
    return [];
  },
  handle(session, frame) {
    return [{ to: reply, frame: echo(frame, config.get("prefix")) }];
  },
  /** The connection ended: nobody else to tell. */
  closed(session) {
    return [];
  },
};

export const admin = {
  /** POST /admin/%%name%%: nothing to administer. */
  handle(request) {
    return "{}";
  },
};
