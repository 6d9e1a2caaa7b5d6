"""The lab's network on the outer machine: the bridge, the apt proxy and the outer services.

bridge lostops-br0 holds the admin address (the inventory's one admin source)
and the "internet" stand-in's address; every host's veth joins it. On the
admin address listen the apt proxy (aptproxy.py: the Debian mirror only) and
the outer services (outer.py): the Discord-webhook receiver,
pebble-challtestsrv (DNS for the lab names) and Pebble (ACME). Each runs in
its own cgroup (tests/lab/cgroups.py), so `down` finds whatever is left.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.lab import azurite, cgroups, images, outer, settings
from tests.lab.settings import BRIDGE, PROXY_PORT, REPO
from tests.lab.state import LabState
from tests.lab.system import LabError, cmdline, link_exists, pid_alive, reap, sh


def bridge_up() -> None:
    if not link_exists(BRIDGE):
        sh(["ip", "link", "add", BRIDGE, "type", "bridge"])
    addrs = sh(["ip", "-o", "-4", "addr", "show", "dev", BRIDGE], capture=True).stdout
    for a in (settings.ADMIN_IP, settings.INTERNET_IP):
        if f" {a}/" not in addrs:
            sh(["ip", "addr", "add", f"{a}/{settings.BRIDGE_CIDR}", "dev", BRIDGE])
    sh(["ip", "link", "set", BRIDGE, "up"])
    # IPv6 on the bridge only produces noise (DAD, RS); the lab is IPv4.
    p = Path(f"/proc/sys/net/ipv6/conf/{BRIDGE}/disable_ipv6")
    if p.exists():
        p.write_text("1")


def links(hosts) -> list[str]:
    """The network links the lab creates: the bridge and one veth per host."""
    return [BRIDGE] + [f"vb-{h}" for h in hosts]


def remove_links(hosts) -> None:
    for name in reversed(links(hosts)):
        if link_exists(name):
            subprocess.run(["ip", "link", "del", name], check=False, capture_output=True)


def spawn(name: str, argv: list[str], log_path: Path, port: int, env: dict | None = None) -> int:
    """Start an outer service in its own cgroup; return its pid once it listens on the admin address."""
    unit_dirs = cgroups.prepare(name)
    with open(log_path, "ab") as logf:
        p = subprocess.Popen(
            argv,
            cwd=REPO,
            env=dict(os.environ, **(env or {})),
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=logf,
            start_new_session=True,
            preexec_fn=lambda: cgroups.enter(unit_dirs),
            close_fds=True,
        )
    deadline = time.monotonic() + 10
    while True:
        if p.poll() is not None:
            raise LabError(f"{name} exited ({p.returncode}); see {log_path}")
        try:
            socket.create_connection((settings.ADMIN_IP, port), timeout=0.5).close()
            return p.pid
        except OSError:
            if time.monotonic() > deadline:
                raise LabError(f"{name} did not start listening on {settings.ADMIN_IP}:{port}") from None
            time.sleep(0.1)


def _module(name: str) -> list[str]:
    """argv running a sibling module of this package (cwd: the repository)."""
    return [sys.executable, "-m", f"tests.lab.{name}"]


def is_proxy(pid: int | None) -> bool:
    return pid_alive(pid) and "tests.lab.aptproxy" in cmdline(pid)


def proxy_up(state: LabState, mirror_host: str) -> None:
    """The apt proxy for the hosts: http://<admin address>:PROXY_PORT, the Debian mirror only."""
    if is_proxy(state.data.get("proxy_pid")):
        return
    argv = _module("aptproxy") + [
        "--bind",
        settings.ADMIN_IP,
        "--port",
        str(PROXY_PORT),
        "--allow",
        mirror_host,
        "--cache-dir",
        str(state.cache_dir / "proxy-debs"),
    ]
    state.data["proxy_pid"] = spawn("proxy", argv, state.dir / "proxy.log", PROXY_PORT)
    state.save()


def webhook_log(state: LabState) -> Path:
    """Every POST to the lab's Discord-webhook receiver, one JSON line each."""
    return state.dir / "outer" / "webhook.jsonl"


def backup_endpoint() -> str:
    """The lab inventory's azure.backup endpoint: Azurite on the admin address."""
    from lostops.inventory import load

    backup = load(settings.INVENTORY).azure.backup
    if backup is None or not backup.endpoint:
        raise LabError(f"inventory {settings.INVENTORY}: azure.backup.endpoint (the lab's Azurite) is not set")
    host, _ = azurite.bind_of(backup.endpoint)
    if host != settings.ADMIN_IP:
        raise LabError(f"inventory {settings.INVENTORY}: azure.backup.endpoint must be on {settings.ADMIN_IP}")
    return backup.endpoint


def backup_container() -> str:
    from lostops.inventory import load

    return load(settings.INVENTORY).azure.backup.container


def service_stop(state: LabState, name: str) -> None:
    """Stop one outer service (e.g. azurite: "the storage account is down"); services_up starts it again."""
    import signal

    pid = (state.data.get("outer_pids") or {}).get(name)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
        for _ in range(50):
            if not pid_alive(pid):
                break
            time.sleep(0.1)
    reap(pid)
    (state.data.get("outer_pids") or {}).pop(name, None)
    state.save()


def services_up(state: LabState) -> None:
    """Outer-machine services on the bridge (outer.py): Discord-webhook receiver,
    pebble-challtestsrv (DNS for the lab names), Pebble (ACME), Azurite (the
    backup storage account, tests/lab/azurite.py). Pebble comes with the image
    build (images.ensure must have run)."""
    admin = settings.ADMIN_IP
    pebble = images.pebble_binary(state.cache_dir)
    svc_dir = state.dir / "outer"
    svc_dir.mkdir(parents=True, exist_ok=True)
    cert, key = outer.pebble_cert(state.cache_dir, svc_dir, admin)
    cfg = outer.pebble_config(svc_dir, admin, cert, key)
    specs = {
        "webhook": (
            _module("outer") + ["webhook", "--bind", admin, "--out", str(webhook_log(state))],
            {},
            outer.WEBHOOK_PORT,
        ),
        "challtestsrv": (
            outer.challtestsrv_args(pebble.with_name("pebble-challtestsrv"), admin),
            {},
            outer.DNS_MGMT_PORT,
        ),
        "pebble": (
            [str(pebble), "-config", str(cfg), "-dnsserver", f"{admin}:{outer.DNS_PORT}"],
            outer.PEBBLE_ENV,
            outer.PEBBLE_PORT,
        ),
    }
    endpoint = backup_endpoint()
    az_host, az_port = azurite.bind_of(endpoint)
    (svc_dir / "azurite").mkdir(exist_ok=True)
    specs["azurite"] = (azurite.argv(az_host, az_port, svc_dir / "azurite"), {}, az_port)
    started = state.data.setdefault("outer_pids", {})
    for name, (argv, env, port) in specs.items():
        if pid_alive(started.get(name)):
            continue
        started[name] = spawn(name, argv, svc_dir / f"{name}.log", port, env)
        state.save()
        if name == "challtestsrv":
            outer.add_records(admin, outer.lab_records(settings.INVENTORY))
        if name == "azurite":
            # what production's Terraform creates: the private container
            code = azurite.create_container(endpoint, backup_container())
            if code not in (201, 409):
                raise LabError(f"azurite: creating the backup container answered HTTP {code}")
