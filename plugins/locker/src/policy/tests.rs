use super::*;
use wasmgate_sdk::{Level, MemHost};

const T0: u64 = 1_700_000_000_000;

fn report(id: &str) -> Report {
    Report {
        id: id.into(),
        send: 1,
        connection: Some(1),
        wifi_state: Some(3),
        gsm_state: None,
        state: vec![0, 1],
        cols: Some(2),
        rows: Some(3),
        act_con: Some(vec![
            vec![true, false],
            vec![true, true],
            vec![false, false],
        ]),
        ..Default::default()
    }
}

fn admin(h: &MemHost, req: Value) -> Result<Value, AdminError> {
    handle_admin(h, &req.to_string()).map(|s| serde_json::from_str(&s).unwrap())
}

fn assign(
    h: &MemHost,
    dev: &str,
    cell: u64,
    code: &str,
    minutes: u64,
) -> Result<Value, AdminError> {
    admin(
        h,
        json!({"op":"assign","device":dev,"cell":cell,"code":code,"minutes":minutes}),
    )
}

/// A device that has reported once (2x3 = 6 cells).
fn known(id: &str) -> MemHost {
    let h = MemHost::at(T0);
    handle_report(&h, &report(id)).unwrap();
    h
}

fn status(h: &MemHost, dev: &str) -> Value {
    admin(h, json!({"op":"status","device":dev})).unwrap()
}

#[test]
fn assign_appears_with_minutes() {
    let h = known("1953");
    let a = assign(&h, "1953", 5, "1492", 4800).unwrap();
    assert_eq!(a["ok"], true);
    assert_eq!(a["device"], "1953");
    assert_eq!(a["cell"], 5);
    assert_eq!(a["code"], "1492");
    assert_eq!(a["expires_at_ms"], T0 + 4800 * 60_000);
    assign(&h, "1953", 2, "0007", 10).unwrap();

    let ans = handle_report(&h, &report("1953")).unwrap();
    assert!(!ans.reset && !ans.block);
    assert_eq!(
        ans.cells,
        vec![
            CellCode {
                cell: 2,
                code: "0007".into(),
                minutes: 10
            },
            CellCode {
                cell: 5,
                code: "1492".into(),
                minutes: 4800
            },
        ]
    );
    let s = status(&h, "1953");
    assert_eq!(
        s["cells"][1],
        json!({"cell":5,"code":"1492","minutes_left":4800,"expires_at_ms":T0 + 4800 * 60_000})
    );
}

#[test]
fn reassign_replaces() {
    let h = known("d");
    assign(&h, "d", 1, "111", 10).unwrap();
    assign(&h, "d", 1, "222", 20).unwrap();
    let ans = handle_report(&h, &report("d")).unwrap();
    assert_eq!(
        ans.cells,
        vec![CellCode {
            cell: 1,
            code: "222".into(),
            minutes: 20
        }]
    );
}

#[test]
fn minutes_round_up() {
    let h = known("d");
    assign(&h, "d", 1, "1", 3).unwrap();
    h.advance(1); // 2:59.999 left
    assert_eq!(handle_report(&h, &report("d")).unwrap().cells[0].minutes, 3);
    h.advance(60_000 - 1); // exactly 2:00 left
    assert_eq!(handle_report(&h, &report("d")).unwrap().cells[0].minutes, 2);
    h.advance(2 * 60_000 - 1); // 1 ms left
    assert_eq!(handle_report(&h, &report("d")).unwrap().cells[0].minutes, 1);
    assert_eq!(minutes_left(10, 10), None);
    assert_eq!(minutes_left(11, 10), Some(1));
    assert_eq!(minutes_left(60_010, 10), Some(1));
    assert_eq!(minutes_left(60_011, 10), Some(2));
}

#[test]
fn expired_code_disappears() {
    let h = known("d");
    assign(&h, "d", 1, "1", 1).unwrap();
    assign(&h, "d", 2, "2", 5).unwrap();
    h.advance(60_000);
    let ans = handle_report(&h, &report("d")).unwrap();
    assert_eq!(
        ans.cells,
        vec![CellCode {
            cell: 2,
            code: "2".into(),
            minutes: 4
        }]
    );
    assert_eq!(status(&h, "d")["cells"].as_array().unwrap().len(), 1);
}

