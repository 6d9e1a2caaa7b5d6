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


def _all(*fns):
    def fn(d):
        for f in fns:
            f(d)

    return fn


def _append(path: str, item):
    def fn(d):
        node = d
        for p in path.split("."):
            node = node[p]
        node.append(item)

    return fn


def _add_host(name: str, like: str = "backend", **fields):
    """A copy of host `like` under `name`, with its own VM, NIC and address unless given."""

    def fn(d):
        host = copy.deepcopy(d["hosts"][like])
        host["vm"]["name"] = f"lostops-{name}"
        host["nic"]["name"] = f"lostops-{name}-nic"
        host["private_ip"] = "10.20.1.40"
        host["dns"] = []
        host.update(fields)
        d["hosts"][name] = host

    return fn


STATE_BACKEND = {
    "resource_group": "lostops-tfstate",
    "storage_account": "lostopstfstate",
    "container": "tfstate",
    "key": "lostops-network.tfstate",
}


def _backend(**fields):
    return _set("azure.state_backend", {**STATE_BACKEND, **fields})


NAME_RULE = "letters, digits, '_', '.' and '-', starting with a letter or digit, ending with a letter, digit or '_'"
RG_RULE = "(1-90 letters, digits, '_', '-', '.', '(' and ')', not ending in '.')"
AZ_RESERVED = "Azure reserves the first four and the last address of every subnet"
LONG = "x" * 61 + "y"  # a valid 62-character service name


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
    # ---- names Azure refuses (resource-name-rules), with the full field path
    (
        "rg-blank",
        _set("azure.resource_group", "lostops network"),
        f"azure.resource_group: 'lostops network' is not a valid resource group name {RG_RULE}",
    ),
    (
        "rg-ends-in-period",
        _set("azure.network.resource_group", "lostops-vms."),
        f"azure.network.resource_group: 'lostops-vms.' is not a valid resource group name {RG_RULE}",
    ),
    (
        "rg-too-long",
        _set("azure.dns_zone.resource_group", "r" * 91),
        f"azure.dns_zone.resource_group: '{'r' * 91}' is not a valid resource group name {RG_RULE}",
    ),
    (
        "rg-empty",
        _set("hosts.backend.vm.resource_group", ""),
        f"hosts.backend.vm.resource_group: '' is not a valid resource group name {RG_RULE}",
    ),
    (
        "rg-hash",
        _set("hosts.database.nic.resource_group", "vms#1"),
        f"hosts.database.nic.resource_group: 'vms#1' is not a valid resource group name {RG_RULE}",
    ),
    (
        "rg-state-backend-slash",
        _backend(resource_group="tf/state"),
        f"azure.state_backend.resource_group: 'tf/state' is not a valid resource group name {RG_RULE}",
    ),
    (
        "storage-account-case-and-underscore",
        _backend(storage_account="Lostops_State"),
        "azure.state_backend.storage_account: 'Lostops_State' is not a valid storage account name "
        "(3-24 lowercase letters and digits)",
    ),
    (
        "storage-account-too-short",
        _backend(storage_account="tf"),
        "azure.state_backend.storage_account: 'tf' is not a valid storage account name",
    ),
    (
        "storage-account-too-long",
        _backend(storage_account="lostopsterraformstate2026"),
        "azure.state_backend.storage_account: 'lostopsterraformstate2026' is not a valid storage account name",
    ),
    (
        "storage-account-hyphen",
        _backend(storage_account="lostops-tfstate"),
        "azure.state_backend.storage_account: 'lostops-tfstate' is not a valid storage account name",
    ),
    (
        "container-double-hyphen",
        _backend(container="tf--state"),
        "azure.state_backend.container: 'tf--state' is not a valid storage container name (3-63 lowercase letters, "
        "digits and single '-', starting and ending with a letter or digit)",
    ),
    (
        "container-leading-hyphen",
        _backend(container="-tfstate"),
        "azure.state_backend.container: '-tfstate' is not a valid storage container name",
    ),
    (
        "container-trailing-hyphen",
        _backend(container="tfstate-"),
        "azure.state_backend.container: 'tfstate-' is not a valid storage container name",
    ),
    (
        "container-uppercase",
        _backend(container="TFState"),
        "azure.state_backend.container: 'TFState' is not a valid storage container name",
    ),
    (
        "container-too-short",
        _backend(container="tf"),
        "azure.state_backend.container: 'tf' is not a valid storage container name",
    ),
    (
        "container-too-long",
        _backend(container="t" * 64),
        f"azure.state_backend.container: '{'t' * 64}' is not a valid storage container name",
    ),
    ("state-key-empty", _backend(key=""), "azure.state_backend.key: the state blob name is empty"),
    ("state-key-blank", _backend(key="   "), "azure.state_backend.key: the state blob name is empty"),
    (
        "state-key-trailing-slash",
        _backend(key="lostops/"),
        "azure.state_backend.key: 'lostops/' is not a usable blob name",
    ),
    (
        "state-key-trailing-dot",
        _backend(key="network."),
        "azure.state_backend.key: 'network.' is not a usable blob name",
    ),
    (
        "state-key-too-long",
        _backend(key="k" * 1025),
        "azure.state_backend.key: 1025 characters; a blob name has at most 1024",
    ),
    (
        "location-typo",
        _set("azure.location", "westeurop"),
        "azure.location: 'westeurop' is not a known Azure region name (did you mean 'westeurope'?)",
    ),
    (
        "location-display-name",
        _set("azure.location", "West Europe"),
        "azure.location: 'West Europe': write the region name 'westeurope' (lowercase, no blanks)",
    ),
    (
        "location-other-cloud",
        _set("azure.location", "eu-west-1"),
        "azure.location: 'eu-west-1' is not a known Azure region name",
    ),
    ("location-empty", _set("azure.location", ""), "azure.location: '' is not a known Azure region name"),
    (
        "location-uppercase",
        _set("azure.location", "WESTEUROPE"),
        "azure.location: 'WESTEUROPE': write the region name 'westeurope' (lowercase, no blanks)",
    ),
    (
        "zone-one-label",
        _set("azure.dns_zone.name", "lostops"),
        "azure.dns_zone.name: 'lostops' is not a valid DNS zone name (at least two labels, e.g. example.com)",
    ),
    (
        "zone-uppercase",
        _set("azure.dns_zone.name", "Lostops.Example.com"),
        "azure.dns_zone.name: 'Lostops.Example.com': write DNS names in lowercase ('lostops.example.com')",
    ),
    (
        "zone-trailing-dot",
        _set("azure.dns_zone.name", "lostops.example.com."),
        "azure.dns_zone.name: 'lostops.example.com.': write the name without the trailing dot",
    ),
    (
        "zone-empty-label",
        _set("azure.dns_zone.name", "lostops..example.com"),
        "azure.dns_zone.name: 'lostops..example.com' is not a valid DNS name (labels are 1-63",
    ),
    (
        "zone-label-too-long",
        _set("azure.dns_zone.name", "l" * 64 + ".example.com"),
        "azure.dns_zone.name: '" + "l" * 64 + ".example.com' is not a valid DNS name (labels are 1-63",
    ),
    (
        "zone-too-long",
        _set("azure.dns_zone.name", ".".join(["a" * 63] * 4) + ".com"),
        "azure.dns_zone.name: '" + ".".join(["a" * 63] * 4) + ".com' is not a valid DNS name (longer than 253",
    ),
    (
        "zone-is-an-ip",
        _set("azure.dns_zone.name", "10.20.30.40"),
        "azure.dns_zone.name: '10.20.30.40' is not a valid DNS name (the top-level label is all digits)",
    ),
    (
        "zone-too-many-labels",
        _set("azure.dns_zone.name", ".".join(["a"] * 35)),
        "azure.dns_zone.name: '" + ".".join(["a"] * 35) + "' is not a valid DNS zone name (Azure DNS allows at most 34",
    ),
    (
        "vm-name-blank",
        _set("hosts.backend.vm.name", "lostops backend"),
        f"hosts.backend.vm.name: 'lostops backend' is not a valid virtual machine name (1-64 {NAME_RULE})",
    ),
    (
        "vm-name-too-long",
        _set("hosts.backend.vm.name", "v" * 65),
        f"hosts.backend.vm.name: '{'v' * 65}' is not a valid virtual machine name (1-64",
    ),
    (
        "vm-name-trailing-hyphen",
        _set("hosts.database.vm.name", "lostops-database-"),
        "hosts.database.vm.name: 'lostops-database-' is not a valid virtual machine name",
    ),
    (
        "vm-name-leading-underscore",
        _set("hosts.database.vm.name", "_lostops"),
        "hosts.database.vm.name: '_lostops' is not a valid virtual machine name",
    ),
    (
        "nic-name-too-long",
        _set("hosts.monitoring.nic.name", "n" * 81),
        f"hosts.monitoring.nic.name: '{'n' * 81}' is not a valid network interface name (1-80 {NAME_RULE})",
    ),
    (
        "nic-name-trailing-period",
        _set("hosts.monitoring.nic.name", "lostops-monitoring-nic."),
        "hosts.monitoring.nic.name: 'lostops-monitoring-nic.' is not a valid network interface name",
    ),
    (
        "nic-name-empty",
        _set("hosts.monitoring.nic.name", ""),
        "hosts.monitoring.nic.name: '' is not a valid network interface name",
    ),
    (
        "ip-configuration-blank",
        _set("hosts.backend.nic.ip_configuration", "ip config 1"),
        "hosts.backend.nic.ip_configuration: 'ip config 1' is not a valid IP configuration name",
    ),
    (
        "vnet-too-short",
        _set("azure.network.virtual_network", "v"),
        f"azure.network.virtual_network: 'v' is not a valid virtual network name (2-64 {NAME_RULE})",
    ),
    (
        "vnet-trailing-hyphen",
        _set("azure.network.virtual_network", "lostops-vnet-"),
        "azure.network.virtual_network: 'lostops-vnet-' is not a valid virtual network name",
    ),
    (
        "subnet-slash",
        _set("azure.network.subnet", "lostops/subnet"),
        f"azure.network.subnet: 'lostops/subnet' is not a valid subnet name (1-80 {NAME_RULE})",
    ),
    (
        "subnet-too-long",
        _set("azure.network.subnet", "s" * 81),
        f"azure.network.subnet: '{'s' * 81}' is not a valid subnet name",
    ),
    (
        "nsg-rule-name-too-long",
        _all(
            _set(f"services.{LONG}", {"port": 9200, "protocol": "tcp"}),
            _append("hosts.database.allow", {"service": LONG, "from": "monitoring", "reason": "long name"}),
        ),
        f"hosts.database.allow[5]: the NSG rule name 'allow-{LONG}-from-monitoring' has 84 characters, "
        "Azure allows 80; shorten the service or host name",
    ),
    # ---- values that must be unique across the whole inventory
    (
        "dns-name-on-two-hosts",
        _set("hosts.monitoring.dns", ["app.lostops.example.com"]),
        "hosts.monitoring.dns[0]: 'app.lostops.example.com' is already used by hosts.backend.dns[0]",
    ),
    (
        "dns-name-twice-on-one-host",
        _set("hosts.monitoring.dns", ["grafana.lostops.example.com", "grafana.lostops.example.com"]),
        "hosts.monitoring.dns[1]: 'grafana.lostops.example.com' is already used by hosts.monitoring.dns[0]",
    ),
    (
        "dns-name-taken-by-an-earlier-host",
        _set("hosts.backend.dns", ["app.lostops.example.com", "prometheus.lostops.example.com"]),
        "hosts.monitoring.dns[1]: 'prometheus.lostops.example.com' is already used by hosts.backend.dns[1]",
    ),
    (
        "scrape-job-twice",
        _set("services.cadvisor.scrape.job", "node"),
        "services.cadvisor.scrape.job: 'node' is already the job of services.node-exporter",
    ),
    (
        "scrape-job-twice-new-service",
        _set("services.blackbox", {"port": 9115, "scrape": {"job": "traefik"}}),
        "services.blackbox.scrape.job: 'traefik' is already the job of services.traefik-metrics",
    ),
    (
        "same-port-two-names",
        _set("services.web", {"port": 443, "protocol": "tcp"}),
        "services.web.port: 443/tcp overlaps services.https (443/tcp); name each port once",
    ),
    (
        "range-overlaps-a-port",
        _set("services.passive", {"port": "9000-9200", "protocol": "tcp"}),
        "services.passive.port: 9000-9200/tcp overlaps services.node-exporter (9100/tcp)",
    ),
    (
        "range-overlaps-a-range",
        _all(
            _set("services.ftp-a", {"port": "30000-30010"}),
            _set("services.ftp-b", {"port": "30010-30020"}),
        ),
        "services.ftp-b.port: 30010-30020/tcp overlaps services.ftp-a (30000-30010/tcp)",
    ),
    (
        "port-as-range-of-one",
        _set("services.mysql-again", {"port": "3306-3306"}),
        "services.mysql-again.port: 3306-3306/tcp overlaps services.mysql (3306/tcp)",
    ),
    (
        "repeated-allow",
        _append("hosts.backend.allow", {"service": "https", "from": "internet", "reason": "again"}),
        "hosts.backend.allow[6]: repeats allow[0] (https from internet); each service and source once per host",
    ),
    (
        "repeated-allow-host-source",
        _append("hosts.database.allow", {"service": "mysql", "from": "backend", "reason": "the app, twice"}),
        "hosts.database.allow[5]: repeats allow[0] (mysql from backend)",
    ),
    (
        "second-monitoring-host",
        _add_host("monitoring2", like="monitoring"),
        "hosts.monitoring2.role: only one host may have role 'monitoring' (already hosts.monitoring)",
    ),
    (
        "second-database-host",
        _add_host("database2", like="database"),
        "hosts.database2.role: only one host may have role 'database' (already hosts.database)",
    ),
    (
        "vm-on-two-hosts",
        _set("hosts.monitoring.vm.name", "lostops-backend"),
        "hosts.monitoring.vm.name: 'lostops-backend' is already the VM of hosts.backend "
        "(both NSGs would be named 'lostops-backend-nsg')",
    ),
    (
        "vm-on-two-hosts-other-case",
        _set("hosts.monitoring.vm.name", "LOSTOPS-BACKEND"),
        "hosts.monitoring.vm.name: 'LOSTOPS-BACKEND' is already the VM of hosts.backend",
    ),
    (
        "nic-on-two-hosts",
        _set("hosts.database.nic.name", "lostops-backend-nic"),
        "hosts.database.nic.name: 'lostops-backend-nic' is already the NIC of hosts.backend",
    ),
    (
        "ip-on-two-hosts-third-host",
        _add_host("backend2", private_ip="10.20.1.20"),
        "hosts.backend2.private_ip: '10.20.1.20' is already used by hosts.database",
    ),
    # ---- addresses Azure reserves in a subnet (address space 10.20.0.0/16 is the subnet by default)
    (
        "reserved-network-address",
        _set("hosts.backend.private_ip", "10.20.0.0"),
        "hosts.backend.private_ip: '10.20.0.0' is reserved by Azure in subnet 10.20.0.0/16 "
        f"(azure.network.address_space): the network address; {AZ_RESERVED}",
    ),
    (
        "reserved-gateway",
        _set("hosts.backend.private_ip", "10.20.0.1"),
        "hosts.backend.private_ip: '10.20.0.1' is reserved by Azure in subnet 10.20.0.0/16 "
        "(azure.network.address_space): the default gateway",
    ),
    (
        "reserved-dns-2",
        _set("hosts.database.private_ip", "10.20.0.2"),
        "hosts.database.private_ip: '10.20.0.2' is reserved by Azure in subnet 10.20.0.0/16 "
        "(azure.network.address_space): mapped to Azure DNS",
    ),
    (
        "reserved-dns-3",
        _set("hosts.database.private_ip", "10.20.0.3"),
        "hosts.database.private_ip: '10.20.0.3' is reserved by Azure in subnet",
    ),
    (
        "reserved-broadcast",
        _set("hosts.monitoring.private_ip", "10.20.255.255"),
        "hosts.monitoring.private_ip: '10.20.255.255' is reserved by Azure in subnet 10.20.0.0/16 "
        "(azure.network.address_space): the broadcast address",
    ),
    (
        "reserved-broadcast-of-subnet-prefix",
        _all(_set("azure.network.subnet_prefix", "10.20.1.0/24"), _set("hosts.monitoring.private_ip", "10.20.1.255")),
        "hosts.monitoring.private_ip: '10.20.1.255' is reserved by Azure in subnet 10.20.1.0/24 "
        "(azure.network.subnet_prefix): the broadcast address",
    ),
    (
        "reserved-first-of-subnet-prefix",
        _all(_set("azure.network.subnet_prefix", "10.20.1.0/24"), _set("hosts.database.private_ip", "10.20.1.3")),
        "hosts.database.private_ip: '10.20.1.3' is reserved by Azure in subnet 10.20.1.0/24 "
        "(azure.network.subnet_prefix): mapped to Azure DNS",
    ),
    (
        "outside-subnet-prefix",
        _set("azure.network.subnet_prefix", "10.20.2.0/24"),
        "hosts.backend.private_ip: '10.20.1.10' is outside azure.network.subnet_prefix 10.20.2.0/24",
    ),
    (
        "subnet-prefix-outside-address-space",
        _set("azure.network.subnet_prefix", "10.30.1.0/24"),
        "azure.network.subnet_prefix: '10.30.1.0/24' is outside azure.network.address_space 10.20.0.0/16",
    ),
    (
        "subnet-prefix-too-small",
        _set("azure.network.subnet_prefix", "10.20.1.8/30"),
        "azure.network.subnet_prefix: '10.20.1.8/30' is smaller than Azure's minimum subnet, a /29",
    ),
    (
        "subnet-prefix-host-bits",
        _set("azure.network.subnet_prefix", "10.20.1.10/24"),
        "azure.network.subnet_prefix: '10.20.1.10/24' is not a CIDR (10.20.1.10/24 has host bits set)",
    ),
    (
        "address-space-too-small",
        _set("azure.network.address_space", "10.20.1.8/30"),
        "azure.network.address_space: '10.20.1.8/30' is smaller than Azure's minimum, a /29",
    ),
    # ---- admin networks that together amount to "anywhere"
    (
        "admins-two-halves",
        _set("ssh.admin_sources", ["0.0.0.0/1", "128.0.0.0/1"]),
        "ssh.admin_sources: together these networks cover 0.0.0.0/0 and open SSH to the whole internet; "
        "set ssh.allow_ssh_from_anywhere to a reason to allow it",
    ),
    (
        "admins-four-quarters",
        _set("ssh.admin_sources", ["192.0.0.0/2", "0.0.0.0/2", "128.0.0.0/2", "64.0.0.0/2"]),
        "ssh.admin_sources: together these networks cover 0.0.0.0/0",
    ),
    (
        "admins-anywhere-plus-office",
        _set("ssh.admin_sources", ["203.0.113.0/28", "0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/2"]),
        "ssh.admin_sources: together these networks cover 0.0.0.0/0",
    ),
    (
        "admins-half-the-internet",
        _set("ssh.admin_sources", ["0.0.0.0/1"]),
        "ssh.admin_sources: together these networks cover 2092957696 public addresses, more than a /8 (16777216)",
    ),
    (
        "admins-two-public-slash-8",
        _set("ssh.admin_sources", ["11.0.0.0/8", "12.0.0.0/8"]),
        "ssh.admin_sources: together these networks cover 33554432 public addresses, more than a /8",
    ),
    (
        "admins-many-small-blocks",
        _set("ssh.admin_sources", [f"{n}.0.0.0/9" for n in range(20, 40)]),
        "ssh.admin_sources: together these networks cover 167772160 public addresses",
    ),
    (
        "admins-listed-twice",
        _set("ssh.admin_sources", ["203.0.113.0/28", "198.51.100.7/32", "203.0.113.0/28"]),
        "ssh.admin_sources[2]: '203.0.113.0/28' is already listed as ssh.admin_sources[0]",
    ),
    (
        "admins-inside-another",
        _set("ssh.admin_sources", ["203.0.113.0/24", "203.0.113.16/28"]),
        "ssh.admin_sources[1]: '203.0.113.16/28' overlaps ssh.admin_sources[0] '203.0.113.0/24'; list each network once",
    ),
    # ---- an inventory with nothing in it
    ("no-hosts", _set("hosts", {}), "hosts: at least one host is required"),
    (
        "no-services",
        _set("services", {}),
        "services: at least one service is required (every allow entry names one)",
    ),
    ("no-hosts-no-services", _all(_set("hosts", {}), _set("services", {})), "services: at least one service"),
    ("hosts-null", _set("hosts", None), "hosts: Input should be a valid dictionary"),
    (
        "backend-without-database",
        _del("hosts.database"),
        "hosts: a backend host needs a database host (the app's DB_HOST)",
    ),
    # ---- further classes: what Prometheus, Traefik, Salt or sshd would refuse later
    (
        "reason-blank",
        _set("hosts.backend.allow.0.reason", "     "),
        "hosts.backend.allow[0].reason: write a reason (at least 3 characters besides blanks)",
    ),
    (
        "reason-padded",
        _set("hosts.backend.allow.0.reason", "  x  "),
        "hosts.backend.allow[0].reason: write a reason",
    ),
    (
        "reason-too-long",
        _set("hosts.backend.allow.1.reason", "r" * 141),
        "hosts.backend.allow[1].reason: 141 characters; it becomes the NSG rule description, which Azure limits to 140",
    ),
    (
        "reason-line-break",
        _set("hosts.database.allow.0.reason", "the app\nand more"),
        "hosts.database.allow[0].reason: contains a line break or control character",
    ),
    (
        "internet-to-host-without-public-ip",
        _append("hosts.database.allow", {"service": "https", "from": "internet", "reason": "nobody can"}),
        "hosts.database.allow[5].from: database has no public IP, so the internet cannot reach it; "
        "set public_ip: true or remove this entry",
    ),
    (
        "public-ip-off-with-internet-flows",
        _set("hosts.monitoring.public_ip", False),
        "hosts.monitoring.allow[0].from: monitoring has no public IP, so the internet cannot reach it",
    ),
    ("ssh-user-root", _set("ssh.user", "root"), "ssh.user: 'root' is refused: Azure VMs do not allow root logins"),
    (
        "ssh-user-uppercase",
        _set("ssh.user", "Lostops"),
        "ssh.user: 'Lostops' is not a valid Linux user name",
    ),
    ("ssh-user-digit-first", _set("ssh.user", "1ops"), "ssh.user: '1ops' is not a valid Linux user name"),
    ("ssh-user-too-long", _set("ssh.user", "u" * 33), f"ssh.user: '{'u' * 33}' is not a valid Linux user name"),
    ("ssh-user-blank", _set("ssh.user", "lost ops"), "ssh.user: 'lost ops' is not a valid Linux user name"),
    (
        "ssh-address-bad-ip",
        _set("hosts.backend.ssh_address", "10.20.1.300"),
        "hosts.backend.ssh_address: '10.20.1.300' is not an IP address or a host name",
    ),
    (
        "ssh-address-with-user",
        _set("hosts.backend.ssh_address", "lostops@app.lostops.example.com"),
        "hosts.backend.ssh_address: 'lostops@app.lostops.example.com' is not an IP address or a host name",
    ),
    (
        "ssh-address-with-port",
        _set("hosts.backend.ssh_address", "app.lostops.example.com:2222"),
        "hosts.backend.ssh_address: 'app.lostops.example.com:2222' is not an IP address or a host name",
    ),
    (
        "metrics-path-relative",
        _set("services.node-exporter.scrape.path", "metrics"),
        "services.node-exporter.scrape.path: 'metrics' is not a metrics path (starts with '/', no blanks, no '?' or '#')",
    ),
    (
        "metrics-path-query",
        _set("services.cadvisor.scrape.path", "/metrics?format=prometheus"),
        "services.cadvisor.scrape.path: '/metrics?format=prometheus' is not a metrics path",
    ),
    (
        "metrics-path-blank",
        _set("services.cadvisor.scrape.path", "/my metrics"),
        "services.cadvisor.scrape.path: '/my metrics' is not a metrics path",
    ),
    (
        "job-name-blank",
        _set("services.node-exporter.scrape.job", "node exporter"),
        "services.node-exporter.scrape.job: 'node exporter' is not a usable Prometheus job name",
    ),
    ("job-name-empty", _set("services.node-exporter.scrape.job", ""), "services.node-exporter.scrape.job: '' is not"),
    (
        "scrape-a-port-range",
        _set("services.exporters", {"port": "9200-9210", "scrape": {"job": "many"}}),
        "services.exporters.scrape: a port range (9200-9210) cannot be scraped; give the exporter one port",
    ),
    (
        "scrape-udp",
        _set("services.statsd", {"port": 8125, "protocol": "udp", "scrape": {"job": "statsd"}}),
        "services.statsd.scrape: only tcp services can be scraped",
    ),
    (
        "dns-uppercase",
        _set("hosts.backend.dns", ["App.lostops.example.com"]),
        "hosts.backend.dns[0]: 'App.lostops.example.com': write DNS names in lowercase ('app.lostops.example.com')",
    ),
    (
        "dns-trailing-dot",
        _set("hosts.backend.dns", ["app.lostops.example.com."]),
        "hosts.backend.dns[0]: 'app.lostops.example.com.': write the name without the trailing dot",
    ),
    (
        "dns-zone-apex",
        _set("hosts.backend.dns", ["lostops.example.com"]),
        "hosts.backend.dns[0]: 'lostops.example.com' is not inside the zone 'lostops.example.com'",
    ),
    (
        "dns-wildcard",
        _set("hosts.backend.dns", ["*.lostops.example.com"]),
        "hosts.backend.dns[0]: '*.lostops.example.com' is not a valid DNS name",
    ),
    (
        "dns-too-long",
        _set("hosts.backend.dns", [".".join(["a" * 60] * 4) + ".lostops.example.com"]),
        "hosts.backend.dns[0]: '" + ".".join(["a" * 60] * 4) + ".lostops.example.com' is not a valid DNS name (longer",
    ),
    (
        "host-name-trailing-hyphen",
        _add_host("cache-"),
        "hosts.cache-: host names are lowercase letters, digits and '-', starting with a letter, not ending in '-'",
    ),
    (
        "host-name-uppercase",
        _add_host("Cache"),
        "hosts.Cache: host names are lowercase letters, digits and '-'",
    ),
    (
        "host-named-admins",
        _add_host("admins"),
        "hosts.admins: 'admins' is reserved for flow sources",
    ),
    (
        "service-name-trailing-hyphen",
        _set("services.metrics-", {"port": 9999}),
        "services.metrics-: service names are lowercase letters, digits and '-', starting with a letter",
    ),
    (
        "nested-jump",
        _all(
            _set("hosts.backend.ssh_via", "database"),
            _append("hosts.backend.allow", {"service": "ssh", "from": "database", "reason": "jump"}),
        ),
        "hosts.backend.ssh_via: 'database' is itself reached through ssh_via; the roster supports one jump",
    ),
    (
        "direct-host-without-admin-ssh",
        lambda d: d["hosts"]["monitoring"]["allow"].pop(2),
        "hosts.monitoring.allow: salt-ssh connects to monitoring directly, but no entry lets admins reach SSH; "
        "add {service: ssh, from: admins}",
    ),
    (
        "too-many-flows-for-nsg-priorities",
        lambda d: [
            (
                d["services"].__setitem__(f"s{i}", {"port": 20000 + i}),
                d["hosts"]["backend"]["allow"].append({"service": f"s{i}", "from": "admins", "reason": "many"}),
            )
            for i in range(395)
        ],
        "hosts.backend.allow: 401 entries; at most 400 fit in NSG priorities 100-4095 (deny-all is 4096)",
    ),
    ("name-is-not-a-key", _set("name", "prod"), "name: unknown key"),
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


