// The relay rules and texts of %%name%%, free of the WIT bindings so that
// test/handler.test.mjs runs them under Node (app.js binds them to the
// component).

/** The session group of the logged-in clients. */
export const ROOM = "room";
/** The answer to a client's own {"cmd":"Heartbeat"}. */
export const HEARTBEAT = '{"cmd":"Heartbeat","code":"1","session_id":null,"extra":{}}';

/** Whether `given` is the configured token. No configured token (or an empty
 * one) lets nobody in. */
export function tokenOk(given, configured) {
  if (!configured || given.length !== configured.length) return false;
  // The same time whatever the first differing character is.
  let diff = 0;
  for (let i = 0; i < given.length; i++) diff |= given.charCodeAt(i) ^ configured.charCodeAt(i);
  return diff === 0;
}

/** The answer to an init: accepted (the room's id) or refused. */
export function initReply(accepted) {
  return JSON.stringify(
    accepted
      ? { cmd: "init", code: "1", session_id: ROOM }
      : { cmd: "init", code: "0", extra: { msg: "invalid or expired token" } },
  );
}

/** The answer to checkDevice: "1" when the room holds more than the asking
 * client. */
export function checkDeviceReply(members) {
  return JSON.stringify({ cmd: "checkDevice", code: members > 1 ? "1" : "0", extra: {} });
}
