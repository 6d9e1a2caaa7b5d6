"""The synthesized network stack: snapshot, cdktf Testing assertions, shape.

Snapshots: tests/unit/snapshots/<stack>.<inventory>.json is compared with the
real synth output; a mismatch fails with a unified diff. Rewrite them only on
purpose: `make snapshots` (UPDATE_SNAPSHOTS=1), then review `git diff`.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

import cdktf  # the Testing assertions only: cdktf's core, not the azurerm bindings
import pytest

from tests.unit.synth import synth, synth_data

pytestmark = pytest.mark.synth  # runs last; tests/unit/conftest.py

SNAPSHOTS = Path(__file__).parent / "snapshots"


def _normalized(doc: dict) -> dict:
    doc = json.loads(json.dumps(doc))
    doc.pop("//", None)  # cdktf version metadata, not ours
    return doc


@pytest.mark.parametrize("inventory", ["example", "lab"])
def test_snapshot(inventory):
    actual = json.dumps(_normalized(synth(inventory)[1]), indent=2, sort_keys=True) + "\n"
    path = SNAPSHOTS / f"network.{inventory}.json"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.write_text(actual)
    assert path.exists(), f"no snapshot {path}; run `make snapshots` and commit it"
    expected = path.read_text()
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), str(path), "synth", n=2)
        )
        pytest.fail(f"synth output differs from the snapshot (run `make snapshots` if intended):\n{diff}")


@pytest.fixture(scope="module")
def synthesized() -> str:
    return json.dumps(synth("example")[1])


@pytest.fixture(scope="module")
def doc() -> dict:
    return synth("example")[1]


def test_three_nsgs_each_associated_with_its_nic(synthesized, doc):
    for host in ("backend", "database", "monitoring"):
        assert cdktf.Testing.to_have_resource_with_properties(
            synthesized, "azurerm_network_security_group", {"name": f"lostops-{host}-nsg", "location": "westeurope"}
        )
        assoc = doc["resource"]["azurerm_network_interface_security_group_association"][f"{host}-nsg-association"]
        assert assoc["network_interface_id"] == f"${{data.azurerm_network_interface.{host}-nic.id}}"
        assert assoc["network_security_group_id"] == f"${{azurerm_network_security_group.{host}-nsg.id}}"
    assert len(doc["resource"]["azurerm_network_security_group"]) == 3


def test_existing_vms_and_nics_are_only_looked_up(synthesized, doc):
    assert cdktf.Testing.to_have_data_source_with_properties(
        synthesized, "azurerm_virtual_machine", {"name": "lostops-database", "resource_group_name": "lostops-vms"}
    )
    assert cdktf.Testing.to_have_data_source_with_properties(
        synthesized, "azurerm_network_interface", {"name": "lostops-database-nic"}
    )
    for kind in ("azurerm_linux_virtual_machine", "azurerm_virtual_machine", "azurerm_windows_virtual_machine"):
        assert kind not in doc["resource"]


def test_public_ips_are_static_standard_for_backend_and_monitoring_only(synthesized, doc):
    pips = doc["resource"]["azurerm_public_ip"]
    assert sorted(pips) == ["backend-public-ip", "monitoring-public-ip"]
    for pip in pips.values():
        assert (pip["allocation_method"], pip["sku"]) == ("Static", "Standard")
    assert not any("database" in k for k in pips)


def test_nics_with_a_public_ip_are_adopted_by_import_never_recreated(doc):
    nics = doc["resource"]["azurerm_network_interface"]
    assert sorted(nics) == ["backend-nic-adopted", "monitoring-nic-adopted"]
    imports = {i["to"]: i["id"] for i in doc["import"]}
    for host in ("backend", "monitoring"):
        nic = nics[f"{host}-nic-adopted"]
        assert nic["lifecycle"]["prevent_destroy"] is True
        assert "tags" in nic["lifecycle"]["ignore_changes"]
        (ipconf,) = nic["ip_configuration"]
        assert ipconf["public_ip_address_id"] == f"${{azurerm_public_ip.{host}-public-ip.id}}"
        assert (
            imports[f"azurerm_network_interface.{host}-nic-adopted"]
            == f"${{data.azurerm_network_interface.{host}-nic.id}}"
        )
    assert "azurerm_network_interface.database-nic-adopted" not in imports


def test_dns_a_records_in_the_existing_zone_point_at_the_public_ips(synthesized, doc):
    assert cdktf.Testing.to_have_data_source_with_properties(
        synthesized, "azurerm_dns_zone", {"name": "lostops.example.com"}
    )
    records = doc["resource"]["azurerm_dns_a_record"]
    targets = {r["name"]: r["target_resource_id"] for r in records.values()}
    assert targets == {
        "app": "${azurerm_public_ip.backend-public-ip.id}",
        "grafana": "${azurerm_public_ip.monitoring-public-ip.id}",
        "prometheus": "${azurerm_public_ip.monitoring-public-ip.id}",
    }
    assert all(r["zone_name"] == "${data.azurerm_dns_zone.dns-zone.name}" for r in records.values())


def test_outputs_for_the_roster_and_workflows(doc):
    out = doc["output"]
    assert out["backend_public_ip"]["value"] == "${azurerm_public_ip.backend-public-ip.ip_address}"
    assert out["monitoring_fqdns"]["value"] == ["grafana.lostops.example.com", "prometheus.lostops.example.com"]
    assert "database_public_ip" not in out


def test_explicit_deny_all_is_the_last_rule_of_every_nsg(doc):
    rules = doc["resource"]["azurerm_network_security_rule"]
    for host in ("backend", "database", "monitoring"):
        mine = [
            r
            for r in rules.values()
            if r["network_security_group_name"] == f"${{azurerm_network_security_group.{host}-nsg.name}}"
        ]
        last = max(mine, key=lambda r: r["priority"])
        assert (last["name"], last["access"], last["priority"]) == ("deny-all-inbound", "Deny", 4096)


def test_no_rule_allows_ssh_or_everything_from_anywhere(doc):
    for name, rule in doc["resource"]["azurerm_network_security_rule"].items():
        if rule["access"] != "Allow":
            continue
        assert rule["destination_port_range"] != "*", name
        if rule.get("source_address_prefix") == "*":
            assert rule["destination_port_range"] in ("80", "443"), name


def test_state_backend_local_by_default_azurerm_when_configured():
    import copy

    import yaml

    from lostops.inventory import REPO_ROOT

    assert synth("example")[1]["terraform"]["backend"] == {"local": {"path": "terraform.network.tfstate"}}
    data = yaml.safe_load((REPO_ROOT / "pillar/inventory/example.yaml").read_text())
    data = copy.deepcopy(data)
    data["azure"]["state_backend"] = {
        "resource_group": "tfstate-rg",
        "storage_account": "lostopstf",
        "container": "tfstate",
        "key": "network.tfstate",
    }
    backend = synth_data(data, name="prod")["terraform"]["backend"]
    assert backend == {
        "azurerm": {
            "container_name": "tfstate",
            "key": "network.tfstate",
            "resource_group_name": "tfstate-rg",
            "storage_account_name": "lostopstf",
            "use_azuread_auth": True,
            "use_oidc": True,
        }
    }


def test_provider_registers_no_resource_provider(doc):
    """azurerm registers resource providers at subscription scope by default; the deploy
    identity holds resource-group roles only (docs/releasing.md), so plan would fail with 403."""
    (provider,) = doc["provider"]["azurerm"]
    assert provider["resource_provider_registrations"] == "none"
    assert "skip_provider_registration" not in provider


def _tf_condition(expr: str, values: dict[str, str]) -> bool:
    """Evaluate the few Terraform functions the NIC preconditions use (length, lower,
    endswith, ==, <, ||) with data-source attributes from `values`."""
    body = expr.removeprefix("${").removesuffix("}")
    for ref, value in values.items():
        body = body.replace(ref, json.dumps(value))
    body = body.replace("||", " or ").replace("&&", " and ")
    return bool(
        # a fixed expression from our own synth, with JSON literals substituted
        eval(
            body,
            {"__builtins__": {}},
            {"length": len, "lower": str.lower, "endswith": str.endswith},
        )
    )


@pytest.mark.parametrize(
    "nic_nsg, ok",
    [
        ("", True),  # no NSG on the NIC: the association is created
        # ours (after the first deploy; Azure ids come back in any case)
        (
            "/subscriptions/s/resourceGroups/lostops-network/providers/Microsoft.Network/networkSecurityGroups/lostops-backend-nsg",
            True,
        ),
        (
            "/subscriptions/s/resourceGroups/LOSTOPS-NETWORK/providers/Microsoft.Network/networkSecurityGroups/LOSTOPS-BACKEND-NSG",
            True,
        ),
        # the portal's own NSG: azurerm would fail with "already exists ... needs to be imported"
        (
            "/subscriptions/s/resourceGroups/lostops-vms/providers/Microsoft.Network/networkSecurityGroups/lostops-backend-nsg-portal",
            False,
        ),
        (
            "/subscriptions/s/resourceGroups/lostops-vms/providers/Microsoft.Network/networkSecurityGroups/lostops-backendNSG",
            False,
        ),
    ],
)
def test_a_nic_with_another_nsg_stops_at_plan_with_the_one_time_fix(doc, nic_nsg, ok):
    assoc = doc["resource"]["azurerm_network_interface_security_group_association"]["backend-nsg-association"]
    (cond,) = [p for p in assoc["lifecycle"]["precondition"] if "network_security_group_id" in p["condition"]]
    ref = "data.azurerm_network_interface.backend-nic.network_security_group_id"
    assert _tf_condition(cond["condition"], {ref: nic_nsg}) is ok
    assert cond["error_message"] == (
        "hosts.backend.nic: lostops-backend-nic already has another NSG; detach it once "
        "(az network nic update -g lostops-vms -n lostops-backend-nic --remove networkSecurityGroup), "
        "see docs/releasing.md, one-time steps."
    )


def test_salt_master_zeromq_ports_reach_the_master_from_the_fleet_only():
    """inventory salt.master: the NSGs (Azure semantics over the synth JSON) let only the fleet reach 4505/4506."""
    import copy

    from lostops.inventory import parse
    from tests.unit.nsgsim import NsgModel, source_address
    from tests.unit.test_inventory import EXAMPLE

    data = copy.deepcopy(EXAMPLE)
    data["salt"] = {"master": "monitoring"}
    data["services"].update({"salt-publish": {"port": 4505}, "salt-return": {"port": 4506}})
    inv = parse(data, name="saltmaster")
    with_master = NsgModel(synth_data(data, name="saltmaster"), inv)
    without = NsgModel(synth("example")[1], inv)
    for port in (4505, 4506):
        for minion in ("backend", "database"):
            assert with_master.evaluate(source_address(inv, minion), "monitoring", port)[0] == "Allow"
            assert without.evaluate(source_address(inv, minion), "monitoring", port) == ("Deny", "deny-all-inbound")
        for src in (source_address(inv, "internet"), source_address(inv, "admin")):
            assert with_master.evaluate(src, "monitoring", port) == ("Deny", "deny-all-inbound")
        for host in ("backend", "database"):
            assert with_master.evaluate(source_address(inv, "monitoring"), host, port) == ("Deny", "deny-all-inbound")
