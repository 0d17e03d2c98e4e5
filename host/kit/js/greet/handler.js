// The greeting of %%name%%, free of the WIT bindings so that
// test/handler.test.mjs runs it under Node (app.js binds it to the component).

export const MAX_NAME = 64;

/** A name the plugin refuses: the host writes `ERROR <reason>`. */
export class GreetError extends Error {}

/** Length of a string in UTF-8 bytes (QuickJS has no TextEncoder). */
const utf8Length = (s) => unescape(encodeURIComponent(s)).length;

/** `<greeting>, <name>!`, "Hello" when no greeting is configured. */
export function greet(name, greeting) {
  if (utf8Length(name) > MAX_NAME) throw new GreetError(`name longer than ${MAX_NAME} bytes`);
  return `${greeting ?? "Hello"}, ${name}!`;
}
