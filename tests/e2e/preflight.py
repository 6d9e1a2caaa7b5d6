#!/usr/bin/env python3
"""Can this machine run the end-to-end tier? Prints ONE line and exits 2 if not.

Used by `make e2e` (mk/e2e.mk; `python3 -m tests.e2e.preflight`) before anything else (`--no-venv`: the venv
may still be installed by `make deps`) and again before pytest, and by tests/e2e/conftest.py at
session start, so the tier never skips silently on a machine without root,
systemd-nspawn or the project venv.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def problem(check_venv: bool = True) -> str | None:
    if os.geteuid() != 0:
        return "e2e: cannot run: must run as root (the lab uses systemd-nspawn, mounts, a bridge and cgroups)"
    if shutil.which("systemd-nspawn") is None and not Path("/usr/bin/systemd-nspawn").exists():
        return "e2e: cannot run: systemd-nspawn is missing (install with: make deps-system)"
    venv = Path(os.environ.get("VENV") or REPO / ".venv")
    if not venv.is_absolute():
        venv = REPO / venv
    if check_venv and not (venv / "bin" / "salt-ssh").exists():
        return f"e2e: cannot run: {venv}/bin/salt-ssh is missing (run: make deps)"
    from tests.lab import labctl  # imports without the venv: the inventory is read on first use only

    lab = labctl.Lab()
    try:
        lab.preflight()
    except labctl.PreflightError as exc:
        return f"e2e: {exc}"
    return None


if __name__ == "__main__":
    msg = problem(check_venv="--no-venv" not in sys.argv[1:])
    if msg:
        print(msg, file=sys.stderr)
        sys.exit(2)
