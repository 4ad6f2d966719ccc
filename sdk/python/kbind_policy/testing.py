"""Builders for native unit tests: a policy's `Decisions` methods are plain
Python, called with inputs built here; no wasm needed (the bindings
`componentize-py bindings` generates must be on the path).

    from kbind_policy.testing import promise, binding, settings, NOW
    p = promise("redis").revision("v0.1.0").latest("v0.2.0").build()
    b = binding("default", "example", "v0.1.0").applied("v0.1.0").build()
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

from . import (
    Binding,
    KeyValue,
    Promise,
    Request,
    Revision,
    Setting,
    UpgradeState,
    text_setting,
)

#: A fixed instant (2026-01-01T00:00:00Z) for deterministic tests.
NOW = 1_767_225_600_000


class PromiseBuilder:
    def __init__(self, name: str):
        self._promise = Promise(name, [], [], [])

    def revision(self, version: str) -> "PromiseBuilder":
        """Adds a non-latest revision."""
        return self._push(version, False)

    def latest(self, version: str) -> "PromiseBuilder":
        """Adds the revision marked `status.latest`."""
        return self._push(version, True)

    def _push(self, version: str, latest: bool) -> "PromiseBuilder":
        created_at = NOW + len(self._promise.revisions) * 1000
        self._promise.revisions.append(
            Revision(f"{self._promise.name}-{version}", version, latest, created_at)
        )
        return self

    def annotated(self, key: str, value: str) -> "PromiseBuilder":
        self._promise.annotations.append(KeyValue(key, value))
        return self

    def labelled(self, key: str, value: str) -> "PromiseBuilder":
        self._promise.labels.append(KeyValue(key, value))
        return self

    def build(self) -> Promise:
        return self._promise


def promise(name: str) -> PromiseBuilder:
    """Starts a promise with no revisions."""
    return PromiseBuilder(name)


def request(namespace: str, name: str) -> Request:
    """A request with no labels or annotations."""
    return Request(namespace, name, [], [])


class BindingBuilder:
    def __init__(self, namespace: str, name: str, version: str):
        self._b = Binding(
            namespace=namespace,
            name=f"{name}-binding",
            request=request(namespace, name),
            version=version,
            last_applied_version=None,
            in_flight_version=None,
            failed_version=None,
            failed_versions=[],
            state=UpgradeState.NONE,
            labels=[],
            annotations=[],
            last_succeeded_at=None,
            last_failed_at=None,
        )

    def applied(self, version: str) -> "BindingBuilder":
        """Marks `version` as successfully applied."""
        self._b.last_applied_version = version
        self._b.state = UpgradeState.SUCCEEDED
        return self

    def failed(self, version: str) -> "BindingBuilder":
        """Marks an upgrade to `version` as failed."""
        self._b.failed_version = version
        self._b.failed_versions.append(version)
        self._b.state = UpgradeState.FAILED
        return self

    def in_flight(self, version: str) -> "BindingBuilder":
        """Marks an upgrade to `version` as running."""
        self._b.in_flight_version = version
        self._b.state = UpgradeState.IN_PROGRESS
        return self

    def succeeded_at(self, at: int) -> "BindingBuilder":
        self._b.last_succeeded_at = at
        return self

    def failed_at(self, at: int) -> "BindingBuilder":
        self._b.last_failed_at = at
        return self

    def annotated(self, key: str, value: str) -> "BindingBuilder":
        self._b.annotations.append(KeyValue(key, value))
        return self

    def request_annotated(self, key: str, value: str) -> "BindingBuilder":
        self._b.request.annotations.append(KeyValue(key, value))
        return self

    def request_labelled(self, key: str, value: str) -> "BindingBuilder":
        self._b.request.labels.append(KeyValue(key, value))
        return self

    def build(self) -> Binding:
        return self._b


def binding(namespace: str, name: str, version: str) -> BindingBuilder:
    """A fresh binding of request `<namespace>/<name>` at `version`."""
    return BindingBuilder(namespace, name, version)


def settings(pairs: Sequence[Tuple[str, str]]) -> list[Setting]:
    """Scalar settings from `(name, value)` pairs."""
    return [text_setting(name, value) for name, value in pairs]


def declined(call) -> Optional[str]:
    """The message a decision declined with, or None if it did not."""
    from componentize_py_types import Err

    try:
        call()
    except Err as err:
        return err.value
    return None
