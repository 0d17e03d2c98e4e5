"""Unit tests of handler.py on CPython: python3 -m unittest"""

import json
import unittest

from handler import check_device_reply, init_reply, token_ok


class RelayTest(unittest.TestCase):
    def test_only_the_configured_token_logs_in(self):
        self.assertTrue(token_ok("s3cret", "s3cret"))
        self.assertFalse(token_ok("s3cre", "s3cret"))
        self.assertFalse(token_ok("", "s3cret"))
        self.assertFalse(token_ok("", ""))
        self.assertFalse(token_ok("anything", None))

    def test_answers_are_the_protocol_objects(self):
        self.assertEqual(init_reply(True), '{"cmd":"init","code":"1","session_id":"room"}')
        self.assertEqual(json.loads(init_reply(False))["code"], "0")
        self.assertEqual(check_device_reply(1), '{"cmd":"checkDevice","code":"0","extra":{}}')
        self.assertEqual(check_device_reply(2), '{"cmd":"checkDevice","code":"1","extra":{}}')


if __name__ == "__main__":
    unittest.main()
