"""11. The database host powered off: an unreachable host, and the alert it raises.

One outage serves two checks (the alert needs the production rule's 2 minutes
of `up == 0` anyway; the salt-ssh run fits inside them):

(a) An unreachable host gives a clear SSH error and does not stop the others:
    while the database host is off, `salt-ssh '*' state.apply` converges
    backend and monitoring (every result true) and reports the database's SSH
    error (it is reached through the backend: the jump's connect fails).
(b) Alert delivery: real Prometheus -> real Alertmanager -> "Discord" (the
    lab's receiver). The real Prometheus on the monitoring host sees the
    database's node-exporter target down, the production rule InstanceDown
    (`up == 0`, `for: 2m`) fires, and the real Alertmanager 0.28.1 posts it
    with its native `discord_configs` to the URL of the secret
    `discord_webhook_url` (`https://discord.com/api/webhooks/...`, as in
    production). In the lab discord.com is the outer machine's webhook
    receiver (tests/lab/outer.py: HTTPS on 10.77.0.1:443, a discord.com
    certificate of the lab CA, which the lab Alertmanager image trusts); the
    alertmanager container resolves discord.com there by one lab pillar line
    (extra_hosts). Then the host is booted again, its containers come back by
    themselves, and the resolved message follows.

Checked in (b): every message is a POST over verified HTTPS to the secret's
exact path, JSON in Discord's shape (`embeds[0]` with title, description,
color), from Alertmanager (User-Agent); the firing message lists the
InstanceDown alert of job node on host database under "Alerts Firing", the
later one lists it under "Alerts Resolved" (its own [RESOLVED] message, or the
group's update when another alert of the same group, e.g. the cAdvisor
stand-in's target, is still firing).

Wait: the production rule (`for: 2m`); lab timing lines
(pillar/overrides/lab/monitoring.sls): scrape and evaluation every 10 s (30 s
in production), group_wait 10 s (30 s), group_interval 10 s (5m in
production: the resolved message waits for the group's next flush).

The host is powered off cleanly (its shutdown's final kill shortened for the
SIGTERM-deaf stand-in, probes.shorten_final_kill): MySQL's data is used by the
later tests. Every host is converged first, so that the earlier tests'
command-line settings do not count as this run's changes.
"""

from __future__ import annotations

import json
import re
import time
from urllib.parse import urlsplit

import pytest

from tests.e2e import labenv, probes, saltrun
from tests.e2e.summary import SUMMARY

FIRING_TIMEOUT = 330  # production timings would need <= 30 s scrape + 30 s eval + 2m for + 30 s eval + 30 s group_wait
RESOLVED_TIMEOUT = 180


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


HOST = "database"


class Outage:
    """The database host powered off once for this module; booted again by power_on() (idempotent)."""

    def __init__(self, lab):
        self.lab = lab
        self.running_before = sorted(n for n, c in probes.containers(lab, HOST).items() if c["status"] == "running")
        probes.shorten_final_kill(lab, HOST)
        self.t_off = time.time()
        lab.power_off(HOST)
        self.t_on: float | None = None
        self.boot_s = 0.0
        self.gone: list[str] = []

    def power_on(self) -> list[str]:
        """Boot the host if it is off and wait for its containers; the ones that did not come back."""
        if self.t_on is None:
            self.t_on = time.time()
            self.boot_s = self.lab.power_on(HOST)
            _, self.gone = probes.wait_containers_back(self.lab, HOST, self.running_before)
        return self.gone


@pytest.fixture(scope="module")
def outage(lab, converged, salt_env):
    base = saltrun.salt_ssh("*", "state.apply", env=salt_env, timeout=600)
    assert base.rc == 0 and all(base.ok(h) for h in labenv.HOSTS), base.report(list(labenv.HOSTS))
    out = Outage(lab)
    try:
        yield out
    finally:
        gone = out.power_on()
        assert not gone, f"{HOST}'s containers after the boot: {gone}"


@pytest.mark.summary("unreachable host")
def test_unreachable_host_does_not_stop_the_others(outage, salt_env):
    run = saltrun.salt_ssh("*", "state.apply", env=salt_env, timeout=600)
    problems = []
    others = [h for h in labenv.HOSTS if h != HOST]
    for h in others:
        if not run.ok(h):
            problems.append(f"{h} did not converge while {HOST} was down:\n" + run.report([h]))
    err = run.error(HOST) or ""
    if run.states(HOST):
        problems.append(f"{HOST} returned state results although it was powered off")
    if not re.search(r"ssh|connect|route to host|timed out|refused|unreachable", err, re.I):
        problems.append(f"no clear SSH error for {HOST}: {err!r}")
    if run.rc == 0:
        problems.append("salt-ssh exited 0 although a host was unreachable")
    short = re.sub(r"\s+", " ", err)[:160]
    SUMMARY.conclude(
        "unreachable host",
        problems,
        f"{HOST} powered off -> {short!r}; {' and '.join(others)} converged (all results true, "
        f"exit {run.rc}, {run.seconds:.0f} s)",
    )


@pytest.mark.summary("alert delivery")
def test_target_down_alert_reaches_discord_and_resolves(lab, outage, secret_values):
    url = secret_values["discord_webhook_url"]
    problems = []
    try:
        firing = probes.wait_for(lambda: find(webhook_records(lab), outage.t_off, "firing"), FIRING_TIMEOUT, 5)
    finally:
        gone = outage.power_on()
    problems += [f"{HOST} after the boot: {g}" for g in gone]
    if not firing:
        seen = [
            (rec.get("path"), (rec.get("body") or {}).get("embeds", [{}])[0].get("title"))
            for rec in webhook_records(lab)
        ]
        pytest.fail(
            f"no firing InstanceDown(job=node, host={HOST}) message within {FIRING_TIMEOUT} s; "
            f"the receiver got: {seen[-5:]} (.lab/outer/webhook.log)",
            pytrace=False,
        )
    fire_s = firing["time"] - outage.t_off
    problems += [f"firing: {p}" for p in shape_problems(firing, url)]
    resolved = probes.wait_for(lambda: find(webhook_records(lab), firing["time"], "resolved"), RESOLVED_TIMEOUT, 5)
    if not resolved:
        problems.append(f"no resolved message within {RESOLVED_TIMEOUT} s after {HOST} was booted again")
        summary = f"InstanceDown(node@{HOST}) delivered {fire_s:.0f} s after the power-off; NO resolved message"
    else:
        problems += [f"resolved: {p}" for p in shape_problems(resolved, url)]
        emb = resolved["body"]["embeds"][0]
        how = (
            "own [RESOLVED] message"
            if emb["title"].startswith("[RESOLVED")
            else "group update (other alerts still firing)"
        )
        summary = (
            f"{HOST} powered off -> InstanceDown(node) through the real Alertmanager to the webhook receiver "
            f"as discord.com over verified HTTPS in {fire_s:.0f} s ('{firing['body']['embeds'][0]['title'][:60]}'); "
            f"booted again ({outage.boot_s:.1f} s, {len(outage.running_before)} containers back by themselves) -> "
            f"resolved in {resolved['time'] - outage.t_on:.0f} s ({how}); Discord shape, secret's path"
        )
    SUMMARY.conclude("alert delivery", problems, summary)
