"""End-of-life dates of what the repository pins, from docs/eol.yaml (`lostops eol`).

    lostops eol                  # the table, then the components near or past their date
    lostops eol --write-readme   # rewrite the README's table (make eol-table)
    lostops eol --check          # exit 1 on a problem (missing decision, unknown cycle, stale README)

Each component's pinned version is read from the repository (the pin scan of
lostops/pins.py, or Pipfile.lock), so the table follows Renovate's updates.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass

import yaml

from lostops.inventory import REPO_ROOT

DATA = REPO_ROOT / "docs" / "eol.yaml"
README = REPO_ROOT / "README.md"
SOON_DAYS = 90
START, END = "<!-- eol-table:start (make eol-table; data: docs/eol.yaml) -->", "<!-- eol-table:end -->"


class EolError(ValueError):
    """One line naming the component and the field."""


@dataclass
class Row:
    component: str
    pinned: str  # the version as pinned
    where: str  # where it is pinned
    cycle: str
    eol: dt.date
    action: str
    decision: str
    source: str

    def days_left(self, today: dt.date) -> int:
        return (self.eol - today).days


def _pinned(entry: dict, pins_found) -> tuple[str, str]:
    name = entry["component"]
    if "pinned" in entry:
        return str(entry["pinned"]), "outside this repository"
    pin = entry.get("pin") or {}
    file = pin.get("file")
    if not file:
        raise EolError(f"docs/eol.yaml: {name}: pin.file or pinned is required")
    if "package" in pin:
        lock = json.loads((REPO_ROOT / file).read_text(encoding="utf-8"))
        for section in ("default", "develop"):
            if pin["package"] in lock.get(section, {}):
                return lock[section][pin["package"]]["version"].lstrip("="), file
        raise EolError(f"docs/eol.yaml: {name}: pin.package: {pin['package']} is not in {file}")
    for p in pins_found:
        if p.file == file and p.dep == pin.get("dep"):
            return p.value, p.where()
    raise EolError(f"docs/eol.yaml: {name}: pin: no pin {pin.get('dep')!r} in {file} (lostops/pins.py)")


def _cycle(entry: dict, version: str) -> str:
    name = entry["component"]
    cycles = [str(c) for c in entry.get("cycles", {})]
    if "cycle" in entry:
        return str(entry["cycle"])
    if "cycle_regex" in entry:
        m = re.search(entry["cycle_regex"], version)
        if not m:
            raise EolError(f"docs/eol.yaml: {name}: cycle_regex matches nothing in {version!r}")
        return m.group(1)
    bare = version.lstrip("v")
    for cycle in sorted(cycles, key=len, reverse=True):
        if bare == cycle or bare.startswith(cycle + ".") or bare.startswith(cycle + "-"):
            return cycle
    raise EolError(f"docs/eol.yaml: {name}: cycles: no end-of-life date for {version} (add its release cycle)")


def rows(data: dict | None = None, pins_found=None) -> list[Row]:
    from lostops import pins

    data = data if data is not None else yaml.safe_load(DATA.read_text(encoding="utf-8"))
    pins_found = pins_found if pins_found is not None else pins.scan().pins
    out = []
    for i, entry in enumerate(data.get("components") or []):
        name = entry.get("component") or f"components[{i}]"
        for key in ("action", "cycles"):
            if not entry.get(key):
                raise EolError(f"docs/eol.yaml: {name}: {key} is required")
        version, where = _pinned({**entry, "component": name}, pins_found)
        cycle = _cycle({**entry, "component": name}, version)
        spec = {str(k): v for k, v in entry["cycles"].items()}.get(cycle)
        if not isinstance(spec, dict) or not isinstance(spec.get("eol"), dt.date):
            raise EolError(f"docs/eol.yaml: {name}: cycles.{cycle}.eol: a date (YYYY-MM-DD) is required")
        out.append(
            Row(
                name,
                version,
                where,
                cycle,
                spec["eol"],
                " ".join(str(entry["action"]).split()),
                " ".join(str(spec.get("decision") or "").split()),
                str(entry.get("source", "")),
            )
        )
    return out


def problems(all_rows: list[Row], today: dt.date) -> list[str]:
    """Dates already past without a recorded decision."""
    return [
        f"docs/eol.yaml: {r.component}: cycles.{r.cycle}.decision: end of life was {r.eol}; "
        "record the decision (kept, and why) or move the pin"
        for r in all_rows
        if r.eol < today and not r.decision
    ]


def summary_lines(all_rows: list[Row], today: dt.date) -> list[str]:
    """The `make test` summary's end-of-life lines: past dates, then those within SOON_DAYS."""
    out = []
    for r in sorted(all_rows, key=lambda r: r.eol):
        left = r.days_left(today)
        if left < 0:
            first = r.decision.split(". ")[0].rstrip(".")
            out.append(f"end of life passed: {r.component} {r.cycle} on {r.eol} ({-left} days ago); {first}")
        elif left <= SOON_DAYS:
            out.append(f"end of life in {left} days: {r.component} {r.cycle} on {r.eol}; {r.action}")
    return out


def table(all_rows: list[Row]) -> str:
    lines = [
        "| component | pinned | end of life | what to do | decision (date passed) |",
        "|---|---|---|---|---|",
    ]
    for r in all_rows:
        outside = r.where == "outside this repository"
        pinned = r.pinned if outside else f"`{r.pinned}` ({r.where.split(':')[0]})"
        lines.append(f"| {r.component} | {pinned} | {r.eol} | {r.action} | {r.decision or '–'} |")
    return "\n".join(lines) + "\n"


def readme_with_table(readme: str, all_rows: list[Row]) -> str:
    if START not in readme or END not in readme:
        raise EolError(f"README.md: the markers {START} and {END} are missing")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table(all_rows)}{END}{tail}"


def run(write_readme: bool = False, check: bool = False, today: dt.date | None = None) -> int:
    today = today or dt.date.today()
    try:
        all_rows = rows()
    except EolError as exc:
        print(exc)
        return 2
    readme = README.read_text(encoding="utf-8")
    wanted = readme_with_table(readme, all_rows)
    if write_readme:
        if wanted != readme:
            README.write_text(wanted, encoding="utf-8")
        print(f"eol: README.md table: {len(all_rows)} components")
        return 0
    print(table(all_rows), end="")
    for line in summary_lines(all_rows, today):
        print(line)
    bad = problems(all_rows, today)
    if wanted != readme:
        bad.append("README.md: the end-of-life table differs from docs/eol.yaml: run `make eol-table`")
    for line in bad:
        print(line)
    return 1 if (check and bad) else 0
