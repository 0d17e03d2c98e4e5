// Unit tests of handler.js under Node: node --test test/

import assert from "node:assert/strict";
import { test } from "node:test";

import { AdminError, DATABASE, HandlerError, adminOp, answer } from "../handler.js";

test("the database is served for 0x4c", () => {
  const db = new Uint8Array([1, 2]);
  assert.deepEqual(answer(0x4c, db), { command: DATABASE, payload: db });
  assert.throws(() => answer(0x4c, null), HandlerError);
  assert.throws(() => answer(0x99, db), /0x99/);
});

test("uploads are hex", () => {
  assert.deepEqual(adminOp('{"op":"upload","data_hex":"53514c"}'), { op: "upload", data: new Uint8Array([0x53, 0x51, 0x4c]) });
  assert.deepEqual(adminOp('{"op":"current"}'), { op: "current" });
  for (const bad of ['{"op":"upload","data_hex":"5"}', '{"op":"upload"}', "nope", "{}", "null"]) {
    assert.throws(() => adminOp(bad), (e) => e instanceof AdminError && e.status === 400, bad);
  }
});