def test_check_inventory_command(tmp_path):
    """`make synth` runs `lostops inventory check` first: one line per problem, exit 2.

    A real subprocess of the installed entry point (.venv/bin/lostops), as make runs it."""
    lostops = str(Path(sys.executable).parent / "lostops")
    ok = subprocess.run([lostops, "inventory", "check", "example"], capture_output=True, text=True)
    assert ok.returncode == 0
    assert ok.stdout.strip() == "inventory example: 3 hosts, 8 services, 17 flows: OK"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(mutated(_set("services.mysql.port", 70000))))
    proc = subprocess.run([lostops, "inventory", "check", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"inventory error: {bad}: services.mysql.port: 70000 is outside 1-65535"
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(b"azure:\n  location: m\xe9xico\n")
    proc = subprocess.run([lostops, "inventory", "check", str(latin1)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"inventory error: {latin1}: not valid UTF-8: byte 0xe9 at byte offset 20 (line 2); save the file as UTF-8"
    )


GOOD = [
    # (id, mutation): near misses of the checks above that must stay valid
    ("second-backend-host", _add_host("backend2")),
    ("second-backend-host-with-dns", _add_host("backend2", dns=["app2.lostops.example.com"])),
    ("same-port-other-protocol", _set("services.quic", {"port": 443, "protocol": "udp"})),
    ("adjacent-ranges", _all(_set("services.a", {"port": "30000-30009"}), _set("services.b", {"port": "30010-30020"}))),
    ("subnet-prefix", _set("azure.network.subnet_prefix", "10.20.1.0/24")),
    ("subnet-prefix-is-the-space", _set("azure.network.subnet_prefix", "10.20.0.0/16")),
    ("subnet-prefix-null", _set("azure.network.subnet_prefix", None)),
    ("first-usable-address", _set("hosts.backend.private_ip", "10.20.0.4")),
    ("last-usable-address", _set("hosts.backend.private_ip", "10.20.255.254")),
    ("private-admin-networks", _set("ssh.admin_sources", ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"])),
    ("admin-network-inside-the-vnet", _set("ssh.admin_sources", ["10.20.0.1/32"])),
    ("one-public-slash-8", _set("ssh.admin_sources", ["11.0.0.0/8"])),
    (
        "wide-admins-with-the-named-override",
        _all(
            _set("ssh.admin_sources", ["0.0.0.0/1", "128.0.0.0/1"]),
            _set("ssh.allow_ssh_from_anywhere", "break-glass during incident INC-42"),
        ),
    ),
    ("state-backend", _backend()),
    ("state-backend-key-with-folders", _backend(key="lostops/prod/network.tfstate")),
    ("location-other-region", _set("azure.location", "swedencentral")),
    ("resource-group-parentheses", _set("azure.resource_group", "lostops(network)_1")),
    ("vm-name-with-period-and-underscore", _set("hosts.backend.vm.name", "lostops.backend_1")),
    ("ssh-address-hostname", _set("hosts.backend.ssh_address", "backend.internal.example.com")),
    ("ssh-address-ip", _set("hosts.database.ssh_address", "10.20.1.20")),
    ("ssh-user-underscore", _set("ssh.user", "_lostops")),
    ("monitoring-scrapes-itself", lambda d: None),
    ("dns-names-optional", _set("hosts.monitoring.dns", [])),
    ("long-but-valid-names", _set("hosts.backend.nic.name", "n" * 80)),
]


@pytest.mark.parametrize("mutation", [pytest.param(m, id=i) for i, m in GOOD])
def test_near_misses_stay_valid(mutation):
    parse(mutated(mutation))


def test_example_and_lab_use_no_reserved_address():
    for name in ("example", "lab"):
        inv = inventory.load(name)
        subnet = inv.azure.network.subnet_cidr
        for host in inv.hosts.values():
            offset = int(host.private_ip) - int(subnet.network_address)
            assert 4 <= offset < subnet.num_addresses - 1


def test_extra_admin_source_already_covered_is_not_added_twice():
    """A just-in-time runner inside an admin network: nothing to add, and no duplicate prefix for Azure."""
    for extra in ("203.0.113.0/28", "203.0.113.5/32", "203.0.113.5/32,203.0.113.5/32"):
        inv = parse(copy.deepcopy(EXAMPLE), extra_admin_sources=extra)
        assert [str(n) for n in inv.ssh.admin_sources] == ["203.0.113.0/28"], extra
    inv = parse(copy.deepcopy(EXAMPLE), extra_admin_sources="192.0.2.10/32,192.0.2.10/32")
    assert [str(n) for n in inv.ssh.admin_sources] == ["203.0.113.0/28", "192.0.2.10/32"]
    assert (
        "ssh.admin_sources: together these networks cover 0.0.0.0/0 and open SSH to the whole internet; "
        "set ssh.allow_ssh_from_anywhere to a reason to allow it"
    ) in problems(copy.deepcopy(EXAMPLE), extra_admin_sources="0.0.0.0/1,128.0.0.0/1")


def _load_bytes(tmp_path, raw: bytes) -> list[str]:
    path = tmp_path / "inv.yaml"
    path.write_bytes(raw)
    with pytest.raises(InventoryError) as exc:
        inventory.load(str(path))
    assert exc.value.source == str(path)
    return exc.value.lines()


def test_file_that_is_not_utf8_is_one_line_with_the_byte_offset(tmp_path):
    text = (ROOT / "pillar/inventory/example.yaml").read_bytes()
    at = text.index(b"lostops-network")
    latin1 = text[:at] + "r\u00e9seau".encode("latin-1") + text[at:]
    line = text[:at].count(b"\n") + 1
    assert _load_bytes(tmp_path, latin1) == [
        f"not valid UTF-8: byte 0xe9 at byte offset {at + 1} (line {line}); save the file as UTF-8"
    ]
    assert _load_bytes(tmp_path, b"\xff\xfeh\x00o\x00") == [
        "not valid UTF-8: byte 0xff at byte offset 0 (line 1); save the file as UTF-8"
    ]
    truncated = "hosts: {}\n# caf\u00e9".encode()[:-1]
    assert _load_bytes(tmp_path, truncated) == [
        f"not valid UTF-8: byte 0xc3 at byte offset {len(truncated) - 1} (line 2); save the file as UTF-8"
    ]


def test_empty_file_and_comments_only(tmp_path):
    empty = ["the inventory is empty (no YAML content)"]
    assert _load_bytes(tmp_path, b"") == empty
    assert _load_bytes(tmp_path, b"\n  \n") == empty
    assert _load_bytes(tmp_path, b"# nothing yet\n") == empty
    assert _load_bytes(tmp_path, b"- a\n- b\n") == ["the inventory must be a YAML mapping"]


def test_utf8_with_bom_and_non_ascii_comments_is_fine(tmp_path):
    text = (ROOT / "pillar/inventory/example.yaml").read_text()
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + ("# r\u00e9seau \u2014 commentaire\n" + text).encode())
    assert set(inventory.load(str(path)).hosts) == {"backend", "database", "monitoring"}
