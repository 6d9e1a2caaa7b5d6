"""The inventory: one YAML file that says what exists and who may reach what.

Load it with :func:`load`. Every problem is reported as one line
``<field path>: <problem>`` (for example
``hosts.database.private_ip: '10.0.0.300' is not an IP address``) through
:class:`InventoryError`, before anything is synthesized or applied.

Selection: ``LOSTOPS_INVENTORY`` is either a name (``example``, ``lab``,
``production`` → ``pillar/inventory/<name>.yaml``) or a path to a YAML file.
``LOSTOPS_EXTRA_ADMIN_SOURCES`` (comma-separated CIDRs) is appended to
``ssh.admin_sources``; the release workflow uses it for just-in-time SSH.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import sys
from pathlib import Path
from typing import Any, Literal, TextIO

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lostops import nsg, roles
from lostops.yamlload import DuplicateKeyError, NotUtf8Error, decode_utf8, load_strict

REPO_ROOT = Path(__file__).resolve().parent.parent
INVENTORY_DIR = REPO_ROOT / "pillar" / "inventory"
DEFAULT_INVENTORY = "example"
ENV_INVENTORY = "LOSTOPS_INVENTORY"
ENV_EXTRA_ADMIN_SOURCES = "LOSTOPS_EXTRA_ADMIN_SOURCES"

# Flow sources that are not host names.
INTERNET = "internet"
ADMINS = "admins"
RESERVED_SOURCES = (INTERNET, ADMINS)
# The roles and what each one runs: lostops/roles.py (the only role table).
ROLES = roles.names()

# Host and service names: Salt minion ids, NSG rule names, compose keys. A
# trailing '-' would end an NSG rule name ("allow-x-from-backend-"), which Azure refuses.
_NAME = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Linux user names (shadow-utils' portable form, at most 32 characters).
_LINUX_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
# Prometheus job names become the `job` label and appear in alert rules and dashboards.
_JOB = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_-]{0,62}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Azure's naming rules ("Naming rules and restrictions for Azure resources",
# learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules):
# kind -> (min length, max length, pattern, what the rule says).
_AZ_NET_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$")
_AZ_NET_RULE = "letters, digits, '_', '.' and '-', starting with a letter or digit, ending with a letter, digit or '_'"
AZURE_NAMES: dict[str, tuple[int, int, re.Pattern, str]] = {
    "resource group": (
        1,
        90,
        re.compile(r"^[\w.()-]*[\w()-]$"),
        "letters, digits, '_', '-', '.', '(' and ')', not ending in '.'",
    ),
    # The VM resource name; its NSG '<vm>-nsg' and public IP '<vm>-ip' follow the
    # network rules (1-80), which a valid VM name (at most 64) always meets.
    "virtual machine": (1, 64, _AZ_NET_NAME, _AZ_NET_RULE),
    "network interface": (1, 80, _AZ_NET_NAME, _AZ_NET_RULE),
    "IP configuration": (1, 80, _AZ_NET_NAME, _AZ_NET_RULE),
    "virtual network": (2, 64, _AZ_NET_NAME, _AZ_NET_RULE),
    "subnet": (1, 80, _AZ_NET_NAME, _AZ_NET_RULE),
    "storage account": (3, 24, re.compile(r"^[a-z0-9]+$"), "lowercase letters and digits"),
    "storage container": (
        3,
        63,
        re.compile(r"^[a-z0-9](?:-?[a-z0-9])*$"),
        "lowercase letters, digits and single '-', starting and ending with a letter or digit",
    ),
}
NSG_RULE_NAME_MAX = 80
NSG_DESCRIPTION_MAX = 140  # azurerm_network_security_rule.description
BLOB_NAME_MAX = 1024

# Azure region names (`az account list-locations --query [].name`): public
# cloud, Azure Government and Azure China. A list rather than a pattern, because a
# pattern accepts 'westeurop' and 'westeurope2', which only `cdktf deploy` would
# refuse. A region Azure opens later is one line here.
KNOWN_LOCATIONS = frozenset(
    """
    australiacentral australiacentral2 australiaeast australiasoutheast austriaeast belgiumcentral
    brazilsouth brazilsoutheast canadacentral canadaeast centralindia centralus centraluseuap chilecentral
    eastasia eastus eastus2 eastus2euap francecentral francesouth germanynorth germanywestcentral
    indonesiacentral israelcentral italynorth japaneast japanwest jioindiacentral jioindiawest koreacentral
    koreasouth malaysiawest mexicocentral newzealandnorth northcentralus northeurope norwayeast norwaywest
    polandcentral qatarcentral southafricanorth southafricawest southcentralus southeastasia southindia
    spaincentral swedencentral swedensouth switzerlandnorth switzerlandwest uaecentral uaenorth uksouth
    ukwest westcentralus westeurope westindia westus westus2 westus3
    usdodcentral usdodeast usgovarizona usgovtexas usgovvirginia
    chinaeast chinaeast2 chinaeast3 chinanorth chinanorth2 chinanorth3
    """.split()
)

# Roles the Salt formulas support only once (one Prometheus, one MySQL primary).
SINGLE_ROLES = roles.single_roles()

# SSH from admin networks whose union covers more public addresses than a /8 is
# refused without ssh.allow_ssh_from_anywhere: the largest blocks ever assigned to
# one organisation are /8s, so a wider set of admin networks is not "our offices
# and VPN" but a sizeable slice of the internet (a /8 is 1/256 of IPv4).
ADMIN_PUBLIC_MAX = 2**24
_NOT_PUBLIC = tuple(
    ipaddress.collapse_addresses(
        ipaddress.IPv4Network(n)
        for n in (
            "0.0.0.0/8",
            "10.0.0.0/8",
            "100.64.0.0/10",
            "127.0.0.0/8",
            "169.254.0.0/16",
            "172.16.0.0/12",
            "192.0.0.0/24",
            "192.0.2.0/24",
            "192.168.0.0/16",
            "198.18.0.0/15",
            "198.51.100.0/24",
            "203.0.113.0/24",
            "224.0.0.0/4",
            "240.0.0.0/4",
        )
    )
)


class InventoryError(Exception):
    """One or more problems, each ``(field path, message)``."""

    def __init__(self, problems: list[tuple[str, str]], source: str | None = None):
        self.problems = problems
        self.source = source
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [f"{path}: {msg}" if path else msg for path, msg in self.problems]


def _ip(value: Any) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(str(value))
    except ValueError:
        raise ValueError(f"{str(value)!r} is not an IP address") from None


def _cidr(value: Any) -> ipaddress.IPv4Network:
    text = str(value)
    if text.strip() in ("*", "any", "Internet"):
        raise ValueError(f"{text!r} is not a CIDR; write the networks that are allowed")
    try:
        return ipaddress.IPv4Network(text, strict=True)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a CIDR ({exc})") from None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Scrape(_Model):
    job: str
    path: str = "/metrics"


class Service(_Model):
    """A named port (or range) and protocol, written once."""

    port: int | str
    protocol: Literal["tcp", "udp"] = "tcp"
    scrape: Scrape | None = None

    @field_validator("port", mode="before")
    @classmethod
    def _port(cls, value: Any) -> int | str:
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a port")
        if isinstance(value, int):
            if not 1 <= value <= 65535:
                raise ValueError(f"{value} is outside 1-65535")
            return value
        text = str(value)
        match = re.fullmatch(r"(\d+)-(\d+)", text)
        if not match:
            raise ValueError(f"{text!r} is not a port or a range like 30000-30010")
        low, high = int(match[1]), int(match[2])
        for p in (low, high):
            if not 1 <= p <= 65535:
                raise ValueError(f"{text!r}: {p} is outside 1-65535")
        if low > high:
            raise ValueError(f"{text!r} is an empty range")
        return text

    @property
    def port_range(self) -> tuple[int, int]:
        if isinstance(self.port, int):
            return self.port, self.port
        low, high = self.port.split("-")
        return int(low), int(high)


class Flow(_Model):
    """One allowed inbound flow: a service, from a source, for a reason."""

    service: str
    source: str = Field(alias="from")
    reason: str = Field(min_length=3)


class AzureRef(_Model):
    name: str  # Azure's naming rules are checked in _check_hosts
    resource_group: str


class Nic(AzureRef):
    ip_configuration: str = "ipconfig1"


class Host(_Model):
    role: str  # a key of lostops.roles.ROLES
    vm: AzureRef
    nic: Nic
    private_ip: ipaddress.IPv4Address
    public_ip: bool | None = None
    ssh_via: str | None = None
    ssh_address: str | None = None
    dns: tuple[str, ...] = ()
    allow: tuple[Flow, ...]

    _check_ip = field_validator("private_ip", mode="before")(lambda cls, v: _ip(v))

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        if value not in roles.ROLES:
            raise ValueError(f"{value!r} is not one of {roles.described()}")
        return value

    @property
    def has_public_ip(self) -> bool:
        """Default: the role's (lostops/roles.py: backend and monitoring get one, the database does not)."""
        if self.public_ip is None:
            return roles.get(self.role).public_ip
        return self.public_ip


