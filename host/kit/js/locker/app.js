// %%name%%: a wasmgate plugin of world `locker` (locker boards, "ACon").
//
// The host parses each board report (`ACon_V1.0` ... `CLOSE`) and calls
// `lockerHandler.handle`; the answer's reset, block and cell codes become the
// lines the board reads (the host adds ID and SEND). The decision is in
// handler.js; this module binds it to the WIT world: each imported interface
// is an ES module named by its full WIT name, each exported interface an
// exported object named in camelCase, and a thrown string is the WIT
// `result` error.

import config from "wasmgate:plugin/config@1.0.0";
import * as handler from "./handler.js";

export const lockerHandler = {
  handle(report) {
    try {
      return handler.answer(report.id, config.get("blocked"));
    } catch (e) {
      // The policy's own refusals are the protocol's error line; anything
      // else is a bug, and traps (the host replaces the instance).
      if (e instanceof handler.ReportError) throw e.message;
      throw e;
    }
  },
};

export const admin = {
  /** POST /admin/%%name%%: nothing to administer yet. */
  handle(request) {
    return "{}";
  },
};
