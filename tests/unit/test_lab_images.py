"""The lab image recipes (tests/lab/images/): one recipe per program, a known root each, a key that sees changes."""

from __future__ import annotations

import dataclasses
import json
import tarfile
from pathlib import Path

from tests.lab import images
from tests.lab.images import cache, roots

LAB = Path(__file__).resolve().parents[1] / "lab"
MAX_LINES = 600


def test_no_lab_module_passes_600_lines():
    long = {
        str(p.relative_to(LAB)): n
        for p in sorted(LAB.rglob("*.py"))
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"tests/lab modules over {MAX_LINES} lines (split by concern): {long}"


def test_every_image_has_one_recipe_on_a_known_root_and_names_its_program():
    seen: dict[str, str] = {}
    for module, recipe in images.RECIPES.items():
        assert recipe.root in roots.ROOTS, f"{module}: unknown root {recipe.root!r}"
        for name, spec in recipe.images.items():
            assert name not in seen, f"image {name} in two recipes: {seen[name]} and {module}"
            seen[name] = module
            pkg = spec.get("package")
            assert pkg in recipe.packages or spec.get("program"), f"{module}/{name}: no package or program"
            assert spec.get("Entrypoint"), f"{module}/{name}: no Entrypoint"
        for p in recipe.versioned:
            assert p in recipe.packages, f"{module}: versioned {p} is not installed"
    assert images.RECIPES["mysql"].root == "sid", "MySQL 9.7 is in Debian sid only"
    assert set(seen) == {
        "traefik",
        "prometheus",
        "alertmanager",
        "node-exporter",
        "mysqld-exporter",
        "mysql",
        "app",
        "docker-socket-proxy",
    }


def test_the_recipe_key_sees_a_changed_file_package_and_root():
    base = cache.recipe_key(images.RECIPES, "http://mirror/debian", "CA")
    assert base == cache.recipe_key(dict(images.RECIPES), "http://mirror/debian", "CA")
    app = images.RECIPES["app"]
    changed_file = dict(app.files, **{"var/www/html/x.php": ("<?php\n", 0o644)})
    for variant in (
        dataclasses.replace(app, files=changed_file),
        dataclasses.replace(app, packages=(*app.packages, "php8.4-curl")),
        dataclasses.replace(app, images={"app": dict(app.images["app"], User="www-data")}),
    ):
        assert cache.recipe_key(dict(images.RECIPES, app=variant), "http://mirror/debian", "CA") != base
    assert cache.recipe_key(images.RECIPES, "http://other/debian", "CA") != base
    assert cache.recipe_key(images.RECIPES, "http://mirror/debian", "other CA") != base


def test_the_archive_has_one_layer_per_root_and_each_image_names_its_own(tmp_path, monkeypatch):
    """docker-archive layout as `docker load` reads it: every manifest layer exists, images of a
    root share its layer, and the program label carries the resolved version."""
    monkeypatch.setitem(roots.ROOTS, "other", roots.Root("other", "sid"))
    recipes = dict(images.RECIPES, app=dataclasses.replace(images.RECIPES["app"], root="other"))
    layers = {}
    for name in sorted({r.root for r in recipes.values()}):
        layer = tmp_path / f"{name}.tar"
        layer.write_bytes(name.encode() * 64)
        layers[name] = (layer, f"{len(layers):064x}")
    versions = {name: {} for name in layers}
    versions["trixie"]["prometheus"] = "2.53.3+ds1-2"
    versions["other"]["php8.4-cli"] = "8.4.11-1"
    out = tmp_path / "a.tar"
    ids = cache._write_archive(out, recipes, layers, versions)
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("manifest.json"))
        configs = {m["RepoTags"][0]: json.load(tar.extractfile(m["Config"])) for m in manifest}
    by_ref = {m["RepoTags"][0]: m["Layers"] for m in manifest}
    assert set(by_ref) == set(ids) and len(ids) == len([i for r in recipes.values() for i in r.images])
    for layer_list in by_ref.values():
        assert all(x in names for x in layer_list)
    assert by_ref[images.image_ref("app")] == [f"{layers['other'][1]}/layer.tar"]
    assert by_ref[images.image_ref("prometheus")] == [f"{layers['trixie'][1]}/layer.tar"]
    labels = configs[images.image_ref("app")]["config"]["Labels"]
    assert labels["org.lostops.lab.program"] == "php8.4-cli 8.4.11-1 (Debian sid)"
    assert "prometheus 2.53.3+ds1-2 (Debian trixie)" in json.dumps(configs[images.image_ref("prometheus")])
