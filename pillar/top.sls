#!py
"""Pillar top.

Every host gets the inventory pillar (key `lostops`, from the #!py file
inventory_pillar.sls, which also filters secrets by role) and the committed,
non-secret formula defaults; salt/top.sls applies the formulas of each host's
role (lostops:host:formulas, from lostops/roles.py). pillar/overrides/<name>/
is merged last: the differences of one environment, e.g. the end-to-end lab
(LOSTOPS_INVENTORY=lab). <name> is the selected inventory's validated name (its
file stem, lostops.inventory.selected_name), never $LOSTOPS_INVENTORY as given.
"""

SLS = ["inventory_pillar", "images", "common", "firewall", "docker", "exporters", "traefik", "mysql", "monitoring", "app"]


def run():
    from lostops.inventory import selected_name

    sls = list(SLS)
    name = selected_name()
    if name:
        sls += [f"overrides.{name}", {"ignore_missing": True}]
    targets = {"*": sls}
    return {"base": targets}
