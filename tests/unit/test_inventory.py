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
    # (check, id, mutation, expected line): `check` is the entry of lostops.inventory.CHECKS
    # that reports the line, or "model" for the model's own field validation.
    (
        "model",
        "bad-ip",
        _set("hosts.database.private_ip", "10.0.0.300"),
        "hosts.database.private_ip: '10.0.0.300' is not an IP address",
    ),
    (
        "host.private_ip",
        "public-as-private",
        _set("hosts.backend.private_ip", "8.8.8.8"),
        "hosts.backend.private_ip: '8.8.8.8' is not a private (RFC 1918) address",
    ),
    (
        "host.private_ip",
        "ip-outside-vnet",
        _set("hosts.backend.private_ip", "192.168.1.10"),
        "hosts.backend.private_ip: '192.168.1.10' is outside azure.network.address_space 10.20.0.0/16",
    ),
    (
        "host.unique_ip",
        "duplicate-ip",
        _set("hosts.monitoring.private_ip", "10.20.1.10"),
        "hosts.monitoring.private_ip: '10.20.1.10' is already used by hosts.backend",
    ),
    (
        "model",
        "bad-cidr",
        _set("ssh.admin_sources", ["203.0.113.0/33"]),
        "ssh.admin_sources: '203.0.113.0/33' is not a CIDR",
    ),
    (
        "model",
        "cidr-host-bits",
        _set("ssh.admin_sources", ["203.0.113.5/24"]),
        "ssh.admin_sources: '203.0.113.5/24' is not a CIDR (203.0.113.5/24 has host bits set)",
    ),
    (
        "model",
        "bad-vnet",
        _set("azure.network.address_space", "10.20.0.0"),
        "azure.network.address_space: '10.20.0.0' needs a prefix length, e.g. 10.20.0.0/16",
    ),
    ("model", "port-too-high", _set("services.mysql.port", 70000), "services.mysql.port: 70000 is outside 1-65535"),
    ("model", "port-zero", _set("services.mysql.port", 0), "services.mysql.port: 0 is outside 1-65535"),
    ("model", "empty-range", _set("services.http.port", "90-80"), "services.http.port: '90-80' is an empty range"),
    (
        "model",
        "range-too-high",
        _set("services.http.port", "80-70000"),
        "services.http.port: '80-70000': 70000 is outside 1-65535",
    ),
    (
        "model",
        "port-not-number",
        _set("services.http.port", "http"),
        "services.http.port: 'http' is not a port or a range like 30000-30010",
    ),
    (
        "model",
        "bad-protocol",
        _set("services.http.protocol", "icmp"),
        "services.http.protocol: 'icmp' is not one of 'tcp' or 'udp'",
    ),
    (
        "flow.known",
        "unknown-source-host",
        _set("hosts.database.allow.0.from", "frontend"),
        "hosts.database.allow[0].from: unknown source 'frontend' (use internet, admins or a host name)",
    ),
    (
        "flow.known",
        "unknown-service",
        _set("hosts.database.allow.0.service", "postgres"),
        "hosts.database.allow[0].service: unknown service 'postgres'",
    ),
    (
        "model",
        "missing-private-ip",
        _del("hosts.backend.private_ip"),
        "hosts.backend.private_ip: required field is missing",
    ),
    ("model", "missing-role", _del("hosts.monitoring.role"), "hosts.monitoring.role: required field is missing"),
    ("model", "missing-zone", _del("azure.dns_zone"), "azure.dns_zone: required field is missing"),
    (
        "model",
        "missing-reason",
        lambda d: d["hosts"]["backend"]["allow"][0].pop("reason"),
        "hosts.backend.allow[0].reason: required field is missing",
    ),
    ("model", "unknown-key", _set("hosts.backend.publicip", True), "hosts.backend.publicip: unknown key"),
    ("model", "unknown-top-key", _set("vms", {}), "vms: unknown key"),
    (
        "model",
        "bad-role",
        _set("hosts.backend.role", "frontend"),
        "hosts.backend.role: 'frontend' is not one of 'backend', 'database' or 'monitoring'",
    ),
    (
        "ssh.admin_sources",
        "ssh-anywhere-cidr",
        _set("ssh.admin_sources", ["0.0.0.0/0"]),
        "ssh.admin_sources[0]: '0.0.0.0/0' opens SSH to the whole internet; set ssh.allow_ssh_from_anywhere to a reason to allow it",
    ),
    (
        "model",
        "ssh-star",
        _set("ssh.admin_sources", ["*"]),
        "ssh.admin_sources: '*' is not a CIDR; write the networks that are allowed",
    ),
    (
        "flow.ssh_from_internet",
        "ssh-from-internet-flow",
        _set("hosts.backend.allow.2.from", "internet"),
        "hosts.backend.allow[2].from: SSH from the internet is refused; use 'admins' or set ssh.allow_ssh_from_anywhere to a reason",
    ),
    (
        "host.dns",
        "dns-outside-zone",
        _set("hosts.backend.dns", ["app.example.org"]),
        "hosts.backend.dns[0]: 'app.example.org' is not inside the zone 'lostops.example.com'",
    ),
    (
        "host.dns",
        "dns-zone-apex-lookalike",
        _set("hosts.backend.dns", ["app.notlostops.example.com"]),
        "hosts.backend.dns[0]: 'app.notlostops.example.com' is not inside the zone 'lostops.example.com'",
    ),
    (
        "host.dns",
        "dns-invalid-label",
        _set("hosts.backend.dns", ["ap_p.lostops.example.com"]),
        "hosts.backend.dns[0]: 'ap_p.lostops.example.com' is not a valid DNS name",
    ),
    (
        "host.dns",
        "dns-without-public-ip",
        _set("hosts.database.dns", ["db.lostops.example.com"]),
        "hosts.database.dns: DNS A records need a public IP; set public_ip: true or remove the names",
    ),
    (
        "host.ssh_reachable",
        "ssh-via-unknown",
        _set("hosts.database.ssh_via", "bastion"),
        "hosts.database.ssh_via: 'bastion' is not another host",
    ),
    (
        "host.ssh_reachable",
        "ssh-via-not-allowed",
        _set("hosts.database.ssh_via", "monitoring"),
        "hosts.database.ssh_via: 'monitoring' may not reach SSH on database; add {service: ssh, from: monitoring} to allow",
    ),
    (
        "host.ssh_reachable",
        "unreachable-host",
        _del("hosts.database.ssh_via"),
        "hosts.database: no public IP, no ssh_address and no ssh_via: salt-ssh could not reach it",
    ),
    (
        "host.name",
        "reserved-host-name",
        lambda d: d["hosts"].__setitem__("internet", d["hosts"].pop("monitoring")),
        "hosts.internet: 'internet' is reserved for flow sources",
    ),
    (
        "model",
        "no-admin-sources",
        _set("ssh.admin_sources", []),
        "ssh.admin_sources: at least one admin network is required (SSH would be closed to everyone)",
    ),
    # ---- names Azure refuses (resource-name-rules), with the full field path
    (
        "azure.names",
        "rg-blank",
        _set("azure.resource_group", "lostops network"),
        f"azure.resource_group: 'lostops network' is not a valid resource group name {RG_RULE}",
    ),
    (
        "azure.names",
        "rg-ends-in-period",
        _set("azure.network.resource_group", "lostops-vms."),
        f"azure.network.resource_group: 'lostops-vms.' is not a valid resource group name {RG_RULE}",
    ),
    (
        "azure.names",
        "rg-too-long",
        _set("azure.dns_zone.resource_group", "r" * 91),
        f"azure.dns_zone.resource_group: '{'r' * 91}' is not a valid resource group name {RG_RULE}",
    ),
    (
        "host.azure_names",
        "rg-empty",
        _set("hosts.backend.vm.resource_group", ""),
        f"hosts.backend.vm.resource_group: '' is not a valid resource group name {RG_RULE}",
    ),
    (
        "host.azure_names",
        "rg-hash",
        _set("hosts.database.nic.resource_group", "vms#1"),
        f"hosts.database.nic.resource_group: 'vms#1' is not a valid resource group name {RG_RULE}",
    ),
    (
        "azure.state_backend",
        "rg-state-backend-slash",
        _backend(resource_group="tf/state"),
        f"azure.state_backend.resource_group: 'tf/state' is not a valid resource group name {RG_RULE}",
    ),
    (
        "azure.state_backend",
        "storage-account-case-and-underscore",
        _backend(storage_account="Lostops_State"),
        "azure.state_backend.storage_account: 'Lostops_State' is not a valid storage account name "
        "(3-24 lowercase letters and digits)",
    ),
    (
        "azure.state_backend",
        "storage-account-too-short",
        _backend(storage_account="tf"),
        "azure.state_backend.storage_account: 'tf' is not a valid storage account name",
    ),
    (
        "azure.state_backend",
        "storage-account-too-long",
        _backend(storage_account="lostopsterraformstate2026"),
        "azure.state_backend.storage_account: 'lostopsterraformstate2026' is not a valid storage account name",
    ),
    (
        "azure.state_backend",
        "storage-account-hyphen",
        _backend(storage_account="lostops-tfstate"),
        "azure.state_backend.storage_account: 'lostops-tfstate' is not a valid storage account name",
    ),
    (
        "azure.state_backend",
        "container-double-hyphen",
        _backend(container="tf--state"),
        "azure.state_backend.container: 'tf--state' is not a valid storage container name (3-63 lowercase letters, "
        "digits and single '-', starting and ending with a letter or digit)",
    ),
    (
        "azure.state_backend",
        "container-leading-hyphen",
        _backend(container="-tfstate"),
        "azure.state_backend.container: '-tfstate' is not a valid storage container name",
    ),
    (
        "azure.state_backend",
        "container-trailing-hyphen",
        _backend(container="tfstate-"),
        "azure.state_backend.container: 'tfstate-' is not a valid storage container name",
    ),
    (
        "azure.state_backend",
        "container-uppercase",
        _backend(container="TFState"),
        "azure.state_backend.container: 'TFState' is not a valid storage container name",
    ),
    (
        "azure.state_backend",
        "container-too-short",
        _backend(container="tf"),
        "azure.state_backend.container: 'tf' is not a valid storage container name",
    ),
    (
        "azure.state_backend",
        "container-too-long",
        _backend(container="t" * 64),
        f"azure.state_backend.container: '{'t' * 64}' is not a valid storage container name",
    ),
    (
        "azure.state_backend",
        "state-key-empty",
        _backend(key=""),
        "azure.state_backend.key: the state blob name is empty",
    ),
    (
        "azure.state_backend",
        "state-key-blank",
        _backend(key="   "),
        "azure.state_backend.key: the state blob name is empty",
    ),
    (
        "azure.state_backend",
        "state-key-trailing-slash",
        _backend(key="lostops/"),
        "azure.state_backend.key: 'lostops/' is not a usable blob name",
    ),
    (
        "azure.state_backend",
        "state-key-trailing-dot",
        _backend(key="network."),
        "azure.state_backend.key: 'network.' is not a usable blob name",
    ),
    (
        "azure.state_backend",
        "state-key-too-long",
        _backend(key="k" * 1025),
        "azure.state_backend.key: 1025 characters; a blob name has at most 1024",
    ),
    (
        "azure.location",
        "location-typo",
        _set("azure.location", "westeurop"),
        "azure.location: 'westeurop' is not a known Azure region name (did you mean 'westeurope'?)",
    ),
    (
        "azure.location",
        "location-display-name",
        _set("azure.location", "West Europe"),
        "azure.location: 'West Europe': write the region name 'westeurope' (lowercase, no blanks)",
    ),
    (
        "azure.location",
        "location-other-cloud",
        _set("azure.location", "eu-west-1"),
        "azure.location: 'eu-west-1' is not a known Azure region name",
    ),
    (
        "azure.location",
        "location-empty",
        _set("azure.location", ""),
        "azure.location: '' is not a known Azure region name",
    ),
    (
        "azure.location",
        "location-uppercase",
        _set("azure.location", "WESTEUROPE"),
        "azure.location: 'WESTEUROPE': write the region name 'westeurope' (lowercase, no blanks)",
    ),
    (
        "azure.dns_zone",
        "zone-one-label",
        _set("azure.dns_zone.name", "lostops"),
        "azure.dns_zone.name: 'lostops' is not a valid DNS zone name (at least two labels, e.g. example.com)",
    ),
    (
        "azure.dns_zone",
        "zone-uppercase",
        _set("azure.dns_zone.name", "Lostops.Example.com"),
        "azure.dns_zone.name: 'Lostops.Example.com': write DNS names in lowercase ('lostops.example.com')",
    ),
    (
        "azure.dns_zone",
        "zone-trailing-dot",
        _set("azure.dns_zone.name", "lostops.example.com."),
        "azure.dns_zone.name: 'lostops.example.com.': write the name without the trailing dot",
    ),
    (
        "azure.dns_zone",
        "zone-empty-label",
        _set("azure.dns_zone.name", "lostops..example.com"),
        "azure.dns_zone.name: 'lostops..example.com' is not a valid DNS name (labels are 1-63",
    ),
    (
        "azure.dns_zone",
        "zone-label-too-long",
        _set("azure.dns_zone.name", "l" * 64 + ".example.com"),
        "azure.dns_zone.name: '" + "l" * 64 + ".example.com' is not a valid DNS name (labels are 1-63",
    ),
    (
        "azure.dns_zone",
        "zone-too-long",
        _set("azure.dns_zone.name", ".".join(["a" * 63] * 4) + ".com"),
        "azure.dns_zone.name: '"
        + "a" * 63
        + "."
        + "a" * 35
        + "... (259 characters) is not a valid DNS name (longer than 253",
    ),
    (
        "azure.dns_zone",
        "zone-is-an-ip",
        _set("azure.dns_zone.name", "10.20.30.40"),
        "azure.dns_zone.name: '10.20.30.40' is not a valid DNS name (the top-level label is all digits)",
    ),
    (
        "azure.dns_zone",
        "zone-too-many-labels",
        _set("azure.dns_zone.name", ".".join(["a"] * 35)),
        "azure.dns_zone.name: '" + ".".join(["a"] * 35) + "' is not a valid DNS zone name (Azure DNS allows at most 34",
    ),
    (
        "host.azure_names",
        "vm-name-blank",
        _set("hosts.backend.vm.name", "lostops backend"),
        f"hosts.backend.vm.name: 'lostops backend' is not a valid virtual machine name (1-64 {NAME_RULE})",
    ),
    (
        "host.azure_names",
        "vm-name-too-long",
        _set("hosts.backend.vm.name", "v" * 65),
        f"hosts.backend.vm.name: '{'v' * 65}' is not a valid virtual machine name (1-64",
    ),
    (
        "host.azure_names",
        "vm-name-trailing-hyphen",
        _set("hosts.database.vm.name", "lostops-database-"),
        "hosts.database.vm.name: 'lostops-database-' is not a valid virtual machine name",
    ),
    (
        "host.azure_names",
        "vm-name-leading-underscore",
        _set("hosts.database.vm.name", "_lostops"),
        "hosts.database.vm.name: '_lostops' is not a valid virtual machine name",
    ),
    (
        "host.azure_names",
        "nic-name-too-long",
        _set("hosts.monitoring.nic.name", "n" * 81),
        f"hosts.monitoring.nic.name: '{'n' * 81}' is not a valid network interface name (1-80 {NAME_RULE})",
    ),
    (
        "host.azure_names",
        "nic-name-trailing-period",
        _set("hosts.monitoring.nic.name", "lostops-monitoring-nic."),
        "hosts.monitoring.nic.name: 'lostops-monitoring-nic.' is not a valid network interface name",
    ),
    (
        "host.azure_names",
        "nic-name-empty",
        _set("hosts.monitoring.nic.name", ""),
        "hosts.monitoring.nic.name: '' is not a valid network interface name",
    ),
    (
        "host.azure_names",
        "ip-configuration-blank",
        _set("hosts.backend.nic.ip_configuration", "ip config 1"),
        "hosts.backend.nic.ip_configuration: 'ip config 1' is not a valid IP configuration name",
    ),
    (
        "azure.names",
        "vnet-too-short",
        _set("azure.network.virtual_network", "v"),
        f"azure.network.virtual_network: 'v' is not a valid virtual network name (2-64 {NAME_RULE})",
    ),
    (
        "azure.names",
        "vnet-trailing-hyphen",
        _set("azure.network.virtual_network", "lostops-vnet-"),
        "azure.network.virtual_network: 'lostops-vnet-' is not a valid virtual network name",
    ),
    (
        "azure.names",
        "subnet-slash",
        _set("azure.network.subnet", "lostops/subnet"),
        f"azure.network.subnet: 'lostops/subnet' is not a valid subnet name (1-80 {NAME_RULE})",
    ),
    (
        "azure.names",
        "subnet-too-long",
        _set("azure.network.subnet", "s" * 81),
        f"azure.network.subnet: '{'s' * 81}' is not a valid subnet name",
    ),
    (
        "flow.rule_name",
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
        "host.dns",
        "dns-name-on-two-hosts",
        _set("hosts.monitoring.dns", ["app.lostops.example.com"]),
        "hosts.monitoring.dns[0]: 'app.lostops.example.com' is already used by hosts.backend.dns[0]",
    ),
    (
        "host.dns",
        "dns-name-twice-on-one-host",
        _set("hosts.monitoring.dns", ["grafana.lostops.example.com", "grafana.lostops.example.com"]),
        "hosts.monitoring.dns[1]: 'grafana.lostops.example.com' is already used by hosts.monitoring.dns[0]",
    ),
    (
        "host.dns",
        "dns-name-taken-by-an-earlier-host",
        _set("hosts.backend.dns", ["app.lostops.example.com", "prometheus.lostops.example.com"]),
        "hosts.monitoring.dns[1]: 'prometheus.lostops.example.com' is already used by hosts.backend.dns[1]",
    ),
    (
        "scrape.job",
        "scrape-job-twice",
        _set("services.cadvisor.scrape.job", "node"),
        "services.cadvisor.scrape.job: 'node' is already the job of services.node-exporter",
    ),
    (
        "scrape.job",
        "scrape-job-twice-new-service",
        _set("services.blackbox", {"port": 9115, "scrape": {"job": "traefik"}}),
        "services.blackbox.scrape.job: 'traefik' is already the job of services.traefik-metrics",
    ),
    (
        "service.overlap",
        "same-port-two-names",
        _set("services.web", {"port": 443, "protocol": "tcp"}),
        "services.web.port: 443/tcp overlaps services.https (443/tcp); name each port once",
    ),
    (
        "service.overlap",
        "range-overlaps-a-port",
        _set("services.passive", {"port": "9000-9200", "protocol": "tcp"}),
        "services.passive.port: 9000-9200/tcp overlaps services.node-exporter (9100/tcp)",
    ),
    (
        "service.overlap",
        "range-overlaps-a-range",
        _all(
            _set("services.ftp-a", {"port": "30000-30010"}),
            _set("services.ftp-b", {"port": "30010-30020"}),
        ),
        "services.ftp-b.port: 30010-30020/tcp overlaps services.ftp-a (30000-30010/tcp)",
    ),
    (
        "service.overlap",
        "port-as-range-of-one",
        _set("services.mysql-again", {"port": "3306-3306"}),
        "services.mysql-again.port: 3306-3306/tcp overlaps services.mysql (3306/tcp)",
    ),
    (
        "flow.repeated",
        "repeated-allow",
        _append("hosts.backend.allow", {"service": "https", "from": "internet", "reason": "again"}),
        "hosts.backend.allow[6]: repeats allow[0] (https from internet); each service and source once per host",
    ),
    (
        "flow.repeated",
        "repeated-allow-host-source",
        _append("hosts.database.allow", {"service": "mysql", "from": "backend", "reason": "the app, twice"}),
        "hosts.database.allow[5]: repeats allow[0] (mysql from backend)",
    ),
    (
        "host.single_role",
        "second-monitoring-host",
        _add_host("monitoring2", like="monitoring"),
        "hosts.monitoring2.role: only one host may have role 'monitoring' (already hosts.monitoring)",
    ),
    (
        "host.single_role",
        "second-database-host",
        _add_host("database2", like="database"),
        "hosts.database2.role: only one host may have role 'database' (already hosts.database)",
    ),
    (
        "host.unique_vm_nic",
        "vm-on-two-hosts",
        _set("hosts.monitoring.vm.name", "lostops-backend"),
        "hosts.monitoring.vm.name: 'lostops-backend' is already the VM of hosts.backend "
        "(both NSGs would be named 'lostops-backend-nsg')",
    ),
    (
        "host.unique_vm_nic",
        "vm-on-two-hosts-other-case",
        _set("hosts.monitoring.vm.name", "LOSTOPS-BACKEND"),
        "hosts.monitoring.vm.name: 'LOSTOPS-BACKEND' is already the VM of hosts.backend",
    ),
    (
        "host.unique_vm_nic",
        "nic-on-two-hosts",
        _set("hosts.database.nic.name", "lostops-backend-nic"),
        "hosts.database.nic.name: 'lostops-backend-nic' is already the NIC of hosts.backend",
    ),
    (
        "host.unique_ip",
        "ip-on-two-hosts-third-host",
        _add_host("backend2", private_ip="10.20.1.20"),
        "hosts.backend2.private_ip: '10.20.1.20' is already used by hosts.database",
    ),
    # ---- addresses Azure reserves in a subnet (address space 10.20.0.0/16 is the subnet by default)
    (
        "host.private_ip",
        "reserved-network-address",
        _set("hosts.backend.private_ip", "10.20.0.0"),
        "hosts.backend.private_ip: '10.20.0.0' is reserved by Azure in subnet 10.20.0.0/16 "
        f"(azure.network.address_space): the network address; {AZ_RESERVED}",
    ),
    (
        "host.private_ip",
        "reserved-gateway",
        _set("hosts.backend.private_ip", "10.20.0.1"),
        "hosts.backend.private_ip: '10.20.0.1' is reserved by Azure in subnet 10.20.0.0/16 "
        "(azure.network.address_space): the default gateway",
    ),
    (
        "host.private_ip",
        "reserved-dns-2",
        _set("hosts.database.private_ip", "10.20.0.2"),
        "hosts.database.private_ip: '10.20.0.2' is reserved by Azure in subnet 10.20.0.0/16 "
        "(azure.network.address_space): mapped to Azure DNS",
    ),
    (
        "host.private_ip",
        "reserved-dns-3",
        _set("hosts.database.private_ip", "10.20.0.3"),
        "hosts.database.private_ip: '10.20.0.3' is reserved by Azure in subnet",
    ),
    (
        "host.private_ip",
        "reserved-broadcast",
        _set("hosts.monitoring.private_ip", "10.20.255.255"),
        "hosts.monitoring.private_ip: '10.20.255.255' is reserved by Azure in subnet 10.20.0.0/16 "
        "(azure.network.address_space): the broadcast address",
    ),
    (
        "host.private_ip",
        "reserved-broadcast-of-subnet-prefix",
        _all(_set("azure.network.subnet_prefix", "10.20.1.0/24"), _set("hosts.monitoring.private_ip", "10.20.1.255")),
        "hosts.monitoring.private_ip: '10.20.1.255' is reserved by Azure in subnet 10.20.1.0/24 "
        "(azure.network.subnet_prefix): the broadcast address",
    ),
    (
        "host.private_ip",
        "reserved-first-of-subnet-prefix",
        _all(_set("azure.network.subnet_prefix", "10.20.1.0/24"), _set("hosts.database.private_ip", "10.20.1.3")),
        "hosts.database.private_ip: '10.20.1.3' is reserved by Azure in subnet 10.20.1.0/24 "
        "(azure.network.subnet_prefix): mapped to Azure DNS",
    ),
    (
        "host.private_ip",
        "outside-subnet-prefix",
        _set("azure.network.subnet_prefix", "10.20.2.0/24"),
        "hosts.backend.private_ip: '10.20.1.10' is outside azure.network.subnet_prefix 10.20.2.0/24",
    ),
    (
        "azure.network",
        "subnet-prefix-outside-address-space",
        _set("azure.network.subnet_prefix", "10.30.1.0/24"),
        "azure.network.subnet_prefix: '10.30.1.0/24' is outside azure.network.address_space 10.20.0.0/16",
    ),
    (
        "azure.network",
        "subnet-prefix-too-small",
        _set("azure.network.subnet_prefix", "10.20.1.8/30"),
        "azure.network.subnet_prefix: '10.20.1.8/30' is smaller than Azure's minimum subnet, a /29",
    ),
    (
        "model",
        "subnet-prefix-host-bits",
        _set("azure.network.subnet_prefix", "10.20.1.10/24"),
        "azure.network.subnet_prefix: '10.20.1.10/24' is not a CIDR (10.20.1.10/24 has host bits set)",
    ),
    (
        "azure.network",
        "address-space-too-small",
        _set("azure.network.address_space", "10.20.1.8/30"),
        "azure.network.address_space: '10.20.1.8/30' is smaller than Azure's minimum, a /29",
    ),
    # ---- admin networks that together amount to "anywhere"
    (
        "ssh.admin_union",
        "admins-two-halves",
        _set("ssh.admin_sources", ["0.0.0.0/1", "128.0.0.0/1"]),
        "ssh.admin_sources: together these networks cover 0.0.0.0/0 and open SSH to the whole internet; "
        "set ssh.allow_ssh_from_anywhere to a reason to allow it",
    ),
    (
        "ssh.admin_union",
        "admins-four-quarters",
        _set("ssh.admin_sources", ["192.0.0.0/2", "0.0.0.0/2", "128.0.0.0/2", "64.0.0.0/2"]),
        "ssh.admin_sources: together these networks cover 0.0.0.0/0",
    ),
    (
        "ssh.admin_union",
        "admins-anywhere-plus-office",
        _set("ssh.admin_sources", ["203.0.113.0/28", "0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/2"]),
        "ssh.admin_sources: together these networks cover 0.0.0.0/0",
    ),
    (
        "ssh.admin_union",
        "admins-half-the-internet",
        _set("ssh.admin_sources", ["0.0.0.0/1"]),
        "ssh.admin_sources: together these networks cover 2092957696 public addresses, more than a /8 (16777216)",
    ),
    (
        "ssh.admin_union",
        "admins-two-public-slash-8",
        _set("ssh.admin_sources", ["11.0.0.0/8", "12.0.0.0/8"]),
        "ssh.admin_sources: together these networks cover 33554432 public addresses, more than a /8",
    ),
    (
        "ssh.admin_union",
        "admins-many-small-blocks",
        _set("ssh.admin_sources", [f"{n}.0.0.0/9" for n in range(20, 40)]),
        "ssh.admin_sources: together these networks cover 167772160 public addresses",
    ),
    (
        "ssh.admin_sources",
        "admins-listed-twice",
        _set("ssh.admin_sources", ["203.0.113.0/28", "198.51.100.7/32", "203.0.113.0/28"]),
        "ssh.admin_sources[2]: '203.0.113.0/28' is already listed as ssh.admin_sources[0]",
    ),
    (
        "ssh.admin_sources",
        "admins-inside-another",
        _set("ssh.admin_sources", ["203.0.113.0/24", "203.0.113.16/28"]),
        "ssh.admin_sources[1]: '203.0.113.16/28' overlaps ssh.admin_sources[0] '203.0.113.0/24'; list each network once",
    ),
    # ---- an inventory with nothing in it
    ("hosts.present", "no-hosts", _set("hosts", {}), "hosts: at least one host is required"),
    (
        "services.present",
        "no-services",
        _set("services", {}),
        "services: at least one service is required (every allow entry names one)",
    ),
    (
        "services.present",
        "no-hosts-no-services",
        _all(_set("hosts", {}), _set("services", {})),
        "services: at least one service",
    ),
    ("model", "hosts-null", _set("hosts", None), "hosts: Input should be a valid dictionary"),
    (
        "hosts.role_needs",
        "backend-without-database",
        _del("hosts.database"),
        "hosts: a backend host needs a database host (the app's DB_HOST)",
    ),
    # ---- further classes: what Prometheus, Traefik, Salt or sshd would refuse later
    (
        "flow.reason",
        "reason-blank",
        _set("hosts.backend.allow.0.reason", "     "),
        "hosts.backend.allow[0].reason: write a reason (at least 3 characters besides blanks)",
    ),
    (
        "flow.reason",
        "reason-padded",
        _set("hosts.backend.allow.0.reason", "  x  "),
        "hosts.backend.allow[0].reason: write a reason",
    ),
    (
        "flow.reason",
        "reason-too-long",
        _set("hosts.backend.allow.1.reason", "r" * 141),
        "hosts.backend.allow[1].reason: 141 characters; it becomes the NSG rule description, which Azure limits to 140",
    ),
    (
        "flow.reason",
        "reason-line-break",
        _set("hosts.database.allow.0.reason", "the app\nand more"),
        "hosts.database.allow[0].reason: contains a line break or control character",
    ),
    (
        "flow.internet_needs_public_ip",
        "internet-to-host-without-public-ip",
        _append("hosts.database.allow", {"service": "https", "from": "internet", "reason": "nobody can"}),
        "hosts.database.allow[5].from: database has no public IP, so the internet cannot reach it; "
        "set public_ip: true or remove this entry",
    ),
    (
        "flow.internet_needs_public_ip",
        "public-ip-off-with-internet-flows",
        _set("hosts.monitoring.public_ip", False),
        "hosts.monitoring.allow[0].from: monitoring has no public IP, so the internet cannot reach it",
    ),
    (
        "ssh.user",
        "ssh-user-root",
        _set("ssh.user", "root"),
        "ssh.user: 'root' is refused: Azure VMs do not allow root logins",
    ),
    (
        "ssh.user",
        "ssh-user-uppercase",
        _set("ssh.user", "Lostops"),
        "ssh.user: 'Lostops' is not a valid Linux user name",
    ),
    ("ssh.user", "ssh-user-digit-first", _set("ssh.user", "1ops"), "ssh.user: '1ops' is not a valid Linux user name"),
    (
        "ssh.user",
        "ssh-user-too-long",
        _set("ssh.user", "u" * 33),
        f"ssh.user: '{'u' * 33}' is not a valid Linux user name",
    ),
    ("ssh.user", "ssh-user-blank", _set("ssh.user", "lost ops"), "ssh.user: 'lost ops' is not a valid Linux user name"),
    (
        "host.ssh_address",
        "ssh-address-bad-ip",
        _set("hosts.backend.ssh_address", "10.20.1.300"),
        "hosts.backend.ssh_address: '10.20.1.300' is not an IP address or a host name",
    ),
    (
        "host.ssh_address",
        "ssh-address-with-user",
        _set("hosts.backend.ssh_address", "lostops@app.lostops.example.com"),
        "hosts.backend.ssh_address: 'lostops@app.lostops.example.com' is not an IP address or a host name",
    ),
    (
        "host.ssh_address",
        "ssh-address-with-port",
        _set("hosts.backend.ssh_address", "app.lostops.example.com:2222"),
        "hosts.backend.ssh_address: 'app.lostops.example.com:2222' is not an IP address or a host name",
    ),
    (
        "scrape.path",
        "metrics-path-relative",
        _set("services.node-exporter.scrape.path", "metrics"),
        "services.node-exporter.scrape.path: 'metrics' is not a metrics path (starts with '/', no blanks, no '?' or '#')",
    ),
    (
        "scrape.path",
        "metrics-path-query",
        _set("services.cadvisor.scrape.path", "/metrics?format=prometheus"),
        "services.cadvisor.scrape.path: '/metrics?format=prometheus' is not a metrics path",
    ),
    (
        "scrape.path",
        "metrics-path-blank",
        _set("services.cadvisor.scrape.path", "/my metrics"),
        "services.cadvisor.scrape.path: '/my metrics' is not a metrics path",
    ),
    (
        "scrape.job",
        "job-name-blank",
        _set("services.node-exporter.scrape.job", "node exporter"),
        "services.node-exporter.scrape.job: 'node exporter' is not a usable Prometheus job name",
    ),
    (
        "scrape.job",
        "job-name-empty",
        _set("services.node-exporter.scrape.job", ""),
        "services.node-exporter.scrape.job: '' is not",
    ),
    (
        "scrape.target",
        "scrape-a-port-range",
        _set("services.exporters", {"port": "9200-9210", "scrape": {"job": "many"}}),
        "services.exporters.scrape: a port range (9200-9210) cannot be scraped; give the exporter one port",
    ),
    (
        "scrape.target",
        "scrape-udp",
        _set("services.statsd", {"port": 8125, "protocol": "udp", "scrape": {"job": "statsd"}}),
        "services.statsd.scrape: only tcp services can be scraped",
    ),
    (
        "host.dns",
        "dns-uppercase",
        _set("hosts.backend.dns", ["App.lostops.example.com"]),
        "hosts.backend.dns[0]: 'App.lostops.example.com': write DNS names in lowercase ('app.lostops.example.com')",
    ),
    (
        "host.dns",
        "dns-trailing-dot",
        _set("hosts.backend.dns", ["app.lostops.example.com."]),
        "hosts.backend.dns[0]: 'app.lostops.example.com.': write the name without the trailing dot",
    ),
    (
        "host.dns",
        "dns-zone-apex",
        _set("hosts.backend.dns", ["lostops.example.com"]),
        "hosts.backend.dns[0]: 'lostops.example.com' is not inside the zone 'lostops.example.com'",
    ),
    (
        "host.dns",
        "dns-wildcard",
        _set("hosts.backend.dns", ["*.lostops.example.com"]),
        "hosts.backend.dns[0]: '*.lostops.example.com' is not a valid DNS name",
    ),
    (
        "host.dns",
        "dns-too-long",
        _set("hosts.backend.dns", [".".join(["a" * 60] * 4) + ".lostops.example.com"]),
        "hosts.backend.dns[0]: '" + "a" * 60 + "." + "a" * 38 + "... (263 characters) is not a valid DNS name (longer",
    ),
    (
        "host.name",
        "host-name-trailing-hyphen",
        _add_host("cache-"),
        "hosts.cache-: host names are lowercase letters, digits and '-', starting with a letter, not ending in '-'",
    ),
    (
        "host.name",
        "host-name-uppercase",
        _add_host("Cache"),
        "hosts.Cache: host names are lowercase letters, digits and '-'",
    ),
    (
        "host.name",
        "host-named-admins",
        _add_host("admins"),
        "hosts.admins: 'admins' is reserved for flow sources",
    ),
    (
        "service.name",
        "service-name-trailing-hyphen",
        _set("services.metrics-", {"port": 9999}),
        "services.metrics-: service names are lowercase letters, digits and '-', starting with a letter",
    ),
    (
        "host.ssh_reachable",
        "nested-jump",
        _all(
            _set("hosts.backend.ssh_via", "database"),
            _append("hosts.backend.allow", {"service": "ssh", "from": "database", "reason": "jump"}),
        ),
        "hosts.backend.ssh_via: 'database' is itself reached through ssh_via; the roster supports one jump",
    ),
    (
        "host.ssh_reachable",
        "direct-host-without-admin-ssh",
        lambda d: d["hosts"]["monitoring"]["allow"].pop(2),
        "hosts.monitoring.allow: salt-ssh connects to monitoring directly, but no entry lets admins reach SSH; "
        "add {service: ssh, from: admins}",
    ),
    (
        "host.flow_count",
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
    ("model", "name-is-not-a-key", _set("name", "prod"), "name: unknown key"),
]


