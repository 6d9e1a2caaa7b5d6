"""Measured figures live in one place, docs/figures.md, written by the benchmarks.

Each benchmark owns one section of that file, between
``<!-- figures:<name> -->`` and ``<!-- /figures:<name> -->``, and replaces it
with a table of what it just measured, the date and the machine
(:func:`record`). `make bench` writes ``synth``, `make bench-e2e` writes
``e2e`` and `make test` writes ``test`` (the per-tier counts and times of its
closing summary). Nothing else in the repository types a measured number:
README and the other docs link here.
"""

from __future__ import annotations

import os
import platform
import re
import time
from pathlib import Path

from lostops.inventory import REPO_ROOT

FIGURES = REPO_ROOT / "docs" / "figures.md"
ENV_FILE = "LOSTOPS_FIGURES_FILE"


class FiguresError(ValueError):
    """docs/figures.md has no (or a broken) section of that name."""


def path() -> Path:
    return Path(os.environ.get(ENV_FILE) or FIGURES)


def machine() -> str:
    return f"{os.cpu_count()} cores, {platform.system()} {platform.release()}"


def section(name: str, rows: list[tuple[str, str]], note: str = "") -> str:
    lines = [
        f"<!-- figures:{name} -->",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}.",
        "",
        "| what | measured |",
        "|---|---|",
        *[f"| {what} | {value} |" for what, value in rows],
    ]
    if note:
        lines += ["", note]
    lines.append(f"<!-- /figures:{name} -->")
    return "\n".join(lines)


def record(name: str, rows: list[tuple[str, str]], note: str = "", file: Path | None = None) -> Path:
    """Replace section `name` of docs/figures.md with `rows` (atomically)."""
    file = file or path()
    text = file.read_text(encoding="utf-8")
    pattern = re.compile(rf"<!-- figures:{re.escape(name)} -->.*?<!-- /figures:{re.escape(name)} -->", re.S)
    if len(pattern.findall(text)) != 1:
        raise FiguresError(f"{file}: needs exactly one section <!-- figures:{name} --> ... <!-- /figures:{name} -->")
    new = pattern.sub(lambda _m: section(name, rows, note), text)
    tmp = file.with_name(f".{file.name}.tmp")
    tmp.write_text(new, encoding="utf-8")
    os.replace(tmp, file)
    return file