class Network(_Model):
    virtual_network: str
    subnet: str
    resource_group: str
    address_space: ipaddress.IPv4Network
    # The subnet the NICs are in (CIDR inside address_space); default: the address space.
    subnet_prefix: ipaddress.IPv4Network | None = None

    @field_validator("address_space", "subnet_prefix", mode="before")
    @classmethod
    def _space(cls, value: Any) -> ipaddress.IPv4Network | None:
        if value is None:
            return None
        if "/" not in str(value):
            raise ValueError(f"{str(value)!r} needs a prefix length, e.g. 10.20.0.0/16")
        return _cidr(value)

    @property
    def subnet_cidr(self) -> ipaddress.IPv4Network:
        return self.subnet_prefix or self.address_space


class DnsZone(_Model):
    name: str
    resource_group: str


class StateBackend(_Model):
    resource_group: str
    storage_account: str
    container: str
    key: str
    use_oidc: bool = True


class Azure(_Model):
    location: str
    resource_group: str
    network: Network
    dns_zone: DnsZone
    state_backend: StateBackend | None = None


class Ssh(_Model):
    user: str
    admin_sources: tuple[ipaddress.IPv4Network, ...]
    # The named override: a reason string. Anything falsy keeps SSH closed to 0.0.0.0/0.
    allow_ssh_from_anywhere: str | None = None

    @field_validator("admin_sources", mode="before")
    @classmethod
    def _sources(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            if not value:
                raise ValueError("at least one admin network is required (SSH would be closed to everyone)")
            return tuple(_cidr(v) for v in value)
        return value


class Inventory(_Model):
    azure: Azure
    ssh: Ssh
    services: dict[str, Service]
    hosts: dict[str, Host]

    # Set by load(); not part of the file.
    name: str = Field(default="", exclude=True)

    def host(self, name: str) -> Host:
        return self.hosts[name]

    def hosts_with_role(self, role: str) -> list[str]:
        return [n for n, h in self.hosts.items() if h.role == role]

    def source_networks(self, source: str) -> tuple[ipaddress.IPv4Network, ...]:
        """The networks a flow source stands for (internet = everything)."""
        if source == INTERNET:
            return (ipaddress.IPv4Network("0.0.0.0/0"),)
        if source == ADMINS:
            return self.ssh.admin_sources
        return (ipaddress.IPv4Network(f"{self.hosts[source].private_ip}/32"),)


# --------------------------------------------------------------------------- checks


def _azure_name(path: str, value: str, kind: str) -> list[tuple[str, str]]:
    low, high, pattern, rule = AZURE_NAMES[kind]
    if low <= len(value) <= high and pattern.match(value):
        return []
    return [(path, f"{value!r} is not a valid {kind} name ({low}-{high} {rule})")]


def _dns_name(value: str, zone: bool = False) -> str | None:
    """Why `value` is not a usable DNS name (or zone), or None."""
    if value != value.lower():
        return f"{value!r}: write DNS names in lowercase ({value.lower()!r})"
    if value.endswith("."):
        return f"{value!r}: write the name without the trailing dot ({value.rstrip('.')!r})"
    if len(value) > 253:
        return f"{value!r} is not a valid DNS name (longer than 253 characters)"
    labels = value.split(".")
    if not all(_LABEL.match(lbl) for lbl in labels):
        return f"{value!r} is not a valid DNS name (labels are 1-63 letters, digits and '-', not starting or ending with '-')"
    if labels[-1].isdigit():
        return f"{value!r} is not a valid DNS name (the top-level label is all digits)"
    if zone and len(labels) < 2:
        return f"{value!r} is not a valid DNS zone name (at least two labels, e.g. example.com)"
    if zone and len(labels) > 34:
        return f"{value!r} is not a valid DNS zone name (Azure DNS allows at most 34 labels)"
    return None


def _is_hostname(value: str) -> bool:
    labels = value.rstrip(".").lower().split(".")
    return len(value) <= 253 and all(_LABEL.match(lbl) for lbl in labels) and not labels[-1].isdigit()


def _public_addresses(nets: list[ipaddress.IPv4Network]) -> int:
    """How many addresses of the (collapsed) `nets` are public."""
    total = 0
    for net in nets:
        size = net.num_addresses
        for block in _NOT_PUBLIC:
            if block.subnet_of(net):
                size -= block.num_addresses
            elif net.subnet_of(block):
                size = 0
        total += size
    return total


def _check_azure(inv: Inventory) -> list[tuple[str, str]]:
    az = inv.azure
    problems: list[tuple[str, str]] = []
    loc = az.location
    if loc not in KNOWN_LOCATIONS:
        squashed = re.sub(r"\s+", "", loc).lower()
        if squashed in KNOWN_LOCATIONS:
            problems.append(("azure.location", f"{loc!r}: write the region name {squashed!r} (lowercase, no blanks)"))
        else:
            close = difflib.get_close_matches(squashed, sorted(KNOWN_LOCATIONS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(
                (
                    "azure.location",
                    f"{loc!r} is not a known Azure region name{hint}; a new region goes into KNOWN_LOCATIONS in lostops/inventory.py",
                )
            )
    problems += _azure_name("azure.resource_group", az.resource_group, "resource group")
    net = az.network
    problems += _azure_name("azure.network.virtual_network", net.virtual_network, "virtual network")
    problems += _azure_name("azure.network.subnet", net.subnet, "subnet")
    problems += _azure_name("azure.network.resource_group", net.resource_group, "resource group")
    if net.address_space.prefixlen > 29:
        problems.append(
            ("azure.network.address_space", f"'{net.address_space}' is smaller than Azure's minimum, a /29")
        )
    if net.subnet_prefix is not None:
        if not net.subnet_prefix.subnet_of(net.address_space):
            problems.append(
                (
                    "azure.network.subnet_prefix",
                    f"'{net.subnet_prefix}' is outside azure.network.address_space {net.address_space}",
                )
            )
        elif net.subnet_prefix.prefixlen > 29:
            problems.append(
                ("azure.network.subnet_prefix", f"'{net.subnet_prefix}' is smaller than Azure's minimum subnet, a /29")
            )
    why = _dns_name(az.dns_zone.name, zone=True)
    if why:
        problems.append(("azure.dns_zone.name", why))
    problems += _azure_name("azure.dns_zone.resource_group", az.dns_zone.resource_group, "resource group")
    sb = az.state_backend
    if sb is not None:
        base = "azure.state_backend"
        problems += _azure_name(f"{base}.resource_group", sb.resource_group, "resource group")
        problems += _azure_name(f"{base}.storage_account", sb.storage_account, "storage account")
        problems += _azure_name(f"{base}.container", sb.container, "storage container")
        key = sb.key
        if not key.strip():
            problems.append((f"{base}.key", "the state blob name is empty"))
        elif len(key) > BLOB_NAME_MAX:
            problems.append((f"{base}.key", f"{len(key)} characters; a blob name has at most {BLOB_NAME_MAX}"))
        elif key != key.strip() or _CONTROL.search(key) or key.endswith((".", "/")) or "\\" in key:
            problems.append(
                (
                    f"{base}.key",
                    f"{key!r} is not a usable blob name (no blanks at either end, control characters or '\\\\', "
                    "not ending in '.' or '/')",
                )
            )
    return problems


def _check_ssh(inv: Inventory) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    user = inv.ssh.user
    if user == "root":
        problems.append(
            ("ssh.user", "'root' is refused: Azure VMs do not allow root logins; use the admin user (sudo)")
        )
    elif not _LINUX_USER.match(user):
        problems.append(
            (
                "ssh.user",
                f"{user!r} is not a valid Linux user name (lowercase letters, digits, '_' and '-', "
                "starting with a letter or '_', at most 32)",
            )
        )
    anywhere_ok = bool(inv.ssh.allow_ssh_from_anywhere)
    sources = inv.ssh.admin_sources
    for i, net in enumerate(sources):
        if net.prefixlen == 0 and not anywhere_ok:
            problems.append(
                (
                    f"ssh.admin_sources[{i}]",
                    f"'{net}' opens SSH to the whole internet; set ssh.allow_ssh_from_anywhere to a reason to allow it",
                )
            )
        for j, other in enumerate(sources[:i]):
            if net == other:
                problems.append((f"ssh.admin_sources[{i}]", f"'{net}' is already listed as ssh.admin_sources[{j}]"))
                break
            if net.subnet_of(other) or other.subnet_of(net):
                problems.append(
                    (
                        f"ssh.admin_sources[{i}]",
                        f"'{net}' overlaps ssh.admin_sources[{j}] '{other}'; list each network once",
                    )
                )
                break
    if anywhere_ok or any(net.prefixlen == 0 for net in sources):
        return problems
    union = list(ipaddress.collapse_addresses(sources))
    if union and union[0].prefixlen == 0:
        problems.append(
            (
                "ssh.admin_sources",
                "together these networks cover 0.0.0.0/0 and open SSH to the whole internet; "
                "set ssh.allow_ssh_from_anywhere to a reason to allow it",
            )
        )
    elif (public := _public_addresses(union)) > ADMIN_PUBLIC_MAX:
        problems.append(
            (
                "ssh.admin_sources",
                f"together these networks cover {public} public addresses, more than a /8 ({ADMIN_PUBLIC_MAX}): "
                "that is not an admin network; set ssh.allow_ssh_from_anywhere to a reason to allow it",
            )
        )
    return problems


def _check_services(inv: Inventory) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if not inv.services:
        problems.append(("services", "at least one service is required (every allow entry names one)"))
    jobs: dict[str, str] = {}
    seen: list[tuple[str, Service]] = []
    for name, svc in inv.services.items():
        base = f"services.{name}"
        if not _NAME.match(name):
            problems.append(
                (base, "service names are lowercase letters, digits and '-', starting with a letter, not ending in '-'")
            )
        low, high = svc.port_range
        for other_name, other in seen:
            o_low, o_high = other.port_range
            if other.protocol == svc.protocol and low <= o_high and o_low <= high:
                problems.append(
                    (
                        f"{base}.port",
                        f"{svc.port}/{svc.protocol} overlaps services.{other_name} ({other.port}/{other.protocol}); "
                        "name each port once",
                    )
                )
                break
        seen.append((name, svc))
        if svc.scrape is None:
            continue
        if svc.protocol != "tcp":
            problems.append((f"{base}.scrape", "only tcp services can be scraped"))
        if low != high:
            problems.append(
                (f"{base}.scrape", f"a port range ({svc.port}) cannot be scraped; give the exporter one port")
            )
        job, path = svc.scrape.job, svc.scrape.path
        if not _JOB.match(job):
            problems.append(
                (
                    f"{base}.scrape.job",
                    f"{job!r} is not a usable Prometheus job name (letters, digits, '_' and '-', "
                    "starting with a letter or '_', at most 63)",
                )
            )
        elif job in jobs:
            problems.append((f"{base}.scrape.job", f"{job!r} is already the job of services.{jobs[job]}"))
        else:
            jobs[job] = name
        if not path.startswith("/") or re.search(r"[\s?#]", path) or _CONTROL.search(path):
            problems.append(
                (
                    f"{base}.scrape.path",
                    f"{path!r} is not a metrics path (starts with '/', no blanks, no '?' or '#')",
                )
            )
    return problems


def _check_flow(
    inv: Inventory, name: str, host: Host, j: int, flow: Flow, ssh_services: set[str]
) -> list[tuple[str, str]]:
    path = f"hosts.{name}.allow[{j}]"
    problems: list[tuple[str, str]] = []
    if flow.service not in inv.services:
        problems.append(
            (f"{path}.service", f"unknown service {flow.service!r} (known: {', '.join(sorted(inv.services))})")
        )
    if flow.source not in RESERVED_SOURCES and flow.source not in inv.hosts:
        problems.append((f"{path}.from", f"unknown source {flow.source!r} (use internet, admins or a host name)"))
    if flow.source == INTERNET:
        if flow.service in ssh_services and not inv.ssh.allow_ssh_from_anywhere:
            problems.append(
                (
                    f"{path}.from",
                    "SSH from the internet is refused; use 'admins' or set ssh.allow_ssh_from_anywhere to a reason",
                )
            )
        if not host.has_public_ip:
            problems.append(
                (
                    f"{path}.from",
                    f"{name} has no public IP, so the internet cannot reach it; set public_ip: true or remove this entry",
                )
            )
    reason = flow.reason
    if len(reason.strip()) < 3:
        problems.append((f"{path}.reason", "write a reason (at least 3 characters besides blanks)"))
    elif len(reason) > NSG_DESCRIPTION_MAX:
        problems.append(
            (
                f"{path}.reason",
                f"{len(reason)} characters; it becomes the NSG rule description, which Azure limits to {NSG_DESCRIPTION_MAX}",
            )
        )
    elif _CONTROL.search(reason):
        problems.append(
            (f"{path}.reason", "contains a line break or control character (it becomes an nftables comment)")
        )
    rule_name = f"allow-{flow.service}-from-{flow.source}"
    if len(rule_name) > NSG_RULE_NAME_MAX:
        problems.append(
            (
                path,
                f"the NSG rule name {rule_name!r} has {len(rule_name)} characters, Azure allows {NSG_RULE_NAME_MAX}; "
                "shorten the service or host name",
            )
        )
    return problems


def _check_hosts(inv: Inventory) -> list[tuple[str, str]]:

    problems: list[tuple[str, str]] = []
    if not inv.hosts:
        problems.append(("hosts", "at least one host is required"))
    zone = inv.azure.dns_zone.name.rstrip(".").lower()
    net = inv.azure.network
    space, subnet = net.address_space, net.subnet_cidr
    subnet_field = "azure.network.subnet_prefix" if net.subnet_prefix is not None else "azure.network.address_space"
    ssh_services = {
        n for n, s in inv.services.items() if s.port_range[0] <= 22 <= s.port_range[1] and s.protocol == "tcp"
    }
    max_flows = (nsg.DENY_ALL_PRIORITY - 1 - nsg.FIRST_PRIORITY) // nsg.STEP + 1
    seen_ips: dict[str, str] = {}
    seen_dns: dict[str, str] = {}
    seen_vms: dict[str, str] = {}
    seen_nics: dict[tuple[str, str], str] = {}
    first_of_role: dict[str, str] = {}

    for name, host in inv.hosts.items():
        base = f"hosts.{name}"
        if not _NAME.match(name):
            problems.append(
                (base, "host names are lowercase letters, digits and '-', starting with a letter, not ending in '-'")
            )
        if name in RESERVED_SOURCES:
            problems.append((base, f"'{name}' is reserved for flow sources"))

        if host.role in SINGLE_ROLES and host.role in first_of_role:
            problems.append(
                (
                    f"{base}.role",
                    f"only one host may have role '{host.role}' (already hosts.{first_of_role[host.role]})",
                )
            )
        first_of_role.setdefault(host.role, name)

        # Azure names of the existing VM and NIC, and what this stack derives from them.
        problems += _azure_name(f"{base}.vm.name", host.vm.name, "virtual machine")
        problems += _azure_name(f"{base}.vm.resource_group", host.vm.resource_group, "resource group")
        problems += _azure_name(f"{base}.nic.name", host.nic.name, "network interface")
        problems += _azure_name(f"{base}.nic.resource_group", host.nic.resource_group, "resource group")
        problems += _azure_name(f"{base}.nic.ip_configuration", host.nic.ip_configuration, "IP configuration")
        vm_key = host.vm.name.lower()
        if vm_key in seen_vms:
            problems.append(
                (
                    f"{base}.vm.name",
                    f"{host.vm.name!r} is already the VM of hosts.{seen_vms[vm_key]} "
                    f"(both NSGs would be named '{host.vm.name}-nsg')",
                )
            )
        seen_vms.setdefault(vm_key, name)
        nic_key = (host.nic.resource_group.lower(), host.nic.name.lower())
        if nic_key in seen_nics:
            problems.append((f"{base}.nic.name", f"{host.nic.name!r} is already the NIC of hosts.{seen_nics[nic_key]}"))
        seen_nics.setdefault(nic_key, name)

        ip = host.private_ip
        if not ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_unspecified:
            problems.append((f"{base}.private_ip", f"'{ip}' is not a private (RFC 1918) address"))
        elif ip not in space:
            problems.append((f"{base}.private_ip", f"'{ip}' is outside azure.network.address_space {space}"))
        elif ip not in subnet:
            problems.append((f"{base}.private_ip", f"'{ip}' is outside azure.network.subnet_prefix {subnet}"))
        else:
            offset = int(ip) - int(subnet.network_address)
            what = {
                0: "the network address",
                1: "the default gateway",
                2: "mapped to Azure DNS",
                3: "mapped to Azure DNS",
                subnet.num_addresses - 1: "the broadcast address",
            }.get(offset)
            if what:
                problems.append(
                    (
                        f"{base}.private_ip",
                        f"'{ip}' is reserved by Azure in subnet {subnet} ({subnet_field}): {what}; "
                        "Azure reserves the first four and the last address of every subnet",
                    )
                )
        if str(ip) in seen_ips:
            problems.append((f"{base}.private_ip", f"'{ip}' is already used by hosts.{seen_ips[str(ip)]}"))
        seen_ips.setdefault(str(ip), name)

        if host.ssh_address is not None:
            addr = host.ssh_address
            try:
                ipaddress.IPv4Address(addr)
            except ValueError:
                if not _is_hostname(addr):
                    problems.append((f"{base}.ssh_address", f"{addr!r} is not an IP address or a host name"))

        for j, fqdn in enumerate(host.dns):
            path = f"{base}.dns[{j}]"
            why = _dns_name(fqdn)
            if why:
                problems.append((path, why))
            elif not fqdn.endswith("." + zone):
                problems.append((path, f"{fqdn!r} is not inside the zone {zone!r}"))
            elif fqdn in seen_dns:
                problems.append((path, f"{fqdn!r} is already used by {seen_dns[fqdn]}"))
            seen_dns.setdefault(fqdn, path)
        if host.dns and not host.has_public_ip:
            problems.append((f"{base}.dns", "DNS A records need a public IP; set public_ip: true or remove the names"))

        seen_flows: dict[tuple[str, str], int] = {}
        for j, flow in enumerate(host.allow):
            problems += _check_flow(inv, name, host, j, flow, ssh_services)
            key = (flow.service, flow.source)
            if key in seen_flows:
                problems.append(
                    (
                        f"{base}.allow[{j}]",
                        f"repeats allow[{seen_flows[key]}] ({flow.service} from {flow.source}); "
                        "each service and source once per host",
                    )
                )
            seen_flows.setdefault(key, j)
        if len(host.allow) > max_flows:
            problems.append(
                (
                    f"{base}.allow",
                    f"{len(host.allow)} entries; at most {max_flows} fit in NSG priorities "
                    f"{nsg.FIRST_PRIORITY}-{nsg.DENY_ALL_PRIORITY - 1} (deny-all is {nsg.DENY_ALL_PRIORITY})",
                )
            )

        if host.ssh_via is not None:
            via = host.ssh_via
            if via not in inv.hosts or via == name:
                problems.append((f"{base}.ssh_via", f"{via!r} is not another host"))
            elif inv.hosts[via].ssh_via is not None:
                problems.append(
                    (f"{base}.ssh_via", f"{via!r} is itself reached through ssh_via; the roster supports one jump")
                )
            elif not any(f.source == via and f.service in ssh_services for f in host.allow):
                problems.append(
                    (
                        f"{base}.ssh_via",
                        f"{via!r} may not reach SSH on {name}; add {{service: ssh, from: {via}}} to allow",
                    )
                )
        elif not host.has_public_ip and not host.ssh_address:
            problems.append((base, "no public IP, no ssh_address and no ssh_via: salt-ssh could not reach it"))
        elif not any(f.source in (ADMINS, INTERNET) and f.service in ssh_services for f in host.allow):
            problems.append(
                (
                    f"{base}.allow",
                    f"salt-ssh connects to {name} directly, but no entry lets admins reach SSH; "
                    "add {service: ssh, from: admins}",
                )
            )

    present = {h.role for h in inv.hosts.values()}
    for role in roles.ROLES:
        if role not in present:
            continue
        for needed, why in roles.get(role).needs:
            if needed not in present:
                problems.append(("hosts", f"a {role} host needs a {needed} host ({why})"))
    return problems


def _cross_checks(inv: Inventory) -> list[tuple[str, str]]:
    return _check_azure(inv) + _check_ssh(inv) + _check_services(inv) + _check_hosts(inv)


# --------------------------------------------------------------------------- loading


def _format_validation(exc: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for err in exc.errors():
        loc = []
        for part in err["loc"]:
            if isinstance(part, int):
                loc.append(f"[{part}]")
            elif part in ("function-after[_port(), union[int,str]]",) or "[" in str(part) and "(" in str(part):
                continue  # pydantic's internal union/validator labels
            else:
                loc.append(("." if loc else "") + str(part))
        path = "".join(loc)
        kind = err["type"]
        if kind == "missing":
            msg = "required field is missing"
        elif kind == "extra_forbidden":
            msg = "unknown key"
        elif kind == "value_error":
            msg = str(err["ctx"]["error"])
        elif kind == "literal_error":
            msg = f"{err['input']!r} is not one of {err['ctx']['expected']}"
        else:
            msg = f"{err['msg']} (got {err['input']!r})" if not isinstance(err["input"], dict) else err["msg"]
        problems.append((path, msg))
    # Drop duplicates produced by union branches, keep order.
    return list(dict.fromkeys(problems))


def resolve_path(selector: str | None = None) -> Path:
    selector = selector or os.environ.get(ENV_INVENTORY) or DEFAULT_INVENTORY
    if "/" in selector or selector.endswith((".yaml", ".yml")):
        return Path(selector)
    return INVENTORY_DIR / f"{selector}.yaml"


def parse(data: Any, name: str = "", extra_admin_sources: str | None = None) -> Inventory:
    """Validate already-parsed data. Raises InventoryError."""
    if data is None:
        raise InventoryError([("", "the inventory is empty (no YAML content)")])
    if not isinstance(data, dict):
        raise InventoryError([("", "the inventory must be a YAML mapping")])
    if "name" in data:  # `name` is set by load(), not read from the file
        raise InventoryError([("name", "unknown key")])
    if extra_admin_sources:
        extra = []
        for item in extra_admin_sources.split(","):
            try:
                extra.append(str(_cidr(item.strip())))
            except ValueError as exc:
                raise InventoryError([(ENV_EXTRA_ADMIN_SOURCES, str(exc))]) from None
        data = dict(data)
        ssh = dict(data.get("ssh") or {})
        listed = list(ssh.get("admin_sources") or [])
        # A just-in-time source already inside a listed network adds nothing; appending
        # it would only make a duplicate (a self-hosted runner in the office network).
        known = []
        for item in listed:
            try:
                known.append(_cidr(item))
            except ValueError:
                pass  # reported with its own field path below
        for cidr in extra:
            net = ipaddress.IPv4Network(cidr)
            if not any(net.subnet_of(k) for k in known):
                listed.append(cidr)
                known.append(net)
        ssh["admin_sources"] = listed
        data["ssh"] = ssh
    try:
        inv = Inventory.model_validate({**data, "name": name})
    except ValidationError as exc:
        raise InventoryError(_format_validation(exc)) from None
    problems = _cross_checks(inv)
    if problems:
        raise InventoryError(problems)
    return inv


def load(selector: str | None = None) -> Inventory:
    """Load and validate the selected inventory (see module docstring)."""
    path = resolve_path(selector)
    try:
        text = decode_utf8(path.read_bytes())
    except OSError as exc:
        raise InventoryError([("", f"cannot read inventory {path}: {exc.strerror}")], str(path)) from None
    except NotUtf8Error as exc:
        raise InventoryError([("", str(exc))], str(path)) from None
    try:
        data = load_strict(text)
    except DuplicateKeyError as exc:
        raise InventoryError([(exc.path, f"duplicate key (line {exc.line})")], str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "?"
        raise InventoryError([("", f"not valid YAML ({where}): {getattr(exc, 'problem', exc)}")], str(path)) from None
    try:
        return parse(data, name=path.stem, extra_admin_sources=os.environ.get(ENV_EXTRA_ADMIN_SOURCES))
    except InventoryError as exc:
        exc.source = str(path)
        raise


EXIT_INVALID = 2  # the exit status of every command refused for a bad inventory


def load_or_report(selector: str | None = None, file: TextIO | None = None) -> Inventory | None:
    """The inventory, or None after printing one `inventory error:` line per problem.

    The one error loop of main.py (cdktf synth) and `lostops inventory check`
    (and `lostops access-picture`): lines go to `file` (default stderr); the
    caller exits with EXIT_INVALID.
    """
    try:
        return load(selector)
    except InventoryError as exc:
        for line in exc.lines():
            print(f"inventory error: {exc.source}: {line}", file=file or sys.stderr)
        return None


def run_check(selector: str | None = None) -> int:
    """`lostops inventory check`: one summary line and 0, or one line per problem and EXIT_INVALID."""
    inv = load_or_report(selector)
    if inv is None:
        return EXIT_INVALID
    flows = sum(len(h.allow) for h in inv.hosts.values())
    print(f"inventory {inv.name}: {len(inv.hosts)} hosts, {len(inv.services)} services, {flows} flows: OK")
    return 0