# ---- hostile inputs, one class each (issue: every hostile input gets one clear line)
ZW = "\u200b"  # zero-width space
OFFICE = "203.0.113.0/28"


def _rename_service(old: str, new: str):
    def fn(d):
        d["services"][new] = d["services"].pop(old)
        for host in d["hosts"].values():
            for flow in host["allow"]:
                if flow["service"] == old:
                    flow["service"] = new

    return fn


HOSTILE = [
    # names that end in a line break ($ matches before a final "\n"): full matches everywhere
    ("host.name", "host-name-newline", _add_host("backend2\n"), "hosts.backend2\\n: host names are lowercase"),
    (
        "service.name",
        "service-name-newline",
        _set("services.web\n", {"port": 8443}),
        "services.web\\n: service names are lowercase",
    ),
    ("ssh.user", "user-newline", _set("ssh.user", "lostops\n"), "ssh.user: 'lostops\\n' is not a valid Linux user"),
    (
        "azure.dns_zone",
        "zone-newline",
        _set("azure.dns_zone.name", "lostops.example.com\n"),
        "azure.dns_zone.name: 'lostops.example.com\\n' is not a valid DNS name",
    ),
    (
        "scrape.job",
        "job-newline",
        _set("services.node-exporter.scrape.job", "node\n"),
        "services.node-exporter.scrape.job: 'node\\n' is not a usable Prometheus job name",
    ),
    (
        "azure.names",
        "resource-group-newline",
        _set("azure.resource_group", "lostops-network\n"),
        "azure.resource_group: 'lostops-network\\n' is not a valid resource group name",
    ),
    (
        "host.azure_names",
        "vm-newline",
        _set("hosts.backend.vm.name", "lostops-backend\n"),
        "hosts.backend.vm.name: 'lostops-backend\\n' is not a valid virtual machine name",
    ),
    (
        "azure.state_backend",
        "storage-account-newline",
        _backend(storage_account="lostopstfstate\n"),
        "azure.state_backend.storage_account: 'lostopstfstate\\n' is not a valid storage account name",
    ),
    (
        "azure.names",
        "resource-group-non-ascii-letters",
        _set("azure.resource_group", "lostops-r\u00e9seau"),
        "azure.resource_group: 'lostops-r\u00e9seau' is not a valid resource group name",
    ),
    # ports written with non-ASCII digits (int() reads them; nft and az do not)
    (
        "model",
        "port-fullwidth-digits",
        _set("services.mysql.port", "\uff13\uff13\uff10\uff16"),
        "services.mysql.port: '\uff13\uff13\uff10\uff16' is not a port or a range",
    ),
    (
        "model",
        "range-fullwidth-digits",
        _set("services.http.port", "\uff18\uff10-\uff18\uff11"),
        "services.http.port: '\uff18\uff10-\uff18\uff11' is not a port or a range",
    ),
    (
        "model",
        "range-arabic-indic-digits",
        _set("services.http.port", "\u0668\u0660-\u0668\u0661"),
        "services.http.port: '\u0668\u0660-\u0668\u0661' is not a port or a range",
    ),
    # a non-web service from the internet needs a named override
    (
        "flow.non_web_from_internet",
        "mysql-from-internet",
        _append("hosts.backend.allow", {"service": "mysql", "from": "internet", "reason": "remote reporting"}),
        "hosts.backend.allow[6].from: mysql (3306/tcp) from the internet is refused: only HTTP and HTTPS",
    ),
    (
        "flow.non_web_from_internet",
        "exporter-from-internet",
        _append("hosts.backend.allow", {"service": "node-exporter", "from": "internet", "reason": "saas metrics"}),
        "hosts.backend.allow[6].from: node-exporter (9100/tcp) from the internet is refused",
    ),
    (
        "flow.non_web_from_internet",
        "docker-api-from-internet",
        _all(
            _set("services.docker-api", {"port": 2375}),
            _append("hosts.backend.allow", {"service": "docker-api", "from": "internet", "reason": "remote builds"}),
        ),
        "hosts.backend.allow[6].from: docker-api (2375/tcp) from the internet is refused",
    ),
    (
        "flow.non_web_from_internet",
        "udp-443-from-internet",
        _all(
            _set("services.quic", {"port": 443, "protocol": "udp"}),
            _append("hosts.backend.allow", {"service": "quic", "from": "internet", "reason": "HTTP/3"}),
        ),
        "hosts.backend.allow[6].from: quic (443/udp) from the internet is refused",
    ),
    (
        "flow.non_web_from_internet",
        "high-ports-from-internet",
        _all(
            _set("services.high", {"port": "1024-65535"}),
            _append("hosts.backend.allow", {"service": "high", "from": "internet", "reason": "passive ports"}),
        ),
        "hosts.backend.allow[6].from: high (1024-65535/tcp) from the internet is refused",
    ),
    (
        "flow.non_web_from_internet",
        "override-not-a-reason",
        _append(
            "hosts.backend.allow",
            {"service": "mysql", "from": "internet", "reason": "reporting", "allow_non_web_from_internet": "yes"},
        ),
        "hosts.backend.allow[6].allow_non_web_from_internet: 'yes' is a yes/no word, not a reason",
    ),
    (
        "flow.non_web_from_internet",
        "override-where-none-is-needed",
        _set("hosts.backend.allow.0.allow_non_web_from_internet", "because the app is public"),
        "hosts.backend.allow[0].allow_non_web_from_internet: only for a non-web service from the internet",
    ),
    # port 22 is SSH under any name; SSH is the service named `ssh`
    (
        "service.ssh",
        "port-22-under-another-name",
        _all(_set("services.ssh.port", 2222), _set("services.shell", {"port": 22})),
        "services.shell.port: 22/tcp includes port 22, which is SSH",
    ),
    (
        "service.ssh",
        "all-ports-include-22",
        _set("services.all", {"port": "1-65535", "protocol": "tcp"}),
        "services.all.port: 1-65535/tcp includes port 22, which is SSH",
    ),
    (
        "flow.ssh_from_internet",
        "port-22-from-internet-under-another-name",
        _all(
            _set("services.ssh.port", 2222),
            _set("services.shell", {"port": 22}),
            _append("hosts.backend.allow", {"service": "shell", "from": "internet", "reason": "vendor access"}),
        ),
        "hosts.backend.allow[6].from: SSH from the internet is refused",
    ),
    ("service.ssh", "ssh-service-missing", _rename_service("ssh", "secure-shell"), "services: a service named 'ssh'"),
    ("service.ssh", "ssh-over-udp", _set("services.ssh.protocol", "udp"), "services.ssh: SSH is one tcp port"),
    ("service.ssh", "ssh-as-range", _set("services.ssh.port", "22-23"), "services.ssh: SSH is one tcp port"),
    # override reasons that are not reasons
    *[
        (
            "ssh.override_reason",
            f"anywhere-reason-{i}",
            _set("ssh.allow_ssh_from_anywhere", value),
            f"ssh.allow_ssh_from_anywhere: {expected}",
        )
        for i, (value, expected) in enumerate(
            [
                ("false", "'false' is a yes/no word, not a reason"),
                ("no", "'no' is a yes/no word, not a reason"),
                ("No.", "'No.' is a yes/no word, not a reason"),
                ("", "write a reason (at least 10 characters besides blanks)"),
                ("      ", "write a reason (at least 10 characters besides blanks)"),
                (ZW * 12, "write a reason (at least 10 characters besides blanks)"),
                ("\u00a0\u3000\u2003" * 5, "write a reason (at least 10 characters besides blanks)"),
                ("because", "write a reason (at least 10 characters besides blanks)"),
                (f"break{ZW}glass for incident 42", "contains invisible characters"),
                ("incident 42 \u202eevil", "contains invisible characters"),
                ("incident 42\nforce=true", "contains a line break or control character"),
            ]
        )
    ],
    (
        "ssh.override_reason",
        "anywhere-not-a-reason-keeps-ssh-closed",
        _all(_set("ssh.admin_sources", ["0.0.0.0/0"]), _set("ssh.allow_ssh_from_anywhere", "true")),
        "ssh.allow_ssh_from_anywhere: 'true' is a yes/no word",
    ),
    (
        "ssh.admin_sources",
        "anywhere-false-still-refused",
        _all(_set("ssh.admin_sources", ["0.0.0.0/0"]), _set("ssh.allow_ssh_from_anywhere", "false")),
        "ssh.admin_sources[0]: '0.0.0.0/0' opens SSH to the whole internet",
    ),
    (
        "flow.reason",
        "flow-reason-boolean",
        _set("hosts.backend.allow.0.reason", "false"),
        "hosts.backend.allow[0].reason: 'false' is a yes/no word",
    ),
    (
        "flow.reason",
        "flow-reason-invisible",
        _set("hosts.backend.allow.0.reason", ZW * 5),
        "hosts.backend.allow[0].reason: write a reason",
    ),
    (
        "flow.reason",
        "flow-reason-bidi",
        _set("hosts.backend.allow.0.reason", "the app \u202egnp.exe"),
        "hosts.backend.allow[0].reason: contains invisible characters",
    ),
    # a scrape job named like a built-in job: promtool would refuse the configuration
    *[
        (
            "scrape.job",
            f"job-is-built-in-{job}",
            _set("services.node-exporter.scrape.job", job),
            f"services.node-exporter.scrape.job: '{job}' is a job Prometheus already scrapes",
        )
        for job in ("prometheus", "alertmanager", "grafana")
    ],
    # a value far too long is cut, never echoed whole
    (
        "host.azure_names",
        "huge-vm-name-is-cut",
        _set("hosts.backend.vm.name", "v" * 5000),
        "hosts.backend.vm.name: '" + "v" * 99 + "... (5000 characters) is not a valid virtual machine name",
    ),
    (
        "model",
        "huge-port-is-cut",
        _set("services.mysql.port", 10**300),
        "services.mysql.port: " + "1" + "0" * 99 + "... (301 characters) is outside 1-65535",
    ),
    (
        "model",
        "huge-ip-is-cut",
        _set("hosts.backend.private_ip", "1" * 3000),
        "hosts.backend.private_ip: '" + "1" * 99 + "... (3000 characters) is not an IP address",
    ),
]
BAD += HOSTILE


