// The rules of %%name%%, free of the WIT bindings so that
// test/handler.test.mjs runs them under Node (app.js binds them to the
// component).

/** The client's word asking for the database. */
export const SEND_DATABASE = 0x4c;
/** The answer's word: here is the database. */
export const DATABASE = 0x43;
/** The blob holding the database. */
export const BLOB = "home.db";

/** A command the plugin cannot answer: the host's error frame. */
export class HandlerError extends Error {}

/** An admin request refused: HTTP status and why. */
export class AdminError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Parses an admin request: `{ op: "upload", data }` (bytes) for
 * {"op":"upload","data_hex":"..."}, `{ op: "current" }` for {"op":"current"}. */
export function adminOp(request) {
  let v;
  try {
    v = JSON.parse(request);
  } catch (e) {
    throw new AdminError(400, `not JSON: ${e.message}`);
  }
  const op = v !== null && typeof v === "object" ? v.op : undefined;
  if (op === "current") return { op };
  if (op !== "upload") throw new AdminError(400, 'op is "upload" or "current"');
  const hex = v.data_hex;
  if (typeof hex !== "string") throw new AdminError(400, "upload needs data_hex (the file, in hex)");
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) throw new AdminError(400, "data_hex is not hex");
  if (hex === "") throw new AdminError(400, "data_hex is empty");
  const data = new Uint8Array(hex.length / 2);
  for (let i = 0; i < data.length; i++) data[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return { op, data };
}

/** The answer to `command` given the stored database (bytes or null): the
 * WIT `response` record `{ command, payload }`. */
export function answer(command, database) {
  if (command !== SEND_DATABASE) throw new HandlerError(`unknown command word 0x${command.toString(16)}`);
  if (database === null) throw new HandlerError("no database has been uploaded yet");
  return { command: DATABASE, payload: database };
}
