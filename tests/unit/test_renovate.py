"""The dependency bot: every pin of the repository is covered by .github/renovate.json.

The pins are found by scanning the tracked files (lostops/pins.py), not from a
list here, so a pin added tomorrow in one of the known forms is checked too.
Coverage is evaluated against the config itself: the built-in managers' file
patterns come from Renovate's published JSON schema (vendored in
check-jsonschema), the custom regex managers' matchStrings are run on the
files. The config is validated against that schema with check-jsonschema.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from lostops import pins
from tests.unit import clirun

CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"  # the venv running the tests


@pytest.fixture(scope="module")
def schema() -> dict:
    return pins.renovate_schema()


@pytest.fixture(scope="module")
def config() -> dict:
    return pins.load_config()


@pytest.fixture(scope="module")
def found() -> pins.Scan:
    return pins.scan()


def test_config_is_valid_against_renovates_schema(tmp_path, config):
    """check-jsonschema with Renovate's vendored schema, offline: the config passes, a broken copy fails."""
    bad = tmp_path / "renovate.json"
    bad.write_text(json.dumps(dict(config, pinDigests="yes")), encoding="utf-8")
    exe = CHECK_JSONSCHEMA if CHECK_JSONSCHEMA.exists() else "check-jsonschema"
    proc = subprocess.run(
        [str(exe), "--builtin-schema", "vendor.renovate", str(pins.RENOVATE_CONFIG), str(bad)],
        capture_output=True,
        text=True,
    )
    errors = [line for line in proc.stdout.splitlines() if "::$" in line]
    assert proc.returncode == 1 and errors == [f"  {bad}::$.pinDigests: 'yes' is not of type 'boolean'"], (
        proc.stdout + proc.stderr
    )


def test_every_pin_is_covered_by_a_manager(found, config, schema):
    renovate = pins.Renovate(config, schema)
    kinds = {p.kind for p in found.pins}
    # the scan sees every form of pin this repository has
    assert {"action", "image", "image-entry", "runner", "tool-version", "pypi", "apt", "python", "constant"} <= kinds
    assert {"manifest", "lockfile"} <= kinds
    uncovered = [c for c in map(renovate.cover, found.pins) if c.manager is None]
    assert not uncovered, f"{len(uncovered)} pin(s) no Renovate manager updates:\n" + "\n".join(
        f"  {c.pin.label()}: {c.why_not}" for c in uncovered
    )


def test_every_lock_file_is_a_pin_and_covered(found):
    """All lock files: the pipenv lock, both npm locks (root and tools/cdktn), the hashed requirements."""
    locks = {p.file for p in found.pins if p.kind == "lockfile"}
    tracked = set(pins.tracked_files())
    expected = {
        f
        for f in tracked
        if f.rsplit("/", 1)[-1] in ("Pipfile.lock", "package-lock.json")
        or re.match(r"^tools/requirements-[\w-]+\.txt$", f)
    }
    assert expected and expected == locks


def test_no_custom_manager_is_dead(found, config, schema):
    """A custom manager that captures nothing has a broken pattern or lost its pin."""
    renovate = pins.Renovate(config, schema)
    assert renovate.dead_custom_managers(found.pins) == []


def test_custom_managers_name_what_renovate_requires(config):
    """Renovate refuses a regex manager without currentValue, depName and datasource (group or template)."""
    for cm in config["customManagers"]:
        groups = set()
        for ms in cm["matchStrings"]:
            groups |= set(pins.js_regex(ms).groupindex)
        for field in ("currentValue", "depName", "datasource"):
            assert field in groups or f"{field}Template" in cm, (cm["description"], field)


def test_actions_are_pinned_by_sha_with_the_version_comment(found):
    actions = [p for p in found.pins if p.kind == "action"]
    assert actions
    for p in actions:
        assert pins.SHA.match(p.digest or ""), f"{p.where()}: {p.dep} is not pinned by a commit SHA"
        assert re.match(r"^v\d+(\.\d+)*$", p.value), f"{p.where()}: {p.dep} has no `# vX.Y.Z` comment"


