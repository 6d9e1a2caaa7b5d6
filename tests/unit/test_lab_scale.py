"""tests/lab/scale.py: the generated lab inventories of `make bench-scale` are valid inventories."""

from __future__ import annotations

import ipaddress

import pytest

from lostops import inventory, policy
from tests.lab import scale


@pytest.mark.parametrize("hosts", [3, 6, 9])
def test_scaled_inventory_is_valid_and_adds_backends(hosts):
    inv = inventory.parse(scale.scaled(hosts), name=scale.NAME)
    lab = inventory.load("lab")
    assert len(inv.hosts) == hosts
    assert set(lab.hosts) <= set(inv.hosts)
    extra = [n for n in inv.hosts if n not in lab.hosts]
    assert all(inv.hosts[n].role == "backend" for n in extra)
    net = ipaddress.ip_network(lab.azure.network.address_space)
    ips = [h.private_ip for h in inv.hosts.values()]
    assert len(set(ips)) == len(ips) and all(ip in net for ip in ips)
    assert all(str(inv.hosts[n].ssh_address) == str(inv.hosts[n].private_ip) for n in extra)
    assert list(inv.hosts)[0] == "database"  # salt-ssh's first ssh_max_procs hosts include the database
    mysql_from = {a.source for a in inv.hosts["database"].allow if a.service == "mysql"}
    assert {"backend", *extra} <= mysql_from


def test_fewer_than_one_host_per_role_is_refused():
    with pytest.raises(ValueError, match="hosts=2"):
        scale.scaled(2)


@pytest.mark.parametrize("hosts,master", [(3, None), (9, None), (3, "monitoring"), (9, "monitoring")])
def test_the_written_file_loads(tmp_path, hosts, master):
    """What `make bench-scale` boots: the file as written (the strict loader refuses YAML aliases)."""
    path = tmp_path / f"{scale.NAME}.yaml"
    scale.write(hosts, salt_master=master, path=path)
    inv = inventory.load(str(path))
    assert len(inv.hosts) == hosts and inv.salt.master == master
    if master:
        assert {r.source for r in policy.host_rules(inv, master) if r.service.startswith("salt-")} == set(inv.hosts) - {
            master
        }
