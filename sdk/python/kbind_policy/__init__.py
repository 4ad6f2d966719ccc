"""kbind's policy SDK for Python (componentize-py).

A policy is a module `app` with a class `Decisions` deriving from `Policy`:
override what differs from Kratix, keep the rest. The contract's types are
componentize-py's bindings of `kbind:policy@0.2.0` (`wit_world.imports.types`),
re-exported here; the helpers mirror the Rust SDK's, with the same answers.

A decision declines (its `result` is `err`) by raising `Decline(message)`;
any other exception traps the policy, and kbind shows its traceback.
"""

from __future__ import annotations

import sys
from typing import Iterable, List, Optional, Sequence

from componentize_py_types import Err
from wit_world.imports import host
from wit_world.imports.types import (  # noqa: F401  (re-exported)
    Binding,
    BindingRef,
    EditInput,
    FailureAction,
    FailureAction_Hold,
    FailureAction_RetryAfter,
    FailureAction_RollBack,
    FailureDecision,
    FailureInput,
    InitialVersionInput,
    KeyValue,
    PlanInput,
    PlanTrigger,
    PolicyInfo,
    Promise,
    Request,
    RerunSelection,
    Review,
    Revision,
    Rollout,
    RolloutPhase,
    Setting,
    SettingSpec,
    SettingValue,
    SettingValue_Json,
    SettingValue_Text,
    SpecChangeInput,
    Upgrade,
    UpgradePlan,
    UpgradeState,
    VersionChoice,
    WaveProgress,
)
from wit_world.imports.host import LogLevel

from .semver import Version, compare_versions, parse_version  # noqa: F401

#: The contract version this SDK builds against.
CONTRACT_VERSION = "0.2.0"
#: The binding version that follows the promise's latest revision.
LATEST = "latest"
#: Per-binding (or per-request) override of how far a binding may move on
#: its own; `none` opts it out.
RANGE_ANNOTATION = "kbind.io/upgrade-range"
#: Lets a user edit a binding to a lower version.
ALLOW_DOWNGRADE_ANNOTATION = "kbind.io/allow-downgrade"


def Decline(message: str) -> Err:
    """The error a decision raises to decline: `raise Decline("why")`."""
    return Err(message)


# ---- logging ---------------------------------------------------------------


def log(level: LogLevel, message: str) -> None:
    """Writes to the operator's log; natively (unit tests) to stderr."""
    try:
        host.log(level, message)
    except NotImplementedError:
        print(f"[{level.name.lower()}] {message}", file=sys.stderr)


# ---- versions --------------------------------------------------------------

#: How far an automatic upgrade may move a version.
UPGRADE_RANGES = ("none", "patch", "minor")


def version_in_range(current: str, candidate: str, range_: str) -> bool:
    """True when `candidate` is newer than `current` and within `range_`
    (`none`, `patch`, `minor`) of it. Never crosses a major; pre-releases are
    never chosen; versions that are not semver are never in range."""
    cur, cand = parse_version(current), parse_version(candidate)
    if cur is None or cand is None:
        return False
    if cand <= cur or cand.pre or cand.major != cur.major:
        return False
    if range_ == "patch":
        return cand.minor == cur.minor
    return range_ == "minor"


def latest_revision(promise: Promise) -> Optional[Revision]:
    """The revision marked `status.latest` (the first, if several are)."""
    return next((r for r in promise.revisions if r.latest), None)


def newest_revision(promise: Promise) -> Optional[Revision]:
    """The revision with the highest semver version, pre-releases and
    versions that are not semver left out."""
    best = None
    for revision in promise.revisions:
        v = parse_version(revision.version)
        if v is None or v.pre:
            continue
        if best is None or v > best[0]:
            best = (v, revision)
    return best[1] if best else None


def has_revision(promise: Promise, version: str) -> bool:
    return any(r.version == version for r in promise.revisions)


# ---- settings, labels, annotations -----------------------------------------


def find_setting(settings: Sequence[Setting], name: str) -> Optional[SettingValue]:
    """A setting's value, to tell a scalar (`SettingValue_Text`) from a list
    or map (`SettingValue_Json`)."""
    return next((s.value for s in settings if s.name == name), None)


def setting(settings: Sequence[Setting], name: str) -> Optional[str]:
    """A setting's text: a scalar as written, a list or a map as its JSON."""
    value = find_setting(settings, name)
    return None if value is None else value.value


def text_setting(name: str, value: str) -> Setting:
    return Setting(name, SettingValue_Text(value))


def json_setting(name: str, json: str) -> Setting:
    return Setting(name, SettingValue_Json(json))


def lookup(pairs: Iterable[KeyValue], key: str) -> Optional[str]:
    """The value of a label or an annotation."""
    return next((p.value for p in pairs if p.key == key), None)


def binding_annotation(binding: Binding, key: str) -> Optional[str]:
    """An annotation of the binding, or else of its request."""
    own = lookup(binding.annotations, key)
    return own if own is not None else lookup(binding.request.annotations, key)


def unknown_settings(settings: Sequence[Setting], known: Sequence[str]) -> List[str]:
    return [s.name for s in settings if s.name not in known]


def check_known_settings(settings: Sequence[Setting], known: Sequence[str], policy: str) -> None:
    """`validate-settings` helper: declines naming every unknown setting."""
    unknown = unknown_settings(settings, known)
    if unknown:
        names = ", ".join(f"`{k}`" for k in known)
        raise Decline(f"unknown setting(s) {', '.join(unknown)}; {policy} understands only {names}")


