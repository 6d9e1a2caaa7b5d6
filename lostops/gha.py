"""GitHub Actions step outputs: `key=value` lines appended to $GITHUB_OUTPUT."""

from __future__ import annotations

import os


def append_output(lines: str) -> None:
    """Append `lines` (each `key=value\\n`) to $GITHUB_OUTPUT when it is set (in a workflow step)."""
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        with open(output, "a", encoding="utf-8") as fh:
            fh.write(lines)
