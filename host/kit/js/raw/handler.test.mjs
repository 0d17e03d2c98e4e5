// Unit tests of handler.js under Node: node --test test/

import assert from "node:assert/strict";
import { test } from "node:test";

import { echo, utf8 } from "../handler.js";

test("frames come back prefixed", () => {
  assert.deepEqual(echo(new Uint8Array(utf8("hello")), "echo: "), new Uint8Array(utf8("echo: hello")));
  assert.deepEqual(utf8("é"), [0xc3, 0xa9]);
});

test("without a prefix frames come back as they are", () => {
  assert.deepEqual(echo(new Uint8Array([0, 159, 255]), null), new Uint8Array([0, 159, 255]));
  assert.deepEqual(echo(new Uint8Array([]), null), new Uint8Array([]));
});
