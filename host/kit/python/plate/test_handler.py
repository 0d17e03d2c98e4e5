"""Unit tests of handler.py on CPython: python3 -m unittest"""

import unittest

from handler import image_kind, login_ok


class PlateTest(unittest.TestCase):
    def test_configured_tokens_log_in(self):
        tokens = "cam-1, cam-2"
        self.assertTrue(login_ok("cam-2", tokens))
        self.assertTrue(login_ok("cam-1\0\0\0", tokens))
        self.assertFalse(login_ok("cam-3", tokens))
        self.assertFalse(login_ok("", ""))
        self.assertFalse(login_ok("cam-1", None))

    def test_photos_are_told_apart_from_other_bytes(self):
        self.assertEqual(image_kind(b"\xff\xd8\xff\xe0"), "jpeg")
        self.assertEqual(image_kind(b"\x89PNG\r\n\x1a\n...."), "png")
        self.assertIsNone(image_kind(b"GIF89a"))


if __name__ == "__main__":
    unittest.main()
