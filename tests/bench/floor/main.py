#!/usr/bin/env python3
"""The floor for `make bench`: a one-resource cdktf app importing the same provider.

Its synth time is what loading jsii and the azurerm assembly costs; the
project's synth is compared with it (target: median ratio <= 1.15).
"""

from cdktf import App, TerraformStack
from cdktf_cdktf_provider_azurerm.provider import AzurermProvider, AzurermProviderFeatures
from cdktf_cdktf_provider_azurerm.resource_group import ResourceGroup

app = App()
stack = TerraformStack(app, "floor")
AzurermProvider(stack, "azurerm", features=[AzurermProviderFeatures()])
ResourceGroup(stack, "rg", name="floor", location="westeurope")
app.synth()
