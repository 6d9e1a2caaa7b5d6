"""The outer machine's side of the lab: errors, logging, commands, processes, mounts, files."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path


class LabError(RuntimeError):
    pass


class PreflightError(LabError):
    """The machine cannot run the lab (one line saying what is missing)."""


def log(msg: str) -> None:
    print(f"[lab] {msg}", file=sys.stderr, flush=True)


def sh(cmd, *, check=True, capture=False, env=None, input=None, timeout=None):
    if isinstance(cmd, str):
        cmd = ["/bin/sh", "-c", cmd]
    r = subprocess.run(
        cmd,
        check=False,
        env=env,
        input=input,
        timeout=timeout,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None,
        text=True,
    )
    if check and r.returncode != 0:
        err = (r.stderr or "").strip() if capture else ""
        raise LabError(
            f"command failed ({r.returncode}): {' '.join(map(str, cmd))}" + (f": {err[-2000:]}" if err else "")
        )
    return r


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def mounts() -> list[str]:
    """Mount points in our mount namespace (decoded)."""
    out = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            mp = line.split()[4]
            out.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), mp))
    return out


def link_exists(name: str) -> bool:
    return Path(f"/sys/class/net/{name}").exists()


def write_file(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()
    with open(path, "w") as fh:
        fh.write(text)
    os.chmod(path, mode)


def fs_magic(path: Path) -> str:
    r = subprocess.run(
        ["stat", "-f", "-c", "%t", str(path)],
        check=False,
        capture_output=True,
        text=True,
    )
    return r.stdout.strip().lower()


def user_ids(root: Path, user: str) -> tuple[int, int]:
    for line in (root / "etc/passwd").read_text().splitlines():
        f = line.split(":")
        if f[0] == user:
            return int(f[2]), int(f[3])
    raise LabError(f"user {user} missing in {root}")


def quote(s: str) -> str:
    return "'" + s.replace("'", "'\"'\"'") + "'"


def tail(path: Path, n: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no console log)"


def kill_all(pid_source, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [p for p in pid_source() if p != os.getpid()]
        if not pids:
            return
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
        for p in pids:
            reap(p)
    left = pid_source()
    if left:
        log(f"processes survived SIGKILL: {sorted(left)}")


def reap(pid) -> None:
    if not pid:
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except (ChildProcessError, OSError):
        pass
