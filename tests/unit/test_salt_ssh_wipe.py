"""No pillar stays on a host after salt-ssh (lostops/saltssh.py, etc/salt/master `ssh_wipe`).

Every salt-ssh of the repository is `lostops salt-ssh`: Salt's salt-ssh with
`ssh_wipe` off (the thin bundle stays) and, after each host's run, one remote
command that removes what can hold the pillar. A plain `salt-ssh` run from the
repository root still wipes the whole thin directory (etc/salt/master). The
remote command runs here against a directory laid out like a host's; the lab
proves the whole on real hosts (tests/e2e/test_16_nothing_left_behind.py).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from lostops import saltssh

REPO = Path(__file__).resolve().parents[2]


def test_the_saltfile_points_at_the_config_that_wipes():
    saltfile = yaml.safe_load((REPO / "Saltfile").read_text())
    assert saltfile["salt-ssh"]["config_dir"] == "etc/salt"
    assert yaml.safe_load((REPO / "etc/salt/master").read_text())["ssh_wipe"] is True


def test_salt_ssh_parses_ssh_wipe_from_the_repository_config(monkeypatch):
    from salt.utils.parsers import SaltSSHOptionParser

    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "argv", ["salt-ssh", "-c", "etc/salt", "*", "test.ping"])
    parser = SaltSSHOptionParser()
    parser.parse_args()
    assert parser.config["ssh_wipe"] is True
    # Single (salt/client/ssh/__init__.py) reads opts["ssh_wipe"] into the shim's OPTIONS.wipe.


def _host(tmp_path: Path) -> tuple[Path, Path, Path]:
    thin = tmp_path / "var_tmp" / ".root_abc123_salt"
    (thin / "salt").mkdir(parents=True)
    (thin / "salt" / "__init__.py").write_text("# salt\n")
    (thin / "code-checksum").write_text("x\n")
    (thin / "minion").write_text("id: backend\n")
    (thin / "salt_state.tgz").write_bytes(b"pillar")
    (thin / "ext_version").write_text("1\n")
    cache = thin / "running_data" / "var" / "cache" / "salt" / "minion" / "accumulator"
    cache.mkdir(parents=True)
    (cache / "x").write_text("secret")
    tmp = tmp_path / "tmp"
    (tmp / "tmpabc").mkdir(parents=True)
    (tmp / "tmpabc" / "lowstate.json").write_text("[]")
    (tmp / "tmpabc" / "pillar.json").write_text("{}")
    (tmp / "tmpother").mkdir()
    (tmp / "tmpother" / "keep").write_text("not salt's")
    (tmp / "__salt.tmp.x1").write_text("rendered")
    return thin, tmp, tmp_path / "var_tmp"


def _run_remote(cmd: str) -> subprocess.CompletedProcess:
    # What ssh hands the host's shell: salt's _split_cmd keeps "/bin/sh ..." as one word.
    assert cmd.count("/bin/sh") == 1 and cmd.startswith("/bin/sh ")
    return subprocess.run(["/bin/sh", "-c", cmd], capture_output=True, text=True)


def test_the_wipe_removes_the_pillar_bearing_files_and_keeps_the_bundle(tmp_path):
    thin, tmp, var_tmp = _host(tmp_path)
    r = _run_remote(saltssh.wipe_command(str(thin), (str(tmp), str(var_tmp))))
    assert r.returncode == 0, r.stderr
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert left == [
        "tmp",
        "tmp/tmpother",
        "tmp/tmpother/keep",
        "var_tmp",
        "var_tmp/.root_abc123_salt",
        "var_tmp/.root_abc123_salt/code-checksum",
        "var_tmp/.root_abc123_salt/minion",
        "var_tmp/.root_abc123_salt/salt",
        "var_tmp/.root_abc123_salt/salt/__init__.py",
    ]
    # nothing there (the first run of a host, a host wiped before): still exit 0
    r = _run_remote(saltssh.wipe_command(str(tmp_path / "none"), (str(tmp),)))
    assert r.returncode == 0, r.stderr


def test_the_wipe_command_quotes_odd_paths(tmp_path):
    odd = tmp_path / "a b'c"
    thin, tmp, var_tmp = _host(odd)
    r = _run_remote(saltssh.wipe_command(str(thin), (str(tmp),)))
    assert r.returncode == 0, r.stderr
    assert not (thin / "salt_state.tgz").exists() and (thin / "minion").exists()


PROBE = """
import json, sys
from lostops import saltssh
class Stop(Exception):
    pass
def fake():
    class Fake:
        def __init__(self, opts):
            print(json.dumps({k: opts.get(k) for k in ("ssh_wipe", "tgt", "roster_file", "thin_dir")}))
            raise Stop
    return Fake
saltssh._ssh_class = fake
try:
    saltssh.main(sys.argv[1:])
except Stop:
    pass
"""


def test_lostops_salt_ssh_reads_the_repository_config_and_turns_the_wipe_off():
    """`lostops salt-ssh` parses like salt-ssh from the repository root (the Saltfile section is named
    after the program), then turns ssh_wipe off (its own per-host wipe replaces it)."""
    r = subprocess.run(
        [sys.executable, "-c", PROBE, "*", "test.ping"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    import json

    opts = json.loads(r.stdout.strip().splitlines()[-1])
    assert opts["ssh_wipe"] is False and opts["tgt"] == "*"
    assert opts["roster_file"] == "etc/salt/roster"


# Every place that starts salt-ssh; each must start it through `lostops salt-ssh`.
CALLERS = ["Makefile", "mk/*.mk", ".github/workflows/*.yml", "lostops/*.py", "tests/e2e/*.py", "tests/lab/*.py"]


def test_every_salt_ssh_of_the_repository_goes_through_lostops():
    bare = re.compile(r"""(bin/salt-ssh|["']salt-ssh["']\s*[,\]])""")
    offenders = []
    for pattern in CALLERS:
        for path in sorted(REPO.glob(pattern)):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#", 1)[0]
                if (
                    bare.search(code)
                    and "lostops" not in code.lower()
                    and path.name not in ("preflight.py", "cli.py", "saltssh.py")
                ):
                    offenders.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert not offenders, "salt-ssh started without lostops salt-ssh:\n" + "\n".join(offenders)
    assert shlex.split(saltssh.wipe_command("/var/tmp/.root_x_salt"))[0] == "/bin/sh"


def test_the_wipe_runs_through_sudo_as_the_shim_does():
    """The roster's sudo: salt-call ran as root, so its files are root's; sudo -n never prompts."""
    cmd = saltssh.wipe_command("/var/tmp/.lostops_x_salt", sudo=True)
    assert cmd.startswith("sudo -n /bin/sh -c ") and cmd.count("/bin/sh") == 1
    assert saltssh.wipe_command("/t", sudo=True, sudo_user="o k").startswith("sudo -n -u 'o k' /bin/sh -c ")
