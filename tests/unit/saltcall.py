"""Salt renders shared by the whole unit session.

One :class:`lostops.render.Renderer` serves every test: Salt starts once per
(host, inventory) and then answers every render of that host, the default one
(``RENDERS``, behind the ``highstate``/``managed_files`` fixtures of
conftest.py) and the ones with a command-line pillar (``show_sls``,
``render_error``), exactly as ``salt-ssh ... pillar='{...}'`` merges it.
"""

from __future__ import annotations

import atexit
import functools
import json
import threading

import pytest

from lostops import inventory as inventory_mod
from lostops import render
from lostops.inventory import load as load_inventory
from lostops.pillar import inventory_pillar

RENDERER = render.Renderer()
atexit.register(RENDERER.close)


class _Renders:
    """Each host's default render (state.show_highstate + its managed files + its pillar), once per session."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], dict | render.RenderError] = {}
        self._lock = threading.Lock()

    def __call__(self, host: str, inventory: str = "example") -> dict:
        return self.result(host, inventory)["highstate"]

    def files(self, host: str, inventory: str = "example") -> dict[str, str]:
        return {name: item["contents"] for name, item in self.result(host, inventory)["files"].items()}

    def result(self, host: str, inventory: str = "example") -> dict:
        """{"highstate", "files", "pillar"}; the first call for an inventory renders all its hosts in parallel."""
        key = (host, inventory)
        with self._lock:
            if key not in self._cache:
                hosts = list(inventory_mod.load(inventory).hosts)
                if host not in hosts:
                    raise AssertionError(f"{host!r} is not a host of inventory {inventory!r} ({', '.join(hosts)})")
                todo = [(h, inventory) for h in hosts if (h, inventory) not in self._cache]
                self._cache.update(RENDERER.render_many(todo))
        result = self._cache[key]
        if isinstance(result, render.RenderError):
            pytest.fail(f"Salt could not render {inventory}/{host}:\n{result}", pytrace=False)
        return result


RENDERS = _Renders()


@functools.cache
def rendered(host: str, sls: str = "", inventory: str = "example", pillar: str = "") -> dict:
    """Salt's render of `sls` (all of the host's states if empty) with a command-line pillar (JSON text)."""
    try:
        return RENDERER.render(host, inventory, mods=sls, pillar=json.loads(pillar) if pillar else None)
    except render.RenderError as exc:
        pytest.fail(f"Salt could not render {sls or 'the highstate'} on {inventory}/{host}:\n{exc}", pytrace=False)


def show_sls(host: str, sls: str, inventory: str = "example", pillar: str = "") -> dict:
    """state.show_sls with extra pillar (JSON text, as on the salt-ssh command line)."""
    return rendered(host, sls, inventory, pillar)["highstate"]


def render_error(host: str, sls: str, pillar: str, inventory: str = "example") -> str:
    """Salt's error text for a render that must fail; fails the test if it renders."""
    try:
        RENDERER.render(host, inventory, mods=sls, pillar=json.loads(pillar))
    except render.RenderError as exc:
        return str(exc)
    pytest.fail(f"{sls} on {inventory}/{host} rendered with pillar {pillar}; it should have failed", pytrace=False)


def state(states: dict, state_id: str) -> tuple[str, dict]:
    """(module.function, {arg: value}) of one state."""
    flat = render.states({state_id: states[state_id]})[state_id]
    return f"{flat['module']}.{flat['function']}", flat["args"]


def host_view(host: str, inventory: str = "example") -> dict:
    """The `lostops` pillar of `host` (same code as pillar/inventory_pillar.sls)."""
    return inventory_pillar(load_inventory(inventory), host)
