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

import copy
import difflib
import functools
import ipaddress
import os
import re
import sys
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lostops import nsg, roles
from lostops.yamlload import DuplicateKeyError, NotUtf8Error, YamlInputError, cut, decode_utf8, load_strict

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

# Every name pattern is used with fullmatch() (never match() with `$`, which also
# matches before a final line break) and is ASCII-only (re.ASCII: `\d` and `\w`
# would accept other scripts' digits and letters, which nft and az do not).
# Host and service names: Salt minion ids, NSG rule names, compose keys. A
# trailing '-' would end an NSG rule name ("allow-x-from-backend-"), which Azure refuses.
_NAME = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?", re.ASCII)
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)", re.ASCII)
# Linux user names (shadow-utils' portable form, at most 32 characters).
_LINUX_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}", re.ASCII)
# Prometheus job names become the `job` label and appear in alert rules and dashboards.
_JOB = re.compile(r"[a-zA-Z_][a-zA-Z0-9_-]{0,62}", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# The jobs salt/monitoring/files/prometheus/prometheus.yml.jinja always defines;
# an inventory job of the same name makes promtool refuse the configuration.
BUILTIN_SCRAPE_JOBS = ("prometheus", "alertmanager", "grafana")
# The one SSH service (the roster, just-in-time SSH and the firewall read services.ssh).
SSH_SERVICE = "ssh"
# Salt's own distributed mode (inventory `salt.master`, docs/salt.md): the ZeroMQ
# publish and return ports of the master. Their flows are derived (lostops.policy):
# to the master host, from every other host of the inventory, only when salt.master is set.
SALT_PUBLISH = "salt-publish"
SALT_RETURN = "salt-return"
SALT_SERVICES = (SALT_PUBLISH, SALT_RETURN)
SALT_EXAMPLE_PORTS = {SALT_PUBLISH: 4505, SALT_RETURN: 4506}
# What may face the internet without a named override: HTTP and HTTPS.
WEB_PORTS = ((80, 80), (443, 443))
# A named override's reason: visible text a reviewer can read, not a yes/no word.
OVERRIDE_REASON_MIN = 10
FLOW_REASON_MIN = 3
NOT_REASONS = frozenset("y yes n no true false on off null none nil ~ 0 1 ok - n/a na todo tbd".split())

# Azure's naming rules ("Naming rules and restrictions for Azure resources",
# learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules):
# kind -> (min length, max length, pattern, what the rule says).
_AZ_NET_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?", re.ASCII)
_AZ_NET_RULE = "letters, digits, '_', '.' and '-', starting with a letter or digit, ending with a letter, digit or '_'"
AZURE_NAMES: dict[str, tuple[int, int, re.Pattern, str]] = {
    "resource group": (
        1,
        90,
        re.compile(r"[\w.()-]*[\w()-]", re.ASCII),
        "letters, digits, '_', '-', '.', '(' and ')', not ending in '.'",
    ),
    # The VM resource name; its NSG '<vm>-nsg' and public IP '<vm>-ip' follow the
    # network rules (1-80), which a valid VM name (at most 64) always meets.
    "virtual machine": (1, 64, _AZ_NET_NAME, _AZ_NET_RULE),
    "network interface": (1, 80, _AZ_NET_NAME, _AZ_NET_RULE),
    "IP configuration": (1, 80, _AZ_NET_NAME, _AZ_NET_RULE),
    "virtual network": (2, 64, _AZ_NET_NAME, _AZ_NET_RULE),
    "subnet": (1, 80, _AZ_NET_NAME, _AZ_NET_RULE),
    "storage account": (3, 24, re.compile(r"[a-z0-9]+", re.ASCII), "lowercase letters and digits"),
    "storage container": (
        3,
        63,
        re.compile(r"[a-z0-9](?:-?[a-z0-9])*", re.ASCII),
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
        """One line per problem; a line break or control character from the input is shown escaped."""
        return [_one_line(f"{path}: {msg}" if path else msg) for path, msg in self.problems]


def _one_line(text: str) -> str:
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def _ip(value: Any) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(str(value))
    except ValueError:
        raise ValueError(f"{cut(str(value))} is not an IP address") from None


def _cidr(value: Any) -> ipaddress.IPv4Network:
    text = str(value)
    if text.strip() in ("*", "any", "Internet"):
        raise ValueError(f"{cut(text)} is not a CIDR; write the networks that are allowed")
    try:
        return ipaddress.IPv4Network(text, strict=True)
    except ValueError as exc:
        raise ValueError(f"{cut(text)} is not a CIDR ({cut(str(exc), 120)[1:-1]})") from None


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
                raise ValueError(f"{cut(value)} is outside 1-65535")
            return value
        text = str(value)
        # ASCII digits only: int() reads '２２' and Arabic-Indic digits, nft and az do not.
        match = re.fullmatch(r"([0-9]{1,5})-([0-9]{1,5})", text)
        if not match:
            raise ValueError(f"{cut(text)} is not a port or a range like 30000-30010")
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
    reason: str  # checked by the flow.reason check
    # The named override for a non-web service (not tcp 80/443) from the internet: a reason.
    allow_non_web_from_internet: str | None = None


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
            raise ValueError(f"{cut(value)} is not one of {roles.described()}")
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
            raise ValueError(f"{cut(str(value))} needs a prefix length, e.g. 10.20.0.0/16")
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


class BackupStorage(_Model):
    """The off-host backup storage account (stacks/backup.py) the database host uploads to.

    One Azure Storage account (StorageV2, HTTPS only, TLS 1.2, no public blobs),
    one private container, blob versioning and soft delete, an account-level
    time-based retention (immutability) policy and a lifecycle rule that
    deletes backups after ``delete_after_days``. ``endpoint`` overrides the
    blob endpoint the database host uses (default
    ``https://<storage_account>.blob.core.windows.net``); the lab points it at
    Azurite."""

    storage_account: str
    container: str = "mysql-backups"
    # Default: azure.resource_group.
    resource_group: str | None = None
    replication: Literal["LRS", "ZRS", "GRS", "RAGRS", "GZRS", "RAGZRS"] = "GRS"
    # Every blob (and version) is immutable this long after it was written.
    immutability_days: int = Field(default=30, ge=1, le=146000)
    # Locked: nobody (not even a subscription owner) can shorten or remove the
    # policy again. Lock once the retention is agreed (docs/mysql.md).
    immutability_locked: bool = False
    # Soft delete of blobs and of the container, in days (Azure: 1-365).
    soft_delete_days: int = Field(default=14, ge=1, le=365)
    # Lifecycle rule: backups (and old versions) older than this are deleted.
    delete_after_days: int = Field(default=90, ge=1)
    endpoint: str | None = None

    @property
    def blob_endpoint(self) -> str:
        return (self.endpoint or f"https://{self.storage_account}.blob.core.windows.net").rstrip("/")


class Azure(_Model):
    location: str
    resource_group: str
    network: Network
    dns_zone: DnsZone
    state_backend: StateBackend | None = None
    backup: BackupStorage | None = None


class Ssh(_Model):
    user: str
    admin_sources: tuple[ipaddress.IPv4Network, ...]
    # The named override: a reason (ssh.override_reason check). Absent keeps SSH closed to 0.0.0.0/0.
    allow_ssh_from_anywhere: str | None = None

    @field_validator("admin_sources", mode="before")
    @classmethod
    def _sources(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            if not value:
                raise ValueError("at least one admin network is required (SSH would be closed to everyone)")
            return tuple(_cidr(v) for v in value)
        return value


class Salt(_Model):
    """How Salt reaches the hosts.

    ``master: null`` (the default): salt-ssh only, no Salt port is open anywhere.
    ``master: <host>``: a salt-master on that host and a salt-minion on every
    host (docs/salt.md); the policy then opens ``services.salt-publish`` and
    ``services.salt-return`` on the master from every other host, nothing else.
    """

    master: str | None = None


class Inventory(_Model):
    azure: Azure
    ssh: Ssh
    services: dict[str, Service]
    hosts: dict[str, Host]
    salt: Salt = Salt()

    # Set by load(); not part of the file.
    name: str = Field(default="", exclude=True)

    def host(self, name: str) -> Host:
        return self.hosts[name]

    def hosts_with_role(self, role: str) -> list[str]:
        return [n for n, h in self.hosts.items() if h.role == role]

    def salt_minions(self, host: str) -> list[str]:
        """The hosts whose minions connect to `host` as their salt-master (none unless it is salt.master)."""
        return [n for n in self.hosts if n != host] if self.salt.master == host else []

    def source_networks(self, source: str) -> tuple[ipaddress.IPv4Network, ...]:
        """The networks a flow source stands for (internet = everything)."""
        if source == INTERNET:
            return (ipaddress.IPv4Network("0.0.0.0/0"),)
        if source == ADMINS:
            return self.ssh.admin_sources
        return (ipaddress.IPv4Network(f"{self.hosts[source].private_ip}/32"),)


# --------------------------------------------------------------------------- checks
#
# Every cross-field check is one small named entry of CHECKS (one concern each);
# a new class of refused input is one more @check function. Each yields
# (field path, message) pairs; tests/unit/test_inventory.py keeps hostile cases
# for every name in CHECKS (test_every_check_has_hostile_cases).

Problem = tuple[str, str]


@dataclass(frozen=True)
class Check:
    name: str
    fn: Callable[[Inventory], Iterator[Problem]]

    def run(self, inv: Inventory) -> list[Problem]:
        return list(self.fn(inv))


CHECKS: dict[str, Check] = {}


def check(name: str):
    """Register a check under `name` (in the order problems are reported)."""

    def register(fn: Callable[[Inventory], Iterator[Problem]]):
        if name in CHECKS:
            raise RuntimeError(f"two inventory checks named {name!r}")
        CHECKS[name] = Check(name, fn)
        return fn

    return register


def _azure_name(path: str, value: str, kind: str) -> list[Problem]:
    low, high, pattern, rule = AZURE_NAMES[kind]
    if low <= len(value) <= high and pattern.fullmatch(value):
        return []
    return [(path, f"{cut(value)} is not a valid {kind} name ({low}-{high} {rule})")]


def _dns_name(value: str, zone: bool = False) -> str | None:
    """Why `value` is not a usable DNS name (or zone), or None."""
    if value != value.lower():
        return f"{cut(value)}: write DNS names in lowercase ({cut(value.lower())})"
    if value.endswith("."):
        return f"{cut(value)}: write the name without the trailing dot ({cut(value.rstrip('.'))})"
    if len(value) > 253:
        return f"{cut(value)} is not a valid DNS name (longer than 253 characters)"
    labels = value.split(".")
    if not all(_LABEL.fullmatch(lbl) for lbl in labels):
        return f"{cut(value)} is not a valid DNS name (labels are 1-63 letters, digits and '-', not starting or ending with '-')"
    if labels[-1].isdigit():
        return f"{cut(value)} is not a valid DNS name (the top-level label is all digits)"
    if zone and len(labels) < 2:
        return f"{cut(value)} is not a valid DNS zone name (at least two labels, e.g. example.com)"
    if zone and len(labels) > 34:
        return f"{cut(value)} is not a valid DNS zone name (Azure DNS allows at most 34 labels)"
    return None


def _is_hostname(value: str) -> bool:
    labels = value.rstrip(".").lower().split(".")
    return len(value) <= 253 and all(_LABEL.fullmatch(lbl) for lbl in labels) and not labels[-1].isdigit()


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


def _visible(text: str) -> str:
    """`text` without blanks, control and invisible (format) characters."""
    return "".join(c for c in text if unicodedata.category(c)[0] not in "CZ")


def not_a_reason(text: str, minimum: int) -> str | None:
    """Why `text` is not a reason a reviewer can read, or None.

    Refused: fewer than `minimum` visible characters, a yes/no word (`"false"`
    is a true string), control or invisible characters (zero-width spaces, bidi
    controls: text that reads differently from what it is).
    """
    visible = _visible(text)
    if visible.lower().strip(".!") in NOT_REASONS:
        return f"{cut(text)} is a yes/no word, not a reason; say why (at least {minimum} visible characters)"
    if len(visible) < minimum:
        return f"write a reason (at least {minimum} characters besides blanks)"
    if _CONTROL.search(text):
        return "contains a line break or control character (it becomes an nftables comment)"
    if any(unicodedata.category(c) in ("Cf", "Co", "Cn", "Cs") for c in text):
        return "contains invisible characters (zero-width or direction marks); write plain text"
    return None


def _ssh_services(inv: Inventory) -> set[str]:
    """The services that are SSH: `ssh`, and any other tcp service that includes port 22."""
    return {
        n
        for n, s in inv.services.items()
        if n == SSH_SERVICE or (s.protocol == "tcp" and s.port_range[0] <= 22 <= s.port_range[1])
    }


def _is_web(svc: Service) -> bool:
    return svc.protocol == "tcp" and svc.port_range in WEB_PORTS


def _flows(inv: Inventory) -> Iterator[tuple[str, str, Host, int, Flow]]:
    for name, host in inv.hosts.items():
        for j, flow in enumerate(host.allow):
            yield f"hosts.{name}.allow[{j}]", name, host, j, flow


# ---- the inventory as a whole


@check("inventory.name")
def _check_inventory_name(inv: Inventory) -> Iterator[Problem]:
    if inv.name and not _NAME.fullmatch(inv.name):
        yield (
            "",
            f"the inventory's name {cut(inv.name)} (its file name without .yaml) is not usable: lowercase letters, "
            "digits and '-', starting with a letter, not ending in '-' (it names the firewall, labels, tags and "
            "pillar/overrides/<name>)",
        )


# ---- azure


@check("azure.location")
def _check_location(inv: Inventory) -> Iterator[Problem]:
    loc = inv.azure.location
    if loc in KNOWN_LOCATIONS:
        return
    squashed = re.sub(r"\s+", "", loc).lower()
    if squashed in KNOWN_LOCATIONS:
        yield ("azure.location", f"{cut(loc)}: write the region name {squashed!r} (lowercase, no blanks)")
        return
    close = difflib.get_close_matches(squashed[:64], sorted(KNOWN_LOCATIONS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    yield (
        "azure.location",
        f"{cut(loc)} is not a known Azure region name{hint}; a new region goes into KNOWN_LOCATIONS in lostops/inventory.py",
    )


@check("azure.names")
def _check_azure_names(inv: Inventory) -> Iterator[Problem]:
    az, net = inv.azure, inv.azure.network
    yield from _azure_name("azure.resource_group", az.resource_group, "resource group")
    yield from _azure_name("azure.network.virtual_network", net.virtual_network, "virtual network")
    yield from _azure_name("azure.network.subnet", net.subnet, "subnet")
    yield from _azure_name("azure.network.resource_group", net.resource_group, "resource group")
    yield from _azure_name("azure.dns_zone.resource_group", az.dns_zone.resource_group, "resource group")


@check("azure.network")
def _check_network(inv: Inventory) -> Iterator[Problem]:
    net = inv.azure.network
    if net.address_space.prefixlen > 29:
        yield ("azure.network.address_space", f"'{net.address_space}' is smaller than Azure's minimum, a /29")
    if net.subnet_prefix is None:
        return
    if not net.subnet_prefix.subnet_of(net.address_space):
        yield (
            "azure.network.subnet_prefix",
            f"'{net.subnet_prefix}' is outside azure.network.address_space {net.address_space}",
        )
    elif net.subnet_prefix.prefixlen > 29:
        yield ("azure.network.subnet_prefix", f"'{net.subnet_prefix}' is smaller than Azure's minimum subnet, a /29")


@check("azure.dns_zone")
def _check_zone(inv: Inventory) -> Iterator[Problem]:
    why = _dns_name(inv.azure.dns_zone.name, zone=True)
    if why:
        yield ("azure.dns_zone.name", why)


@check("azure.state_backend")
def _check_state_backend(inv: Inventory) -> Iterator[Problem]:
    sb = inv.azure.state_backend
    if sb is None:
        return
    base = "azure.state_backend"
    yield from _azure_name(f"{base}.resource_group", sb.resource_group, "resource group")
    yield from _azure_name(f"{base}.storage_account", sb.storage_account, "storage account")
    yield from _azure_name(f"{base}.container", sb.container, "storage container")
    key = sb.key
    if not key.strip():
        yield (f"{base}.key", "the state blob name is empty")
    elif len(key) > BLOB_NAME_MAX:
        yield (f"{base}.key", f"{len(key)} characters; a blob name has at most {BLOB_NAME_MAX}")
    elif key != key.strip() or _CONTROL.search(key) or key.endswith((".", "/")) or "\\" in key:
        yield (
            f"{base}.key",
            f"{cut(key)} is not a usable blob name (no blanks at either end, control characters or '\\\\', "
            "not ending in '.' or '/')",
        )


@check("azure.backup")
def _check_backup(inv: Inventory) -> Iterator[Problem]:
    b = inv.azure.backup
    if b is None:
        return
    base = "azure.backup"
    yield from _azure_name(f"{base}.storage_account", b.storage_account, "storage account")
    yield from _azure_name(f"{base}.container", b.container, "storage container")
    if b.resource_group is not None:
        yield from _azure_name(f"{base}.resource_group", b.resource_group, "resource group")
    if b.delete_after_days <= b.immutability_days:
        yield (
            f"{base}.delete_after_days",
            f"{b.delete_after_days} must be longer than immutability_days ({b.immutability_days}): "
            "the lifecycle rule cannot delete a blob that is still immutable",
        )
    if b.endpoint is not None:
        ep = b.endpoint
        m = re.fullmatch(r"(https?)://([^/:?#\s]+)(?::\d{1,5})?(/[A-Za-z0-9._~/-]*)?", ep)
        if not m:
            yield (f"{base}.endpoint", f"{cut(ep)} is not an http(s) URL without query or fragment")
        elif m[1] == "http":
            try:
                private = ipaddress.IPv4Address(m[2]).is_private
            except ValueError:
                private = False
            if not private:
                yield (
                    f"{base}.endpoint",
                    f"{cut(ep)}: backups leave the host over HTTPS; plain http only to a private address (an emulator)",
                )
    if not inv.hosts_with_role("database"):
        yield (base, "off-host backups need a host with role database")


# ---- ssh


@check("ssh.user")
def _check_ssh_user(inv: Inventory) -> Iterator[Problem]:
    user = inv.ssh.user
    if user == "root":
        yield ("ssh.user", "'root' is refused: Azure VMs do not allow root logins; use the admin user (sudo)")
    elif not _LINUX_USER.fullmatch(user):
        yield (
            "ssh.user",
            f"{cut(user)} is not a valid Linux user name (lowercase letters, digits, '_' and '-', "
            "starting with a letter or '_', at most 32)",
        )


@check("ssh.override_reason")
def _check_ssh_override(inv: Inventory) -> Iterator[Problem]:
    reason = inv.ssh.allow_ssh_from_anywhere
    if reason is not None:
        why = not_a_reason(reason, OVERRIDE_REASON_MIN)
        if why:
            yield ("ssh.allow_ssh_from_anywhere", why)


def _ssh_anywhere_allowed(inv: Inventory) -> bool:
    reason = inv.ssh.allow_ssh_from_anywhere
    return reason is not None and not_a_reason(reason, OVERRIDE_REASON_MIN) is None


@check("ssh.admin_sources")
def _check_admin_sources(inv: Inventory) -> Iterator[Problem]:
    anywhere_ok = _ssh_anywhere_allowed(inv)
    sources = inv.ssh.admin_sources
    for i, net in enumerate(sources):
        if net.prefixlen == 0 and not anywhere_ok:
            yield (
                f"ssh.admin_sources[{i}]",
                f"'{net}' opens SSH to the whole internet; set ssh.allow_ssh_from_anywhere to a reason to allow it",
            )
        for j, other in enumerate(sources[:i]):
            if net == other:
                yield (f"ssh.admin_sources[{i}]", f"'{net}' is already listed as ssh.admin_sources[{j}]")
                break
            if net.subnet_of(other) or other.subnet_of(net):
                yield (
                    f"ssh.admin_sources[{i}]",
                    f"'{net}' overlaps ssh.admin_sources[{j}] '{other}'; list each network once",
                )
                break


@check("ssh.admin_union")
def _check_admin_union(inv: Inventory) -> Iterator[Problem]:
    sources = inv.ssh.admin_sources
    if _ssh_anywhere_allowed(inv) or any(net.prefixlen == 0 for net in sources):
        return
    union = list(ipaddress.collapse_addresses(sources))
    if union and union[0].prefixlen == 0:
        yield (
            "ssh.admin_sources",
            "together these networks cover 0.0.0.0/0 and open SSH to the whole internet; "
            "set ssh.allow_ssh_from_anywhere to a reason to allow it",
        )
    elif (public := _public_addresses(union)) > ADMIN_PUBLIC_MAX:
        yield (
            "ssh.admin_sources",
            f"together these networks cover {public} public addresses, more than a /8 ({ADMIN_PUBLIC_MAX}): "
            "that is not an admin network; set ssh.allow_ssh_from_anywhere to a reason to allow it",
        )


# ---- services


@check("services.present")
def _check_services_present(inv: Inventory) -> Iterator[Problem]:
    if not inv.services:
        yield ("services", "at least one service is required (every allow entry names one)")


@check("service.name")
def _check_service_names(inv: Inventory) -> Iterator[Problem]:
    for name in inv.services:
        if not _NAME.fullmatch(name):
            yield (
                f"services.{cut(name)[1:-1]}",
                "service names are lowercase letters, digits and '-', starting with a letter, not ending in '-'",
            )


@check("service.overlap")
def _check_service_overlap(inv: Inventory) -> Iterator[Problem]:
    seen: list[tuple[str, Service]] = []
    for name, svc in inv.services.items():
        low, high = svc.port_range
        for other_name, other in seen:
            o_low, o_high = other.port_range
            if other.protocol == svc.protocol and low <= o_high and o_low <= high:
                yield (
                    f"services.{name}.port",
                    f"{svc.port}/{svc.protocol} overlaps services.{other_name} ({other.port}/{other.protocol}); "
                    "name each port once",
                )
                break
        seen.append((name, svc))


@check("service.ssh")
def _check_ssh_service(inv: Inventory) -> Iterator[Problem]:
    """One SSH service, named `ssh`: the roster, just-in-time SSH and the firewall read services.ssh."""
    ssh = inv.services.get(SSH_SERVICE)
    if inv.services and ssh is None:
        yield (
            "services",
            f"a service named '{SSH_SERVICE}' is required (salt-ssh, the roster and just-in-time SSH connect to its port)",
        )
    elif ssh is not None and (ssh.protocol != "tcp" or not isinstance(ssh.port, int)):
        yield (f"services.{SSH_SERVICE}", "SSH is one tcp port (e.g. {port: 22, protocol: tcp})")
    for name, svc in inv.services.items():
        if name != SSH_SERVICE and svc.protocol == "tcp" and svc.port_range[0] <= 22 <= svc.port_range[1]:
            yield (
                f"services.{name}.port",
                f"{svc.port}/tcp includes port 22, which is SSH: SSH is the service named '{SSH_SERVICE}' "
                "(the roster, just-in-time SSH and the firewall use it); keep other services off port 22",
            )


@check("scrape.target")
def _check_scrape_target(inv: Inventory) -> Iterator[Problem]:
    for name, svc in inv.services.items():
        if svc.scrape is None:
            continue
        if svc.protocol != "tcp":
            yield (f"services.{name}.scrape", "only tcp services can be scraped")
        if svc.port_range[0] != svc.port_range[1]:
            yield (
                f"services.{name}.scrape",
                f"a port range ({svc.port}) cannot be scraped; give the exporter one port",
            )


@check("scrape.job")
def _check_scrape_jobs(inv: Inventory) -> Iterator[Problem]:
    jobs: dict[str, str] = {}
    for name, svc in inv.services.items():
        if svc.scrape is None:
            continue
        job = svc.scrape.job
        path = f"services.{name}.scrape.job"
        if not _JOB.fullmatch(job):
            yield (
                path,
                f"{cut(job)} is not a usable Prometheus job name (letters, digits, '_' and '-', "
                "starting with a letter or '_', at most 63)",
            )
        elif job in BUILTIN_SCRAPE_JOBS:
            yield (
                path,
                f"{job!r} is a job Prometheus already scrapes (built in: {', '.join(BUILTIN_SCRAPE_JOBS)}); "
                "choose another name",
            )
        elif job in jobs:
            yield (path, f"{job!r} is already the job of services.{jobs[job]}")
        else:
            jobs[job] = name


@check("scrape.path")
def _check_scrape_path(inv: Inventory) -> Iterator[Problem]:
    for name, svc in inv.services.items():
        if svc.scrape is None:
            continue
        path = svc.scrape.path
        if not path.startswith("/") or re.search(r"[\s?#]", path) or _CONTROL.search(path):
            yield (
                f"services.{name}.scrape.path",
                f"{cut(path)} is not a metrics path (starts with '/', no blanks, no '?' or '#')",
            )


# ---- hosts


@check("hosts.present")
def _check_hosts_present(inv: Inventory) -> Iterator[Problem]:
    if not inv.hosts:
        yield ("hosts", "at least one host is required")


@check("host.name")
def _check_host_names(inv: Inventory) -> Iterator[Problem]:
    for name in inv.hosts:
        base = f"hosts.{cut(name)[1:-1]}"
        if not _NAME.fullmatch(name):
            yield (base, "host names are lowercase letters, digits and '-', starting with a letter, not ending in '-'")
        if name in RESERVED_SOURCES:
            yield (base, f"'{name}' is reserved for flow sources")


@check("host.single_role")
def _check_single_roles(inv: Inventory) -> Iterator[Problem]:
    first_of_role: dict[str, str] = {}
    for name, host in inv.hosts.items():
        if host.role in SINGLE_ROLES and host.role in first_of_role:
            yield (
                f"hosts.{name}.role",
                f"only one host may have role '{host.role}' (already hosts.{first_of_role[host.role]})",
            )
        first_of_role.setdefault(host.role, name)


@check("host.azure_names")
def _check_host_azure_names(inv: Inventory) -> Iterator[Problem]:
    for name, host in inv.hosts.items():
        base = f"hosts.{name}"
        yield from _azure_name(f"{base}.vm.name", host.vm.name, "virtual machine")
        yield from _azure_name(f"{base}.vm.resource_group", host.vm.resource_group, "resource group")
        yield from _azure_name(f"{base}.nic.name", host.nic.name, "network interface")
        yield from _azure_name(f"{base}.nic.resource_group", host.nic.resource_group, "resource group")
        yield from _azure_name(f"{base}.nic.ip_configuration", host.nic.ip_configuration, "IP configuration")


@check("host.unique_vm_nic")
def _check_unique_vm_nic(inv: Inventory) -> Iterator[Problem]:
    seen_vms: dict[str, str] = {}
    seen_nics: dict[tuple[str, str], str] = {}
    for name, host in inv.hosts.items():
        vm_key = host.vm.name.lower()
        if vm_key in seen_vms:
            yield (
                f"hosts.{name}.vm.name",
                f"{cut(host.vm.name)} is already the VM of hosts.{seen_vms[vm_key]} "
                f"(both NSGs would be named '{host.vm.name}-nsg')",
            )
        seen_vms.setdefault(vm_key, name)
        nic_key = (host.nic.resource_group.lower(), host.nic.name.lower())
        if nic_key in seen_nics:
            yield (f"hosts.{name}.nic.name", f"{cut(host.nic.name)} is already the NIC of hosts.{seen_nics[nic_key]}")
        seen_nics.setdefault(nic_key, name)


@check("host.private_ip")
def _check_private_ip(inv: Inventory) -> Iterator[Problem]:
    net = inv.azure.network
    space, subnet = net.address_space, net.subnet_cidr
    subnet_field = "azure.network.subnet_prefix" if net.subnet_prefix is not None else "azure.network.address_space"
    for name, host in inv.hosts.items():
        path, ip = f"hosts.{name}.private_ip", host.private_ip
        if not ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_unspecified:
            yield (path, f"'{ip}' is not a private (RFC 1918) address")
        elif ip not in space:
            yield (path, f"'{ip}' is outside azure.network.address_space {space}")
        elif ip not in subnet:
            yield (path, f"'{ip}' is outside azure.network.subnet_prefix {subnet}")
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
                yield (
                    path,
                    f"'{ip}' is reserved by Azure in subnet {subnet} ({subnet_field}): {what}; "
                    "Azure reserves the first four and the last address of every subnet",
                )


@check("host.unique_ip")
def _check_unique_ip(inv: Inventory) -> Iterator[Problem]:
    seen: dict[str, str] = {}
    for name, host in inv.hosts.items():
        ip = str(host.private_ip)
        if ip in seen:
            yield (f"hosts.{name}.private_ip", f"'{ip}' is already used by hosts.{seen[ip]}")
        seen.setdefault(ip, name)


@check("host.ssh_address")
def _check_ssh_address(inv: Inventory) -> Iterator[Problem]:
    for name, host in inv.hosts.items():
        addr = host.ssh_address
        if addr is None:
            continue
        try:
            ipaddress.IPv4Address(addr)
        except ValueError:
            if not _is_hostname(addr):
                yield (f"hosts.{name}.ssh_address", f"{cut(addr)} is not an IP address or a host name")


@check("host.dns")
def _check_dns(inv: Inventory) -> Iterator[Problem]:
    zone = inv.azure.dns_zone.name.rstrip(".").lower()
    seen: dict[str, str] = {}
    for name, host in inv.hosts.items():
        for j, fqdn in enumerate(host.dns):
            path = f"hosts.{name}.dns[{j}]"
            why = _dns_name(fqdn)
            if why:
                yield (path, why)
            elif not fqdn.endswith("." + zone):
                yield (path, f"{cut(fqdn)} is not inside the zone {cut(zone)}")
            elif fqdn in seen:
                yield (path, f"{fqdn!r} is already used by {seen[fqdn]}")
            seen.setdefault(fqdn, path)
        if host.dns and not host.has_public_ip:
            yield (f"hosts.{name}.dns", "DNS A records need a public IP; set public_ip: true or remove the names")


# ---- flows (hosts.<name>.allow[j])


@check("flow.known")
def _check_flow_known(inv: Inventory) -> Iterator[Problem]:
    for path, _name, _host, _j, flow in _flows(inv):
        if flow.service not in inv.services:
            yield (
                f"{path}.service",
                f"unknown service {cut(flow.service)} (known: {', '.join(sorted(inv.services))})",
            )
        if flow.source not in RESERVED_SOURCES and flow.source not in inv.hosts:
            yield (f"{path}.from", f"unknown source {cut(flow.source)} (use internet, admins or a host name)")


@check("flow.ssh_from_internet")
def _check_ssh_from_internet(inv: Inventory) -> Iterator[Problem]:
    ssh = _ssh_services(inv)
    allowed = _ssh_anywhere_allowed(inv)
    for path, _name, _host, _j, flow in _flows(inv):
        if flow.source == INTERNET and flow.service in ssh and not allowed:
            yield (
                f"{path}.from",
                "SSH from the internet is refused; use 'admins' or set ssh.allow_ssh_from_anywhere to a reason",
            )


@check("flow.internet_needs_public_ip")
def _check_internet_public_ip(inv: Inventory) -> Iterator[Problem]:
    for path, name, host, _j, flow in _flows(inv):
        if flow.source == INTERNET and not host.has_public_ip:
            yield (
                f"{path}.from",
                f"{name} has no public IP, so the internet cannot reach it; set public_ip: true or remove this entry",
            )


@check("flow.non_web_from_internet")
def _check_non_web_from_internet(inv: Inventory) -> Iterator[Problem]:
    """Only HTTP and HTTPS (tcp 80, 443) face the internet without a named override; SSH has its own."""
    ssh = _ssh_services(inv)
    for path, _name, _host, _j, flow in _flows(inv):
        svc = inv.services.get(flow.service)
        override = flow.allow_non_web_from_internet
        needs = flow.source == INTERNET and svc is not None and not _is_web(svc) and flow.service not in ssh
        if needs and override is None:
            yield (
                f"{path}.from",
                f"{flow.service} ({svc.port}/{svc.protocol}) from the internet is refused: only HTTP and HTTPS "
                "face the internet; use a host or 'admins', or set allow_non_web_from_internet to a reason",
            )
        elif override is not None and not needs and svc is not None:
            yield (
                f"{path}.allow_non_web_from_internet",
                "only for a non-web service from the internet; remove it here",
            )
        elif override is not None:
            why = not_a_reason(override, OVERRIDE_REASON_MIN)
            if why:
                yield (f"{path}.allow_non_web_from_internet", why)


@check("flow.reason")
def _check_flow_reason(inv: Inventory) -> Iterator[Problem]:
    for path, _name, _host, _j, flow in _flows(inv):
        reason = flow.reason
        why = not_a_reason(reason, FLOW_REASON_MIN)
        if why:
            yield (f"{path}.reason", why)
        elif len(reason) > NSG_DESCRIPTION_MAX:
            yield (
                f"{path}.reason",
                f"{len(reason)} characters; it becomes the NSG rule description, which Azure limits to {NSG_DESCRIPTION_MAX}",
            )


@check("flow.rule_name")
def _check_rule_name(inv: Inventory) -> Iterator[Problem]:
    for path, _name, _host, _j, flow in _flows(inv):
        rule_name = f"allow-{flow.service}-from-{flow.source}"
        if len(rule_name) > NSG_RULE_NAME_MAX:
            yield (
                path,
                f"the NSG rule name {cut(rule_name)} has {len(rule_name)} characters, Azure allows {NSG_RULE_NAME_MAX}; "
                "shorten the service or host name",
            )


@check("flow.repeated")
def _check_repeated_flows(inv: Inventory) -> Iterator[Problem]:
    for name, host in inv.hosts.items():
        seen: dict[tuple[str, str], int] = {}
        for j, flow in enumerate(host.allow):
            key = (flow.service, flow.source)
            if key in seen:
                yield (
                    f"hosts.{name}.allow[{j}]",
                    f"repeats allow[{seen[key]}] ({flow.service} from {flow.source}); each service and source once per host",
                )
            seen.setdefault(key, j)


@check("host.flow_count")
def _check_flow_count(inv: Inventory) -> Iterator[Problem]:
    max_flows = (nsg.DENY_ALL_PRIORITY - 1 - nsg.FIRST_PRIORITY) // nsg.STEP + 1
    for name, host in inv.hosts.items():
        derived = len(SALT_SERVICES) * len(inv.salt_minions(name))
        if len(host.allow) + derived > max_flows:
            salt = f" and {derived} Salt flows from salt.master" if derived else ""
            yield (
                f"hosts.{name}.allow",
                f"{len(host.allow)} entries{salt}; at most {max_flows} fit in NSG priorities "
                f"{nsg.FIRST_PRIORITY}-{nsg.DENY_ALL_PRIORITY - 1} (deny-all is {nsg.DENY_ALL_PRIORITY})",
            )


# ---- salt (salt.master: Salt's own distributed mode)


@check("salt.master")
def _check_salt_master(inv: Inventory) -> Iterator[Problem]:
    master = inv.salt.master
    if master is None:
        return
    if master not in inv.hosts:
        yield ("salt.master", f"{cut(master)} is not a host of this inventory (hosts: {', '.join(inv.hosts)})")
        return
    for name in SALT_SERVICES:
        svc = inv.services.get(name)
        port = SALT_EXAMPLE_PORTS[name]
        if svc is None:
            yield (
                "services",
                f"salt.master needs a service named '{name}' (Salt's ZeroMQ port, e.g. {{port: {port}, protocol: tcp}})",
            )
        elif svc.protocol != "tcp" or not isinstance(svc.port, int):
            yield (f"services.{name}", f"Salt's ZeroMQ port is one tcp port (e.g. {{port: {port}, protocol: tcp}})")
    for other in inv.salt_minions(master):
        rule_name = f"allow-{SALT_PUBLISH}-from-{other}"
        if len(rule_name) > NSG_RULE_NAME_MAX:
            yield (
                f"hosts.{other}",
                f"the Salt flow's NSG rule name {cut(rule_name)} has {len(rule_name)} characters, Azure allows "
                f"{NSG_RULE_NAME_MAX}; shorten the host name",
            )


@check("salt.flows")
def _check_salt_flows(inv: Inventory) -> Iterator[Problem]:
    for path, _name, _host, _j, flow in _flows(inv):
        if flow.service in SALT_SERVICES:
            yield (
                f"{path}.service",
                f"{flow.service} flows follow from salt.master (to the master from every other host); remove this entry",
            )


@check("host.ssh_reachable")
def _check_ssh_reachable(inv: Inventory) -> Iterator[Problem]:
    ssh = _ssh_services(inv)
    for name, host in inv.hosts.items():
        base = f"hosts.{name}"
        if host.ssh_via is not None:
            via = host.ssh_via
            if via not in inv.hosts or via == name:
                yield (f"{base}.ssh_via", f"{cut(via)} is not another host")
            elif inv.hosts[via].ssh_via is not None:
                yield (f"{base}.ssh_via", f"{via!r} is itself reached through ssh_via; the roster supports one jump")
            elif not any(f.source == via and f.service in ssh for f in host.allow):
                yield (
                    f"{base}.ssh_via",
                    f"{via!r} may not reach SSH on {name}; add {{service: ssh, from: {via}}} to allow",
                )
        elif not host.has_public_ip and not host.ssh_address:
            yield (base, "no public IP, no ssh_address and no ssh_via: salt-ssh could not reach it")
        elif not any(f.source in (ADMINS, INTERNET) and f.service in ssh for f in host.allow):
            yield (
                f"{base}.allow",
                f"salt-ssh connects to {name} directly, but no entry lets admins reach SSH; "
                "add {service: ssh, from: admins}",
            )


@check("hosts.role_needs")
def _check_role_needs(inv: Inventory) -> Iterator[Problem]:
    present = {h.role for h in inv.hosts.values()}
    for role in roles.ROLES:
        if role not in present:
            continue
        for needed, why in roles.get(role).needs:
            if needed not in present:
                yield ("hosts", f"a {role} host needs a {needed} host ({why})")


def _cross_checks(inv: Inventory) -> list[Problem]:
    return [p for c in CHECKS.values() for p in c.run(inv)]


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
                loc.append(("." if loc else "") + cut(str(part))[1:-1])
        path = "".join(loc)
        kind = err["type"]
        if kind == "missing":
            msg = "required field is missing"
        elif kind == "extra_forbidden":
            msg = "unknown key"
        elif kind == "value_error":
            msg = str(err["ctx"]["error"])
        elif kind == "literal_error":
            msg = f"{cut(err['input'])} is not one of {err['ctx']['expected']}"
        else:
            msg = f"{err['msg']} (got {cut(err['input'])})" if not isinstance(err["input"], dict) else err["msg"]
        problems.append((path, msg))
    # Drop duplicates produced by union branches, keep order.
    return list(dict.fromkeys(problems))


def resolve_path(selector: str | None = None) -> Path:
    selector = selector or os.environ.get(ENV_INVENTORY) or DEFAULT_INVENTORY
    if "/" in selector or selector.endswith((".yaml", ".yml")):
        return Path(selector)
    return INVENTORY_DIR / f"{selector}.yaml"


def selected_name(selector: str | None = None) -> str | None:
    """The selected inventory's name (its file stem) when it is a valid name, else None.

    pillar/top.sls selects pillar/overrides/<name> with it: never a raw
    $LOSTOPS_INVENTORY (a path or a name with a line break). A refused name is
    reported by the inventory.name check when the inventory is loaded.
    """
    stem = resolve_path(selector).stem
    return stem if _NAME.fullmatch(stem) else None


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


@functools.lru_cache(maxsize=16)
def _yaml_of(text: str):
    """load_strict(text), kept per text: PyYAML's pure-Python loader takes tens of milliseconds per
    inventory, and the pillar, the CLI and the tests read the same file many times in one process.
    Errors are not kept (they raise again); callers get a copy (see load)."""
    return load_strict(text)


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
        data = copy.deepcopy(_yaml_of(text))
    except DuplicateKeyError as exc:
        raise InventoryError([(exc.path, f"duplicate key (line {exc.line})")], str(path)) from None
    except YamlInputError as exc:
        raise InventoryError([("", f"not valid YAML ({exc.where()}): {exc.problem}")], str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "?"
        problem = str(getattr(exc, "problem", None) or exc).splitlines()[0]
        raise InventoryError([("", f"not valid YAML ({where}): {cut(problem, 120)[1:-1]}")], str(path)) from None
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
