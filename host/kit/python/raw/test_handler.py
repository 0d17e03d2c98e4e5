"""Unit tests of handler.py on CPython: python3 -m unittest"""

import unittest

from handler import echo


class EchoTest(unittest.TestCase):
    def test_frames_come_back_prefixed(self):
        self.assertEqual(echo(b"hello", "echo: "), b"echo: hello")

    def test_without_a_prefix_frames_come_back_as_they_are(self):
        self.assertEqual(echo(b"\x00\x9f\xff", None), b"\x00\x9f\xff")
        self.assertEqual(echo(b"", None), b"")


if __name__ == "__main__":
    unittest.main()
