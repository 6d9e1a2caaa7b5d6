"""What one program's lab image is made of: the ``Recipe`` every program module declares.

A recipe names the base root its image is built on (roots.py), the Debian
packages it installs there, the files, symlinks and empty directories it adds,
what it removes again, and the image configs (the official image's
entrypoint, command, user, working dir, ports). Everything but the hooks is
data and part of the cache key (cache.py); a change to a hook needs a bump of
``cache.RECIPE_VERSION``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Where the lab's ACME CA (outer.lab_ca: it signs Pebble's API certificate) is
# in the images; Traefik's image points LEGO_CA_CERTIFICATES at it.
LAB_CA_IN_IMAGE = "etc/lostops-lab/acme-ca.pem"
PATH_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
# The official images' ids: nobody is 65534 (Debian's too).
NOBODY = 65534


@dataclass(frozen=True)
class BuildContext:
    """What hooks may use while a root is built."""

    cache: Path
    ca_pem: str
    chroot: Callable[..., object]


@dataclass(frozen=True)
class Recipe:
    """One program's lab image(s) on a base root."""

    # image name -> image config: the official image's Entrypoint/Cmd/User/...
    # (capitalised keys), plus "package" (the Debian package whose version names
    # the program) or "program" (a fixed description).
    images: dict[str, dict]
    root: str = "trixie"
    packages: tuple[str, ...] = ()
    # The packages whose versions name what runs (summary + docs), in order.
    versioned: tuple[str, ...] = ()
    files: dict[str, tuple[str, int]] = field(default_factory=dict)
    # Official image paths -> the Debian binaries (merged /usr: /bin is /usr/bin).
    symlinks: dict[str, str] = field(default_factory=dict)
    # Globs removed after the packages are installed (slimmer layer, Debian's
    # default configs that the official images do not have).
    remove: tuple[str, ...] = ()
    # (path, uid == gid, mode): created after `remove` (so a removed path comes back empty).
    dirs: tuple[tuple[str, int, int], ...] = ()
    # Pins that are not Debian packages (e.g. a wheel), for the cache key.
    pins: dict[str, str] = field(default_factory=dict)
    # Before `apt-get install` (e.g. fixed user ids) / after the files are written.
    prepare: Callable[[BuildContext], None] | None = None
    install: Callable[[Path, BuildContext], None] | None = None

    def key_data(self) -> dict:
        return {
            "root": self.root,
            "packages": list(self.packages),
            "files": self.files,
            "symlinks": self.symlinks,
            "remove": list(self.remove),
            "dirs": [list(d) for d in self.dirs],
            "images": self.images,
            "pins": self.pins,
        }
