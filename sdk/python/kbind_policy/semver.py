"""Semantic versions as kbind's Rust SDK orders them (the `semver` crate's
rules): strict SemVer 2.0 parsing, an optional leading `v`, pre-releases
before their release, build metadata compared last."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering
from typing import Optional, Tuple

_NUMBER = r"(0|[1-9][0-9]*)"
_PRE_IDENT = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_BUILD_IDENT = r"[0-9A-Za-z-]+"
_VERSION = re.compile(
    rf"^{_NUMBER}\.{_NUMBER}\.{_NUMBER}"
    rf"(?:-({_PRE_IDENT}(?:\.{_PRE_IDENT})*))?"
    rf"(?:\+({_BUILD_IDENT}(?:\.{_BUILD_IDENT})*))?"
)


def _ident_key(ident: str) -> Tuple[int, int, str]:
    # Numeric identifiers sort before alphanumeric ones, numerically.
    if ident.isdigit():
        return (0, int(ident), ident)
    return (1, 0, ident)


def _build_key(ident: str) -> Tuple[int, int, int, str]:
    if ident.isdigit():
        stripped = ident.lstrip("0") or "0"
        return (0, int(stripped), len(ident), ident)
    return (1, 0, 0, ident)


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    pre: Tuple[str, ...] = ()
    build: Tuple[str, ...] = ()

    def _key(self):
        # A release sorts after every pre-release of the same version.
        pre = (1,) if not self.pre else (0, tuple(_ident_key(i) for i in self.pre))
        return (
            self.major,
            self.minor,
            self.patch,
            pre,
            tuple(_build_key(i) for i in self.build),
        )

    def __lt__(self, other: "Version") -> bool:
        return self._key() < other._key()

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            text += "-" + ".".join(self.pre)
        if self.build:
            text += "+" + ".".join(self.build)
        return text


def parse_version(version: str) -> Optional[Version]:
    """A promise version as semver, accepting a leading `v` or `V`; None for
    versions that are not semver (e.g. `not-set`)."""
    bare = version[1:] if version[:1] in ("v", "V") else version
    m = _VERSION.fullmatch(bare)
    if m is None:
        return None
    major, minor, patch, pre, build = m.groups()
    return Version(
        int(major),
        int(minor),
        int(patch),
        tuple(pre.split(".")) if pre else (),
        tuple(build.split(".")) if build else (),
    )


def compare_versions(a: str, b: str) -> Optional[int]:
    """-1, 0 or 1 ordering two promise versions by semver; None if either is
    not semver."""
    va, vb = parse_version(a), parse_version(b)
    if va is None or vb is None:
        return None
    return (va > vb) - (va < vb)