def _backup(**fields):
    return lambda d: d["azure"]["backup"].update(fields)


BAD += [
    # azure.backup: the off-host backup storage account (stacks/backup.py)
    (
        "azure.backup",
        "backup-account-case",
        _backup(storage_account="Lostops_Backups"),
        "azure.backup.storage_account: 'Lostops_Backups' is not a valid storage account name",
    ),
    (
        "azure.backup",
        "backup-container-case",
        _backup(container="Backups"),
        "azure.backup.container: 'Backups' is not a valid storage container name",
    ),
    (
        "azure.backup",
        "backup-deleted-while-immutable",
        _backup(delete_after_days=20),
        "azure.backup.delete_after_days: 20 must be longer than immutability_days (30)",
    ),
    (
        "azure.backup",
        "backup-plain-http-to-a-public-name",
        _backup(endpoint="http://backups.example.com/acct"),
        "azure.backup.endpoint: 'http://backups.example.com/acct': backups leave the host over HTTPS",
    ),
    (
        "azure.backup",
        "backup-endpoint-with-query",
        _backup(endpoint="https://x.example.com/?sv=1"),
        "azure.backup.endpoint: 'https://x.example.com/?sv=1' is not an http(s) URL without query or fragment",
    ),
    (
        "azure.backup",
        "backup-without-database",
        lambda d: d["hosts"].pop("database"),
        "azure.backup: off-host backups need a host with role database",
    ),
    ("model", "backup-replication", _backup(replication="XRS"), "azure.backup.replication: 'XRS' is not one of"),
    ("model", "backup-soft-delete-zero", _backup(soft_delete_days=0), "azure.backup.soft_delete_days:"),
    ("model", "backup-unknown-key", _backup(retention=3), "azure.backup.retention: unknown key"),
]


