// Unit tests of handler.js under Node: node --test test/

import assert from "node:assert/strict";
import { test } from "node:test";

import { checkDeviceReply, initReply, tokenOk } from "../handler.js";

test("only the configured token logs in", () => {
  assert.equal(tokenOk("s3cret", "s3cret"), true);
  assert.equal(tokenOk("s3cre", "s3cret"), false);
  assert.equal(tokenOk("", "s3cret"), false);
  assert.equal(tokenOk("", ""), false);
  assert.equal(tokenOk("anything", null), false);
});

test("answers are the protocol objects", () => {
  assert.equal(initReply(true), '{"cmd":"init","code":"1","session_id":"room"}');
  assert.equal(JSON.parse(initReply(false)).code, "0");
  assert.equal(checkDeviceReply(1), '{"cmd":"checkDevice","code":"0","extra":{}}');
  assert.equal(checkDeviceReply(2), '{"cmd":"checkDevice","code":"1","extra":{}}');
});
