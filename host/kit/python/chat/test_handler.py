"""Unit tests of handler.py on CPython: python3 -m unittest"""

import unittest

from handler import login_refusal, user_key


class ChatRulesTest(unittest.TestCase):
    def test_guests_with_plain_names_log_in(self):
        self.assertIsNone(login_refusal("alice", None))
        self.assertIsNone(login_refusal("Bob42", ""))

    def test_bad_names_and_passwords_are_refused(self):
        for name, password in [("", None), ("a" * 33, None), ("al ice", None), ("ålice", None), ("١٢", None), ("alice", "secret")]:
            self.assertIsNotNone(login_refusal(name, password), name)

    def test_names_are_unique_whatever_their_case(self):
        self.assertEqual(user_key("Alice"), user_key("aLICE"))
        self.assertNotEqual(user_key("alice"), user_key("bob"))


if __name__ == "__main__":
    unittest.main()
