"""The lab images' cache: one docker-archive per recipe set, keyed by recipe AND resolved package versions.

``<cache>/images/lab-images-<key>.tar`` where ``key`` hashes the recipe key
(``RECIPE_VERSION``, the mirror, the lab CA, every root's and recipe's data:
packages, pins, the files written into the image, the image configs) AND the
exact package versions that the build resolved (``dpkg-query`` in each built
root). ``lab-images-recipe-<recipe key>.json`` points from a recipe to its last
archive and lists the versions, so an unchanged recipe reuses the archive
without asking apt; ``labctl images --refresh`` re-resolves (new point release
-> new archive). The archive holds one layer per base root and one image config
per program; `docker load` loads each layer once.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

from tests.lab import outer
from tests.lab.images import roots
from tests.lab.images.recipe import PATH_ENV, Recipe
from tests.lab.images.util import log, run

# Bump when the recipe changes in a way the data of roots/recipes does not show (hooks, build steps).
RECIPE_VERSION = "3"
TAG = "lab"
NAME = "localhost/lostops-lab-{}"
_EPOCH = 0


def image_ref(name: str) -> str:
    return f"{NAME.format(name)}:{TAG}"


def recipe_key(recipes: dict[str, Recipe], mirror: str, ca_pem: str = "") -> str:
    h = hashlib.sha256()
    h.update(ca_pem.encode())
    used = sorted({r.root for r in recipes.values()})
    h.update(
        json.dumps(
            {
                "recipe": RECIPE_VERSION,
                "mirror": mirror,
                "roots": {n: roots.ROOTS[n].key_data() for n in used},
                "recipes": {n: r.key_data() for n, r in recipes.items()},
            },
            sort_keys=True,
        ).encode()
    )
    return h.hexdigest()[:16]


def _layer(root: Path, out: Path) -> str:
    """Tar the root (sorted, numeric owners, fixed mtimes); return the sha256 hex."""
    run(
        [
            "tar",
            "-C",
            str(root),
            "--sort=name",
            "--numeric-owner",
            "--mtime=@0",
            "--exclude=./dev/*",
            "--exclude=./proc/*",
            "--exclude=./sys/*",
            "-cf",
            str(out),
            ".",
        ]
    )
    h = hashlib.sha256()
    with open(out, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _info(name: str, size: int = 0, dir_: bool = False) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = tarfile.DIRTYPE if dir_ else tarfile.REGTYPE
    ti.mode = 0o755 if dir_ else 0o644
    ti.size = size
    ti.mtime = _EPOCH
    ti.uname = ti.gname = "root"
    return ti


def _write_archive(
    out: Path, recipes: dict[str, Recipe], layers: dict[str, tuple[Path, str]], versions: dict[str, dict[str, str]]
) -> dict[str, str]:
    """docker-archive: one layer per root, one config per image. Returns {ref: image id}."""
    manifest, ids, configs = [], {}, []
    specs = {name: (spec, r.root) for r in recipes.values() for name, spec in r.images.items()}
    for name, (spec, root) in sorted(specs.items()):
        layer_hex = layers[root][1]
        suite = roots.ROOTS[root].suite
        program = (
            spec.get("program") or f"{spec['package']} {versions[root].get(spec['package'], '?')} (Debian {suite})"
        )
        cfg = {k: v for k, v in spec.items() if k[0].isupper()}
        cfg.setdefault("Env", PATH_ENV)
        cfg["Labels"] = {
            "org.lostops.lab.image": name,
            "org.lostops.lab.program": program,
            "org.lostops.lab.built-by": "tests/lab/images",
        }
        config = {
            "architecture": "amd64",
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": cfg,
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + layer_hex]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": f"tests/lab/images: {program}"}],
        }
        data = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        hexd = hashlib.sha256(data).hexdigest()
        configs.append((f"{hexd}.json", data))
        manifest.append({"Config": f"{hexd}.json", "RepoTags": [image_ref(name)], "Layers": [f"{layer_hex}/layer.tar"]})
        ids[image_ref(name)] = "sha256:" + hexd
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for layer, layer_hex in sorted(layers.values(), key=lambda x: x[1]):
            tar.addfile(_info(layer_hex, dir_=True))
            tar.addfile(_info(f"{layer_hex}/VERSION", 3), io.BytesIO(b"1.0"))
            ti = _info(f"{layer_hex}/layer.tar", layer.stat().st_size)
            with open(layer, "rb") as fh:
                tar.addfile(ti, fh)
        for name, data in configs + [("manifest.json", json.dumps(manifest, separators=(",", ":")).encode())]:
            tar.addfile(_info(name, len(data)), io.BytesIO(data))
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)
    return ids


def outer_dir(cache: Path) -> Path:
    """Where the outer machine's packages (Pebble) are unpacked by the image build."""
    return cache / "images" / "outer"


