"""11. Alert delivery: real Prometheus -> real Alertmanager -> "Discord" (the lab's receiver).

node-exporter on the database host is stopped (`docker stop`, no Salt): the
real Prometheus on the monitoring host sees its target down, the production
rule InstanceDown (`up == 0`, `for: 2m`) fires, and the real Alertmanager
0.28.1 posts it with its native `discord_configs` to the URL of the secret
`discord_webhook_url` (`https://discord.com/api/webhooks/...`, as in
production). In the lab discord.com is the outer machine's webhook receiver
(tests/lab/outer.py: HTTPS on 10.77.0.1:443, a discord.com certificate of the
lab CA, which the lab Alertmanager image trusts); the alertmanager container
resolves discord.com there by one lab pillar line (extra_hosts). Then the
exporter is started again and the resolved message follows.

Checked: every message is a POST over verified HTTPS to the secret's exact
path, JSON in Discord's shape (`embeds[0]` with title, description, color),
from Alertmanager (User-Agent); the firing message lists the InstanceDown alert
of job node on host database under "Alerts Firing", the later one lists it
under "Alerts Resolved" (its own [RESOLVED] message, or the group's update
when another alert of the same group, e.g. the cAdvisor stand-in's target,
is still firing).

Wait: the production rule (`for: 2m`); lab timing lines
(pillar/overrides/lab/monitoring.sls): scrape and evaluation every 10 s (30 s
in production), group_wait 10 s (30 s), group_interval 10 s (5m in
production: the resolved message waits for the group's next flush).
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlsplit

import pytest

from tests.e2e import probes
from tests.e2e.summary import SUMMARY

FIRING_TIMEOUT = 330  # production timings would need <= 30 s scrape + 30 s eval + 2m for + 30 s eval + 30 s group_wait
RESOLVED_TIMEOUT = 180
NODE_FILTER = (
    "--filter label=com.docker.compose.project=exporters --filter label=com.docker.compose.service=node-exporter"
)


def webhook_records(lab) -> list[dict]:
    path = lab.webhook_log
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def sections(description: str) -> dict[str, list[str]]:
    """Alertmanager's discord.default.message: 'Alerts Firing:' / 'Alerts Resolved:',
    each a list of alerts ('Labels:' then ' - name = value' lines)."""
    out: dict[str, list[str]] = {"firing": [], "resolved": []}
    cur = None
    for line in description.splitlines():
        s = line.strip()
        if s == "Alerts Firing:":
            cur = "firing"
        elif s == "Alerts Resolved:":
            cur = "resolved"
        elif cur and s == "Labels:":
            out[cur].append("")
        elif cur and out[cur]:
            out[cur][-1] += s + "\n"
    return out


def is_ours(alert_text: str) -> bool:
    return all(
        f"- {k} = {v}\n" in alert_text
        for k, v in (("alertname", "InstanceDown"), ("job", "node"), ("host", "database"))
    )


def find(records: list[dict], since: float, kind: str) -> dict | None:
    for rec in records:
        if rec["time"] < since:
            continue
        body = rec.get("body")
        if not isinstance(body, dict):
            continue
        for emb in body.get("embeds") or []:
            if any(is_ours(a) for a in sections(emb.get("description") or "")[kind]):
                return rec
    return None


def shape_problems(rec: dict, url: str) -> list[str]:
    want = urlsplit(url)
    p = []
    if rec.get("scheme") != "https" or (rec.get("host") or "").split(":")[0] != want.hostname:
        p.append(f"not HTTPS to {want.hostname}: {rec.get('scheme')} {rec.get('host')}")
    if rec.get("path") != want.path:
        p.append(f"path {rec.get('path')!r} is not the secret's {want.path!r}")
    if not (rec.get("content_type") or "").startswith("application/json"):
        p.append(f"content type {rec.get('content_type')}")
    if not (rec.get("user_agent") or "").startswith("Alertmanager/"):
        p.append(f"user agent {rec.get('user_agent')}")
    body = rec.get("body")
    embeds = body.get("embeds") if isinstance(body, dict) else None
    if not (isinstance(embeds, list) and embeds and all(k in embeds[0] for k in ("title", "description", "color"))):
        p.append(f"not Discord's webhook shape (embeds[0].title/description/color): {str(body)[:200]}")
    return p


def node_exporter(lab, action: str):
    return lab.run(
        "database", f'ids=$(docker ps -aq {NODE_FILTER}); [ -n "$ids" ] && docker {action} $ids', timeout=120
    )


@pytest.mark.summary("alert delivery")
def test_target_down_alert_reaches_discord_and_resolves(lab, converged, secret_values):
    url = secret_values["discord_webhook_url"]
    problems = []
    t_stop = time.time()
    r = node_exporter(lab, "stop")
    assert r.returncode == 0, f"docker stop node-exporter: {r.stderr.strip()}"
    try:
        firing = probes.wait_for(lambda: find(webhook_records(lab), t_stop, "firing"), FIRING_TIMEOUT, 5)
    finally:
        t_start = time.time()
        r = node_exporter(lab, "start")
    assert r.returncode == 0, f"docker start node-exporter: {r.stderr.strip()}"
    if not firing:
        seen = [
            (rec.get("path"), (rec.get("body") or {}).get("embeds", [{}])[0].get("title"))
            for rec in webhook_records(lab)
        ]
        pytest.fail(
            f"no firing InstanceDown(job=node, host=database) message within {FIRING_TIMEOUT} s; "
            f"the receiver got: {seen[-5:]} (.lab/outer/webhook.log)",
            pytrace=False,
        )
    fire_s = firing["time"] - t_stop
    problems += [f"firing: {p}" for p in shape_problems(firing, url)]
    resolved = probes.wait_for(lambda: find(webhook_records(lab), firing["time"], "resolved"), RESOLVED_TIMEOUT, 5)
    if not resolved:
        problems.append(f"no resolved message within {RESOLVED_TIMEOUT} s after node-exporter was started again")
        summary = f"InstanceDown(node@database) delivered {fire_s:.0f} s after the stop; NO resolved message"
    else:
        problems += [f"resolved: {p}" for p in shape_problems(resolved, url)]
        emb = resolved["body"]["embeds"][0]
        how = (
            "own [RESOLVED] message"
            if emb["title"].startswith("[RESOLVED")
            else "group update (other alerts still firing)"
        )
        summary = (
            f"node-exporter stopped on database -> InstanceDown through the real Alertmanager to the webhook receiver "
            f"as discord.com over verified HTTPS in {fire_s:.0f} s ('{firing['body']['embeds'][0]['title'][:60]}'); "
            f"restarted -> resolved in {resolved['time'] - t_start:.0f} s ({how}); Discord shape, secret's path"
        )
    SUMMARY.conclude("alert delivery", problems, summary)
