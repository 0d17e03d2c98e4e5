// Unit tests of handler.js under Node: node --test test/

import assert from "node:assert/strict";
import { test } from "node:test";

import { ReportError, answer, isBlocked } from "../handler.js";

test("a board gets an open answer", () => {
  assert.deepEqual(answer("board-1", null), { reset: false, block: false, cells: [] });
});

test("listed boards are blocked", () => {
  const blocked = "board-7, board-9";
  assert.equal(answer("board-9", blocked).block, true);
  assert.equal(answer("board-1", blocked).block, false);
  // Whole IDs only.
  assert.equal(isBlocked("board", blocked), false);
  assert.equal(isBlocked("board-7", ""), false);
});

test("a report without an ID is an error", () => {
  assert.throws(() => answer("", null), ReportError);
});
