"""`semver-auto` in Python: keeps bindings on the newest compatible revision,
as the Rust policy beside it (`../src/lib.rs`) does, word for word.

- New binding: pinned to the newest revision by semver (a recreated binding
  keeps the version its request was last reconciled with).
- When revisions change: each pinned binding moves to the highest revision
  within its range (`patch` or `minor`, setting `range`, overridable per
  binding or request by `kbind.io/upgrade-range: none|patch|minor`). Never
  crosses a major, never picks a pre-release, never re-selects a version
  that failed for that binding, leaves `latest` bindings and running
  upgrades alone.
- A downgrade is denied unless `kbind.io/allow-downgrade: "true"`.
- After a failed upgrade: roll back to the last applied version.
"""

from kbind_policy import (
    LATEST,
    RANGE_ANNOTATION,
    Decline,
    Policy,
    Upgrade,
    UpgradePlan,
    UpgradeState,
    binding_annotation,
    binding_ref,
    check_known_settings,
    parse_version,
    pin_to_newest,
    policy_info,
    quoted,
    review_no_downgrade,
    roll_back,
    setting,
    version_in_range,
    with_setting,
)

RANGE = "range"
VERSION = "0.1.0"
# How soon to plan again when bindings were skipped because an upgrade was
# running on them.
BUSY_RECHECK_MS = 5_000


def configured_range(settings):
    value = setting(settings, RANGE)
    if value is None:
        return "minor"
    if value in ("patch", "minor"):
        return value
    raise Decline(f"setting `{RANGE}` must be `patch` or `minor`, not {quoted(value)}")


def range_for(binding, default):
    value = binding_annotation(binding, RANGE_ANNOTATION)
    if value is None:
        return default, None
    if value in ("none", "patch", "minor"):
        return value, None
    return default, (
        f"{binding.namespace}/{binding.name}: ignoring {RANGE_ANNOTATION}={quoted(value)} "
        "(expected none, patch or minor)"
    )


def has_failed(binding, version):
    return binding.failed_version == version or version in binding.failed_versions


def upgrade_target(promise, binding, range_):
    """The highest revision in range of the binding's version that has not
    failed for it."""
    best = None
    for revision in promise.revisions:
        if not version_in_range(binding.version, revision.version, range_):
            continue
        if has_failed(binding, revision.version):
            continue
        v = parse_version(revision.version)
        # `max_by` keeps the last of equal maxima; so does `>=`.
        if best is None or v >= best[0]:
            best = (v, revision)
    return best[1] if best else None


class Decisions(Policy):
    def metadata(self):
        return with_setting(
            policy_info(
                "semver-auto",
                VERSION,
                "Pins new bindings to the newest revision and upgrades them automatically "
                "within a patch or minor range; never crosses a major, never retries a failed "
                "version, rolls back failed upgrades and denies downgrades unless allowed.",
            ),
            RANGE,
            "How far automatic upgrades may move a binding: `patch` (same minor) or `minor` "
            "(same major). Override per binding or request with the annotation "
            "kbind.io/upgrade-range: none|patch|minor.",
            "minor",
            ["patch", "minor"],
        )

    def validate_settings(self, settings):
        check_known_settings(settings, [RANGE], "semver-auto")
        configured_range(settings)

    def initial_version(self, input):
        return pin_to_newest(input)

    def plan_upgrades(self, input):
        default_range = configured_range(input.settings)
        upgrades = []
        notes = []
        busy = 0
        for binding in input.bindings:
            if binding.version == LATEST:
                continue
            if binding.state == UpgradeState.IN_PROGRESS:
                # Left alone now, but not forgotten: ask to be asked again.
                busy += 1
                continue
            range_, note = range_for(binding, default_range)
            if note:
                notes.append(note)
            target = upgrade_target(input.promise, binding, range_)
            if target is not None:
                upgrades.append(
                    Upgrade(
                        binding_ref(binding),
                        target.version,
                        f"{binding.version} -> {target.version}: newest revision within the "
                        f"{range_} range",
                    )
                )
        reason = (
            f"{len(upgrades)} of {len(input.bindings)} binding(s) upgraded within their range"
        )
        for note in notes:
            reason += "; " + note
        if busy:
            reason += (
                f"; {busy} binding(s) with an upgrade running, checked again in "
                f"{BUSY_RECHECK_MS // 1000}s"
            )
        return UpgradePlan(upgrades, BUSY_RECHECK_MS if busy else None, reason, [])

    def review_edit(self, input):
        return review_no_downgrade(input)

    def after_failure(self, input):
        return roll_back(input)
