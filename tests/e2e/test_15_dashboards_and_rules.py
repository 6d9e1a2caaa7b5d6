"""15. Every dashboard panel and every alert rule selects series in the lab's real Prometheus.

The expressions are read from the provisioned dashboards and the rule files
(tests/monitoring_queries.py: Grafana variables as "All", an alert's operands
with their thresholds removed). After some traffic through Traefik to the app
(and the platform's own traffic since the converge), each one is evaluated
by the real Prometheus on the monitoring host (its HTTP API, from inside its
container). An expression that selects no series fails the test, named by
dashboard, panel and expression. Expressions that need series the lab cannot
produce (the cAdvisor and Grafana stand-ins, node_exporter's timex collector
without CAP_SYS_TIME: monitoring_queries.NOT_IN_LAB) are listed, not counted
and not failed.
"""

from __future__ import annotations

import json
import shlex
import time
from urllib.parse import quote

import pytest

from tests import monitoring_queries as mq
from tests.e2e import labenv, probes, tls
from tests.e2e.summary import SUMMARY

PROMETHEUS = (
    "$(docker ps -qf label=com.docker.compose.project=monitoring -f label=com.docker.compose.service=prometheus)"
)
TIMEOUT = 150  # rate() over 5m needs two scrapes (10 s in the lab, 30 s in production) of a counter after the traffic
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
    absent = {q: mq.lab_absent(q.expr) for q in queries}
    real = [q for q in queries if not absent[q]]
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
    listed = sorted({f"{q.source} / {q.name} ({why})" for q, why in absent.items() if why})
    n_dash = len({(q.source, q.name.split(" [")[0]) for q in dash})
    SUMMARY.conclude(
        "dashboards and rules",
        problems,
        f"dashboards {n_dash} panels ({len(dash)} expressions) / rules {len(rules)} expressions queried "
        f"after traffic ({sent}): {len(real)} select series in the real Prometheus; "
        f"absent in the lab (monitoring_queries.NOT_IN_LAB), not counted: {len(listed)} ({'; '.join(listed)})",
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


AM = "$(docker ps -qf label=com.docker.compose.project=monitoring -f label=com.docker.compose.service=alertmanager)"
WEBHOOK_FILE = "/etc/lostops/monitoring/alertmanager/discord_webhook_url"
BROKEN_URL = "https://discord.com:1/api/webhooks/0/e2e-broken"  # discord.com is 10.77.0.1 in the lab: port 1 refuses


def _failed_discord(lab) -> float | None:
    r = lab.run("monitoring", f"docker exec {AM} wget -qO- http://127.0.0.1:9093/metrics", timeout=30)
    if r.returncode != 0:
        return None
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in r.stdout.splitlines()
        if line.startswith("alertmanager_notifications_failed_total{") and 'integration="discord"' in line
    )


@pytest.mark.summary("pipeline alert")
def test_failed_notifications_alert_arrives_once_discord_works_again(lab, converged):
    """The webhook address is broken (the secret file points at a closed port), an alert is
    posted to the real Alertmanager, its Discord notification fails; the address is restored
    and AlertmanagerNotificationsFailing (watchers.yml) arrives at the lab's discord.com."""
    from tests.e2e.test_11_alerts import webhook_records

    before = _failed_discord(lab)
    assert before is not None, "cannot read Alertmanager's metrics"
    r = lab.run(
        "monitoring",
        f"cp -p {WEBHOOK_FILE} {WEBHOOK_FILE}.e2e && printf '%s' '{BROKEN_URL}' > {WEBHOOK_FILE} && "
        f"docker exec {AM} amtool alert add alertname=LostopsE2EPipelineProbe severity=warning host=e2e "
        "--annotation=summary=probe --annotation=description=probe --alertmanager.url=http://127.0.0.1:9093",
        timeout=60,
    )
    t0 = time.monotonic()
    try:
        assert r.returncode == 0, f"break the webhook / add the probe alert: {r.stderr.strip()[-300:]}"
        failed = probes.wait_for(lambda: (_failed_discord(lab) or 0) > before, 120, 5)
    finally:
        restore = lab.run(
            "monitoring", f"cat {WEBHOOK_FILE}.e2e > {WEBHOOK_FILE} && rm -f {WEBHOOK_FILE}.e2e", timeout=30
        )
    assert restore.returncode == 0, f"restore {WEBHOOK_FILE}: {restore.stderr}"
    fail_s = time.monotonic() - t0
    if not failed:
        pytest.fail(f"no failed Discord notification counted within 120 s (before: {before})", pytrace=False)
    t_restore = time.time()

    def arrived():
        for rec in webhook_records(lab):
            if rec["time"] < t_restore or not isinstance(rec.get("body"), dict):
                continue
            for emb in rec["body"].get("embeds") or []:
                text = (emb.get("title") or "") + (emb.get("description") or "")
                if "AlertmanagerNotificationsFailing" in text and "RESOLVED" not in (emb.get("title") or ""):
                    return rec
        return None

    rec = probes.wait_for(arrived, 300, 5)
    problems = [] if rec else ["AlertmanagerNotificationsFailing did not arrive within 300 s after the restore"]
    SUMMARY.conclude(
        "pipeline alert",
        problems,
        lambda: (
            f"webhook broken: a Discord notification failed after {fail_s:.0f} s; address restored -> "
            f"AlertmanagerNotificationsFailing arrived at the lab's discord.com {rec['time'] - t_restore:.0f} s later"
        ),
    )
