"""Every PromQL expression the platform ships: dashboard panels and alert rules, ready to query.

Used by the unit tier (the expressions parse, promtool evaluates panels on
synthetic series) and by the end-to-end tier (each one selects series in the
lab's real Prometheus, tests/e2e/test_15_dashboards_and_rules.py).

Dashboards: Grafana's variables are substituted the way a viewer with "All"
selected sees them (`$host`, `$service` -> `.*`, `$__rate_interval` -> 5m).
Rules: an alert's expression is a condition, empty while nothing is wrong, so
what is queried is each operand of its top-level `and`/`or`/`unless` with its
threshold comparison removed (`up == 0` -> `up`): the series the alert
watches. A vector-matching slip or a renamed metric still shows as empty.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DASHBOARDS = REPO / "salt/monitoring/files/grafana/dashboards"
RULES = REPO / "salt/monitoring/files/prometheus/rules"
RATE_INTERVAL = "5m"

# The one place that names series the lab cannot produce, with the reason: no
# package of cAdvisor or Grafana exists here (busybox stand-ins, docs/lab.md),
# and the lab's hosts have no CAP_SYS_TIME, so systemd-nspawn filters the
# @clock syscalls and node_exporter's timex collector (adjtimex) gets EPERM
# (docs/e2e.md: time sync). A query whose every metric is listed here is
# reported as absent in the lab, not counted as selecting series, not failed.
NOT_IN_LAB = {
    "container_": "cAdvisor: busybox stand-in in the lab",
    "grafana_": "Grafana: busybox stand-in in the lab",
    "node_timex_": "node_exporter timex: adjtimex filtered on the lab's nspawn hosts (no CAP_SYS_TIME)",
}

_COMPARISON = re.compile(r"\s*(==|!=|>=|<=|>|<)\s*(bool\s+)?")
_SET_OPS = re.compile(r"\b(and|or|unless)\b")
_NOT_METRICS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "and",
    "or",
    "unless",
    "inf",
    "nan",
}


@dataclass(frozen=True)
class Query:
    source: str  # "dashboard hosts.json" / "rules hosts.yml"
    name: str  # panel title / alert name (+ operand number)
    expr: str

    def label(self) -> str:
        return f"{self.source} / {self.name}: {self.expr}"


def dashboard_queries() -> list[Query]:
    out = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        dash = json.loads(path.read_text(encoding="utf-8"))
        for panel in dash["panels"]:
            for t in panel.get("targets", []):
                expr = t["expr"].replace("$__rate_interval", RATE_INTERVAL)
                expr = re.sub(r"\$\w+", ".*", expr)
                name = panel["title"] + (
                    f" [{t.get('legendFormat') or t.get('refId')}]" if len(panel["targets"]) > 1 else ""
                )
                out.append(Query(f"dashboard {path.name}", name, expr))
    return out


def _top_level(expr: str, pattern: re.Pattern) -> list[tuple[int, int]]:
    """Spans of ``pattern`` matches outside (), {}, [] and quotes."""
    spans, depth, quote, i = [], 0, None, 0
    while i < len(expr):
        c = expr[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in "\"'`":
            quote = c
        elif c in "({[":
            depth += 1
        elif c in ")}]":
            depth -= 1
        elif depth == 0:
            m = pattern.match(expr, i)
            if m and m.group(0).strip():
                # a set operator must stand alone (not part of a metric name)
                if pattern is _SET_OPS and (i and (expr[i - 1].isalnum() or expr[i - 1] == "_")):
                    i += 1
                    continue
                spans.append((m.start(), m.end()))
                i = m.end()
                continue
        i += 1
    return spans


def _unwrap(expr: str) -> str:
    expr = expr.strip()
    while expr.startswith("(") and expr.endswith(")"):
        depth = 0
        for i, c in enumerate(expr):
            depth += c == "("
            depth -= c == ")"
            if depth == 0 and i < len(expr) - 1:
                return expr
        expr = expr[1:-1].strip()
    return expr


def watched(expr: str) -> list[str]:
    """The operands of an alert expression's top-level set operators, thresholds removed."""
    parts, last = [], 0
    for start, end in _top_level(expr, _SET_OPS):
        parts.append(expr[last:start])
        last = end
    parts.append(expr[last:])
    out = []
    for part in parts:
        part = _unwrap(part)
        # `on (...)` / `ignoring (...)` modifiers of the set operator belong to it, not to the operand
        part = re.sub(r"^(on|ignoring)\s*\([^)]*\)\s*", "", part)
        part = _unwrap(part)
        spans = _top_level(part, _COMPARISON)
        if spans:
            part = part[: spans[-1][0]]
        out.append(_unwrap(part))
    return out


def rule_queries() -> list[Query]:
    out = []
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                name = rule.get("alert") or rule.get("record")
                operands = watched(rule["expr"]) if "alert" in rule else [rule["expr"].strip()]
                for i, expr in enumerate(operands):
                    label = name if len(operands) == 1 else f"{name} (operand {i + 1})"
                    out.append(Query(f"rules {path.name}", label, " ".join(expr.split())))
    return out


def metrics(expr: str) -> set[str]:
    """Metric names in an expression (identifiers not followed by `(`, outside braces and quotes)."""
    text = re.sub(r"\{[^}]*\}", "", re.sub(r'"[^"]*"', '""', expr))
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        rest = text[m.end() :].lstrip()
        word = m.group(0)
        if rest.startswith("(") or word.lower() in _NOT_METRICS or re.fullmatch(r"\d+[smhdwy]", word):
            continue
        if m.start() and (text[m.start() - 1].isdigit() or text[m.start() - 1] == "."):
            continue
        names.add(word)
    return names


def lab_absent(expr: str) -> str | None:
    """Why the lab has none of the series the expression needs, when every metric it names is listed."""
    names = metrics(expr)
    owners = {next((why for prefix, why in NOT_IN_LAB.items() if n.startswith(prefix)), None) for n in names}
    if names and None not in owners:
        return ", ".join(sorted(owners))
    return None
