"""7. Bad input on live hosts.

(a) A missing secret stops the run before any state changes a host: the
    secrets file without `discord_webhook_url` -> exit != 0, the one-line
    pre-flight message naming `secrets.discord_webhook_url`, no state result
    for any host, and a snapshot of every host (files under the Lostops paths,
    /etc/docker, /etc/ssh, systemd units, nft ruleset, containers, packages)
    is identical before and after.
(b) An unreachable host: tests/e2e/test_11_alerts.py (the database host's
    power-off there serves it and the alert).
"""

from __future__ import annotations

import re

import pytest

from lostops import secrets as secrets_mod
from tests.e2e import labenv, saltrun
from tests.e2e.summary import SUMMARY

MISSING = "discord_webhook_url"

# What the running programs write themselves (MySQL's data dir, Prometheus'
# TSDB/WAL, Alertmanager's and Grafana's state, Traefik's ACME storage): only
# the directories themselves (mode, owner) are compared, not their contents.
PROGRAM_DATA = [
    "/srv/lostops/mysql/data",
    "/srv/lostops/monitoring/prometheus",
    "/srv/lostops/monitoring/alertmanager",
    "/srv/lostops/monitoring/grafana",
    "/srv/lostops/traefik/acme",
]
_PRUNE = " -o ".join(f"-path {p}" for p in PROGRAM_DATA)

SNAPSHOT = (
    r"""
find /etc/lostops /opt/lostops /srv/lostops /var/lib/lostops /etc/nftables.conf /etc/docker /etc/ssh \
     /etc/systemd/system /etc/default /etc/apt /usr/local/sbin -xdev \
     \( \( """
    + _PRUNE
    + r""" \) -printf '%p %m %U:%G\n' -prune \) -o -printf '%p %m %U:%G %s %T@\n' 2>/dev/null | sort
echo '== nft'; nft -s list ruleset | sha256sum
echo '== containers'; ids=$(docker ps -aq); [ -z "$ids" ] || docker inspect -f '{{.Name}} {{.Id}} {{.State.Status}} {{.State.StartedAt}}' $ids | sort
echo '== networks'; docker network ls -q | sort
echo '== packages'; dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\n' | sha256sum
echo '== units'; systemctl list-units --all --no-legend --plain 'lostops*' docker.service nftables.service ssh.service | awk '{print $1, $3, $4}'
"""
)


def snapshot(lab) -> dict[str, list[str]]:
    out = {}
    for h in labenv.HOSTS:
        r = lab.run(h, SNAPSHOT, timeout=120)
        assert r.returncode == 0, f"{h}: snapshot failed: {r.stderr}"
        out[h] = r.stdout.splitlines()
    return out


@pytest.mark.summary("missing secret")
def test_missing_secret_stops_before_any_change(lab, converged, salt_env, secret_values):
    values = {k: v for k, v in secret_values.items() if k != MISSING}
    broken = labenv.LAB_DIR / "secrets-missing.yaml"
    secrets_mod.write(values, broken)
    env = dict(salt_env, LOSTOPS_SECRETS_FILE=str(broken))
    before = snapshot(lab)
    try:
        run = saltrun.salt_ssh("*", "state.apply", env=env, timeout=600)
    finally:
        broken.unlink()
    after = snapshot(lab)
    # the one-line pre-flight message (pillar/lostops.sls); JSON escapes newlines as \\n
    text = (run.stdout + "\n" + run.stderr).replace("\\n", "\n")
    lines = sorted(set(re.findall(rf"lostops pre-flight: secrets\.{MISSING}: [^\n\"]*", text)))
    problems = []
    if run.rc == 0:
        problems.append("salt-ssh exited 0 with a secret missing")
    if not lines:
        problems.append(f"no message names secrets.{MISSING}; output tail:\n{text[-2000:]}")
    ran = [h for h in labenv.HOSTS if run.states(h)]
    if ran:
        problems.append(f"states ran on {ran} although the pre-flight failed")
    no_msg = [h for h in labenv.HOSTS if f"secrets.{MISSING}" not in str(run.returns.get(h, ""))]
    if no_msg:
        problems.append(f"the pre-flight message is missing from the return of {no_msg}")
    changed = {}
    for h in labenv.HOSTS:
        diff = sorted(set(before[h]) ^ set(after[h]))
        if diff:
            changed[h] = diff
    if changed:
        problems.append("hosts changed: " + "; ".join(f"{h}: {d[:6]}" for h, d in changed.items()))
    msg = lines[0] if lines else "-"
    SUMMARY.conclude(
        "missing secret",
        problems,
        f"stopped before any state (exit {run.rc}), {len(labenv.HOSTS)}/{len(labenv.HOSTS)} hosts unchanged; message: {msg}",
    )
