"""The closing summary of `make test` from the tiers' JUnit reports (`lostops summary tests`).

One line per tier: how many tests ran, their outcome and how long the tier
took (pytest's own testsuite time); a tier whose report is missing did not run
(e.g. the end-to-end tier after a failed unit tier). With `--eol`, one line per
component of docs/eol.yaml whose end of life is past or within 90 days. The
last line is the total in the plain form `total: N passed, N failed[, N skipped]`.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Tier:
    name: str
    tests: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    ran: bool = False

    @property
    def passed(self) -> int:
        return self.tests - self.failed - self.skipped


def read(name: str, path: Path) -> Tier:
    tier = Tier(name)
    if not path.exists():
        return tier
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    for suite in suites:
        tier.tests += int(suite.get("tests", 0))
        tier.failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        tier.skipped += int(suite.get("skipped", 0))
        tier.seconds += float(suite.get("time", 0.0))
    tier.ran = True
    return tier


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def line(tier: Tier) -> str:
    if not tier.ran:
        return f"{tier.name} tier: did not run"
    parts = [f"{tier.passed} passed"]
    if tier.failed:
        parts.append(f"{tier.failed} failed")
    if tier.skipped:
        parts.append(f"{tier.skipped} skipped")
    return f"{tier.name} tier: {tier.tests} tests ({', '.join(parts)}) in {duration(tier.seconds)}"


def eol_lines() -> list[str]:
    """docs/eol.yaml's components within 90 days of their end of life, or past it (lostops/eol.py)."""
    from lostops import eol

    try:
        return eol.summary_lines(eol.rows(), __import__("datetime").date.today())
    except eol.EolError as exc:
        return [str(exc)]


def run(args: list[str], record: bool = False, eol: bool = False) -> int:
    """Print the summary of TIER=REPORT.xml arguments; 0, or 2 on bad usage.

    `record`: also write the tiers' lines to docs/figures.md (section `test`).
    `eol`: also the end-of-life lines (before the total, which stays the last line)."""
    tiers = []
    for arg in args:
        name, sep, path = arg.partition("=")
        if not sep or not name or not path:
            print(f"test-summary: {arg!r}: expected TIER=REPORT.xml", file=sys.stderr)
            return 2
        try:
            tiers.append(read(name, Path(path)))
        except (ET.ParseError, ValueError, RecursionError) as exc:
            print(f"test-summary: {path}: not a JUnit report ({str(exc).splitlines()[0][:120]})", file=sys.stderr)
            return 2
        except OSError as exc:
            print(f"test-summary: {path}: cannot read ({exc.strerror})", file=sys.stderr)
            return 2
    if not tiers:
        print("test-summary: usage: lostops summary tests TIER=REPORT.xml ...", file=sys.stderr)
        return 2
    ran = [t for t in tiers if t.ran]
    print("== make test summary")
    for tier in tiers:
        print(line(tier))
    if eol:
        for text in eol_lines():
            print(text)
    total = Tier("total", sum(t.tests for t in ran), sum(t.failed for t in ran), sum(t.skipped for t in ran))
    tail = f", {total.skipped} skipped" if total.skipped else ""
    print(f"total: {total.passed} passed, {total.failed} failed{tail}")
    if record:
        from lostops import figures

        rows = [(f"{t.name} tier", line(t).split(": ", 1)[1]) for t in tiers]
        print(f"figures: {figures.record('test', rows)}")
    return 0
