"""Dashboard panels evaluated by the real promtool on synthetic series (promql_expr_test).

Each case is a panel whose expression once showed nothing or the wrong thing
in production-like data: the expression is read from the provisioned
dashboard (tests/monitoring_queries.py, variables as "All"), so a regression
in the JSON fails here. The lab test (tests/e2e/test_15_dashboards_and_rules.py)
checks that every panel selects series from the real exporters.
"""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests import monitoring_queries as mq
from tests.unit.test_salt_monitoring import tool

NODE = 'instance="10.20.1.20:9100", job="node", host="database", role="database"'
TRAEFIK = 'instance="10.20.1.10:8082", job="traefik", host="backend", role="backend"'
CADV = 'instance="10.20.1.10:8080", job="cadvisor", host="backend", role="backend"'

# (dashboard, panel title) -> (input series, eval time, expected samples)
CASES = {
    # node_load1 carries instance/job/role, the CPU count only host: without the
    # aggregation on both sides the division matched nothing (an empty panel).
    ("hosts.json", "Load (1m) per CPU"): (
        [
            (f"node_load1{{{NODE}}}", "1x10"),
            (f'node_cpu_seconds_total{{{NODE}, cpu="0", mode="idle"}}', "0+60x10"),
            (f'node_cpu_seconds_total{{{NODE}, cpu="1", mode="idle"}}', "0+60x10"),
        ],
        "5m",
        [('{host="database"}', 0.5)],
    ),
    # Traefik never deletes a certificate's series: after a renewal the old one
    # (expired at 500 s) stays next to the new one. min counted down to negative days.
    ("traefik.json", "Days until TLS certificate expiry"): (
        [
            (f'traefik_tls_certs_not_after{{{TRAEFIK}, cn="app.example.com", serial="1"}}', "500x10"),
            (f'traefik_tls_certs_not_after{{{TRAEFIK}, cn="app.example.com", serial="2"}}', f"{600 + 30 * 86400}x10"),
        ],
        "10m",
        [('{host="backend", cn="app.example.com"}', 30)],
    ),
    # A restart keeps container_start_time_seconds (the creation time) and resets
    # the CPU counter: one restart within 15 minutes is 1, not 0.
    ("containers.json", "Restarts (15m)"): (
        [
            (f'container_cpu_usage_seconds_total{{{CADV}, name="app"}}', "10 20 30 1 2 3 4 5 6 7 8"),
            (f'container_start_time_seconds{{{CADV}, name="app"}}', "1000x10"),
        ],
        "10m",
        [(f'{{{CADV}, name="app"}}', 1)],
    ),
    # No 5xx at all is a ratio of 0, not "No data".
    ("traefik.json", "5xx ratio by service"): (
        [
            (
                f'traefik_service_requests_total{{{TRAEFIK}, service="app@docker", code="200", method="GET", protocol="http"}}',
                "0+60x10",
            )
        ],
        "10m",
        [('{host="backend", service="app@docker"}', 0)],
    ),
}


def _panel(dashboard: str, title: str) -> str:
    found = [q.expr for q in mq.dashboard_queries() if q.source == f"dashboard {dashboard}" and q.name == title]
    assert len(found) == 1, f"{dashboard}: no single panel {title!r}"
    return found[0]


@pytest.mark.parametrize("key", sorted(CASES), ids=lambda k: f"{k[0]}:{k[1]}")
def test_panel_shows_the_right_value(key, tmp_path):
    series, at, want = CASES[key]
    test = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in series],
                "promql_expr_test": [
                    {
                        "expr": _panel(*key),
                        "eval_time": at,
                        "exp_samples": [{"labels": labels, "value": value} for labels, value in want],
                    }
                ],
            }
        ],
    }
    (tmp_path / "panel.test.yml").write_text(yaml.safe_dump(test, sort_keys=False))
    proc = subprocess.run(
        [tool("promtool"), "test", "rules", "panel.test.yml"], capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode == 0, f"{key}: {_panel(*key)}\n{proc.stdout}{proc.stderr}"


def test_alert_operands_are_the_watched_series():
    """What the lab test queries for an alert: its operands without thresholds."""
    assert mq.watched("up == 0") == ["up"]
    assert mq.watched('mysql_up == 0 or up{job="mysql"} == 0') == ["mysql_up", 'up{job="mysql"}']
    assert mq.watched("resets(x[15m]) > 0\n  unless on (host) (time() - node_boot_time_seconds < 20 * 60)") == [
        "resets(x[15m])",
        "time() - node_boot_time_seconds",
    ]
    assert mq.watched("a / b > 0.05") == ["a / b"]
    assert mq.metrics('sum by (host) (rate(foo_total{code=~"5.."}[5m])) / on (host) bar * 100') == {
        "foo_total",
        "bar",
    }
    assert mq.lab_absent('resets(container_cpu_usage_seconds_total{name!=""}[15m])')
    assert mq.lab_absent("up") is None


def test_every_panel_and_rule_names_a_metric():
    for q in mq.dashboard_queries() + mq.rule_queries():
        assert mq.metrics(q.expr) or q.expr == "vector(1)", q.label()
