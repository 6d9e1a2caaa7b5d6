"""The salt-ssh roster (lostops/roster.py, etc/salt/roster).

Command lines are checked with Salt's own Shell class (salt/client/ssh/shell.py),
which builds both the ssh and the scp command and splits them with shlex.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from salt.client.ssh.shell import Shell

from lostops import inventory, roster
from lostops.inventory import REPO_ROOT

ENV = {"LOSTOPS_SSH_KEY": "/keys/admin_key", "LOSTOPS_KNOWN_HOSTS": "/kh/known_hosts"}
OUTPUTS = {"network": {"backend_public_ip": "198.51.100.10", "monitoring_public_ip": "198.51.100.30"}}


@pytest.fixture(scope="module")
def example():
    return inventory.load("example")


def _shell(target: dict) -> Shell:
    return Shell(
        {"_ssh_version": (9, 2)},
        host=target["host"],
        user=target["user"],
        port=target["port"],
        priv=target["priv"],
        sudo=target["sudo"],
        ssh_options=target["ssh_options"],
    )


def _opts(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == "-o"]


def test_addresses_without_outputs(example):
    r = roster.build_roster(example, None, ENV)
    assert set(r) == set(example.hosts)
    assert r["backend"]["host"] == "app.lostops.example.com"  # first DNS name
    assert r["monitoring"]["host"] == "grafana.lostops.example.com"
    assert r["database"]["host"] == "10.20.1.20"  # private IP, through the backend


def test_addresses_from_terraform_outputs(example):
    r = roster.build_roster(example, OUTPUTS, ENV)
    assert r["backend"]["host"] == "198.51.100.10"
    assert r["monitoring"]["host"] == "198.51.100.30"
    proxy = next(o for o in r["database"]["ssh_options"] if o.startswith("ProxyCommand="))
    assert "lostops@198.51.100.10" in proxy


def test_ssh_address_wins():
    lab = inventory.load("lab")
    r = roster.build_roster(lab, OUTPUTS, ENV)
    assert r["backend"]["host"] == "10.77.0.10"
    assert r["monitoring"]["host"] == "10.77.0.30"
    assert r["database"]["host"] == "10.77.0.20"


def test_outputs_file(tmp_path):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(OUTPUTS))
    assert roster.load_outputs({"LOSTOPS_TF_OUTPUTS": str(path)}) == OUTPUTS
    with pytest.raises(roster.RosterError):
        roster.load_outputs({"LOSTOPS_TF_OUTPUTS": str(tmp_path / "missing.json")})


def test_user_key_sudo_and_defaults(example):
    r = roster.build_roster(example, None, {})
    for target in r.values():
        assert target["user"] == example.ssh.user
        assert target["sudo"] is True
        assert target["priv"] == str(Path("~/.ssh/id_ed25519").expanduser())
        assert f"UserKnownHostsFile={REPO_ROOT / 'ssh' / 'known_hosts'}" in target["ssh_options"]


def _command_line(example, host: str, kind: str) -> list[str]:
    """The argv of salt-ssh's own ssh (kind "ssh") or scp (kind "scp") command for a roster host."""
    target = roster.build_roster(example, OUTPUTS, ENV)[host]
    shell = _shell(target)
    if kind == "ssh":
        return shell._split_cmd(shell._cmd_str("/bin/sh -c true"))
    return shell._split_cmd(shell._cmd_str(f"/tmp/x {target['host']}:/tmp/x", ssh="scp"))


