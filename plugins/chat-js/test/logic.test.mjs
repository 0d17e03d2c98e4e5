// The JavaScript chat rules under Node against an in-memory host that behaves
// like the real one (claims, groups in join order, attributes): the cases of
// plugins/chat/src/logic/tests.rs. Run: npm test (node --test test/).

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  ONLINE, HandlerError, AdminError, closed, describeHostError, handle, handleAdmin,
} from "../logic.js";

class MemHost {
  constructor() {
    this.kv = new Map();
    this.attrs = new Map(); // session -> Map
    this.groups = new Map(); // group -> [session] in join order
    this.claims = new Map(); // name -> session
    this.logs = [];
    this.storageFails = false;
  }
  /** As a failed import throws: the WIT error variant. */
  storage() {
    if (this.storageFails) throw { tag: "unavailable", val: "storage failure (injected by the test)" };
  }
  kvGet(key) { this.storage(); return this.kv.has(key) ? this.kv.get(key) : null; }
  kvSet(key, value, ttl) { this.storage(); assert.equal(ttl, null); this.kv.set(key, value); }
  kvDelete(key) { return this.kv.delete(key); }
  kvList(prefix, limit) {
    return [...this.kv.keys()].filter((k) => k.startsWith(prefix)).sort().slice(0, limit)
      .map((k) => [k, this.kv.get(k)]);
  }
  passwordHash(pw) { return `$fake$${[...pw].reverse().join("")}`; }
  passwordVerify(pw, phc) { return phc === this.passwordHash(pw); }
  log(level, context, message) { this.logs.push([level, context, message]); }
  getAttr(s, key) { return this.attrs.get(s)?.get(key) ?? null; }
  setAttr(s, key, value) {
    if (!this.attrs.has(s)) this.attrs.set(s, new Map());
    if (value === null) this.attrs.get(s).delete(key); else this.attrs.get(s).set(key, value);
  }
  join(s, g) {
    const m = this.groups.get(g) ?? [];
    if (!m.includes(s)) m.push(s);
    this.groups.set(g, m);
  }
  leave(s, g) { this.groups.set(g, (this.groups.get(g) ?? []).filter((x) => x !== s)); }
  members(g) {
    return (this.groups.get(g) ?? []).map((id) => ({
      id, listener: "chat", peer: "127.0.0.1:1", attrs: [...(this.attrs.get(id) ?? new Map())],
    }));
  }
  claim(s, name) {
    const owner = this.claims.get(name);
    if (owner !== undefined && owner !== s) return false;
    this.claims.set(name, s);
    return true;
  }
  release(s, name) { if (this.claims.get(name) === s) this.claims.delete(name); }
  /** What the host does when a connection ends: `closed`, then removal. */
  disconnect(s) {
    const out = closed(this, s);
    this.attrs.delete(s);
    for (const g of this.groups.keys()) this.leave(s, g);
    for (const [name, owner] of this.claims) if (owner === s) this.claims.delete(name);
    return out;
  }
}

const login = (h, s, name, password = null) =>
  handle(h, s, { tag: "login", val: { name, password } });
const register = (h, s, name, password) => {
  const out = handle(h, s, { tag: "register", val: { name, password } });
  assert.equal(out.length, 1);
  assert.deepEqual(out[0].to, { tag: "reply" });
  assert.equal(out[0].message.tag, "register-result");
  return out[0].message.val;
};
const reply = { tag: "reply" };
function loginOk(out) {
  assert.deepEqual(out[0].to, reply);
  assert.equal(out[0].message.tag, "login-result");
  assert.equal(out[0].message.val.ok, true, JSON.stringify(out));
  assert.equal(out[0].message.val.message, null);
  return out[0].message.val.friends.map((f) => [f.name, f.isGuest]);
}
function loginRefused(out, why) {
  assert.equal(out.length, 1, JSON.stringify(out));
  const v = out[0].message.val;
  assert.equal(out[0].message.tag, "login-result");
  assert.equal(v.ok, false);
  assert.deepEqual(v.friends, []);
  assert.ok(v.message.includes(why), `${v.message} does not say ${why}`);
}

