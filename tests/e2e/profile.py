"""Where a salt-ssh run's time goes (make bench-e2e, make bench-scale).

A no-op re-apply is split into what can be measured from outside Salt and
what Salt reports itself:

- ``ssh``: one cold ssh connection per host with the roster's own options
  (key, known_hosts, the database's ProxyCommand), no master reused;
- ``ping``: ``salt-ssh <target> test.ping``: SSH, the thin check (or the thin
  deploy when ``ssh_wipe`` removed it), Python and Salt start on the host;
- ``states``: the sum of every state's ``duration`` field of the apply (Salt's
  own milliseconds, measured on the host), and the slowest states;
- ``render + transfer``: the apply's wall time minus ``ping`` and the slowest
  host's ``states``: pillar and highstate rendered locally, the state tarball
  copied, ``state.pkg`` started, the host's fingerprint read and the run's
  pillar-bearing files wiped (one short ssh command each);

``grains from the cache``: for how many hosts ``lostops salt-ssh`` answered
Salt's ``test.opts_pkg`` (a whole remote salt-call) from its cache because
the host's fingerprint was unchanged (lostops/saltssh.py), read from the
cache files' refresh times before and after the run.

SSH connections are counted on the hosts (sshd's ``Accepted publickey`` lines
in each host's journal), so a reused master connection counts once.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from pathlib import Path

from lostops import saltssh
from lostops.inventory import REPO_ROOT
from tests.e2e import saltrun

# etc/salt/master: root_dir .salt (from the repository root), cachedir cache
SALT_CACHEDIR = REPO_ROOT / ".salt" / "cache"

# sshd logs as `sshd` (OpenSSH < 9.8) or `sshd-session` (the per-connection process since 9.8)
SSHD_ACCEPTED = (
    # --sync first: sshd's lines reach the journal asynchronously, a count taken right after a
    # run missed some and gave them to the next run
    "journalctl --sync; journalctl -q -o cat SYSLOG_IDENTIFIER=sshd SYSLOG_IDENTIFIER=sshd-session"
    " | grep -c 'Accepted publickey' || true"
)


def close_masters(env: dict) -> None:
    """Close salt-ssh's master connections (the roster's LOSTOPS_SSH_CONTROL_DIR): the next run starts cold."""
    from tests.lab.labctl import close_ssh_masters

    if env.get("LOSTOPS_SSH_CONTROL_DIR"):
        close_ssh_masters(Path(env["LOSTOPS_SSH_CONTROL_DIR"]))


def accepted_connections(lab, hosts) -> int:
    """sshd logins accepted so far, summed over `hosts` (read as root through nsenter, no ssh)."""
    total = 0
    for h in hosts:
        r = lab.exec(h, SSHD_ACCEPTED)
        out = (r.stdout or "").strip().splitlines()
        total += int(out[-1]) if out and out[-1].isdigit() else 0
    return total


def opts_cache_times(hosts) -> dict:
    """{host: when its cached test.opts_pkg answer was made (None: none)}."""
    return {h: saltssh.OptsPkgCache(SALT_CACHEDIR, h).refreshed_at() for h in hosts}


def cache_hits(before: dict, after: dict) -> int:
    """Hosts whose grains a run took from the cache: an entry before and the same entry after."""
    return sum(1 for h, t in before.items() if t is not None and after.get(h) == t)


def cold_ssh_seconds(roster: dict, host: str) -> float:
    """One ssh connection with the roster's options for `host`, without any control master."""
    target = roster[host]
    opts = [o for o in target["ssh_options"] if not o.startswith(("ControlMaster=", "ControlPath=", "ControlPersist="))]
    argv = ["ssh", "-o", "ControlMaster=no", "-o", "ControlPath=none", "-i", target["priv"], "-p", str(target["port"])]
    for o in opts:
        key, _, value = o.partition("=")
        argv += ["-o", f"{key}={value.strip(chr(34))}"]
    argv += [f"{target['user']}@{target['host']}", "true"]
    t0 = time.monotonic()
    subprocess.run(argv, capture_output=True, timeout=60, check=False)
    return time.monotonic() - t0


def state_seconds(run: saltrun.SaltRun, host: str) -> float:
    return sum(float(r.get("duration") or 0) for r in (run.states(host) or {}).values()) / 1000


def slowest_states(run: saltrun.SaltRun, host: str, n: int = 5) -> list[tuple[str, float]]:
    st = run.states(host) or {}
    rows = [(r.get("__id__") or k, float(r.get("duration") or 0) / 1000) for k, r in st.items()]
    return sorted(rows, key=lambda kv: -kv[1])[:n]


def spread(values: list[float]) -> str:
    """'median 5.1 s (min 4.8, max 5.6, n=3)'."""
    if not values:
        return "n/a"
    return (
        f"median {statistics.median(values):.1f} s (min {min(values):.1f}, max {max(values):.1f}, "
        f"n={len(values)}: {', '.join(f'{v:.1f}' for v in values)})"
    )


def profile_rows(lab, roster: dict, hosts: list[str], env: dict, apply: saltrun.SaltRun) -> list[tuple[str, str]]:
    """The profile of one no-op `apply` of `hosts` (a finished run), as figure rows."""
    rows: list[tuple[str, str]] = []
    close_masters(env)  # the database's jump would use an open backend master
    ssh = {h: cold_ssh_seconds(roster, h) for h in hosts}
    rows.append(("profile: one cold ssh connection", ", ".join(f"{h} {s:.2f} s" for h, s in ssh.items())))
    close_masters(env)
    ping = saltrun.salt_ssh("*" if len(hosts) > 1 else hosts[0], "test.ping", env=env, timeout=300)
    rows.append(("profile: salt-ssh test.ping, cold (ssh, thin, Python start)", f"{ping.seconds:.1f} s"))
    states = {h: state_seconds(apply, h) for h in hosts}
    rows.append(
        (
            "profile: states (sum of Salt's duration)",
            ", ".join(f"{h} {s:.1f} s ({len(apply.states(h) or {})} states)" for h, s in states.items()),
        )
    )
    rest = apply.seconds - ping.seconds - max(states.values(), default=0)
    rows.append(("profile: render + transfer + fingerprint + wipe (apply - ping - slowest states)", f"{rest:.1f} s"))
    for h in hosts:
        top = ", ".join(f"{sid} {s:.2f}" for sid, s in slowest_states(apply, h, 4))
        rows.append((f"profile: slowest states {h} (s)", top))
    return rows
