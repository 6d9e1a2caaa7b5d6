"""Access policy → ordered rules. Plain Python, no jsii, no Salt.

:func:`host_rules` is the one place that turns the inventory's ``allow`` lists
into rules. The NSGs (:func:`nsg_rules`, used by ``stacks/network.py``) and the
host firewall (pillar ``lostops:firewall``, rendered by ``salt/firewall``) are
both built from it, so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from lostops.inventory import SALT_PUBLISH, SALT_SERVICES, Inventory
from lostops.nsg import DENY_ALL_NAME, DENY_ALL_PRIORITY, FIRST_PRIORITY, STEP

# NSG priorities and the deny-all's name live in lostops/nsg.py (the inventory
# checks need them too); policy.FIRST_PRIORITY etc. stay valid names.


@dataclass(frozen=True)
class Rule:
    """One allowed inbound flow to one host, with its sources resolved."""

    host: str
    name: str  # unique per host, e.g. "allow-https-from-internet"
    service: str
    protocol: str  # tcp | udp
    port_low: int
    port_high: int
    source: str  # internet | admins | <host name>
    cidrs: tuple[str, ...]  # resolved source networks ("0.0.0.0/0" = anywhere)
    reason: str

    @property
    def ports(self) -> str:
        """ "22" or "30000-30010" (NSG and nftables share this spelling)."""
        return str(self.port_low) if self.port_low == self.port_high else f"{self.port_low}-{self.port_high}"

    @property
    def from_anywhere(self) -> bool:
        return self.cidrs == ("0.0.0.0/0",)


def host_rules(inv: Inventory, host: str) -> list[Rule]:
    """The allowed inbound flows of `host`, in inventory order."""
    rules = []
    for flow in inv.hosts[host].allow:
        svc = inv.services[flow.service]
        low, high = svc.port_range
        rules.append(
            Rule(
                host=host,
                name=f"allow-{flow.service}-from-{flow.source}",
                service=flow.service,
                protocol=svc.protocol,
                port_low=low,
                port_high=high,
                source=flow.source,
                cidrs=tuple(str(n) for n in inv.source_networks(flow.source)),
                reason=flow.reason,
            )
        )
    # Salt's distributed mode (inventory salt.master): the minion of every other
    # host connects to the master's ZeroMQ ports; nothing when salt.master is null.
    for minion in inv.salt_minions(host):
        for name in SALT_SERVICES:
            low, high = inv.services[name].port_range
            what = "publish" if name == SALT_PUBLISH else "return"
            rules.append(
                Rule(
                    host=host,
                    name=f"allow-{name}-from-{minion}",
                    service=name,
                    protocol=inv.services[name].protocol,
                    port_low=low,
                    port_high=high,
                    source=minion,
                    cidrs=(f"{inv.hosts[minion].private_ip}/32",),
                    reason=f"salt-minion on {minion} to the salt-master: ZeroMQ {what} port (salt.master)",
                )
            )
    return rules


@dataclass(frozen=True)
class NsgRule:
    """An azurerm_network_security_rule's arguments (minus the NSG wiring)."""

    name: str
    priority: int
    access: str
    protocol: str
    source_address_prefixes: tuple[str, ...]
    destination_address_prefix: str
    destination_port_range: str
    description: str
    service: str | None = None  # for checkov skips and tests; not an Azure argument

    def azure_args(self) -> dict:
        args = {
            "name": self.name,
            "priority": self.priority,
            "direction": "Inbound",
            "access": self.access,
            "protocol": self.protocol,
            "source_port_range": "*",
            "destination_address_prefix": self.destination_address_prefix,
            "destination_port_range": self.destination_port_range,
            "description": self.description,
        }
        # Azure wants the singular form for one prefix (and checkov only reads it).
        if len(self.source_address_prefixes) == 1:
            args["source_address_prefix"] = self.source_address_prefixes[0]
        else:
            args["source_address_prefixes"] = list(self.source_address_prefixes)
        return args


def _nsg_prefix(cidr: str) -> str:
    if cidr == "0.0.0.0/0":
        return "*"
    return cidr[:-3] if cidr.endswith("/32") else cidr


def nsg_rules(inv: Inventory, host: str) -> list[NsgRule]:
    """Ordered NSG rules for `host`: its allows, then an explicit deny-all."""
    dest = str(inv.hosts[host].private_ip)
    out = [
        NsgRule(
            name=rule.name,
            priority=FIRST_PRIORITY + STEP * i,
            access="Allow",
            protocol=rule.protocol.capitalize(),
            source_address_prefixes=tuple(_nsg_prefix(c) for c in rule.cidrs),
            destination_address_prefix=dest,
            destination_port_range=rule.ports,
            description=rule.reason,
            service=rule.service,
        )
        for i, rule in enumerate(host_rules(inv, host))
    ]
    if out and out[-1].priority >= DENY_ALL_PRIORITY:
        raise ValueError(f"hosts.{host}.allow: too many flows for NSG priorities below {DENY_ALL_PRIORITY}")
    out.append(
        NsgRule(
            name=DENY_ALL_NAME,
            priority=DENY_ALL_PRIORITY,
            access="Deny",
            protocol="*",
            source_address_prefixes=("*",),
            destination_address_prefix="*",
            destination_port_range="*",
            description="Deny everything not allowed above; shadows Azure's AllowVnetInBound (65000).",
        )
    )
    return out


def checkov_skips(inv: Inventory, rule: NsgRule) -> list[dict]:
    """checkov skips that one NSG rule needs, each with its reason.

    They are attached to that rule's resource only (``//`` override), so the
    reason sits next to the rule. Reasons come from the inventory.
    """
    if rule.access != "Allow" or "*" not in rule.source_address_prefixes:
        return []
    low, high = port_bounds(rule.destination_port_range)
    skips = []
    if low <= 80 <= high:
        skips.append(
            {"id": "CKV_AZURE_160", "comment": f"port 80 is open to the internet on purpose: {rule.description}"}
        )
    if low <= 22 <= high:
        skips.append(
            {"id": "CKV_AZURE_10", "comment": f"ssh.allow_ssh_from_anywhere: {inv.ssh.allow_ssh_from_anywhere}"}
        )
    return skips


def port_bounds(spec: str) -> tuple[int, int]:
    """(low, high) of an NSG port spec: "*", "22" or "30000-30010"."""
    if spec == "*":
        return 1, 65535
    low, _, high = spec.partition("-")
    return int(low), int(high or low)


def scrape_jobs(inv: Inventory) -> list[dict]:
    """Prometheus scrape jobs: every scrapable service the monitoring host may reach.

    One job per service ``scrape.job``, targets over private IPs, in inventory order.
    """
    monitors = set(inv.hosts_with_role("monitoring"))
    jobs: dict[str, dict] = {}
    for name, host in inv.hosts.items():
        for flow in host.allow:
            svc = inv.services[flow.service]
            if svc.scrape is None or flow.source not in monitors:
                continue
            job = jobs.setdefault(
                svc.scrape.job,
                {"job": svc.scrape.job, "service": flow.service, "metrics_path": svc.scrape.path, "targets": []},
            )
            job["targets"].append(
                {"host": name, "role": host.role, "address": f"{host.private_ip}:{svc.port_range[0]}"}
            )
    return list(jobs.values())


def firewall(inv: Inventory, host: str) -> list[dict]:
    """Host firewall rules for `host` (pillar lostops:firewall), same rules as the NSG."""
    return [
        {**asdict(rule), "ports": rule.ports, "from_anywhere": rule.from_anywhere, "cidrs": list(rule.cidrs)}
        for rule in host_rules(inv, host)
    ]
