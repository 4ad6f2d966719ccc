"""Native unit tests of the Python semver-auto (`python -m unittest`), the
Rust policy's tests case for case."""

import unittest

from app import BUSY_RECHECK_MS, Decisions
from kbind_policy import (
    ALLOW_DOWNGRADE_ANNOTATION,
    RANGE_ANNOTATION,
    EditInput,
    FailureAction_Hold,
    FailureAction_RollBack,
    FailureInput,
    InitialVersionInput,
    PlanInput,
    PlanTrigger,
)
from kbind_policy.testing import NOW, binding, declined, promise, request, settings

policy = Decisions()


def revisions():
    return (
        promise("redis")
        .revision("v1.0.0")
        .revision("v1.0.3")
        .revision("v1.2.0")
        .revision("v1.3.0-rc.1")
        .revision("v2.0.0")
        .latest("v2.0.1")
        .build()
    )


def plan(pairs, bindings):
    return policy.plan_upgrades(
        PlanInput(NOW, settings(pairs), revisions(), [b.build() for b in bindings],
                  PlanTrigger.REVISIONS_CHANGED)
    )


def targets(p):
    return [(u.binding.name, u.version) for u in p.upgrades]


class SemverAuto(unittest.TestCase):
    def test_new_bindings_pin_the_newest_revision_not_the_latest_marker(self):
        choice = policy.initial_version(
            InitialVersionInput(NOW, [], promise("redis").latest("v1.0.0").revision("v1.1.0").build(),
                                request("default", "a"), None)
        )
        self.assertEqual(choice.version, "v1.1.0")

    def test_minor_range_moves_to_highest_in_major_and_skips_prereleases(self):
        p = plan([], [binding("default", "a", "v1.0.0").applied("v1.0.0")])
        self.assertEqual(targets(p), [("a-binding", "v1.2.0")])

    def test_patch_range_stays_in_minor(self):
        p = plan([("range", "patch")], [binding("default", "a", "v1.0.0")])
        self.assertEqual(targets(p), [("a-binding", "v1.0.3")])

    def test_never_crosses_a_major(self):
        self.assertEqual(targets(plan([], [binding("default", "a", "v1.2.0")])), [])
        self.assertEqual(targets(plan([], [binding("default", "b", "v2.0.0")])), [("b-binding", "v2.0.1")])

    def test_annotation_overrides_range_per_request(self):
        p = plan([], [
            binding("default", "a", "v1.0.0").request_annotated(RANGE_ANNOTATION, "patch"),
            binding("default", "b", "v1.0.0").annotated(RANGE_ANNOTATION, "none"),
            binding("default", "c", "v1.0.0"),
        ])
        self.assertEqual(targets(p), [("a-binding", "v1.0.3"), ("c-binding", "v1.2.0")])

    def test_invalid_annotation_falls_back_and_is_reported(self):
        p = plan([], [binding("default", "a", "v1.0.0").annotated(RANGE_ANNOTATION, "major")])
        self.assertEqual(targets(p), [("a-binding", "v1.2.0")])
        self.assertIn("ignoring kbind.io/upgrade-range", p.reason)

    def test_never_reselects_a_failed_version(self):
        p = plan([], [binding("default", "a", "v1.0.0").applied("v1.0.0").failed("v1.2.0")])
        self.assertEqual(targets(p), [("a-binding", "v1.0.3")])

    def test_leaves_latest_and_running_upgrades_alone(self):
        p = plan([], [binding("default", "a", "latest"), binding("default", "b", "v1.0.0").in_flight("v1.0.0")])
        self.assertEqual(p.upgrades, [])
        self.assertEqual(p.recheck_after_ms, BUSY_RECHECK_MS)

    def test_settings_are_validated(self):
        self.assertIsNone(declined(lambda: policy.validate_settings(settings([("range", "patch")]))))
        for bad in [[("range", "major")], [("range", "none")], [("rnage", "patch")]]:
            self.assertIsNotNone(declined(lambda: policy.validate_settings(settings(bad))), bad)

    def review(self, b, to):
        return policy.review_edit(EditInput(NOW, [], revisions(), b.build(), to))

    def test_downgrades_are_denied_unless_annotated(self):
        r = self.review(binding("default", "a", "v1.2.0"), "v1.0.0")
        self.assertFalse(r.allowed)
        self.assertIn(ALLOW_DOWNGRADE_ANNOTATION, r.reason)
        self.assertTrue(self.review(binding("default", "a", "v1.2.0").annotated(ALLOW_DOWNGRADE_ANNOTATION, "true"), "v1.0.0").allowed)
        self.assertTrue(self.review(binding("default", "a", "v1.2.0").request_annotated(ALLOW_DOWNGRADE_ANNOTATION, "true"), "v1.0.0").allowed)
        self.assertTrue(self.review(binding("default", "a", "v1.0.0"), "v2.0.0").allowed)
        self.assertTrue(self.review(binding("default", "a", "v1.0.0"), "latest").allowed)
        self.assertFalse(self.review(binding("default", "a", "latest").applied("v2.0.1"), "v1.0.0").allowed)

    def test_failed_upgrade_rolls_back_to_the_applied_version(self):
        def after(b):
            return policy.after_failure(FailureInput(NOW, [], revisions(), b.build(), "v1.2.0", "boom", 1, NOW))
        self.assertIsInstance(after(binding("default", "a", "v1.2.0").applied("v1.0.0").failed("v1.2.0")).action, FailureAction_RollBack)
        self.assertIsInstance(after(binding("default", "a", "v1.2.0").failed("v1.2.0")).action, FailureAction_Hold)


if __name__ == "__main__":
    unittest.main()