SALT_PORTS = {"salt-publish": {"port": 4505, "protocol": "tcp"}, "salt-return": {"port": 4506, "protocol": "tcp"}}


def _salt_master(master="monitoring", **services):
    """salt.master set, with the two ZeroMQ services (overridden by `services`; None drops one)."""

    def fn(d):
        d["salt"] = {"master": master}
        for name, svc in {**SALT_PORTS, **services}.items():
            if svc is not None:
                d["services"][name] = svc

    return fn


BAD += [
    # salt.master: Salt's own distributed mode opens the ZeroMQ ports on the master only
    (
        "salt.master",
        "salt-master-unknown-host",
        _salt_master("salt"),
        "salt.master: 'salt' is not a host of this inventory (hosts: backend, database, monitoring)",
    ),
    (
        "salt.master",
        "salt-master-without-return-service",
        _salt_master(**{"salt-return": None}),
        "services: salt.master needs a service named 'salt-return' (Salt's ZeroMQ port, e.g. {port: 4506, protocol: tcp})",
    ),
    (
        "salt.master",
        "salt-publish-as-a-range",
        _salt_master(**{"salt-publish": {"port": "4505-4506"}, "salt-return": None}),
        "services.salt-publish: Salt's ZeroMQ port is one tcp port (e.g. {port: 4505, protocol: tcp})",
    ),
    (
        "salt.master",
        "salt-return-over-udp",
        _salt_master(**{"salt-return": {"port": 4506, "protocol": "udp"}}),
        "services.salt-return: Salt's ZeroMQ port is one tcp port",
    ),
    (
        "salt.master",
        "salt-flow-rule-name-too-long",
        _all(_salt_master(), _add_host("b" * 60)),
        f"hosts.{'b' * 60}: the Salt flow's NSG rule name 'allow-salt-publish-from-{'b' * 60}' has 84 characters",
    ),
    (
        "salt.flows",
        "salt-flow-by-hand",
        _all(
            _salt_master(),
            _append("hosts.monitoring.allow", {"service": "salt-return", "from": "backend", "reason": "minion"}),
        ),
        "hosts.monitoring.allow[6].service: salt-return flows follow from salt.master (to the master from every "
        "other host); remove this entry",
    ),
    (
        "salt.flows",
        "salt-flow-by-hand-without-master",
        _all(
            _set("services.salt-publish", {"port": 4505}),
            _append("hosts.backend.allow", {"service": "salt-publish", "from": "admins", "reason": "minions"}),
        ),
        "hosts.backend.allow[6].service: salt-publish flows follow from salt.master",
    ),
    (
        "host.flow_count",
        "salt-flows-count-against-nsg-priorities",
        lambda d: [
            _salt_master()(d),
            [
                (
                    d["services"].__setitem__(f"s{i}", {"port": 20000 + i}),
                    d["hosts"]["monitoring"]["allow"].append({"service": f"s{i}", "from": "admins", "reason": "many"}),
                )
                for i in range(391)
            ],
        ],
        "hosts.monitoring.allow: 397 entries and 4 Salt flows from salt.master; at most 400 fit",
    ),
    (
        "model",
        "salt-unknown-key",
        _set("salt", {"master": "monitoring", "minions": "all"}),
        "salt.minions: unknown key",
    ),
]


