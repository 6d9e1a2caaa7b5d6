"""Shared fixtures for the unit tests.

``highstate`` (session scope): a function ``highstate(host, inventory="example")``
returning the host's compiled highstate, rendered by Salt itself through
:class:`lostops.render.Renderer` (the code behind ``lostops render``; one Salt
process per host, shared with the pillar renders of tests/unit/saltcall.py):
``{state id: {module: [args..., function, ...], "__sls__": ...}}``.
The first call for an inventory renders all of its hosts in parallel; every
(host, inventory) is rendered once per session. A host that fails to render
fails the test with Salt's own error text.

``managed_files`` (session scope): ``managed_files(host, inventory="example")``
→ ``{absolute path: content}`` of every ``file.managed`` (and templated ``file.recurse``) of that host, templates
rendered by Salt's ``file.get_managed`` exactly as on the host (same render).

The synthesized network stack comes from one child process (tests/unit/synth.py),
started as soon as a test marked ``synth`` is collected (and a second one, in
.venv-cdktn, when one of them is also marked ``cdktn``); those tests run last,
so the seconds it takes to load the azurerm bindings overlap with the Salt tests.

Flatten a state with ``lostops.render.states(hs, "file.managed")`` →
``{id: {"module", "function", "args": {...}, "sls"}}``.
"""

from __future__ import annotations

import pytest

from tests.unit import blobstore, synth
from tests.unit.saltcall import RENDERS


def pytest_configure(config):
    config.addinivalue_line("markers", "synth: needs the synthesized network stack (tests/unit/synth.py)")
    config.addinivalue_line("markers", "cdktn: also needs the stack synthesized by CDK Terrain (with `synth`)")
    config.addinivalue_line("markers", "azurite: needs the session's Azurite (tests/unit/blobstore.py)")


def pytest_collection_modifyitems(session, config, items):
    """Tests marked `synth` run last, and the synth worker starts now when any was collected: it
    loads cdktf and the azurerm bindings on the other core while the Salt tests run."""
    items.sort(key=lambda item: item.get_closest_marker("synth") is not None)  # stable sort
    marked = [item for item in items if item.get_closest_marker("synth")]
    if marked:
        synth.start("cdktf")
    if any(item.get_closest_marker("cdktn") for item in marked):
        try:
            synth.start("cdktn")
        except AssertionError:  # not installed: the cdktn tests fail with the reason, the others run
            pass
    if any(item.get_closest_marker("azurite") for item in items):
        blobstore.start()


@pytest.fixture(scope="session")
def highstate():
    """highstate(host, inventory="example") -> Salt's state.show_highstate of that host."""
    return RENDERS


@pytest.fixture(scope="session")
def managed_files():
    """managed_files(host, inventory="example") -> {path: rendered content} of its file.managed states."""
    return RENDERS.files
