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

import ipaddress
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lostops.yamlload import DuplicateKeyError, load_strict

REPO_ROOT = Path(__file__).resolve().parent.parent
INVENTORY_DIR = REPO_ROOT / "pillar" / "inventory"
DEFAULT_INVENTORY = "example"
ENV_INVENTORY = "LOSTOPS_INVENTORY"
ENV_EXTRA_ADMIN_SOURCES = "LOSTOPS_EXTRA_ADMIN_SOURCES"

# Flow sources that are not host names.
INTERNET = "internet"
ADMINS = "admins"
RESERVED_SOURCES = (INTERNET, ADMINS)
ROLES = ("backend", "database", "monitoring")

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


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
    name: str = Field(min_length=1)
    resource_group: str = Field(min_length=1)


class Nic(AzureRef):
    ip_configuration: str = "ipconfig1"


class Host(_Model):
    role: Literal["backend", "database", "monitoring"]
    vm: AzureRef
    nic: Nic
    private_ip: ipaddress.IPv4Address
    public_ip: bool | None = None
    ssh_via: str | None = None
    ssh_address: str | None = None
    dns: tuple[str, ...] = ()
    allow: tuple[Flow, ...]

    _check_ip = field_validator("private_ip", mode="before")(lambda cls, v: _ip(v))

    @property
    def has_public_ip(self) -> bool:
        """Default: backend and monitoring get one, the database does not."""
        if self.public_ip is None:
            return self.role != "database"
        return self.public_ip


class Network(_Model):
    virtual_network: str
    subnet: str
    resource_group: str
    address_space: ipaddress.IPv4Network

    @field_validator("address_space", mode="before")
    @classmethod
    def _space(cls, value: Any) -> ipaddress.IPv4Network:
        if "/" not in str(value):
            raise ValueError(f"{str(value)!r} needs a prefix length, e.g. 10.20.0.0/16")
        return _cidr(value)


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


def _cross_checks(inv: Inventory) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    zone = inv.azure.dns_zone.name.rstrip(".").lower()
    space = inv.azure.network.address_space
    anywhere_ok = bool(inv.ssh.allow_ssh_from_anywhere)
    ssh_ports = {n for n, s in inv.services.items() if s.port_range[0] <= 22 <= s.port_range[1] and s.protocol == "tcp"}

    for i, net in enumerate(inv.ssh.admin_sources):
        if net.prefixlen == 0 and not anywhere_ok:
            problems.append(
                (
                    f"ssh.admin_sources[{i}]",
                    f"'{net}' opens SSH to the whole internet; set ssh.allow_ssh_from_anywhere to a reason to allow it",
                )
            )

    for name, svc in inv.services.items():
        if not _NAME.match(name):
            problems.append((f"services.{name}", "service names are lowercase letters, digits and '-'"))
        if svc.scrape and svc.protocol != "tcp":
            problems.append((f"services.{name}.scrape", "only tcp services can be scraped"))

    seen_ips: dict[str, str] = {}
    for name, host in inv.hosts.items():
        base = f"hosts.{name}"
        if not _NAME.match(name):
            problems.append((base, "host names are lowercase letters, digits and '-'"))
        if name in RESERVED_SOURCES:
            problems.append((base, f"'{name}' is reserved for flow sources"))
        ip = host.private_ip
        if not ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_unspecified:
            problems.append((f"{base}.private_ip", f"'{ip}' is not a private (RFC 1918) address"))
        elif ip not in space:
            problems.append((f"{base}.private_ip", f"'{ip}' is outside azure.network.address_space {space}"))
        if str(ip) in seen_ips:
            problems.append((f"{base}.private_ip", f"'{ip}' is already used by hosts.{seen_ips[str(ip)]}"))
        seen_ips[str(ip)] = name

        for j, fqdn in enumerate(host.dns):
            path = f"{base}.dns[{j}]"
            labels = fqdn.rstrip(".").lower().split(".")
            if not all(_LABEL.match(lbl) for lbl in labels):
                problems.append((path, f"{fqdn!r} is not a valid DNS name"))
            elif not (fqdn.rstrip(".").lower().endswith("." + zone)):
                problems.append((path, f"{fqdn!r} is not inside the zone {zone!r}"))
        if host.dns and not host.has_public_ip:
            problems.append((f"{base}.dns", "DNS A records need a public IP; set public_ip: true or remove the names"))

        for j, flow in enumerate(host.allow):
            path = f"{base}.allow[{j}]"
            if flow.service not in inv.services:
                problems.append(
                    (f"{path}.service", f"unknown service {flow.service!r} (known: {', '.join(sorted(inv.services))})")
                )
            if flow.source not in RESERVED_SOURCES and flow.source not in inv.hosts:
                problems.append(
                    (f"{path}.from", f"unknown source {flow.source!r} (use internet, admins or a host name)")
                )
            if flow.source == INTERNET and flow.service in ssh_ports and not anywhere_ok:
                problems.append(
                    (
                        f"{path}.from",
                        "SSH from the internet is refused; use 'admins' or set ssh.allow_ssh_from_anywhere to a reason",
                    )
                )

        if host.ssh_via is not None:
            via = host.ssh_via
            if via not in inv.hosts or via == name:
                problems.append((f"{base}.ssh_via", f"{via!r} is not another host"))
            elif not any(f.source == via and f.service in ssh_ports for f in host.allow):
                problems.append(
                    (
                        f"{base}.ssh_via",
                        f"{via!r} may not reach SSH on {name}; add {{service: ssh, from: {via}}} to allow",
                    )
                )
        elif not host.has_public_ip and not host.ssh_address:
            problems.append((base, "no public IP, no ssh_address and no ssh_via: salt-ssh could not reach it"))

    if len(inv.hosts_with_role("monitoring")) > 1:
        problems.append(("hosts", "only one host may have role 'monitoring'"))
    return problems


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
    if not isinstance(data, dict):
        raise InventoryError([("", "the inventory must be a YAML mapping")])
    if extra_admin_sources:
        extra = []
        for item in extra_admin_sources.split(","):
            try:
                extra.append(str(_cidr(item.strip())))
            except ValueError as exc:
                raise InventoryError([(ENV_EXTRA_ADMIN_SOURCES, str(exc))]) from None
        data = dict(data)
        ssh = dict(data.get("ssh") or {})
        ssh["admin_sources"] = list(ssh.get("admin_sources") or []) + extra
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
        text = path.read_text()
    except OSError as exc:
        raise InventoryError([("", f"cannot read inventory {path}: {exc.strerror}")], str(path)) from None
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
