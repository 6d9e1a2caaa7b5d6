"""The backup storage account in the synthesized network stack (stacks/backup.py, inventory azure.backup)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from tests.unit.synth import synth, synth_data

pytestmark = pytest.mark.synth  # runs last; tests/unit/conftest.py

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def doc() -> dict:
    return synth("example")[1]


def test_account_is_https_only_private_versioned_soft_deleting_and_immutable(doc):
    (acct,) = doc["resource"]["azurerm_storage_account"].values()
    assert acct["name"] == "lostopsbackupsexample"
    assert acct["https_traffic_only_enabled"] is True and acct["min_tls_version"] == "TLS1_2"
    assert acct["allow_nested_items_to_be_public"] is False
    assert acct["local_user_enabled"] is False and acct["sftp_enabled"] is False
    assert acct["cross_tenant_replication_enabled"] is False
    assert acct["account_replication_type"] == "GRS"
    blob = acct["blob_properties"]
    assert blob["versioning_enabled"] is True
    assert blob["delete_retention_policy"] == {"days": 14}
    assert blob["container_delete_retention_policy"] == {"days": 14}
    assert acct["immutability_policy"] == {
        "allow_protected_append_writes": False,
        "period_since_creation_in_days": 30,
        "state": "Unlocked",
    }
    assert acct["network_rules"]["default_action"] == "Deny"
    assert acct["lifecycle"]["prevent_destroy"] is True
    assert acct["sas_policy"]["expiration_period"] == "90.00:00:00"


def test_private_container_lifecycle_rule_and_private_endpoint(doc):
    (container,) = doc["resource"]["azurerm_storage_container"].values()
    assert (container["name"], container["container_access_type"]) == ("mysql-backups", "private")
    (policy,) = doc["resource"]["azurerm_storage_management_policy"].values()
    (rule,) = policy["rule"]
    assert rule["filters"]["prefix_match"] == ["mysql-backups/"]
    assert rule["actions"]["base_blob"]["delete_after_days_since_creation_greater_than"] == 90
    assert rule["actions"]["version"]["delete_after_days_since_creation"] == 90
    (pe,) = doc["resource"]["azurerm_private_endpoint"].values()
    assert pe["private_service_connection"]["subresource_names"] == ["blob"]
    assert "data.azurerm_subnet.subnet" in pe["subnet_id"]
    (zone,) = doc["resource"]["azurerm_private_dns_zone"].values()
    assert zone["name"] == "privatelink.blob.core.windows.net"
    # the VMs stay untouched: no VM resource, and the database's NIC is still only looked up
    assert "azurerm_linux_virtual_machine" not in doc["resource"]
    assert "database-nic-adopted" not in doc["resource"].get("azurerm_network_interface", {})


def test_locked_retention_and_public_admin_networks_from_the_inventory():
    data = yaml.safe_load((ROOT / "pillar/inventory/example.yaml").read_text())
    data = copy.deepcopy(data)
    data["azure"]["backup"]["immutability_locked"] = True
    data["ssh"]["admin_sources"] = ["198.18.0.0/28", "8.8.4.4/32", "20.30.40.0/24"]
    acct = next(iter(synth_data(data, "locked")["resource"]["azurerm_storage_account"].values()))
    assert acct["immutability_policy"]["state"] == "Locked"
    # Azure takes public addresses only, single addresses without /32
    assert acct["network_rules"]["ip_rules"] == ["8.8.4.4", "20.30.40.0/24"]
