"""The `lostops` pillar: the inventory as Salt sees it, plus validated secrets.

``pillar/inventory_pillar.sls`` (a ``#!py`` pillar) calls :func:`build` for each minion.
Salt states never re-derive anything: ports, addresses, firewall rules and
scrape targets all come from here, computed by :mod:`lostops.policy`.
"""

from __future__ import annotations

from lostops import inventory, policy, roles, secrets


class PillarError(ValueError):
    """One line naming the field and the problem."""


def inventory_pillar(inv: inventory.Inventory, minion_id: str) -> dict:
    if minion_id not in inv.hosts:
        raise PillarError(
            f"minion {minion_id!r} is not a host in inventory {inv.name!r} (hosts: {', '.join(inv.hosts)})"
        )
    host = inv.hosts[minion_id]

    def host_view(name: str, h: inventory.Host) -> dict:
        role = roles.get(h.role)
        return {
            "name": name,
            "role": h.role,
            "private_ip": str(h.private_ip),
            "public_ip": h.has_public_ip,
            "dns": list(h.dns),
            "ssh_via": h.ssh_via,
            # From the role table (lostops/roles.py): salt/top.sls applies
            # `formulas` in this order; salt/exporters runs `exporters`.
            "formulas": list(role.formulas),
            "exporters": list(role.exporters),
        }

    return {
        "inventory": inv.name,
        "zone": inv.azure.dns_zone.name,
        "minion": minion_id,
        "host": host_view(minion_id, host),
        "hosts": {n: host_view(n, h) for n, h in inv.hosts.items()},
        "roles": {r: inv.hosts_with_role(r) for r in inventory.ROLES},
        "services": {
            n: {
                "port": s.port_range[0],
                "port_low": s.port_range[0],
                "port_high": s.port_range[1],
                "protocol": s.protocol,
            }
            for n, s in inv.services.items()
        },
        "admin_sources": [str(n) for n in inv.ssh.admin_sources],
        "ssh_user": inv.ssh.user,
        "firewall": policy.firewall(inv, minion_id),
        # Off-host backups (inventory azure.backup; salt/mysql/backup.sls):
        # where the database host uploads. None: local dumps only.
        "backup": None
        if inv.azure.backup is None
        else {
            "endpoint": inv.azure.backup.blob_endpoint,
            "storage_account": inv.azure.backup.storage_account,
            "container": inv.azure.backup.container,
        },
        "scrape_jobs": policy.scrape_jobs(inv),
    }


def build(minion_id: str, check_secrets: bool = True) -> dict:
    """Pillar for one minion. Raises PillarError with a one-line message."""
    try:
        inv = inventory.load()
    except inventory.InventoryError as exc:
        raise PillarError(f"{exc.source}: {exc.lines()[0]}") from None
    data = {"lostops": inventory_pillar(inv, minion_id)}
    try:
        values = secrets.read()
        if check_secrets:
            secrets.check(values, inv)
    except secrets.SecretError as exc:
        raise PillarError(str(exc)) from None
    data["secrets"] = secrets.for_role(values, inv.hosts[minion_id].role)
    return data
