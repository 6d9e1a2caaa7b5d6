"""Every state ID follows the convention of docs/salt-conventions.md, and every requisite names one.

Convention: ``<formula>[-<component>...]-<module>-<function>``, lowercase
``[a-z0-9-]`` only, where ``<formula>`` is the first part of the state's sls
(``mysql.tls`` -> ``mysql``) and ``<module>-<function>`` is the state function it
declares with ``_`` written ``-`` (``file.managed`` -> ``file-managed``,
``ssh_auth.present`` -> ``ssh-auth-present``). Checked on the rendered highstate
of every host of both committed inventories.
"""

from __future__ import annotations

import re

import pytest

from lostops import inventory as inventory_mod
from lostops import render

CASES = [(inv, host) for inv in ("example", "lab") for host in inventory_mod.load(inv).hosts]
REQUISITES = ("require", "watch", "onchanges", "onfail", "prereq", "require_in", "watch_in", "onchanges_in")


def expected_pattern(sls: str, module: str, function: str) -> re.Pattern:
    formula = sls.split(".")[0]
    tail = f"{module}-{function}".replace("_", "-")
    return re.compile(rf"{re.escape(formula)}(-[a-z0-9]+)*-{re.escape(tail)}")


def test_pattern_examples():
    assert expected_pattern("docker.service", "service", "running").fullmatch("docker-service-running")
    assert expected_pattern("mysql.config", "file", "managed").fullmatch("mysql-config-file-managed")
    assert expected_pattern("common.users", "ssh_auth", "present").fullmatch("common-users-alice-ssh-auth-present")
    assert not expected_pattern("mysql.config", "file", "directory").fullmatch("mysql-config-dir-managed")
    assert not expected_pattern("mysql.service", "cmd", "run").fullmatch("lostops-compose-mysql-up")


@pytest.mark.parametrize(("inventory", "host"), CASES, ids=[f"{i}-{h}" for i, h in CASES])
def test_state_ids_follow_the_convention(highstate, inventory, host):
    bad = []
    for sid, st in sorted(render.states(highstate(host, inventory)).items()):
        if not expected_pattern(st["sls"], st["module"], st["function"]).fullmatch(sid):
            bad.append(f"{sid} (sls {st['sls']}, {st['module']}.{st['function']})")
    assert not bad, (
        f"{inventory}/{host}: state IDs not <formula>-<component>-<module>-<function> "
        "(docs/salt-conventions.md):\n  " + "\n  ".join(bad)
    )


@pytest.mark.parametrize(("inventory", "host"), CASES, ids=[f"{i}-{h}" for i, h in CASES])
def test_requisites_name_existing_state_ids(highstate, inventory, host):
    flat = render.states(highstate(host, inventory))
    bad = []
    for sid, st in sorted(flat.items()):
        for kind in REQUISITES:
            for req in st["args"].get(kind) or []:
                for module, target in req.items() if isinstance(req, dict) else [("?", req)]:
                    if target not in flat or flat[target]["module"] != module:
                        bad.append(f"{sid} {kind} {module}: {target}")
    assert not bad, f"{inventory}/{host}: requisites naming no state of that module:\n  " + "\n  ".join(bad)
