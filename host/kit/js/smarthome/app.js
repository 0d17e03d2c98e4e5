// %%name%%: a wasmgate plugin of world `smarthome`.
//
// A client sends one command word; the host calls `smarthomeHandler.handle`
// with it, writes the answer (command word, length, payload) and closes the
// connection. This one serves the home's database, which an operator uploads
// through POST /admin/%%name%% and which is kept in the plugin's blob store.
// The rules are in handler.js; this module binds them to the WIT world
// (imported interfaces are ES modules named by their full WIT name, exported
// ones objects named in camelCase; a failed import throws its `types.error`
// case as `{ tag, val }`).

import blobs from "wasmgate:plugin/blobs@1.0.0";
import * as handler from "./handler.js";

/** A host error (the WIT `types.error` a failed import throws) in words. */
function describe(e) {
  switch (e?.tag) {
    case "too-large":
      return `too large (the limit is ${e.val} bytes)`;
    case "unavailable":
      return `unavailable: ${e.val}`;
    case "other":
      return String(e.val);
    default:
      throw e; // not a host error: a bug, which traps
  }
}

/** Runs `f`, turning a host error into `wrap(words)`. */
function hostCall(f, wrap) {
  try {
    return f();
  } catch (e) {
    throw wrap(describe(e));
  }
}

export const smarthomeHandler = {
  handle(command) {
    const database = hostCall(() => blobs.get(handler.BLOB), (why) => why);
    try {
      return handler.answer(command, database);
    } catch (e) {
      if (e instanceof handler.HandlerError) throw e.message;
      throw e;
    }
  },
};

export const admin = {
  /** POST /admin/%%name%%: upload the database, or ask what is served. */
  handle(request) {
    let op;
    try {
      op = handler.adminOp(request);
    } catch (e) {
      if (e instanceof handler.AdminError) throw { status: e.status, message: e.message };
      throw e;
    }
    const failed = (message) => ({ status: 500, message });
    if (op.op === "upload") {
      hostCall(() => blobs.set(handler.BLOB, op.data), failed);
      return JSON.stringify({ ok: true, bytes: op.data.length });
    }
    const db = hostCall(() => blobs.get(handler.BLOB), failed);
    return JSON.stringify({ bytes: db === null ? 0 : db.length });
  },
};
