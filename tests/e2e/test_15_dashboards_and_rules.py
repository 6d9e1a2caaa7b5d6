"""15. Every dashboard panel and every alert rule selects series in the lab's real Prometheus.

The expressions are read from the provisioned dashboards and the rule files
(tests/monitoring_queries.py: Grafana variables as "All", an alert's operands
with their thresholds removed). After some traffic through Traefik to the app
(and the platform's own traffic since the converge), each one is evaluated
by the real Prometheus on the monitoring host (its HTTP API, from inside its
container). An expression that selects no series fails the test, named by
dashboard, panel and expression. Expressions that need series only the
stand-ins would produce (cAdvisor, Grafana: monitoring_queries.STANDIN_ONLY)
are listed, not counted and not failed.
"""

from __future__ import annotations

import json
import shlex
import time
from urllib.parse import quote

import pytest

from tests import monitoring_queries as mq
from tests.e2e import labenv, tls
from tests.e2e.summary import SUMMARY

PROMETHEUS = (
    "$(docker ps -qf label=com.docker.compose.project=monitoring -f label=com.docker.compose.service=prometheus)"
)
TIMEOUT = 150  # rate() over 5m needs two scrapes (30 s) of a counter after the traffic
REQUESTS = 20
TRAEFIK_404 = b"404 page not found"  # Go net/http NotFound: no router matched


def evaluate(lab, exprs: list[str]) -> list[dict | None]:
    """One instant query per expression, all in one round trip; the API's JSON per query."""
    script = "; ".join(
        f"wget -qO- 'http://127.0.0.1:9090/api/v1/query?query={quote(e, safe='')}' || echo null; echo" for e in exprs
    )
    r = lab.run("monitoring", f"docker exec {PROMETHEUS} sh -c {shlex.quote(script)}", timeout=120)
    assert r.returncode == 0, f"query Prometheus: {r.stderr.strip()[:300]}"
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    assert len(lines) == len(exprs), f"{len(lines)} answers for {len(exprs)} queries: {r.stdout[:300]}"
    return [json.loads(line) for line in lines]


def traffic() -> str:
    """Requests through Traefik to the app (200s) and to an unknown path (the app's 404s)."""
    ctx = tls.verified_ctx(tls.pebble_roots())
    app, backend = tls.name_of("app."), labenv.host_ip("backend")
    codes: dict[int, int] = {}
    for i in range(REQUESTS):
        status, _, _ = tls.https_get(backend, app, "/" if i % 2 else "/no-such-page", ctx)
        codes[status] = codes.get(status, 0) + 1
    return ", ".join(f"{n}x {c}" for c, n in sorted(codes.items()))


@pytest.mark.summary("dashboards and rules")
def test_every_panel_and_rule_selects_series(lab, converged):
    dash, rules = mq.dashboard_queries(), mq.rule_queries()
    queries = dash + rules
    standins = {q: mq.standin_only(q.expr) for q in queries}
    real = [q for q in queries if not standins[q]]
    sent = traffic()

    empty: list[mq.Query] = real
    errors: dict[mq.Query, str] = {}
    deadline = time.monotonic() + TIMEOUT
    while True:
        answers = evaluate(lab, [q.expr for q in real])
        empty, errors = [], {}
        for q, a in zip(real, answers, strict=True):
            if not a or a.get("status") != "success":
                errors[q] = (a or {}).get("error", "no answer")
            elif not a["data"]["result"]:
                empty.append(q)
        if (not empty and not errors) or time.monotonic() > deadline:
            break
        time.sleep(10)

    problems = [f"selects no series: {q.label()}" for q in empty]
    problems += [f"query error ({e}): {q.label()}" for q, e in errors.items()]
    listed = sorted({f"{q.source} / {q.name} ({who})" for q, who in standins.items() if who})
    n_dash = len({(q.source, q.name.split(" [")[0]) for q in dash})
    SUMMARY.conclude(
        "dashboards and rules",
        problems,
        f"dashboards {n_dash} panels ({len(dash)} expressions) / rules {len(rules)} expressions queried "
        f"after traffic ({sent}): {len(real)} select series in the real Prometheus; "
        f"stand-in only, not counted: {len(listed)} ({'; '.join(listed)})",
    )


@pytest.mark.summary("grafana /metrics")
def test_grafana_metrics_not_served_to_the_internet(converged):
    """Grafana answers /metrics before its login: the real Traefik must not route it. The
    Grafana behind it is the busybox stand-in, whose own 404 is an HTML page: only Traefik's
    "404 page not found" (no router matched) counts."""
    ctx = tls.verified_ctx(tls.pebble_roots())
    name, ip = tls.name_of("grafana."), labenv.host_ip("monitoring")
    got = {}
    for path in ("/", "/metrics", "/metrics/x"):
        status, _, body = tls.https_get(ip, name, path, ctx)
        got[path] = (status, body[:40])
    problems = [
        f"https://{name}{p} -> {c} {b!r}: routed to Grafana, want Traefik's 404 (no router)"
        for p, (c, b) in got.items()
        if p != "/" and not (c == 404 and b.startswith(TRAEFIK_404))
    ]
    if got["/"][1].startswith(TRAEFIK_404):
        problems.append(f"https://{name}/ -> {got['/']}: the Grafana router itself is missing")
    SUMMARY.conclude(
        "grafana /metrics",
        problems,
        f"through the real Traefik: / -> {got['/'][0]} (Grafana), /metrics -> Traefik's {got['/metrics'][0]}",
    )
