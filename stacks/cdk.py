"""The only module of the app that imports the CDK and the azurerm provider bindings
(the unit tests also use its ``Testing`` assertions).

Two CDKs synthesize the same stack (tests/unit/test_cdktn.py compares them):

- ``cdktf`` (default; the design names it): CDKTF 0.21 and
  ``cdktf-cdktf-provider-azurerm`` (azurerm 4.x), from the Pipfile. HashiCorp
  archived CDKTF in December 2025.
- ``cdktn`` (``LOSTOPS_CDK=cdktn``): CDK Terrain, the community continuation,
  and ``cdktn-provider-azurerm`` (azurerm 5.x), from
  tools/requirements-cdktn.txt in .venv-cdktn (``make deps-cdktn``).

CDK Terrain has the same classes under the same module names; only the two
package names differ. So the imports below stay written for cdktf, and with
``LOSTOPS_CDK=cdktn`` an import hook (``_alias``) answers them with CDK
Terrain's modules: ``cdktf`` -> ``cdktn``, ``cdktf_cdktf_provider_azurerm.X``
-> ``cdktn_provider_azurerm.X`` (the same module objects, loaded once).
"""

import importlib
import importlib.abc
import importlib.util
import os
import sys

CDKS = {"cdktf": {}, "cdktn": {"cdktf": "cdktn", "cdktf_cdktf_provider_azurerm": "cdktn_provider_azurerm"}}
NAME = os.environ.get("LOSTOPS_CDK") or "cdktf"
if NAME not in CDKS:
    raise SystemExit(f"LOSTOPS_CDK: {NAME!r} is not one of {', '.join(CDKS)}")
# The azurerm major version the bindings speak: a resource whose arguments the
# 5.0 upgrade guide changed is written for both (docs/cdktn.md).
AZURERM_MAJOR = {"cdktf": 4, "cdktn": 5}[NAME]


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Import `old.x` as the module `new.x` (the very same object) for each old -> new package name."""

    def __init__(self, names: dict[str, str]):
        self.names = names

    def find_spec(self, fullname, path, target=None):
        if fullname.partition(".")[0] in self.names:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        top, dot, rest = spec.name.partition(".")
        return importlib.import_module(self.names[top] + dot + rest)

    def exec_module(self, module):
        pass  # the real module ran when create_module imported it


def _alias(names: dict[str, str]) -> None:
    if names and not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.insert(0, _Alias(names))


_alias(CDKS[NAME])

from cdktf import (  # noqa: F401 - re-exported
    App,
    AzurermBackend,
    Fn,
    LocalBackend,
    Op,
    Precondition,
    TerraformOutput,
    TerraformResourceLifecycle,
    TerraformStack,
    Testing,
)
from cdktf_cdktf_provider_azurerm.data_azurerm_dns_zone import DataAzurermDnsZone  # noqa: F401
from cdktf_cdktf_provider_azurerm.data_azurerm_network_interface import DataAzurermNetworkInterface  # noqa: F401
from cdktf_cdktf_provider_azurerm.data_azurerm_subnet import DataAzurermSubnet  # noqa: F401
from cdktf_cdktf_provider_azurerm.data_azurerm_virtual_machine import DataAzurermVirtualMachine  # noqa: F401
from cdktf_cdktf_provider_azurerm.data_azurerm_virtual_network import DataAzurermVirtualNetwork  # noqa: F401
from cdktf_cdktf_provider_azurerm.dns_a_record import DnsARecord  # noqa: F401
from cdktf_cdktf_provider_azurerm.network_interface import (  # noqa: F401
    NetworkInterface,
    NetworkInterfaceIpConfiguration,
)
from cdktf_cdktf_provider_azurerm.network_interface_security_group_association import (  # noqa: F401
    NetworkInterfaceSecurityGroupAssociation,
)
from cdktf_cdktf_provider_azurerm.network_security_group import NetworkSecurityGroup  # noqa: F401
from cdktf_cdktf_provider_azurerm.network_security_rule import NetworkSecurityRule  # noqa: F401
from cdktf_cdktf_provider_azurerm.private_dns_zone import PrivateDnsZone  # noqa: F401
from cdktf_cdktf_provider_azurerm.private_dns_zone_virtual_network_link import (  # noqa: F401
    PrivateDnsZoneVirtualNetworkLink,
)
from cdktf_cdktf_provider_azurerm.private_endpoint import (  # noqa: F401
    PrivateEndpoint,
    PrivateEndpointPrivateDnsZoneGroup,
    PrivateEndpointPrivateServiceConnection,
)
from cdktf_cdktf_provider_azurerm.provider import AzurermProvider, AzurermProviderFeatures  # noqa: F401
from cdktf_cdktf_provider_azurerm.public_ip import PublicIp  # noqa: F401
from cdktf_cdktf_provider_azurerm.storage_account import (  # noqa: F401
    StorageAccount,
    StorageAccountBlobProperties,
    StorageAccountBlobPropertiesContainerDeleteRetentionPolicy,
    StorageAccountBlobPropertiesDeleteRetentionPolicy,
    StorageAccountImmutabilityPolicy,
    StorageAccountNetworkRules,
    StorageAccountSasPolicy,
)
from cdktf_cdktf_provider_azurerm.storage_container import StorageContainer  # noqa: F401
from cdktf_cdktf_provider_azurerm.storage_management_policy import (  # noqa: F401
    StorageManagementPolicy,
    StorageManagementPolicyRule,
    StorageManagementPolicyRuleActions,
    StorageManagementPolicyRuleActionsBaseBlob,
    StorageManagementPolicyRuleActionsVersion,
    StorageManagementPolicyRuleFilters,
)
