"""Memory of a lab host, from its own cgroup (tests/lab/cgroups.py)."""

from __future__ import annotations

from tests.lab import cgroups
from tests.lab.system import LabError


def memory(unit: str) -> dict:
    """{"current", "peak", "anon", "file"} in bytes; current/peak include the page cache (apt, docker
    images), anon does not."""
    cg = cgroups.memory_dir(unit)
    if cg is None or not cg.exists():
        raise LabError(f"no memory cgroup for {unit} (is it running?)")

    def read(*names):
        for n in names:
            p = cg / n
            if p.exists():
                return int(p.read_text().split()[0])
        return None

    stat = {}
    try:
        for line in (cg / "memory.stat").read_text().splitlines():
            k, v = line.split()
            stat[k] = int(v)
    except (OSError, ValueError):
        pass
    return {
        "current": read("memory.current", "memory.usage_in_bytes"),
        "peak": read("memory.peak", "memory.max_usage_in_bytes"),
        "anon": stat.get("anon", stat.get("total_rss")),
        "file": stat.get("file", stat.get("total_cache")),
    }


def reset_peak(unit: str) -> None:
    """Start the high-water mark again (where the kernel allows it)."""
    cg = cgroups.memory_dir(unit)
    for n in ("memory.max_usage_in_bytes", "memory.peak"):
        p = cg / n
        if p.exists():
            try:
                p.write_text("0")
            except OSError:
                pass