@pytest.mark.parametrize("check,mutation,expected", [pytest.param(c, m, e, id=f"{c}:{i}") for c, i, m, e in BAD])
def test_bad_input_is_one_line_naming_the_field(check, mutation, expected):
    """Each hostile input: one line naming the field, from the check it belongs to (CHECKS[check])."""
    data = mutated(mutation)
    lines = problems(data)
    assert all("\n" not in line and len(line) < 400 for line in lines), lines
    assert any(line.startswith(expected) for line in lines), lines
    if check != "model":
        inv = inventory.Inventory.model_validate({**data, "name": ""})
        own = [inventory._one_line(f"{p}: {m}") for p, m in inventory.CHECKS[check].run(inv)]
        assert any(line.startswith(expected) for line in own), (check, own)


def test_every_check_has_hostile_cases():
    """The checks are a table; every entry has its own hostile inputs above (or in STEMS below)."""
    covered = {c for c, *_ in BAD} | {"inventory.name"}
    assert set(inventory.CHECKS) <= covered, sorted(set(inventory.CHECKS) - covered)
    assert not {c for c, *_ in BAD} - set(inventory.CHECKS) - {"model"}
    ids = [i for _, i, *_ in BAD]
    assert len(ids) == len(set(ids)), "case ids are unique"


