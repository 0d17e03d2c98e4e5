//! The relay logic against an in-memory host.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::*;

#[derive(Default)]
struct Fake {
    kv: RefCell<BTreeMap<String, (String, Option<u64>)>>,
    now: Cell<u64>,
    logs: RefCell<Vec<String>>,
    attrs: RefCell<HashMap<(u64, String), String>>,
    groups: RefCell<BTreeMap<String, Vec<u64>>>,
    closed: RefCell<BTreeSet<u64>>,
    counter: Cell<u8>,
}

impl Host for Fake {
    fn kv_get(&self, key: &str) -> Result<Option<String>, String> {
        let now = self.now.get();
        Ok(self
            .kv
            .borrow()
            .get(key)
            .filter(|(_, exp)| exp.is_none_or(|e| now < e))
            .map(|(v, _)| v.clone()))
    }
    fn kv_set(&self, key: &str, value: &str, ttl_ms: Option<u64>) -> Result<(), String> {
        let exp = ttl_ms.map(|t| self.now.get() + t);
        self.kv
            .borrow_mut()
            .insert(key.to_string(), (value.to_string(), exp));
        Ok(())
    }
    fn kv_delete(&self, key: &str) -> Result<bool, String> {
        let live = self.kv_get(key)?.is_some();
        self.kv.borrow_mut().remove(key);
        Ok(live)
    }
    fn kv_list(&self, prefix: &str, limit: u32) -> Result<Vec<(String, String)>, String> {
        let now = self.now.get();
        Ok(self
            .kv
            .borrow()
            .iter()
            .filter(|(k, (_, exp))| k.starts_with(prefix) && exp.is_none_or(|e| now < e))
            .take(limit as usize)
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect())
    }
    fn now_ms(&self) -> u64 {
        self.now.get()
    }
    fn log(&self, _level: Level, message: &str) {
        self.logs.borrow_mut().push(message.to_string());
    }
    fn random(&self, buf: &mut [u8]) -> Result<(), String> {
        // Real randomness, plus a counter so that two calls never collide
        // even in theory within one test.
        getrandom::fill(buf).map_err(|e| e.to_string())?;
        self.counter.set(self.counter.get().wrapping_add(1));
        buf[0] ^= self.counter.get();
        Ok(())
    }
    fn get_attr(&self, session: u64, key: &str) -> Option<String> {
        self.attrs
            .borrow()
            .get(&(session, key.to_string()))
            .cloned()
    }
    fn set_attr(&self, session: u64, key: &str, value: Option<&str>) {
        let k = (session, key.to_string());
        match value {
            Some(v) => self.attrs.borrow_mut().insert(k, v.to_string()),
            None => self.attrs.borrow_mut().remove(&k),
        };
    }
    fn join(&self, session: u64, group: &str) {
        let mut g = self.groups.borrow_mut();
        let members = g.entry(group.to_string()).or_default();
        if !members.contains(&session) {
            members.push(session);
        }
    }
    fn leave(&self, session: u64, group: &str) {
        if let Some(m) = self.groups.borrow_mut().get_mut(group) {
            m.retain(|s| *s != session);
        }
    }
    fn members(&self, group: &str) -> Vec<u64> {
        self.groups.borrow().get(group).cloned().unwrap_or_default()
    }
    fn close(&self, session: u64) {
        self.closed.borrow_mut().insert(session);
    }
}

impl Fake {
    fn new() -> Fake {
        let f = Fake::default();
        f.now.set(1_000_000);
        f
    }

    /// The host dropping a session: out of every group, attributes gone.
    fn drop_session(&self, session: u64) {
        for m in self.groups.borrow_mut().values_mut() {
            m.retain(|s| *s != session);
        }
        self.attrs.borrow_mut().retain(|(s, _), _| *s != session);
    }

    fn admin_ok(&self, req: Value) -> Value {
        serde_json::from_str(&admin(self, &req.to_string()).unwrap()).unwrap()
    }

    fn token(&self, ttl_s: Option<u64>) -> String {
        let v = self.admin_ok(json!({"op":"create-token","ttl_s":ttl_s}));
        v["token"].as_str().unwrap().to_string()
    }
}

fn json_of(o: &Outgoing) -> Value {
    serde_json::from_str(&o.text).unwrap()
}

fn init(h: &Fake, s: u64, token: &str) -> Vec<Outgoing> {
    handle(h, s, Request::Init(token.to_string())).unwrap()
}