def test_digests_are_well_formed_and_the_missing_ones_are_listed(found, config):
    """Filled digests are sha256; the empty ones are the bot's first run (pinDigests), listed here."""
    images = [p for p in found.pins if p.kind in ("image", "image-entry")]
    for p in images:
        assert not p.digest or pins.DIGEST.match(p.digest), f"{p.where()}: {p.digest!r}"
    assert config["pinDigests"] is True
    missing = pins.missing_digests(found.pins)
    if missing:
        warnings.warn(
            f"{len(missing)} image pin(s) without a digest yet; Renovate's first run (pinDigests) writes them: "
            + ", ".join(f"{p.dep}:{p.value} ({p.where()})" for p in missing),
            stacklevel=1,
        )
    # the ones that are filled stay filled: each image of app/Dockerfile carries its digest
    assert all(p.digest for p in images if p.file == "app/Dockerfile")


def test_security_updates_go_through_at_once_and_the_rest_is_grouped(config):
    alerts = config["vulnerabilityAlerts"]
    assert alerts["enabled"] and alerts["schedule"] == ["at any time"]
    assert alerts["minimumReleaseAge"] is None and alerts["groupName"] is None
    assert config["osvVulnerabilityAlerts"] is True
    assert config["schedule"] and config["lockFileMaintenance"]["enabled"] is True
    groups = {r["groupName"] for r in config["packageRules"] if "groupName" in r}
    assert {"GitHub Actions", "monitoring images", "CDK Terrain", "CI runtimes"} <= groups


# ------------------------------------------------------------------ the scanner and the coverage on their own


def _repo(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "-A"], cwd=tmp_path, check=True)
    return tmp_path


NEW_PINS = {
    ".github/workflows/new.yml": (
        "jobs:\n  a:\n    runs-on: ubuntu-24.04\n    container:\n      image: redis:7.4.1\n    steps:\n"
        "      - uses: actions/setup-go@0123456789abcdef0123456789abcdef01234567 # v6.0.0\n"
        "        with:\n          go-version: '1.25'\n"
        "      - uses: some/setup-tool@0123456789abcdef0123456789abcdef01234567 # v1.0.0\n"
        "        with:\n          tool_version: 2.0.1\n"
        "      - run: python -m pip install yq==3.4.3\n"
    ),
    "pillar/images.sls": "images:\n  redis: {name: docker.io/library/redis, tag: 7.4.1, digest: ''}\n",
    "pillar/docker.sls": "docker:\n  versions:\n    docker-ce: '5:28.5.1-1~*'\n",
    "svc/Dockerfile": "FROM python:3.13-slim AS build\nFROM build\n",
    "tools/x/package.json": "{}\n",
    "tools/x/package-lock.json": "{}\n",
    "tests/lab/other.py": 'PEBBLE_VERSION = "2.6.0"\n',
}


def test_scan_finds_pins_it_was_never_told_about(tmp_path):
    root = _repo(tmp_path, NEW_PINS)
    found = {(p.kind, p.dep, p.value) for p in pins.scan(root).pins}
    assert {
        ("runner", "ubuntu", "ubuntu-24.04"),
        ("image", "redis", "7.4.1"),
        ("action", "actions/setup-go", "v6.0.0"),
        ("tool-version", "go-version", "1.25"),
        ("tool-version", "tool_version", "2.0.1"),
        ("pypi", "yq", "3.4.3"),
        ("image-entry", "docker.io/library/redis", "7.4.1"),
        ("apt", "docker-ce", "5:28.5.1-1~*"),
        ("image", "python", "3.13-slim"),  # the stage alias `build` is no image
        ("manifest", "npm", ""),
        ("lockfile", "package-lock.json", ""),
        ("constant", "PEBBLE_VERSION", "2.6.0"),
    } <= found
    assert not any(p[1] == "build" for p in found)


