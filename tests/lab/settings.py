"""What the lab is made of: paths, packages, the bridge, and the hosts.

The hosts, their addresses, the bridge's network, the admin address and the
SSH user come from the lab inventory (pillar/inventory/lab.yaml, read with
lostops.inventory like every other consumer), on first use: ``settings.HOSTS``,
``settings.ADMIN_IP``, ``settings.INTERNET_IP``, ``settings.BRIDGE_CIDR``,
``settings.SSH_USER``. Everything else here is a plain constant, so this module
imports without the project's venv (scripts/deps-system reads HOST_PACKAGES,
the e2e pre-flight runs before the venv exists).
"""

from __future__ import annotations

import functools
import ipaddress
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STATE = REPO / ".lab"
CACHE = Path(os.environ.get("LOSTOPS_LAB_CACHE", "/var/cache/lostops-lab"))
DEFAULT_INVENTORY = "lab"
# make bench-scale boots a generated, larger lab inventory (tests/lab/scale.py).
INVENTORY = os.environ.get("LOSTOPS_LAB_INVENTORY") or DEFAULT_INVENTORY


# ---------------------------------------------------------------- constants --
# Outer-machine Debian packages the lab needs (`make deps-system` installs them).
HOST_PACKAGES = [
    "debootstrap",  # builds the base rootfs on a cache miss
    "debian-archive-keyring",
    "systemd-container",  # systemd-nspawn
    "zstd",  # base tarball cache
    "busybox-static",  # stand-in container image
    "iproute2",  # bridge
    "openssh-client",  # ssh, ssh-keygen
    "util-linux",  # mount, nsenter
    "tar",
    "curl",  # tests probe HTTP from the outer machine
    "openssl",  # the lab ACME CA and Pebble's API certificate (outer.py)
]

SUITE = "trixie"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# Installed in the base by debootstrap.
BASE_PACKAGES = [
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "sudo",
    "iproute2",
    "ca-certificates",
    "procps",
    "less",
    "curl",
]
# Downloaded ONLY (apt-get install --download-only) into /var/cache/apt/archives
# of the base, so that Salt's pkg.installed really installs them, but from the
# local cache. Add packages your states install here (and bump nothing: the
# list is part of the cache key).
# NB: in trixie the `docker` CLI is the separate package docker-cli (only a
# Recommends of docker.io, and the lab, like production, installs without
# recommends): states must install docker-cli explicitly.
PREFETCH_PACKAGES = ["docker.io", "docker-cli", "docker-compose", "nftables", "chrony"]
# Bump when the base recipe changes in a way the lists above do not show.
BASE_RECIPE_VERSION = "5"

BRIDGE = "lostops-br0"
PROXY_PORT = 3142
# The "internet" stand-in's address: this host number of the lab's address space
# (the release rehearsal's runner and every probe "from the internet").
INTERNET_HOST_NUMBER = 200
CGROUP_NAME = "lostops-lab"
STANDIN_IN_HOST = "/var/lib/lostops-lab/standin.tar"
# Lab images of the real programs (tests/lab/images/), from the lab cache.
IMAGES_IN_HOST = "/var/lib/lostops-lab/images.tar"
BOOT_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0
MASKED_UNITS = [
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "fstrim.timer",
    "man-db.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "dpkg-db-backup.timer",
    "systemd-tmpfiles-clean.timer",
    # cannot load modules from inside a container; would leave the host "degraded"
    "systemd-modules-load.service",
]
NSPAWN_ENV = {"SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"}

FROM_INVENTORY = ("HOSTS", "ADMIN_IP", "INTERNET_IP", "BRIDGE_CIDR", "SSH_USER")


@functools.cache
def _from_inventory() -> dict:
    """The lab's hosts and addresses, derived from the lab inventory.

    HOSTS: {name: {"ip": private_ip[, "via": ssh_via]}} in inventory order;
    ADMIN_IP: the one admin source (a /32: the outer machine's address on the
    bridge); BRIDGE_CIDR: the prefix of azure.network.address_space (the
    bridge's network); INTERNET_IP: host INTERNET_HOST_NUMBER of that network.
    """
    from lostops.inventory import load

    inv = load(INVENTORY)
    net = ipaddress.ip_network(inv.azure.network.address_space)
    admins = [n for n in inv.ssh.admin_sources if n.num_addresses == 1]
    if len(admins) != 1:
        raise ValueError(
            f"inventory {INVENTORY}: ssh.admin_sources must hold exactly one /32 (the lab's admin address)"
        )
    internet = net.network_address + INTERNET_HOST_NUMBER
    hosts = {}
    for name, host in inv.hosts.items():
        hosts[name] = {"ip": str(host.private_ip), **({"via": host.ssh_via} if host.ssh_via else {})}
    taken = {h["ip"] for h in hosts.values()} | {str(admins[0].network_address)}
    if internet not in net or str(internet) in taken:
        raise ValueError(f"inventory {INVENTORY}: {internet} (the internet stand-in) must be a free address of {net}")
    return {
        "HOSTS": hosts,
        "ADMIN_IP": str(admins[0].network_address),
        "INTERNET_IP": str(internet),
        "BRIDGE_CIDR": net.prefixlen,
        "SSH_USER": inv.ssh.user,
    }


def __getattr__(name: str):
    if name in FROM_INVENTORY:
        return _from_inventory()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
