"""The lab's cgroups: one directory per host or outer service under lostops-lab.

Every process the lab starts is moved into its unit's directory before exec
(enter), so `down` can kill whatever is left (tree_pids) and a host's memory
is measured by its own cgroup (tests/lab/metrics.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.lab.settings import CGROUP_NAME


def roots() -> list[Path]:
    """Hierarchies where each host gets its own directory."""
    base = Path("/sys/fs/cgroup")
    if (base / "cgroup.controllers").exists():  # pure cgroup v2
        return [base]
    roots = []
    for name in ("unified", "systemd", "memory", "pids"):
        if (base / name / "cgroup.procs").exists():
            roots.append(base / name)
    return roots


def dirs(unit: str) -> list[Path]:
    return [r / CGROUP_NAME / unit for r in roots()]


def memory_dir(unit: str) -> Path | None:
    base = Path("/sys/fs/cgroup")
    if (base / "cgroup.controllers").exists():
        return base / CGROUP_NAME / unit
    if (base / "memory" / "cgroup.procs").exists():
        return base / "memory" / CGROUP_NAME / unit
    return None


def prepare(unit: str) -> list[Path]:
    base = Path("/sys/fs/cgroup")
    if (base / "cgroup.controllers").exists():
        # pure v2: delegate the memory controller down to the unit directory
        top = base / CGROUP_NAME
        top.mkdir(exist_ok=True)
        for p in (base, top):
            try:
                (p / "cgroup.subtree_control").write_text("+memory +pids")
            except OSError:
                pass
    made = dirs(unit)
    for d in made:
        d.mkdir(parents=True, exist_ok=True)
    return made


def tree_pids() -> set[int]:
    pids: set[int] = set()
    for root in roots():
        top = root / CGROUP_NAME
        if not top.exists():
            continue
        for dirpath, _dirs, files in os.walk(top):
            if "cgroup.procs" in files:
                try:
                    for line in Path(dirpath, "cgroup.procs").read_text().split():
                        pids.add(int(line))
                except OSError:
                    pass
    return pids


def unit_pids(unit: str) -> set[int]:
    pids: set[int] = set()
    for d in dirs(unit):
        if not d.exists():
            continue
        for dirpath, _dirs, files in os.walk(d):
            if "cgroup.procs" in files:
                try:
                    pids.update(int(x) for x in Path(dirpath, "cgroup.procs").read_text().split())
                except OSError:
                    pass
    return pids


def remove(top_only_unit: str | None = None) -> list[str]:
    """rmdir our cgroup dirs bottom-up; returns the ones that could not be removed."""
    failed = []
    for root in roots():
        top = root / CGROUP_NAME
        if top_only_unit:
            top = top / top_only_unit
        if not top.exists():
            continue
        for dirpath, _dirs, _files in sorted(os.walk(top, topdown=False), key=lambda t: -t[0].count("/")):
            try:
                os.rmdir(dirpath)
            except OSError as exc:
                failed.append(f"{dirpath}: {exc.strerror}")
    return failed


def enter(unit_dirs: list[Path]) -> None:
    """preexec_fn: move the child into its own cgroup dirs before exec."""
    pid = str(os.getpid())
    for d in unit_dirs:
        with open(d / "cgroup.procs", "w") as fh:
            fh.write(pid)
