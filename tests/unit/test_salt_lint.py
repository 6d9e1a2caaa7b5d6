"""salt-lint and yamllint over salt/ and pillar/, exactly as `make lint-salt` runs them (mk/salt.mk)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lostops.inventory import REPO_ROOT

VENV = Path(sys.executable).parent.parent


@pytest.mark.parametrize("tool", ["salt-lint", "yamllint"])
def test_tool_installed(tool):
    assert (VENV / "bin" / tool).exists(), f"{tool} missing from {VENV}: pipenv install --dev"


def test_lint_salt():
    assert shutil.which("make"), "make not found"
    proc = subprocess.run(
        ["make", "--no-print-directory", "-f", "mk/salt.mk", "lint-salt", f"VENV={VENV}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"make lint-salt failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
