"""node_exporter from Debian (`prometheus-node-exporter`).

localhost/lostops-lab-node-exporter:lab   the official image's entrypoint and user
"""

from __future__ import annotations

from tests.lab.images.recipe import Recipe

RECIPE = Recipe(
    images={
        "node-exporter": {
            "Entrypoint": ["/bin/node_exporter"],
            "User": "nobody",
            "ExposedPorts": {"9100/tcp": {}},
            "package": "prometheus-node-exporter",
        },
    },
    packages=("prometheus-node-exporter",),
    versioned=("prometheus-node-exporter",),
    symlinks={"usr/bin/node_exporter": "prometheus-node-exporter"},
)
