#!/usr/bin/env python3
"""cdktf entry point: load the inventory, build the stacks. Wiring only.

Inventory: LOSTOPS_INVENTORY (name under pillar/inventory/ or a path),
default `example`. A bad inventory stops here with one line per problem and
nothing is written to cdktf.out (the same check as `lostops inventory check`).
"""

import sys

from lostops.inventory import EXIT_INVALID, load_or_report


def main() -> int:
    inv = load_or_report()
    if inv is None:
        return EXIT_INVALID

    from stacks import cdk
    from stacks.network import NetworkStack

    app = cdk.App()
    NetworkStack(app, "network", inv)
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
