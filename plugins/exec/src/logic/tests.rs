//! The relay logic against an in-memory host.

use wasmgate_sdk::MemHost;

use super::*;

/// Operator calls the tests make.
trait Operator {
    fn admin_ok(&self, req: Value) -> Value;
    fn token(&self, ttl_s: Option<u64>) -> String;
}

impl Operator for MemHost {
    fn admin_ok(&self, req: Value) -> Value {
        serde_json::from_str(&admin(self, &req.to_string()).unwrap()).unwrap()
    }

    fn token(&self, ttl_s: Option<u64>) -> String {
        let v = self.admin_ok(json!({"op":"create-token","ttl_s":ttl_s}));
        v["token"].as_str().unwrap().to_string()
    }
}

fn ids(members: &[wasmgate_sdk::SessionInfo]) -> Vec<u64> {
    members.iter().map(|m| m.id).collect()
}

fn command(cmd: &str, text: &str) -> Request {
    Request::Command {
        cmd: cmd.into(),
        text: text.into(),
    }
}

fn json_of(o: &Outgoing) -> Value {
    serde_json::from_str(&o.text).unwrap()
}

fn init(h: &MemHost, s: u64, token: &str) -> Vec<Outgoing> {
    handle(h, s, Request::Init(token.to_string())).unwrap()
}

#[test]
fn init_with_a_valid_token_joins_the_room_with_one_session_id() {
    let h = MemHost::at(1_000_000);
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
    assert_eq!(ids(&h.members(&room)), [1, 2]);
    assert!(!room.contains(&t), "the room is named from a hash");
    assert!(h.closed().is_empty());

    // Another token: another room, another id.
    let t2 = h.token(None);
    let c = json_of(&init(&h, 3, &t2)[0]);
    assert_ne!(c["session_id"], va["session_id"]);
    assert_ne!(h.get_attr(3, "room"), Some(room));
}

#[test]
fn bad_missing_expired_and_revoked_tokens_are_refused_and_closed() {
    let h = MemHost::at(1_000_000);
    let short = h.token(Some(1));
    let revoked = h.token(None);
    h.admin_ok(json!({"op":"revoke-token","token":revoked}));
    h.advance(1_000);
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
        assert!(h.closed().contains(&s), "{s} closed");
        assert!(h.get_attr(s, "room").is_none());
    }
    for (_, line) in h.logs().iter() {
        assert!(!line.contains(&short) && !line.contains(&revoked), "{line}");
    }
}

#[test]
fn anything_before_init_is_refused_and_closed() {
    let h = MemHost::at(1_000_000);
    for (s, req) in [
        (1, Request::CheckDevice),
        (2, Request::Heartbeat),
        (3, command("execute", "{\"cmd\":\"execute\"}")),
        (4, command("x", "{\"cmd\":\"x\"}")),
        (5, Request::Invalid("invalid JSON: EOF".into())),
    ] {
        let out = handle(&h, s, req).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].to, Target::Reply);
        let v = json_of(&out[0]);
        assert_eq!(
            (v["cmd"].as_str(), v["code"].as_str()),
            (Some("init"), Some("0"))
        );
        assert!(h.closed().contains(&s));
    }
}

#[test]
fn relay_goes_verbatim_to_the_others_only() {
    let h = MemHost::at(1_000_000);
    let t = h.token(None);
    init(&h, 1, &t);
    init(&h, 2, &t);
    let room = h.get_attr(1, "room").unwrap();
    for (cmd, text) in [
        (
            "execute",
            "{\"cmd\":\"execute\",\"extra\":{\"data\":\"ls\"}}",
        ),
        ("execute", "{ \"cmd\":\"execute\",  \"data\":\"ls\" }"),
        ("progress", "{\"cmd\":\"progress\",\"extra\":{\"pct\":40}}"),
        ("cancel", "{\"cmd\":\"cancel\"}"),
    ] {
        let out = handle(&h, 1, command(cmd, text)).unwrap();
        assert_eq!(
            out,
            [Outgoing {
                to: Target::GroupOthers(room.clone()),
                text: text.into()
            }]
        );
    }
    let text = "{\"cmd\":\"execute_result\",\"extra\":{\"data\":\"ok\"}}";
    let out = handle(&h, 2, command("execute_result", text)).unwrap();
    assert_eq!(out[0].to, Target::GroupOthers(room));
    assert_eq!(out[0].text, text);
}

#[test]
fn check_device_counts_the_room() {
    let h = MemHost::at(1_000_000);
    let t = h.token(None);
    init(&h, 1, &t);
    let code =
        |h: &MemHost| json_of(&handle(h, 1, Request::CheckDevice).unwrap()[0])["code"].clone();
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
    let h = MemHost::at(1_000_000);
    let t = h.token(None);
    init(&h, 1, &t);
    let out = handle(&h, 1, Request::Heartbeat).unwrap();
    assert_eq!(out, [reply(HEARTBEAT)]);
    assert_eq!(
        json_of(&out[0]),
        json!({"cmd":"Heartbeat","code":"1","session_id":null,"extra":{}})
    );
    assert!(
        handle(&h, 1, Request::Invalid("invalid JSON".into()))
            .unwrap()
            .is_empty()
    );
    assert!(h.closed().is_empty(), "none of these closes");
}

#[test]
fn init_again_moves_rooms_and_a_bad_one_leaves() {
    let h = MemHost::at(1_000_000);
    let (t1, t2) = (h.token(None), h.token(None));
    init(&h, 1, &t1);
    let r1 = h.get_attr(1, "room").unwrap();
    init(&h, 1, &t2);
    let r2 = h.get_attr(1, "room").unwrap();
    assert!(h.members(&r1).is_empty());
    assert_eq!(ids(&h.members(&r2)), [1]);
    init(&h, 1, "wrong");
    assert!(h.members(&r2).is_empty());
    assert!(h.closed().contains(&1));
}

#[test]
fn tokens_are_random_hashed_listed_without_secret_and_revocable_by_id() {
    let h = MemHost::at(1_000_000);
    let created = h.admin_ok(json!({"op":"create-token","ttl_s":60}));
    let t = created["token"].as_str().unwrap().to_string();
    assert_eq!(t.len(), 64, "256 bits in hex");
    assert!(t.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(created["expires_ms"], 1_000_000 + 60_000);
    let other = h.token(None);
    assert_ne!(t, other);
    // Stored under its hash only.
    for (k, (v, _)) in h.raw_kv().iter() {
        assert!(!k.contains(&t) && !v.contains(&t), "{k} {v}");
    }
    assert!(
        h.raw_kv()
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
    assert!(h.closed().contains(&7));
    let err = admin(&h, &json!({"op":"revoke-token","token":t}).to_string()).unwrap_err();
    assert_eq!(err.status, 404);
    assert_eq!(
        h.admin_ok(json!({"op":"list-tokens"}))["tokens"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    for (_, line) in h.logs().iter() {
        assert!(!line.contains(&t) && !line.contains(&other), "{line}");
    }
}

#[test]
fn operator_tokens_can_be_imported_once() {
    let h = MemHost::at(1_000_000);
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
    let h = MemHost::at(1_000_000);
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
