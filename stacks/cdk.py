"""The only module of the app that imports cdktf and the azurerm provider bindings
(the unit tests also use cdktf's ``Testing`` assertions).

CDKTF was archived by HashiCorp (2025-12); CDK Terrain (`cdktn`) is the
drop-in community fork. Switching is a change to these imports only:
``cdktf`` → ``cdktn`` and ``cdktf_cdktf_provider_azurerm`` → ``cdktn_provider_azurerm``.
"""

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
from cdktf_cdktf_provider_azurerm.provider import AzurermProvider, AzurermProviderFeatures  # noqa: F401
from cdktf_cdktf_provider_azurerm.public_ip import PublicIp  # noqa: F401
