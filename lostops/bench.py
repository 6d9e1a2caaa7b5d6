"""Time `cdktf synth` of the project against the floor, one azurerm resource (`lostops bench-synth`).

    make bench            # BENCH_RUNS=5 by default

Runs are interleaved (a, b, a, b, ...) so machine noise hits both alike.
Prints min/median for each and the median ratio a/b (target <= 1.15); exit 1
above the target.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lostops.inventory import REPO_ROOT as ROOT

FLOOR = ROOT / "tests" / "bench" / "floor"
TARGET = 1.15


def synth(cwd: Path, outdir: Path) -> float:
    env = {
        **os.environ,
        "JSII_RUNTIME_PACKAGE_CACHE": "enabled",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        "PIPENV_PIPFILE": str(ROOT / "Pipfile"),
        "PIPENV_VENV_IN_PROJECT": "1",
        "CHECKPOINT_DISABLE": "1",
    }
    npx = shutil.which("npx") or "npx"
    start = time.perf_counter()
    proc = subprocess.run(
        [npx, "--prefix", str(ROOT), "cdktf", "synth", "--output", str(outdir)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"bench-synth: cdktf synth failed in {cwd}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return elapsed


def run(runs: int | None = None) -> int:
    runs = runs or int(os.environ.get("BENCH_RUNS", "5"))
    project, floor = [], []
    with tempfile.TemporaryDirectory() as tmp:
        synth(ROOT, Path(tmp) / "warm")  # warm the jsii package cache once, untimed
        for i in range(runs):
            project.append(synth(ROOT, Path(tmp) / f"a{i}"))
            floor.append(synth(FLOOR, Path(tmp) / f"b{i}"))
            print(f"run {i + 1}/{runs}: project {project[-1]:.2f}s  floor {floor[-1]:.2f}s", flush=True)
    ma, mb = statistics.median(project), statistics.median(floor)
    ratio = ma / mb
    print(f"(a) project synth: min {min(project):.2f}s  median {ma:.2f}s")
    print(f"(b) floor synth:   min {min(floor):.2f}s  median {mb:.2f}s")
    print(f"median ratio a/b: {ratio:.3f} (target <= {TARGET})")
    from lostops import figures

    rows = [
        ("project synth", f"min {min(project):.2f} s, median {ma:.2f} s ({runs} runs)"),
        ("floor synth", f"min {min(floor):.2f} s, median {mb:.2f} s"),
        ("median ratio project/floor", f"{ratio:.3f} (target ≤ {TARGET})"),
    ]
    print(f"figures: {figures.record('synth', rows)}")
    return 0 if ratio <= TARGET else 1
