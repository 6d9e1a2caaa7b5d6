"""The lab takes its hosts and addresses from the lab inventory (tests/lab/settings.py)."""

from __future__ import annotations

import ipaddress

from lostops import inventory
from tests.lab import settings


def test_lab_hosts_are_the_lab_inventory_hosts():
    inv = inventory.load("lab")
    assert list(settings.HOSTS) == list(inv.hosts)
    for name, host in inv.hosts.items():
        spec = settings.HOSTS[name]
        assert spec["ip"] == str(host.private_ip)
        assert spec.get("via") == host.ssh_via
    assert settings.SSH_USER == inv.ssh.user


def test_admin_and_internet_addresses_come_from_the_address_space():
    inv = inventory.load("lab")
    net = ipaddress.ip_network(inv.azure.network.address_space)
    assert settings.BRIDGE_CIDR == net.prefixlen
    assert [ipaddress.ip_network(f"{settings.ADMIN_IP}/32")] == list(inv.ssh.admin_sources)
    internet = ipaddress.ip_address(settings.INTERNET_IP)
    assert internet in net
    # the release rehearsal's runner: inside the bridge, but not an admin source nor a host
    assert not any(internet in src for src in inv.ssh.admin_sources)
    assert str(internet) not in {h["ip"] for h in settings.HOSTS.values()}


def test_the_lab_pillar_points_at_the_outer_machine():
    """The two addresses the lab pillar types (Pebble's directory, discord.com for Alertmanager) are the
    admin address of the lab inventory, where tests/lab/outer.py serves them."""
    from tests.lab import outer
    from tests.unit.saltcall import RENDERS

    pillar = RENDERS.result("monitoring", "lab")["pillar"]
    assert pillar["traefik"]["acme"]["ca_servers"]["production"] == (
        f"https://{settings.ADMIN_IP}:{outer.PEBBLE_PORT}/dir"
    )
    alertmanager = pillar["monitoring"]["compose_override"]["services"]["alertmanager"]
    assert alertmanager["extra_hosts"] == [f"discord.com:{settings.ADMIN_IP}"]