def policy_info(name: str, version: str, description: str) -> PolicyInfo:
    return PolicyInfo(name, version, description, [])


def with_setting(
    info: PolicyInfo,
    name: str,
    description: str,
    default_value: Optional[str] = None,
    allowed_values: Sequence[str] = (),
) -> PolicyInfo:
    info.settings.append(SettingSpec(name, description, default_value, list(allowed_values)))
    return info


def binding_ref(binding: Binding) -> BindingRef:
    return BindingRef(binding.namespace, binding.name)


# ---- decisions policies share ----------------------------------------------


def restored_version(input: InitialVersionInput) -> Optional[VersionChoice]:
    """Kratix R-14.1: a binding recreated after deletion keeps the version
    its request was last reconciled with."""
    previous = input.previous_version
    if not previous:
        return None
    return VersionChoice(
        previous,
        f"restoring the binding version {previous} the request was last reconciled with",
    )


def default_rerun_selection(input: SpecChangeInput) -> RerunSelection:
    """Requests bound to the changed version, plus `latest` requests if the
    changed revision is the latest one (Kratix issue #815 fixed)."""
    latest = latest_revision(input.promise)
    changed_is_latest = latest is not None and latest.version == input.changed_version
    rerun = [
        binding_ref(b)
        for b in input.bindings
        if b.version == input.changed_version or (changed_is_latest and b.version == LATEST)
    ]
    if changed_is_latest:
        reason = (
            f"re-running requests on {input.changed_version} and on latest; "
            "requests pinned to other versions are untouched"
        )
    else:
        reason = (
            f"re-running requests pinned to {input.changed_version}; "
            "requests on other versions are untouched"
        )
    return RerunSelection(rerun, reason)


def pin_to_newest(input: InitialVersionInput) -> VersionChoice:
    """A recreated binding keeps its request's version; otherwise the newest
    revision by semver, or the latest one when no revision is semver."""
    restored = restored_version(input)
    if restored is not None:
        return restored
    newest = newest_revision(input.promise)
    if newest is not None:
        return VersionChoice(newest.version, f"pinned to the newest revision {newest.version}")
    latest = latest_revision(input.promise)
    if latest is not None:
        return VersionChoice(
            latest.version,
            f"no revision has a semver version; pinned to the latest revision {latest.version}",
        )
    raise Decline(f"promise {input.promise.name} has no revisions to pin a new binding to")


def review_no_downgrade(input: EditInput) -> Review:
    """Any edit but a downgrade; a downgrade only where the binding or its
    request says `kbind.io/allow-downgrade: "true"`."""
    requested = input.requested_version
    binding = input.binding
    if binding.version == LATEST:
        current = binding.last_applied_version or LATEST
    else:
        current = binding.version
    if compare_versions(requested, current) != -1:
        return Review(True, f"{current} -> {requested} is not a downgrade")
    if binding_annotation(binding, ALLOW_DOWNGRADE_ANNOTATION) == "true":
        return Review(
            True, f"downgrade {current} -> {requested} allowed by {ALLOW_DOWNGRADE_ANNOTATION}"
        )
    return Review(
        False,
        f"downgrade {current} -> {requested} denied; annotate the binding or its request with "
        f'{ALLOW_DOWNGRADE_ANNOTATION}: "true" to allow it',
    )


def roll_back(input: FailureInput) -> FailureDecision:
    """Back to the last applied version, or hold when there is none other."""
    applied = input.binding.last_applied_version
    if applied is not None and applied != input.failed_version:
        return FailureDecision(
            FailureAction_RollBack(),
            f"upgrade to {input.failed_version} failed; rolling back to {applied}",
        )
    return FailureDecision(
        FailureAction_Hold(),
        f"{input.failed_version} failed and there is no other applied version to roll back to; holding",
    )


# ---- the policy base class -------------------------------------------------


class Policy:
    """Kratix's decisions for every decision point a policy leaves alone.
    `metadata` and `initial_version` must be written."""

    def metadata(self) -> PolicyInfo:
        raise NotImplementedError("a policy must define metadata()")

    def validate_settings(self, settings: List[Setting]) -> None:
        return None

    def initial_version(self, input: InitialVersionInput) -> VersionChoice:
        raise NotImplementedError("a policy must define initial_version()")

    def plan_upgrades(self, input: PlanInput) -> UpgradePlan:
        return UpgradePlan(
            [],
            None,
            "this policy never upgrades on its own; edit spec.version to upgrade",
            [],
        )

    def review_edit(self, input: EditInput) -> Review:
        return Review(
            True,
            f"edits are not restricted; {input.binding.version} -> {input.requested_version}",
        )

    def after_failure(self, input: FailureInput) -> FailureDecision:
        return FailureDecision(
            FailureAction_Hold(),
            f"upgrade to {input.failed_version} failed; holding until spec.version is edited",
        )

    def rerun_on_spec_change(self, input: SpecChangeInput) -> RerunSelection:
        return default_rerun_selection(input)


def quoted(text: str) -> str:
    """`text` in double quotes, escaped as Rust's `{:?}` does, so messages
    match the Rust SDK's word for word."""
    out = ['"']
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\0":
            out.append("\\0")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)