#[test]
fn expired_code_disappears_even_if_kv_keeps_it() {
    // A store whose TTL lags behind: expires_at is checked too.
    let h = known("d");
    let stored = StoredCode {
        cell: 3,
        code: "9".into(),
        expires_at_ms: T0 + 1000,
        assigned_at_ms: T0,
    };
    h.kv_set(
        "dev/d/code/00003",
        &serde_json::to_string(&stored).unwrap(),
        None,
    )
    .unwrap();
    assert_eq!(handle_report(&h, &report("d")).unwrap().cells.len(), 1);
    h.advance(1000);
    assert!(handle_report(&h, &report("d")).unwrap().cells.is_empty());
}

#[test]
fn box_to_clears_codes() {
    let h = known("d");
    assign(&h, "d", 1, "1", 10).unwrap();
    assign(&h, "d", 2, "2", 10).unwrap();
    let ans = handle_report(
        &h,
        &Report {
            box_to: vec![1, 6],
            ..report("d")
        },
    )
    .unwrap();
    assert_eq!(
        ans.cells.iter().map(|c| c.cell).collect::<Vec<_>>(),
        vec![2]
    );
    assert!(
        handle_report(&h, &report("d"))
            .unwrap()
            .cells
            .iter()
            .all(|c| c.cell != 1)
    );
}

#[test]
fn box_acc_recorded_in_history() {
    let h = known("d");
    h.set_config("history_days", "2");
    handle_report(
        &h,
        &Report {
            box_acc: vec![4, 1],
            ..report("d")
        },
    )
    .unwrap();
    h.advance(5000);
    handle_report(
        &h,
        &Report {
            box_acc: vec![2],
            ..report("d")
        },
    )
    .unwrap();
    let s = status(&h, "d");
    assert_eq!(
        s["history"],
        json!([
            {"cell":1,"at_ms":T0},
            {"cell":4,"at_ms":T0},
            {"cell":2,"at_ms":T0 + 5000},
        ])
    );
    // Keys hold the documented JSON and a TTL of history_days.
    let kv = h.raw_kv();
    let (k, (v, exp)) = kv
        .iter()
        .find(|(k, _)| k.starts_with("dev/d/hist/"))
        .unwrap();
    assert!(k.ends_with("-00002"), "{k}");
    assert_eq!(
        serde_json::from_str::<Value>(v).unwrap(),
        json!({"cell":2,"at_ms":T0 + 5000})
    );
    assert_eq!(*exp, Some(T0 + 5000 + 2 * 86_400_000));
    h.advance(2 * 86_400_000 - 5000); // the first report's openings expire
    assert_eq!(
        status(&h, "d")["history"],
        json!([{"cell":2,"at_ms":T0 + 5000}])
    );
}

#[test]
fn history_default_ttl_and_bad_config() {
    let h = known("d");
    h.set_config("history_days", "soon");
    handle_report(
        &h,
        &Report {
            box_acc: vec![1],
            ..report("d")
        },
    )
    .unwrap();
    let exp = h
        .raw_kv()
        .iter()
        .find(|(k, _)| k.starts_with("dev/d/hist/"))
        .unwrap()
        .1
        .1;
    assert_eq!(exp, Some(T0 + 30 * 86_400_000));
    assert_eq!(h.logged(Level::Warn).len(), 1);
}

#[test]
fn history_is_capped_newest_last() {
    let h = known("d");
    for i in 0..1005u64 {
        h.set_now(T0 + i);
        handle_report(
            &h,
            &Report {
                box_acc: vec![1],
                ..report("d")
            },
        )
        .unwrap();
    }
    let s = status(&h, "d");
    let hist = s["history"].as_array().unwrap();
    assert_eq!(hist.len(), 1000);
    assert_eq!(hist[0]["at_ms"], T0 + 5);
    assert_eq!(hist[999]["at_ms"], T0 + 1004);
}

