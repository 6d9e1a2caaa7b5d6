"""Summarize salt-ssh state results (and a cdktf diff) as Markdown (`lostops summary drift`).

salt-ssh --out=json prints one JSON document per minion, each shaped
{"<minion>": {"<mod>_|-<id>_|-<name>_|-<fun>": {"result": ..., "comment": ...,
"changes": {...}, ...}, ...}}. A minion whose run failed before any state ran
returns a string, a list of strings (render errors) or a dict such as
{"retcode": 255, "stderr": "..."} instead; that is reported as a minion error.

Mode "test" (for `state.apply test=True`): a state is drift when its result
is None (would change) or it reports changes; result False is a failure.
Mode "apply" (after a real `state.apply`): failures are listed with their
comments (unless comments=False: a roll-out failure's comment holds the new
container's logs), changes are only counted.

A saved `cdktf diff` output: a "Plan: ..." or "Changes to Outputs" line is
infrastructure drift, "No changes." is none, and neither is an error (the
diff did not finish). No state's "changes" content is ever printed (it may
hold file diffs).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field

COMMENT_LIMIT = 500
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
PLAN = re.compile(
    r"Plan: (?:(\d+) to import, )?(\d+) to add, (\d+) to change, "
    r"(\d+) to destroy"
)


@dataclass
class State:
    minion: str
    key: str
    result: object
    comment: str
    changed: bool

    @property
    def label(self) -> str:
        parts = self.key.split("_|-")
        if len(parts) == 4:
            mod, sid, name, fun = parts
            label = f"{sid} ({mod}.{fun})"
            return label if name == sid else f"{sid} ({mod}.{fun} {name})"
        return self.key


@dataclass
class Report:
    states: list[State] = field(default_factory=list)
    minion_errors: dict[str, str] = field(default_factory=dict)
    minions: list[str] = field(default_factory=list)
    unparsed: int = 0


def iter_documents(text: str):
    """Yield each JSON document of a stream of concatenated documents.

    Text that is not JSON (a stray warning line) is skipped up to the end of
    its line, and None is yielded for it so the caller can count it."""
    decoder = json.JSONDecoder()
    pos, end = 0, len(text)
    while pos < end:
        while pos < end and text[pos].isspace():
            pos += 1
        if pos >= end:
            break
        try:
            doc, pos = decoder.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError):
            nl = text.find("\n", pos)
            pos = end if nl == -1 else nl + 1
            yield None
            continue
        yield doc


def _as_text(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return json.dumps(value, sort_keys=True)


def _run_num(ret: dict) -> float:
    """The state's order; a missing or malformed __run_num__ sorts last (never a TypeError)."""
    num = ret.get("__run_num__")
    return float(num) if isinstance(num, (int, float)) and not isinstance(num, bool) else float("inf")


def _is_state_dict(value) -> bool:
    return (
        isinstance(value, dict) and bool(value) and all(isinstance(v, dict) and "result" in v for v in value.values())
    )


def parse(text: str) -> Report:
    report = Report()
    for doc in iter_documents(text):
        if doc is None:
            report.unparsed += 1
            continue
        if not isinstance(doc, dict):
            report.unparsed += 1
            continue
        for minion, data in doc.items():
            report.minions.append(minion)
            if isinstance(data, dict) and "return" in data and not _is_state_dict(data):
                data = data["return"]
            if isinstance(data, dict) and not data:
                continue  # nothing targeted on this minion
            if not _is_state_dict(data):
                if isinstance(data, dict):
                    detail = data.get("stderr") or data.get("stdout") or _as_text(data)
                else:
                    detail = _as_text(data)
                report.minion_errors[minion] = str(detail).strip() or "no output"
                continue
            for key, ret in sorted(data.items(), key=lambda kv: _run_num(kv[1])):
                report.states.append(
                    State(
                        minion=minion,
                        key=key,
                        result=ret.get("result"),
                        comment=_as_text(ret.get("comment", "")),
                        changed=bool(ret.get("changes")),
                    )
                )
    return report


def parse_cdktf_diff(text: str) -> tuple[str, str]:
    """Return (status, detail): status is 'drift', 'clean' or 'unknown'."""
    text = ANSI.sub("", text)
    plans = [m.group(0) for m in PLAN.finditer(text)]
    if plans:
        return "drift", "; ".join(plans)
    if "Changes to Outputs" in text:
        return "drift", "outputs would change"
    if "No changes." in text:
        return "clean", "No changes. Infrastructure matches the configuration."
    return "unknown", "no plan result found in the cdktf diff output"


