"""Native unit tests of the Python kratix-default (`python -m unittest`), the
Rust policy's tests case for case."""

import unittest

from app import Decisions
from kbind_policy import InitialVersionInput
from kbind_policy.testing import NOW, declined, promise, request, settings

policy = Decisions()


def initial(pairs, previous=None, revisions=None):
    p = revisions or promise("redis").revision("v0.1.0").latest("v0.2.0").build()
    return policy.initial_version(InitialVersionInput(NOW, settings(pairs), p, request("default", "example"), previous))


class KratixDefault(unittest.TestCase):
    def test_floating_is_the_default_and_binds_latest(self):
        self.assertEqual(initial([]).version, "latest")
        self.assertEqual(initial([("strategy", "floating")]).version, "latest")

    def test_pinned_binds_the_latest_revision_version(self):
        choice = initial([("strategy", "pinned")])
        self.assertEqual(choice.version, "v0.2.0")
        self.assertIn("pinned", choice.reason)

    def test_invalid_strategy_floats_like_kratix(self):
        for bad in ["Pinned", "invalid", "PINNED"]:
            choice = initial([("strategy", bad)])
            self.assertEqual(choice.version, "latest", bad)
            self.assertIn("using floating", choice.reason)
        self.assertEqual(initial([("strategy", "")]).version, "latest")

    def test_recreated_binding_keeps_the_recorded_version_regardless_of_strategy(self):
        self.assertEqual(initial([("strategy", "pinned")], "latest").version, "latest")
        self.assertEqual(initial([], "v0.1.0").version, "v0.1.0")
        # An empty recorded version is "none" (brand-new request).
        self.assertEqual(initial([], "").version, "latest")

    def test_pinned_without_latest_revision_is_an_error(self):
        message = declined(lambda: initial([("strategy", "pinned")], None, promise("redis").revision("v0.1.0").build()))
        self.assertIn("no latest promise revision yet", message)

    def test_unknown_setting_names_are_rejected(self):
        self.assertIsNone(declined(lambda: policy.validate_settings(settings([("strategy", "pinned")]))))
        self.assertIn("stratgy", declined(lambda: policy.validate_settings(settings([("stratgy", "pinned")]))))


if __name__ == "__main__":
    unittest.main()
