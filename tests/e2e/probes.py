"""Probes of the lab hosts: connections, listening sockets, containers."""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PROBE = r"""
import json, socket, sys, threading, errno
targets = json.loads(sys.argv[1]); source = sys.argv[2] if len(sys.argv) > 2 else None
res = {}
def one(proto, ip, port):
    key = f"{proto}/{ip}:{port}"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM)
    s.settimeout(2.0)
    try:
        if source:
            s.bind((source, 0))
        s.connect((ip, port))
        if proto == "udp":
            s.send(b"lostops-e2e")
            s.recv(64)
        res[key] = "connected"
    except socket.timeout:
        res[key] = "timeout"
    except ConnectionRefusedError:
        res[key] = "refused"
    except OSError as e:
        res[key] = errno.errorcode.get(e.errno, str(e))
    finally:
        s.close()
ts = [threading.Thread(target=one, args=t) for t in targets]
[t.start() for t in ts]; [t.join() for t in ts]
print(json.dumps(res))
"""
# A UDP "listener" for the matrix: echoes every datagram (so a missing reply
# means the packet was dropped on the way, not that nobody listened).
UDP_ECHO = (
    "import socket,sys;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
    "s.bind((sys.argv[1],int(sys.argv[2])))\n"
    "while True:\n d,a=s.recvfrom(2048);s.sendto(d,a)"
)


