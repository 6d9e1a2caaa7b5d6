"""tests/lab/saltmaster.py (salt-master mode in the lab) without the lab: configs, pins, fingerprints, comparison."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
import yaml

from lostops import inventory
from tests.e2e.saltrun import SaltRun
from tests.lab import saltmaster, scale


@pytest.fixture(scope="module")
def inv():
    return inventory.parse(scale.scaled(3, salt_master="monitoring"), name=scale.NAME)


def test_master_and_minion_configs_follow_the_inventory_and_never_accept_keys_by_themselves(inv):
    master = yaml.safe_load(saltmaster.master_config(inv, "monitoring"))
    assert master["interface"] == str(inv.hosts["monitoring"].private_ip)
    assert (master["publish_port"], master["ret_port"]) == (4505, 4506)
    assert master["auto_accept"] is False and master["open_mode"] is False
    assert master["file_roots"] == {"base": [f"{saltmaster.SRV}/salt"]}
    assert master["pillar_roots"] == {"base": [f"{saltmaster.SRV}/pillar"]}
    finger = ":".join(["ab"] * 32)
    minion = yaml.safe_load(saltmaster.minion_config(inv, "database", "monitoring", finger))
    assert minion["id"] == "database" and minion["master"] == str(inv.hosts["monitoring"].private_ip)
    assert (minion["publish_port"], minion["master_port"]) == (4505, 4506)
    assert minion["master_finger"] == finger and minion["hash_type"] == master["hash_type"] == "sha256"


def test_host_salt_is_pinned_by_pipfile_lock_with_hashes():
    pins = saltmaster.pins()
    lock = json.loads((saltmaster.settings.REPO / "Pipfile.lock").read_text())["default"]
    assert pins["salt"][0] == lock["salt"]["version"].lstrip("=")
    assert {"pyzmq", "msgpack", "tornado", "pydantic", "pydantic-core", "pyyaml", "cryptography"} <= set(pins)
    assert all(hashes and all(h.startswith("sha256:") for h in hashes) for _, hashes in pins.values())
    assert not set(pins) & set(saltmaster.WITHOUT)
    assert saltmaster.tree_key(pins) == saltmaster.tree_key(dict(reversed(list(pins.items()))))


def test_the_tree_goes_to_the_hosts_only_with_the_lab_flag(monkeypatch):
    monkeypatch.delenv(saltmaster.ENV_FLAG, raising=False)
    assert saltmaster.nspawn_binds() == []


def test_fingerprints_are_read_strictly():
    fp = ":".join(["0f"] * 32)
    assert saltmaster.finger(fp + "\n", "x") == fp
    assert saltmaster.finger(json.dumps({"local": fp}), "x") == fp
    for bad in ("", "0f:0f", json.dumps({"local": {"a": fp}}), fp.upper(), fp + ":00"):
        with pytest.raises(saltmaster.SaltMasterError):
            saltmaster.finger(bad, "x")


def test_the_master_gets_the_tree_and_only_the_given_secrets_file(tmp_path):
    secrets = tmp_path / "lab-secrets.yaml"
    secrets.write_text("app_key: base64:xxxx\n")
    with tarfile.open(fileobj=io.BytesIO(saltmaster.repo_tarball("lab", secrets)), mode="r:gz") as tar:
        names = tar.getnames()
        member = tar.getmember("pillar/secrets.yaml")
        assert member.mode == 0o600 and tar.extractfile(member).read() == secrets.read_bytes()
    assert names.count("pillar/secrets.yaml") == 1
    assert {"lostops/pillar.py", "pillar/top.sls", "salt/top.sls", "pillar/inventory/lab.yaml"} <= set(names)
    assert not [n for n in names if "__pycache__" in n]


def _run(results: dict) -> SaltRun:
    run = SaltRun(["salt"], 0, "", "", 1.0)
    run.returns.update(results)
    return run


def test_compare_names_every_difference():
    a = {
        "file_|-x_|-/x_|-managed": {"result": True, "changes": {}},
        "cmd_|-y_|-y_|-run": {"result": True, "changes": {}},
    }
    same = saltmaster.compare(_run({"h": a}), _run({"h": json.loads(json.dumps(a))}), ["h"])
    assert same["same"] and same["hosts"]["h"]["states"] == 2
    b = {"file_|-x_|-/x_|-managed": {"result": False, "changes": {}, "comment": "no"}}
    diff = saltmaster.compare(_run({"h": a}), _run({"h": b}), ["h"])["hosts"]["h"]
    assert diff["only_salt_ssh"] == ["cmd_|-y_|-y_|-run"] and diff["different_result"] == ["file_|-x_|-/x_|-managed"]
    assert not saltmaster.compare(_run({"h": a}), _run({}), ["h"])["same"]


class _Recorder:
    """A stand-in for labctl.Lab that records what would run on which host."""

    def __init__(self):
        self.calls = []

    def run(self, host, cmd, **kw):
        import subprocess

        self.calls.append((host, cmd, kw.get("input")))
        return subprocess.CompletedProcess([], 0, "", "")


def test_the_salt_commands_are_shell_scripts_that_call_salt_scripts(tmp_path):
    import subprocess

    lab = _Recorder()
    saltmaster._install_commands(lab, "backend")
    ((host, cmd, _),) = lab.calls
    assert host == "backend" and cmd.startswith(f"test -f {saltmaster.TREE_IN_HOST}/.complete && ")
    # the heredocs are valid shell: write them under tmp_path instead of /usr/local/bin
    script = cmd.split(" && ", 1)[1].replace("/usr/local/bin/", f"{tmp_path}/")
    subprocess.run(["sh", "-c", script], check=True)
    for name, entry in saltmaster.SCRIPTS.items():
        text = (tmp_path / name).read_text()
        assert f"from salt.scripts import {entry}; {entry}()" in text and f'sys.argv[0] = "{name}"' in text
        subprocess.run(["sh", "-n", str(tmp_path / name)], check=True)
    assert "pem_finger" in (tmp_path / "lostops-pem-finger").read_text()


def _absolute_paths(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _absolute_paths(v)
    elif isinstance(value, list):
        for v in value:
            yield from _absolute_paths(v)
    elif isinstance(value, str) and value.startswith("/") and value.rstrip("/"):  # not "/" (an HTTP path)
        yield value.rstrip("/")


def test_the_masters_tree_is_neither_inside_nor_above_what_the_formulas_keep():
    # The tree is replaced whole (rm -rf, mv) at every set-up: under /srv/lostops it took the
    # monitoring host's Prometheus/Alertmanager/Grafana and Traefik data with it.
    salt_dir = saltmaster.settings.REPO / "salt"
    owned = {"/opt/lostops"}  # compose projects (salt/lib/compose.jinja)
    for defaults in salt_dir.glob("*/parameters/defaults.yaml"):
        owned |= set(_absolute_paths(yaml.safe_load(defaults.read_text())))
    assert {"/srv/lostops/monitoring", "/srv/lostops/traefik", "/srv/lostops/mysql"} <= owned
    srv = saltmaster.SRV.rstrip("/")
    clashes = sorted(p for p in owned if p == srv or p.startswith(srv + "/") or srv.startswith(p + "/"))
    assert not clashes, clashes
