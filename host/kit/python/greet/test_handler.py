"""Unit tests of handler.py on CPython: python3 -m unittest"""

import unittest

from handler import GreetError, greet


class GreetTest(unittest.TestCase):
    def test_greets_with_the_configured_greeting(self):
        self.assertEqual(greet("Ada", None), "Hello, Ada!")
        self.assertEqual(greet("Ada", "Good morning"), "Good morning, Ada!")

    def test_long_names_are_refused(self):
        greet("a" * 64, None)
        with self.assertRaises(GreetError):
            greet("a" * 65, None)


if __name__ == "__main__":
    unittest.main()