def probe_local(targets: list[tuple[str, str, int]], source_ip: str) -> dict[str, str]:
    """Connect from the outer machine bound to `source_ip`: [(proto, ip, port)] -> result.

    Results: connected (TCP handshake done / UDP echo received), timeout,
    refused, or an errno name. 2 s timeout per probe, all in parallel.
    """
    r = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(targets), source_ip],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if r.returncode != 0:
        raise AssertionError(f"local probe from {source_ip} failed: {r.stderr.strip()}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def probe_from_host(lab, host: str, targets: list[tuple[str, str, int]]) -> dict[str, str]:
    """The same probe run ON lab host `host` (python3 over ssh, as lostops)."""
    cmd = "python3 -c " + shlex.quote(PROBE) + " " + shlex.quote(json.dumps(targets))
    r = lab.ssh(host, cmd, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"probe on {host} failed (exit {r.returncode}): {r.stderr.strip()}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------- listeners --
@dataclass(frozen=True)
class Listener:
    addr: str
    port: int
    process: str = ""

    @property
    def loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.addr).is_loopback
        except ValueError:
            return False

    @property
    def wildcard(self) -> bool:
        return self.addr in ("0.0.0.0", "::", "*")


def parse_ss(text: str) -> list[Listener]:
    """`ss -Hltnp` lines -> listeners (address without brackets/%iface)."""
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 4:
            continue
        local = f[3]
        addr, _, port = local.rpartition(":")
        addr = addr.strip("[]").split("%")[0]
        if addr.startswith("::ffff:"):
            addr = addr[len("::ffff:") :]
        proc = ""
        m = re.search(r'users:\(\("([^"]+)"', line)
        if m:
            proc = m.group(1)
        try:
            out.append(Listener(addr, int(port), proc))
        except ValueError:
            continue
    return out


def listeners(lab, host: str) -> list[Listener]:
    """Every TCP listener of the host's network namespace (ss) plus Docker-published ports."""
    r = lab.run(host, "ss -Hltnp", timeout=60)
    assert r.returncode == 0, f"{host}: ss failed: {r.stderr}"
    found = parse_ss(r.stdout)
    # Published ports (also when Docker's userland proxy is off and nothing shows in ss).
    d = lab.run(host, "command -v docker >/dev/null && docker ps --format '{{.Names}} {{.Ports}}' || true", timeout=60)
    for line in d.stdout.splitlines():
        name, _, ports = line.partition(" ")
        for m in re.finditer(r"(\[?[0-9a-fA-F.:]*\]?):(\d+)(?:-\d+)?->\d+(?:-\d+)?/tcp", ports):
            addr = m.group(1).strip("[]") or "0.0.0.0"
            found.append(Listener(addr, int(m.group(2)), f"docker:{name}"))
    return found


def exposed(lst: list[Listener]) -> list[Listener]:
    return [x for x in lst if not x.loopback]


def containers(lab, host: str) -> dict[str, dict]:
    """name -> {id, status, health, started, restart, mounts, project, service} of every container."""
    r = lab.run(host, "ids=$(docker ps -aq); [ -z \"$ids\" ] && echo '[]' || docker inspect $ids", timeout=60)
    assert r.returncode == 0, r.stderr
    return {
        c["Name"].lstrip("/"): {
            "id": c["Id"],
            "status": c["State"]["Status"],
            "health": (c["State"].get("Health") or {}).get("Status"),
            "started": c["State"].get("StartedAt"),
            "restart": (c["HostConfig"].get("RestartPolicy") or {}).get("Name"),
            "mounts": {m["Destination"]: m.get("Source") for m in c.get("Mounts", [])},
            "project": (c["Config"].get("Labels") or {}).get("com.docker.compose.project"),
            "service": (c["Config"].get("Labels") or {}).get("com.docker.compose.service"),
        }
        for c in json.loads(r.stdout or "[]")
    }


def wait_containers_back(lab, host: str, names, timeout: float = 90) -> tuple[dict, list[str]]:
    """After a boot: wait until every container in `names` runs and is healthy (or has no check).

    Returns (containers now, problems). Gives up early when the missing ones
    stay exited for 20 s: Docker restarts what its restart policy covers at
    daemon start, nothing comes later.
    """
    t0 = time.monotonic()
    while True:
        now = containers(lab, host)
        bad = {
            n: now.get(n)
            for n in names
            if not (n in now and now[n]["status"] == "running" and now[n]["health"] in (None, "healthy"))
        }
        if not bad:
            return now, []
        elapsed = time.monotonic() - t0
        dead = all(c is None or c["status"] in ("exited", "dead", "created") for c in bad.values())
        if elapsed > timeout or (dead and elapsed > 20):
            return now, [
                f"{n} did not come back: "
                + ("gone" if c is None else f"{c['status']}/{c['health']} (restart policy {c['restart']})")
                for n, c in sorted(bad.items())
            ]
        time.sleep(2)


STANDIN_STOP_TIMEOUT = 5
_STOP_DROPIN = "/run/systemd/system.conf.d/50-lostops-e2e-standin.conf"


def shorten_final_kill(lab, host: str) -> bool:
    """Lab only: let this boot's shutdown SIGKILL leftover processes after 5 s, not 90 s.

    Docker runs with live-restore (salt/docker), so containers are not stopped
    by Docker at shutdown: systemd's final "SIGTERM to remaining processes"
    hits them. The stand-in (busybox httpd as PID 1 of its container) ignores
    SIGTERM, so the shutdown would wait DefaultTimeoutStopSec (90 s) and the
    lab would SIGKILL the whole host after 20 s. Real services stop on SIGTERM.
    The drop-in is in /run: it is gone after the reboot.
    """
    cmd = (
        f"mkdir -p {Path(_STOP_DROPIN).parent} && "
        f"printf '[Manager]\\nDefaultTimeoutStopSec={STANDIN_STOP_TIMEOUT}s\\n' > {_STOP_DROPIN} && "
        "systemctl daemon-reexec && systemctl show -p DefaultTimeoutStopUSec"
    )
    want = f"DefaultTimeoutStopUSec={STANDIN_STOP_TIMEOUT}s"
    r = lab.run(host, cmd, timeout=60)
    if want not in r.stdout:
        r = lab.exec(host, cmd, timeout=60)  # no ssh needed
    if want not in r.stdout:
        raise AssertionError(
            f"{host}: cannot shorten the shutdown timeout (exit {r.returncode}): {r.stdout} {r.stderr}"
        )
    return True


def down_and_check_clean(lab) -> tuple[float, subprocess.CompletedProcess]:
    """Take the lab down (after shortening every host's final kill, see shorten_final_kill), then run
    `labctl check-clean` in a fresh process; (seconds the down took, check-clean's result)."""
    for h in lab.hosts.names:
        try:
            shorten_final_kill(lab, h)
        except Exception:  # a host may be down after a failure
            pass
    t0 = time.monotonic()
    lab.down()
    down_s = time.monotonic() - t0
    check = subprocess.run(
        [sys.executable, "-m", "tests.lab.labctl", "check-clean"],
        cwd=lab.state.dir.parent,
        capture_output=True,
        text=True,
    )
    return down_s, check


def wait_for(fn, timeout: float, interval: float = 1.0):
    """Call fn() until it returns a truthy value or timeout; returns the last value."""
    deadline = time.monotonic() + timeout
    val = fn()
    while not val and time.monotonic() < deadline:
        time.sleep(interval)
        val = fn()
    return val
