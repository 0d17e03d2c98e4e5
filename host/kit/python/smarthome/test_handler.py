"""Unit tests of handler.py on CPython: python3 -m unittest"""

import unittest

from handler import DATABASE, AdminError, HandlerError, admin_op, answer


class SmarthomeTest(unittest.TestCase):
    def test_the_database_is_served_for_0x4c(self):
        self.assertEqual(answer(0x4C, b"db"), (DATABASE, b"db"))
        with self.assertRaises(HandlerError):
            answer(0x4C, None)
        with self.assertRaisesRegex(HandlerError, "0x99"):
            answer(0x99, b"x")

    def test_uploads_are_hex(self):
        self.assertEqual(admin_op('{"op":"upload","data_hex":"53514c"}'), ("upload", b"SQL"))
        self.assertEqual(admin_op('{"op":"current"}'), ("current", None))
        for bad in ['{"op":"upload","data_hex":"5"}', '{"op":"upload"}', "nope", "{}", "[]"]:
            with self.assertRaises(AdminError) as cm:
                admin_op(bad)
            self.assertEqual(cm.exception.status, 400, bad)


if __name__ == "__main__":
    unittest.main()