#[test]
fn block_persists_until_unblock() {
    let h = known("d");
    assert_eq!(
        admin(&h, json!({"op":"block","device":"d"})).unwrap(),
        json!({"ok":true})
    );
    assert!(handle_report(&h, &report("d")).unwrap().block);
    assert!(handle_report(&h, &report("d")).unwrap().block);
    assert_eq!(status(&h, "d")["blocked"], true);
    admin(&h, json!({"op":"unblock","device":"d"})).unwrap();
    assert!(!handle_report(&h, &report("d")).unwrap().block);
    assert_eq!(status(&h, "d")["blocked"], false);
}

#[test]
fn reset_only_once() {
    let h = known("d");
    assert_eq!(
        admin(&h, json!({"op":"reset","device":"d"})).unwrap(),
        json!({"ok":true})
    );
    assert_eq!(status(&h, "d")["reset_pending"], true);
    assert!(handle_report(&h, &report("d")).unwrap().reset);
    assert!(!handle_report(&h, &report("d")).unwrap().reset);
    assert_eq!(status(&h, "d")["reset_pending"], false);
}

#[test]
fn out_of_range_cell_refused() {
    let h = known("d"); // 2 cols x 3 rows
    assign(&h, "d", 6, "1", 1).unwrap();
    let e = assign(&h, "d", 7, "1", 1).unwrap_err();
    assert_eq!(e.status, 400);
    assert!(e.message.contains("out of range"), "{}", e.message);
    assert_eq!(assign(&h, "d", 0, "1", 1).unwrap_err().status, 400);
    assert_eq!(assign(&h, "d", 70_000, "1", 1).unwrap_err().status, 400);
}

#[test]
fn assign_validation() {
    let h = known("d");
    for (code, minutes) in [
        ("", 1),
        ("12a", 1),
        ("12345678901234567", 1),
        ("١٢", 1),
        ("1", 0),
        ("1", 5_256_001),
    ] {
        let e = assign(&h, "d", 1, code, minutes).unwrap_err();
        assert_eq!(e.status, 400, "{code:?} {minutes}");
    }
    assign(&h, "d", 1, "1234567890123456", 5_256_000).unwrap();
    for req in [
        json!({"op":"assign","device":"d","cell":1,"code":1234,"minutes":1}),
        json!({"op":"assign","device":"d","cell":1,"code":"1","minutes":1.5}),
        json!({"op":"assign","device":"d","cell":-1,"code":"1","minutes":1}),
        json!({"op":"assign","device":"d","cell":"1","code":"1","minutes":1}),
        json!({"op":"assign","device":"d","code":"1","minutes":1}),
        json!({"op":"assign","device":"d","cell":1,"minutes":1}),
        json!({"op":"assign","device":"d","cell":1,"code":"1"}),
    ] {
        let e = admin(&h, req.clone()).unwrap_err();
        assert_eq!(e.status, 400, "{req}");
    }
}

#[test]
fn unknown_device_404_and_409() {
    let h = MemHost::at(T0);
    let e = admin(&h, json!({"op":"status","device":"nobody"})).unwrap_err();
    assert_eq!(e.status, 404);
    let e = assign(&h, "nobody", 1, "1", 1).unwrap_err();
    assert_eq!(e.status, 409);
    assert!(
        e.message.contains("has not reported its COLS/ROWS yet"),
        "{}",
        e.message
    );

    // A report without COLS/ROWS does not make the size known either.
    handle_report(
        &h,
        &Report {
            cols: None,
            rows: None,
            act_con: None,
            ..report("nosize")
        },
    )
    .unwrap();
    assert_eq!(assign(&h, "nosize", 1, "1", 1).unwrap_err().status, 409);

    // Something stored (a pending block) makes it known to status, without a report.
    admin(&h, json!({"op":"block","device":"pre"})).unwrap();
    let s = status(&h, "pre");
    assert_eq!(s["known"], false);
    assert_eq!(s["blocked"], true);
    assert_eq!(s["last_report_ms"], Value::Null);
    assert_eq!(s["act_con"], Value::Null);
    assert_eq!(s["connected_locks"], 0);
}

