#!py
"""The inventory as pillar (pillar key `lostops`) plus the secrets (key `secrets`).

Loads pillar/inventory/$LOSTOPS_INVENTORY.yaml (default: example), validates it
and the secrets file, and derives everything the states need (firewall rules,
scrape targets, ports) with the same Python code that builds the NSGs: the
installed lostops package (lostops/pillar.py). A problem stops the pillar with
one line naming the field.

Not named lostops.sls: Salt's py renderer registers a #!py file in sys.modules
under its base name, which would shadow the lostops package.
"""

import os


def run():
    from lostops.pillar import PillarError, build
    from salt.exceptions import SaltRenderError

    minion = __grains__.get("id") or __opts__["id"]  # noqa: F821 - injected by Salt
    check = os.environ.get("LOSTOPS_SKIP_SECRETS_CHECK") != "1"
    try:
        return build(minion, check_secrets=check)
    except PillarError as exc:
        raise SaltRenderError(f"lostops pre-flight: {exc}") from None
