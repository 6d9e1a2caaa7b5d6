"""The network stack synthesized by cdktf, in one child process for the whole session.

Importing the azurerm provider bindings costs several seconds (the package
imports all of its ~1,100 modules and loads the jsii assembly). conftest.py
starts this worker (``start()``) as soon as a test marked ``synth`` is
collected, so that the load runs on the other core while the Salt tests run;
the marked tests run last. Each request is a real
``app.synth()`` of ``stacks.network.NetworkStack`` into its own directory.
"""

from __future__ import annotations

import atexit
import functools
import os
import subprocess
import sys
import threading
from pathlib import Path

from lostops.childproc import CHILD_PREAMBLE, ChildGone, JsonLineChild
from lostops.inventory import REPO_ROOT

_WORKER = (
    CHILD_PREAMBLE
    + r"""
import json, sys, tempfile, traceback
from pathlib import Path
from lostops.inventory import load, parse
from stacks import cdk
from stacks.network import NetworkStack
for line in sys.stdin:
    req = json.loads(line)
    try:
        inv = parse(req["data"], name=req["name"]) if "data" in req else load(req["inventory"])
        outdir = Path(tempfile.mkdtemp(prefix="lostops-synth-"))
        app = cdk.App(outdir=str(outdir))
        NetworkStack(app, "network", inv)
        app.synth()
        doc = json.loads((outdir / "stacks" / "network" / "cdk.tf.json").read_text())
        out = {"outdir": str(outdir), "doc": doc}
    except Exception:
        out = {"error": traceback.format_exc()[-4000:]}
    reply.write(json.dumps(out) + "\n")
    reply.flush()
"""
)

_lock = threading.Lock()
_child: JsonLineChild | None = None
TIMEOUT = 600  # the first answer waits for the azurerm bindings to load


def start() -> None:
    """Start the worker (idempotent); it loads cdktf and the azurerm bindings right away."""
    global _child
    with _lock:
        if _child is None or not _child.alive():
            env = dict(os.environ)
            env.setdefault("JSII_RUNTIME_PACKAGE_CACHE", "enabled")
            env.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
            _child = JsonLineChild([sys.executable, "-c", _WORKER], cwd=REPO_ROOT, env=env, stderr=subprocess.DEVNULL)


def stop() -> None:
    """End the worker; it holds nothing to save (a run that never asked still loads its imports: kill it)."""
    if _child is not None:
        _child.close(kill=True)


atexit.register(stop)


def _request(req: dict) -> tuple[Path, dict]:
    start()
    try:
        out = _child.ask(req, TIMEOUT)
    except ChildGone as exc:
        raise AssertionError(
            f"the synth worker did not answer {req.get('inventory') or req.get('name')}: {exc}"
        ) from None
    if "error" in out:
        raise AssertionError(f"synth of {req.get('inventory') or req.get('name')} failed:\n{out['error']}")
    return Path(out["outdir"]), out["doc"]


@functools.cache
def synth(inventory: str = "example") -> tuple[Path, dict]:
    """(cdktf.out directory, parsed cdk.tf.json) for one inventory (a name or a path)."""
    return _request({"inventory": inventory})


def synth_data(data: dict, name: str) -> dict:
    """The parsed cdk.tf.json of an inventory given as data (a variant of a committed one)."""
    return _request({"data": data, "name": name})[1]