#[test]
fn bad_requests_400() {
    let h = known("d");
    for req in [
        "",
        "not json",
        "{\"op\":",
        "[1,2]",
        "\"assign\"",
        "null",
        "{}",
        r#"{"op":5,"device":"d"}"#,
        r#"{"op":"explode","device":"d"}"#,
        r#"{"op":"status"}"#,
        r#"{"op":"status","device":""}"#,
        r#"{"op":"status","device":"a/b"}"#,
        r#"{"op":"status","device":7}"#,
        r#"{"op":"block","device":"ü"}"#,
        r#"{"op":"revoke","device":"d"}"#,
    ] {
        let e = handle_admin(&h, req).unwrap_err();
        assert_eq!(e.status, 400, "{req}");
        assert!(!e.message.is_empty());
    }
    let long = "x".repeat(65);
    assert_eq!(
        admin(&h, json!({"op":"status","device":long}))
            .unwrap_err()
            .status,
        400
    );
    let max = "x".repeat(64);
    assert_eq!(
        admin(&h, json!({"op":"status","device":max}))
            .unwrap_err()
            .status,
        404
    );
}

#[test]
fn revoke() {
    let h = known("d");
    assign(&h, "d", 3, "33", 10).unwrap();
    assert_eq!(
        admin(&h, json!({"op":"revoke","device":"d","cell":3})).unwrap(),
        json!({"ok":true,"revoked":true})
    );
    assert_eq!(
        admin(&h, json!({"op":"revoke","device":"d","cell":3})).unwrap(),
        json!({"ok":true,"revoked":false})
    );
    assert!(handle_report(&h, &report("d")).unwrap().cells.is_empty());
}

#[test]
fn status_reports_last_report() {
    let h = known("1953");
    h.advance(10);
    handle_report(
        &h,
        &Report {
            cols: None,
            rows: None,
            act_con: None,
            gsm_state: Some(2),
            ..report("1953")
        },
    )
    .unwrap();
    let s = status(&h, "1953");
    assert_eq!(s["device"], "1953");
    assert_eq!(s["known"], true);
    assert_eq!(s["last_report_ms"], T0 + 10);
    assert_eq!(s["connection"], 1);
    assert_eq!(s["wifi_state"], 3);
    assert_eq!(s["gsm_state"], 2);
    assert_eq!(s["state"], json!([0, 1]));
    // COLS/ROWS/ACT_CON carried over from the earlier report.
    assert_eq!(s["cols"], 2);
    assert_eq!(s["rows"], 3);
    assert_eq!(
        s["act_con"],
        json!([[true, false], [true, true], [false, false]])
    );
    assert_eq!(s["connected_locks"], 3);
    assert_eq!(s["blocked"], false);
    assert_eq!(s["reset_pending"], false);
    assert_eq!(s["cells"], json!([]));
    assert_eq!(s["history"], json!([]));
}

#[test]
fn devices_are_separate() {
    let h = known("a");
    handle_report(&h, &report("a-b")).unwrap();
    assign(&h, "a", 1, "1", 10).unwrap();
    admin(&h, json!({"op":"block","device":"a"})).unwrap();
    let ans = handle_report(&h, &report("a-b")).unwrap();
    assert!(ans.cells.is_empty() && !ans.block);
}

#[test]
fn storage_errors() {
    let h = known("d");
    admin(&h, json!({"op":"reset","device":"d"})).unwrap();
    h.fail_storage(true);
    let e = handle_report(&h, &report("d")).unwrap_err();
    assert!(e.starts_with("storage error: "), "{e}");
    let e = admin(&h, json!({"op":"status","device":"d"})).unwrap_err();
    assert_eq!(e.status, 500);
    assert!(e.message.starts_with("storage error: "), "{}", e.message);
    h.fail_storage(false);
    // The reset flag was not lost by the failed call.
    assert!(handle_report(&h, &report("d")).unwrap().reset);
}