@pytest.mark.parametrize("kind", ["ssh", "scp"])
@pytest.mark.parametrize("host", ["backend", "database"])
def test_salt_command_lines_verify_host_keys(example, host, kind):
    """Both salt-ssh's ssh and its scp command carry our options (salt#59691 concerned no_host_keys)."""
    argv = _command_line(example, host, kind)
    assert Path(argv[0]).name == kind
    opts = _opts(argv)
    assert "StrictHostKeyChecking=yes" in opts
    assert "UserKnownHostsFile=/kh/known_hosts" in opts
    assert "IdentityFile=/keys/admin_key" in opts
    assert not any(o in ("StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null") for o in opts)
    proxies = [o for o in opts if o.startswith("ProxyCommand=")]
    if host != "database":
        assert not proxies
        return
    # One argument for ssh; ssh runs it with /bin/sh -c, so split it like a shell.
    (proxy,) = proxies
    inner = shlex.split(proxy[len("ProxyCommand=") :])
    assert inner[0] == "ssh"
    assert inner[inner.index("-i") + 1] == "/keys/admin_key"
    inner_opts = [inner[i + 1] for i, a in enumerate(inner) if a == "-o"]
    assert "StrictHostKeyChecking=yes" in inner_opts
    assert "UserKnownHostsFile=/kh/known_hosts" in inner_opts
    assert "HostKeyAlias=backend" in inner_opts  # the jump host's key, by name
    assert inner[-3:] == ["-W", "%h:%p", "lostops@198.51.100.10"]


