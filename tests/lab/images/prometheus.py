"""Prometheus from Debian (`prometheus`, 2.x on trixie, NOT production's 3.x).

localhost/lostops-lab-prometheus:lab   the official image's entrypoint, command, user and paths
"""

from __future__ import annotations

from tests.lab.images.recipe import NOBODY, Recipe

RECIPE = Recipe(
    images={
        "prometheus": {
            "Entrypoint": ["/bin/prometheus"],
            "Cmd": ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"],
            "User": "nobody",
            "WorkingDir": "/prometheus",
            "ExposedPorts": {"9090/tcp": {}},
            "package": "prometheus",
        },
    },
    packages=("prometheus",),
    versioned=("prometheus",),
    # Debian's default config would be read when no flag points elsewhere: keep it out.
    remove=("etc/prometheus/prometheus.yml",),
    dirs=(("prometheus", NOBODY, 0o755), ("etc/prometheus", 0, 0o755)),
)
