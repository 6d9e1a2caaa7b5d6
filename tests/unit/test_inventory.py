"""The inventory rejects bad input with one line naming the field and the problem."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lostops import inventory
from lostops.inventory import InventoryError, parse

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = yaml.safe_load((ROOT / "pillar/inventory/example.yaml").read_text())


def mutated(fn):
    data = copy.deepcopy(EXAMPLE)
    fn(data)
    return data


def problems(data, **kw) -> list[str]:
    with pytest.raises(InventoryError) as exc:
        parse(data, **kw)
    return exc.value.lines()


def test_example_and_lab_inventories_are_valid():
    for name in ("example", "lab"):
        inv = inventory.load(name)
        assert set(inv.hosts) == {"backend", "database", "monitoring"}
        assert inv.name == name


def test_public_ip_defaults_by_role():
    inv = parse(mutated(lambda d: [h.pop("public_ip") for h in d["hosts"].values()]))
    assert [inv.hosts[h].has_public_ip for h in ("backend", "database", "monitoring")] == [True, False, True]


def _set(path: str, value):
    def fn(d):
        *parents, last = path.split(".")
        node = d
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return fn


def _del(path: str):
    def fn(d):
        *parents, last = path.split(".")
        node = d
        for p in parents:
            node = node[p]
        del node[last]

    return fn


BAD = [
    # (id, mutation, expected line)
    (
        "bad-ip",
        _set("hosts.database.private_ip", "10.0.0.300"),
        "hosts.database.private_ip: '10.0.0.300' is not an IP address",
    ),
    (
        "public-as-private",
        _set("hosts.backend.private_ip", "8.8.8.8"),
        "hosts.backend.private_ip: '8.8.8.8' is not a private (RFC 1918) address",
    ),
    (
        "ip-outside-vnet",
        _set("hosts.backend.private_ip", "192.168.1.10"),
        "hosts.backend.private_ip: '192.168.1.10' is outside azure.network.address_space 10.20.0.0/16",
    ),
    (
        "duplicate-ip",
        _set("hosts.monitoring.private_ip", "10.20.1.10"),
        "hosts.monitoring.private_ip: '10.20.1.10' is already used by hosts.backend",
    ),
    ("bad-cidr", _set("ssh.admin_sources", ["203.0.113.0/33"]), "ssh.admin_sources: '203.0.113.0/33' is not a CIDR"),
    (
        "cidr-host-bits",
        _set("ssh.admin_sources", ["203.0.113.5/24"]),
        "ssh.admin_sources: '203.0.113.5/24' is not a CIDR (203.0.113.5/24 has host bits set)",
    ),
    (
        "bad-vnet",
        _set("azure.network.address_space", "10.20.0.0"),
        "azure.network.address_space: '10.20.0.0' needs a prefix length, e.g. 10.20.0.0/16",
    ),
    ("port-too-high", _set("services.mysql.port", 70000), "services.mysql.port: 70000 is outside 1-65535"),
    ("port-zero", _set("services.mysql.port", 0), "services.mysql.port: 0 is outside 1-65535"),
    ("empty-range", _set("services.http.port", "90-80"), "services.http.port: '90-80' is an empty range"),
    (
        "range-too-high",
        _set("services.http.port", "80-70000"),
        "services.http.port: '80-70000': 70000 is outside 1-65535",
    ),
    (
        "port-not-number",
        _set("services.http.port", "http"),
        "services.http.port: 'http' is not a port or a range like 30000-30010",
    ),
    (
        "bad-protocol",
        _set("services.http.protocol", "icmp"),
        "services.http.protocol: 'icmp' is not one of 'tcp' or 'udp'",
    ),
    (
        "unknown-source-host",
        _set("hosts.database.allow.0.from", "frontend"),
        "hosts.database.allow[0].from: unknown source 'frontend' (use internet, admins or a host name)",
    ),
    (
        "unknown-service",
        _set("hosts.database.allow.0.service", "postgres"),
        "hosts.database.allow[0].service: unknown service 'postgres'",
    ),
    ("missing-private-ip", _del("hosts.backend.private_ip"), "hosts.backend.private_ip: required field is missing"),
    ("missing-role", _del("hosts.monitoring.role"), "hosts.monitoring.role: required field is missing"),
    ("missing-zone", _del("azure.dns_zone"), "azure.dns_zone: required field is missing"),
    (
        "missing-reason",
        lambda d: d["hosts"]["backend"]["allow"][0].pop("reason"),
        "hosts.backend.allow[0].reason: required field is missing",
    ),
    ("unknown-key", _set("hosts.backend.publicip", True), "hosts.backend.publicip: unknown key"),
    ("unknown-top-key", _set("vms", {}), "vms: unknown key"),
    (
        "bad-role",
        _set("hosts.backend.role", "frontend"),
        "hosts.backend.role: 'frontend' is not one of 'backend', 'database' or 'monitoring'",
    ),
    (
        "ssh-anywhere-cidr",
        _set("ssh.admin_sources", ["0.0.0.0/0"]),
        "ssh.admin_sources[0]: '0.0.0.0/0' opens SSH to the whole internet; set ssh.allow_ssh_from_anywhere to a reason to allow it",
    ),
    (
        "ssh-star",
        _set("ssh.admin_sources", ["*"]),
        "ssh.admin_sources: '*' is not a CIDR; write the networks that are allowed",
    ),
    (
        "ssh-from-internet-flow",
        _set("hosts.backend.allow.2.from", "internet"),
        "hosts.backend.allow[2].from: SSH from the internet is refused; use 'admins' or set ssh.allow_ssh_from_anywhere to a reason",
    ),
    (
        "dns-outside-zone",
        _set("hosts.backend.dns", ["app.example.org"]),
        "hosts.backend.dns[0]: 'app.example.org' is not inside the zone 'lostops.example.com'",
    ),
    (
        "dns-zone-apex-lookalike",
        _set("hosts.backend.dns", ["app.notlostops.example.com"]),
        "hosts.backend.dns[0]: 'app.notlostops.example.com' is not inside the zone 'lostops.example.com'",
    ),
    (
        "dns-invalid-label",
        _set("hosts.backend.dns", ["ap_p.lostops.example.com"]),
        "hosts.backend.dns[0]: 'ap_p.lostops.example.com' is not a valid DNS name",
    ),
    (
        "dns-without-public-ip",
        _set("hosts.database.dns", ["db.lostops.example.com"]),
        "hosts.database.dns: DNS A records need a public IP; set public_ip: true or remove the names",
    ),
    (
        "ssh-via-unknown",
        _set("hosts.database.ssh_via", "bastion"),
        "hosts.database.ssh_via: 'bastion' is not another host",
    ),
    (
        "ssh-via-not-allowed",
        _set("hosts.database.ssh_via", "monitoring"),
        "hosts.database.ssh_via: 'monitoring' may not reach SSH on database; add {service: ssh, from: monitoring} to allow",
    ),
    (
        "unreachable-host",
        _del("hosts.database.ssh_via"),
        "hosts.database: no public IP, no ssh_address and no ssh_via: salt-ssh could not reach it",
    ),
    (
        "reserved-host-name",
        lambda d: d["hosts"].__setitem__("internet", d["hosts"].pop("monitoring")),
        "hosts.internet: 'internet' is reserved for flow sources",
    ),
    (
        "no-admin-sources",
        _set("ssh.admin_sources", []),
        "ssh.admin_sources: at least one admin network is required (SSH would be closed to everyone)",
    ),
]


@pytest.mark.parametrize("mutation,expected", [pytest.param(m, e, id=i) for i, m, e in BAD])
def test_bad_input_is_one_line_naming_the_field(mutation, expected):
    lines = problems(mutated(mutation))
    assert all("\n" not in line for line in lines)
    assert any(line.startswith(expected) for line in lines), lines


def test_ssh_from_anywhere_needs_the_named_override():
    data = mutated(_set("ssh.admin_sources", ["0.0.0.0/0"]))
    data["ssh"]["allow_ssh_from_anywhere"] = "break-glass during incident INC-42"
    inv = parse(data)
    assert str(inv.ssh.admin_sources[0]) == "0.0.0.0/0"


def test_extra_admin_sources_from_the_environment():
    inv = parse(copy.deepcopy(EXAMPLE), extra_admin_sources="192.0.2.10/32, 192.0.2.11/32")
    assert [str(n) for n in inv.ssh.admin_sources][-2:] == ["192.0.2.10/32", "192.0.2.11/32"]
    assert problems(copy.deepcopy(EXAMPLE), extra_admin_sources="192.0.2.300/32") == [
        "LOSTOPS_EXTRA_ADMIN_SOURCES: '192.0.2.300/32' is not a CIDR (Octet 300 (> 255) not permitted in '192.0.2.300')"
    ]


def test_duplicate_host_key_is_refused(tmp_path):
    text = (ROOT / "pillar/inventory/example.yaml").read_text()
    start = text.index("  database:\n")
    end = text.index("  monitoring:\n")
    dup = text[:end] + text[start:end] + text[end:]
    path = tmp_path / "dup.yaml"
    path.write_text(dup)
    with pytest.raises(InventoryError) as exc:
        inventory.load(str(path))
    (line,) = exc.value.lines()
    assert line.startswith("hosts.database: duplicate key (line ")


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(InventoryError, match="cannot read inventory"):
        inventory.load(str(tmp_path / "nope.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("hosts: [unclosed\n")
    with pytest.raises(InventoryError, match=r"not valid YAML \(line 2\)"):
        inventory.load(str(bad))


def test_bad_inventory_stops_synth_before_anything_is_written(tmp_path):
    """main.py exits non-zero, prints one line per problem, writes no cdktf.out."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(mutated(_set("hosts.database.private_ip", "10.0.0.300"))))
    env = {**os.environ, "LOSTOPS_INVENTORY": str(bad)}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "main.py")], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip() == f"inventory error: {bad}: hosts.database.private_ip: '10.0.0.300' is not an IP address"
    )
    assert not (tmp_path / "cdktf.out").exists()


def test_check_inventory_script(tmp_path):
    """`make synth` runs scripts/check-inventory first: one line per problem, exit 2."""
    script = str(ROOT / "scripts" / "check-inventory")
    ok = subprocess.run([sys.executable, script, "example"], capture_output=True, text=True)
    assert ok.returncode == 0
    assert ok.stdout.strip() == "inventory example: 3 hosts, 8 services, 17 flows: OK"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(mutated(_set("services.mysql.port", 70000))))
    proc = subprocess.run([sys.executable, script, str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"inventory error: {bad}: services.mysql.port: 70000 is outside 1-65535"
