"""16. Nothing left behind on the hosts: no secret under /tmp or /var/tmp after any salt-ssh run.

salt-ssh ships each host its pillar, secrets included, inside
<thin_dir>/salt_state.tgz (pillar.json), extracts it into a /tmp/tmp*
directory and keeps a salt-call cache under <thin_dir>/running_data. Every
salt-ssh of the repository is `lostops salt-ssh` (lostops/saltssh.py): it
keeps the thin bundle (Salt and its Python modules, no pillar) and after each
host's run removes exactly the files that can hold the pillar, also after a
failed or interrupted run.

Read from the outer machine through /proc/<host PID 1>/root (no ssh, no
salt-ssh of its own): every file under /tmp and /var/tmp of every host, the
members of tar/gzip archives included (salt_state.tgz is compressed), is
searched for every lab secret (a file found holding one must still be there
2 s later: a program's file of an instant, e.g. the runc exec spec of a
health check, is named in the summary instead), and no salt_state.tgz, running_data or
state.pkg directory may remain, (a) after the shared converge and whatever
later tests ran, (b) after a run whose state fails on every host, (c) after a
run interrupted (SIGTERM to its process group) while its state runs on the backend, once the
orphaned salt-call there has ended. The same search finds the MySQL root
password where it belongs (/etc/lostops on the database host), and inside a
gzip archive made for the purpose, so it is known to see secrets when they
are there.
"""

from __future__ import annotations

import gzip
import io
import os
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.e2e import labenv, probes, saltrun
from tests.e2e.summary import SUMMARY

SCANNED = ("tmp", "var/tmp")
# What a run leaves that can hold the pillar (lostops/saltssh.py has the list and its sources in Salt).
PILLAR_BEARING = ("salt_state.tgz", "running_data", "ext_version")


def needles(secret_values: dict[str, str]) -> dict[str, bytes]:
    """What to search for: each secret, or the longest line of a multi-line one (a PEM body line)."""
    out = {}
    for key, value in secret_values.items():
        text = max(value.splitlines(), key=len) if "\n" in value.strip() else value
        if len(text) >= 12:
            out[key] = text.encode()
    return out


def contents(data: bytes) -> list[bytes]:
    """The bytes of a file and, for a gzip or tar archive, of what it holds (salt_state.tgz is both)."""
    out = [data]
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
            out.append(data)
        except (OSError, EOFError):
            return out
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for m in tar.getmembers():
                f = tar.extractfile(m) if m.isfile() else None
                if f is not None:
                    out.append(f.read())
    except (tarfile.TarError, OSError, EOFError):
        pass
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
                blobs = contents(path.read_bytes())
            except OSError:
                continue
            hits += [
                f"/{path.relative_to(root)} holds secrets.{k}" for k, n in wanted.items() if any(n in b for b in blobs)
            ]
    return hits


def leftovers(root: Path) -> list[str]:
    """Pillar-bearing paths of salt-ssh under the host root: in a thin directory, or a state.pkg directory."""
    out = []
    for top in SCANNED:
        for thin in (root / top).glob(".*_salt*"):
            out += [f"/{(thin / name).relative_to(root)}" for name in PILLAR_BEARING if (thin / name).exists()]
        out += [f"/{d.parent.relative_to(root)}" for d in (root / top).glob("tmp*/lowstate.json")]
    return out


# A hit must still be there this much later to count as left behind. Files that live
# for an instant are not a run's leftovers: e.g. containerd's runc client (go-runc
# `Exec`: os.CreateTemp($XDG_RUNTIME_DIR or /tmp, "runc-process"), `defer os.Remove`)
# writes every `docker exec`'s process spec, the container's environment included,
# to /tmp/runc-process<N> and deletes it when `runc exec` returns; the app's health
# check execs every 2 s in the lab. They are named in the summary, not hidden.
TRANSIENT_S = 2.0
TRANSIENT: list[str] = []


