"""Summarize a Trivy JSON report as Markdown, for $GITHUB_STEP_SUMMARY (`lostops summary trivy`).

Counts the findings per severity (one finding = one vulnerability in one
package of one scan target, the way Trivy's own table counts them) and prints
a Markdown summary with the HIGH and CRITICAL counts first, then a table of
the HIGH/CRITICAL findings (at most max_rows rows). "high=N" and
"critical=N" go to $GITHUB_OUTPUT when it is set.
"""

from __future__ import annotations

import json
import sys
from collections import Counter

from lostops import gha

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")
REPORTED = ("CRITICAL", "HIGH")


class ReportError(ValueError):
    """The file is not a readable Trivy JSON report."""


def load(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise ReportError(f"report {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"cannot read report {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"report {path} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    except RecursionError:
        raise ReportError(f"report {path} is nested too deeply to be Trivy JSON") from None
    if not isinstance(data, dict) or "Results" not in data:
        raise ReportError(f"report {path} has no 'Results' key; is it Trivy JSON?")
    return data


def findings(report: dict) -> list[dict]:
    """Flatten Results[].Vulnerabilities[] into a list of dicts."""
    out = []
    for result in report.get("Results") or []:
        target = result.get("Target", "")
        for vuln in result.get("Vulnerabilities") or []:
            out.append(
                {
                    "target": target,
                    "id": vuln.get("VulnerabilityID", ""),
                    "pkg": vuln.get("PkgName", ""),
                    "installed": vuln.get("InstalledVersion", ""),
                    "fixed": vuln.get("FixedVersion", "") or "",
                    "severity": (vuln.get("Severity") or "UNKNOWN").upper(),
                    "title": vuln.get("Title", "") or "",
                }
            )
    return out


def count(items: list[dict]) -> Counter:
    counts = Counter({sev: 0 for sev in SEVERITIES})
    for item in items:
        counts[item["severity"] if item["severity"] in SEVERITIES else "UNKNOWN"] += 1
    return counts


def cell(text: str, limit: int = 80) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render(report: dict, image: str | None, max_rows: int) -> tuple[str, Counter]:
    items = findings(report)
    counts = count(items)
    name = image or report.get("ArtifactName") or "image"
    lines = [
        f"## Trivy scan: `{cell(name, 200)}`",
        "",
        "| Severity | Findings |",
        "| --- | ---: |",
    ]
    lines += [f"| {sev} | {counts[sev]} |" for sev in REPORTED]
    lines.append("")
    serious = [i for i in items if i["severity"] in REPORTED]
    if not serious:
        lines.append("No HIGH or CRITICAL vulnerabilities found.")
    else:
        order = {sev: n for n, sev in enumerate(SEVERITIES)}
        serious.sort(key=lambda i: (order[i["severity"]], i["id"], i["pkg"]))
        lines += [
            "| Severity | ID | Package | Installed | Fixed in | Title |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for i in serious[:max_rows]:
            lines.append(
                f"| {i['severity']} | {cell(i['id'])} | {cell(i['pkg'])} | "
                f"{cell(i['installed'])} | {cell(i['fixed']) or '-'} | "
                f"{cell(i['title'])} |"
            )
        if len(serious) > max_rows:
            lines.append("")
            lines.append(f"... and {len(serious) - max_rows} more: see the trivy-report artifact.")
    return "\n".join(lines) + "\n", counts


def run(report_path: str, image: str | None, max_rows: int) -> int:
    """0 when the report was read (whatever it found), 1 when it is missing or not Trivy JSON."""
    try:
        report = load(report_path)
    except ReportError as exc:
        print(f"## Trivy scan\n\n> [!WARNING]\n> No usable Trivy report: {exc}.\n")
        print(f"trivy-summary: {exc}", file=sys.stderr)
        return 1
    try:
        text, counts = render(report, image, max(max_rows, 0))
    except (AttributeError, TypeError, KeyError) as exc:
        # Results[] of objects, each with a Vulnerabilities[] of objects with string fields.
        msg = f"report {report_path} is not Trivy JSON ({type(exc).__name__} reading Results: {str(exc)[:80]})"
        print(f"## Trivy scan\n\n> [!WARNING]\n> No usable Trivy report: {msg}.\n")
        print(f"trivy-summary: {msg}", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    gha.set_outputs({"high": str(counts["HIGH"]), "critical": str(counts["CRITICAL"])})
    return 0
