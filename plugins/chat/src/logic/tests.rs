//! The chat rules against an in-memory host that behaves like the real one
//! (claims, groups in join order, attributes).

use wasmgate_sdk::MemHost;

use super::*;

/// What the host does when a connection ends: `closed`, then removal.
fn disconnect(h: &MemHost, session: u64) -> Vec<Outgoing> {
    let out = closed(h, session);
    h.drop_session(session);
    out
}

fn login(h: &MemHost, s: u64, name: &str, password: Option<&str>) -> Vec<Outgoing> {
    handle(
        h,
        s,
        Request::Login {
            name: name.into(),
            password: password.map(Into::into),
        },
    )
    .unwrap()
}

fn register(h: &MemHost, s: u64, name: &str, password: &str) -> Message {
    let mut out = handle(
        h,
        s,
        Request::Register {
            name: name.into(),
            password: password.into(),
        },
    )
    .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].to, Target::Reply);
    out.remove(0).message
}

fn login_ok(out: &[Outgoing]) -> Vec<(String, bool)> {
    match &out[0] {
        Outgoing {
            to: Target::Reply,
            message:
                Message::LoginResult {
                    ok: true,
                    friends,
                    message: None,
                },
        } => friends.clone(),
        other => panic!("expected a successful login, got {other:?}"),
    }
}

fn login_refused(out: &[Outgoing], why: &str) {
    assert_eq!(out.len(), 1, "{out:?}");
    match &out[0].message {
        Message::LoginResult {
            ok: false,
            friends,
            message: Some(m),
        } => {
            assert!(friends.is_empty());
            assert!(m.contains(why), "{m:?} does not say {why:?}");
        }
        other => panic!("expected a refused login, got {other:?}"),
    }
}

fn friends(list: &[(&str, bool)]) -> Vec<(String, bool)> {
    list.iter().map(|(n, g)| (n.to_string(), *g)).collect()
}

#[test]
fn guest_login_lists_everyone_and_announces_to_the_others() {
    let h = MemHost::default();
    assert_eq!(
        login_ok(&login(&h, 1, "alice", None)),
        friends(&[("alice", true)])
    );
    let out = login(&h, 2, "Bob42", Some(""));
    assert_eq!(login_ok(&out), friends(&[("alice", true), ("Bob42", true)]));
    assert_eq!(
        out[1],
        Outgoing {
            to: Target::GroupOthers(ONLINE.into()),
            message: Message::LoggedOn {
                name: "Bob42".into(),
                guest: true
            }
        }
    );
}

#[test]
fn name_rules() {
    let h = MemHost::default();
    login_ok(&login(&h, 1, "alice", None));
    login_refused(&login(&h, 2, "alice", None), "already online");
    login_refused(&login(&h, 2, "ALICE", None), "already online");
    login_refused(&login(&h, 2, "abc", None), "more than 3");
    login_refused(&login(&h, 2, "al ice", None), "letters and digits");
    login_refused(&login(&h, 2, "alicé1", None), "letters and digits");
    login_refused(&login(&h, 2, "", None), "more than 3");
    login_refused(&login(&h, 2, &"a".repeat(33), None), "at most 32");
    for reserved in ["admin", "Administrator", "GUEST", "user", "Table"] {
        login_refused(&login(&h, 2, reserved, None), "reserved");
    }
    // None of these left a claim or an attribute behind.
    login_ok(&login(&h, 2, "abcd", None));
    assert_eq!(h.claims().len(), 2);
}

#[test]
fn logging_in_twice_on_one_connection_is_refused() {
    let h = MemHost::default();
    login_ok(&login(&h, 1, "alice", None));
    login_refused(&login(&h, 1, "other", None), "already logged in as alice");
    assert_eq!(h.get_attr(1, ATTR_NAME).as_deref(), Some("alice"));
    assert!(h.claim(2, "other"), "the refused name was not claimed");
}

#[test]
fn register_then_login_with_password() {
    let h = MemHost::default();
    assert_eq!(
        register(&h, 1, "Carol", "s3cret"),
        Message::RegisterResult {
            ok: true,
            message: None
        }
    );
    let stored = h.kv_get("user/carol").unwrap().unwrap();
    assert!(!stored.contains("s3cret"), "{stored}");
    assert!(h.claims().is_empty(), "registration keeps no claim");

    login_refused(&login(&h, 2, "carol", Some("wrong")), "wrong password");
    login_refused(&login(&h, 2, "carol", None), "registered name");
    // Registered under "Carol": any case logs in, shown as registered.
    let out = login(&h, 2, "CAROL", Some("s3cret"));
    assert_eq!(login_ok(&out), friends(&[("Carol", false)]));
    assert_eq!(
        out[1].message,
        Message::LoggedOn {
            name: "Carol".into(),
            guest: false
        }
    );
    login_refused(&login(&h, 3, "carol", Some("s3cret")), "already online");
    login_refused(&login(&h, 3, "dave1", Some("pw")), "not registered");
}

