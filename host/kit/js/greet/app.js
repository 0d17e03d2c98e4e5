// %%name%%: a wasmgate plugin of world `greet`.
//
// The client sends `HELLO <name>` on a line; the host calls
// `greetHandler.greet` with the name and writes the answer back as one line
// (a thrown string as `ERROR <reason>`). The logic is in handler.js; this
// module binds it to the WIT world: each imported interface is an ES module
// named by its full WIT name, each exported interface an exported object
// named in camelCase.

import config from "wasmgate:plugin/config@1.0.0";
import * as handler from "./handler.js";

export const greetHandler = {
  greet(name) {
    try {
      return handler.greet(name, config.get("greeting"));
    } catch (e) {
      if (e instanceof handler.GreetError) throw e.message;
      throw e;
    }
  },
};

export const admin = {
  /** POST /admin/%%name%%: nothing to administer. */
  handle(request) {
    return "{}";
  },
};
