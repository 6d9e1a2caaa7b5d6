"""Small helpers shared by the image modules: the log line and a checked command."""

from __future__ import annotations

import subprocess
import sys


def log(msg: str) -> None:
    print(f"[lab images] {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("check", True)
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    try:
        return subprocess.run(cmd, **kw)
    except subprocess.CalledProcessError as exc:
        tail = "\n".join(((exc.stdout or "") + (exc.stderr or "")).splitlines()[-25:])
        raise RuntimeError(f"lab images: command failed ({exc.returncode}): {cmd}\n{tail}") from None
