"""A command line taken from an environment variable (SALT_SSH, LOSTOPS_JIT_EXEC), split like a shell would.

An unbalanced quote or an empty value is one line naming the variable
(ValueError), not shlex's bare "No closing quotation".
"""

from __future__ import annotations

import shlex


def split(name: str, value: str) -> list[str]:
    try:
        argv = shlex.split(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {str(exc).lower()} (unbalanced quotes in {value[:60]!r})") from None
    if not argv:
        raise ValueError(f"{name} is set but names no command")
    return argv