#[test]
fn init_with_a_valid_token_joins_the_room_with_one_session_id() {
    let h = Fake::new();
    let t = h.token(None);
    let a = init(&h, 1, &t);
    let b = init(&h, 2, &t);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].to, Target::Reply);
    let (va, vb) = (json_of(&a[0]), json_of(&b[0]));
    assert_eq!(va["cmd"], "init");
    assert_eq!(va["code"], "1");
    let sid = va["session_id"].as_str().unwrap();
    assert_eq!(sid.len(), 36, "{sid}");
    assert_eq!(sid.as_bytes()[14], b'4', "a v4 uuid: {sid}");
    assert_eq!(va["session_id"], vb["session_id"], "one id per room");
    let room = h.get_attr(1, "room").unwrap();
    assert_eq!(h.members(&room), [1, 2]);
    assert!(!room.contains(&t), "the room is named from a hash");
    assert!(h.closed.borrow().is_empty());

    // Another token: another room, another id.
    let t2 = h.token(None);
    let c = json_of(&init(&h, 3, &t2)[0]);
    assert_ne!(c["session_id"], va["session_id"]);
    assert_ne!(h.get_attr(3, "room"), Some(room));
}

#[test]
fn bad_missing_expired_and_revoked_tokens_are_refused_and_closed() {
    let h = Fake::new();
    let short = h.token(Some(1));
    let revoked = h.token(None);
    h.admin_ok(json!({"op":"revoke-token","token":revoked}));
    h.now.set(h.now.get() + 1_000);
    for (s, token) in [
        (1, "nope".to_string()),
        (2, String::new()),
        (3, short.clone()),
        (4, revoked.clone()),
        (5, "x".repeat(600)),
    ] {
        let out = init(&h, s, &token);
        let v = json_of(&out[0]);
        assert_eq!(v["cmd"], "init", "{s}");
        assert_eq!(v["code"], "0", "{s}");
        assert!(v["extra"]["msg"].is_string());
        assert!(h.closed.borrow().contains(&s), "{s} closed");
        assert!(h.get_attr(s, "room").is_none());
    }
    for line in h.logs.borrow().iter() {
        assert!(!line.contains(&short) && !line.contains(&revoked), "{line}");
    }
}

#[test]
fn anything_before_init_is_refused_and_closed() {
    let h = Fake::new();
    for (s, req) in [
        (1, Request::CheckDevice),
        (2, Request::Heartbeat),
        (3, Request::Execute("{\"cmd\":\"execute\"}".into())),
        (4, Request::Other("x".into())),
        (5, Request::Invalid("invalid JSON: EOF".into())),
        (6, Request::Binary),
    ] {
        let out = handle(&h, s, req).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].to, Target::Reply);
        let v = json_of(&out[0]);
        assert_eq!(
            (v["cmd"].as_str(), v["code"].as_str()),
            (Some("init"), Some("0"))
        );
        assert!(h.closed.borrow().contains(&s));
    }
}

#[test]
fn relay_goes_verbatim_to_the_others_only() {
    let h = Fake::new();
    let t = h.token(None);
    init(&h, 1, &t);
    init(&h, 2, &t);
    let room = h.get_attr(1, "room").unwrap();
    for text in [
        "{\"cmd\":\"execute\",\"extra\":{\"data\":\"ls\"}}",
        "{ \"cmd\":\"execute\",  \"data\":\"ls\" }",
    ] {
        let out = handle(&h, 1, Request::Execute(text.into())).unwrap();
        assert_eq!(
            out,
            [Outgoing {
                to: Target::GroupOthers(room.clone()),
                text: text.into()
            }]
        );
    }
    let text = "{\"cmd\":\"execute_result\",\"extra\":{\"data\":\"ok\"}}";
    let out = handle(&h, 2, Request::ExecuteResult(text.into())).unwrap();
    assert_eq!(out[0].to, Target::GroupOthers(room));
    assert_eq!(out[0].text, text);
}

#[test]
fn check_device_counts_the_room() {
    let h = Fake::new();
    let t = h.token(None);
    init(&h, 1, &t);
    let code = |h: &Fake| json_of(&handle(h, 1, Request::CheckDevice).unwrap()[0])["code"].clone();
    assert_eq!(code(&h), "0");
    init(&h, 2, &t);
    assert_eq!(code(&h), "1");
    let v = json_of(&handle(&h, 1, Request::CheckDevice).unwrap()[0]);
    assert_eq!(v, json!({"cmd":"checkDevice","code":"1","extra":{}}));
    closed(&h, 2);
    h.drop_session(2);
    assert_eq!(code(&h), "0");
}

