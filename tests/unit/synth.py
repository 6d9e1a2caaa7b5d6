"""The network stack synthesized by cdktf (and by cdktn), one child process per CDK for the whole session.

Importing the azurerm provider bindings costs several seconds (the package
imports all of its ~1,100 modules and loads the jsii assembly). conftest.py
starts the workers (``start()``) as soon as a test marked ``synth`` is
collected, so that the load runs on the other core while the Salt tests run;
the marked tests run last. Each request is a real
``app.synth()`` of ``stacks.network.NetworkStack`` into its own directory.

The cdktf worker runs in this interpreter (the Pipfile's venv); the cdktn
worker (``cdk="cdktn"``) in .venv-cdktn with ``LOSTOPS_CDK=cdktn`` and the
Node of tools/cdktn first on PATH (``make deps-cdktn``). CDK Terrain's
bindings load in a fraction of cdktf's time, so its worker adds little.
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
_children: dict[str, JsonLineChild] = {}
TIMEOUT = 600  # the first answer waits for the azurerm bindings to load
CDKTN_PYTHON = REPO_ROOT / ".venv-cdktn" / "bin" / "python"
CDKTN_NODE_BIN = REPO_ROOT / "tools" / "cdktn" / "node_modules" / ".bin"


def _argv_env(cdk: str) -> tuple[list[str], dict]:
    env = dict(os.environ)
    env.setdefault("JSII_RUNTIME_PACKAGE_CACHE", "enabled")
    env.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    env["LOSTOPS_CDK"] = cdk
    if cdk == "cdktf":
        return [sys.executable, "-c", _WORKER], env
    if not CDKTN_PYTHON.exists() or not (CDKTN_NODE_BIN / "node").exists():
        raise AssertionError("CDK Terrain is not installed (.venv-cdktn, tools/cdktn): run `make deps-cdktn`")
    env["PATH"] = f"{CDKTN_NODE_BIN}{os.pathsep}{env.get('PATH', '')}"
    return [str(CDKTN_PYTHON), "-c", _WORKER], env


def start(*cdks: str) -> None:
    """Start the workers (idempotent; default cdktf); each loads its CDK and azurerm bindings right away."""
    with _lock:
        for cdk in cdks or ("cdktf",):
            child = _children.get(cdk)
            if child is None or not child.alive():
                argv, env = _argv_env(cdk)
                _children[cdk] = JsonLineChild(argv, cwd=REPO_ROOT, env=env, stderr=subprocess.DEVNULL)


def stop() -> None:
    """End the workers; they hold nothing to save (a run that never asked still loads its imports: kill them)."""
    for child in list(_children.values()):
        child.close(kill=True)


atexit.register(stop)


def _request(req: dict, cdk: str = "cdktf") -> tuple[Path, dict]:
    start(cdk)
    what = f"{req.get('inventory') or req.get('name')} ({cdk})"
    try:
        out = _children[cdk].ask(req, TIMEOUT)
    except ChildGone as exc:
        raise AssertionError(f"the synth worker did not answer {what}: {exc}") from None
    if "error" in out:
        raise AssertionError(f"synth of {what} failed:\n{out['error']}")
    return Path(out["outdir"]), out["doc"]


@functools.cache
def synth(inventory: str = "example", cdk: str = "cdktf") -> tuple[Path, dict]:
    """(cdktf.out directory, parsed cdk.tf.json) for one inventory (a name or a path), synthesized by `cdk`."""
    return _request({"inventory": inventory}, cdk)


def synth_data(data: dict, name: str) -> dict:
    """The parsed cdk.tf.json (cdktf) of an inventory given as data (a variant of a committed one)."""
    return _request({"data": data, "name": name})[1]
