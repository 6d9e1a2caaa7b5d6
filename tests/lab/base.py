"""The lab's base image: Debian trixie by debootstrap, cached as a tarball and extracted once.

The tarball's name carries base_key(): the recipe version, suite, mirror and
package lists, so a changed recipe builds a new base (older ones are pruned
unless an overlay still uses them). Every host boots an overlay on the
extracted rootfs (tests/lab/hosts.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from tests.lab import settings
from tests.lab.settings import (
    BASE_PACKAGES,
    BASE_RECIPE_VERSION,
    DEFAULT_MIRROR,
    MASKED_UNITS,
    PREFETCH_PACKAGES,
    SUITE,
)
from tests.lab.system import LabError, log, mounts, sh, user_ids, write_file


def outer_mirror() -> str:
    """The Debian mirror the outer machine uses (first plain-http .../debian URI)."""
    texts = []
    for p in [
        Path("/etc/apt/sources.list"),
        *sorted(Path("/etc/apt/sources.list.d").glob("*")),
    ]:
        try:
            texts.append(p.read_text())
        except OSError:
            pass
    for m in re.finditer(r"(http://[^\s/]+(?:/[^\s]*)?/debian)/?(?=\s)", "\n".join(texts) + "\n"):
        uri = m.group(1)
        if "security" not in uri:
            return uri
    return DEFAULT_MIRROR


def mirror_host(mirror: str) -> str:
    return re.sub(r"^http://([^/:]+).*$", r"\1", mirror)


def base_key(mirror: str) -> str:
    blob = json.dumps(
        [
            BASE_RECIPE_VERSION,
            SUITE,
            mirror,
            BASE_PACKAGES,
            sorted(PREFETCH_PACKAGES),
            MASKED_UNITS,
        ]
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


class BaseImage:
    """The cached base of `mirror` in `cache_dir`; measured seconds go to `timings`."""

    def __init__(self, cache_dir: Path, mirror: str, timings: dict):
        self.cache_dir = Path(cache_dir)
        self.mirror = mirror
        self.timings = timings

    def tarball(self) -> Path:
        return self.cache_dir / f"base-{SUITE}-{base_key(self.mirror)}.tar.zst"

    def rootfs(self) -> Path:
        return self.cache_dir / f"rootfs-{SUITE}-{base_key(self.mirror)}"

    def ensure(self, rebuild: bool = False, re_extract: bool = False) -> Path:
        """Tarball (build on miss) + extracted rootfs (the overlays' lower dir)."""
        tarball, rootfs = self.tarball(), self.rootfs()
        marker = rootfs / ".lostops-lab-complete"
        if rebuild or not tarball.exists():
            if any(m.startswith(str(rootfs)) for m in mounts()):
                raise LabError("base rootfs is in use by mounted overlays; run down first")
            self._build(tarball)
            shutil.rmtree(rootfs, ignore_errors=True)
            self._prune_cache(keep={tarball.name, rootfs.name})
        if re_extract and marker.exists():
            if any(str(rootfs) in m for m in self._overlay_lowers()):
                raise LabError("base rootfs is in use by mounted overlays; run down first")
            shutil.rmtree(rootfs)
        if not marker.exists():
            shutil.rmtree(rootfs, ignore_errors=True)
            tmp = rootfs.with_name(rootfs.name + ".extract")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            t0 = time.monotonic()
            sh(f"zstd -dc -T0 '{tarball}' | tar -C '{tmp}' --numeric-owner --xattrs --xattrs-include='*' -xpf -")
            os.replace(tmp, rootfs)
            marker.write_text(tarball.name + "\n")
            self.timings["base_restore_s"] = round(time.monotonic() - t0, 2)
            log(f"base restored from {tarball.name} in {self.timings['base_restore_s']} s")
        return rootfs

    def _prune_cache(self, keep: set[str]) -> None:
        """Drop base tarballs/rootfs of older recipes (unless an overlay uses them)."""
        lowers = "".join(self._overlay_lowers())
        for p in list(self.cache_dir.glob("base-*.tar.zst")) + list(self.cache_dir.glob("rootfs-*")):
            if p.name in keep or str(p) in lowers:
                continue
            log(f"pruning old base {p.name}")
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink()

    def _overlay_lowers(self) -> list[str]:
        out = []
        with open("/proc/self/mountinfo") as fh:
            for line in fh:
                if " - overlay " in line:
                    out.append(line)
        return out

    def _build(self, tarball: Path) -> None:
        if shutil.which("debootstrap") is None and not Path("/usr/sbin/debootstrap").exists():
            raise LabError("cannot build the base image, missing: debootstrap (install with: make deps-system)")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        build = self.cache_dir / f"build.{os.getpid()}"
        shutil.rmtree(build, ignore_errors=True)
        root = build / "rootfs"
        root.mkdir(parents=True)
        t0 = time.monotonic()
        log(f"building base image (debootstrap {SUITE} from {self.mirror}); takes ~1-2 min")
        try:
            sh(
                [
                    "debootstrap",
                    "--variant=minbase",
                    "--include=" + ",".join(BASE_PACKAGES),
                    SUITE,
                    str(root),
                    self.mirror,
                ],
                capture=True,
            )
            self._prepare(root)
            tmp = tarball.with_name(tarball.name + ".tmp")
            sh(f"tar -C '{root}' --numeric-owner --xattrs --xattrs-include='*' -cf - . | zstd -q -T0 -3 -f -o '{tmp}'")
            os.replace(tmp, tarball)
        finally:
            for sub in ("proc", "sys", "dev/pts", "dev"):
                subprocess.run(["umount", "-l", str(root / sub)], check=False, capture_output=True)
            if not any(m.startswith(str(build)) for m in mounts()):
                shutil.rmtree(build, ignore_errors=True)
        self.timings["base_build_s"] = round(time.monotonic() - t0, 2)
        log(f"base built in {self.timings['base_build_s']} s: {tarball} ({tarball.stat().st_size // (1 << 20)} MiB)")

    def _prepare(self, root: Path) -> None:
        def chroot(*args, **kw):
            return sh(["chroot", str(root), *args], capture=True, **kw)

        w = lambda rel, text, mode=0o644: write_file(root / rel, text, mode)
        w(
            "etc/apt/apt.conf.d/90lostops-lab",
            'APT::Install-Recommends "false";\n'
            'APT::Install-Suggests "false";\n'
            "// keep the pre-downloaded .debs: Salt installs from this cache\n"
            'APT::Keep-Downloaded-Packages "true";\n'
            'Binary::apt::APT::Keep-Downloaded-Packages "true";\n'
            'Acquire::Languages "none";\n',
        )
        for p in (root / "etc/apt/apt.conf.d").glob("*clean*"):
            p.unlink()
        # Resolver only while building (the outer machine fetches directly).
        resolv = root / "etc/resolv.conf"
        if resolv.is_symlink() or resolv.exists():
            resolv.unlink()
        shutil.copy("/etc/resolv.conf", resolv)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C")
        # debootstrap leaves the base's own .debs behind: drop them (already installed)
        for p in (root / "var/cache/apt/archives").glob("*.deb"):
            p.unlink()
        chroot("apt-get", "update", env=env)
        chroot(
            "apt-get",
            "install",
            "-y",
            "--download-only",
            "--no-install-recommends",
            *PREFETCH_PACKAGES,
            env=env,
        )
        debs = list((root / "var/cache/apt/archives").glob("*.deb"))
        if not debs:
            raise LabError("pre-download of PREFETCH_PACKAGES left no .deb in the cache")
        log(f"pre-downloaded {len(debs)} .deb files for {PREFETCH_PACKAGES}")
        # No DNS inside the lab: apt goes through the proxy by name.
        resolv.unlink()
        write_file(
            resolv,
            "# lostops lab: no DNS server; apt uses the HTTP proxy on the bridge\noptions timeout:1 attempts:1\n",
        )
        chroot("systemctl", "enable", "systemd-networkd.service")
        chroot("systemctl", "enable", "ssh.service")
        for unit in MASKED_UNITS:
            link = root / "etc/systemd/system" / unit
            if link.exists() or link.is_symlink():
                link.unlink()
            link.symlink_to("/dev/null")
        # identity: regenerated per host at up time
        for p in (root / "etc/ssh").glob("ssh_host_*"):
            p.unlink()
        write_file(root / "etc/machine-id", "")
        dbus_id = root / "var/lib/dbus/machine-id"
        if dbus_id.exists() or dbus_id.is_symlink():
            dbus_id.unlink()
        # admin user (the inventory's ssh.user): key-only, passwordless sudo
        chroot("useradd", "--create-home", "--shell", "/bin/bash", settings.SSH_USER)
        chroot("usermod", "-p", "*", settings.SSH_USER)  # no password, but not "locked"
        write_file(
            root / "etc/sudoers.d/90-lostops-lab",
            f"{settings.SSH_USER} ALL=(ALL) NOPASSWD:ALL\n",
            0o440,
        )
        ssh_dir = root / "home" / settings.SSH_USER / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        uid, gid = user_ids(root, settings.SSH_USER)
        os.chown(ssh_dir, uid, gid)
        # keep the image small-ish
        for p in (root / "var/lib/apt/lists").glob("*_Contents-*"):
            p.unlink()
        shutil.rmtree(root / "usr/share/doc", ignore_errors=True)
        (root / "usr/share/doc").mkdir(exist_ok=True)
        shutil.rmtree(root / "usr/share/man", ignore_errors=True)
        (root / "usr/share/man").mkdir(exist_ok=True)
        write_file(
            root / "etc/lostops-lab-base",
            f"{SUITE} {base_key(self.mirror)} recipe={BASE_RECIPE_VERSION}\n",
        )