def test_the_override_with_a_reason_opens_a_non_web_service():
    data = mutated(
        _append(
            "hosts.backend.allow",
            {
                "service": "mysql",
                "from": "internet",
                "reason": "reporting",
                "allow_non_web_from_internet": "vendor reporting until ticket OPS-12 closes",
            },
        )
    )
    assert parse(data).hosts["backend"].allow[-1].allow_non_web_from_internet.startswith("vendor")


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
    ("salt-master-on-monitoring", _salt_master()),
    ("salt-master-on-a-backend", _salt_master("backend")),
    ("salt-services-without-master", _all(*(_set(f"services.{n}", s) for n, s in SALT_PORTS.items()))),
    ("salt-master-null", _set("salt", {"master": None})),
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


# ---- the file itself: YAML that would crash or hang the loader, and the file's name

YAML_HOSTILE = [
    # (id, text, expected line): one line each, the offending input cut
    (
        "alias-bomb",
        "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n",
        "not valid YAML (line 2, column 8): aliases (*a) are not allowed",
    ),
    (
        "merge-key-alias",
        "base: &b {role: backend}\nhosts:\n  x:\n    <<: *b\n",
        "not valid YAML (line 4, column 9): aliases (*b)",
    ),
    (
        "deep-nesting",
        "hosts: " + "[" * 10000 + "]" * 10000 + "\n",
        "not valid YAML (line 1, column 27): nested deeper than 20 levels",
    ),
    (
        "deep-mapping",
        "".join("  " * i + f"k{i}:\n" for i in range(40)),
        "not valid YAML (line 20, column 39): nested deeper than 20 levels",
    ),
    (
        "huge-number",
        "services:\n  x: {port: " + "9" * 5000 + "}\n",
        "not valid YAML (line 2, column 13): a number of 5000 digits is too long",
    ),
    (
        "invalid-date",
        "azure:\n  location: 2024-13-45\n",
        "not valid YAML (line 2, column 13): '2024-13-45' is not a valid timestamp",
    ),
    (
        "list-as-key",
        "hosts:\n  ? [a, b]\n  : {}\n",
        "not valid YAML (line 2, column 5): a mapping key must be a plain value",
    ),
    (
        "mapping-as-key",
        "hosts:\n  ? {a: 1}\n  : {}\n",
        "not valid YAML (line 2, column 5): a mapping key must be a plain value",
    ),
    (
        "python-tag",
        "hosts: !!python/object/apply:os.system [id]\n",
        "not valid YAML (line 1): could not determine a constructor",
    ),
]