test("guest login lists everyone and announces to the others", () => {
  const h = new MemHost();
  assert.deepEqual(loginOk(login(h, 1, "alice")), [["alice", true]]);
  const out = login(h, 2, "Bob42", "");
  assert.deepEqual(loginOk(out), [["alice", true], ["Bob42", true]]);
  assert.deepEqual(out[1], {
    to: { tag: "group-others", val: ONLINE },
    message: { tag: "logged-on", val: { name: "Bob42", isGuest: true } },
  });
});

test("name rules", () => {
  const h = new MemHost();
  loginOk(login(h, 1, "alice"));
  loginRefused(login(h, 2, "alice"), "already online");
  loginRefused(login(h, 2, "ALICE"), "already online");
  loginRefused(login(h, 2, "abc"), "more than 3");
  loginRefused(login(h, 2, "al ice"), "letters and digits");
  loginRefused(login(h, 2, "alicé1"), "letters and digits");
  loginRefused(login(h, 2, ""), "more than 3");
  loginRefused(login(h, 2, "a".repeat(33)), "at most 32");
  for (const r of ["admin", "Administrator", "GUEST", "user", "Table"]) loginRefused(login(h, 2, r), "reserved");
  loginOk(login(h, 2, "abcd"));
  assert.equal(h.claims.size, 2);
});

test("logging in twice on one connection is refused", () => {
  const h = new MemHost();
  loginOk(login(h, 1, "alice"));
  loginRefused(login(h, 1, "other"), "already logged in as alice");
  assert.equal(h.getAttr(1, "name"), "alice");
  assert.ok(h.claim(2, "other"), "the refused name was not claimed");
});

test("register then log in with the password", () => {
  const h = new MemHost();
  assert.deepEqual(register(h, 1, "Carol", "s3cret"), { ok: true, message: null });
  const stored = h.kvGet("user/carol");
  assert.ok(!stored.includes("s3cret"));
  assert.deepEqual(Object.keys(JSON.parse(stored)), ["name", "phc"]);
  assert.equal(h.claims.size, 0, "registration keeps no claim");
  loginRefused(login(h, 2, "carol", "wrong"), "wrong password");
  loginRefused(login(h, 2, "carol"), "registered name");
  const out = login(h, 2, "CAROL", "s3cret");
  assert.deepEqual(loginOk(out), [["Carol", false]]);
  assert.deepEqual(out[1].message, { tag: "logged-on", val: { name: "Carol", isGuest: false } });
  loginRefused(login(h, 3, "carol", "s3cret"), "already online");
  loginRefused(login(h, 3, "dave1", "pw"), "not registered");
});

test("registration failures say why", () => {
  const h = new MemHost();
  register(h, 1, "carol", "pw1");
  for (const [name, pw, why] of [
    ["Carol", "pw2", "already registered"], ["abc", "pw", "more than 3"], ["admin", "pw", "reserved"],
    ["dave1", "", "required"], ["dave1", "p w", "letters and digits"],
  ]) {
    const r = register(h, 1, name, pw);
    assert.equal(r.ok, false);
    assert.ok(r.message.includes(why), `${name}: ${r.message}`);
  }
  loginOk(login(h, 2, "erin"));
  const r = register(h, 3, "erin", "pw");
  assert.equal(r.ok, false);
  assert.ok(r.message.includes("in use"));
  assert.equal(register(h, 2, "erin", "pw").ok, true);
  assert.equal(h.claims.get("erin"), 2);
});

test("host errors are worded as the Rust twin's", () => {
  const h = new MemHost();
  h.storageFails = true;
  const r = register(h, 1, "carol", "pw1");
  assert.equal(r.ok, false);
  assert.equal(r.message, "unavailable: storage failure (injected by the test)");
  assert.equal(describeHostError({ tag: "too-large", val: 1024 }), "too large (the limit is 1024 bytes)");
  assert.equal(describeHostError({ tag: "other", val: "hashing failed" }), "hashing failed");
});