@pytest.mark.parametrize("host", ["backend", "monitoring", "database"])
@pytest.mark.parametrize("kind", ["ssh", "scp"])
def test_host_keys_are_looked_up_by_host_name_not_by_address(example, host, kind):
    """The public IP comes from outputs.json of the same release job that creates it: no
    committed known_hosts can hold a key under it. Keys are known by host name (HostKeyAlias)."""
    argv = _command_line(example, host, kind)
    opts = _opts(argv)
    assert f"HostKeyAlias={host}" in opts
    assert "StrictHostKeyChecking=yes" in opts
    # the real ssh takes the option as given (ssh -G prints the effective configuration)
    g = subprocess.run(
        [
            "ssh",
            "-G",
            "-F",
            "/dev/null",
            *[x for o in opts if o.startswith("HostKeyAlias") for x in ("-o", o)],
            "192.0.2.1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert f"hostkeyalias {host}" in g.stdout.splitlines(), g.stderr


def test_paths_with_blanks_are_refused(example):
    with pytest.raises(roster.RosterError, match="LOSTOPS_SSH_KEY"):
        roster.build_roster(example, None, {**ENV, "LOSTOPS_SSH_KEY": "/keys/admin key"})


def test_unaddressable_host_is_an_error(example):
    data = example.model_dump(by_alias=True)
    data["hosts"]["monitoring"]["dns"] = []
    data["hosts"]["monitoring"]["public_ip"] = True
    inv = inventory.parse(data, name="x")
    with pytest.raises(roster.RosterError, match="hosts.monitoring"):
        roster.build_roster(inv, None, ENV)


def test_salt_ssh_reads_the_roster_from_the_repo_root():
    """Saltfile + etc/salt/master + the #!py roster, as `salt-ssh` sees them (no connection made)."""
    salt_ssh = Path(sys.executable).parent / "salt-ssh"
    assert salt_ssh.exists(), f"{salt_ssh} missing: install the venv (salt)"
    env = {**os.environ, "LOSTOPS_INVENTORY": "lab"}
    proc = subprocess.run(
        [str(salt_ssh), "-H", "--out=json"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    hosts = json.loads(proc.stdout)
    (listing,) = hosts.values()
    assert listing == {"backend": "10.77.0.10", "database": "10.77.0.20", "monitoring": "10.77.0.30"}


def _ssh_g(argv: list[str]) -> dict[str, str]:
    """`ssh -G`: the configuration ssh itself derives from `argv` (no connection made)."""
    proc = subprocess.run(["ssh", "-G", "-F", "/dev/null", *argv], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)


@pytest.fixture
def short_dir():
    """A directory with a path short enough for ssh control sockets (pytest's tmp_path is not)."""
    path = Path(tempfile.mkdtemp(prefix="lostops-t-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_connections_are_reused_through_a_private_control_directory(example, short_dir):
    """ControlMaster for every target; the jump ssh uses the jump host's master but never becomes one."""
    control = short_dir / "mux"
    r = roster.build_roster(example, OUTPUTS, {**ENV, "LOSTOPS_SSH_CONTROL_DIR": str(control)})
    assert control.is_dir() and (control.stat().st_mode & 0o777) == 0o700
    for name, target in r.items():
        opts = target["ssh_options"]
        assert "ControlMaster=auto" in opts and f"ControlPath={control}/%C" in opts, name
        assert f"ControlPersist={roster.CONTROL_PERSIST}" in opts
    # what ssh makes of the database's options: its own master under the control directory
    db = r["database"]
    argv = []
    for o in db["ssh_options"]:
        argv += ["-o", o.replace('"', "")] if not o.startswith("ProxyCommand=") else []
    cfg = _ssh_g([*argv, "-p", "22", f"lostops@{db['host']}"])
    assert cfg["controlmaster"] == "auto"
    assert Path(cfg["controlpath"]).parent == control and len(Path(cfg["controlpath"]).name) == 40
    # the ProxyCommand after ssh's own %-expansion (%%C -> %C, %h/%p -> target)
    (proxy,) = (o for o in db["ssh_options"] if o.startswith("ProxyCommand="))
    inner = shlex.split(proxy[len("ProxyCommand=") :].strip('"'))
    expanded = [a.replace("%h", db["host"]).replace("%p", "22").replace("%%", "%") for a in inner]
    assert f"ControlPath={control}/%C" in expanded
    jump = _ssh_g(expanded[1 : expanded.index("-W")] + [expanded[-1]])
    assert jump["controlmaster"] == "false"
    # the jump ssh would find the backend's own master: the same socket
    backend = r["backend"]
    bargv = []
    for o in backend["ssh_options"]:
        bargv += ["-o", o]
    assert _ssh_g([*bargv, "-p", "22", f"lostops@{backend['host']}"])["controlpath"] == jump["controlpath"]


def test_control_directory_problems_are_one_line(example, tmp_path, short_dir):
    with pytest.raises(roster.RosterError, match="LOSTOPS_SSH_CONTROL_DIR=.*shorter directory"):
        roster.build_roster(example, None, {**ENV, "LOSTOPS_SSH_CONTROL_DIR": str(tmp_path / ("d" * 60))})
    with pytest.raises(roster.RosterError, match="LOSTOPS_SSH_CONTROL_DIR=.*'%'"):
        roster.build_roster(example, None, {**ENV, "LOSTOPS_SSH_CONTROL_DIR": str(short_dir / "a%h")})
    (short_dir / "file").write_text("")
    with pytest.raises(roster.RosterError, match="LOSTOPS_SSH_CONTROL_DIR="):
        roster.build_roster(example, None, {**ENV, "LOSTOPS_SSH_CONTROL_DIR": str(short_dir / "file")})
    loose = short_dir / "loose"
    loose.mkdir(mode=0o777)
    os.chmod(loose, 0o777)
    roster.build_roster(example, None, {**ENV, "LOSTOPS_SSH_CONTROL_DIR": str(loose)})
    assert (loose.stat().st_mode & 0o777) == 0o700


def test_a_deep_checkout_gets_a_private_control_directory_in_tmp(example, monkeypatch):
    deep = Path("/nonexistent") / ("d" * 60) / ".salt" / "ssh"
    monkeypatch.setattr(roster, "DEFAULT_CONTROL_DIR", deep)
    r = roster.build_roster(example, None, ENV)
    (path,) = {o.split("=", 1)[1] for o in r["backend"]["ssh_options"] if o.startswith("ControlPath=")}
    control = Path(path).parent
    try:
        assert control.parent == Path(tempfile.gettempdir()) and control.name.startswith(f"lostops-ssh-{os.getuid()}-")
        st = control.stat()
        assert st.st_uid == os.getuid() and (st.st_mode & 0o777) == 0o700
    finally:
        shutil.rmtree(control, ignore_errors=True)
