"""Off-host backups: the storage account the database host uploads its encrypted dumps to.

Part of the network stack (one inventory, one stack): ``azure.backup`` of the
inventory. What is created and why (docs/mysql.md, "Off-host backups"):

- a StorageV2 account: HTTPS only, TLS 1.2, no public blobs, no local users
  (SFTP), no cross-tenant replication, a SAS expiration policy;
- blob versioning, soft delete of blobs and of the container;
- an account-level time-based retention (immutability) policy: every blob
  version stays immutable for ``immutability_days`` (``Locked``: not even an
  owner can shorten it). The database host holds only a create-only SAS, a
  data-plane credential: it can neither touch the policy nor read, list,
  overwrite or delete a blob;
- a lifecycle rule that deletes backups (and old versions) after
  ``delete_after_days``;
- one private container;
- network: the public endpoint denies by default and admits only the admin
  networks (operators restore from there); the database host reaches the
  account through a private endpoint in the VMs' subnet (with its
  privatelink DNS zone linked to the VNet). The VMs, their NICs and the
  subnet are not modified.
"""

from __future__ import annotations

from lostops.inventory import Inventory
from stacks import cdk

PRIVATE_DNS_ZONE = "privatelink.blob.core.windows.net"


def admin_ip_rules(inv: Inventory) -> list[str]:
    """The admin networks as storage firewall IP rules.

    Azure takes only public addresses there, and a single address without its
    /32 (or /31) suffix; private admin networks reach the account through the
    private endpoint, not the public one."""
    rules = []
    for net in inv.ssh.admin_sources:
        if net.is_private:
            continue
        rules.append(str(net.network_address) if net.prefixlen >= 31 else str(net))
    return rules