test("private message and receipt", () => {
  const h = new MemHost();
  login(h, 1, "alice");
  login(h, 2, "bobby");
  assert.deepEqual(handle(h, 1, { tag: "private-message", val: { friendName: "BOBBY", message: "hi" } }), [
    { to: { tag: "session", val: 2 }, message: { tag: "private-message", val: { sender: "alice", message: "hi" } } },
    { to: reply, message: { tag: "receipt", val: true } },
  ]);
  assert.deepEqual(handle(h, 1, { tag: "private-message", val: { friendName: "nobody", message: "hi" } }), [
    { to: reply, message: { tag: "receipt", val: false } },
  ]);
});

test("group message goes to everyone", () => {
  const h = new MemHost();
  login(h, 1, "alice");
  assert.deepEqual(handle(h, 1, { tag: "group-message", val: "hello" }), [
    { to: { tag: "group", val: ONLINE }, message: { tag: "group-message", val: { speaker: "alice", message: "hello" } } },
  ]);
});

test("everything but login and register needs a login", () => {
  const h = new MemHost();
  for (const r of [
    { tag: "logout" }, { tag: "group-message", val: "x" },
    { tag: "private-message", val: { friendName: "alice", message: "x" } },
  ]) {
    assert.throws(() => handle(h, 1, r), (e) => e instanceof HandlerError && e.message.includes("not logged in"));
  }
  assert.equal(register(h, 1, "frank", "pw").ok, true);
});

test("logout announces once and frees the name", () => {
  const h = new MemHost();
  login(h, 1, "alice");
  login(h, 2, "bobby");
  assert.deepEqual(handle(h, 2, { tag: "logout" }), [
    { to: { tag: "group", val: ONLINE }, message: { tag: "logged-out", val: "bobby" } },
  ]);
  assert.equal(h.members(ONLINE).length, 1);
  assert.deepEqual(h.disconnect(2), []);
  loginOk(login(h, 3, "bobby"));
  assert.throws(() => handle(h, 2, { tag: "logout" }), HandlerError);
});

test("a dropped connection announces once", () => {
  const h = new MemHost();
  login(h, 1, "alice");
  login(h, 2, "bobby");
  const bye = [{ to: { tag: "group-others", val: ONLINE }, message: { tag: "logged-out", val: "bobby" } }];
  assert.deepEqual(closed(h, 2), bye);
  assert.deepEqual(closed(h, 2), bye, "closed changes nothing");
  h.disconnect(2);
  assert.deepEqual(closed(h, 2), []);
  assert.deepEqual(closed(h, 7), []);
});

test("admin ops", () => {
  const h = new MemHost();
  register(h, 1, "carol", "pw");
  register(h, 1, "Dave1", "pw");
  login(h, 2, "carol", "pw");
  login(h, 3, "guest1");
  assert.equal(handleAdmin(h, '{"op":"online"}'),
    '{"online":[{"guest":false,"name":"carol"},{"guest":true,"name":"guest1"}]}');
  assert.equal(handleAdmin(h, '{"op":"users"}'), '{"users":["carol","Dave1"]}');
  assert.equal(handleAdmin(h, '{"op":"delete-user","name":"DAVE1"}'), '{"deleted":true}');
  assert.equal(handleAdmin(h, '{"op":"delete-user","name":"dave1"}'), '{"deleted":false}');
  for (const [req, status, why] of [
    ["not json", 400, "bad request"], ["[1]", 400, "bad request"], ["{}", 400, "op"],
    ['{"op":7}', 400, "op"], ['{"op":"delete-user"}', 400, "name is required"],
    ['{"op":"explode"}', 400, 'unknown op "explode" (online, users, delete-user)'],
  ]) {
    assert.throws(() => handleAdmin(h, req), (e) => e instanceof AdminError && e.status === status && e.message.includes(why), req);
  }
});
