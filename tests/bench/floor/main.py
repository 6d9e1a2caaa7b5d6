#!/usr/bin/env python3
"""The floor for `make bench`: a one-resource app importing the same provider bindings.

Its synth time is what loading jsii and the azurerm assembly costs; the
project's synth is compared with it (target: median ratio <= 1.15).
LOSTOPS_CDK selects the CDK as for the project (stacks/cdk.py): cdktf
(default) or cdktn.
"""

import importlib
import os

CDKS = {"cdktf": ("cdktf", "cdktf_cdktf_provider_azurerm"), "cdktn": ("cdktn", "cdktn_provider_azurerm")}
core_name, azurerm = CDKS[os.environ.get("LOSTOPS_CDK") or "cdktf"]
core = importlib.import_module(core_name)
provider = importlib.import_module(f"{azurerm}.provider")
resource_group = importlib.import_module(f"{azurerm}.resource_group")

app = core.App()
stack = core.TerraformStack(app, "floor")
provider.AzurermProvider(stack, "azurerm", features=[provider.AzurermProviderFeatures()])
resource_group.ResourceGroup(stack, "rg", name="floor", location="westeurope")
app.synth()
