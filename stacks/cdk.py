"""The only module of the app that imports the CDK and the azurerm provider bindings
(the unit tests also use its ``Testing`` assertions).

Two CDKs synthesize the same stack (tests/unit/test_cdktn.py compares them):

- ``cdktf`` (default; the design names it): CDKTF 0.21 and
  ``cdktf-cdktf-provider-azurerm`` (azurerm 4.x), from the Pipfile. HashiCorp
  archived CDKTF in December 2025.
- ``cdktn`` (``LOSTOPS_CDK=cdktn``): CDK Terrain, the community continuation,
  and ``cdktn-provider-azurerm`` (azurerm 5.x), from
  tools/requirements-cdktn.txt in .venv-cdktn (``make deps-cdktn``).

Both packages have the same classes under the same module names, so only the
two package names differ.
"""

import importlib
import os

CDKS = {"cdktf": ("cdktf", "cdktf_cdktf_provider_azurerm"), "cdktn": ("cdktn", "cdktn_provider_azurerm")}
NAME = os.environ.get("LOSTOPS_CDK") or "cdktf"
if NAME not in CDKS:
    raise SystemExit(f"LOSTOPS_CDK: {NAME!r} is not one of {', '.join(CDKS)}")
_core_name, _azurerm = CDKS[NAME]
_core = importlib.import_module(_core_name)


def _provider(module: str, *names: str):
    mod = importlib.import_module(f"{_azurerm}.{module}")
    return tuple(getattr(mod, n) for n in names)


App = _core.App
AzurermBackend = _core.AzurermBackend
Fn = _core.Fn
LocalBackend = _core.LocalBackend
Op = _core.Op
Precondition = _core.Precondition
TerraformOutput = _core.TerraformOutput
TerraformResourceLifecycle = _core.TerraformResourceLifecycle
TerraformStack = _core.TerraformStack
Testing = _core.Testing

(DataAzurermDnsZone,) = _provider("data_azurerm_dns_zone", "DataAzurermDnsZone")
(DataAzurermNetworkInterface,) = _provider("data_azurerm_network_interface", "DataAzurermNetworkInterface")
(DataAzurermSubnet,) = _provider("data_azurerm_subnet", "DataAzurermSubnet")
(DataAzurermVirtualMachine,) = _provider("data_azurerm_virtual_machine", "DataAzurermVirtualMachine")
(DnsARecord,) = _provider("dns_a_record", "DnsARecord")
NetworkInterface, NetworkInterfaceIpConfiguration = _provider(
    "network_interface", "NetworkInterface", "NetworkInterfaceIpConfiguration"
)
(NetworkInterfaceSecurityGroupAssociation,) = _provider(
    "network_interface_security_group_association", "NetworkInterfaceSecurityGroupAssociation"
)
(NetworkSecurityGroup,) = _provider("network_security_group", "NetworkSecurityGroup")
(NetworkSecurityRule,) = _provider("network_security_rule", "NetworkSecurityRule")
AzurermProvider, AzurermProviderFeatures = _provider("provider", "AzurermProvider", "AzurermProviderFeatures")
(PublicIp,) = _provider("public_ip", "PublicIp")
