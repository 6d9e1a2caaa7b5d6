"""Lostops end-to-end lab manager: the hosts of the lab inventory as Debian 13 (trixie) systemd-nspawn machines.

CLI (as root, from the repository; `make lab`, `make e2e` and `make lab-down` call it)::

    .venv/bin/python -m tests.lab.labctl up [--keep]     # boot the hosts of pillar/inventory/lab.yaml
    .venv/bin/python -m tests.lab.labctl status
    .venv/bin/python -m tests.lab.labctl ssh <host> -- <cmd...>   # as the inventory's user (sudo -n inside)
    .venv/bin/python -m tests.lab.labctl exec <host> -- <cmd...>  # as root via nsenter (no ssh involved)
    .venv/bin/python -m tests.lab.labctl reboot <host>
    .venv/bin/python -m tests.lab.labctl down            # always safe, also after a crashed up
    .venv/bin/python -m tests.lab.labctl check-clean     # exit 1 if any process/mount/bridge is left
    .venv/bin/python -m tests.lab.labctl base [--rebuild] [--re-extract]   # build / time the base image

Python API::

    from tests.lab.labctl import Lab
    lab = Lab()
    lab.up()                          # or Lab().up(keep=True)
    r = lab.run("database", "nft list ruleset")   # ssh through the backend, sudo -n
    lab.reboot("backend")
    lab.peak_memory("backend")        # bytes, cgroup high-water mark since boot/reset
    lab.timings                        # dict of measured seconds
    lab.down()

The parts, one module each: settings (paths, packages; hosts and addresses from
the lab inventory), state (.lab: pids, timings, lock, keys), base (the base
image), images (lab images of the real programs), standin (the stand-in image),
network (bridge, apt proxy, outer services), hosts (host lifecycle and access),
cgroups and metrics (memory), system (commands, processes, mounts). This module
puts them together. See docs/lab.md for how it works and its limits.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.lab import base, cgroups, images, metrics, network, settings, standin
from tests.lab.hosts import Hosts
from tests.lab.settings import CACHE, CGROUP_NAME, HOST_PACKAGES, STATE, STOP_TIMEOUT
from tests.lab.state import LabState
from tests.lab.system import (
    LabError,
    PreflightError,
    cmdline,
    kill_all,
    link_exists,
    log,
    mounts,
    pid_alive,
    reap,
)

TOOLS = ["systemd-nspawn", "zstd", "tar", "ip", "ssh", "ssh-keygen", "mount", "umount", "nsenter"]


class Lab:
    def __init__(self, state_dir: Path = STATE, cache_dir: Path = CACHE):
        self.state = LabState(state_dir, cache_dir)
        self.mirror = base.outer_mirror()
        self.base = base.BaseImage(self.state.cache_dir, self.mirror, self.state.timings)
        self.hosts = Hosts(self.state, self.images_archive)
        self._images_archive: Path | None = None

    # the paths and figures other parts of the repository read
    state_dir = property(lambda self: self.state.dir)
    cache_dir = property(lambda self: self.state.cache_dir)
    key = property(lambda self: self.state.key)
    known_hosts = property(lambda self: self.state.known_hosts)
    env_file = property(lambda self: self.state.env_file)
    timings = property(lambda self: self.state.timings)
    webhook_log = property(lambda self: network.webhook_log(self.state))

    # ------------------------------------------------------------ preflight --
    def missing_requirements(self, need_debootstrap: bool) -> list[str]:
        if os.geteuid() != 0:
            return ["root (run as root)"]
        miss = []
        if not Path(standin.BUSYBOX).exists():
            miss.append(f"{standin.BUSYBOX} (package busybox-static)")
        for t in TOOLS + (["debootstrap"] if need_debootstrap else []):
            if shutil.which(t) is None and not Path("/usr/sbin", t).exists():
                miss.append(t)
        try:
            if "overlay" not in Path("/proc/filesystems").read_text():
                miss.append("overlayfs support in the kernel")
        except OSError:
            miss.append("/proc/filesystems")
        if not cgroups.roots():
            miss.append("a writable cgroup hierarchy under /sys/fs/cgroup")
        return miss

    def preflight(self) -> None:
        if os.geteuid() != 0:
            raise PreflightError("cannot run the lab: must run as root (nspawn, mounts, bridge)")
        miss = self.missing_requirements(not self.base.tarball().exists())
        if miss:
            raise PreflightError(
                "cannot run the lab, missing: " + ", ".join(miss) + " (install with: make deps-system)"
            )

    # --------------------------------------------------------------- images --
    def ensure_images(self, refresh: bool = False) -> dict:
        """Lab images of the real programs (images/): cached archive, built on a miss."""
        t0 = time.monotonic()
        archive, info = images.ensure(self.cache_dir, self.mirror, refresh=refresh)
        self._images_archive = archive
        self.timings["images_s"] = round(time.monotonic() - t0, 2)
        self.timings["images"] = {k: info[k] for k in ("archive", "size_bytes", "build_s", "versions", "traefik")}
        return info

    def images_archive(self) -> Path:
        if self._images_archive is None:
            self.ensure_images()
        return self._images_archive

    # ---------------------------------------------------------------- hosts --
    def ip(self, host: str) -> str:
        return self.hosts.ip(host)

    def is_up(self) -> bool:
        return all(self.hosts.pid(h) for h in self.hosts.names) and link_exists(settings.BRIDGE)

    def up(self, keep: bool = False, settle: bool = True) -> dict:
        """Boot the hosts; returns the timings. Reuses a healthy running lab."""
        self.preflight()
        with self.state.locked():
            names = self.hosts.names
            if self.is_up():
                bad = [h for h in names if self.ssh(h, "true", connect_timeout=3).returncode != 0]
                if not bad:
                    log("lab is already up; reusing it (run down first for fresh hosts)")
                    return self.timings
                raise LabError(f"lab is up but ssh fails on {bad}; run down, then up")
            if self.leftovers():
                log("cleaning up a previous partial lab first")
                self._down()
            t_all = time.monotonic()
            rootfs = self.base.ensure()
            self.hosts.ensure_keys()
            standin.build_archive(self.state.standin_tar)  # cheap; hosts are down here
            self.ensure_images()
            network.bridge_up()
            network.proxy_up(self.state, base.mirror_host(self.mirror))
            network.services_up(self.state)
            for h in names:
                self.hosts.prepare(h, rootfs, fresh=not keep)
            t0 = {}
            for h in names:
                t0[h] = time.monotonic()
                self.hosts.start(h)
            results, errors = {}, {}

            def waiter(h):
                try:
                    results[h] = self.hosts.wait_ssh(h, t0[h])
                except Exception as exc:
                    errors[h] = exc

            threads = [threading.Thread(target=waiter, args=(h,)) for h in names]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if errors:
                raise LabError("; ".join(f"{h}: {e}" for h, e in errors.items()))
            self.timings["boot_to_sshd_s"] = results
            if settle:
                t1 = time.monotonic()
                states = {h: self.hosts.wait_settled(h) for h in names}
                self.timings["settle_s"] = round(time.monotonic() - t1, 2)
                bad = {h: s for h, s in states.items() if s != "running"}
                if bad:
                    log(f"WARNING: hosts not cleanly running: {bad} (see: labctl ssh <host> -- systemctl --failed)")
            self.timings["up_total_s"] = round(time.monotonic() - t_all, 2)
            self.state.data["up"] = True
            self.state.save()
            log(f"lab up in {self.timings['up_total_s']} s (boot→sshd {results}); source {self.env_file}")
            return self.timings

    def down(self) -> float:
        with self.state.locked():
            return self._down()

    def _down(self) -> float:
        t0 = time.monotonic()
        close_ssh_masters(self.state.ssh_control_dir)
        names = self.hosts.names
        pids = {h: self.hosts.pid(h) for h in names}
        for pid in pids.values():
            if pid:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + STOP_TIMEOUT
        while any(pid_alive(p) for p in pids.values() if p) and time.monotonic() < deadline:
            time.sleep(0.1)
        for h, pid in pids.items():
            if pid and pid_alive(pid):
                log(f"{h}: nspawn did not stop in {STOP_TIMEOUT:.0f} s, SIGKILL")
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        proxy = self.state.data.get("proxy_pid")
        if network.is_proxy(proxy):
            os.kill(proxy, signal.SIGTERM)
            for _ in range(30):
                if not pid_alive(proxy):
                    break
                time.sleep(0.1)
        # whatever is left in our cgroups (also after a crash without state) dies now
        kill_all(cgroups.tree_pids)
        for pid in list(pids.values()) + [proxy] + list((self.state.data.get("outer_pids") or {}).values()):
            reap(pid)
        # mounts we made (overlays) — deepest first
        ours = (str(self.state_dir) + "/", str(self.cache_dir) + "/build.")
        for mp in sorted((m for m in mounts() if m.startswith(ours)), key=len, reverse=True):
            if subprocess.run(["umount", mp], check=False, capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", mp], check=False, capture_output=True)
        failed = cgroups.remove()
        if failed:
            log(f"cgroup dirs left: {failed}")
        network.remove_links(names)
        for key in ("proxy_pid", "outer_pids"):
            self.state.data.pop(key, None)
        self.state.data["hosts"] = {}
        self.state.data["up"] = False
        self.timings["down_s"] = round(time.monotonic() - t0, 2)
        if self.state_dir.exists():
            self.state.save()
        log(f"lab down in {self.timings['down_s']} s")
        return self.timings["down_s"]

    def leftovers(self) -> list[str]:
        """Everything the lab may leave behind; [] means clean."""
        left = [f"process {pid} in lab cgroup: {' '.join(cmdline(pid))[:120]}" for pid in sorted(cgroups.tree_pids())]
        sd = str(self.state_dir)
        for pid_dir in Path("/proc").glob("[0-9]*"):
            args = cmdline(int(pid_dir.name))
            if not args:
                continue
            joined = " ".join(args)
            if (
                ("systemd-nspawn" in args[0] and sd in joined)
                or "tests.lab.aptproxy" in args
                or f"ControlPath={self.state.ssh_control_dir}/" in joined
            ):
                left.append(f"process {pid_dir.name}: {joined[:120]}")
        for root in cgroups.roots():
            if (root / CGROUP_NAME).exists():
                left.append(f"cgroup dir {root / CGROUP_NAME}")
        for mp in mounts():
            if mp.startswith((sd + "/", str(self.cache_dir) + "/")):
                left.append(f"mount {mp}")
        for name in network.links(self.hosts.names):
            if link_exists(name):
                left.append(f"network link {name}")
        return sorted(set(left))

    # ------------------------------------------------------ outer services --
    def outer_stop(self, name: str) -> None:
        """Stop one outer service (e.g. ``azurite``: the storage account goes down)."""
        with self.state.locked():
            network.service_stop(self.state, name)

    def outer_start(self) -> None:
        """Start the outer services that are not running (again)."""
        with self.state.locked():
            network.services_up(self.state)

    def rebuild(self, host: str, settle: bool = True) -> dict:
        """Lose the VM: it is gone at once (SIGKILL, no shutdown: its disk is
        deleted next, so a clean poweroff would only add the 20 s the stand-in's
        SIGTERM-deaf PID 1 makes it wait), delete its disk (overlay layer) and its
        Docker directory, boot a fresh one from the base with the same identity
        (inventory address, SSH host key). Seconds of each step.

        salt-ssh's master connections are closed too: a killed host sends no
        FIN, and a master to it would hang the next run's first ssh."""
        with self.state.locked():
            t0 = time.monotonic()
            stop_s = self.hosts.stop(host, timeout=0) if self.hosts.pid(host) else 0.0
            close_ssh_masters(self.state.ssh_control_dir)
            for mp in sorted(
                (m for m in mounts() if m.startswith(str(self.state.host_dir(host)) + "/")), key=len, reverse=True
            ):
                subprocess.run(["umount", mp], check=False, capture_output=True)
            t1 = time.monotonic()
            self.hosts.prepare(host, self.base.ensure(), fresh=True)
            wipe_s = round(time.monotonic() - t1, 2)
            boot_s = self._boot(host, settle)
            total = round(time.monotonic() - t0, 2)
            self.state.save()
            return {"stop_s": stop_s, "wipe_s": wipe_s, "boot_to_sshd_s": boot_s, "total_s": total}

    def _running(self, host: str) -> None:
        if host not in settings.HOSTS:
            raise LabError(f"unknown host {host}")
        if self.hosts.pid(host) is None:
            raise LabError(f"{host} is not running")

    def power_off(self, host: str) -> float:
        """Stop one host (clean poweroff) and leave it off; seconds taken."""
        with self.state.locked():
            self._running(host)
            return self.hosts.stop(host)

    def _boot(self, host: str, settle: bool) -> float:
        """Start a stopped host on its overlay and wait for sshd (and systemd to settle); seconds to sshd."""
        t0 = time.monotonic()
        self.hosts.start(host)
        boot_s = self.hosts.wait_ssh(host, t0)
        if settle:
            self.hosts.wait_settled(host)
        return boot_s

    def power_on(self, host: str, settle: bool = True) -> float:
        """Boot a stopped host on its overlay; seconds until sshd answers and systemd settled."""
        with self.state.locked():
            t0 = time.monotonic()
            self._boot(host, settle)
            return round(time.monotonic() - t0, 2)

    def reboot(self, host: str, settle: bool = True) -> float:
        """Real reboot: stop the container, boot it again on the same overlay."""
        with self.state.locked():
            self._running(host)
            t0 = time.monotonic()
            stop_s = self.hosts.stop(host)
            boot_s = self._boot(host, settle)
            total = round(time.monotonic() - t0, 2)
            self.timings.setdefault("reboot_s", {})[host] = {
                "stop": stop_s,
                "boot_to_sshd": boot_s,
                "total_with_settle": total,
            }
            self.state.save()
            log(f"{host} rebooted in {total} s (stop {stop_s} s, boot→sshd {boot_s} s)")
            return total

    def reboot_together(self, hosts: list[str]) -> dict[str, float]:
        """Reboot several hosts at once (their shutdowns side by side, then each boot); host -> seconds
        from the common start until its sshd answered and systemd settled."""
        with self.state.locked():
            for h in hosts:
                self._running(h)
            t0 = time.monotonic()
            with ThreadPoolExecutor(len(hosts)) as pool:
                list(pool.map(self.hosts.stop, hosts))
            for h in hosts:
                self.hosts.start(h)
            out = {}
            for h in hosts:
                self.hosts.wait_ssh(h, t0)
                self.hosts.wait_settled(h)
                out[h] = round(time.monotonic() - t0, 2)
            self.state.save()
            log(f"{', '.join(hosts)} rebooted together: {out}")
            return out

    # ------------------------------------------------------- access, memory --
    def ssh_args(self, host: str, connect_timeout: int = 5, via: str | None = "default") -> list[str]:
        return self.hosts.ssh_args(host, connect_timeout, via)

    def ssh(self, host: str, cmd: str, **kw):
        return self.hosts.ssh(host, cmd, **kw)

    def run(self, host: str, cmd: str, *, sudo: bool = True, **kw):
        return self.hosts.run(host, cmd, sudo=sudo, **kw)

    def exec(self, host: str, cmd: str, **kw):
        return self.hosts.exec(host, cmd, **kw)

    def wait_settled(self, host: str, timeout: float = 60) -> str:
        return self.hosts.wait_settled(host, timeout)

    def memory(self, host: str) -> dict:
        return metrics.memory(host)

    def peak_memory(self, host: str) -> int:
        """High-water mark (bytes) of the host's cgroup since its boot or reset_peak_memory()."""
        return metrics.memory(host)["peak"]

    def reset_peak_memory(self, host: str) -> None:
        metrics.reset_peak(host)

    def status(self) -> dict:
        out = {
            "bridge": link_exists(settings.BRIDGE),
            "proxy": pid_alive(self.state.data.get("proxy_pid")),
            "hosts": {},
            "timings": self.timings,
        }
        for h in self.hosts.names:
            pid = self.hosts.pid(h)
            st = {"ip": self.ip(h), "nspawn_pid": pid, "running": bool(pid)}
            if pid:
                st["ssh"] = self.ssh(h, "true", connect_timeout=3).returncode == 0
                try:
                    st["memory"] = self.memory(h)
                except LabError:
                    pass
            out["hosts"][h] = st
        return out


