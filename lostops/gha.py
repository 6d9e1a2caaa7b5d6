"""GitHub Actions step outputs: `key=value` lines appended to $GITHUB_OUTPUT.

Every value is checked before anything is written: GitHub reads the file line
by line, so a value holding a line break (a hostile INFRA_REF such as
``abc\\nforce=true``) would add an output of its own choosing. Such a value is
refused with one line naming the key, and the file is left untouched.
"""

from __future__ import annotations

import os
import re

KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,99}")
MAX_VALUE = 4096


class OutputError(ValueError):
    """A step output that must not be written; the message is one line."""


def check_outputs(outputs: dict[str, str]) -> str:
    """The `key=value\\n` lines for `outputs`, or OutputError naming the first bad key."""
    lines = []
    for key, value in outputs.items():
        if not isinstance(key, str) or not KEY.fullmatch(key):
            raise OutputError(f"output name {str(key)[:40]!r} is not [A-Za-z_][A-Za-z0-9_-]*")
        if not isinstance(value, str):
            raise OutputError(f"output {key}: value is not text")
        bad = next((c for c in value if c in "\r\n\x00" or (ord(c) < 32 and c != "\t")), None)
        if bad is not None:
            raise OutputError(f"output {key}: value holds a control character {bad!r} (a line break adds outputs)")
        if len(value) > MAX_VALUE:
            raise OutputError(f"output {key}: value longer than {MAX_VALUE} characters")
        if value.startswith("<<") or (value.startswith(key) and "<<" in value):
            raise OutputError(f"output {key}: value looks like a multi-line delimiter")
        lines.append(f"{key}={value}\n")
    return "".join(lines)


def set_outputs(outputs: dict[str, str]) -> str:
    """Check every value, then append them to $GITHUB_OUTPUT when it is set. Returns the lines."""
    lines = check_outputs(outputs)
    path = os.environ.get("GITHUB_OUTPUT")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(lines)
    return lines
