"""The Python SDK's helpers give the Rust SDK's answers."""

import unittest

from kbind_policy import (
    LATEST,
    SpecChangeInput,
    compare_versions,
    newest_revision,
    parse_version,
    quoted,
    version_in_range,
)
from kbind_policy.testing import NOW, binding, declined, promise, settings
from kbind_policy import check_known_settings, default_rerun_selection

# Ascending, as the semver crate orders them (SemVer 2.0 §11, build last).
ORDERED = [
    "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
    "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.0+1", "1.0.0+01", "1.0.0+2", "1.0.0+a",
    "1.0.1", "1.10.0", "2.0.0",
]


class Versions(unittest.TestCase):
    def test_order_matches_semver(self):
        for a, b in zip(ORDERED, ORDERED[1:]):
            self.assertEqual(compare_versions(a, b), -1, (a, b))
            self.assertEqual(compare_versions(b, a), 1, (b, a))

    def test_v_prefix_and_strictness(self):
        self.assertEqual(compare_versions("v1.2.3", "1.2.3"), 0)
        self.assertEqual(compare_versions("V1.2.3", "v1.2.3"), 0)
        for bad in ["01.2.3", "1.2", "1.2.3-01", "1.2.3\n", "not-set", "", "1.2.3-", "latest"]:
            self.assertIsNone(parse_version(bad), bad)

    def test_in_range(self):
        self.assertTrue(version_in_range("v1.0.0", "v1.0.3", "patch"))
        self.assertFalse(version_in_range("v1.0.0", "v1.2.0", "patch"))
        self.assertTrue(version_in_range("v1.0.0", "v1.2.0", "minor"))
        self.assertFalse(version_in_range("v1.0.0", "v2.0.0", "minor"))
        self.assertFalse(version_in_range("v1.0.0", "v1.3.0-rc.1", "minor"))
        self.assertFalse(version_in_range("v1.0.0", "v1.0.1", "none"))
        self.assertFalse(version_in_range("v1.2.0", "v1.0.0", "minor"))

    def test_newest_revision_skips_prereleases_and_non_semver(self):
        p = promise("r").revision("v1.0.0").revision("v2.0.0-rc.1").revision("banana").latest("v1.1.0").build()
        self.assertEqual(newest_revision(p).version, "v1.1.0")


class Helpers(unittest.TestCase):
    def test_quoted_escapes_as_rust_debug(self):
        self.assertEqual(quoted('a"b\\c\n\t\x01é'), '"a\\"b\\\\c\\n\\t\\u{1}é"')

    def test_unknown_settings_are_named(self):
        self.assertEqual(
            declined(lambda: check_known_settings(settings([("a", "1"), ("b", "2")]), ["a"], "p")),
            "unknown setting(s) b; p understands only `a`",
        )

    def test_default_rerun_selection(self):
        p = promise("r").revision("v1").latest("v2").build()
        bs = [binding("d", "a", "v1").build(), binding("d", "b", LATEST).build(), binding("d", "c", "v2").build()]
        latest = default_rerun_selection(SpecChangeInput(NOW, [], p, "v2", bs))
        self.assertEqual([r.name for r in latest.rerun], ["b-binding", "c-binding"])
        older = default_rerun_selection(SpecChangeInput(NOW, [], p, "v1", bs))
        self.assertEqual([r.name for r in older.rerun], ["a-binding"])


if __name__ == "__main__":
    unittest.main()