# ---------------------------------------------------------------------- CLI --
def close_ssh_masters(control_dir: Path) -> None:
    """`ssh -O exit` every master connection salt-ssh left in the lab's control directory (and below)."""
    if not control_dir.is_dir():
        return
    for sock in control_dir.rglob("*"):
        if sock.is_socket():
            subprocess.run(
                ["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "lab"], capture_output=True, timeout=10, check=False
            )


def cmd_deps(_args) -> int:
    missing = []
    for pkg in HOST_PACKAGES:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], check=False, capture_output=True, text=True)
        if "install ok installed" not in r.stdout:
            missing.append(pkg)
    if not missing:
        print("lab deps: all installed")
        return 0
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], check=True, env=env)
    print(f"lab deps: installed {' '.join(missing)}")
    return 0


def main(argv=None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    ap = argparse.ArgumentParser(prog="python -m tests.lab.labctl", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("up", help="boot the hosts")
    p.add_argument("--keep", action="store_true", help="keep the hosts' disks from last time")
    sub.add_parser("down", help="stop everything, remove bridge, mounts, cgroups")
    sub.add_parser("check-clean", help="exit 1 if anything of the lab is left")
    sub.add_parser("status")
    sub.add_parser("deps", help="apt-get install HOST_PACKAGES")
    sub.add_parser("env", help="print the path of the env file")
    p = sub.add_parser("images", help="build/reuse the lab images of the real programs (images/)")
    p.add_argument("--refresh", action="store_true", help="re-resolve package versions (rebuild)")
    p = sub.add_parser("base", help="build/restore the base image (timings)")
    p.add_argument("--rebuild", action="store_true")
    p.add_argument("--re-extract", action="store_true")
    hosts = list(settings.HOSTS)
    for name in ("ssh", "exec"):
        p = sub.add_parser(name, help="run a command in a host (ssh: as the admin user; exec: root, nsenter)")
        p.add_argument("host", choices=hosts)
        p.add_argument("command", nargs=argparse.REMAINDER)
    for name in ("reboot", "memory"):
        sub.add_parser(name).add_argument("host", choices=hosts)
    a = ap.parse_args(argv)

    if a.cmd == "deps":
        return cmd_deps(a)
    lab = Lab()
    try:
        if a.cmd == "up":
            try:
                lab.up(keep=a.keep)
            except PreflightError:
                raise
            except LabError:
                if lab.leftovers():
                    log("up failed; the partial lab is left for inspection: run `labctl down`")
                raise
            print(json.dumps(lab.timings, indent=2))
        elif a.cmd == "down":
            lab.down()
            left = lab.leftovers()
            if left:
                print("\n".join(left))
                return 1
        elif a.cmd == "check-clean":
            left = lab.leftovers()
            if left:
                print("NOT clean:\n  " + "\n  ".join(left))
                return 1
            print("clean: no lab process, mount, cgroup or bridge left")
        elif a.cmd == "status":
            print(json.dumps(lab.status(), indent=2))
        elif a.cmd == "images":
            print(json.dumps(lab.ensure_images(refresh=a.refresh), indent=1, sort_keys=True))
        elif a.cmd == "env":
            print(lab.env_file)
        elif a.cmd == "base":
            if os.geteuid() != 0:
                raise LabError("cannot run the lab, missing: root (run as root)")
            with lab.state.locked():
                lab.base.ensure(rebuild=a.rebuild, re_extract=a.re_extract)
                lab.state.save()
            print(json.dumps({k: v for k, v in lab.timings.items() if k.startswith("base")}))
        elif a.cmd in ("ssh", "exec"):
            cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
            if a.cmd == "ssh":
                os.execvp("ssh", lab.ssh_args(a.host) + (["--", " ".join(cmd)] if cmd else []))
            r = lab.exec(a.host, " ".join(cmd) or "true")
            sys.stdout.write(r.stdout)
            sys.stderr.write(r.stderr)
            return r.returncode
        elif a.cmd == "reboot":
            lab.reboot(a.host)
            print(json.dumps(lab.timings.get("reboot_s", {}).get(a.host)))
        elif a.cmd == "memory":
            print(json.dumps(lab.memory(a.host)))
    except LabError as exc:
        print(f"labctl: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
