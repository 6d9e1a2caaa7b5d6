"""mysqld_exporter from Debian (`prometheus-mysqld-exporter`).

localhost/lostops-lab-mysqld-exporter:lab   the official image's entrypoint and user
"""

from __future__ import annotations

from tests.lab.images.recipe import Recipe

RECIPE = Recipe(
    images={
        "mysqld-exporter": {
            "Entrypoint": ["/bin/mysqld_exporter"],
            "User": "nobody",
            "ExposedPorts": {"9104/tcp": {}},
            "package": "prometheus-mysqld-exporter",
        },
    },
    packages=("prometheus-mysqld-exporter",),
    versioned=("prometheus-mysqld-exporter",),
    symlinks={"usr/bin/mysqld_exporter": "prometheus-mysqld-exporter"},
)
