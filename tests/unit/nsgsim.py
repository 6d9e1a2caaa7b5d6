"""An evaluator of Azure NSG inbound semantics over synthesized Terraform JSON.

Used by the access-matrix tests to ask "would Azure let this packet in?" of
what cdktf actually synthesized, not of our own rule model:

* rules are evaluated by ascending priority, the first match decides;
* Azure's default inbound rules are appended to every NSG:
  65000 AllowVnetInBound, 65001 AllowAzureLoadBalancerInBound,
  65500 DenyAllInBound;
* service tags: ``*``/``Any``, ``Internet`` (outside the VNet),
  ``VirtualNetwork`` (the VNet address space), ``AzureLoadBalancer``
  (168.63.129.16).

The NSG of a host is found by following the JSON itself:
NIC data source (by the inventory's NIC name) → NSG association → NSG →
``azurerm_network_security_rule`` resources that name it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from lostops.inventory import Inventory
from lostops.policy import port_bounds

AZURE_LOAD_BALANCER = ipaddress.IPv4Address("168.63.129.16")
RFC1918 = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


@dataclass(frozen=True)
class Rule:
    name: str
    priority: int
    access: str  # Allow | Deny
    protocol: str  # Tcp | Udp | Icmp | *
    sources: tuple[str, ...]
    destinations: tuple[str, ...]
    ports: tuple[str, ...]


DEFAULT_RULES = (
    Rule("AllowVnetInBound", 65000, "Allow", "*", ("VirtualNetwork",), ("VirtualNetwork",), ("*",)),
    Rule("AllowAzureLoadBalancerInBound", 65001, "Allow", "*", ("AzureLoadBalancer",), ("*",), ("*",)),
    Rule("DenyAllInBound", 65500, "Deny", "*", ("*",), ("*",), ("*",)),
)

_REF = re.compile(r"^\$\{(?:data\.)?([\w-]+)\.([\w-]+)\.(\w+)\}$")


def _ref(value: str) -> tuple[str, str]:
    match = _REF.match(value or "")
    if not match:
        raise ValueError(f"not a simple reference: {value!r}")
    return match[1], match[2]


def _plural(args: dict, singular: str) -> tuple[str, ...]:
    if args.get(singular) is not None:
        return (str(args[singular]),)
    return tuple(str(v) for v in args.get(singular + "es", args.get(singular + "s", [])))


class NsgModel:
    """Per-host ordered inbound rules, read from one stack's cdk.tf.json."""

    def __init__(self, synth: dict, inv: Inventory):
        self.inv = inv
        self.vnet = inv.azure.network.address_space
        res = synth.get("resource", {})
        data = synth.get("data", {})
        nic_ids = {lid: cfg["name"] for lid, cfg in data.get("azurerm_network_interface", {}).items()}
        host_by_nic = {h.nic.name: name for name, h in inv.hosts.items()}

        nsg_of_host: dict[str, str] = {}
        for cfg in res.get("azurerm_network_interface_security_group_association", {}).values():
            _, nic_lid = _ref(cfg["network_interface_id"])
            _, nsg_lid = _ref(cfg["network_security_group_id"])
            host = host_by_nic[nic_ids[nic_lid]]
            if host in nsg_of_host:
                raise ValueError(f"host {host} has two NSG associations")
            nsg_of_host[host] = nsg_lid

        rules_of_nsg: dict[str, list[Rule]] = {lid: [] for lid in res.get("azurerm_network_security_group", {})}
        for cfg in res.get("azurerm_network_security_rule", {}).values():
            if cfg["direction"] != "Inbound":
                continue
            _, nsg_lid = _ref(cfg["network_security_group_name"])
            rules_of_nsg[nsg_lid].append(
                Rule(
                    name=cfg["name"],
                    priority=int(cfg["priority"]),
                    access=cfg["access"],
                    protocol=cfg["protocol"],
                    sources=_plural(cfg, "source_address_prefix"),
                    destinations=_plural(cfg, "destination_address_prefix"),
                    ports=_plural(cfg, "destination_port_range"),
                )
            )
        self.rules: dict[str, list[Rule]] = {}
        for host, nsg in nsg_of_host.items():
            ordered = sorted(rules_of_nsg[nsg], key=lambda r: r.priority)
            prios = [r.priority for r in ordered]
            if len(prios) != len(set(prios)):
                raise ValueError(f"NSG of {host} has duplicate priorities")
            self.rules[host] = ordered + list(DEFAULT_RULES)

    # ------------------------------------------------------------------ matching

    def _prefix_matches(self, prefix: str, addr: ipaddress.IPv4Address) -> bool:
        if prefix in ("*", "Any", "0.0.0.0/0"):
            return True
        if prefix == "VirtualNetwork":
            return addr in self.vnet
        if prefix == "Internet":
            return addr not in self.vnet and not any(addr in n for n in RFC1918)
        if prefix == "AzureLoadBalancer":
            return addr == AZURE_LOAD_BALANCER
        return addr in ipaddress.IPv4Network(prefix, strict=False)

    @staticmethod
    def _port_matches(spec: str, port: int) -> bool:
        low, high = port_bounds(spec)
        return low <= port <= high

    def evaluate(self, source: str, host: str, port: int, protocol: str = "tcp") -> tuple[str, str]:
        """(access, rule name) for a new inbound connection to `host`."""
        src = ipaddress.IPv4Address(source)
        dst = self.inv.hosts[host].private_ip
        for rule in self.rules[host]:
            if rule.protocol != "*" and rule.protocol.lower() != protocol.lower():
                continue
            if not any(self._prefix_matches(p, src) for p in rule.sources):
                continue
            if not any(self._prefix_matches(p, dst) for p in rule.destinations):
                continue
            if not any(self._port_matches(p, port) for p in rule.ports):
                continue
            return rule.access, rule.name
        raise AssertionError("unreachable: DenyAllInBound matches everything")


def source_address(inv: Inventory, source: str) -> str:
    """A representative address for a matrix source.

    internet → 198.51.100.77 (TEST-NET-2, outside every admin network);
    admin → the first address of the first admin network; a host → its private IP.
    """
    if source == "internet":
        addr = ipaddress.IPv4Address("198.51.100.77")
        if any(addr in net for net in inv.ssh.admin_sources):
            raise ValueError("198.51.100.77 is inside an admin network; pick another internet sample")
        return str(addr)
    if source == "admin":
        net = inv.ssh.admin_sources[0]
        return str(next(net.hosts(), net.network_address))
    return str(inv.hosts[source].private_ip)
