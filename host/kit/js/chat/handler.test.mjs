// Unit tests of handler.js under Node: node --test test/

import assert from "node:assert/strict";
import { test } from "node:test";

import { loginRefusal, userKey } from "../handler.js";

test("guests with plain names log in", () => {
  assert.equal(loginRefusal("alice", null), null);
  assert.equal(loginRefusal("Bob42", ""), null);
});

test("bad names and passwords are refused", () => {
  for (const [name, password] of [["", null], ["a".repeat(33), null], ["al ice", null], ["ålice", null], ["alice", "secret"]]) {
    assert.notEqual(loginRefusal(name, password), null, name);
  }
});

test("names are unique whatever their case", () => {
  assert.equal(userKey("Alice"), userKey("aLICE"));
  assert.notEqual(userKey("alice"), userKey("bob"));
});
