// What %%name%% answers, free of the WIT bindings so that
// test/handler.test.mjs runs it under Node (app.js binds it to the component).

/** UTF-8 bytes of a string (QuickJS has no TextEncoder). */
export const utf8 = (s) => Array.from(unescape(encodeURIComponent(s)), (c) => c.charCodeAt(0));

/** The answer to `frame` (bytes): the frame, prefixed by `prefix`. */
export function echo(frame, prefix) {
  return new Uint8Array([...utf8(prefix ?? ""), ...frame]);
}
