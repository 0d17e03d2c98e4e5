// Unit tests of handler.js under Node: node --test test/

import assert from "node:assert/strict";
import { test } from "node:test";

import { GreetError, greet } from "../handler.js";

test("greets with the configured greeting", () => {
  assert.equal(greet("Ada", null), "Hello, Ada!");
  assert.equal(greet("Ada", "Good morning"), "Good morning, Ada!");
});

test("long names are refused", () => {
  greet("a".repeat(64), null);
  assert.throws(() => greet("a".repeat(65), null), GreetError);
  assert.throws(() => greet("é".repeat(33), null), GreetError);
});
