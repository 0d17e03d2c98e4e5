"""The Python locker policy on plain CPython against an in-memory host: the
cases of plugins/locker/src/policy/tests.rs, plus the stored JSON being the
Rust twin's byte for byte. Run: python -m unittest discover -s plugins/locker-py
"""

import json
import unittest

import policy
from policy import AdminError, Report, ReportError, handle_admin, handle_report

T0 = 1_700_000_000_000
DAY = 86_400_000


class Mem(policy.Host):
    """kv with TTLs on a settable clock, as the host behaves."""

    def __init__(self):
        self.now = T0
        self.kv = {}  # key -> (value, expires_at or None)
        self.config = {}
        self.fail = False
        self.warnings = []

    def _check(self):
        if self.fail:
            raise policy.StorageError("disk on fire")

    def _live(self, key):
        if key not in self.kv:
            return False
        exp = self.kv[key][1]
        return exp is None or exp > self.now

    def kv_get(self, key):
        self._check()
        return self.kv[key][0] if self._live(key) else None

    def kv_set(self, key, value, ttl_ms):
        self._check()
        self.kv[key] = (value, None if ttl_ms is None else self.now + ttl_ms)

    def kv_delete(self, key):
        self._check()
        live = self._live(key)
        self.kv.pop(key, None)
        return live

    def kv_list(self, prefix, limit):
        self._check()
        keys = sorted(k for k in self.kv if k.startswith(prefix) and self._live(k))
        return [(k, self.kv[k][0]) for k in keys[:limit]]

    def now_ms(self):
        return self.now

    def config_get(self, key):
        return self.config.get(key)

    def warn(self, message):
        self.warnings.append(message)


def report(id, **kw):
    base = dict(id=id, send=1, connection=1, wifi_state=3, gsm_state=None, state=b"\x00\x01",
                cols=2, rows=3, act_con=[[True, False], [True, True], [False, False]])
    base.update(kw)
    return Report(**base)


def admin(h, req):
    return json.loads(handle_admin(h, json.dumps(req)))


def assign(h, dev, cell, code, minutes):
    return admin(h, {"op": "assign", "device": dev, "cell": cell, "code": code, "minutes": minutes})


def known(id):
    h = Mem()
    handle_report(h, report(id))
    return h


def status(h, dev):
    return admin(h, {"op": "status", "device": dev})


