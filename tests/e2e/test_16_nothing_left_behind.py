"""16. Nothing left behind on the hosts: no secret in salt-ssh's thin directory after a converge.

salt-ssh ships each host its pillar, secrets included, inside
<thin_dir>/salt_state.tgz (pillar.json) and keeps a salt-call cache under
<thin_dir>/running_data. etc/salt/master sets `ssh_wipe: True`, so every
salt-ssh of the repository removes the thin directory when it is done.

Read from the outer machine through /proc/<host PID 1>/root (no ssh, no
salt-ssh of its own, which would start a new run): after the shared converge
and whatever later tests ran, no thin directory remains and no file under
/tmp or /var/tmp of any host holds a secret value. The same search finds the
MySQL root password where it belongs (/etc/lostops on the database host), so
it is known to see secrets when they are there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import labenv
from tests.e2e.summary import SUMMARY

SCANNED = ("tmp", "var/tmp")


def needles(secret_values: dict[str, str]) -> dict[str, bytes]:
    """What to search for: each secret, or the longest line of a multi-line one (a PEM body line)."""
    out = {}
    for key, value in secret_values.items():
        text = max(value.splitlines(), key=len) if "\n" in value.strip() else value
        if len(text) >= 12:
            out[key] = text.encode()
    return out


def files_holding(root: Path, tops, wanted: dict[str, bytes]) -> list[str]:
    hits = []
    for top in tops:
        base = root / top
        if not base.is_dir():
            continue
        for path in base.rglob("*"):
            if path.is_symlink() or not path.is_file():
                continue
            try:
                data = path.read_bytes()
            except OSError:
                continue
            hits += [f"/{path.relative_to(root)} holds secrets.{k}" for k, n in wanted.items() if n in data]
    return hits


@pytest.mark.summary("nothing left behind")
def test_no_secret_left_in_the_thin_directory_after_a_converge(converged, lab, secret_values):
    wanted = needles(secret_values)
    assert {"mysql_root_password", "mysql_ca_key", "app_key"} <= set(wanted)
    problems = []
    for host in labenv.HOSTS:
        pid = lab.hosts.leader_pid(host)
        assert pid, f"{host} is not running"
        root = Path(f"/proc/{pid}/root")
        thin = sorted(str(p.relative_to(root)) for top in SCANNED for p in (root / top).glob(".*_salt*"))
        problems += [f"{host}: thin directory /{t} is still there" for t in thin]
        problems += [f"{host}: {hit}" for hit in files_holding(root, SCANNED, wanted)]
    # The control: the same search sees a secret where it is meant to be.
    db = "database"  # the lab inventory's database host
    control = files_holding(Path(f"/proc/{lab.hosts.leader_pid(db)}/root"), ("etc/lostops",), wanted)
    assert any("secrets.mysql_root_password" in c for c in control), (
        "the search did not find the root password in /etc/lostops"
    )
    SUMMARY.conclude(
        "nothing left behind",
        problems,
        f"no thin directory and no secret under /tmp or /var/tmp on {len(labenv.HOSTS)} hosts "
        f"({len(wanted)} secrets searched; the control found the root password in /etc/lostops)",
    )