def test_coverage_names_what_no_manager_updates(tmp_path, schema):
    """With only Renovate's built-in managers, the forms that need a custom manager are reported."""
    root = _repo(tmp_path, NEW_PINS)
    renovate = pins.Renovate({}, schema, root)
    uncovered = {(c.pin.kind, c.pin.dep) for c in map(renovate.cover, pins.scan(root).pins) if c.manager is None}
    assert uncovered == {
        ("tool-version", "tool_version"),  # not an actions/setup-* input Renovate knows
        ("pypi", "yq"),
        ("image-entry", "docker.io/library/redis"),
        ("apt", "docker-ce"),
        ("constant", "PEBBLE_VERSION"),
    }
    # and a rule that disables a built-in manager for a file takes its pins away
    off = pins.Renovate(
        {"packageRules": [{"matchManagers": ["dockerfile"], "matchFileNames": ["svc/Dockerfile"], "enabled": False}]},
        schema,
        root,
    )
    assert off.cover(next(p for p in pins.scan(root).pins if p.file == "svc/Dockerfile")).manager is None


def test_a_custom_manager_must_capture_the_value_and_write_the_digest(tmp_path, schema, config):
    root = _repo(tmp_path, NEW_PINS)
    entry = next(p for p in pins.scan(root).pins if p.kind == "image-entry")
    images_manager = next(cm for cm in config["customManagers"] if "pillar/images" in cm["description"])
    assert pins.Renovate({"customManagers": [images_manager]}, schema, root).cover(entry).manager
    no_digest = dict(images_manager, autoReplaceStringTemplate="{name: {{{depName}}}, tag: {{{newValue}}}, digest: ''}")
    assert pins.Renovate({"customManagers": [no_digest]}, schema, root).cover(entry).manager is None


def test_renovates_own_defaults_are_part_of_the_coverage(tmp_path, schema):
    """config:recommended ignores every tests/ directory unless ignorePaths is set; Renovate's pip-compile
    manager refuses header options it cannot replay (both found by running Renovate itself on this repo)."""
    files = dict(NEW_PINS)
    files["tools/requirements-x.in"] = "yq==3.4.3\n"
    files["tools/requirements-x.txt"] = (
        "#\n# This file is autogenerated by pip-compile with Python 3.11\n# by the following command:\n#\n"
        "#    pip-compile --generate-hashes --no-emit-find-links --output-file=requirements-x.txt requirements-x.in\n"
        "#\nyq==3.4.3 \\\n    --hash=sha256:" + "0" * 64 + "\n"
    )
    root = _repo(tmp_path, files)
    found = pins.scan(root).pins
    lab = next(p for p in found if p.file == "tests/lab/other.py")
    assert pins.Renovate({"extends": ["config:recommended"]}, schema, root).cover(lab).why_not == (
        "file in ignorePaths (of a preset the config extends)"
    )
    assert pins.Renovate({"extends": ["config:recommended"], "ignorePaths": []}, schema, root).cover(lab).why_not != (
        "file in ignorePaths (of a preset the config extends)"
    )
    compiled = pins.Renovate({"pip-compile": {"managerFilePatterns": ["/requirements-x\\.txt$/"]}}, schema, root)
    out = next(p for p in found if p.file == "tools/requirements-x.txt")
    assert compiled.cover(out).why_not == "Renovate's pip-compile manager refuses the header's --no-emit-find-links"
    source = next(p for p in found if p.file == "tools/requirements-x.in")
    assert compiled.cover(source).manager is None  # the .in goes with its output


def test_lostops_pins_lists_them_and_exits_0():
    out = clirun.run("pins", "--uncovered")
    assert out.returncode == 0, out.stdout
    assert out.stdout.strip().splitlines()[-1] == f"pins: {len(pins.scan().pins)}, uncovered: 0"