#[test]
fn after_init_heartbeat_is_answered_and_junk_is_skipped() {
    let h = Fake::new();
    let t = h.token(None);
    init(&h, 1, &t);
    let out = handle(&h, 1, Request::Heartbeat).unwrap();
    assert_eq!(out, [reply(HEARTBEAT)]);
    assert!(
        handle(&h, 1, Request::Invalid("invalid JSON".into()))
            .unwrap()
            .is_empty()
    );
    assert!(
        handle(&h, 1, Request::Other("whatever".into()))
            .unwrap()
            .is_empty()
    );
    let bin = handle(&h, 1, Request::Binary).unwrap();
    assert_eq!(json_of(&bin[0])["code"], "0");
    assert!(h.closed.borrow().is_empty(), "none of these closes");
}

#[test]
fn init_again_moves_rooms_and_a_bad_one_leaves() {
    let h = Fake::new();
    let (t1, t2) = (h.token(None), h.token(None));
    init(&h, 1, &t1);
    let r1 = h.get_attr(1, "room").unwrap();
    init(&h, 1, &t2);
    let r2 = h.get_attr(1, "room").unwrap();
    assert!(h.members(&r1).is_empty());
    assert_eq!(h.members(&r2), [1]);
    init(&h, 1, "wrong");
    assert!(h.members(&r2).is_empty());
    assert!(h.closed.borrow().contains(&1));
}

#[test]
fn tokens_are_random_hashed_listed_without_secret_and_revocable_by_id() {
    let h = Fake::new();
    let created = h.admin_ok(json!({"op":"create-token","ttl_s":60}));
    let t = created["token"].as_str().unwrap().to_string();
    assert_eq!(t.len(), 64, "256 bits in hex");
    assert!(t.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(created["expires_ms"], 1_000_000 + 60_000);
    let other = h.token(None);
    assert_ne!(t, other);
    // Stored under its hash only.
    for (k, (v, _)) in h.kv.borrow().iter() {
        assert!(!k.contains(&t) && !v.contains(&t), "{k} {v}");
    }
    assert!(
        h.kv.borrow()
            .contains_key(&format!("token/{}", sha256_hex(&t)))
    );

    init(&h, 7, &t);
    let list = h.admin_ok(json!({"op":"list-tokens"}));
    let tokens = list["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    assert!(!list.to_string().contains(&t) && !list.to_string().contains(&other));
    let mine = tokens.iter().find(|x| x["id"] == created["id"]).unwrap();
    assert_eq!(mine["connected"], 1);
    assert_eq!(mine["session_id"], created["session_id"]);

    // Revoking by id closes the room's connections.
    let r = h.admin_ok(json!({"op":"revoke-token","id":created["id"]}));
    assert_eq!(r["closed"], 1);
    assert!(h.closed.borrow().contains(&7));
    let err = admin(&h, &json!({"op":"revoke-token","token":t}).to_string()).unwrap_err();
    assert_eq!(err.status, 404);
    assert_eq!(
        h.admin_ok(json!({"op":"list-tokens"}))["tokens"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    for line in h.logs.borrow().iter() {
        assert!(!line.contains(&t) && !line.contains(&other), "{line}");
    }
}

#[test]
fn operator_tokens_can_be_imported_once() {
    let h = Fake::new();
    let given = "the-old-servers-token-0001";
    let v = h.admin_ok(json!({"op":"create-token","token":given}));
    assert_eq!(v["token"], given);
    assert_eq!(v["expires_ms"], Value::Null);
    assert_eq!(json_of(&init(&h, 1, given)[0])["code"], "1");
    let dup = admin(&h, &json!({"op":"create-token","token":given}).to_string()).unwrap_err();
    assert_eq!(dup.status, 409);
    let short = admin(
        &h,
        &json!({"op":"create-token","token":"short"}).to_string(),
    )
    .unwrap_err();
    assert_eq!(short.status, 400);
}

#[test]
fn bad_admin_requests_are_400() {
    let h = Fake::new();
    for req in [
        "not json",
        "[]",
        "{}",
        r#"{"op":"explode"}"#,
        r#"{"op":"create-token","ttl_s":0}"#,
        r#"{"op":"create-token","ttl_s":-5}"#,
        r#"{"op":"create-token","ttl_s":"10"}"#,
        r#"{"op":"create-token","ttl_s":18446744073709551615}"#,
        r#"{"op":"revoke-token"}"#,
        r#"{"op":"revoke-token","id":"xyz"}"#,
    ] {
        let e = admin(&h, req).unwrap_err();
        assert_eq!(e.status, 400, "{req}: {e:?}");
    }
}
