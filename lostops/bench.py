"""Time the synth of the project against the floor, one azurerm resource, with both CDKs (`lostops bench-synth`).

    make bench            # BENCH_RUNS=5 by default

Each CDK is measured against its own floor (tests/bench/floor, the same app
with LOSTOPS_CDK selecting the imports): cdktf with the root package.json's
CLI and the Pipfile's venv, cdktn (CDK Terrain) with tools/cdktn's CLI and
Node and .venv-cdktn. Both CLIs run the app with the venv's python directly
(`--app`), so neither figure includes `pipenv run`. Runs are interleaved
(cdktf project, cdktf floor, cdktn project, cdktn floor, ...) so machine noise
hits all alike. Prints min/median of each and the median ratio project/floor
per CDK (target <= 1.15); exit 1 when either is above the target.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from lostops.inventory import REPO_ROOT as ROOT

FLOOR = ROOT / "tests" / "bench" / "floor"
TARGET = 1.15


@dataclass(frozen=True)
class Cdk:
    name: str
    cli: list[str]
    python: Path
    path_prefix: Path | None = None


def cdks() -> list[Cdk]:
    npx = shutil.which("npx") or "npx"
    node_bin = ROOT / "tools" / "cdktn" / "node_modules" / ".bin"
    return [
        Cdk("cdktf", [npx, "--prefix", str(ROOT), "cdktf"], ROOT / ".venv" / "bin" / "python"),
        Cdk("cdktn", [str(node_bin / "cdktn")], ROOT / ".venv-cdktn" / "bin" / "python", node_bin),
    ]


def synth(cdk: Cdk, cwd: Path, outdir: Path) -> float:
    env = {
        **os.environ,
        "LOSTOPS_CDK": cdk.name,
        "JSII_RUNTIME_PACKAGE_CACHE": "enabled",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        "CHECKPOINT_DISABLE": "1",
    }
    if cdk.path_prefix is not None:
        env["PATH"] = f"{cdk.path_prefix}{os.pathsep}{env.get('PATH', '')}"
    argv = [*cdk.cli, "synth", "--app", f"{cdk.python} main.py", "--output", str(outdir)]
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"bench-synth: {cdk.name} synth failed in {cwd}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return elapsed


def run(runs: int | None = None) -> int:
    runs = runs or int(os.environ.get("BENCH_RUNS", "5"))
    todo = cdks()
    times: dict[tuple[str, str], list[float]] = {(c.name, w): [] for c in todo for w in ("project", "floor")}
    with tempfile.TemporaryDirectory() as tmp:
        for cdk in todo:  # warm each jsii package cache once, untimed
            synth(cdk, ROOT, Path(tmp) / f"warm-{cdk.name}")
        for i in range(runs):
            parts = []
            for cdk in todo:
                for what, cwd in (("project", ROOT), ("floor", FLOOR)):
                    times[cdk.name, what].append(synth(cdk, cwd, Path(tmp) / f"{cdk.name}-{what}-{i}"))
                    parts.append(f"{cdk.name} {what} {times[cdk.name, what][-1]:.2f}s")
            print(f"run {i + 1}/{runs}: " + "  ".join(parts), flush=True)
    rows, ok = [], True
    for cdk in todo:
        project, floor = times[cdk.name, "project"], times[cdk.name, "floor"]
        ma, mb = statistics.median(project), statistics.median(floor)
        ratio = ma / mb
        ok = ok and ratio <= TARGET
        print(f"{cdk.name}: project synth min {min(project):.2f}s median {ma:.2f}s")
        print(f"{cdk.name}: floor synth   min {min(floor):.2f}s median {mb:.2f}s")
        print(f"{cdk.name}: median ratio project/floor: {ratio:.3f} (target <= {TARGET})")
        rows += [
            (f"{cdk.name} project synth", f"min {min(project):.2f} s, median {ma:.2f} s ({runs} runs)"),
            (f"{cdk.name} floor synth", f"min {min(floor):.2f} s, median {mb:.2f} s"),
            (f"{cdk.name} median ratio project/floor", f"{ratio:.3f} (target ≤ {TARGET})"),
        ]
    tf = statistics.median(times["cdktf", "project"])
    tn = statistics.median(times["cdktn", "project"])
    print(f"project synth median cdktn/cdktf: {tn / tf:.2f}")
    rows.append(("project synth median cdktn/cdktf", f"{tn / tf:.2f}"))
    from lostops import figures

    print(f"figures: {figures.record('synth', rows)}")
    return 0 if ok else 1