#[test]
fn registration_failures_say_why() {
    let h = MemHost::default();
    register(&h, 1, "carol", "pw1");
    let cases = [
        ("Carol", "pw2", "already registered"),
        ("abc", "pw", "more than 3"),
        ("admin", "pw", "reserved"),
        ("dave1", "", "required"),
        ("dave1", "p w", "letters and digits"),
    ];
    for (name, pw, why) in cases {
        match register(&h, 1, name, pw) {
            Message::RegisterResult {
                ok: false,
                message: Some(m),
            } => assert!(m.contains(why), "{name}: {m:?}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    // A name a guest holds online cannot be registered by someone else...
    login_ok(&login(&h, 2, "erin", None));
    match register(&h, 3, "erin", "pw") {
        Message::RegisterResult { ok: false, message } => {
            assert!(message.unwrap().contains("in use"))
        }
        other => panic!("{other:?}"),
    }
    // ...but the guest can register it; it stays logged in.
    assert!(matches!(
        register(&h, 2, "erin", "pw"),
        Message::RegisterResult { ok: true, .. }
    ));
    assert!(h.claims().get("erin") == Some(&2));
}

#[test]
fn host_errors_say_what_failed() {
    let h = MemHost::default();
    h.fail_storage(true);
    match register(&h, 1, "carol", "pw1") {
        Message::RegisterResult {
            ok: false,
            message: Some(m),
        } => assert_eq!(m, "unavailable: storage failure (injected by the test)"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn private_message_and_receipt() {
    let h = MemHost::default();
    login(&h, 1, "alice", None);
    login(&h, 2, "bobby", None);
    let out = handle(
        &h,
        1,
        Request::Private {
            friend: "BOBBY".into(),
            message: "hi".into(),
        },
    )
    .unwrap();
    assert_eq!(
        out,
        [
            Outgoing {
                to: Target::Session(2),
                message: Message::Private {
                    sender: "alice".into(),
                    message: "hi".into()
                }
            },
            Outgoing {
                to: Target::Reply,
                message: Message::Receipt(true)
            }
        ]
    );
    let out = handle(
        &h,
        1,
        Request::Private {
            friend: "nobody".into(),
            message: "hi".into(),
        },
    )
    .unwrap();
    assert_eq!(out, [reply(Message::Receipt(false))]);
}

#[test]
fn group_message_goes_to_everyone() {
    let h = MemHost::default();
    login(&h, 1, "alice", None);
    let out = handle(&h, 1, Request::Group("hello".into())).unwrap();
    assert_eq!(
        out,
        [Outgoing {
            to: Target::Group(ONLINE.into()),
            message: Message::Group {
                speaker: "alice".into(),
                message: "hello".into()
            }
        }]
    );
}

#[test]
fn everything_but_login_and_register_needs_a_login() {
    let h = MemHost::default();
    for r in [
        Request::Logout,
        Request::Group("x".into()),
        Request::Private {
            friend: "alice".into(),
            message: "x".into(),
        },
    ] {
        let err = handle(&h, 1, r).unwrap_err();
        assert!(err.contains("not logged in"), "{err}");
    }
    assert!(matches!(
        register(&h, 1, "frank", "pw"),
        Message::RegisterResult { ok: true, .. }
    ));
}

#[test]
fn logout_announces_once_and_frees_the_name() {
    let h = MemHost::default();
    login(&h, 1, "alice", None);
    login(&h, 2, "bobby", None);
    let out = handle(&h, 2, Request::Logout).unwrap();
    assert_eq!(
        out,
        [Outgoing {
            to: Target::Group(ONLINE.into()),
            message: Message::LoggedOut("bobby".into())
        }]
    );
    assert_eq!(h.members(ONLINE).len(), 1);
    // The connection ending later announces nothing more.
    assert!(disconnect(&h, 2).is_empty());
    // The name is free again, and the session may log in again.
    login_ok(&login(&h, 3, "bobby", None));
    assert!(handle(&h, 2, Request::Logout).is_err());
}

#[test]
fn a_dropped_connection_announces_once() {
    let h = MemHost::default();
    login(&h, 1, "alice", None);
    login(&h, 2, "bobby", None);
    assert_eq!(
        closed(&h, 2),
        [Outgoing {
            to: Target::GroupOthers(ONLINE.into()),
            message: Message::LoggedOut("bobby".into())
        }]
    );
    // `closed` changes nothing: a retry after a failed call says the same.
    assert_eq!(closed(&h, 2).len(), 1);
    disconnect(&h, 2);
    assert!(closed(&h, 2).is_empty());
    // Never logged in: nothing to announce.
    assert!(closed(&h, 7).is_empty());
    assert_eq!(
        handle(
            &h,
            1,
            Request::Private {
                friend: "bobby".into(),
                message: "x".into()
            }
        )
        .unwrap(),
        [reply(Message::Receipt(false))]
    );
}

#[test]
fn admin_ops() {
    let h = MemHost::default();
    register(&h, 1, "carol", "pw");
    login(&h, 1, "alice", None);
    login(&h, 2, "carol", Some("pw"));
    let online: serde_json::Value =
        serde_json::from_str(&handle_admin(&h, r#"{"op":"online"}"#).unwrap()).unwrap();
    assert_eq!(
        online,
        serde_json::json!({"online":[{"name":"alice","guest":true},{"name":"carol","guest":false}]})
    );
    assert_eq!(
        handle_admin(&h, r#"{"op":"users"}"#).unwrap(),
        r#"{"users":["carol"]}"#
    );
    assert_eq!(
        handle_admin(&h, r#"{"op":"delete-user","name":"Carol"}"#).unwrap(),
        r#"{"deleted":true}"#
    );
    assert_eq!(handle_admin(&h, r#"{"op":"nope"}"#).unwrap_err().0, 400);
    assert_eq!(handle_admin(&h, "not json").unwrap_err().0, 400);
}
