// Unit tests of handler.js under Node: node --test test/

import assert from "node:assert/strict";
import { test } from "node:test";

import { imageKind, loginOk } from "../handler.js";

test("configured tokens log in", () => {
  const tokens = "cam-1, cam-2";
  assert.equal(loginOk("cam-2", tokens), true);
  assert.equal(loginOk("cam-1\0\0\0", tokens), true);
  assert.equal(loginOk("cam-3", tokens), false);
  assert.equal(loginOk("", ""), false);
  assert.equal(loginOk("cam-1", null), false);
});

test("photos are told apart from other bytes", () => {
  assert.equal(imageKind(new Uint8Array([0xff, 0xd8, 0xff, 0xe0])), "jpeg");
  assert.equal(imageKind(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0])), "png");
  assert.equal(imageKind(new Uint8Array([0x47, 0x49, 0x46])), null);
  assert.equal(imageKind(new Uint8Array([0xff])), null);
});
