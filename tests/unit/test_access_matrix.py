"""The access matrix, evaluated with Azure NSG semantics over the synthesized JSON."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from lostops.inventory import load
from tests.unit.nsgsim import NsgModel, source_address
from tests.unit.synth import synth

pytestmark = pytest.mark.synth  # runs last; tests/unit/conftest.py

MATRIX = yaml.safe_load((Path(__file__).resolve().parents[1] / "access-matrix.yaml").read_text())
INV = load("example")


def flows():
    for row in MATRIX:
        for port in row["ports"]:
            proto = row.get("protocol", "tcp")
            yield pytest.param(
                row["from"], row["to"], port, proto, row["expect"], id=f"{row['from']}->{row['to']}:{port}/{proto}"
            )


@pytest.fixture(scope="module")
def model() -> NsgModel:
    return NsgModel(synth("example")[1], INV)


@pytest.mark.parametrize("source,dest,port,proto,expect", list(flows()))
def test_flow(model, source, dest, port, proto, expect):
    access, rule = model.evaluate(source_address(INV, source), dest, port, proto)
    assert access.lower() == expect, f"{source} -> {dest}:{port}/{proto} hit {rule}"


def test_every_exporter_port_is_in_the_matrix_from_monitoring():
    """A new scrapable service must get a matrix row: catch it here."""
    from lostops.policy import scrape_jobs

    allowed = {(r["to"], p) for r in MATRIX if r["from"] == "monitoring" and r["expect"] == "allow" for p in r["ports"]}
    for job in scrape_jobs(INV):
        for target in job["targets"]:
            assert (target["host"], int(target["address"].rsplit(":", 1)[1])) in allowed


def test_the_explicit_deny_is_what_stops_vnet_traffic(model):
    """Without our deny rule, Azure's AllowVnetInBound (65000) would let monitoring reach MySQL."""
    doc = copy.deepcopy(synth("example")[1])
    rules = doc["resource"]["azurerm_network_security_rule"]
    del rules["database-deny-all-inbound"]
    weakened = NsgModel(doc, INV)
    src = source_address(INV, "monitoring")
    assert weakened.evaluate(src, "database", 3306) == ("Allow", "AllowVnetInBound")
    assert model.evaluate(src, "database", 3306) == ("Deny", "deny-all-inbound")
    assert weakened.evaluate("198.51.100.77", "database", 3306) == ("Deny", "DenyAllInBound")