def flat_versions(versions: dict[str, dict[str, str]], recipes: dict[str, Recipe]) -> dict[str, str]:
    """The pinned versions of every root: recipes' and roots' packages, and the outer ones."""
    out: dict[str, str] = {}
    for root_name, v in versions.items():
        spec = roots.ROOTS[root_name]
        wanted = set(spec.packages) | {p for r in recipes.values() if r.root == root_name for p in r.packages}
        for p in sorted(v):
            if p in wanted or p.startswith("outer:"):
                out[p] = v[p]
    return out


def ensure(
    cache: Path, mirror: str, recipes: dict[str, Recipe], extra: dict, refresh: bool = False
) -> tuple[Path, dict]:
    """The archive for the current recipes (built on a miss); returns (path, info incl. ``extra``)."""
    d = cache / "images"
    d.mkdir(parents=True, exist_ok=True)
    ca_pem = outer.lab_ca(cache)[0].read_text()
    rkey = recipe_key(recipes, mirror, ca_pem)
    pointer = d / f"lab-images-recipe-{rkey}.json"
    if pointer.exists() and not refresh:
        info = json.loads(pointer.read_text())
        archive = d / info["archive"]
        if archive.exists() and (outer_dir(cache) / "usr/bin/pebble").exists():
            return archive, info
    if shutil.which("debootstrap") is None and not Path("/usr/sbin/debootstrap").exists():
        raise RuntimeError("lab images: cannot build, missing: debootstrap (make deps-system)")
    t0 = time.monotonic()
    by_root: dict[str, list[Recipe]] = {}
    for r in recipes.values():
        by_root.setdefault(r.root, []).append(r)
    n = sum(len(r.packages) for r in recipes.values())
    log(
        f"building lab images (debootstrap {', '.join(roots.ROOTS[x].suite for x in by_root)} + {n} packages); ~3-5 min"
    )
    build = d / f"build.{os.getpid()}"
    shutil.rmtree(build, ignore_errors=True)
    versions: dict[str, dict[str, str]] = {}
    layers: dict[str, tuple[Path, str]] = {}
    try:
        for root_name, rs in sorted(by_root.items()):
            root = build / root_name
            root.mkdir(parents=True)
            try:
                versions[root_name] = roots.build(
                    roots.ROOTS[root_name], root, mirror, rs, cache, ca_pem, outer_dir(cache)
                )
                layer = build / f"{root_name}.tar"
                layers[root_name] = (layer, _layer(root, layer))
            finally:
                for sub in ("proc", "sys", "dev/pts", "dev"):
                    subprocess.run(["umount", "-l", str(root / sub)], check=False, capture_output=True)
                shutil.rmtree(root, ignore_errors=True)
        key = hashlib.sha256(json.dumps([rkey, versions], sort_keys=True).encode()).hexdigest()[:16]
        archive = d / f"lab-images-{key}.tar"
        ids = _write_archive(archive, recipes, layers, versions)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    info = {
        **extra,
        "archive": archive.name,
        "recipe": rkey,
        "versions": flat_versions(versions, recipes),
        "images": ids,
        "size_bytes": archive.stat().st_size,
        "build_s": round(time.monotonic() - t0, 1),
    }
    pointer.write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
    for old in d.glob("lab-images-*.tar"):
        if old != archive:
            old.unlink()
    for old in d.glob("lab-images-recipe-*.json"):
        if old != pointer:
            old.unlink()
    log(f"built {archive} ({info['size_bytes'] >> 20} MiB) in {info['build_s']} s")
    return archive, info
