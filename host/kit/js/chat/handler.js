// The chat rules of %%name%%, free of the WIT bindings so that
// test/handler.test.mjs runs them under Node (app.js binds them to the
// component).

/** The session group of everyone logged in. */
export const ONLINE = "online";
/** The session attribute that holds a logged-in user's name. */
export const ATTR_NAME = "name";
export const MAX_NAME = 32;
const NAME = /^[A-Za-z0-9]+$/;

/** Why `name` cannot log in, or null. Guests only: a password asks for a
 * registered user, which this plugin does not keep yet. */
export function loginRefusal(name, password) {
  if (password) return "only guests can log in here: leave the password out";
  if (name.length < 1 || name.length > MAX_NAME) return `a name has 1 to ${MAX_NAME} characters`;
  if (!NAME.test(name)) return "a name has only letters and digits";
  return null;
}

/** The name's claim and the group of its session: names are unique whatever
 * their case. */
export function userKey(name) {
  return `user:${name.toLowerCase()}`;
}