def scan(lab, wanted, when: str) -> tuple[list[str], int]:
    problems, thins = [], 0
    for host in labenv.HOSTS:
        pid = lab.hosts.leader_pid(host)
        assert pid, f"{host} is not running"
        root = Path(f"/proc/{pid}/root")
        thins += sum(1 for top in SCANNED for _ in (root / top).glob(".*_salt*"))
        problems += [f"{when}: {host}: {p} is still there" for p in leftovers(root)]
        hits = files_holding(root, SCANNED, wanted)
        if hits:
            time.sleep(TRANSIENT_S)
            again = set(files_holding(root, SCANNED, wanted))
            TRANSIENT.extend(f"{host}:{h.split(' holds ')[0]}" for h in hits if h not in again)
            problems += [f"{when}: {host}: {hit}" for hit in hits if hit in again]
    return problems, thins


def salt_call_running(lab, host: str) -> bool:
    # [_]: the pattern must not match the command line of the shell that runs pgrep
    r = lab.run(host, "pgrep -f '[_]salt/salt-call' >/dev/null", timeout=30)
    return r.returncode == 0


@pytest.mark.summary("nothing left behind")
def test_no_secret_left_on_the_hosts_after_any_run(converged, lab, secret_values, salt_env, tmp_path):
    wanted = needles(secret_values)
    assert {"mysql_root_password", "mysql_ca_key", "app_key"} <= set(wanted)
    problems, thins = scan(lab, wanted, "after the converge")

    # (b) a run whose state fails on every host: the pillar travelled, the state failed.
    failed = saltrun.salt_ssh("*", "state.single", "cmd.run", "name=exit 3", env=salt_env, timeout=300)
    if failed.rc == 0 or any(failed.ok(h) for h in labenv.HOSTS):
        problems.append(f"the failing run did not fail on every host (exit {failed.rc}): {failed.report()[:400]}")
    more, _ = scan(lab, wanted, "after a failed run")
    problems += more

    # (c) a run interrupted while its state runs on the backend.
    host = "backend"
    pid = lab.hosts.leader_pid(host)
    root = Path(f"/proc/{pid}/root")
    proc = subprocess.Popen(
        [*labenv.SALT_SSH, "--out=json", host, "state.single", "cmd.run", "name=sleep 8"],
        cwd=labenv.REPO,
        env=salt_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        shipped = probes.wait_for(lambda: any((root / "tmp").glob("tmp*/pillar.json")), 120, 0.2)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the whole process group, as a cancelled CI job
        _, err = proc.communicate(timeout=120)
    if not shipped:
        problems.append(f"the interrupted run never reached state.pkg on {host} (exit {proc.returncode}): {err[-300:]}")
    if proc.returncode == 0:
        problems.append("the interrupted salt-ssh exited 0")
    # the orphaned salt-call finishes its sleep on the host; what it writes after the wipe counts too
    probes.wait_for(lambda: not salt_call_running(lab, host), 90, 1)
    more, _ = scan(lab, wanted, "after an interrupted run")
    problems += more

    # The controls: the same search sees a secret where it is meant to be, and inside an archive.
    db = "database"  # the lab inventory's database host
    control = files_holding(Path(f"/proc/{lab.hosts.leader_pid(db)}/root"), ("etc/lostops",), wanted)
    assert any("secrets.mysql_root_password" in c for c in control), (
        "the search did not find the root password in /etc/lostops"
    )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        blob = b'{"x": "' + wanted["mysql_root_password"] + b'"}'
        info = tarfile.TarInfo("pillar.json")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp" / "salt_state.tgz").write_bytes(buf.getvalue())
    assert files_holding(tmp_path, ("tmp",), wanted), "the search did not see a secret inside a .tgz"

    SUMMARY.conclude(
        "nothing left behind",
        problems,
        f"no pillar-bearing file and no secret under /tmp or /var/tmp on {len(labenv.HOSTS)} hosts "
        f"after the converge, a failed run and an interrupted run ({len(wanted)} secrets searched, "
        f"inside archives too; {thins} thin bundles kept; the controls found the root password in "
        f"/etc/lostops and inside a .tgz)"
        + (
            f"; gone within {TRANSIENT_S:.0f} s, so not left behind: {', '.join(sorted(set(TRANSIENT)))}"
            if TRANSIENT
            else ""
        ),
    )
