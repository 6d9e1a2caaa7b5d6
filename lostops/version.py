"""Release versions: Major.Minor.Revision (`lostops version check`).

Three dot-separated decimal numbers without leading zeros (0 itself is fine).
One leading "v" is stripped, so "v1.2.3" and "1.2.3" both give "1.2.3".
Anything else (pre-release suffixes, two or four parts, leading zeros, empty)
is refused with one line.
"""

from __future__ import annotations

import re
import sys

from lostops import gha

NUMBER = re.compile(r"0|[1-9][0-9]*")
EXPECTED = "expected Major.Minor.Revision, e.g. 1.2.3 or v1.2.3"


class VersionError(ValueError):
    """The input is not a Major.Minor.Revision version."""


def normalize(raw: str) -> str:
    """Return X.Y.Z for a valid version, raise VersionError otherwise."""
    if raw == "" or raw.strip() == "":
        raise VersionError(f"version is empty; {EXPECTED}")
    if raw != raw.strip():
        raise VersionError(f"version {raw!r} has surrounding whitespace; {EXPECTED}")
    version = raw.removeprefix("v")
    if "-" in version or "+" in version:
        raise VersionError(f"version {raw!r} has a pre-release or build suffix; {EXPECTED}")
    parts = version.split(".")
    if len(parts) != 3:
        raise VersionError(f"version {raw!r} has {len(parts)} part(s), not 3; {EXPECTED}")
    for part in parts:
        if not part.isascii() or not part.isdigit():
            raise VersionError(f"version {raw!r} has a non-numeric part {part!r}; {EXPECTED}")
        if not NUMBER.fullmatch(part):
            raise VersionError(f"version {raw!r} has a leading zero in {part!r}; {EXPECTED}")
    return ".".join(parts)


def check(argv: list[str]) -> int:
    """`lostops version check VERSION`: print X.Y.Z (and version=X.Y.Z to $GITHUB_OUTPUT), or one line and 2."""
    if len(argv) != 1:
        print("check-version: usage: lostops version check VERSION", file=sys.stderr)
        return 2
    try:
        version = normalize(argv[0])
    except VersionError as exc:
        print(f"check-version: {exc}", file=sys.stderr)
        return 2
    print(version)
    gha.set_outputs({"version": version})
    return 0
