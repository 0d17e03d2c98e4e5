// The locker policy of %%name%%, free of the WIT bindings so that
// test/handler.test.mjs runs it under Node (app.js binds it to the component).

/** A report the policy refuses: answered with the protocol's error line. */
export class ReportError extends Error {}

/** Whether the board is in `blocked`, the config value: board IDs separated
 * by commas (spaces around them are ignored). */
export function isBlocked(boardId, blocked) {
  return blocked != null && blocked.split(",").some((b) => b.trim() === boardId);
}

/** The answer to a report from board `boardId`, the WIT `answer` record:
 * `{ reset, block, cells: [{ cell, code, minutes }] }`. No codes yet: a real
 * policy keeps them in the key-value store (`keyvalue.set` with a TTL) and
 * lets operators set them through `admin.handle`. */
export function answer(boardId, blocked) {
  if (!boardId) {
    // The host refuses reports without an ID; a policy checks anyway.
    throw new ReportError("report without an ID");
  }
  return { reset: false, block: isBlocked(boardId, blocked), cells: [] };
}
