"""Synthesize the network stack once per test session (jsii loads once).

The azurerm assembly costs seconds to load; every test that needs synthesized
JSON calls :func:`synth` and shares one real ``app.synth()`` output directory.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("JSII_RUNTIME_PACKAGE_CACHE", "enabled")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")


@functools.cache
def synth(inventory: str = "example") -> tuple[Path, dict, object]:
    """(cdktf.out directory, parsed cdk.tf.json, the NetworkStack) for one inventory (a name or a path)."""
    from lostops.inventory import load
    from stacks import cdk
    from stacks.network import NetworkStack

    outdir = Path(tempfile.mkdtemp(prefix=f"lostops-synth-{Path(inventory).stem}-"))
    app = cdk.App(outdir=str(outdir))
    stack = NetworkStack(app, "network", load(inventory))
    app.synth()
    path = outdir / "stacks" / "network" / "cdk.tf.json"
    return outdir, json.loads(path.read_text()), stack
