"""Unit tests of handler.py on CPython: python3 -m unittest"""

import unittest

from handler import Answer, ReportError, answer, is_blocked


class LockerPolicyTest(unittest.TestCase):
    def test_a_board_gets_an_open_answer(self):
        self.assertEqual(answer("board-1", None), Answer(reset=False, block=False, cells=[]))

    def test_listed_boards_are_blocked(self):
        blocked = "board-7, board-9"
        self.assertTrue(answer("board-9", blocked).block)
        self.assertFalse(answer("board-1", blocked).block)
        # Whole IDs only.
        self.assertFalse(is_blocked("board", blocked))
        self.assertFalse(is_blocked("board-7", ""))

    def test_a_report_without_an_id_is_an_error(self):
        with self.assertRaises(ReportError):
            answer("", None)


if __name__ == "__main__":
    unittest.main()