@pytest.mark.parametrize("text,expected", [pytest.param(t, e, id=i) for i, t, e in YAML_HOSTILE])
def test_hostile_yaml_is_one_short_line(tmp_path, text, expected):
    (line,) = _load_bytes(tmp_path, text.encode())
    assert line.startswith(expected), line
    assert len(line) < 200 and "9999999999" * 3 not in line


STEMS = [
    # (file name, why): the stem names the firewall, labels, tags and pillar/overrides/<name>
    ("Prod.yaml", "uppercase"),
    ("prod\n.yaml", "a line break"),
    ("prod env.yaml", "a blank"),
    ("-prod.yaml", "a leading '-'"),
    ("prod_1.yaml", "an underscore"),
    ("pr\u00f6d.yaml", "a non-ASCII letter"),
]


@pytest.mark.parametrize("stem", [pytest.param(s, id=why) for s, why in STEMS])
def test_inventory_name_is_validated_like_a_host_name(tmp_path, stem):
    path = tmp_path / stem
    path.write_text((ROOT / "pillar/inventory/example.yaml").read_text())
    with pytest.raises(InventoryError) as exc:
        inventory.load(str(path))
    (line,) = exc.value.lines()
    assert line.startswith("the inventory's name "), line
    assert "\n" not in line
    assert inventory.selected_name(str(path)) is None


