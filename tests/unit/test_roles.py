"""Roles as data (lostops/roles.py) and the proof that a new host needs only its inventory entry.

- The role table is the only one: the inventory's role checks, the secrets per
  role, the pillar's formulas/exporters and the Salt top file all follow it.
- The top file (salt/top.sls) lists the minion's `lostops:host:formulas` from
  the pillar, under salt-call --local (lostops.render, Salt's Caller) and
  under salt-ssh's master-side compiler (salt.client.ssh.state.SSHHighState,
  what salt-ssh's state.apply/highstate wrapper uses); a minion without
  formulas fails with one line.
- tests/unit/data/two-backends.yaml (the example plus `backend2`, nothing else
  changed) synthesizes, renders, is scraped and is in the roster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lostops import inventory, pillar, policy, render, roles, secrets
from lostops.childproc import CHILD_PREAMBLE
from lostops.inventory import REPO_ROOT
from tests.unit.saltcall import RENDERER, render_error

TWO = str(Path(__file__).parent / "data" / "two-backends.yaml")
# What the release passes on the command line (salt-ssh ... pillar='{"app": {"version": ...}}');
# the example inventory gets it from pillar/overrides/example, a path-selected inventory has no overrides.
RELEASE_PILLAR = {"app": {"version": "0.1.0"}}


# --------------------------------------------------------------------------- the table


def test_every_formula_of_a_role_exists():
    for name, role in roles.ROLES.items():
        for formula in role.formulas:
            assert (REPO_ROOT / "salt" / formula / "init.sls").exists(), f"{name}: no formula salt/{formula}"
        assert role.formulas[:3] == ("common", "firewall", "docker"), f"{name}: locked down and docker first"


def test_every_exporter_of_a_role_is_a_parameter_of_the_exporters_formula():
    params = yaml.safe_load((REPO_ROOT / "salt/exporters/parameters/defaults.yaml").read_text())
    for name, role in roles.ROLES.items():
        assert "exporters" in role.formulas or not role.exporters, name
        for exporter in role.exporters:
            assert isinstance(params.get(exporter), dict), f"{name}: exporter {exporter} unknown to salt/exporters"
    assert "roles" not in params, "exporters per role are in lostops/roles.py only"


def test_every_secret_of_a_role_has_a_format_and_every_format_a_role():
    for name, role in roles.ROLES.items():
        assert set(role.secrets) <= set(secrets.FORMATS), name
        assert set(role.optional_secrets) <= set(secrets.OPTIONAL_FORMATS), name
    assert all(need for need, _, _ in secrets.SPEC.values())
    assert all(get for get, _ in secrets.OPTIONAL.values())


@pytest.mark.parametrize("role", list(roles.ROLES))
def test_secrets_for_role_are_the_tables(role):
    values = {k: "x" for k in [*secrets.FORMATS, *secrets.OPTIONAL_FORMATS]}
    spec = roles.ROLES[role]
    assert set(secrets.for_role(values, role)) == set(spec.secrets) | set(spec.optional_secrets)


def test_inventory_follows_the_table():
    assert inventory.ROLES == tuple(roles.ROLES)
    assert set(inventory.SINGLE_ROLES) == {n for n, r in roles.ROLES.items() if r.single}
    inv = inventory.load("example")
    for host in inv.hosts.values():
        if host.public_ip is None:
            assert host.has_public_ip == roles.ROLES[host.role].public_ip
    needed = {k for h in inv.hosts.values() for k in roles.ROLES[h.role].secrets}
    assert set(secrets.required_keys(inv)) == needed


def test_a_role_that_needs_another_says_why():
    data = yaml.safe_load((REPO_ROOT / "pillar/inventory/example.yaml").read_text())
    del data["hosts"]["database"]
    data["hosts"]["backend"]["allow"] = [f for f in data["hosts"]["backend"]["allow"] if f["from"] != "database"]
    with pytest.raises(inventory.InventoryError) as exc:
        inventory.parse(data)
    assert "hosts: a backend host needs a database host (the app's DB_HOST)" in exc.value.lines()


@pytest.mark.parametrize("selector", ["example", "lab", TWO])
def test_pillar_carries_formulas_and_exporters_of_the_role(selector, monkeypatch):
    inv = inventory.load(selector)
    for name, host in inv.hosts.items():
        view = pillar.inventory_pillar(inv, name)
        assert view["host"]["formulas"] == list(roles.ROLES[host.role].formulas)
        assert view["host"]["exporters"] == list(roles.ROLES[host.role].exporters)
        assert view["roles"] == {r: inv.hosts_with_role(r) for r in roles.ROLES}


# --------------------------------------------------------------------------- the top file under salt-ssh

# Runs in Salt's Python: salt-ssh's master-side highstate compiler, exactly as
# salt/client/ssh/wrapper/state.py highstate() builds it (opts, pillar override
# None, the function wrapper, the file client, initial_pillar = the pillar the
# master compiled), then get_top() + top_matches(): which formulas this minion
# gets. No host is contacted (get_top only renders salt/top.sls). One process
# answers every case (a JSON list on stdin, one answer per line): each case has
# its own environment (inventory), opts, cache directory and compiler.
_SSH_TOP = (
    CHILD_PREAMBLE
    + r"""
