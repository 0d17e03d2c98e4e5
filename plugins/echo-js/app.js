// Minimal JavaScript plugin (world `raw`), the twin of plugins/echo-raw:
// echoes each frame back, prefixed by the plugin's config value `prefix`.
//
//   componentize-qjs --sync --wit ../../wit --world raw --js app.js -o echo_js.wasm

import config from "wasmgate:plugin/config@1.0.0";

// QuickJS has no TextEncoder: UTF-8 bytes of a string, the ES way.
const utf8 = (s) => Array.from(unescape(encodeURIComponent(s)), (c) => c.charCodeAt(0));

export const rawHandler = {
  opened(session) {
    return [];
  },
  handle(session, frame) {
    const prefix = utf8(config.get("prefix") ?? "");
    return [{ to: { tag: "reply" }, frame: [...prefix, ...frame] }];
  },
  closed(session) {
    return [];
  },
};

export const admin = {
  handle(request) {
    return '{"ok":true}';
  },
};
