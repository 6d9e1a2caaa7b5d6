"""salt-call helpers for renders with extra pillar (switches, failure cases).

Default renders come from the shared session fixtures (tests/unit/conftest.py:
`highstate`, `managed_files`, rendered by lostops.render like `lostops render`).
These run salt-call with the same minion configuration (lostops.render) plus
`pillar=...` on the command line.
"""

from __future__ import annotations

import functools
import json
import subprocess
import tempfile
from pathlib import Path

from lostops import render
from lostops.inventory import REPO_ROOT as REPO
from lostops.inventory import load as load_inventory
from lostops.pillar import inventory_pillar


@functools.cache
def _config_dir(inventory: str) -> str:
    work = Path(tempfile.mkdtemp(prefix=f"lostops-test-{inventory}-"))
    render._minion_config(work, inventory, None)  # target OS grains, repo roots
    return str(work)


def salt_call(host: str, *args: str, inventory: str = "example") -> object:
    proc = subprocess.run(
        [
            render.salt_call(),
            "--local",
            f"--config-dir={_config_dir(inventory)}",
            f"--id={host}",
            "--out=json",
            "--log-level=quiet",
            *args,
        ],
        capture_output=True,
        text=True,
        env=render.render_env(inventory),
        cwd=REPO,
        timeout=300,
        check=False,
    )
    try:
        return json.loads(proc.stdout)["local"]
    except (json.JSONDecodeError, KeyError):
        raise AssertionError(
            f"salt-call {' '.join(args)} failed (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}"
        ) from None


@functools.cache
def show_sls(host: str, sls: str, inventory: str = "example", pillar: str = "") -> dict:
    """state.show_sls with extra pillar (JSON) on the command line."""
    out = salt_call(host, "state.show_sls", sls, f"pillar={pillar}", inventory=inventory)
    assert isinstance(out, dict), f"render of {sls} on {host} failed: {out}"
    return out


def state(states: dict, state_id: str) -> tuple[str, dict]:
    """(module.function, {arg: value}) of one state."""
    flat = render.states({state_id: states[state_id]})[state_id]
    return f"{flat['module']}.{flat['function']}", flat["args"]


def host_view(host: str, inventory: str = "example") -> dict:
    """The `lostops` pillar of `host` (same code as pillar/inventory_pillar.sls)."""
    return inventory_pillar(load_inventory(inventory), host)