def quote(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > COMMENT_LIMIT:
        text = text[: COMMENT_LIMIT - 1] + "…"
    return text.replace("`", "'")


def render(
    report: Report | None,
    mode: str,
    diff: tuple[str, str] | None,
    salt_error: str | None,
    comments: bool = True,
) -> tuple[str, bool]:
    """Return (markdown, bad): bad means the job should fail."""
    bad = False
    title = "Drift report" if mode == "test" else "Salt apply result"
    lines = [f"## {title}", ""]
    if diff is not None:
        status, detail = diff
        lines.append("### Infrastructure (cdktf diff)")
        lines.append("")
        if status == "clean":
            lines.append(f"No drift: {detail}")
        elif status == "drift":
            lines.append(f"**Drift:** {detail}")
            bad = True
        else:
            lines.append(f"**Error:** {detail}")
            bad = True
        lines.append("")
    if report is None and salt_error is None:
        return "\n".join(lines) + "\n", bad
    lines.append("### Hosts (salt-ssh state.apply" + (" test=True)" if mode == "test" else ")"))
    lines.append("")
    if salt_error is not None:
        lines.append(f"**Error:** {salt_error}")
        return "\n".join(lines) + "\n", True
    assert report is not None
    failed = [s for s in report.states if s.result is False]
    changed = [s for s in report.states if s.result is not False and s.changed]
    drift = [s for s in report.states if s.result is None or (s.result is not False and s.changed)]
    if not report.minions:
        lines.append("**Error:** salt-ssh returned no minion.")
        bad = True
    lines.append("| Minion | States | Failed | " + ("Would change |" if mode == "test" else "Changed |"))
    lines.append("| --- | ---: | ---: | ---: |")
    for minion in report.minions:
        if minion in report.minion_errors:
            lines.append(f"| {minion} | error | - | - |")
            continue
        mine = [s for s in report.states if s.minion == minion]
        n_failed = sum(1 for s in mine if s.result is False)
        n_other = sum(1 for s in (drift if mode == "test" else changed) if s.minion == minion)
        lines.append(f"| {minion} | {len(mine)} | {n_failed} | {n_other} |")
    lines.append("")
    if report.minion_errors:
        bad = True
        lines.append("#### Minion errors")
        lines.append("")
        for minion, detail in report.minion_errors.items():
            lines.append(f"- `{minion}`: {quote(detail)}")
        lines.append("")
    if failed:
        bad = True
        lines.append("#### Failed states")
        lines.append("")
        for s in failed:
            if comments:
                lines.append(f"- `{s.minion}` {quote(s.label)}: {quote(s.comment)}")
            else:
                lines.append(f"- `{s.minion}` {quote(s.label)}")
        if not comments:
            lines.append("")
            lines.append(
                "_State comments are not shown here (they can hold container "
                "logs); see the job log and the roll-out log artifact._"
            )
        lines.append("")
    if mode == "test" and drift:
        bad = True
        lines.append("#### Drift (would change)")
        lines.append("")
        for s in drift:
            lines.append(f"- `{s.minion}` {quote(s.label)}: {quote(s.comment)}")
        lines.append("")
    if report.unparsed:
        lines.append(f"_{report.unparsed} line(s) of salt-ssh output were not JSON and were skipped._")
        lines.append("")
    if not bad:
        lines.append("No drift." if mode == "test" else f"All states succeeded ({len(changed)} changed).")
        lines.append("")
    return "\n".join(lines) + "\n", bad


def summarize(salt_json: str | None, mode: str, cdktf_diff: str | None, comments: bool = True) -> tuple[str, bool]:
    """Read the inputs ('-' = stdin) and return (markdown, bad); an unreadable input is reported, not raised."""
    diff = None
    if cdktf_diff is not None:
        try:
            with open(cdktf_diff, encoding="utf-8", errors="replace") as fh:
                diff = parse_cdktf_diff(fh.read())
        except OSError as exc:
            diff = ("unknown", f"cannot read {cdktf_diff}: {exc.strerror}")

    report, salt_error = None, None
    if salt_json is not None:
        try:
            if salt_json == "-":
                text = sys.stdin.read()
            else:
                with open(salt_json, encoding="utf-8", errors="replace") as fh:
                    text = fh.read()
        except OSError as exc:
            salt_error = f"cannot read {salt_json}: {exc.strerror}"
        else:
            if not text.strip():
                salt_error = "salt-ssh printed nothing"
            else:
                report = parse(text)
    return render(report, mode, diff, salt_error, comments=comments)
