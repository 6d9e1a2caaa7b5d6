"""Shared fixtures for the unit tests.

``highstate`` (session scope): a function ``highstate(host, inventory="example")``
returning the host's compiled highstate, rendered by Salt itself through
:func:`lostops.render.show_highstate` (the code behind ``lostops render``):
``{state id: {module: [args..., function, ...], "__sls__": ...}}``.
The first call for an inventory renders all of its hosts in parallel; every
(host, inventory) is rendered once per session. A host that fails to render
fails the test with Salt's own error text.

``managed_files`` (session scope): ``managed_files(host, inventory="example")``
→ ``{absolute path: content}`` of every ``file.managed`` of that host, templates
rendered by Salt's ``file.get_managed`` exactly as on the host (same render).

Flatten a state with ``lostops.render.states(hs, "file.managed")`` →
``{id: {"module", "function", "args": {...}, "sls"}}``.
"""

from __future__ import annotations

import threading

import pytest

from lostops import inventory as inventory_mod
from lostops import render


class _Highstates:
    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], dict | render.RenderError] = {}
        self._lock = threading.Lock()

    def __call__(self, host: str, inventory: str = "example") -> dict:
        return self.result(host, inventory)["highstate"]

    def files(self, host: str, inventory: str = "example") -> dict[str, str]:
        return {name: item["contents"] for name, item in self.result(host, inventory)["files"].items()}

    def result(self, host: str, inventory: str = "example") -> dict:
        key = (host, inventory)
        with self._lock:
            if key not in self._cache:
                hosts = list(inventory_mod.load(inventory).hosts)
                if host not in hosts:
                    raise AssertionError(f"{host!r} is not a host of inventory {inventory!r} ({', '.join(hosts)})")
                todo = [(h, inventory) for h in hosts if (h, inventory) not in self._cache]
                self._cache.update(render.render_many(todo))
        result = self._cache[key]
        if isinstance(result, render.RenderError):
            pytest.fail(f"Salt could not render {inventory}/{host}:\n{result}", pytrace=False)
        return result


_RENDERS = _Highstates()


@pytest.fixture(scope="session")
def highstate():
    """highstate(host, inventory="example") -> Salt's state.show_highstate of that host."""
    return _RENDERS


@pytest.fixture(scope="session")
def managed_files():
    """managed_files(host, inventory="example") -> {path: rendered content} of its file.managed states."""
    return _RENDERS.files
