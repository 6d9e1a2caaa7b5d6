"""Alertmanager from Debian (`prometheus-alertmanager`).

localhost/lostops-lab-alertmanager:lab   the official image's entrypoint, command, user and paths
"""

from __future__ import annotations

from tests.lab.images.recipe import LAB_CA_IN_IMAGE, NOBODY, PATH_ENV, Recipe

RECIPE = Recipe(
    images={
        "alertmanager": {
            # Go reads every file of these directories as roots, after the system
            # bundle: the lab CA is trusted too, for the lab's stand-in of
            # https://discord.com (outer.py webhook; production: public roots only).
            "Env": [*PATH_ENV, f"SSL_CERT_DIR=/etc/ssl/certs:/{LAB_CA_IN_IMAGE.rsplit('/', 1)[0]}"],
            "Entrypoint": ["/bin/alertmanager"],
            "Cmd": ["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"],
            "User": "nobody",
            "WorkingDir": "/alertmanager",
            "ExposedPorts": {"9093/tcp": {}},
            "package": "prometheus-alertmanager",
        },
    },
    packages=("prometheus-alertmanager",),
    versioned=("prometheus-alertmanager",),
    symlinks={"usr/bin/alertmanager": "prometheus-alertmanager"},
    # Debian's default config would be read when no flag points elsewhere: keep it out.
    remove=("etc/prometheus/alertmanager.yml",),
    dirs=(("alertmanager", NOBODY, 0o755), ("etc/alertmanager", 0, 0o755)),
)