def add(stack: cdk.TerraformStack, inv: Inventory, subnet) -> None:
    b = inv.azure.backup
    if b is None:
        return
    az = inv.azure
    rg = b.resource_group or az.resource_group
    tags = {"managed-by": "lostops-cdktf", "inventory": inv.name, "purpose": "mysql-backups"}
    account = cdk.StorageAccount(
        stack,
        "backup-storage",
        name=b.storage_account,
        resource_group_name=rg,
        location=az.location,
        account_kind="StorageV2",
        account_tier="Standard",
        account_replication_type=b.replication,
        https_traffic_only_enabled=True,
        min_tls_version="TLS1_2",
        allow_nested_items_to_be_public=False,
        cross_tenant_replication_enabled=False,
        local_user_enabled=False,
        sftp_enabled=False,
        # Shared keys sign the database host's service SAS (user-delegation
        # SAS expire after 7 days at most); operators sign in with Azure AD.
        shared_access_key_enabled=True,
        default_to_oauth_authentication=True,
        public_network_access_enabled=True,
        network_rules=cdk.StorageAccountNetworkRules(
            default_action="Deny",
            bypass=["None"],
            ip_rules=admin_ip_rules(inv),
        ),
        sas_policy=cdk.StorageAccountSasPolicy(expiration_period="90.00:00:00", expiration_action="Log"),
        blob_properties=cdk.StorageAccountBlobProperties(
            versioning_enabled=True,
            delete_retention_policy=cdk.StorageAccountBlobPropertiesDeleteRetentionPolicy(days=b.soft_delete_days),
            container_delete_retention_policy=cdk.StorageAccountBlobPropertiesContainerDeleteRetentionPolicy(
                days=b.soft_delete_days
            ),
        ),
        immutability_policy=cdk.StorageAccountImmutabilityPolicy(
            allow_protected_append_writes=False,
            period_since_creation_in_days=b.immutability_days,
            state="Locked" if b.immutability_locked else "Unlocked",
        ),
        tags=tags,
        lifecycle=cdk.TerraformResourceLifecycle(prevent_destroy=True),
    )
    account.add_override(
        "//",
        {
            "checkov": {
                "skip": [
                    {
                        "id": "CKV_AZURE_59",
                        "comment": "azure.backup: the public endpoint denies by default and admits only "
                        "ssh.admin_sources (operators restore from there); the database host uses the private endpoint",
                    },
                    {
                        "id": "CKV2_AZURE_40",
                        "comment": "azure.backup: the database host's create-only service SAS is signed with "
                        "the account key (a user-delegation SAS lasts 7 days at most); operators use Azure AD",
                    },
                    {
                        "id": "CKV2_AZURE_1",
                        "comment": "azure.backup: the dumps are encrypted client-side with age before upload; "
                        "a customer-managed key would add a Key Vault and protect nothing more",
                    },
                    {
                        "id": "CKV_AZURE_36",
                        "comment": "azure.backup: no Azure service needs the backups, so the firewall bypasses "
                        "none (narrower than AzureServices); lifecycle management is not affected",
                    },
                    {
                        "id": "CKV_AZURE_33",
                        "comment": "azure.backup: the account serves blobs only; no queue is used",
                    },
                ]
            }
        },
    )
    container = cdk.StorageContainer(
        stack,
        "backup-container",
        name=b.container,
        storage_account_id=account.id,
        container_access_type="private",
    )
    container.add_override(
        "//",
        {
            "checkov": {
                "skip": [
                    {
                        "id": "CKV2_AZURE_21",
                        "comment": "azure.backup: this deployment has no Log Analytics workspace; reading needs an "
                        "operator's Azure AD sign-in (user-delegation SAS), which Entra ID logs",
                    }
                ]
            }
        },
    )
    cdk.StorageManagementPolicy(
        stack,
        "backup-lifecycle",
        storage_account_id=account.id,
        rule=[
            cdk.StorageManagementPolicyRule(
                name="delete-old-backups",
                enabled=True,
                filters=cdk.StorageManagementPolicyRuleFilters(
                    blob_types=["blockBlob"], prefix_match=[f"{b.container}/"]
                ),
                actions=cdk.StorageManagementPolicyRuleActions(
                    base_blob=cdk.StorageManagementPolicyRuleActionsBaseBlob(
                        delete_after_days_since_creation_greater_than=b.delete_after_days
                    ),
                    version=cdk.StorageManagementPolicyRuleActionsVersion(
                        delete_after_days_since_creation=b.delete_after_days
                    ),
                ),
            )
        ],
    )

    vnet = cdk.DataAzurermVirtualNetwork(
        stack, "vnet", name=az.network.virtual_network, resource_group_name=az.network.resource_group
    )
    zone = cdk.PrivateDnsZone(stack, "backup-private-dns", name=PRIVATE_DNS_ZONE, resource_group_name=rg, tags=tags)
    # azurerm 5 (cdktn) names the zone by its id; 4.x by name and resource group (docs/cdktn.md).
    zone_ref = (
        {"private_dns_zone_id": zone.id}
        if cdk.AZURERM_MAJOR >= 5
        else {"private_dns_zone_name": zone.name, "resource_group_name": rg}
    )
    cdk.PrivateDnsZoneVirtualNetworkLink(
        stack,
        "backup-private-dns-link",
        name=f"{az.network.virtual_network}-blob",
        **zone_ref,
        virtual_network_id=vnet.id,
        registration_enabled=False,
        tags=tags,
    )
    cdk.PrivateEndpoint(
        stack,
        "backup-private-endpoint",
        name=f"{b.storage_account}-blob",
        resource_group_name=rg,
        location=az.location,
        subnet_id=subnet.id,
        private_service_connection=cdk.PrivateEndpointPrivateServiceConnection(
            name=f"{b.storage_account}-blob",
            private_connection_resource_id=account.id,
            subresource_names=["blob"],
            is_manual_connection=False,
        ),
        private_dns_zone_group=cdk.PrivateEndpointPrivateDnsZoneGroup(name="blob", private_dns_zone_ids=[zone.id]),
        tags=tags,
    )
    cdk.TerraformOutput(stack, "backup_storage_account", value=account.name, description="backup storage account")
    cdk.TerraformOutput(stack, "backup_container", value=b.container, description="backup container")
    cdk.TerraformOutput(
        stack, "backup_blob_endpoint", value=account.primary_blob_endpoint, description="backup blob endpoint"
    )