#[test]
fn invalid_device_id_in_report() {
    let h = MemHost::at(T0);
    for id in ["", "a/b", "x y"] {
        assert!(handle_report(&h, &report(id)).is_err());
    }
    assert!(h.raw_kv().is_empty());
}

#[test]
fn corrupt_entries_do_not_brick_device() {
    let h = known("d");
    h.kv_set("dev/d/code/00002", "garbage", None).unwrap();
    h.kv_set("dev/d/last", "garbage", None).unwrap();
    assert!(handle_report(&h, &report("d")).unwrap().cells.is_empty());
    assert!(!h.logged(Level::Warn).is_empty());
}

#[test]
fn assign_in_seconds_expires_exactly() {
    let h = known("d");
    let a = admin(
        &h,
        json!({"op":"assign","device":"d","cell":1,"code":"9","seconds":90}),
    )
    .unwrap();
    assert_eq!(a["expires_at_ms"], T0 + 90_000);
    // 90 s left shows as 2 minutes (rounded up), 30 s as 1, then gone.
    assert_eq!(handle_report(&h, &report("d")).unwrap().cells[0].minutes, 2);
    h.advance(60_000);
    assert_eq!(handle_report(&h, &report("d")).unwrap().cells[0].minutes, 1);
    h.advance(30_000);
    assert!(handle_report(&h, &report("d")).unwrap().cells.is_empty());

    for req in [
        json!({"op":"assign","device":"d","cell":1,"code":"9","seconds":0}),
        json!({"op":"assign","device":"d","cell":1,"code":"9","seconds":10,"minutes":1}),
        json!({"op":"assign","device":"d","cell":1,"code":"9","seconds":"10"}),
    ] {
        assert_eq!(admin(&h, req.clone()).unwrap_err().status, 400, "{req}");
    }
}

#[test]
fn boards_lists_every_board_that_reported() {
    let h = known("1953");
    assert_eq!(
        admin(&h, json!({"op":"boards"})).unwrap(),
        json!({"boards":[{
            "device":"1953","last_report_ms":T0,"connection":1,"wifi_state":3,"gsm_state":null,
            "state":[0,1],"cols":2,"rows":3,"blocked":false,"active_codes":0
        }]})
    );
    handle_report(&h, &report("A-2")).unwrap();
    assign(&h, "1953", 2, "77", 5).unwrap();
    admin(&h, json!({"op":"block","device":"A-2"})).unwrap();
    // a second report does not index the board twice
    handle_report(&h, &report("1953")).unwrap();
    let b = admin(&h, json!({"op":"boards"})).unwrap();
    let b = b["boards"].as_array().unwrap();
    assert_eq!(b.len(), 2);
    assert_eq!(
        (&b[0]["device"], &b[0]["active_codes"]),
        (&json!("1953"), &json!(1))
    );
    assert_eq!(
        (&b[1]["device"], &b[1]["blocked"]),
        (&json!("A-2"), &json!(true))
    );
    // a block of a board that never reported does not list it
    admin(&h, json!({"op":"block","device":"ghost"})).unwrap();
    assert_eq!(
        admin(&h, json!({"op":"boards"})).unwrap()["boards"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn an_expired_code_is_shown_as_expired_for_an_hour_and_never_sent() {
    let h = known("d");
    assign(&h, "d", 4, "0042", 1).unwrap();
    h.advance(60_000);
    let s = status(&h, "d");
    assert_eq!(s["cells"], json!([]));
    assert_eq!(
        s["expired"],
        json!([{"cell":4,"code":"0042","expired_at_ms":T0 + 60_000}])
    );
    assert!(handle_report(&h, &report("d")).unwrap().cells.is_empty());
    assert_eq!(
        admin(&h, json!({"op":"boards"})).unwrap()["boards"][0]["active_codes"],
        0
    );
    h.advance(EXPIRED_KEPT_MS);
    assert_eq!(status(&h, "d")["expired"], json!([]));
}