import json, sys
import salt.config, salt.fileclient, salt.client.ssh.state
from lostops import pillar
for case in json.load(sys.stdin):
    os.environ.update(case["env"])
    minion = case["minion"]
    opts = salt.config.master_config("etc/salt/master")
    opts.update({"id": minion, "grains": {"id": minion}, "saltenv": None, "pillarenv": None, "cachedir": case["cachedir"]})
    initial = case["initial"] if case["initial"] is not None else pillar.build(minion, check_secrets=False)
    fs = salt.fileclient.FSClient(opts)
    with salt.client.ssh.state.SSHHighState(opts, None, {}, fs, context={}, initial_pillar=initial) as st:
        reply.write(json.dumps(st.top_matches(st.get_top())) + "\n")
reply.flush()
"""
)

# (selector, minion): the top salt-ssh compiles from the pillar the master builds (lostops.pillar).
TOP_CASES = [("example", "database"), (TWO, "backend2"), (TWO, "monitoring")]
# A pillar given as initial_pillar without lostops:host:formulas.
NO_FORMULAS = {"images": {}}


@pytest.fixture(scope="module")
def ssh_tops(tmp_path_factory) -> dict:
    """{(selector, minion, initial pillar as JSON or None): top_matches} of TOP_CASES and the NO_FORMULAS case."""
    cases = [(selector, minion, None) for selector, minion in TOP_CASES]
    cases.append(("example", "backend", json.dumps(NO_FORMULAS)))
    work = tmp_path_factory.mktemp("ssh-top")
    request = [
        {
            "env": render.render_env(selector, {}),
            "minion": minion,
            "cachedir": str(work / f"cache-{i}"),
            "initial": json.loads(initial) if initial else None,
        }
        for i, (selector, minion, initial) in enumerate(cases)
    ]
    proc = subprocess.run(
        [render.salt_python(), "-c", _SSH_TOP],
        input=json.dumps(request),
        cwd=REPO_ROOT,
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    answers = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(answers) == len(cases), proc.stdout[-3000:]
    return dict(zip(cases, answers, strict=True))


@pytest.mark.parametrize(("selector", "minion"), TOP_CASES)
def test_salt_ssh_compiles_the_top_from_the_pillar(selector, minion, ssh_tops):
    role = inventory.load(selector).hosts[minion].role
    assert ssh_tops[(selector, minion, None)] == {"base": list(roles.ROLES[role].formulas)}


def test_salt_ssh_top_without_formulas_falls_to_unassigned(ssh_tops):
    assert ssh_tops[("example", "backend", json.dumps(NO_FORMULAS))] == {"base": ["unassigned"]}


def test_a_minion_without_formulas_fails_with_one_line():
    first = render_error("backend", "", json.dumps({"lostops": {"host": {"formulas": []}}})).splitlines()[0]
    assert first.endswith(
        "Rendering SLS 'base:unassigned' failed: Jinja error: lostops:host:formulas: "
        "host backend (role backend) has no formulas; add them to its role in lostops/roles.py"
    ), first


# --------------------------------------------------------------------------- two backends


@pytest.fixture(scope="module")
def two_renders() -> dict:
    """Salt renders of the two-backends inventory (backend2, database, monitoring), in parallel."""
    results = RENDERER.render_many([(h, TWO) for h in ("backend2", "database", "monitoring")], pillar=RELEASE_PILLAR)
    return {host: result for (host, _), result in results.items()}


def _result(two_renders, host) -> dict:
    result = two_renders[host]
    if isinstance(result, render.RenderError):
        pytest.fail(f"Salt could not render two-backends/{host}:\n{result}", pytrace=False)
    return result


def _file(two_renders, host, suffix) -> str:
    files = _result(two_renders, host)["files"]
    (path,) = [p for p in files if p.endswith(suffix)]
    return files[path]["contents"]


def test_two_backends_inventory_is_the_example_plus_backend2():
    example = yaml.safe_load((REPO_ROOT / "pillar/inventory/example.yaml").read_text())
    two = yaml.safe_load(Path(TWO).read_text())
    extra = two["hosts"].pop("backend2")
    db_allow = two["hosts"]["database"]["allow"]
    assert {"service": "mysql", "from": "backend2", "reason": db_allow[1]["reason"]} == db_allow.pop(1)
    assert two == example
    assert extra["role"] == "backend"
    inv = inventory.load(TWO)
    assert inv.hosts_with_role("backend") == ["backend", "backend2"]


@pytest.mark.synth
def test_two_backends_synthesize():
    from tests.unit.synth import synth

    _, doc = synth(TWO)
    res = doc["resource"]
    assert res["azurerm_network_security_group"]["backend2-nsg"]["name"] == "lostops-backend2-nsg"
    assoc = res["azurerm_network_interface_security_group_association"]["backend2-nsg-association"]
    assert assoc["network_security_group_id"] == "${azurerm_network_security_group.backend2-nsg.id}"
    assert "backend2-public-ip" in res["azurerm_public_ip"]
    assert res["azurerm_network_interface"]["backend2-nic-adopted"]["name"] == "lostops-backend2-nic"
    records = {r["name"] for r in res["azurerm_dns_a_record"].values()}
    assert "app2" in records
    assert doc["output"]["backend2_fqdns"]["value"] == ["app2.lostops.example.com"]
    rules = res["azurerm_network_security_rule"]
    assert rules["database-allow-mysql-from-backend2"]["source_address_prefix"] == "10.20.1.11"
    assert rules["database-allow-mysql-from-backend"]["source_address_prefix"] == "10.20.1.10"
    assert rules["backend2-allow-https-from-internet"]["destination_address_prefix"] == "10.20.1.11"
    assert rules["backend2-deny-all-inbound"]["priority"] == 4096


def test_backend2_gets_the_backend_states(two_renders):
    hs = _result(two_renders, "backend2")["highstate"]
    sls = {body.get("__sls__", "").split(".")[0] for body in hs.values()}
    assert sls == set(roles.ROLES["backend"].formulas)
    compose = yaml.safe_load(_file(two_renders, "backend2", "/opt/lostops/exporters/compose.yaml"))
    assert set(compose["services"]) == {"node-exporter", "cadvisor", "docker-socket-proxy"}
    assert "10.20.1.11:" in json.dumps(compose["services"]["cadvisor"]["ports"])
    env = _file(two_renders, "backend2", "/etc/lostops/app/app.env")
    assert "APP_URL=https://app2.lostops.example.com" in env.replace('"', "").replace("'", "")


def test_backend2_has_its_own_firewall_rules(two_renders):
    nft = _file(two_renders, "backend2", "/etc/nftables.conf")
    inv = inventory.load(TWO)
    for rule in policy.firewall(inv, "backend2"):
        assert f'comment "{rule["name"]}: ' in nft, rule["name"]
    assert "10.20.1.30/32 } tcp dport 9100 accept" in nft


def test_database_admits_and_creates_accounts_for_both_backends(two_renders):
    nft = _file(two_renders, "database", "/etc/nftables.conf")
    for ip in ("10.20.1.10", "10.20.1.11"):
        assert f"ip saddr {{ {ip}/32 }} tcp dport 3306 accept" in nft
    sql = _file(two_renders, "database", "/users.sql")
    for ip in ("10.20.1.10", "10.20.1.11"):
        assert f"CREATE USER IF NOT EXISTS 'lostops'@'{ip}'" in sql


def test_backend2_is_scraped(two_renders):
    prom = yaml.safe_load(_file(two_renders, "monitoring", "/prometheus/prometheus.yml"))
    targets = {
        (job["job_name"], t)
        for job in prom["scrape_configs"]
        for sc in job.get("static_configs", [])
        for t in sc["targets"]
    }
    for job, port in (("node", 9100), ("cadvisor", 8080), ("traefik", 8082)):
        assert (job, f"10.20.1.11:{port}") in targets, job


def test_backend2_is_in_the_salt_ssh_roster(tmp_path):
    outputs = tmp_path / "outputs.json"
    outputs.write_text("{}")
    env = {**os.environ, "LOSTOPS_INVENTORY": TWO, "LOSTOPS_TF_OUTPUTS": str(outputs)}
    salt_ssh = Path(sys.executable).parent / "salt-ssh"
    proc = subprocess.run(
        [str(salt_ssh), "-H", "--out=json"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    (listing,) = json.loads(proc.stdout).values()
    assert listing == {
        "backend": "app.lostops.example.com",
        "backend2": "app2.lostops.example.com",
        "database": "10.20.1.20",
        "monitoring": "grafana.lostops.example.com",
    }
