"""Azurite for the unit tier: one `azurite-blob` on a loopback port for the whole session.

Started by conftest.py as soon as a test marked ``azurite`` is collected, so
that its start-up (a few seconds of Node) overlaps with the tests that run
before; ``endpoint()`` waits for it and creates the backup container once.
"""

from __future__ import annotations

import atexit
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.lab import azurite

CONTAINER = "mysql-backups"
_state: dict = {}


def start() -> None:
    if _state.get("proc") is not None or not azurite.BINARY.exists():
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    loc = Path(tempfile.mkdtemp(prefix="lostops-azurite-"))
    proc = subprocess.Popen(
        azurite.argv("127.0.0.1", port, loc), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=loc
    )
    _state.update(proc=proc, port=port, loc=loc)
    atexit.register(stop)


def endpoint(timeout: float = 60) -> str:
    """http://127.0.0.1:<port>/devstoreaccount1, once Azurite answers and the container exists."""
    start()
    proc = _state.get("proc")
    if proc is None:
        raise RuntimeError(f"{azurite.BINARY} is missing: run `make deps` (npm ci --prefix tools/azurite)")
    ep = f"http://127.0.0.1:{_state['port']}/{azurite.ACCOUNT}"
    if _state.get("ready"):
        return ep
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", _state["port"]), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("azurite-blob did not start") from None
            time.sleep(0.05)
    code = azurite.create_container(ep, CONTAINER)
    if code not in (201, 409):
        raise RuntimeError(f"azurite: creating the container answered HTTP {code}")
    _state["ready"] = True
    return ep


def stop() -> None:
    proc = _state.pop("proc", None)
    if proc is not None:
        proc.kill()  # nothing to keep; SIGTERM waits for idle connections
        proc.wait(timeout=10)
    loc = _state.pop("loc", None)
    if loc:
        shutil.rmtree(loc, ignore_errors=True)
    _state.clear()
