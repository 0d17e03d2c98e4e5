// The decisions of %%name%%, free of the WIT bindings so that
// test/handler.test.mjs runs them under Node (app.js binds them to the
// component).

/** Whether `token` is one of `tokens`, the config value (comma-separated).
 * Padding the camera sent (NULs, spaces) is not part of a token. */
export function loginOk(token, tokens) {
  const t = token.replace(/^[\0\s]+|[\0\s]+$/g, "");
  return t !== "" && tokens != null && tokens.split(",").some((x) => x.trim() === t);
}

const startsWith = (image, magic) => magic.every((b, i) => image[i] === b);

/** The kind of photo `image` (bytes) is, by its first bytes. */
export function imageKind(image) {
  if (startsWith(image, [0xff, 0xd8, 0xff])) return "jpeg";
  if (startsWith(image, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return "png";
  return null;
}
