"""checkov over the real synth output: 0 failed checks, skips only with reasons.

checkov 3.3.30's terraform_json parser crashes on the top-level ``import``
array (valid Terraform JSON: ``"import": [{"to": ..., "id": ...}]``); its
``handle_block_type`` feeds the strings to ``hclify`` ("this method receives
only dicts") and the whole file becomes a parsing error with 0 checks. We scan
a copy of the stack without that one key: import blocks carry no settings that
any checkov policy reads. ``test_no_parsing_errors`` keeps this honest.

The same version's terraform_json runner also drops inline skips: ``run_block``
calls ``registry.scan(..., [], ...)`` with an empty skip list, so the
``"//": {"checkov": {"skip": [...]}}`` annotations that cdktf puts on a rule
(checkov#4634) are reported as failures. The tests therefore hold checkov's
failures against those annotations exactly: every failure must be annotated,
with a reason, on that very resource, and every annotation must match a real
failure (no stale skips). Nothing else may fail.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.synth import synth, synth_data
from tests.unit.test_inventory import EXAMPLE

pytestmark = pytest.mark.synth  # runs last; tests/unit/conftest.py

ROOT = Path(__file__).resolve().parents[2]


def checkov_bin() -> str:
    path = ROOT / ".venv-checkov" / "bin" / "checkov"
    found = str(path) if path.exists() else shutil.which("checkov")
    if not found:
        pytest.fail("checkov is not installed: run `make deps` (it lives in .venv-checkov)")
    return found


def _example_with_salt_master() -> dict:
    """The example inventory with salt.master set: its NSGs are the example's plus the ZeroMQ flows."""
    data = copy.deepcopy(EXAMPLE)
    data["salt"] = {"master": "monitoring"}
    data["services"].update({"salt-publish": {"port": 4505}, "salt-return": {"port": 4506}})
    return data


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    # Scanned: the example inventory with a salt-master (a superset of the example's resources: the same
    # stack plus the Salt flows), so one checkov run covers both.
    doc = dict(synth_data(_example_with_salt_master(), name="example"))
    assert any("salt-publish" in n for n in doc["resource"]["azurerm_network_security_rule"])
    assert doc.pop("import"), "the stack should adopt NICs with import blocks"
    outdir = tmp_path_factory.mktemp("checkov") / "stacks" / "network"
    outdir.mkdir(parents=True)
    (outdir / "cdk.tf.json").write_text(json.dumps(doc, indent=2))
    proc = subprocess.run(
        [checkov_bin(), "-d", str(outdir), "--framework", "terraform_json", "--skip-download", "--quiet", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    return data[0] if isinstance(data, list) else data


def test_no_parsing_errors(report):
    assert report["summary"]["parsing_errors"] == 0


def test_checkov_ran_checks(report):
    assert report["summary"]["passed"] > 20


def annotated_skips() -> dict[tuple[str, str], str]:
    """(check id, resource name) -> reason, from the `//` annotations in the synth JSON."""
    skips = {}
    for resources in synth("example")[1]["resource"].values():
        for name, cfg in resources.items():
            for skip in cfg.get("//", {}).get("checkov", {}).get("skip", []):
                skips[(skip["id"], name)] = skip["comment"]
    return skips


def failures(report) -> set[tuple[str, str]]:
    # checkov names these resources "<type>.<name>" or "resource.<name>"; keep the name.
    return {(c["check_id"], c["resource"].split(".", 1)[1]) for c in report["results"]["failed_checks"]}


def test_no_failed_checks_except_the_annotated_skips(report):
    unexplained = failures(report) - set(annotated_skips())
    assert unexplained == set()


def test_every_skip_has_a_reason_sits_on_its_resource_and_is_still_needed(report):
    skips = annotated_skips()
    assert set(skips) == {
        ("CKV_AZURE_160", "backend-allow-http-from-internet"),
        ("CKV_AZURE_160", "monitoring-allow-http-from-internet"),
        ("CKV_AZURE_119", "backend-nic-adopted"),
        ("CKV_AZURE_119", "monitoring-nic-adopted"),
        # the backup storage account (stacks/backup.py explains each)
        ("CKV_AZURE_59", "backup-storage"),
        ("CKV_AZURE_36", "backup-storage"),
        ("CKV_AZURE_33", "backup-storage"),
        ("CKV2_AZURE_40", "backup-storage"),
        ("CKV2_AZURE_1", "backup-storage"),
        ("CKV2_AZURE_21", "backup-container"),
    }
    assert all(len(reason) > 20 for reason in skips.values())
    assert set(skips) <= failures(report), "a skip no longer needed: remove it"
