"""`kratix-default` in Python: exactly the decisions Kratix hard-codes, as
the Rust policy beside it (`../src/lib.rs`) makes them, word for word.

- New binding (R-14): the version the request was last reconciled with if
  the binding is being recreated; else `latest` (strategy `floating`, the
  default) or the latest revision's version (strategy `pinned`).
- Everything else is the SDK's default: Kratix's behaviour.
"""

from kbind_policy import (
    LATEST,
    Decline,
    Policy,
    VersionChoice,
    check_known_settings,
    latest_revision,
    policy_info,
    quoted,
    restored_version,
    setting,
    with_setting,
)

STRATEGY = "strategy"
FLOATING = "floating"
PINNED = "pinned"
VERSION = "0.1.0"


def strategy(settings):
    """Kratix reads the strategy case-sensitively; anything but `pinned`
    floats (an invalid value is reported, not fatal)."""
    value = setting(settings, STRATEGY)
    if value == PINNED:
        return PINNED, None
    if value in (None, FLOATING, ""):
        return FLOATING, None
    return FLOATING, f"strategy {quoted(value)} is not `floating` or `pinned`; using floating"


class Decisions(Policy):
    def metadata(self):
        return with_setting(
            policy_info(
                "kratix-default",
                VERSION,
                "Kratix's built-in decisions: bindings float on `latest` (or are pinned at "
                "creation), upgrades happen only when a user edits spec.version, failed "
                "upgrades hold.",
            ),
            STRATEGY,
            "Version of new bindings: `floating` (spec.version: latest) or `pinned` (the "
            "latest revision's version at creation). Invalid values mean floating, as in "
            "Kratix.",
            FLOATING,
            [FLOATING, PINNED],
        )

    def validate_settings(self, settings):
        check_known_settings(settings, [STRATEGY], "kratix-default")

    def initial_version(self, input):
        restored = restored_version(input)
        if restored is not None:
            return restored
        chosen, warning = strategy(input.settings)
        note = f" ({warning})" if warning else ""
        if chosen == FLOATING:
            return VersionChoice(
                LATEST, f"strategy floating: new bindings follow the latest revision{note}"
            )
        latest = latest_revision(input.promise)
        if latest is None:
            raise Decline(
                f"cannot find any PromiseRevision for Promise {input.promise.name} with "
                "status.latest set to true: no latest promise revision yet"
            )
        return VersionChoice(
            latest.version, f"strategy pinned: pinned to the latest revision {latest.version}"
        )
