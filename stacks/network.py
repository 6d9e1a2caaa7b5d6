"""The network stack: NSGs, public IPs and DNS records around the existing VMs.

Thin by design: which rules exist comes from :func:`lostops.policy.nsg_rules`.
The VMs are never created or modified. Their NICs are looked up with data
sources; a NIC is only adopted (Terraform ``import`` block, never recreated)
when its host gets a public IP, because azurerm can attach a public IP only
through the NIC's ``ip_configuration`` (see README, "Public IPs").
"""

from __future__ import annotations

from constructs import Construct

from lostops import policy
from lostops.inventory import Host, Inventory
from stacks import backup, cdk

# Attributes of an adopted NIC that this stack does not own: leave them as found.
NIC_IGNORE_CHANGES = [
    "tags",
    "dns_servers",
    "accelerated_networking_enabled",
    "ip_forwarding_enabled",
    "internal_dns_name_label",
]


RESOURCE_PROVIDER_REGISTRATIONS = "none"


class NetworkStack(cdk.TerraformStack):
    def __init__(self, scope: Construct, stack_id: str, inv: Inventory):
        super().__init__(scope, stack_id)
        self.inv = inv
        az = inv.azure
        # "none": the provider registers no resource provider at subscription
        # scope. Its default does, which needs subscription-wide rights; the
        # deploy identity holds resource-group roles only (docs/releasing.md),
        # so plan would fail with 403. Microsoft.Network is registered once by
        # an operator (docs/releasing.md, one-time steps).
        cdk.AzurermProvider(
            self,
            "azurerm",
            features=[cdk.AzurermProviderFeatures()],
            resource_provider_registrations=RESOURCE_PROVIDER_REGISTRATIONS,
        )
        if az.state_backend:
            sb = az.state_backend
            cdk.AzurermBackend(
                self,
                resource_group_name=sb.resource_group,
                storage_account_name=sb.storage_account,
                container_name=sb.container,
                key=sb.key,
                use_oidc=sb.use_oidc,
                use_azuread_auth=True,
            )
        else:
            cdk.LocalBackend(self, path=f"terraform.{stack_id}.tfstate")

        self.tags = {"managed-by": "lostops-cdktf", "inventory": inv.name}
        self.subnet = cdk.DataAzurermSubnet(
            self,
            "subnet",
            name=az.network.subnet,
            virtual_network_name=az.network.virtual_network,
            resource_group_name=az.network.resource_group,
        )
        self.zone = cdk.DataAzurermDnsZone(
            self, "dns-zone", name=az.dns_zone.name, resource_group_name=az.dns_zone.resource_group
        )
        for name, host in inv.hosts.items():
            self._host(name, host)
        backup.add(self, inv, self.subnet)

    def _host(self, name: str, host: Host) -> None:
        az = self.inv.azure
        vm = cdk.DataAzurermVirtualMachine(
            self, f"{name}-vm", name=host.vm.name, resource_group_name=host.vm.resource_group
        )
        nic = cdk.DataAzurermNetworkInterface(
            self, f"{name}-nic", name=host.nic.name, resource_group_name=host.nic.resource_group
        )

        nsg = cdk.NetworkSecurityGroup(
            self,
            f"{name}-nsg",
            name=f"{host.vm.name}-nsg",
            location=az.location,
            resource_group_name=az.resource_group,
            tags=self.tags,
        )
        for rule in policy.nsg_rules(self.inv, name):
            res = cdk.NetworkSecurityRule(
                self,
                f"{name}-{rule.name}",
                resource_group_name=az.resource_group,
                network_security_group_name=nsg.name,
                **rule.azure_args(),
            )
            skips = policy.checkov_skips(self.inv, rule)
            if skips:
                res.add_override("//", {"checkov": {"skip": skips}})

        association = cdk.NetworkInterfaceSecurityGroupAssociation(
            self, f"{name}-nsg-association", network_interface_id=nic.id, network_security_group_id=nsg.id
        )
        # Guard against an inventory that names another VM's NIC, and against a
        # NIC that already has an NSG of its own (the portal creates one per
        # VM): azurerm would fail with "already exists - to be managed via
        # Terraform this resource needs to be imported", after the plan. The
        # precondition says so at plan time, naming the one-time fix.
        own_nsg_suffix = f"/networksecuritygroups/{host.vm.name}-nsg".lower()
        association.lifecycle = cdk.TerraformResourceLifecycle(
            precondition=[
                cdk.Precondition(
                    condition=cdk.Op.eq(cdk.Fn.lower(nic.virtual_machine_id), cdk.Fn.lower(vm.id)),
                    error_message=f"hosts.{name}.nic: {host.nic.name} is not attached to VM {host.vm.name}.",
                ),
                cdk.Precondition(
                    condition=cdk.Op.or_(
                        # (an empty id: no NSG; cdktf renders a literal 0 or "" as undefined)
                        cdk.Op.lt(cdk.Fn.length_of(nic.network_security_group_id), 1),
                        cdk.Fn.endswith(cdk.Fn.lower(nic.network_security_group_id), own_nsg_suffix),
                    ),
                    error_message=(
                        f"hosts.{name}.nic: {host.nic.name} already has another NSG; detach it once "
                        f"(az network nic update -g {host.nic.resource_group} -n {host.nic.name} "
                        "--remove networkSecurityGroup), see docs/releasing.md, one-time steps."
                    ),
                ),
            ]
        )

        if not host.has_public_ip:
            return
        pip = cdk.PublicIp(
            self,
            f"{name}-public-ip",
            name=f"{host.vm.name}-ip",
            location=az.location,
            resource_group_name=az.resource_group,
            allocation_method="Static",
            sku="Standard",
            tags=self.tags,
        )
        adopted = cdk.NetworkInterface(
            self,
            f"{name}-nic-adopted",
            name=host.nic.name,
            resource_group_name=host.nic.resource_group,
            location=nic.location,
            ip_configuration=[
                cdk.NetworkInterfaceIpConfiguration(
                    name=host.nic.ip_configuration,
                    subnet_id=self.subnet.id,
                    private_ip_address_allocation="Static",
                    private_ip_address=str(host.private_ip),
                    public_ip_address_id=pip.id,
                    primary=True,
                )
            ],
            lifecycle=cdk.TerraformResourceLifecycle(prevent_destroy=True, ignore_changes=NIC_IGNORE_CHANGES),
        )
        adopted.import_from(nic.id)
        adopted.add_override(
            "//",
            {
                "checkov": {
                    "skip": [
                        {
                            "id": "CKV_AZURE_119",
                            "comment": f"hosts.{name}.public_ip: the design gives {name} a public IP; the NSG limits what reaches it",
                        }
                    ]
                }
            },
        )

        for fqdn in host.dns:
            label = fqdn.rstrip(".")[: -len(az.dns_zone.name.rstrip(".")) - 1]
            cdk.DnsARecord(
                self,
                f"dns-{label}",
                name=label,
                zone_name=self.zone.name,
                resource_group_name=self.zone.resource_group_name,
                ttl=300,
                target_resource_id=pip.id,
                tags=self.tags,
            )
        cdk.TerraformOutput(self, f"{name}_public_ip", value=pip.ip_address, description=f"public IP of {name}")
        cdk.TerraformOutput(self, f"{name}_fqdns", value=list(host.dns), description=f"DNS names of {name}")
