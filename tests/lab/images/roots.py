"""Base roots of the lab images: a debootstrap ``minbase`` per Debian suite, plus the recipes' packages.

Every recipe names its root (recipe.Recipe.root); the images of one root share
ONE layer (cache.py), so `docker load` stores each root once. A root also
carries what every image on it gets: busybox applets like the official images'
(health checks use `wget`), CA certificates, time zones, and the lab ACME CA.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from tests.lab.images.recipe import LAB_CA_IN_IMAGE, BuildContext, Recipe
from tests.lab.images.util import run
from tests.lab.settings import SUITE


@dataclass(frozen=True)
class Root:
    """A Debian suite as a minimal root filesystem for images."""

    name: str
    suite: str
    # Installed into every image of the root.
    packages: tuple[str, ...] = (
        # wget/nc applets like the official images' busybox (health checks).
        "busybox",
        "ca-certificates",
        "tzdata",
    )
    applets: tuple[str, ...] = ("wget", "nc")
    # Extra `apt-get` options inside the root (e.g. an expired Release file).
    apt_options: tuple[str, ...] = ()
    # Downloaded (not installed) in the root and kept OUTSIDE the image: the
    # programs the lab runs on the outer machine (outer.py: Pebble).
    outer_packages: tuple[str, ...] = ()
    # Not needed by any image (docs, locales): smaller layer.
    slim: tuple[str, ...] = field(default=("usr/share/locale/*", "usr/share/javascript"))

    def key_data(self) -> dict:
        return {
            "suite": self.suite,
            "packages": list(self.packages),
            "applets": list(self.applets),
            "apt_options": list(self.apt_options),
            "outer": list(self.outer_packages),
            "slim": list(self.slim),
        }


ROOTS: dict[str, Root] = {
    "trixie": Root("trixie", SUITE, outer_packages=("pebble",)),
    # Oracle MySQL 9.7 (`mysql-9.7`) is in sid only: it needs sid's libstdc++ and
    # libicu. The sid Release file as served here can be past its Valid-Until.
    "sid": Root("sid", "sid", apt_options=("-o", "Acquire::Check-Valid-Until=false")),
}


def _remove(root: Path, pattern: str) -> None:
    for p in root.glob(pattern):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def build(
    spec: Root, root: Path, mirror: str, recipes: list[Recipe], cache: Path, ca_pem: str, outer_dir: Path
) -> dict[str, str]:
    """debootstrap + packages + the recipes' files into ``root``; returns dpkg package versions
    (``outer:<name>`` for the outer machine's packages, unpacked into ``outer_dir``)."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C")
    run(["debootstrap", "--variant=minbase", spec.suite, str(root), mirror], env=env)

    def chroot(*args):
        return run(["chroot", str(root), *args], env=env)

    ctx = BuildContext(cache=cache, ca_pem=ca_pem, chroot=chroot)
    (root / "etc/apt/apt.conf.d/90lostops-lab-image").write_text(
        'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\nAcquire::Languages "none";\n'
    )
    (root / "usr/sbin/policy-rc.d").write_text("#!/bin/sh\nexit 101\n")
    (root / "usr/sbin/policy-rc.d").chmod(0o755)
    resolv = root / "etc/resolv.conf"
    if resolv.is_symlink() or resolv.exists():
        resolv.unlink()
    shutil.copy("/etc/resolv.conf", resolv)
    for r in recipes:
        if r.prepare:
            r.prepare(ctx)
    apt = ["apt-get", *spec.apt_options]
    packages = [p for r in recipes for p in r.packages] + list(spec.packages)
    chroot(*apt, "update", "-q")
    chroot(*apt, "install", "-y", "-q", "--no-install-recommends", *packages)
    q = chroot("dpkg-query", "-W", "-f", "${Package}\t${Version}\n").stdout
    versions = dict(line.split("\t", 1) for line in q.splitlines() if "\t" in line)
    if spec.outer_packages:
        # The outer machine's lab services: the suite's .deb, unpacked outside the image.
        chroot("sh", "-c", "cd /tmp && " + " ".join(apt) + " download -q " + " ".join(spec.outer_packages))
        shutil.rmtree(outer_dir, ignore_errors=True)
        outer_dir.mkdir(parents=True)
        for deb in sorted((root / "tmp").glob("*.deb")):
            name, version = deb.name.split("_")[:2]
            versions[f"outer:{name}"] = version.replace("%3a", ":")
            run(["dpkg-deb", "-x", str(deb), str(outer_dir)])
            deb.unlink()
    # slim: apt lists/caches, docs, man pages, locales other than C
    for rel in ("var/lib/apt/lists", "var/cache/apt", "usr/share/doc", "usr/share/man", "usr/share/info"):
        p = root / rel
        if p.exists():
            shutil.rmtree(p)
            p.mkdir()
    for pattern in [*spec.slim, *(g for r in recipes for g in r.remove)]:
        _remove(root, pattern)
    for p in (root / "var/log").rglob("*"):
        if p.is_file():
            p.unlink()
    (root / "usr/sbin/policy-rc.d").unlink()
    resolv.unlink()
    resolv.write_text("")
    (root / "etc/hostname").write_text("lostops-lab\n")
    for r in recipes:
        for d, owner, mode in r.dirs:
            p = root / d
            p.mkdir(parents=True, exist_ok=True)
            os.chown(p, owner, owner)
            p.chmod(mode)
    files = {LAB_CA_IN_IMAGE: (ca_pem, 0o644)}
    for r in recipes:
        files.update(r.files)
    for rel, (text, mode) in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        p.chmod(mode)
    for r in recipes:
        for rel, target in r.symlinks.items():
            p = root / rel
            if p.is_symlink() or p.exists():
                p.unlink()
            p.symlink_to(target)
    for applet in spec.applets:
        p = root / "usr/bin" / applet
        if not (p.exists() or p.is_symlink()):
            p.symlink_to("busybox")
    for r in recipes:
        if r.install:
            r.install(root, ctx)
    return versions