def test_overrides_are_selected_by_the_validated_name(tmp_path):
    assert inventory.selected_name("lab") == "lab"
    assert inventory.selected_name(str(tmp_path / "staging.yaml")) == "staging"
    assert inventory.selected_name("../x/passwd") == "passwd", "a path: its stem, validated"
    assert inventory.selected_name("../x/pass.wd.yaml") is None
    assert inventory.selected_name("lab\n") is None


def test_built_in_scrape_jobs_are_the_ones_the_prometheus_template_defines():
    """The scrape.job check refuses exactly the jobs salt/monitoring's prometheus.yml always has."""
    import re

    text = (ROOT / "salt/monitoring/files/prometheus/prometheus.yml.jinja").read_text()
    block = text[
        text.index("The monitoring stack itself") : text.index("%}", text.index("The monitoring stack itself"))
    ]
    assert tuple(re.findall(r"\('([a-z]+)', '", block)) == inventory.BUILTIN_SCRAPE_JOBS


# --------------------------------------------------------------------------- azure.backup


def test_backup_storage_endpoint_default_and_lab_emulator():
    assert inventory.load("example").azure.backup.blob_endpoint == "https://lostopsbackupsexample.blob.core.windows.net"
    # plain http only to a private address: the lab's Azurite on the outer machine
    assert inventory.load("lab").azure.backup.blob_endpoint == "http://10.77.0.1:10000/devstoreaccount1"
    assert parse(mutated(lambda d: d["azure"].pop("backup"))).azure.backup is None
