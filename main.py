#!/usr/bin/env python3
"""cdktf entry point: load the inventory, build the stacks. Wiring only.

Inventory: LOSTOPS_INVENTORY (name under pillar/inventory/ or a path),
default `example`. A bad inventory stops here with one line per problem and
nothing is written to cdktf.out.
"""

import sys

from lostops.inventory import InventoryError, load


def main() -> int:
    try:
        inv = load()
    except InventoryError as exc:
        for line in exc.lines():
            print(f"inventory error: {exc.source}: {line}", file=sys.stderr)
        return 2

    from stacks import cdk
    from stacks.network import NetworkStack

    app = cdk.App()
    NetworkStack(app, "network", inv)
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
