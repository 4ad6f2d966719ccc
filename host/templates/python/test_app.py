"""Unit tests, natively: `python -m unittest` (build.sh runs them)."""

import unittest

from app import Decisions
from kbind_policy import InitialVersionInput
from kbind_policy.testing import NOW, declined, promise, request

policy = Decisions()


def initial(p):
    return policy.initial_version(InitialVersionInput(NOW, [], p, request("default", "example"), None))


class Policy(unittest.TestCase):
    def test_new_bindings_pin_the_newest_revision(self):
        p = promise("redis").latest("v1.0.0").revision("v1.1.0").build()
        self.assertEqual(initial(p).version, "v1.1.0")

    def test_a_promise_without_revisions_is_declined(self):
        self.assertIn("no revisions", declined(lambda: initial(promise("redis").build())))


if __name__ == "__main__":
    unittest.main()
