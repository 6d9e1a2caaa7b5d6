#!py
"""The inventory as pillar (pillar key `lostops`) plus the secrets (key `secrets`).

Loads pillar/inventory/$LOSTOPS_INVENTORY.yaml (default: example), validates it
and the secrets file, and derives everything the states need (firewall rules,
scrape targets, ports) with the same Python code that builds the NSGs.
A problem stops the pillar with one line naming the field.
"""

import os
import sys


def run():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:
        sys.path.insert(0, root)
    # Salt's py renderer registers this file as sys.modules["lostops"]
    # (salt/utils/templates.py), which shadows the lostops package.
    if not hasattr(sys.modules.get("lostops"), "__path__"):
        sys.modules.pop("lostops", None)
    from lostops.pillar import PillarError, build
    from salt.exceptions import SaltRenderError

    minion = __grains__.get("id") or __opts__["id"]  # noqa: F821 - injected by Salt
    check = os.environ.get("LOSTOPS_SKIP_SECRETS_CHECK") != "1"
    try:
        return build(minion, check_secrets=check)
    except PillarError as exc:
        raise SaltRenderError(f"lostops pre-flight: {exc}") from None