class PolicyTest(unittest.TestCase):
    def admin_error(self, h, req):
        with self.assertRaises(AdminError) as cm:
            if isinstance(req, str):
                handle_admin(h, req)
            else:
                admin(h, req)
        return cm.exception

    def test_assign_appears_with_minutes(self):
        h = known("d")
        a = assign(h, "d", 5, "1492", 4800)
        self.assertEqual(a, {"ok": True, "device": "d", "cell": 5, "code": "1492",
                             "expires_at_ms": T0 + 4800 * 60_000})
        self.assertEqual(handle_report(h, report("d")), (False, False, [(5, "1492", 4800)]))

    def test_reassign_replaces_and_cells_sorted(self):
        h = known("d")
        assign(h, "d", 6, "6", 10)
        assign(h, "d", 2, "1", 10)
        assign(h, "d", 2, "2", 10)
        self.assertEqual(handle_report(h, report("d"))[2], [(2, "2", 10), (6, "6", 10)])

    def test_minutes_round_up_and_expire(self):
        h = known("d")
        assign(h, "d", 1, "1", 5)
        h.now += 60_001
        self.assertEqual(handle_report(h, report("d"))[2], [(1, "1", 4)])
        h.now = T0 + 5 * 60_000
        self.assertEqual(handle_report(h, report("d"))[2], [])

    def test_expired_code_disappears_even_if_kv_keeps_it(self):
        h = known("d")
        h.kv_set("dev/d/code/00003", json.dumps(
            {"cell": 3, "code": "9", "expires_at_ms": T0 + 1000, "assigned_at_ms": T0}), None)
        self.assertEqual(len(handle_report(h, report("d"))[2]), 1)
        h.now += 1000
        self.assertEqual(handle_report(h, report("d"))[2], [])

    def test_box_to_clears_codes(self):
        h = known("d")
        assign(h, "d", 1, "1", 10)
        assign(h, "d", 2, "2", 10)
        self.assertEqual([c for c, _, _ in handle_report(h, report("d", box_to=[1, 6]))[2]], [2])

    def test_box_acc_recorded_in_history(self):
        h = known("d")
        h.config["history_days"] = "2"
        handle_report(h, report("d", box_acc=[4, 1]))
        h.now += 5000
        handle_report(h, report("d", box_acc=[2]))
        self.assertEqual(status(h, "d")["history"], [
            {"cell": 1, "at_ms": T0}, {"cell": 4, "at_ms": T0}, {"cell": 2, "at_ms": T0 + 5000}])
        key = "dev/d/hist/%020d-00002" % (2**64 - 1 - (T0 + 5000))
        value, exp = h.kv[key]
        self.assertEqual(value, '{"at_ms":%d,"cell":2}' % (T0 + 5000))
        self.assertEqual(exp, T0 + 5000 + 2 * DAY)
        h.now += 2 * DAY - 5000
        self.assertEqual(status(h, "d")["history"], [{"cell": 2, "at_ms": T0 + 5000}])

    def test_history_default_ttl_and_bad_config(self):
        h = known("d")
        h.config["history_days"] = "soon"
        handle_report(h, report("d", box_acc=[1]))
        (exp,) = [e for k, (_, e) in h.kv.items() if k.startswith("dev/d/hist/")]
        self.assertEqual(exp, T0 + 30 * DAY)
        self.assertEqual(h.warnings, [
            'config history_days = "soon" is not a positive integer; using 30'])

    def test_history_is_capped_newest_last(self):
        h = known("d")
        for i in range(1005):
            h.now = T0 + i
            handle_report(h, report("d", box_acc=[1]))
        hist = status(h, "d")["history"]
        self.assertEqual(len(hist), 1000)
        self.assertEqual(hist[0]["at_ms"], T0 + 5)
        self.assertEqual(hist[999]["at_ms"], T0 + 1004)

    def test_block_and_reset(self):
        h = known("d")
        self.assertEqual(admin(h, {"op": "block", "device": "d"}), {"ok": True})
        self.assertTrue(handle_report(h, report("d"))[1])
        self.assertTrue(handle_report(h, report("d"))[1])
        admin(h, {"op": "unblock", "device": "d"})
        self.assertFalse(handle_report(h, report("d"))[1])
        self.assertEqual(admin(h, {"op": "reset", "device": "d"}), {"ok": True})
        self.assertTrue(status(h, "d")["reset_pending"])
        self.assertTrue(handle_report(h, report("d"))[0])
        self.assertFalse(handle_report(h, report("d"))[0])

    def test_out_of_range_cell_refused(self):
        h = known("d")  # 2 cols x 3 rows
        assign(h, "d", 6, "1", 1)
        e = self.admin_error(h, {"op": "assign", "device": "d", "cell": 7, "code": "1", "minutes": 1})
        self.assertEqual(e.status, 400)
        self.assertEqual(e.message, 'cell 7 is out of range: device "d" has 6 cells (2 cols x 3 rows)')
        for cell in (0, 70_000):
            self.assertEqual(self.admin_error(h, {"op": "assign", "device": "d", "cell": cell,
                                                  "code": "1", "minutes": 1}).status, 400)

    def test_assign_validation(self):
        h = known("d")
        for code, minutes in [("", 1), ("12a", 1), ("12345678901234567", 1), ("١٢", 1),
                              ("1", 0), ("1", 5_256_001)]:
            req = {"op": "assign", "device": "d", "cell": 1, "code": code, "minutes": minutes}
            self.assertEqual(self.admin_error(h, req).status, 400, req)
        assign(h, "d", 1, "1234567890123456", 5_256_000)
        for req in [
            {"op": "assign", "device": "d", "cell": 1, "code": 1234, "minutes": 1},
            {"op": "assign", "device": "d", "cell": 1, "code": "1", "minutes": 1.5},
            {"op": "assign", "device": "d", "cell": 1, "code": "1", "minutes": 1.0},
            {"op": "assign", "device": "d", "cell": 1, "code": "1", "minutes": True},
            {"op": "assign", "device": "d", "cell": -1, "code": "1", "minutes": 1},
            {"op": "assign", "device": "d", "cell": "1", "code": "1", "minutes": 1},
            {"op": "assign", "device": "d", "code": "1", "minutes": 1},
            {"op": "assign", "device": "d", "cell": 1, "minutes": 1},
            {"op": "assign", "device": "d", "cell": 1, "code": "1"},
            {"op": "assign", "device": "d", "cell": 1, "code": "9", "seconds": 0},
            {"op": "assign", "device": "d", "cell": 1, "code": "9", "seconds": 10, "minutes": 1},
            {"op": "assign", "device": "d", "cell": 1, "code": "9", "seconds": "10"},
        ]:
            self.assertEqual(self.admin_error(h, req).status, 400, req)

    def test_unknown_device_404_and_409(self):
        h = Mem()
        self.assertEqual(self.admin_error(h, {"op": "status", "device": "nobody"}).status, 404)
        e = self.admin_error(h, {"op": "assign", "device": "nobody", "cell": 1, "code": "1",
                                 "minutes": 1})
        self.assertEqual(e.status, 409)
        self.assertIn("has not reported its COLS/ROWS yet", e.message)
        handle_report(h, report("nosize", cols=None, rows=None, act_con=None))
        self.assertEqual(self.admin_error(h, {"op": "assign", "device": "nosize", "cell": 1,
                                              "code": "1", "minutes": 1}).status, 409)
        admin(h, {"op": "block", "device": "pre"})
        s = status(h, "pre")
        self.assertEqual((s["known"], s["blocked"], s["last_report_ms"], s["act_con"],
                          s["connected_locks"]), (False, True, None, None, 0))

    def test_bad_requests_400(self):
        h = known("d")
        for req in ["", "not json", '{"op":', "[1,2]", '"assign"', "null", "{}", "NaN",
                    '{"op":5,"device":"d"}', '{"op":"explode","device":"d"}',
                    '{"op":"status"}', '{"op":"status","device":""}',
                    '{"op":"status","device":"a/b"}', '{"op":"status","device":7}',
                    '{"op":"block","device":"ü"}', '{"op":"revoke","device":"d"}',
                    '{"op":"status","device":"' + "x" * 65 + '"}']:
            e = self.admin_error(h, req)
            self.assertEqual(e.status, 400, req)
            self.assertTrue(e.message)
        self.assertEqual(self.admin_error(h, {"op": "status", "device": "x" * 64}).status, 404)
        self.assertEqual(self.admin_error(h, {"op": "explode"}).message,
                         'unknown op "explode": expected assign, revoke, block, unblock, reset, status or boards')
        # Quoted as Rust's {:?} quotes: escapes for quotes, control and
        # invisible characters.
        self.assertEqual(self.admin_error(h, {"op": 'a"\n\u200b\u00e9'}).message,
                         'unknown op "a\\"\\n\\u{200b}\u00e9": expected assign, revoke, block, '
                         'unblock, reset, status or boards')

    def test_revoke(self):
        h = known("d")
        assign(h, "d", 3, "33", 10)
        self.assertEqual(admin(h, {"op": "revoke", "device": "d", "cell": 3}),
                         {"ok": True, "revoked": True})
        self.assertEqual(admin(h, {"op": "revoke", "device": "d", "cell": 3}),
                         {"ok": True, "revoked": False})

    def test_boards_lists_every_board_that_reported(self):
        h = known("1953")
        self.assertEqual(admin(h, {"op": "boards"}), {"boards": [{
            "device": "1953", "last_report_ms": T0, "connection": 1, "wifi_state": 3,
            "gsm_state": None, "state": [0, 1], "cols": 2, "rows": 3, "blocked": False,
            "active_codes": 0}]})
        handle_report(h, report("A-2"))
        assign(h, "1953", 2, "77", 5)
        admin(h, {"op": "block", "device": "A-2"})
        handle_report(h, report("1953"))
        b = admin(h, {"op": "boards"})["boards"]
        self.assertEqual([(x["device"], x["active_codes"], x["blocked"]) for x in b],
                         [("1953", 1, False), ("A-2", 0, True)])
        admin(h, {"op": "block", "device": "ghost"})
        self.assertEqual(len(admin(h, {"op": "boards"})["boards"]), 2)

    def test_an_expired_code_is_shown_as_expired_for_an_hour_and_never_sent(self):
        h = known("d")
        assign(h, "d", 4, "0042", 1)
        h.now += 60_000
        s = status(h, "d")
        self.assertEqual(s["cells"], [])
        self.assertEqual(s["expired"], [{"cell": 4, "code": "0042", "expired_at_ms": T0 + 60_000}])
        self.assertEqual(handle_report(h, report("d"))[2], [])
        h.now += policy.EXPIRED_KEPT_MS
        self.assertEqual(status(h, "d")["expired"], [])

    def test_status_reports_last_report_and_keeps_the_size(self):
        h = known("1953")
        h.now += 10
        handle_report(h, report("1953", cols=None, rows=None, act_con=None, gsm_state=2))
        s = status(h, "1953")
        self.assertEqual(s, {
            "device": "1953", "known": True, "last_report_ms": T0 + 10, "connection": 1,
            "wifi_state": 3, "gsm_state": 2, "state": [0, 1], "cols": 2, "rows": 3,
            "act_con": [[True, False], [True, True], [False, False]], "connected_locks": 3,
            "blocked": False, "reset_pending": False, "cells": [], "expired": [], "history": []})

    def test_stored_json_is_the_rust_twins(self):
        h = known("d")
        self.assertEqual(h.kv["dev/d/last"][0],
                         '{"at_ms":%d,"send":1,"connection":1,"wifi_state":3,"gsm_state":null,'
                         '"state":[0,1],"cols":2,"rows":3,'
                         '"act_con":[[true,false],[true,true],[false,false]]}' % T0)
        assign(h, "d", 4, "0042", 1)
        self.assertEqual(h.kv["dev/d/code/00004"],
                         ('{"cell":4,"code":"0042","expires_at_ms":%d,"assigned_at_ms":%d}'
                          % (T0 + 60_000, T0), T0 + 60_000 + 3_600_000))
        # Sorted keys in admin answers, as serde_json writes them.
        self.assertEqual(handle_admin(h, '{"op":"revoke","device":"d","cell":4}'),
                         '{"ok":true,"revoked":true}')

    def test_devices_are_separate(self):
        h = known("a")
        handle_report(h, report("a-b"))
        assign(h, "a", 1, "1", 10)
        admin(h, {"op": "block", "device": "a"})
        self.assertEqual(handle_report(h, report("a-b")), (False, False, []))

    def test_storage_errors(self):
        h = known("d")
        admin(h, {"op": "reset", "device": "d"})
        h.fail = True
        with self.assertRaises(ReportError) as cm:
            handle_report(h, report("d"))
        self.assertEqual(str(cm.exception), "storage error: disk on fire")
        e = self.admin_error(h, {"op": "status", "device": "d"})
        self.assertEqual((e.status, e.message), (500, "storage error: disk on fire"))
        h.fail = False
        self.assertTrue(handle_report(h, report("d"))[0])

    def test_invalid_device_id_in_report(self):
        h = Mem()
        for id in ["", "a/b", "x y", "ü"]:
            with self.assertRaises(ReportError):
                handle_report(h, report(id))
        self.assertEqual(h.kv, {})

    def test_corrupt_entries_do_not_brick_device(self):
        h = known("d")
        h.kv_set("dev/d/code/00002", "garbage", None)
        h.kv_set("dev/d/last", "garbage", None)
        self.assertEqual(handle_report(h, report("d"))[2], [])
        self.assertTrue(h.warnings)

    def test_assign_in_seconds_expires_exactly(self):
        h = known("d")
        a = admin(h, {"op": "assign", "device": "d", "cell": 1, "code": "9", "seconds": 90})
        self.assertEqual(a["expires_at_ms"], T0 + 90_000)
        self.assertEqual(handle_report(h, report("d"))[2], [(1, "9", 2)])
        h.now += 60_000
        self.assertEqual(handle_report(h, report("d"))[2], [(1, "9", 1)])
        h.now += 30_000
        self.assertEqual(handle_report(h, report("d"))[2], [])


if __name__ == "__main__":
    unittest.main()
